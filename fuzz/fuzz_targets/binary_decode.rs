//! Decoder of network frames: arbitrary bytes must never panic, hang or allocate without
//! bound; whatever decodes must re-encode, and the re-encoding must decode to a fixed point.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wa_binary::{DecodeLimits, decode_frame_with_limits, decode_with_limits, encode};

fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits {
        max_inflated: 1 << 20,
        ..DecodeLimits::default()
    };
    let _ = decode_frame_with_limits(data, &limits);
    if let Ok(node) = decode_with_limits(data, &limits) {
        // Raw string content comes back as bytes and `user:0@lid` as `user@lid`; after one
        // trip the node is a fixed point.
        let once = decode_with_limits(&encode(&node).expect("a decoded node encodes"), &limits)
            .expect("our encoding decodes");
        let bytes = encode(&once).expect("encodes");
        let twice = decode_with_limits(&bytes, &limits).expect("decodes");
        assert_eq!(once, twice);
        assert_eq!(encode(&twice).expect("encodes"), bytes);
    }
});
