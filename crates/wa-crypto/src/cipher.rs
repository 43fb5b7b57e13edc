//! AES-256 in the three modes WhatsApp uses: GCM (Noise transport, pairing), CBC with
//! PKCS#7 (Signal messages, media, app state) and CTR (pairing-code key bundle).
use aes::Aes256;
use aes_gcm::aead::{Aead, AeadInOut, Payload, inout::InOutBuf};
use aes_gcm::{Aes256Gcm, KeyInit as _};
use cbc::cipher::{
    BlockModeDecrypt, BlockModeEncrypt, KeyIvInit, StreamCipher, block_padding::Pkcs7,
};

use crate::CryptoError;

fn key32(key: &[u8]) -> Result<&[u8; 32], CryptoError> {
    key.try_into().map_err(|_| CryptoError::KeyLength {
        expected: 32,
        got: key.len(),
    })
}

fn iv_of<const N: usize>(iv: &[u8]) -> Result<&[u8; N], CryptoError> {
    iv.try_into().map_err(|_| CryptoError::IvLength {
        expected: N,
        got: iv.len(),
    })
}

/// AES-256-GCM seal: ciphertext with the 16-byte tag appended.
pub fn gcm_encrypt(
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    plain: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let cipher = Aes256Gcm::new(key32(key)?.into());
    cipher
        .encrypt(iv_of::<12>(iv)?.into(), Payload { msg: plain, aad })
        .map_err(|_| CryptoError::GcmAuth)
}

/// AES-256-GCM open of ciphertext||tag.
pub fn gcm_decrypt(
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let cipher = Aes256Gcm::new(key32(key)?.into());
    if sealed.len() < 16 {
        return Err(CryptoError::Truncated(sealed.len()));
    }
    cipher
        .decrypt(iv_of::<12>(iv)?.into(), Payload { msg: sealed, aad })
        .map_err(|_| CryptoError::GcmAuth)
}

/// A reusable AES-256-GCM key: the Noise transport seals many frames under one key, so the
/// key schedule is computed once.
#[derive(Clone)]
pub struct GcmKey(Aes256Gcm);

impl GcmKey {
    pub fn new(key: &[u8]) -> Result<Self, CryptoError> {
        Ok(Self(Aes256Gcm::new(key32(key)?.into())))
    }

    pub fn seal(&self, iv: &[u8; 12], aad: &[u8], plain: &[u8]) -> Vec<u8> {
        self.0
            .encrypt(iv.into(), Payload { msg: plain, aad })
            .expect("AES-GCM sealing cannot fail for in-range lengths")
    }

    pub fn open(&self, iv: &[u8; 12], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < 16 {
            return Err(CryptoError::Truncated(sealed.len()));
        }
        self.0
            .decrypt(iv.into(), Payload { msg: sealed, aad })
            .map_err(|_| CryptoError::GcmAuth)
    }
}

impl GcmKey {
    /// Appends `plain` sealed (ciphertext || tag) to `out`, without an intermediate buffer.
    pub fn seal_append(&self, iv: &[u8; 12], aad: &[u8], plain: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(plain);
        let tag = self
            .0
            .encrypt_inout_detached(iv.into(), aad, (&mut out[start..]).into())
            .expect("AES-GCM sealing cannot fail for in-range lengths");
        out.extend_from_slice(&tag);
    }

    /// Opens `sealed` (ciphertext || tag) and appends the plaintext to `out`. The tag is
    /// checked before anything is decrypted; on failure `out` is left as it was.
    pub fn open_append(
        &self,
        iv: &[u8; 12],
        aad: &[u8],
        sealed: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), CryptoError> {
        let Some(body_len) = sealed.len().checked_sub(16) else {
            return Err(CryptoError::Truncated(sealed.len()));
        };
        let (body, tag) = sealed.split_at(body_len);
        let start = out.len();
        out.resize(start + body_len, 0);
        let buf = InOutBuf::new(body, &mut out[start..]).expect("equal lengths");
        let tag = tag.try_into().expect("16-byte tag");
        match self.0.decrypt_inout_detached(iv.into(), aad, buf, tag) {
            Ok(()) => Ok(()),
            Err(_) => {
                out.truncate(start);
                Err(CryptoError::GcmAuth)
            }
        }
    }

    /// Whether `sealed` carries a valid tag under `iv`, without producing plaintext.
    pub fn verifies(&self, iv: &[u8; 12], aad: &[u8], sealed: &[u8]) -> bool {
        let mut scratch = Vec::with_capacity(sealed.len());
        self.open_append(iv, aad, sealed, &mut scratch).is_ok()
    }
}

impl std::fmt::Debug for GcmKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GcmKey(..)")
    }
}

/// AES-256-CBC with PKCS#7 padding.
pub fn cbc_encrypt(key: &[u8], iv: &[u8], plain: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let enc = cbc::Encryptor::<Aes256>::new(key32(key)?.into(), iv_of::<16>(iv)?.into());
    Ok(enc.encrypt_padded_vec::<Pkcs7>(plain))
}

