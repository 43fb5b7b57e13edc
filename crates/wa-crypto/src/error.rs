use thiserror::Error;

/// Errors of the primitives. Each has a stable code for the JS boundary.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CryptoError {
    #[error("invalid public key: {0}")]
    InvalidPublicKey(&'static str),
    #[error("invalid key length: expected {expected} bytes, got {got}")]
    KeyLength { expected: usize, got: usize },
    #[error("invalid IV/nonce length: expected {expected} bytes, got {got}")]
    IvLength { expected: usize, got: usize },
    #[error("AES-GCM authentication failed")]
    GcmAuth,
    #[error("AES-CBC decryption failed: bad padding or length")]
    CbcPadding,
    #[error("MAC mismatch")]
    BadMac,
    #[error("requested output length {0} is too long for HKDF-SHA256")]
    HkdfLength(usize),
    #[error("ciphertext too short: {0} bytes")]
    Truncated(usize),
}

impl CryptoError {
    /// A stable code for the JS boundary (`err.code`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidPublicKey(_) => "ERR_WA_CRYPTO_PUBLIC_KEY",
            Self::KeyLength { .. } => "ERR_WA_CRYPTO_KEY_LENGTH",
            Self::IvLength { .. } => "ERR_WA_CRYPTO_IV_LENGTH",
            Self::GcmAuth => "ERR_WA_CRYPTO_GCM_AUTH",
            Self::CbcPadding => "ERR_WA_CRYPTO_CBC_PADDING",
            Self::BadMac => "ERR_WA_CRYPTO_BAD_MAC",
            Self::HkdfLength(_) => "ERR_WA_CRYPTO_HKDF_LENGTH",
            Self::Truncated(_) => "ERR_WA_CRYPTO_TRUNCATED",
        }
    }
}
