//! Accounts: a phone number, a LID, the phone's identity (which is the ADV account key), the
//! simulated phone (device 0) and the linked companions with what they published.

use std::collections::BTreeMap;

use wa_crypto::KeyPair;
use wa_vocab::{S_WHATSAPP_NET, device_jid};

use crate::adv;
use crate::error::{Result, TestServerError};
use crate::phone::{Bundle, Phone};
use crate::seed::Seed;

/// A signed prekey as published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedKey {
    pub id: u32,
    pub public: [u8; 32],
    pub signature: Vec<u8>,
}

/// A linked companion device (device 1, 2, ...).
#[derive(Debug, Clone)]
pub struct Companion {
    pub device: u16,
    pub key_index: u32,
    /// The companion's Noise static key: its login credential.
    pub noise_key: [u8; 32],
    pub identity: [u8; 32],
    pub registration_id: u32,
    pub signed_pre_key: SignedKey,
    /// Uploaded one-time prekeys not yet handed out.
    pub pre_keys: BTreeMap<u32, [u8; 32]>,
    /// The companion's full ADVSignedDeviceIdentity (with both signatures and the account key).
    pub adv: Vec<u8>,
    pub platform: String,
    pub paired_at: u64,
    /// Prekeys uploaded over the device's life (for stats).
    pub uploaded_total: u64,
}

impl Companion {
    /// The bundle a key fetch hands out; consumes one one-time prekey if any is left.
    pub fn take_bundle(&mut self) -> Bundle {
        let first = self.pre_keys.keys().next().copied();
        let pre_key = first.and_then(|id| self.pre_keys.remove(&id).map(|k| (id, k)));
        Bundle {
            registration_id: self.registration_id,
            identity: self.identity,
            signed_pre_key_id: self.signed_pre_key.id,
            signed_pre_key: self.signed_pre_key.public,
            signed_pre_key_signature: self.signed_pre_key.signature.clone(),
            pre_key,
        }
    }
}

/// One WhatsApp account.
pub struct Account {
    /// The phone number, digits only.
    pub number: String,
    /// The LID user, digits only.
    pub lid: String,
    pub push_name: String,
    /// The phone's identity key, which is also the ADV account signature key.
    pub identity: KeyPair,
    /// ADV raw id of the account.
    pub raw_id: u32,
    next_device: u16,
    next_key_index: u32,
    pub companions: BTreeMap<u16, Companion>,
    pub phone: Phone,
    /// When the device list last changed (Unix seconds).
    pub devices_changed: u64,
}

impl Account {
    pub fn new(seed: &Seed, number: &str, lid: String, push_name: &str, pre_keys: u32) -> Self {
        let label = format!("account {number}");
        let identity = seed.key_pair(&format!("{label} identity"));
        let raw_id = 1 + seed.number(&format!("{label} raw id"), u64::from(u32::MAX) - 1) as u32;
        let phone = Phone::new(seed, &label, &identity, pre_keys);
        Self {
            number: number.to_owned(),
            lid,
            push_name: push_name.to_owned(),
            identity,
            raw_id,
            next_device: 1,
            next_key_index: 1,
            companions: BTreeMap::new(),
            phone,
            devices_changed: 0,
        }
    }

    /// The user JID by phone number.
    pub fn pn_jid(&self) -> String {
        device_jid(&self.number, 0, S_WHATSAPP_NET)
    }

    /// The user JID by LID.
    pub fn lid_jid(&self) -> String {
        device_jid(&self.lid, 0, wa_binary::Server::Lid.as_str())
    }

    /// A device number and key index for a new companion. Numbers are never reused, as
    /// WhatsApp does not reuse them.
    pub fn allocate_device(&mut self) -> (u16, u32) {
        let d = self.next_device;
        let k = self.next_key_index;
        self.next_device = self.next_device.saturating_add(1);
        self.next_key_index += 1;
        (d, k)
    }

    /// Device 0 (the phone) and every companion.
    pub fn device_ids(&self) -> Vec<u16> {
        std::iter::once(0)
            .chain(self.companions.keys().copied())
            .collect()
    }

    pub fn has_device(&self, device: u16) -> bool {
        device == 0 || self.companions.contains_key(&device)
    }

    /// The signed key index list of the current companions.
    pub fn key_index_list(&self) -> Vec<u8> {
        let valid: Vec<u32> = self.companions.values().map(|c| c.key_index).collect();
        let current = valid.iter().copied().max().unwrap_or(0);
        adv::key_index_list(
            &self.identity,
            self.raw_id,
            self.devices_changed,
            current,
            &valid,
        )
    }
}

/// A phone number from `+1 555 123`, `1555123` or `1555123@s.whatsapp.net`.
pub fn normalize_number(input: &str) -> Result<String> {
    let user = input.split('@').next().unwrap_or_default();
    let user = user.split(':').next().unwrap_or_default();
    let digits: String = user
        .chars()
        .filter(|c| !matches!(c, '+' | ' ' | '-' | '(' | ')'))
        .collect();
    if (5..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        if digits.starts_with('0') {
            return Err(TestServerError::BadPhoneNumber(input.to_owned()));
        }
        Ok(digits)
    } else {
        Err(TestServerError::BadPhoneNumber(input.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers() {
        assert_eq!(normalize_number("+1 555 0100").unwrap(), "15550100");
        assert_eq!(
            normalize_number("15550100@s.whatsapp.net").unwrap(),
            "15550100"
        );
        assert_eq!(
            normalize_number("15550100:3@s.whatsapp.net").unwrap(),
            "15550100"
        );
        assert!(normalize_number("abc").is_err());
        assert!(normalize_number("0123456").is_err());
        assert!(normalize_number("123").is_err());
    }
}
