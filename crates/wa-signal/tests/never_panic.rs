//! Arbitrary bytes never panic a decoder or a decryption, and never change a record. The
//! cargo-fuzz target `signal_message` explores the same entry points for longer.

mod common;

use common::*;
use proptest::prelude::*;
use wa_signal::group::SenderKeyRecord;
use wa_signal::{MessageKind, SessionRecord, protocol, wire};

fn mutate(base: &[u8], edits: &[(usize, u8)], cut: usize) -> Vec<u8> {
    let mut b = base.to_vec();
    for &(i, x) in edits {
        if !b.is_empty() {
            let n = b.len();
            b[i % n] ^= x;
        }
    }
    b.truncate(cut.min(b.len()));
    b
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decoders_take_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = wire::parse_whisper(&bytes);
        let _ = wire::parse_pre_key(&bytes);
        let _ = wire::parse_sender_key_message(&bytes);
        let _ = wire::parse_distribution(&bytes);
        let _ = SessionRecord::from_stored(&bytes);
        let _ = SenderKeyRecord::from_stored(&bytes);
        if let Ok(s) = std::str::from_utf8(&bytes) {
            let _ = SessionRecord::from_json(s);
        }
    }

    #[test]
    fn mangled_messages_fail_cleanly(
        edits in proptest::collection::vec((any::<usize>(), 1u8..), 0..4),
        cut in 0usize..400,
    ) {
        let p = pair(true);
        let first = encrypt(&p.alice, &p.b, b"first");
        let second = encrypt(&p.alice, &p.b, b"second");
        let bad = mutate(&first.body, &edits, cut);
        for kind in [MessageKind::PreKey, MessageKind::Whisper] {
            let before = p.bob.store.session(&p.a);
            let r = now(protocol::decrypt(&p.bob.store, &p.a, kind, &bad, NOW));
            if r.is_err() {
                prop_assert_eq!(p.bob.store.session(&p.a), before);
            }
        }
        // Whatever happened, the genuine messages still decrypt (or were already read, when
        // the mangled copy was in fact intact).
        for (m, text) in [(&first, &b"first"[..]), (&second, &b"second"[..])] {
            match decrypt(&p.bob, &p.a, m) {
                Ok(d) => prop_assert_eq!(d.plaintext, text),
                Err(e) => prop_assert_eq!(e.code(), "ERR_WA_SIGNAL_DUPLICATE"),
            }
        }
    }
}

/// Found by `mangled_messages_fail_cleanly`: the base key's top bit flipped (byte 37 of this
/// `pkmsg`, the last of the key) is the same key to X25519, so that copy decrypted, and set up
/// the session under the flipped bytes as its id; the genuine message and every later one
/// then missed that session and failed for the one-time prekey it had used.
#[test]
fn a_prekey_message_with_a_non_canonical_base_key_is_refused() {
    let p = pair(true);
    let first = encrypt(&p.alice, &p.b, b"first");
    let second = encrypt(&p.alice, &p.b, b"second");
    let frame = wire::parse_pre_key(&first.body).unwrap();
    let at = first
        .body
        .windows(frame.base_key.len())
        .position(|w| w == frame.base_key.as_slice())
        .unwrap()
        + frame.base_key.len()
        - 1;
    let mut flipped = first.body.clone();
    flipped[at] ^= 0x80;
    let before = p.bob.store.session(&p.a);
    let r = now(protocol::decrypt(
        &p.bob.store,
        &p.a,
        MessageKind::PreKey,
        &flipped,
        NOW,
    ));
    assert_eq!(
        r.err().map(|e| e.code()),
        Some("ERR_WA_SIGNAL_INVALID_MESSAGE")
    );
    assert!(p.bob.store.session(&p.a) == before);
    for (m, text) in [(&first, &b"first"[..]), (&second, &b"second"[..])] {
        assert_eq!(decrypt(&p.bob, &p.a, m).unwrap().plaintext, text);
    }
}
