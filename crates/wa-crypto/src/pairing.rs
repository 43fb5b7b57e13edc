//! Pairing with an 8-character code instead of a QR scan ("link with phone number").
//!
//! The code is 5 random bytes in a Crockford-like base32 (alphabet without `0`, `I`, `O`, `U`).
//! The companion derives a key from it with PBKDF2-SHA256 (2^17 rounds, 32-byte salt) and
//! wraps its pairing ephemeral public key with AES-256-CTR; the phone unwraps it with the code
//! the user typed. The wrapped form is `salt(32) || iv(16) || ctr(key)(32)`.
use zeroize::Zeroize;

use crate::CryptoError;

/// PBKDF2 rounds of the pairing-code key (`2 << 16` in WhatsApp Web).
pub const PAIRING_CODE_ROUNDS: u32 = 131_072;
/// The code alphabet: digits 1-9 then letters without I, O and U.
pub const PAIRING_CODE_ALPHABET: &[u8; 32] = b"123456789ABCDEFGHJKLMNPQRSTVWXYZ";
/// Length of a wrapped ephemeral key: salt, iv, encrypted 32-byte key.
pub const WRAPPED_KEY_LEN: usize = 32 + 16 + 32;

/// Encodes bytes five bits at a time, most significant first; a trailing partial group is
/// padded with zero bits. Five bytes give the 8-character code.
pub fn pairing_code_from_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(
                PAIRING_CODE_ALPHABET[((acc >> bits) & 31) as usize],
            ));
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(
            PAIRING_CODE_ALPHABET[((acc << (5 - bits)) & 31) as usize],
        ));
    }
    out
}

/// A fresh random pairing code (8 characters).
pub fn generate_pairing_code() -> String {
    let mut bytes: [u8; 5] = crate::random_bytes();
    let code = pairing_code_from_bytes(&bytes);
    bytes.zeroize();
    code
}

/// The AES key of the pairing code: PBKDF2-HMAC-SHA256(code as UTF-8, salt, 2^17, 32 bytes).
pub fn derive_pairing_code_key(code: &str, salt: &[u8]) -> [u8; 32] {
    crate::kdf::pbkdf2_sha256::<32>(code.as_bytes(), salt, PAIRING_CODE_ROUNDS)
}

/// Wraps a 32-byte public key under the code: `salt || iv || AES-CTR(key, iv, public)`.
pub fn wrap_with_pairing_code(
    code: &str,
    salt: &[u8; 32],
    iv: &[u8; 16],
    public: &[u8; 32],
) -> [u8; WRAPPED_KEY_LEN] {
    let mut key = derive_pairing_code_key(code, salt);
    let enc = crate::cipher::ctr_apply(&key, iv, public).expect("32-byte key, 16-byte iv");
    key.zeroize();
    let mut out = [0u8; WRAPPED_KEY_LEN];
    out[..32].copy_from_slice(salt);
    out[32..48].copy_from_slice(iv);
    out[48..].copy_from_slice(&enc);
    out
}

/// Unwraps a key wrapped by [`wrap_with_pairing_code`] (what the other side of the pairing
/// does). A wrong code yields a different key; CTR has no integrity of its own.
pub fn unwrap_with_pairing_code(code: &str, wrapped: &[u8]) -> Result<[u8; 32], CryptoError> {
    if wrapped.len() < WRAPPED_KEY_LEN {
        return Err(CryptoError::Truncated(wrapped.len()));
    }
    let mut key = derive_pairing_code_key(code, &wrapped[..32]);
    let plain = crate::cipher::ctr_apply(&key, &wrapped[32..48], &wrapped[48..80])?;
    key.zeroize();
    Ok(plain.try_into().expect("32 bytes in, 32 out"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_groups() {
        assert_eq!(pairing_code_from_bytes(&[0; 5]), "11111111");
        assert_eq!(pairing_code_from_bytes(&[0xff; 5]), "ZZZZZZZZ");
        // 0x08 = 00001 000.. -> '2' then the three low bits padded: 000 00 -> '1'
        assert_eq!(pairing_code_from_bytes(&[0x08]), "21");
        assert_eq!(pairing_code_from_bytes(&[]), "");
        let code = generate_pairing_code();
        assert_eq!(code.len(), 8);
        assert!(code.bytes().all(|c| PAIRING_CODE_ALPHABET.contains(&c)));
    }

    #[test]
    fn key_is_pbkdf2_with_2_pow_17_rounds() {
        let salt = [4u8; 32];
        let key = derive_pairing_code_key("ABCD1234", &salt);
        let direct: [u8; 32] = crate::kdf::pbkdf2_sha256(b"ABCD1234", &salt, 1 << 17);
        assert_eq!(key, direct);
        assert_ne!(key, derive_pairing_code_key("ABCD1235", &salt));
    }

    #[test]
    fn wrap_round_trip() {
        let public = [0x42u8; 32];
        let wrapped = wrap_with_pairing_code("ZZZZ1111", &[1; 32], &[2; 16], &public);
        assert_eq!(&wrapped[..32], &[1; 32]);
        assert_eq!(&wrapped[32..48], &[2; 16]);
        assert_ne!(&wrapped[48..], &public);
        assert_eq!(
            unwrap_with_pairing_code("ZZZZ1111", &wrapped).unwrap(),
            public
        );
        assert_ne!(
            unwrap_with_pairing_code("ZZZZ1112", &wrapped).unwrap(),
            public
        );
        assert_eq!(
            unwrap_with_pairing_code("ZZZZ1111", &wrapped[..79]),
            Err(CryptoError::Truncated(79))
        );
    }
}
