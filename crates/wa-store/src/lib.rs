//! Storage for baileys-native.
//!
//! An [`Engine`] maps paths to bytes (`get`, atomic `set_many`, `list` in key order);
//! [`ValueEngine`] gives the seed's value contract on top (JSON values, Buffers).
//! Engines here: [`MemoryEngine`], [`FileEngine`], [`SqliteEngine`]; the binding adds one
//! that calls a JavaScript object. On top: the typed [`Store`] (credentials, contacts,
//! chats, messages), the Signal [`KeyStore`] with Baileys' `SignalKeyStore` shape and its
//! [`KeyTransaction`]s, Baileys' auth folders ([`BaileysFolder`]) and migrations between a
//! folder and any engine. The path convention and the design are in docs/storage.md.

#![forbid(unsafe_code)]

pub mod baileys;
pub mod bufferjson;
mod commit;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod creds;
pub mod engine;
mod error;
mod file;
mod fsio;
pub mod keys;
mod memory;
pub mod migrate;
pub mod path;
mod spares;
mod sqlite;
mod store;
#[cfg(test)]
mod testkit;
pub mod value;
mod wal;

pub use baileys::{BaileysFolder, FolderEntry};
pub use commit::{Durability, FileOptions};
pub use creds::{AuthenticationCreds, Me};
pub use engine::{BoxFuture, Digest, Engine, Write};
pub use error::{Result, StoreError};
pub use file::{DEFAULT_BASE, FileEngine};
pub use keys::{
    CachedKeyStore, EngineKeyStore, JsonText, KeyChanges, KeyMap, KeyRequest, KeyStore,
    KeyTransaction, KeyType, KeyWrites, TypedValue,
};
pub use memory::MemoryEngine;
pub use migrate::{CopyOptions, CopyReport, FolderEngine, MigrationReport};
pub use sqlite::{SCHEMA_VERSION, SqliteEngine};
pub use store::{
    BatchedStore, CREDS_PATH, MAX_TIMESTAMP_MS, MessageRecord, Store, StoreBatch, chat_path,
    contact_path, content_path, message_path, timeline_path, timestamp_ms,
};
pub use value::{Value, ValueEngine};
