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

// Bottom-up (docs/testserver.md, "Module layout"): pieces that know no server state, then the
// state, the handlers over it, the dispatcher and the control API, the tokio driver.
pub mod account;
pub mod adv;
mod config;
mod error;
pub mod group;
pub mod inbox;
pub mod linkcode;
pub mod media;
pub mod newsletter;
pub mod nodes;
pub mod phone;
mod seed;
mod trust;

mod state;

mod delivery;
mod devices;
mod groups;
mod iq;
mod login;
mod newsletters;
pub mod pairing;
mod phone_groups;
mod phone_ops;
mod presence;
mod routing;
mod seeding;
pub mod usync;

mod control;
mod server;

mod media_http;

mod driver;

pub use account::normalize_number;
pub use config::{GroupAddressing, ServerConfig};
pub use control::{FaultTarget, StreamErrorKind};
pub use driver::{PhoneHandle, TestServer};
pub use error::{Result, TestServerError};
pub use groups::{NACK_NOT_IN_GROUP, NACK_UNKNOWN_GROUP};
pub use inbox::InboxMessage;
pub use login::ROUTING_INFO;
pub use newsletter::{Newsletter, NewsletterPost, NewsletterRole};
pub use newsletters::{NACK_NOT_NEWSLETTER_ADMIN, NACK_UNKNOWN_NEWSLETTER};
pub use phone::{MediaRetryAnswer, PhoneReceipt};
pub use routing::{NACK_BAD_REQUEST, NACK_UNKNOWN_RECIPIENT, NACK_UNSUPPORTED};
pub use seed::Seed;
pub use server::Server;
pub use state::{ConnId, DeviceAddr, LoginRefusal, Output, RequestId, ServerEvent, Stats};
pub use trust::TrustRoot;
