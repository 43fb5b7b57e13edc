//! The napi-rs binding: JavaScript <-> Rust conversion only. Protocol logic lives in the
//! crates under `crates/`; each module here adapts one layer.
#![deny(clippy::all)]

mod binary;
mod bytes;
mod client;
mod crypto;
mod errors;
mod noise;
mod proto;
mod signal;
mod signal_store;
mod store;
