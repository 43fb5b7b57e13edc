//! Hostile input: every malformed frame is a typed error with a stable code, never a panic,
//! an unbounded recursion or an allocation sized by an unchecked length field.

use proptest::prelude::*;
use wa_binary::frame::deflate;
use wa_binary::{
    BinaryError, DecodeLimits, Node, decode, decode_frame, decode_frame_with_limits, encode, tags,
};

fn code(bytes: &[u8]) -> &'static str {
    decode(bytes).unwrap_err().code()
}

#[test]
fn truncated_input() {
    let full = encode(&Node::new("iq").attr("id", "abc").bytes(vec![1; 40])).unwrap();
    for cut in 0..full.len() {
        assert_eq!(code(&full[..cut]), "ERR_WA_BINARY_EOF", "cut at {cut}");
    }
    assert_eq!(decode_frame(&[]).unwrap_err().code(), "ERR_WA_BINARY_EOF");
}

#[test]
fn length_fields_beyond_the_buffer() {
    // BINARY_32 claiming 4 GiB, BINARY_20 claiming 1 MiB, LIST_16 claiming 65535 children.
    assert_eq!(
        code(&[
            tags::LIST_8,
            2,
            3,
            tags::BINARY_32,
            0xff,
            0xff,
            0xff,
            0xff,
            1
        ]),
        "ERR_WA_BINARY_EOF"
    );
    assert_eq!(
        code(&[tags::LIST_8, 2, 3, tags::BINARY_20, 0x0f, 0xff, 0xff]),
        "ERR_WA_BINARY_EOF"
    );
    assert_eq!(
        code(&[tags::LIST_8, 2, 3, tags::LIST_16, 0xff, 0xff]),
        "ERR_WA_BINARY_EOF"
    );
    assert_eq!(
        code(&[tags::LIST_8, 1, tags::BINARY_32, 0x80, 0, 0, 0]),
        "ERR_WA_BINARY_EOF"
    );
    assert_eq!(
        code(&[tags::LIST_8, 1, tags::NIBBLE_8, 0x7f, 0x12]),
        "ERR_WA_BINARY_EOF"
    );
}

#[test]
fn unknown_tags_and_tokens() {
    for b in 240u8..=244 {
        assert_eq!(
            code(&[tags::LIST_8, 1, b]),
            "ERR_WA_BINARY_INVALID_TOKEN",
            "{b}"
        );
    }
    // A list tag where a string must be, a string tag where a list size must be.
    assert_eq!(
        code(&[tags::LIST_8, 1, tags::LIST_8]),
        "ERR_WA_BINARY_INVALID_TAG"
    );
    assert_eq!(code(&[3, 1]), "ERR_WA_BINARY_INVALID_TAG");
}

#[test]
fn invalid_packed_digits() {
    for digit in [12u8, 13, 14] {
        assert_eq!(
            code(&[tags::LIST_8, 1, tags::NIBBLE_8, 1, digit << 4]),
            "ERR_WA_BINARY_INVALID_PACKED"
        );
    }
}

#[test]
fn invalid_nodes_and_jids() {
    assert_eq!(code(&[tags::LIST_EMPTY, 3]), "ERR_WA_BINARY_INVALID_NODE");
    assert_eq!(
        code(&[tags::LIST_8, 1, tags::BINARY_8, 0]),
        "ERR_WA_BINARY_INVALID_NODE"
    );
    assert_eq!(
        code(&[tags::LIST_8, 1, tags::JID_PAIR, 3, tags::LIST_EMPTY]),
        "ERR_WA_BINARY_INVALID_JID"
    );
}