/// AES-256-CBC decryption; a wrong length or padding is `CbcPadding`.
pub fn cbc_decrypt(key: &[u8], iv: &[u8], cipher: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let dec = cbc::Decryptor::<Aes256>::new(key32(key)?.into(), iv_of::<16>(iv)?.into());
    if cipher.is_empty() || !cipher.len().is_multiple_of(16) {
        return Err(CryptoError::CbcPadding);
    }
    dec.decrypt_padded_vec::<Pkcs7>(cipher)
        .map_err(|_| CryptoError::CbcPadding)
}

/// AES-256-CTR with a 128-bit big-endian counter starting at `iv` (Node's `aes-256-ctr`).
/// Encryption and decryption are the same operation.
pub fn ctr_apply(key: &[u8], iv: &[u8], data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut c = ctr::Ctr128BE::<Aes256>::new(key32(key)?.into(), iv_of::<16>(iv)?.into());
    let mut out = data.to_vec();
    c.apply_keystream(&mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    #[test]
    fn gcm_round_trip_and_tamper() {
        let iv = [1u8; 12];
        let sealed = gcm_encrypt(&KEY, &iv, b"aad", b"hello").unwrap();
        assert_eq!(sealed.len(), 5 + 16);
        assert_eq!(gcm_decrypt(&KEY, &iv, b"aad", &sealed).unwrap(), b"hello");
        assert_eq!(
            gcm_decrypt(&KEY, &iv, b"bad", &sealed),
            Err(CryptoError::GcmAuth)
        );
        let mut t = sealed.clone();
        t[0] ^= 1;
        assert_eq!(
            gcm_decrypt(&KEY, &iv, b"aad", &t),
            Err(CryptoError::GcmAuth)
        );
        assert_eq!(
            gcm_decrypt(&KEY, &iv, b"aad", &t[..3]),
            Err(CryptoError::Truncated(3))
        );
        let k = GcmKey::new(&KEY).unwrap();
        assert_eq!(k.seal(&iv, b"aad", b"hello"), sealed);
        assert_eq!(k.open(&iv, b"aad", &sealed).unwrap(), b"hello");
        let mut out = b"prefix".to_vec();
        k.seal_append(&iv, b"aad", b"hello", &mut out);
        assert_eq!(&out[6..], &sealed[..]);
        let mut plain = b"x".to_vec();
        k.open_append(&iv, b"aad", &sealed, &mut plain).unwrap();
        assert_eq!(plain, b"xhello");
        assert_eq!(
            k.open_append(&iv, b"aad", &t, &mut plain),
            Err(CryptoError::GcmAuth)
        );
        assert_eq!(plain, b"xhello");
        assert!(k.verifies(&iv, b"aad", &sealed));
        assert!(!k.verifies(&iv, b"aad", &t));
    }

    #[test]
    fn gcm_nist_vector() {
        // NIST GCM test case 13: zero key, zero IV, empty plaintext.
        let sealed = gcm_encrypt(&[0u8; 32], &[0u8; 12], b"", b"").unwrap();
        assert_eq!(hex::encode(sealed), "530f8afbc74536b9a963b4f1c4cb738b");
    }

    #[test]
    fn cbc_round_trip_padding_and_errors() {
        let iv = [2u8; 16];
        for len in [0usize, 1, 15, 16, 17, 100] {
            let plain = vec![9u8; len];
            let c = cbc_encrypt(&KEY, &iv, &plain).unwrap();
            assert_eq!(c.len(), (len / 16 + 1) * 16);
            assert_eq!(cbc_decrypt(&KEY, &iv, &c).unwrap(), plain);
        }
        assert_eq!(
            cbc_decrypt(&KEY, &iv, &[0u8; 15]),
            Err(CryptoError::CbcPadding)
        );
        assert_eq!(cbc_decrypt(&KEY, &iv, &[]), Err(CryptoError::CbcPadding));
        assert_eq!(
            cbc_encrypt(&KEY[..16], &iv, b"x"),
            Err(CryptoError::KeyLength {
                expected: 32,
                got: 16
            })
        );
    }

    #[test]
    fn ctr_is_an_involution_and_counts_big_endian() {
        let iv = [0xffu8; 16];
        let data = vec![5u8; 40];
        let c = ctr_apply(&KEY, &iv, &data).unwrap();
        assert_ne!(c, data);
        assert_eq!(ctr_apply(&KEY, &iv, &c).unwrap(), data);
        // The second block's counter wraps from all-ones to zero.
        let zero_block = ctr_apply(&KEY, &[0u8; 16], &[0u8; 16]).unwrap();
        let z = ctr_apply(&KEY, &iv, &[0u8; 32]).unwrap();
        assert_eq!(&z[16..], &zero_block[..]);
    }
}
