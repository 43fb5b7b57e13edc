//! baileys-native's WhatsApp Web client, as a Rust library: typed events, no JSON.
//!
//! The crate is laid out by feature around a shared context; each feature owns both
//! directions of its subsystem:
//!
//! - [`core`]: the connection state machine, sans-IO (Noise, framing, IQ ids and deadlines,
//!   keepalive, QR refs, `pair-success`, login, stream errors).
//! - [`ctx`]: the shared context: the [`Client`] handle, commands to the driver, events out,
//!   IQs, our identity, the stores.
//! - `transport`: the websocket driver, the only code touching the socket.
//! - [`pairing`]: QR and code pairing, logout.
//! - `login`: what runs after `<success>`.
//! - [`prekeys`], [`devices`], [`sessions`], [`lid`]: our prekeys; users' device lists;
//!   Signal sessions with devices; LID/PN mappings and where sessions live.
//! - [`send`]: sending (pure fan-out planning in [`send::plan`]).
//! - [`recv`]: the receive worker and its message, receipt and notification handlers.
//! - [`groups`]: the group IQs, metadata cache, sender-key sends and `w:gp2` notifications.
//! - [`presence`]: presence, chat states and the receipts we send, both directions.
//! - [`retry`]: retry receipts, asked and answered.
//! - [`signal_store`]: `wa-signal`'s store traits over `wa-store`'s key store.
//! - `inbox`: the account's durable inbox (decrypted messages kept with the Signal state
//!   until the app confirmed them); [`delivery`]: events out, and the answers to the server
//!   that wait for the app.
//! - [`event`], [`error`], [`config`]: what the app sees and sets.
//!
//! Later features take their obvious place beside these: `media/`, `groups/`, `appstate/`,
//! `history/`, `profile`, `newsletter/`, `calls` (see docs/architecture.md).

#![forbid(unsafe_code)]

pub mod config;
pub mod core;
pub mod ctx;
pub mod delivery;
pub mod devices;
pub mod error;
pub mod event;
pub mod groups;
mod inbox;
pub mod lid;
mod login;
pub mod media;
pub mod newsletter;
pub mod nodes;
pub mod pairing;
pub mod payload;
pub mod prekeys;
pub mod presence;
pub mod recv;
pub mod repository;
pub mod retry;
pub mod runner;
pub mod send;
pub mod sessions;
pub mod signal_store;
mod testhook;
mod transport;

pub use config::{Browser, Config};
pub use ctx::{Client, Own};
pub use delivery::{Delivery, Events, TryRecvError};
pub use error::{ClientError, Disconnect};
pub use event::{
    AddressingMode, ConnectionState, ConnectionUpdate, CredsChange, CredsField, CredsUpdate, Event,
    MessageKey, MessageReceipt, MessageUpdate, MessagesUpsert, UpsertType, WaMessage,
};
pub use presence::{OutgoingPresence, Presence, PresenceState, PresenceUpdate};
pub use send::SendOptions;
