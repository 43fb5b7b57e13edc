//! A local WhatsApp-protocol server for tests and bot CI: the server side of pairing, login,
//! prekeys, usync, message routing with offline queues, receipts and retries, with a simulated
//! primary phone (real Signal keys) behind every account, and fault controls.
//!
//! - [`Server`]: the sans-IO core. Websocket messages and the time in; websocket messages,
//!   close requests, events and a deadline out. Tests drive it with a virtual clock.
//! - [`TestServer`]: the core on tokio, listening on `127.0.0.1` at `/ws/chat`.
//!
//! Nothing here reaches WhatsApp. Clients trust the server through its own root key
//! ([`Server::root_public_key`]) in place of WhatsApp's.

#![forbid(unsafe_code)]

pub mod account;
pub mod adv;
mod config;
mod control;
mod driver;
mod error;
pub mod inbox;
mod iq;
pub mod linkcode;
mod login;
pub mod nodes;
pub mod pairing;
pub mod phone;
mod phone_ops;
mod routing;
mod seed;
mod server;
mod trust;
pub mod usync;

pub use config::ServerConfig;
pub use control::{FaultTarget, StreamErrorKind};
pub use driver::{PhoneHandle, TestServer};
pub use error::{Result, TestServerError};
pub use inbox::InboxMessage;
pub use login::ROUTING_INFO;
pub use phone::PhoneReceipt;
pub use routing::{NACK_BAD_REQUEST, NACK_UNKNOWN_RECIPIENT, NACK_UNSUPPORTED};
pub use seed::Seed;
pub use server::{
    ConnId, DeviceAddr, LoginRefusal, Output, RequestId, Server, ServerEvent, Stats,
    normalize_number,
};
pub use trust::TrustRoot;
