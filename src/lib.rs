//! The napi-rs binding: JavaScript <-> Rust conversion only. Protocol logic lives in the
//! crates under `crates/`; each module here adapts one layer.
#![deny(clippy::all)]

mod binary;
mod bytes;
mod client;
mod compat;
mod crypto;
mod errors;
#[cfg_attr(not(unix), path = "event_loop_none.rs")]
mod event_loop;
mod groups;
mod logging;
mod media;
mod newsletter;
mod noise;
mod presence;
mod proto;
mod runtime;
mod signal;
mod store;
mod trim;
