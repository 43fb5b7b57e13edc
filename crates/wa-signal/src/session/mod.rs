//! One-to-one sessions: the record (libsignal-node's model), its JSON and binary forms, and the
//! X3DH + double ratchet operations on it.

mod binary;
mod cipher;
mod json;
mod record;

pub use binary::SESSION_MAGIC;
pub use cipher::{
    Encrypted, MessageKind, PreKeyMaterial, decrypt_pre_key, decrypt_whisper, encrypt,
    init_outgoing, needs_new_session,
};
pub use json::RecordFormatError;
pub use record::{
    BASE_KEY_OURS, BASE_KEY_THEIRS, CHAIN_RECEIVING, CHAIN_SENDING, Chain, IndexInfo, KeyBytes,
    MAX_CLOSED_SESSIONS, MAX_JUMP, MAX_MESSAGE_KEYS, MAX_RECEIVING_CHAINS, OPEN, PendingPreKey,
    RECORD_VERSION, Ratchet, SessionEntry, SessionRecord,
};