#[test]
fn deep_nesting_is_bounded() {
    // 10,000 nested single-child lists: far past the limit, no stack overflow.
    let mut bytes = Vec::new();
    for _ in 0..10_000 {
        bytes.extend_from_slice(&[tags::LIST_8, 2, 3, tags::LIST_8, 1]);
    }
    assert_eq!(code(&bytes), "ERR_WA_BINARY_TOO_DEEP");
    // JID pairs nested in the user position.
    let mut s = vec![tags::LIST_8, 1];
    s.extend(std::iter::repeat_n(tags::JID_PAIR, 10_000));
    assert_eq!(code(&s), "ERR_WA_BINARY_TOO_DEEP");
    // Exactly at the limit is fine.
    let mut n = Node::new("leaf");
    for _ in 1..wa_binary::decode::DEFAULT_MAX_DEPTH {
        n = Node::new("x").children(vec![n]);
    }
    assert!(decode(&encode(&n).unwrap()).is_ok());
    let too_deep = Node::new("x").children(vec![n]);
    assert_eq!(
        encode(&too_deep).unwrap_err().code(),
        "ERR_WA_BINARY_TOO_DEEP"
    );
}

#[test]
fn bad_zlib() {
    let good = deflate(&encode(&Node::new("iq").attr("id", "1")).unwrap());
    let mut frame = vec![2u8];
    frame.extend_from_slice(&good);
    assert!(decode_frame(&frame).is_ok());
    for bad in [
        vec![2u8],
        vec![2, 0x78],
        vec![2, 1, 2, 3, 4],
        frame[..frame.len() - 2].to_vec(),
        {
            let mut f = frame.clone();
            let last = f.len() - 1;
            f[last] ^= 1;
            f
        },
    ] {
        assert_eq!(
            decode_frame(&bad).unwrap_err().code(),
            "ERR_WA_BINARY_INFLATE",
            "{bad:?}"
        );
    }
    // Trailing bytes after the stream are ignored, as Node's zlib does.
    frame.extend_from_slice(&[9, 9, 9]);
    assert!(decode_frame(&frame).is_ok());
}

#[test]
fn zip_bomb_is_capped() {
    // 64 MiB of one byte compresses to ~64 KiB.
    let bomb = deflate(&vec![0u8; 64 << 20]);
    let mut frame = vec![2u8];
    frame.extend_from_slice(&bomb);
    let err = decode_frame(&frame).unwrap_err();
    assert_eq!(err.code(), "ERR_WA_BINARY_TOO_LARGE");
    let small = DecodeLimits {
        max_inflated: 1000,
        ..DecodeLimits::default()
    };
    let payload = encode(&Node::new("x").bytes(vec![1u8; 2000])).unwrap();
    let mut frame = vec![2u8];
    frame.extend_from_slice(&deflate(&payload));
    assert!(matches!(
        decode_frame_with_limits(&frame, &small),
        Err(BinaryError::TooLarge { .. })
    ));
}

#[test]
fn trailing_bytes_are_ignored_like_baileys() {
    let mut bytes = encode(&Node::new("iq")).unwrap();
    bytes.extend_from_slice(&[0xff, 0xff]);
    assert_eq!(decode(&bytes).unwrap(), Node::new("iq"));
}

#[test]
fn interop_server_falls_back_like_baileys() {
    // INTEROP_JID at the end of the input: Baileys reads the server as "interop".
    let bytes = [
        tags::LIST_8,
        3,
        3,
        4,
        tags::INTEROP_JID,
        tags::BINARY_8,
        1,
        b'7',
        0,
        2,
        0,
        5,
    ];
    assert_eq!(
        decode(&bytes).unwrap().get_attr("type"),
        Some("5-7:2@interop")
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20_000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes);
        let _ = decode_frame(&bytes);
    }

    #[test]
    fn random_bytes_after_a_list_start_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        // Random bytes rarely start with a list tag; this gets them past the first check.
        let mut framed = vec![tags::LIST_8, 5];
        framed.extend_from_slice(&bytes);
        if let Ok(node) = decode(&framed) {
            // Whatever decodes re-encodes and decodes to the same node (modulo raw strings
            // coming back as bytes, which re-encoding already reflects).
            let again = decode(&encode(&node).unwrap()).unwrap();
            prop_assert_eq!(decode(&encode(&again).unwrap()).unwrap(), again);
        }
    }
}
