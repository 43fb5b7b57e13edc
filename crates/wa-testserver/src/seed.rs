//! Deterministic key material from the server's seed.

use wa_crypto::KeyPair;
use wa_crypto::kdf::hkdf_sha256_into;

/// The server's seed. Every derived value is HKDF-SHA256(seed, label), so values for
/// different purposes are independent and a seed fixes them all.
#[derive(Clone)]
pub struct Seed([u8; 32]);

impl Seed {
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn random() -> Self {
        Self(wa_crypto::random_bytes())
    }

    /// 32 bytes for `label`.
    pub fn bytes(&self, label: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        hkdf_sha256_into(&self.0, b"wa-testserver", label.as_bytes(), &mut out)
            .expect("32 bytes is a valid HKDF length");
        out
    }

    /// A key pair for `label`.
    pub fn key_pair(&self, label: &str) -> KeyPair {
        KeyPair::from_private(self.bytes(label))
    }

    /// A number below `bound` for `label`.
    pub fn number(&self, label: &str, bound: u64) -> u64 {
        let b = self.bytes(label);
        let n = u64::from_be_bytes(b[..8].try_into().expect("8 bytes"));
        n % bound.max(1)
    }
}

impl std::fmt::Debug for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Seed(..)")
    }
}
