//! The primary phone's side of "link with phone number" (the 8-character pairing code).
//!
//! 1. The companion wraps its pairing ephemeral public key under the code
//!    (`salt || iv || AES-CTR`) and sends it in `companion_hello`.
//! 2. The user types the code on the phone: the phone unwraps the companion's key, makes its
//!    own ephemeral key and sends it back, wrapped under the same code, with its identity key
//!    ([`primary_hello`]).
//! 3. The companion answers `companion_finish` with a key bundle (its identity, the phone's
//!    identity, 32 random bytes) sealed with AES-GCM under
//!    HKDF(ephemeral DH, salt, "link_code_pairing_key_bundle_encryption_key"); the phone opens
//!    it ([`open_key_bundle`]) and both derive the ADV secret ([`adv_secret`]) that
//!    authenticates `pair-success`.
//!
//! A wrong code gives each side a different ephemeral key, so the bundle fails to open.

use wa_crypto::KeyPair;
use wa_crypto::cipher::gcm_decrypt;
use wa_crypto::curve::agree;
use wa_crypto::kdf::hkdf_sha256_into;
use wa_crypto::pairing::{WRAPPED_KEY_LEN, unwrap_with_pairing_code, wrap_with_pairing_code};
use wa_vocab::link_code::{ADV_SECRET_INFO, KEY_BUNDLE_INFO};

/// The phone's answer to a code typed by the user.
#[derive(Debug, Clone)]
pub struct PrimaryHello {
    /// The companion's pairing ephemeral key, as unwrapped with the typed code.
    pub companion_ephemeral: [u8; 32],
    /// The phone's pairing ephemeral key.
    pub primary_ephemeral: KeyPair,
    /// The phone's ephemeral public key wrapped under the typed code.
    pub wrapped: [u8; WRAPPED_KEY_LEN],
}

/// Normalises what a user types: `ABCD-EFGH`, lower case and spaces are accepted.
pub fn normalize_code(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect()
}

/// Step 2: the phone's side once the code is typed (two PBKDF2 derivations, ~2^18 rounds:
/// run it off any latency-sensitive thread).
pub fn primary_hello(code: &str, wrapped_companion: &[u8]) -> Option<PrimaryHello> {
    let code = normalize_code(code);
    let companion_ephemeral = unwrap_with_pairing_code(&code, wrapped_companion).ok()?;
    let primary_ephemeral = KeyPair::generate();
    let salt: [u8; 32] = wa_crypto::random_bytes();
    let iv: [u8; 16] = wa_crypto::random_bytes();
    let wrapped = wrap_with_pairing_code(&code, &salt, &iv, &primary_ephemeral.public);
    Some(PrimaryHello {
        companion_ephemeral,
        primary_ephemeral,
        wrapped,
    })
}

/// Step 3: opens `salt(32) || iv(12) || AES-GCM(bundle)`. Returns the ephemeral shared secret
/// and the 96-byte bundle (companion identity, primary identity, random), or `None` when it
/// does not open (a mistyped code, or tampering).
pub fn open_key_bundle(
    primary_ephemeral: &KeyPair,
    companion_ephemeral: &[u8; 32],
    wrapped_bundle: &[u8],
) -> Option<([u8; 32], [u8; 96])> {
    if wrapped_bundle.len() < 32 + 12 + 16 {
        return None;
    }
    let shared = agree(&primary_ephemeral.private, companion_ephemeral);
    let mut key = [0u8; 32];
    hkdf_sha256_into(&shared, &wrapped_bundle[..32], KEY_BUNDLE_INFO, &mut key).ok()?;
    let plain = gcm_decrypt(&key, &wrapped_bundle[32..44], &[], &wrapped_bundle[44..]).ok()?;
    Some((shared, plain.try_into().ok()?))
}

