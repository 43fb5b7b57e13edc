//! What the client tells the application, typed: connection changes, credential changes,
//! messages and their status. Payloads are Rust types (prost messages for WhatsApp's own
//! structures); the JavaScript binding turns them into Baileys' shapes in one place, and a
//! Rust program uses them as they are.

use wa_proto::WebMessageInfo;
use wa_proto::web_message_info::Status;
use wa_store::creds::{AdvSignedDeviceIdentity, SignalIdentity};
use wa_store::{AuthenticationCreds, Me};

use crate::error::Disconnect;

/// One thing that happened on a connection, in the order it happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Baileys' `connection.update`.
    Connection(ConnectionUpdate),
    /// Baileys' `creds.update`: fields of the credentials that changed (already applied to the
    /// client's own copy; the app persists them).
    Creds(CredsUpdate),
    /// Baileys' `messages.upsert`.
    MessagesUpsert(MessagesUpsert),
    /// Baileys' `messages.update` (delivery, read and played receipts of messages).
    MessagesUpdate(Vec<MessageUpdate>),
    /// Baileys' `message-receipt.update` (receipts per participant in groups and statuses).
    MessageReceipts(Vec<MessageReceipt>),
    /// Baileys' `presence.update` (see `presence`).
    Presence(crate::presence::PresenceUpdate),
    /// Baileys' `messages.media-update`: the phone's answers to media retry requests
    /// (`media::retry`).
    MediaUpdate(Vec<crate::media::MediaRetryUpdate>),
    /// Baileys' `groups.upsert`: groups we were put in (a `create` notification).
    GroupsUpsert(Vec<crate::groups::GroupUpsert>),
    /// Baileys' newsletter events (`newsletter.reaction`, `newsletter.view`,
    /// `newsletter-participants.update`, `newsletter-settings.update`).
    Newsletter(crate::newsletter::NewsletterEvent),
}

impl Event {
    /// The connection ended: the last event a connection gives.
    pub fn is_close(&self) -> bool {
        matches!(self, Event::Connection(u) if u.connection == Some(ConnectionState::Close))
    }

    /// The event closes a burst of short-lived allocations: a pre-key upload (812 keys made,
    /// stored and sent when pairing; the counters move past them), a login (the handshake,
    /// the auth state read from its store, the first queries) or a connection's end. A host
    /// that hands freed memory back to the OS (the Node binding) does it after these.
    pub fn ends_burst(&self) -> bool {
        match self {
            Event::Creds(changes) => changes
                .iter()
                .any(|c| matches!(c, CredsChange::FirstUnuploadedPreKeyId(_))),
            Event::Connection(u) => matches!(
                u.connection,
                Some(ConnectionState::Open | ConnectionState::Close)
            ),
            _ => false,
        }
    }
}

/// Where the connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    Connecting,
    Open,
    Close,
}

/// Baileys' `Partial<ConnectionState>`: only the fields that changed are set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConnectionUpdate {
    pub connection: Option<ConnectionState>,
    /// Why it closed, and when (milliseconds since the Unix epoch).
    pub last_disconnect: Option<(Disconnect, u64)>,
    /// `Some(Some(text))`: a QR to show; `Some(None)`: the QR is gone (paired, or a new
    /// connection attempt); `None`: unchanged.
    pub qr: Option<Option<String>>,
    pub is_new_login: Option<bool>,
    /// The server delivered everything queued while we were away (`<ib><offline/>`).
    pub received_pending_notifications: Option<bool>,
    /// We told the server we are online (or not): `sendPresenceUpdate('available')`.
    pub is_online: Option<bool>,
}

impl ConnectionUpdate {
    pub fn state(connection: ConnectionState) -> Self {
        Self {
            connection: Some(connection),
            ..Self::default()
        }
    }
}

/// Which credential field changed (the `creds.json` key it is stored under).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredsField {
    Me,
    Account,
    SignalIdentities,
    Platform,
    Registered,
    PairingCode,
    NextPreKeyId,
    FirstUnuploadedPreKeyId,
    AdvSecretKey,
    RoutingInfo,
}

