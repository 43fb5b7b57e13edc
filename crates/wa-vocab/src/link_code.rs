//! Pairing by code ("link code"): the HKDF labels both the companion and the primary use.
//! The code itself (alphabet, PBKDF2 rounds) is `wa_crypto::pairing`'s.

/// HKDF info for the key that encrypts the companion's key bundle (`companion_finish`).
pub const KEY_BUNDLE_INFO: &[u8] = b"link_code_pairing_key_bundle_encryption_key";
/// HKDF info for the new ADV secret both sides derive once the code was entered.
pub const ADV_SECRET_INFO: &[u8] = b"adv_secret";
