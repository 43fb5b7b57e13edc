//! The napi-rs binding: JavaScript <-> Rust conversion only. Protocol logic lives in the
//! crates under `crates/`; each module here adapts one layer.
#![deny(clippy::all)]

mod binary;
mod bytes;
mod client;
mod compat;
mod crypto;
mod errors;
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
