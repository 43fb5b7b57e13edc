//! Media retry ("the file is gone, upload it again"): the request a device sends and the
//! phone's answer are AES-256-GCM under a key derived from the message's `mediaKey`
//! (HKDF-SHA256, no salt, info `WhatsApp Media Retry Notification`), with a fresh 12-byte IV
//! and the message id as additional data.

use crate::CryptoError;
use crate::cipher::{gcm_decrypt, gcm_encrypt};

/// The HKDF info string of the media retry key.
pub const MEDIA_RETRY_INFO: &str = "WhatsApp Media Retry Notification";

/// Length of the IV a media retry request or answer carries (`enc_iv`).
pub const MEDIA_RETRY_IV_LEN: usize = 12;

/// The key that encrypts a media retry request and its answer, from the message's media key.
pub fn media_retry_key(media_key: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    crate::kdf::hkdf_sha256_into(media_key, b"", MEDIA_RETRY_INFO.as_bytes(), &mut out)
        .expect("32 bytes is within HKDF-SHA256's output limit");
    out
}

/// Seals `plain` (a `ServerErrorReceipt` or a `MediaRetryNotification`) for the message `msg_id`.
pub fn media_retry_seal(
    media_key: &[u8],
    msg_id: &str,
    iv: &[u8; MEDIA_RETRY_IV_LEN],
    plain: &[u8],
) -> Vec<u8> {
    gcm_encrypt(&media_retry_key(media_key), iv, msg_id.as_bytes(), plain)
        .expect("a 32-byte key and a 12-byte IV are valid AES-256-GCM parameters")
}

/// Opens what [`media_retry_seal`] sealed; fails on a wrong key, id, IV or altered bytes.
pub fn media_retry_open(
    media_key: &[u8],
    msg_id: &str,
    iv: &[u8],
    sealed: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    gcm_decrypt(&media_retry_key(media_key), iv, msg_id.as_bytes(), sealed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_hkdf_with_the_retry_info() {
        let mk = [3u8; 32];
        let want =
            crate::kdf::hkdf_sha256(&mk, b"", b"WhatsApp Media Retry Notification", 32).unwrap();
        assert_eq!(media_retry_key(&mk).to_vec(), want);
        assert_ne!(media_retry_key(&[4u8; 32]), media_retry_key(&mk));
    }

    #[test]
    fn seal_opens_only_with_the_same_key_id_and_iv() {
        let mk = [9u8; 32];
        let iv = [1u8; 12];
        let sealed = media_retry_seal(&mk, "3EB0ABC", &iv, b"hello");
        assert_eq!(sealed.len(), 5 + 16);
        assert_eq!(
            media_retry_open(&mk, "3EB0ABC", &iv, &sealed).unwrap(),
            b"hello"
        );
        assert_eq!(
            media_retry_open(&mk, "3EB0ABD", &iv, &sealed),
            Err(CryptoError::GcmAuth)
        );
        assert_eq!(
            media_retry_open(&[8u8; 32], "3EB0ABC", &iv, &sealed),
            Err(CryptoError::GcmAuth)
        );
        assert_eq!(
            media_retry_open(&mk, "3EB0ABC", &[2u8; 12], &sealed),
            Err(CryptoError::GcmAuth)
        );
        assert!(media_retry_open(&mk, "3EB0ABC", &iv[..4], &sealed).is_err());
        assert!(media_retry_open(&mk, "3EB0ABC", &iv, &sealed[..3]).is_err());
    }
}
