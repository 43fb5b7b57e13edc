//! The primary phone's side of ADV (account device verification): the signed identity it
//! issues to a new companion in `pair-success`, the check of the companion's countersignature
//! in `pair-device-sign`, and the signed key index list published in usync device lists.
//!
//! The bytes each signature covers (domain prefix and layout) are `wa_vocab::adv`'s, shared
//! with the client; the signing and the checks here are the server's own.

use prost::Message as _;
use wa_crypto::KeyPair;
use wa_crypto::curve;
use wa_crypto::mac::hmac_sha256;
use wa_proto::{
    AdvDeviceIdentity, AdvEncryptionType, AdvKeyIndexList, AdvSignedDeviceIdentity,
    AdvSignedDeviceIdentityHmac, AdvSignedKeyIndexList,
};
use wa_vocab::adv::{account_signature_message, device_signature_message, key_index_list_message};

/// What the phone issues to a companion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedIdentity {
    /// `ADVDeviceIdentity` bytes (raw id, timestamp, key index).
    pub details: Vec<u8>,
    /// `ADVSignedDeviceIdentity` bytes: details, account signature key and signature.
    pub signed: Vec<u8>,
    /// `ADVSignedDeviceIdentityHMAC` bytes: what `<device-identity>` in `pair-success` holds.
    pub container: Vec<u8>,
    pub account_signature: Vec<u8>,
}

/// Builds the companion's signed identity and its HMAC under the companion's ADV secret.
pub fn issue(
    account: &KeyPair,
    raw_id: u32,
    timestamp: u64,
    key_index: u32,
    companion_identity: &[u8; 32],
    adv_secret: &[u8],
) -> IssuedIdentity {
    let details = AdvDeviceIdentity {
        raw_id: Some(raw_id),
        timestamp: Some(timestamp),
        key_index: Some(key_index),
        account_type: Some(AdvEncryptionType::E2ee as i32),
        device_type: Some(AdvEncryptionType::E2ee as i32),
    }
    .encode_to_vec();
    let msg = account_signature_message(&details, companion_identity, false);
    let account_signature = curve::sign(&account.private, &msg).to_vec();
    let signed = AdvSignedDeviceIdentity {
        details: Some(details.clone()),
        account_signature_key: Some(account.public.to_vec()),
        account_signature: Some(account_signature.clone()),
        device_signature: None,
    }
    .encode_to_vec();
    let container = AdvSignedDeviceIdentityHmac {
        details: Some(signed.clone()),
        hmac: Some(hmac_sha256(adv_secret, &signed).to_vec()),
        account_type: None,
    }
    .encode_to_vec();
    IssuedIdentity {
        details,
        signed,
        container,
        account_signature,
    }
}

/// Checks the companion's `pair-device-sign` identity: the same details and account
/// signature as issued, and a device signature by the companion's identity key over
/// `06 01 || details || companion identity || account key`. Returns the complete identity
/// (with the account signature key put back) that the server publishes for the companion.
pub fn verify_device_sign(
    issued: &IssuedIdentity,
    account_public: &[u8; 32],
    companion_identity: &[u8; 32],
    reply: &[u8],
) -> Result<Vec<u8>, &'static str> {
    let got =
        AdvSignedDeviceIdentity::decode(reply).map_err(|_| "not an ADVSignedDeviceIdentity")?;
    if got.details.as_deref() != Some(issued.details.as_slice()) {
        return Err("details differ from the issued ones");
    }
    if got.account_signature.as_deref() != Some(issued.account_signature.as_slice()) {
        return Err("account signature differs from the issued one");
    }
    let sig = got
        .device_signature
        .as_deref()
        .ok_or("no device signature")?;
    let msg = device_signature_message(&issued.details, companion_identity, account_public);
    if !curve::verify(companion_identity, &msg, sig) {
        return Err("device signature does not verify");
    }
    Ok(AdvSignedDeviceIdentity {
        account_signature_key: Some(account_public.to_vec()),
        ..got
    }
    .encode_to_vec())
}

