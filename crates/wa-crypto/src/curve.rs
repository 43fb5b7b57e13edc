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
    AgreementKey::new(private).agree(public)
}

/// A private key imported once for several X25519 agreements.
///
/// The agreements run on AWS-LC's ladder (formally verified assembly on x86-64 and aarch64):
/// on the first send to a 3,000-device group, five agreements per device were over 70% of the
/// client's CPU, and AWS-LC's ladder takes under half of dalek's time per agreement here
/// (42 vs 92 µs). Importing a key costs a base-point multiplication (~12 µs), hence this type:
/// a session setup imports its base key once for its three or four agreements.
///
/// The result is always what RFC 7748's X25519 gives, as dalek computes it: where AWS-LC
/// refuses (a low-order public key, whose secret is all zeros) the answer is computed by
/// dalek, so callers see the zeros and decide (the Signal layer refuses them).
pub struct AgreementKey {
    private: [u8; 32],
    key: Option<aws_lc_rs::agreement::PrivateKey>,
}

impl AgreementKey {
    /// Imports `private` (clamped on use, as X25519 does).
    pub fn new(private: &[u8; 32]) -> Self {
        use aws_lc_rs::agreement::{PrivateKey, X25519};
        Self {
            private: *private,
            key: PrivateKey::from_private_key(&X25519, private).ok(),
        }
    }

    /// The shared secret with `public` (its top bit ignored, as RFC 7748 says).
    pub fn agree(&self, public: &[u8; 32]) -> [u8; 32] {
        use aws_lc_rs::agreement::{UnparsedPublicKey, X25519, agree};
        let fast = self.key.as_ref().and_then(|key| {
            agree(key, UnparsedPublicKey::new(&X25519, public), (), |s| {
                <[u8; 32]>::try_from(s).map_err(|_| ())
            })
            .ok()
        });
        fast.unwrap_or_else(|| {
            MontgomeryPoint(*public)
                .mul_clamped(self.private)
                .to_bytes()
        })
    }

    /// Whether this is the import of `private`.
    pub fn is_for(&self, private: &[u8; 32]) -> bool {
        crate::mac::ct_eq(&self.private, private)
    }
}

impl std::fmt::Debug for AgreementKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the private key.
        f.debug_struct("AgreementKey").finish_non_exhaustive()
    }
}

impl Drop for AgreementKey {
    fn drop(&mut self) {
        self.private.zeroize();
    }
}

