//! baileys-native's WhatsApp Web client.
//!
//! - [`core::Core`]: the connection state machine, sans-IO: Noise handshake with a
//!   configurable trust root, node framing, IQ ids and deadlines, keepalive, QR pairing and
//!   `pair-success` (the phone's account signature is really verified), login, stream errors
//!   and `<failure>` mapped to Baileys' `DisconnectReason` codes.
//! - [`client::Client`]: the tokio driver around it (websocket with
//!   `Origin: https://web.whatsapp.com`) and the work that needs the key store: prekey upload,
//!   passive/active, the receive pipeline (decrypt under per-sender locks, then the event, then
//!   the receipt), sending texts with device fan-out, pairing by code, logout.
//! - [`signal_store`]: the Signal store traits over `wa-store`'s key store.
//! - Events carry Baileys' names and payload shapes ([`event::Event`]).

#![forbid(unsafe_code)]

pub mod client;
pub mod config;
pub mod core;
pub mod error;
pub mod event;
pub mod nodes;
pub mod pair;
pub mod payload;
pub mod proto_json;
pub mod signal_store;

pub use client::{Client, Events};
pub use config::{Browser, Config};
pub use error::{ClientError, Disconnect};
pub use event::Event;
