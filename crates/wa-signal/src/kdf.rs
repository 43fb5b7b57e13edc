//! The derivations of libsignal's ratchets (HKDF-SHA256 and HMAC-SHA256 chain steps).

use wa_crypto::kdf::hkdf_sha256_into;
use wa_crypto::mac::hmac_sha256;

use crate::error::{ErrorKind, Fault};

const MESSAGE_KEY_SEED: [u8; 1] = [1];
const CHAIN_KEY_SEED: [u8; 1] = [2];

/// HKDF into `N` bytes. libsignal-node insists on a 32-byte salt wherever a salt is given
/// (root keys), so a record with another length is corrupt rather than silently different.
pub(crate) fn derive<const N: usize>(ikm: &[u8], salt: &[u8], info: &[u8]) -> Fault<[u8; N]> {
    if !salt.is_empty() && salt.len() != 32 {
        return Err(ErrorKind::BadRecord("root key must be 32 bytes".into()));
    }
    let mut out = [0u8; N];
    hkdf_sha256_into(ikm, salt, info, &mut out).map_err(|_| ErrorKind::Internal("HKDF length"))?;
    Ok(out)
}

/// The message key of a chain step.
pub(crate) fn message_key(chain_key: &[u8]) -> [u8; 32] {
    hmac_sha256(chain_key, &MESSAGE_KEY_SEED)
}

/// The next chain key.
pub(crate) fn next_chain_key(chain_key: &[u8]) -> [u8; 32] {
    hmac_sha256(chain_key, &CHAIN_KEY_SEED)
}

/// AES key, MAC key and IV of one ratchet message ("WhisperMessageKeys").
pub(crate) struct MessageKeys {
    pub cipher: [u8; 32],
    pub mac: [u8; 32],
    pub iv: [u8; 16],
}

pub(crate) fn message_keys(seed: &[u8]) -> MessageKeys {
    let out: [u8; 96] = derive(seed, &[], b"WhisperMessageKeys").expect("96 bytes, no salt");
    let mut k = MessageKeys {
        cipher: [0; 32],
        mac: [0; 32],
        iv: [0; 16],
    };
    k.cipher.copy_from_slice(&out[..32]);
    k.mac.copy_from_slice(&out[32..64]);
    k.iv.copy_from_slice(&out[64..80]);
    k
}

/// IV and AES key of one sender-key message ("WhisperGroup"): iv = bytes 0..16, key = 16..48.
pub(crate) fn sender_message_keys(seed: &[u8]) -> ([u8; 16], [u8; 32]) {
    let out: [u8; 64] = derive(seed, &[], b"WhisperGroup").expect("64 bytes, no salt");
    let mut iv = [0u8; 16];
    let mut key = [0u8; 32];
    iv.copy_from_slice(&out[..16]);
    key.copy_from_slice(&out[16..48]);
    (iv, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_steps_are_hmacs_of_one_and_two() {
        let ck = [9u8; 32];
        assert_eq!(message_key(&ck), hmac_sha256(&ck, &[1]));
        assert_eq!(next_chain_key(&ck), hmac_sha256(&ck, &[2]));
        assert_ne!(message_key(&ck), next_chain_key(&ck));
    }

    #[test]
    fn salts_other_than_32_bytes_are_refused() {
        assert!(derive::<64>(b"x", &[1; 31], b"i").is_err());
        assert!(derive::<64>(b"x", &[1; 32], b"i").is_ok());
        // The all-zero salt libsignal-node passes equals HKDF's empty salt.
        assert_eq!(
            derive::<32>(b"x", &[0; 32], b"i").unwrap(),
            derive::<32>(b"x", &[], b"i").unwrap()
        );
    }
}
