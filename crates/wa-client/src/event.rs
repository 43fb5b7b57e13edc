//! What the client tells the application: Baileys' event names with Baileys' payloads, as
//! JSON values in which bytes are Baileys' BufferJSON (`{"type":"Buffer","data":b64}`), so the
//! JavaScript side revives them into Buffers with the same reviver Baileys' stores use.

use serde_json::{Value, json};

/// One `sock.ev` event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// `connection.update`, `creds.update`, `messages.upsert`, ...
    pub name: &'static str,
    pub data: Value,
}

impl Event {
    pub fn new(name: &'static str, data: Value) -> Self {
        Self { name, data }
    }

    pub fn connection(data: Value) -> Self {
        Self::new("connection.update", data)
    }

    pub fn creds(patch: Value) -> Self {
        Self::new("creds.update", patch)
    }

    /// A log record for the application's logger (pino-style `logger[level](obj, msg)`).
    /// Never carries keys or plaintext; JIDs only at debug and below.
    pub fn log(level: &'static str, msg: impl Into<String>, fields: Value) -> Self {
        Self::new(
            "log",
            json!({ "level": level, "msg": msg.into(), "fields": fields }),
        )
    }
}
