//! Key derivation: HKDF-SHA256 and PBKDF2-SHA256.
use hkdf::Hkdf;
use sha2::Sha256;

use crate::CryptoError;

/// HKDF-SHA256 (RFC 5869). An empty `salt` means the RFC's all-zero salt, which is what
/// WhatsApp and libsignal pass when they give none.
pub fn hkdf_sha256(
    ikm: &[u8],
    salt: &[u8],
    info: &[u8],
    len: usize,
) -> Result<Vec<u8>, CryptoError> {
    let mut out = vec![0u8; len];
    hkdf_sha256_into(ikm, salt, info, &mut out)?;
    Ok(out)
}

/// HKDF-SHA256 into a caller's buffer (its length is the output length).
pub fn hkdf_sha256_into(
    ikm: &[u8],
    salt: &[u8],
    info: &[u8],
    out: &mut [u8],
) -> Result<(), CryptoError> {
    let salt = if salt.is_empty() { None } else { Some(salt) };
    Hkdf::<Sha256>::new(salt, ikm)
        .expand(info, out)
        .map_err(|_| CryptoError::HkdfLength(out.len()))
}

/// PBKDF2-HMAC-SHA256 with `N` bytes of output.
pub fn pbkdf2_sha256<const N: usize>(password: &[u8], salt: &[u8], rounds: u32) -> [u8; N] {
    let mut out = [0u8; N];
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, rounds, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5869_case_1() {
        let ikm = [0x0b; 22];
        let salt = hex::decode("000102030405060708090a0b0c").unwrap();
        let info = hex::decode("f0f1f2f3f4f5f6f7f8f9").unwrap();
        let okm = hkdf_sha256(&ikm, &salt, &info, 42).unwrap();
        assert_eq!(
            hex::encode(okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
    }

    #[test]
    fn empty_salt_is_zero_salt() {
        let a = hkdf_sha256(b"key", b"", b"info", 32).unwrap();
        let b = hkdf_sha256(b"key", &[0u8; 32], b"info", 32).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn too_long_output_is_an_error() {
        assert_eq!(
            hkdf_sha256(b"k", b"", b"", 255 * 32 + 1),
            Err(CryptoError::HkdfLength(255 * 32 + 1))
        );
    }

    #[test]
    fn pbkdf2_rfc7914_vector() {
        let out: [u8; 64] = pbkdf2_sha256(b"passwd", b"salt", 1);
        assert_eq!(&hex::encode(out)[..32], "55ac046e56e3089fec1691c22544b605");
    }
}
