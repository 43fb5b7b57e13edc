//! The protocol's shared vocabulary: facts that the client (`wa-client`) and the test server
//! (`wa-testserver`) both need, defined once so the two cannot drift apart. Only names and
//! byte layouts live here; each side still does its own checking (the test server verifies
//! what the client signs with its own code paths, and the real Baileys is the outside check).
//!
//! No I/O, no dependencies.

#![forbid(unsafe_code)]

pub mod adv;
pub mod link_code;

/// The server's JID domain (`s.whatsapp.net`), the `to` of every IQ.
pub const S_WHATSAPP_NET: &str = "s.whatsapp.net";

/// A JID in Baileys' `jidEncode` form: `user:device@server`, device 0 written without `:0`.
pub fn device_jid(user: &str, device: u16, server: &str) -> String {
    if device == 0 {
        format!("{user}@{server}")
    } else {
        format!("{user}:{device}@{server}")
    }
}

/// `n` as its last `len` big-endian bytes (registration ids: 4, prekey ids: 3). `len` above 4
/// is treated as 4.
pub fn be_bytes(n: u32, len: usize) -> Vec<u8> {
    n.to_be_bytes()[4 - len.min(4)..].to_vec()
}

/// A big-endian unsigned number of 1..=4 bytes; `None` for any other length.
pub fn read_be(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() || bytes.len() > 4 {
        return None;
    }
    Some(bytes.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_endian_fields_round_trip() {
        assert_eq!(be_bytes(0x0102_0304, 4), [1, 2, 3, 4]);
        assert_eq!(be_bytes(812, 3), [0, 3, 0x2c]);
        assert_eq!(be_bytes(7, 9), [0, 0, 0, 7]);
        assert_eq!(read_be(&[0, 3, 0x2c]), Some(812));
        assert_eq!(read_be(&[]), None);
        assert_eq!(read_be(&[1, 2, 3, 4, 5]), None);
        for n in [0u32, 1, 255, 256, 0xFF_FFFF] {
            assert_eq!(read_be(&be_bytes(n, 3)), Some(n));
        }
    }

    #[test]
    fn device_zero_is_not_written() {
        assert_eq!(device_jid("1555", 0, S_WHATSAPP_NET), "1555@s.whatsapp.net");
        assert_eq!(device_jid("1555", 12, "lid"), "1555:12@lid");
    }
}