/// The account's signed key index list (`<key-index-list>` in usync device lists): which
/// companion key indexes are valid, signed by the phone.
pub fn key_index_list(
    account: &KeyPair,
    raw_id: u32,
    timestamp: u64,
    current: u32,
    valid: &[u32],
) -> Vec<u8> {
    let details = AdvKeyIndexList {
        raw_id: Some(raw_id),
        timestamp: Some(timestamp),
        current_index: Some(current),
        valid_indexes: valid.to_vec(),
        account_type: Some(AdvEncryptionType::E2ee as i32),
    }
    .encode_to_vec();
    let msg = key_index_list_message(&details);
    AdvSignedKeyIndexList {
        account_signature: Some(curve::sign(&account.private, &msg).to_vec()),
        details: Some(details),
        account_signature_key: None,
    }
    .encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn companion_sign(issued: &IssuedIdentity, companion: &KeyPair, account: &[u8; 32]) -> Vec<u8> {
        let msg = device_signature_message(&issued.details, &companion.public, account);
        AdvSignedDeviceIdentity {
            details: Some(issued.details.clone()),
            account_signature_key: None,
            account_signature: Some(issued.account_signature.clone()),
            device_signature: Some(curve::sign(&companion.private, &msg).to_vec()),
        }
        .encode_to_vec()
    }

    #[test]
    fn issued_identity_checks_out_as_a_companion_checks_it() {
        let account = KeyPair::from_private([1; 32]);
        let companion = KeyPair::from_private([2; 32]);
        let secret = [9u8; 32];
        let issued = issue(&account, 77, 1_700_000_000, 3, &companion.public, &secret);
        let container = AdvSignedDeviceIdentityHmac::decode(issued.container.as_slice()).unwrap();
        let signed = container.details.unwrap();
        assert_eq!(
            container.hmac.unwrap(),
            hmac_sha256(&secret, &signed).to_vec()
        );
        let id = AdvSignedDeviceIdentity::decode(signed.as_slice()).unwrap();
        let msg =
            account_signature_message(id.details.as_deref().unwrap(), &companion.public, false);
        assert!(curve::verify(
            &account.public,
            &msg,
            id.account_signature.as_deref().unwrap()
        ));
        let details = AdvDeviceIdentity::decode(id.details.as_deref().unwrap()).unwrap();
        assert_eq!(details.key_index, Some(3));
        assert_eq!(details.raw_id, Some(77));
    }

    #[test]
    fn device_sign_is_verified() {
        let account = KeyPair::from_private([1; 32]);
        let companion = KeyPair::from_private([2; 32]);
        let issued = issue(&account, 1, 2, 1, &companion.public, &[0; 32]);
        let good = companion_sign(&issued, &companion, &account.public);
        let full = verify_device_sign(&issued, &account.public, &companion.public, &good).unwrap();
        let full = AdvSignedDeviceIdentity::decode(full.as_slice()).unwrap();
        assert_eq!(full.account_signature_key.unwrap(), account.public.to_vec());
        // a signature by another key, tampered details, garbage: all refused
        let other = KeyPair::from_private([3; 32]);
        let bad = companion_sign(&issued, &other, &account.public);
        assert!(verify_device_sign(&issued, &account.public, &companion.public, &bad).is_err());
        let mut tampered = AdvSignedDeviceIdentity::decode(good.as_slice()).unwrap();
        tampered.details = Some(vec![1, 2, 3]);
        assert!(
            verify_device_sign(
                &issued,
                &account.public,
                &companion.public,
                &tampered.encode_to_vec()
            )
            .is_err()
        );
        assert!(
            verify_device_sign(&issued, &account.public, &companion.public, &[0xff; 7]).is_err()
        );
    }

    #[test]
    fn key_index_list_is_signed_by_the_account() {
        let account = KeyPair::from_private([5; 32]);
        let bytes = key_index_list(&account, 4, 100, 2, &[1, 2]);
        let list = AdvSignedKeyIndexList::decode(bytes.as_slice()).unwrap();
        let msg = key_index_list_message(list.details.as_deref().unwrap());
        assert!(curve::verify(
            &account.public,
            &msg,
            list.account_signature.as_deref().unwrap()
        ));
        let d = AdvKeyIndexList::decode(list.details.as_deref().unwrap()).unwrap();
        assert_eq!(d.valid_indexes, vec![1, 2]);
    }
}