impl CredsField {
    /// The field's key in `creds.json` (Baileys' `AuthenticationCreds`).
    pub fn key(self) -> &'static str {
        match self {
            CredsField::Me => "me",
            CredsField::Account => "account",
            CredsField::SignalIdentities => "signalIdentities",
            CredsField::Platform => "platform",
            CredsField::Registered => "registered",
            CredsField::PairingCode => "pairingCode",
            CredsField::NextPreKeyId => "nextPreKeyId",
            CredsField::FirstUnuploadedPreKeyId => "firstUnuploadedPreKeyId",
            CredsField::AdvSecretKey => "advSecretKey",
            CredsField::RoutingInfo => "routingInfo",
        }
    }
}

/// One changed credential field with its new value.
#[derive(Debug, Clone, PartialEq)]
pub enum CredsChange {
    Me(Option<Me>),
    Account(Option<AdvSignedDeviceIdentity>),
    SignalIdentities(Option<Vec<SignalIdentity>>),
    Platform(Option<String>),
    Registered(bool),
    PairingCode(Option<String>),
    NextPreKeyId(u32),
    FirstUnuploadedPreKeyId(u32),
    AdvSecretKey(String),
    RoutingInfo(Option<Vec<u8>>),
}

impl CredsChange {
    /// The current value of `field` in `creds`.
    pub fn of(field: CredsField, creds: &AuthenticationCreds) -> Self {
        match field {
            CredsField::Me => CredsChange::Me(creds.me.clone()),
            CredsField::Account => CredsChange::Account(creds.account.clone()),
            CredsField::SignalIdentities => {
                CredsChange::SignalIdentities(creds.signal_identities.clone())
            }
            CredsField::Platform => CredsChange::Platform(creds.platform.clone()),
            CredsField::Registered => CredsChange::Registered(creds.registered),
            CredsField::PairingCode => CredsChange::PairingCode(creds.pairing_code.clone()),
            CredsField::NextPreKeyId => CredsChange::NextPreKeyId(creds.next_pre_key_id),
            CredsField::FirstUnuploadedPreKeyId => {
                CredsChange::FirstUnuploadedPreKeyId(creds.first_unuploaded_pre_key_id)
            }
            CredsField::AdvSecretKey => CredsChange::AdvSecretKey(creds.adv_secret_key.clone()),
            CredsField::RoutingInfo => CredsChange::RoutingInfo(creds.routing_info.clone()),
        }
    }

    pub fn field(&self) -> CredsField {
        match self {
            CredsChange::Me(_) => CredsField::Me,
            CredsChange::Account(_) => CredsField::Account,
            CredsChange::SignalIdentities(_) => CredsField::SignalIdentities,
            CredsChange::Platform(_) => CredsField::Platform,
            CredsChange::Registered(_) => CredsField::Registered,
            CredsChange::PairingCode(_) => CredsField::PairingCode,
            CredsChange::NextPreKeyId(_) => CredsField::NextPreKeyId,
            CredsChange::FirstUnuploadedPreKeyId(_) => CredsField::FirstUnuploadedPreKeyId,
            CredsChange::AdvSecretKey(_) => CredsField::AdvSecretKey,
            CredsChange::RoutingInfo(_) => CredsField::RoutingInfo,
        }
    }

    /// Applies the change to a copy of the credentials (what `saveCreds` persists).
    pub fn apply(&self, creds: &mut AuthenticationCreds) {
        match self.clone() {
            CredsChange::Me(v) => creds.me = v,
            CredsChange::Account(v) => creds.account = v,
            CredsChange::SignalIdentities(v) => creds.signal_identities = v,
            CredsChange::Platform(v) => creds.platform = v,
            CredsChange::Registered(v) => creds.registered = v,
            CredsChange::PairingCode(v) => creds.pairing_code = v,
            CredsChange::NextPreKeyId(v) => creds.next_pre_key_id = v,
            CredsChange::FirstUnuploadedPreKeyId(v) => creds.first_unuploaded_pre_key_id = v,
            CredsChange::AdvSecretKey(v) => creds.adv_secret_key = v,
            CredsChange::RoutingInfo(v) => creds.routing_info = v,
        }
    }
}

