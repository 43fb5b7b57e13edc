//! WhatsApp's Noise transport, sans-IO.
//!
//! Every byte between a WhatsApp Web client and the server travels inside a
//! `Noise_XX_25519_AESGCM_SHA256` session. This crate implements both ends of it:
//!
//! - [`NoiseSession::client`]: the client handshake, including verification of the server's
//!   certificate chain against a pinned root ([`cert::WA_CERT_ROOT`] by default);
//! - [`NoiseSession::responder`]: the server side, which a local test server uses; with
//!   [`cert::mint_chain`] to make a root/intermediate/leaf chain for it;
//! - the frame layer ([`frame`]): intro, 3-byte length prefixes, reassembly;
//! - transport ciphers ([`transport`]) with per-direction counters, replay detection.
//!
//! Nothing here touches a socket or a clock: bytes and the time go in, bytes and events come
//! out. Errors caused by the peer are fatal and sticky.

#![forbid(unsafe_code)]

pub mod cert;
mod error;
pub mod frame;
pub mod handshake;
mod session;
mod symmetric;
pub mod transport;

pub use cert::{
    MintOptions, MintedChain, VerifiedChain, WA_CERT_ROOT, mint_chain, mint_chain_with,
    verify_chain,
};
pub use error::{CertError, NoiseError};
pub use frame::{MAX_FRAME_LEN, WA_HEADER};
pub use handshake::{ClientIdentity, ServerIdentity};
pub use session::{ClientConfig, Event, NoiseSession, ResponderConfig, Role, TAG_LEN};
pub use symmetric::PROTOCOL_NAME;
