//! Baileys' `AuthenticationCreds`, every field, in the exact JSON of `creds.json`.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::bufferjson::serde_buffer;
use crate::error::{Result, StoreError};

/// A Curve25519 key pair; `public` is 32 bytes without libsignal's 0x05 prefix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyPair {
    #[serde(with = "serde_buffer")]
    pub private: Vec<u8>,
    #[serde(with = "serde_buffer")]
    pub public: Vec<u8>,
}

/// A signed pre-key: the key pair, the identity key's signature over `05 || public`, its id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedKeyPair {
    pub key_pair: KeyPair,
    #[serde(with = "serde_buffer")]
    pub signature: Vec<u8>,
    pub key_id: u32,
    #[serde(
        default,
        rename = "timestampS",
        skip_serializing_if = "Option::is_none"
    )]
    pub timestamp_s: Option<u64>,
}

/// `proto.IADVSignedDeviceIdentity` as Baileys keeps it in `creds.account`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdvSignedDeviceIdentity {
    #[serde(
        default,
        with = "serde_buffer::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub details: Option<Vec<u8>>,
    #[serde(
        default,
        with = "serde_buffer::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub account_signature_key: Option<Vec<u8>>,
    #[serde(
        default,
        with = "serde_buffer::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub account_signature: Option<Vec<u8>>,
    #[serde(
        default,
        with = "serde_buffer::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub device_signature: Option<Vec<u8>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// libsignal's `ProtocolAddress`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProtocolAddress {
    pub name: String,
    pub device_id: u32,
}

/// A trusted Signal identity (`creds.signalIdentities[]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignalIdentity {
    pub identifier: ProtocolAddress,
    #[serde(with = "serde_buffer")]
    pub identifier_key: Vec<u8>,
}

/// Baileys' `Contact` of this account (`creds.me`): the device JID, its LID once known, and the
/// push name. Fields Baileys or a fork adds are kept in `extra` and written back unchanged.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Me {
    /// The device's phone-number JID (`15551234567:12@s.whatsapp.net`).
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_name: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Me {
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            ..Self::default()
        }
    }
}

/// `creds.accountSettings`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountSettings {
    pub unarchive_chats: bool,
    /// `Pick<proto.IConversation, 'ephemeralExpiration' | 'ephemeralSettingTimestamp'>`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_disappearing_mode: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Baileys' `AuthenticationCreds` (lib/Types/Auth.d.ts). Fields Baileys adds later, or a
/// fork adds, are kept in `extra` and written back unchanged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationCreds {
    pub noise_key: KeyPair,
    pub pairing_ephemeral_key_pair: KeyPair,
    pub signed_identity_key: KeyPair,
    pub signed_pre_key: SignedKeyPair,
    pub registration_id: u32,
    pub adv_secret_key: String,
    /// Baileys' `Contact` of this account (`id`, `lid`, `name`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub me: Option<Me>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<AdvSignedDeviceIdentity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal_identities: Option<Vec<SignalIdentity>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub my_app_state_key_id: Option<String>,
    pub first_unuploaded_pre_key_id: u32,
    pub next_pre_key_id: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_account_sync_timestamp: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// `MinimalMessage[]`: `{ key, messageTimestamp }` of processed history syncs.
    #[serde(default)]
    pub processed_history_messages: Vec<Value>,
    pub account_sync_counter: u32,
    pub account_settings: AccountSettings,
    pub registered: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pairing_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_prop_hash: Option<String>,
    #[serde(
        default,
        with = "serde_buffer::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub routing_info: Option<Vec<u8>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_data: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl AuthenticationCreds {
    /// Fresh credentials, as Baileys' `initAuthCreds()` makes them: new noise, pairing and
    /// identity keys, a signed pre-key with id 1, a registration id and an ADV secret.
    pub fn generate() -> Self {
        let pair = |k: wa_crypto::KeyPair| KeyPair {
            private: k.private.to_vec(),
            public: k.public.to_vec(),
        };
        let identity = wa_crypto::KeyPair::generate();
        let pre_key = wa_crypto::KeyPair::generate();
        let signature = wa_crypto::curve::sign(&identity.private, &pre_key.public_prefixed());
        // libsignal's 14-bit registration id, never 0.
        let registration_id = loop {
            let r: [u8; 2] = wa_crypto::random_bytes();
            let id = u16::from_le_bytes(r) & 0x3FFF;
            if id != 0 {
                break u32::from(id);
            }
        };
        let adv: [u8; 32] = wa_crypto::random_bytes();
        Self {
            noise_key: pair(wa_crypto::KeyPair::generate()),
            pairing_ephemeral_key_pair: pair(wa_crypto::KeyPair::generate()),
            signed_identity_key: pair(identity),
            signed_pre_key: SignedKeyPair {
                key_pair: pair(pre_key),
                signature: signature.to_vec(),
                key_id: 1,
                timestamp_s: None,
            },
            registration_id,
            adv_secret_key: base64::engine::general_purpose::STANDARD.encode(adv),
            me: None,
            account: None,
            signal_identities: None,
            my_app_state_key_id: None,
            first_unuploaded_pre_key_id: 1,
            next_pre_key_id: 1,
            last_account_sync_timestamp: None,
            platform: None,
            processed_history_messages: Vec::new(),
            account_sync_counter: 0,
            account_settings: AccountSettings::default(),
            registered: false,
            pairing_code: None,
            last_prop_hash: None,
            routing_info: None,
            additional_data: None,
            extra: Map::new(),
        }
    }

    /// Parses `creds.json` text (BufferJSON).
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|e| StoreError::corrupt("credentials", e))
    }

    /// The `creds.json` text.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}