/// The ADV secret both sides derive: HKDF(ephemeral shared || identity shared || random,
/// no salt, "adv_secret").
pub fn adv_secret(
    ephemeral_shared: &[u8; 32],
    identity_shared: &[u8; 32],
    random: &[u8],
) -> [u8; 32] {
    let mut input = Vec::with_capacity(64 + random.len());
    input.extend_from_slice(ephemeral_shared);
    input.extend_from_slice(identity_shared);
    input.extend_from_slice(random);
    let mut out = [0u8; 32];
    hkdf_sha256_into(&input, &[], ADV_SECRET_INFO, &mut out).expect("32-byte HKDF output");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use wa_crypto::cipher::gcm_encrypt;

    /// The companion's side, written from Baileys' and whatsmeow's description.
    fn companion_finish(
        code: &str,
        companion_eph: &KeyPair,
        companion_identity: &KeyPair,
        hello: &PrimaryHello,
        primary_identity: &[u8; 32],
    ) -> (Vec<u8>, [u8; 32]) {
        let primary_eph = unwrap_with_pairing_code(code, &hello.wrapped).unwrap();
        let shared = agree(&companion_eph.private, &primary_eph);
        let salt = [3u8; 32];
        let iv = [4u8; 12];
        let random = [5u8; 32];
        let mut key = [0u8; 32];
        hkdf_sha256_into(&shared, &salt, KEY_BUNDLE_INFO, &mut key).unwrap();
        let mut bundle = companion_identity.public.to_vec();
        bundle.extend_from_slice(primary_identity);
        bundle.extend_from_slice(&random);
        let mut wrapped = salt.to_vec();
        wrapped.extend_from_slice(&iv);
        wrapped.extend_from_slice(&gcm_encrypt(&key, &iv, &[], &bundle).unwrap());
        let identity_shared = agree(&companion_identity.private, primary_identity);
        (wrapped, adv_secret(&shared, &identity_shared, &random))
    }

    #[test]
    fn both_sides_derive_the_same_adv_secret() {
        let code = "ABCD2345";
        let companion_eph = KeyPair::generate();
        let companion_id = KeyPair::generate();
        let primary_id = KeyPair::generate();
        let wrapped = wrap_with_pairing_code(code, &[1; 32], &[2; 16], &companion_eph.public);
        let hello = primary_hello("abcd-2345", &wrapped).unwrap();
        assert_eq!(hello.companion_ephemeral, companion_eph.public);
        let (bundle, companion_secret) = companion_finish(
            code,
            &companion_eph,
            &companion_id,
            &hello,
            &primary_id.public,
        );
        let (shared, plain) = open_key_bundle(
            &hello.primary_ephemeral,
            &hello.companion_ephemeral,
            &bundle,
        )
        .unwrap();
        assert_eq!(&plain[..32], &companion_id.public);
        assert_eq!(&plain[32..64], &primary_id.public);
        let identity_shared = agree(&primary_id.private, &companion_id.public);
        assert_eq!(
            adv_secret(&shared, &identity_shared, &plain[64..]),
            companion_secret
        );
    }

    #[test]
    fn a_mistyped_code_does_not_open() {
        let companion_eph = KeyPair::generate();
        let wrapped = wrap_with_pairing_code("ABCD2345", &[1; 32], &[2; 16], &companion_eph.public);
        let hello = primary_hello("ABCD2346", &wrapped).unwrap();
        assert_ne!(hello.companion_ephemeral, companion_eph.public);
        let (bundle, _) = companion_finish(
            "ABCD2345",
            &companion_eph,
            &KeyPair::generate(),
            &hello,
            &[9; 32],
        );
        assert!(
            open_key_bundle(
                &hello.primary_ephemeral,
                &hello.companion_ephemeral,
                &bundle
            )
            .is_none()
        );
        assert!(
            open_key_bundle(
                &hello.primary_ephemeral,
                &hello.companion_ephemeral,
                &[0; 10]
            )
            .is_none()
        );
        assert!(primary_hello("ABCD2345", &[0; 10]).is_none());
    }
}
