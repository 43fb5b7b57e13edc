//! Curve25519 keys, X25519 agreement, and the XEdDSA-style signatures of libsignal.
//!
//! Signature scheme (libsignal's `curve25519_sign`, which libsignal-node and WhatsApp use):
//! the clamped X25519 private scalar `a` signs as an Ed25519 key directly (no SHA-512
//! expansion of a seed). The Edwards public key `A = aB` is not forced to a positive sign;
//! instead its sign bit travels in the top bit of the signature's `S` (always 0 for a
//! canonical `S`). A verifier turns the Montgomery `u` into Edwards `y`, takes the sign from
//! the signature, clears that bit, and checks `SB = R + H(R || A || M)A`.
//!
//! Nonces: [`sign`] is deterministic, `r = H(a || M)`, exactly as libsignal-node signs (so
//! our signatures are byte-equal to Baileys' for the same key and message);
//! [`sign_with_random`] uses XEdDSA's hedged nonce `r = H(0xFE 0xFF*31 || a || M || Z)`.

use curve25519_dalek::edwards::CompressedEdwardsY;
use curve25519_dalek::montgomery::MontgomeryPoint;
use curve25519_dalek::{EdwardsPoint, Scalar};
use sha2::{Digest, Sha512};
use zeroize::Zeroize;

use crate::CryptoError;

/// The type byte libsignal puts before a Curve25519 public key ("DJB" key type).
pub const KEY_TYPE_DJB: u8 = 0x05;

/// A Curve25519 key pair. `public` is the 32-byte Montgomery `u` (no type prefix).
/// The private key is stored as given (libsignal-node keeps it unclamped) and clamped on use.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyPair {
    pub private: [u8; 32],
    pub public: [u8; 32],
}

impl KeyPair {
    /// A new key pair from the OS CSPRNG.
    pub fn generate() -> Self {
        Self::from_private(crate::random_bytes())
    }

    /// The key pair of an existing private key.
    pub fn from_private(private: [u8; 32]) -> Self {
        let public = MontgomeryPoint::mul_base_clamped(private).to_bytes();
        Self { private, public }
    }

    /// The public key with libsignal's 0x05 type prefix (33 bytes).
    pub fn public_prefixed(&self) -> [u8; 33] {
        prefix_public(&self.public)
    }
}

impl Drop for KeyPair {
    fn drop(&mut self) {
        self.private.zeroize();
    }
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the private key.
        f.debug_struct("KeyPair")
            .field("public", &Hex(&self.public))
            .finish_non_exhaustive()
    }
}

struct Hex<'a>(&'a [u8]);
impl std::fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// `05 || key`.
pub fn prefix_public(public: &[u8; 32]) -> [u8; 33] {
    let mut out = [0u8; 33];
    out[0] = KEY_TYPE_DJB;
    out[1..].copy_from_slice(public);
    out
}

/// Accepts a public key as libsignal does: 33 bytes starting with 0x05, or a bare 32 bytes.
pub fn parse_public(key: &[u8]) -> Result<[u8; 32], CryptoError> {
    match key.len() {
        33 if key[0] == KEY_TYPE_DJB => Ok(key[1..].try_into().expect("length checked")),
        33 => Err(CryptoError::InvalidPublicKey("unknown key type byte")),
        32 => Ok(key.try_into().expect("length checked")),
        _ => Err(CryptoError::InvalidPublicKey(
            "length must be 32 or 33 bytes",
        )),
    }
}

/// X25519: the shared secret of our private key and their public key.
pub fn agree(private: &[u8; 32], public: &[u8; 32]) -> [u8; 32] {
    MontgomeryPoint(*public).mul_clamped(*private).to_bytes()
}

fn clamp(private: &[u8; 32]) -> [u8; 32] {
    let mut a = *private;
    a[0] &= 248;
    a[31] &= 127;
    a[31] |= 64;
    a
}

fn scalar_of_hash(parts: &[&[u8]]) -> Scalar {
    let mut h = Sha512::new();
    for p in parts {
        h.update(p);
    }
    let wide: [u8; 64] = h.finalize().into();
    Scalar::from_bytes_mod_order_wide(&wide)
}

fn sign_inner(private: &[u8; 32], message: &[u8], random: Option<&[u8; 64]>) -> [u8; 64] {
    let mut a_bytes = clamp(private);
    let a = Scalar::from_bytes_mod_order(a_bytes);
    let big_a = EdwardsPoint::mul_base(&a).compress().to_bytes();
    let sign_bit = big_a[31] & 0x80;
    let r = match random {
        None => scalar_of_hash(&[&a_bytes, message]),
        Some(z) => {
            let mut prefix = [0xffu8; 32];
            prefix[0] = 0xfe;
            scalar_of_hash(&[&prefix, &a_bytes, message, z])
        }
    };
    a_bytes.zeroize();
    let big_r = EdwardsPoint::mul_base(&r).compress().to_bytes();
    let h = scalar_of_hash(&[&big_r, &big_a, message]);
    let s = r + h * a;
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&big_r);
    sig[32..].copy_from_slice(s.as_bytes());
    sig[63] |= sign_bit;
    sig
}

