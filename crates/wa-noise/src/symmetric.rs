//! The handshake's symmetric state: running hash, chaining key and AEAD key, as WhatsApp
//! defines them (a Noise `SymmetricState` with WhatsApp's choices spelled out).
use wa_crypto::cipher::GcmKey;
use wa_crypto::hash::sha256_parts;
use wa_crypto::kdf::hkdf_sha256_into;
use zeroize::Zeroize;

use crate::NoiseError;

/// The protocol name, zero-padded to 32 bytes and used as the initial hash and chaining key
/// directly (it is exactly `HASHLEN` long, so Noise does not hash it).
pub const PROTOCOL_NAME: &[u8; 32] = b"Noise_XX_25519_AESGCM_SHA256\0\0\0\0";

/// 12-byte AES-GCM nonce: 8 zero bytes then the counter, big-endian.
pub(crate) fn nonce(counter: u32) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[8..].copy_from_slice(&counter.to_be_bytes());
    iv
}

#[derive(Clone)]
pub(crate) struct SymmetricState {
    hash: [u8; 32],
    chaining_key: [u8; 32],
    key: GcmKey,
    counter: u32,
}

impl SymmetricState {
    pub fn new() -> Self {
        Self {
            hash: *PROTOCOL_NAME,
            chaining_key: *PROTOCOL_NAME,
            // WhatsApp starts with the hash as the key; it is replaced before any use.
            key: GcmKey::new(PROTOCOL_NAME).expect("32-byte key"),
            counter: 0,
        }
    }

    /// `h = SHA-256(h || data)`.
    pub fn mix_hash(&mut self, data: &[u8]) {
        self.hash = sha256_parts(&[&self.hash, data]);
    }

    /// `ck, k = HKDF(salt = ck, ikm = secret, info = "", 64)`; the nonce counter restarts.
    pub fn mix_key(&mut self, secret: &[u8]) {
        let mut out = [0u8; 64];
        hkdf_sha256_into(secret, &self.chaining_key, b"", &mut out).expect("64 bytes");
        self.chaining_key.copy_from_slice(&out[..32]);
        self.key = GcmKey::new(&out[32..]).expect("32-byte key");
        self.counter = 0;
        out.zeroize();
    }

    /// Mixes the X25519 agreement of `private` and `public`, refusing low-order peer keys.
    pub fn mix_dh(&mut self, private: &[u8; 32], public: &[u8; 32]) -> Result<(), NoiseError> {
        let mut shared = wa_crypto::curve::agree(private, public);
        let weak = shared.iter().all(|&b| b == 0);
        if !weak {
            self.mix_key(&shared);
        }
        shared.zeroize();
        if weak {
            Err(NoiseError::WeakKey)
        } else {
            Ok(())
        }
    }

    pub fn encrypt_and_hash(&mut self, plain: &[u8]) -> Vec<u8> {
        let sealed = self.key.seal(&nonce(self.counter), &self.hash, plain);
        self.counter += 1;
        self.mix_hash(&sealed);
        sealed
    }

    pub fn decrypt_and_hash(&mut self, sealed: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let plain = self
            .key
            .open(&nonce(self.counter), &self.hash, sealed)
            .map_err(|_| NoiseError::HandshakeDecrypt)?;
        self.counter += 1;
        self.mix_hash(sealed);
        Ok(plain)
    }

    /// The two transport keys: `HKDF(salt = ck, ikm = "", info = "", 64)`. The first half
    /// encrypts what the initiator (client) sends, the second what the responder sends.
    pub fn split(&self) -> (GcmKey, GcmKey) {
        let mut out = [0u8; 64];
        hkdf_sha256_into(b"", &self.chaining_key, b"", &mut out).expect("64 bytes");
        let keys = (
            GcmKey::new(&out[..32]).expect("32-byte key"),
            GcmKey::new(&out[32..]).expect("32-byte key"),
        );
        out.zeroize();
        keys
    }
}

impl Drop for SymmetricState {
    fn drop(&mut self) {
        self.chaining_key.zeroize();
    }
}
