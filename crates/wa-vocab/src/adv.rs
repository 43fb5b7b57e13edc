//! ADV (account device verification): the byte strings the phone and the companion sign
//! during pairing, and that a server checks. Each signature covers a two-byte domain prefix
//! so that one kind of signature can never be replayed as another.

/// The phone's account signature over a companion: `06 00 || details || companion identity`.
pub const ACCOUNT_SIG_PREFIX: [u8; 2] = [6, 0];
/// The companion's device signature: `06 01 || details || companion identity || account key`.
pub const DEVICE_SIG_PREFIX: [u8; 2] = [6, 1];
/// The phone's signature over its list of valid key indexes: `06 02 || details`.
pub const KEY_INDEX_LIST_SIG_PREFIX: [u8; 2] = [6, 2];
/// Hosted (business-hosted) accounts sign with `06 05` where others use `06 00`, and HMAC
/// the details with the same prefix in front.
pub const HOSTED_ACCOUNT_SIG_PREFIX: [u8; 2] = [6, 5];

fn concat(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        out.extend_from_slice(p);
    }
    out
}

/// What the phone's account key signs for a companion.
pub fn account_signature_message(
    details: &[u8],
    companion_identity: &[u8],
    hosted: bool,
) -> Vec<u8> {
    let prefix = if hosted {
        HOSTED_ACCOUNT_SIG_PREFIX
    } else {
        ACCOUNT_SIG_PREFIX
    };
    concat(&[&prefix, details, companion_identity])
}

/// What the companion's identity key signs in its `pair-device-sign` reply.
pub fn device_signature_message(
    details: &[u8],
    companion_identity: &[u8],
    account_key: &[u8],
) -> Vec<u8> {
    concat(&[&DEVICE_SIG_PREFIX, details, companion_identity, account_key])
}

/// What the phone signs over its key index list.
pub fn key_index_list_message(details: &[u8]) -> Vec<u8> {
    concat(&[&KEY_INDEX_LIST_SIG_PREFIX, details])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_prefix_then_parts() {
        assert_eq!(
            account_signature_message(&[9], &[8, 8], false),
            [6, 0, 9, 8, 8]
        );
        assert_eq!(account_signature_message(&[9], &[8], true), [6, 5, 9, 8]);
        assert_eq!(device_signature_message(&[1], &[2], &[3]), [6, 1, 1, 2, 3]);
        assert_eq!(key_index_list_message(&[4, 4]), [6, 2, 4, 4]);
    }
}