/// The changed fields of one `creds.update`.
pub type CredsUpdate = Vec<CredsChange>;

/// The snapshot of `fields` in `creds`, as one update.
pub fn creds_update(creds: &AuthenticationCreds, fields: &[CredsField]) -> CredsUpdate {
    fields.iter().map(|f| CredsChange::of(*f, creds)).collect()
}

/// How a message's chat is addressed (Baileys' `key.addressingMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressingMode {
    Pn,
    Lid,
}

impl AddressingMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AddressingMode::Pn => "pn",
            AddressingMode::Lid => "lid",
        }
    }
}

/// Baileys' `WAMessageKey`: `proto.IMessageKey` plus the alternate addressing it learns from
/// the envelope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageKey {
    pub remote_jid: String,
    pub from_me: bool,
    pub id: String,
    pub participant: Option<String>,
    /// The chat's other address (a LID chat's phone number, or the other way round).
    pub remote_jid_alt: Option<String>,
    /// The group author's other address.
    pub participant_alt: Option<String>,
    pub addressing_mode: Option<AddressingMode>,
    /// A newsletter post's number in its channel (Baileys' `key.server_id`).
    pub server_id: Option<String>,
}

/// Baileys' `WAMessage`: the key, everything `proto.WebMessageInfo` carries (its own `key`
/// field is left empty; [`WaMessage::key`] is the authoritative one), and the `category`
/// Baileys copies from the envelope.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WaMessage {
    pub key: MessageKey,
    pub info: WebMessageInfo,
    /// `peer` for protocol messages between our own devices.
    pub category: Option<String>,
}

/// Whether the messages of an upsert are new (`notify`) or caught up with (`append`: the
/// offline queue, our own sends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsertType {
    Notify,
    Append,
}

impl UpsertType {
    pub fn as_str(self) -> &'static str {
        match self {
            UpsertType::Notify => "notify",
            UpsertType::Append => "append",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct MessagesUpsert {
    pub messages: Vec<WaMessage>,
    pub kind: UpsertType,
}

/// Baileys' `WAMessageUpdate`: which message, and the fields that changed.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageUpdate {
    pub key: MessageKey,
    /// Only the changed fields are set (for receipts: `status`, `messageTimestamp`).
    pub update: WebMessageInfo,
}

/// Baileys' `MessageUserReceiptUpdate`: a message and one participant's receipt of it.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageReceipt {
    pub key: MessageKey,
    pub receipt: wa_proto::UserReceipt,
}

impl MessageUpdate {
    pub fn status(key: MessageKey, status: Status, timestamp: u64) -> Self {
        Self {
            key,
            update: WebMessageInfo {
                status: Some(status as i32),
                message_timestamp: Some(timestamp),
                ..WebMessageInfo::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_end_with_a_pre_key_upload_a_login_or_a_close() {
        let conn = |c| {
            Event::Connection(ConnectionUpdate {
                connection: Some(c),
                ..Default::default()
            })
        };
        assert!(conn(ConnectionState::Close).ends_burst());
        assert!(conn(ConnectionState::Open).ends_burst());
        assert!(!conn(ConnectionState::Connecting).ends_burst());
        assert!(Event::Creds(vec![CredsChange::FirstUnuploadedPreKeyId(813)]).ends_burst());
        assert!(!Event::Creds(vec![CredsChange::NextPreKeyId(813)]).ends_burst());
        assert!(!Event::Creds(vec![CredsChange::Registered(true)]).ends_burst());
        assert!(!Event::MessagesUpdate(Vec::new()).ends_burst());
    }
}
