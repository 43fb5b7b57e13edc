//! The Signal protocol as WhatsApp uses it, speaking libsignal-node's language.
//!
//! - [`session`]: X3DH from a prekey bundle or an incoming prekey message, the double ratchet
//!   (version 3, 8-byte MACs), and the session record in libsignal-node's model with its exact
//!   JSON (`SessionRecord.serialize()`) and a compact binary form.
//! - [`group`]: sender keys with Baileys' record and JSON.
//! - [`protocol`]: the operations of Baileys' `SignalRepository` over async [`store`] traits,
//!   each committing one atomic batch, and [`protocol::SignalProtocol`] serialising them per
//!   address.
//! - [`address`]: Signal addresses and sender key names formed from JIDs as Baileys forms them.
//!
//! Sans-IO: no sockets, files or clocks; time comes in as `now` (ms since the epoch).
//! Randomness comes from the OS through `wa-crypto`.

#![forbid(unsafe_code)]

pub mod address;
mod b64;
mod error;
pub mod group;
mod kdf;
pub mod keys;
pub mod protocol;
mod serde_util;
pub mod session;
pub mod store;
pub mod wire;

pub use address::{ProtocolAddress, SenderKeyName};
pub use error::{ErrorKind, SignalError, StoreError};
pub use group::SenderKeyRecord;
pub use keys::{KeyPair, LocalIdentity, PreKey, PreKeyBundle, SignedPreKey};
pub use protocol::{Decrypted, GroupEncrypted, SignalProtocol, SignalStore};
pub use session::{Encrypted, MessageKind, SessionRecord};
pub use store::{Batch, MemoryStore};
