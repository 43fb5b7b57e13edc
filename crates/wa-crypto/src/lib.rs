//! Cryptographic primitives of WhatsApp's protocol, on RustCrypto and dalek.
//!
//! Nothing here implements a cipher: this crate fixes the exact shapes WhatsApp and
//! libsignal use (key formats, signature scheme, KDF parameters) on top of audited crates.

#![forbid(unsafe_code)]

pub mod cipher;
pub mod curve;
mod error;
pub mod hash;
pub mod kdf;
pub mod lthash;
pub mod mac;
pub mod media;
pub mod media_retry;
pub mod pairing;

pub use curve::KeyPair;
pub use error::CryptoError;
pub use lthash::LtHash;
pub use media::{MediaKeys, MediaType};

/// Fills `buf` from the operating system's CSPRNG.
///
/// # Panics
/// Panics when the OS has no randomness to give, which no caller can recover from.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).expect("the OS random source is available");
    out
}