impl KeyPair {
    /// A new key pair and its [`AgreementKey`], the public key taken from the import (one
    /// base-point multiplication instead of two).
    pub fn generate_for_agreement() -> (Self, AgreementKey) {
        let private = crate::random_bytes();
        let key = AgreementKey::new(&private);
        let public = key
            .key
            .as_ref()
            .and_then(|k| k.compute_public_key().ok())
            .and_then(|p| <[u8; 32]>::try_from(p.as_ref()).ok());
        let pair = match public {
            Some(public) => Self { private, public },
            None => Self::from_private(private),
        };
        (pair, key)
    }
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
    use aws_lc_rs::signature::{ED25519, UnparsedPublicKey};
    let Ok(sig) = <&[u8; 64]>::try_from(signature) else {
        return false;
    };
    let sign_bit = sig[63] >> 7;
    let Some(big_a) = MontgomeryPoint(*public).to_edwards(sign_bit) else {
        return false;
    };
    let mut ed_sig = *sig;
    ed_sig[63] &= 0x7f;
    // A canonical S only: rejects the malleable S + L form (AWS-LC checks it too; kept here so
    // the rule does not rest on the library).
    let s_bytes: [u8; 32] = ed_sig[32..].try_into().expect("64-byte signature");
    if Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)).is_none() {
        return false;
    }
    // With A's Edwards encoding and the sign bit cleared it is an Ed25519 signature:
    // SB = R + H(R || A || M)A, the encodings of R compared. With the conversion of A this
    // takes ~70% of the time of dalek's check here (81 vs 113 µs), and the first send to a big
    // group checks one signature per device.
    UnparsedPublicKey::new(&ED25519, big_a.compress().as_bytes())
        .verify(message, &ed_sig)
        .is_ok()
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

    fn dalek(private: &[u8; 32], public: &[u8; 32]) -> [u8; 32] {
        MontgomeryPoint(*public).mul_clamped(*private).to_bytes()
    }

    #[test]
    fn agreement_equals_the_reference_ladder_on_every_kind_of_input() {
        let mut publics: Vec<[u8; 32]> = (0..200).map(|_| crate::random_bytes()).collect();
        // The top bit is ignored (RFC 7748), and u >= p is reduced: both must agree with dalek.
        for p in publics.clone().iter().take(50) {
            let mut q = *p;
            q[31] |= 0x80;
            publics.push(q);
        }
        // Low-order points (all-zero secret: AWS-LC refuses them, dalek gives the zeros), and
        // -1, p, p + 1 as non-canonical encodings.
        for h in [
            "0000000000000000000000000000000000000000000000000000000000000000",
            "0100000000000000000000000000000000000000000000000000000000000000",
            "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
            "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
            "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
            "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
            "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
            "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        ] {
            publics.push(hex::decode(h).unwrap().try_into().unwrap());
        }
        let mut zeros = 0;
        for (i, public) in publics.iter().enumerate() {
            // Unclamped private keys too: libsignal-node keeps them as generated.
            let private: [u8; 32] = crate::random_bytes();
            let ours = agree(&private, public);
            assert_eq!(ours, dalek(&private, public), "input {i}");
            zeros += usize::from(ours == [0; 32]);
        }
        assert!(
            zeros >= 4,
            "the low-order points give the all-zero secret ({zeros})"
        );
    }

    #[test]
    fn a_prepared_key_and_its_generated_pair_agree_like_the_plain_function() {
        for _ in 0..20 {
            let (pair, key) = KeyPair::generate_for_agreement();
            assert!(
                key.key.is_some(),
                "AWS-LC took the key: the fast path is the one tested"
            );
            assert_eq!(pair.public, KeyPair::from_private(pair.private).public);
            let other = KeyPair::generate();
            let expected = agree(&pair.private, &other.public);
            assert_eq!(key.agree(&other.public), expected);
            assert_eq!(
                key.agree(&other.public),
                expected,
                "a prepared key is reusable"
            );
            assert_eq!(agree(&other.private, &pair.public), expected);
        }
    }

    /// The check as it was written with dalek alone, the reference for the AWS-LC one.
    fn verify_dalek(public: &[u8; 32], message: &[u8], sig: &[u8; 64]) -> bool {
        let Some(big_a) = MontgomeryPoint(*public).to_edwards(sig[63] >> 7) else {
            return false;
        };
        let big_a_bytes = big_a.compress().to_bytes();
        let mut s_bytes: [u8; 32] = sig[32..].try_into().unwrap();
        s_bytes[31] &= 0x7f;
        let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)) else {
            return false;
        };
        let r_bytes: [u8; 32] = sig[..32].try_into().unwrap();
        let h = scalar_of_hash(&[&r_bytes, &big_a_bytes, message]);
        let r_check = EdwardsPoint::vartime_double_scalar_mul_basepoint(&-h, &big_a, &s);
        r_check.compress().as_bytes() == &r_bytes
    }

    #[test]
    fn verification_equals_the_reference_check_on_good_and_mangled_signatures() {
        let mut accepted = 0;
        for round in 0..300u32 {
            let k = KeyPair::generate();
            let msg: [u8; 33] = prefix_public(&crate::random_bytes());
            let mut sig = if round % 2 == 0 {
                sign(&k.private, &msg)
            } else {
                sign_with_random(&k.private, &msg, &[round as u8; 64])
            };
            let mut public = k.public;
            match round % 6 {
                0 | 1 => {}
                2 => sig[(round as usize / 6) % 64] ^= 1 << (round % 8),
                3 => {
                    // S + L: the same point, a non-canonical scalar (when it fits the 255 bits).
                    let mut wide = [0u8; 33];
                    let mut carry = 0u16;
                    let l_bytes: [u8; 32] = [
                        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2,
                        0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
                    ];
                    for i in 0..32 {
                        let b = if i == 31 {
                            sig[32 + i] & 0x7f
                        } else {
                            sig[32 + i]
                        };
                        let v = u16::from(b) + u16::from(l_bytes[i]) + carry;
                        wide[i] = v as u8;
                        carry = v >> 8;
                    }
                    wide[32] = carry as u8;
                    if wide[31] & 0x80 == 0 && wide[32] == 0 {
                        let sign = sig[63] & 0x80;
                        sig[32..].copy_from_slice(&wide[..32]);
                        sig[63] |= sign;
                    }
                }
                4 => public[round as usize % 32] ^= 1,
                _ => sig[..32].copy_from_slice(&crate::random_bytes::<32>()),
            }
            let ours = verify(&public, &msg, &sig);
            assert_eq!(ours, verify_dalek(&public, &msg, &sig), "round {round}");
            accepted += usize::from(ours);
        }
        assert_eq!(
            accepted, 100,
            "every untouched signature, and none of the others"
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
