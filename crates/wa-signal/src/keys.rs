//! Our long-term keys (identity, registration id, signed prekey, one-time prekeys) and a
//! remote device's prekey bundle.

use std::sync::{Arc, OnceLock};

pub use wa_crypto::KeyPair;
use wa_crypto::curve::{self, AgreementKey};

use crate::error::{ErrorKind, Fault};

/// Our identity key pair and registration id.
#[derive(Clone, Debug)]
pub struct LocalIdentity {
    pub key_pair: KeyPair,
    pub registration_id: u32,
    /// The identity key imported for agreements on first use and shared by the clones: the
    /// first send to a big group starts a session per device, each with one agreement of it.
    agreement: Arc<OnceLock<AgreementKey>>,
}

impl LocalIdentity {
    /// Our identity of `key_pair` and `registration_id`.
    pub fn new(key_pair: KeyPair, registration_id: u32) -> Self {
        Self {
            key_pair,
            registration_id,
            agreement: Arc::default(),
        }
    }

    /// Runs `f` with the identity key imported for agreements (the cached import, unless
    /// `key_pair` was changed after it).
    pub(crate) fn with_agreement_key<T>(&self, f: impl FnOnce(&AgreementKey) -> T) -> T {
        let private = &self.key_pair.private;
        let cached = self.agreement.get_or_init(|| AgreementKey::new(private));
        if cached.is_for(private) {
            f(cached)
        } else {
            f(&AgreementKey::new(private))
        }
    }

    /// The identity public key as it travels (0x05 || key).
    pub fn public_prefixed(&self) -> [u8; 33] {
        self.key_pair.public_prefixed()
    }
}

/// A one-time prekey.
#[derive(Clone, Debug)]
pub struct PreKey {
    pub id: u32,
    pub key_pair: KeyPair,
}

/// The signed prekey: its pair and our identity's signature over `0x05 || public`.
#[derive(Clone, Debug)]
pub struct SignedPreKey {
    pub id: u32,
    pub key_pair: KeyPair,
    pub signature: [u8; 64],
}

impl SignedPreKey {
    /// Whether the signature is valid for `identity_public` (32 bytes, no prefix).
    pub fn verify(&self, identity_public: &[u8; 32]) -> bool {
        curve::verify(
            identity_public,
            &self.key_pair.public_prefixed(),
            &self.signature,
        )
    }
}

/// A remote device's published keys, as a usync `<key>` bundle or Baileys' `E2ESession` gives
/// them. Public keys are as received (normally 33 bytes with the 0x05 prefix).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreKeyBundle {
    pub registration_id: u32,
    pub identity_key: Vec<u8>,
    pub signed_pre_key_id: u32,
    pub signed_pre_key: Vec<u8>,
    pub signed_pre_key_signature: Vec<u8>,
    /// The one-time prekey (id, public key), when the server had one left.
    pub pre_key: Option<(u32, Vec<u8>)>,
}

/// A registration id as libsignal-node draws it: 14 random bits.
pub fn generate_registration_id() -> u32 {
    let r: [u8; 2] = wa_crypto::random_bytes();
    u32::from(u16::from_le_bytes(r) & 0x3fff)
}

/// A new identity key pair.
pub fn generate_identity() -> KeyPair {
    KeyPair::generate()
}

/// A new signed prekey, signed by `identity` (hedged XEdDSA nonce).
pub fn generate_signed_pre_key(identity: &KeyPair, id: u32) -> SignedPreKey {
    let key_pair = KeyPair::generate();
    let random: [u8; 64] = wa_crypto::random_bytes();
    let signature =
        curve::sign_with_random(&identity.private, &key_pair.public_prefixed(), &random);
    SignedPreKey {
        id,
        key_pair,
        signature,
    }
}

/// `count` one-time prekeys with ids `start, start + 1, ...` (ids wrap inside 24 bits, as
/// WhatsApp sends them in 3 bytes, skipping 0).
pub fn generate_pre_keys(start: u32, count: u32) -> Vec<PreKey> {
    let mut id = start;
    (0..count)
        .map(|_| {
            id = if id == 0 || id > 0x00ff_ffff { 1 } else { id };
            let k = PreKey {
                id,
                key_pair: KeyPair::generate(),
            };
            id += 1;
            k
        })
        .collect()
}

/// A public key in either libsignal form (33 bytes with 0x05, or bare 32 bytes).
pub(crate) fn public_key(bytes: &[u8], what: &'static str) -> Fault<[u8; 32]> {
    curve::parse_public(bytes).map_err(|_| ErrorKind::InvalidKey(what))
}

/// A private key: exactly 32 bytes.
pub(crate) fn private_key(bytes: &[u8], what: &'static str) -> Fault<[u8; 32]> {
    bytes.try_into().map_err(|_| ErrorKind::InvalidKey(what))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_prekey_verifies_under_its_identity_only() {
        let id = generate_identity();
        let spk = generate_signed_pre_key(&id, 7);
        assert_eq!(spk.id, 7);
        assert!(spk.verify(&id.public));
        assert!(!spk.verify(&generate_identity().public));
    }

    #[test]
    fn the_identity_agreement_follows_the_key_pair() {
        let other = generate_identity();
        let plain = |id: &LocalIdentity| curve::agree(&id.key_pair.private, &other.public);
        let mut id = LocalIdentity::new(generate_identity(), 1);
        let first = id.with_agreement_key(|k| k.agree(&other.public));
        assert_eq!(first, plain(&id));
        let clone = id.clone();
        // A key pair replaced after the import: the agreement is the new key's.
        id.key_pair = generate_identity();
        assert_eq!(
            id.with_agreement_key(|k| k.agree(&other.public)),
            plain(&id)
        );
        assert_ne!(plain(&id), first);
        assert_eq!(clone.with_agreement_key(|k| k.agree(&other.public)), first);
    }

    #[test]
    fn registration_ids_fit_14_bits() {
        for _ in 0..200 {
            assert!(generate_registration_id() < 0x4000);
        }
    }

    #[test]
    fn prekey_ids_count_up_and_skip_zero() {
        let ks = generate_pre_keys(0x00ff_fffe, 4);
        let ids: Vec<u32> = ks.iter().map(|k| k.id).collect();
        assert_eq!(ids, [0x00ff_fffe, 0x00ff_ffff, 1, 2]);
        assert_ne!(ks[0].key_pair.public, ks[1].key_pair.public);
    }
}