/// Signs `message` with a Curve25519 private key; deterministic (libsignal-node's nonce).
pub fn sign(private: &[u8; 32], message: &[u8]) -> [u8; 64] {
    sign_inner(private, message, None)
}

/// Signs with XEdDSA's hedged nonce over 64 caller-supplied random bytes.
pub fn sign_with_random(private: &[u8; 32], message: &[u8], random: &[u8; 64]) -> [u8; 64] {
    sign_inner(private, message, Some(random))
}

/// Verifies a libsignal-style signature against a Curve25519 public key (32 bytes, no
/// prefix). Returns false for any malformed key or signature; never panics.
pub fn verify(public: &[u8; 32], message: &[u8], signature: &[u8]) -> bool {
    let Ok(sig) = <&[u8; 64]>::try_from(signature) else {
        return false;
    };
    let sign_bit = sig[63] >> 7;
    let Some(big_a) = MontgomeryPoint(*public).to_edwards(sign_bit) else {
        return false;
    };
    let big_a_bytes = big_a.compress().to_bytes();
    let mut s_bytes: [u8; 32] = sig[32..].try_into().expect("64-byte signature");
    s_bytes[31] &= 0x7f;
    // A canonical S only: rejects the malleable S + L form.
    let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)) else {
        return false;
    };
    let r_bytes: [u8; 32] = sig[..32].try_into().expect("64-byte signature");
    if CompressedEdwardsY(r_bytes).decompress().is_none() {
        return false;
    }
    let h = scalar_of_hash(&[&r_bytes, &big_a_bytes, message]);
    // R' = sB - hA must equal R.
    let r_check = EdwardsPoint::vartime_double_scalar_mul_basepoint(&-h, &big_a, &s);
    crate::mac::ct_eq(r_check.compress().as_bytes(), &r_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kp(seed: u8) -> KeyPair {
        KeyPair::from_private([seed; 32])
    }

    #[test]
    fn agreement_is_symmetric() {
        let (a, b) = (kp(1), kp(2));
        assert_eq!(agree(&a.private, &b.public), agree(&b.private, &a.public));
    }

    #[test]
    fn rfc7748_x25519_vector() {
        let alice: [u8; 32] =
            hex::decode("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
                .unwrap()
                .try_into()
                .unwrap();
        let bob_pub: [u8; 32] =
            hex::decode("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
                .unwrap()
                .try_into()
                .unwrap();
        assert_eq!(
            hex::encode(KeyPair::from_private(alice).public),
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
        );
        assert_eq!(
            hex::encode(agree(&alice, &bob_pub)),
            "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
        );
    }

    #[test]
    fn sign_verify_and_reject() {
        for seed in 0..32u8 {
            let k = kp(seed);
            let msg = [seed; 40];
            let sig = sign(&k.private, &msg);
            assert!(verify(&k.public, &msg, &sig), "seed {seed}");
            let hedged = sign_with_random(&k.private, &msg, &[seed ^ 0x5a; 64]);
            assert!(verify(&k.public, &msg, &hedged));
            assert_ne!(hedged, sig);
            let mut bad = sig;
            bad[5] ^= 1;
            assert!(!verify(&k.public, &msg, &bad));
            let mut bad = sig;
            bad[63] ^= 0x80; // the carried sign bit
            assert!(!verify(&k.public, &msg, &bad));
            assert!(!verify(&k.public, b"other", &sig));
            assert!(!verify(&kp(seed.wrapping_add(1)).public, &msg, &sig));
            assert!(!verify(&k.public, &msg, &sig[..63]));
        }
    }

    #[test]
    fn both_sign_bits_occur() {
        // The scheme's point is carrying A's sign: make sure keys with each sign verify.
        let mut seen = [false; 2];
        for seed in 0..64u8 {
            let k = kp(seed);
            let sig = sign(&k.private, b"m");
            seen[(sig[63] >> 7) as usize] = true;
            assert!(verify(&k.public, b"m", &sig));
        }
        assert_eq!(seen, [true, true]);
    }

    #[test]
    fn public_key_parsing() {
        let k = kp(3);
        assert_eq!(parse_public(&k.public_prefixed()).unwrap(), k.public);
        assert_eq!(parse_public(&k.public).unwrap(), k.public);
        assert!(parse_public(&[6u8; 33]).is_err());
        assert!(parse_public(&[5u8; 31]).is_err());
    }

    #[test]
    fn debug_hides_private_key() {
        let k = KeyPair::from_private([0xab; 32]);
        assert!(!format!("{k:?}").contains("abab"));
    }
}
