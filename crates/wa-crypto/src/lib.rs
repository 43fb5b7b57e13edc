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

/// Randomness drawn per message (a message's id, its padding and `messageSecret`, a group
/// message's signature nonce): from `rand`'s per-thread ChaCha12 generator, seeded from the OS
/// and reseeded after every 64 KiB it gives, so as unpredictable as [`random_bytes`] without
/// a system call each time (a sent text made three or four). Keys that live on (identity,
/// prekeys, pairing) still come from [`random_bytes`].
pub fn message_random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    rand::fill(&mut out[..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_randomness_differs_per_draw_and_per_thread() {
        let a: [u8; 32] = message_random();
        let b: [u8; 32] = message_random();
        assert_ne!(a, b);
        // Each thread's generator has its own seed: another thread's first draw is not ours.
        let other = std::thread::spawn(message_random::<32>).join().unwrap();
        assert_ne!(other, a);
        assert_ne!(other, b);
        // A pad length is drawn from one byte: over many draws every low nibble shows up.
        let mut seen = [false; 16];
        for _ in 0..4096 {
            seen[usize::from(message_random::<1>()[0] & 0x0f)] = true;
        }
        assert!(seen.iter().all(|s| *s));
    }
}
