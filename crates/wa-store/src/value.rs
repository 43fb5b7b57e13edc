//! The seed's value contract on top of the byte-level [`Engine`]: `get(path)` gives back
//! the value that was set, JSON values as themselves and bytes as bytes (also inside JSON,
//! in Baileys' `BufferJSON` form).
//!
//! How a value is stored, on every engine (so moving an account between engines is a copy
//! of bytes):
//!
//! - at a *content path* (last segment `content`, the seed's
//!   `chat/{cid}/message/{mid}/content`): raw bytes, nothing else — binary content never
//!   takes a base64 detour. JSON at a content path is refused (`ERR_WA_STORE_BAD_VALUE`).
//! - anywhere else: compact JSON text, bytes inside it as `{"type":"Buffer","data":"<b64>"}`
//!   (exactly what Baileys' `BufferJSON.replacer` writes). Bytes stored at such a path are
//!   written as that object and read back as bytes, as `BufferJSON.reviver` would.

use serde_json::Value as Json;

use crate::bufferjson;
use crate::engine::{BoxFuture, Engine, Write};
use crate::error::{Result, StoreError};
use crate::path;

/// The last segment of the paths that hold raw bytes.
pub const CONTENT_SEGMENT: &str = "content";

/// A stored value: JSON (bytes inside it in `BufferJSON` form) or bytes.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Json(Json),
    Bytes(Vec<u8>),
}

impl Value {
    pub fn as_json(&self) -> Option<&Json> {
        match self {
            Self::Json(j) => Some(j),
            Self::Bytes(_) => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Self::Bytes(b) => Some(b),
            Self::Json(_) => None,
        }
    }
}

impl From<Json> for Value {
    fn from(j: Json) -> Self {
        Self::Json(j)
    }
}

impl From<Vec<u8>> for Value {
    fn from(b: Vec<u8>) -> Self {
        Self::Bytes(b)
    }
}

/// Whether `path` holds raw bytes (its last segment is `content`).
pub fn is_content_path(p: &str) -> bool {
    path::split(p).1 == CONTENT_SEGMENT
}

/// The bytes an engine stores for `value` at `path`.
pub fn encode(p: &str, value: &Value) -> Result<Vec<u8>> {
    match value {
        Value::Bytes(b) if is_content_path(p) => Ok(b.clone()),
        Value::Bytes(b) => Ok(serde_json::to_vec(&bufferjson::buffer(b))
            .map_err(|e| StoreError::BadValue(e.to_string()))?),
        Value::Json(j) => {
            refuse_json_at_content(p)?;
            serde_json::to_vec(j).map_err(|e| StoreError::BadValue(e.to_string()))
        }
    }
}

fn refuse_json_at_content(p: &str) -> Result<()> {
    if is_content_path(p) {
        return Err(StoreError::BadValue(format!(
            "{p:?} is a content path: it holds bytes (a Buffer), not JSON"
        )));
    }
    Ok(())
}

/// Checks JSON text made elsewhere (JavaScript's `JSON.stringify`) before it is stored
/// as is: it must be one whole JSON value, and `path` must not be a content path.
pub fn check_json_text(p: &str, text: &[u8]) -> Result<()> {
    refuse_json_at_content(p)?;
    serde_json::from_slice::<serde::de::IgnoredAny>(text)
        .map(|_| ())
        .map_err(|e| StoreError::BadValue(format!("{p:?}: not JSON text: {e}")))
}

/// The value stored as `bytes` at `path`.
pub fn decode(p: &str, bytes: Vec<u8>) -> Result<Value> {
    if is_content_path(p) {
        return Ok(Value::Bytes(bytes));
    }
    let j: Json = serde_json::from_slice(&bytes)
        .map_err(|e| StoreError::corrupt(format!("value at {p:?}"), e))?;
    // A Buffer stored at a non-content path comes back as a Buffer (BufferJSON's reviver).
    if j.get("type").and_then(Json::as_str) == Some("Buffer")
        && let Some(b) = bufferjson::bytes(&j)
    {
        return Ok(Value::Bytes(b));
    }
    Ok(Value::Json(j))
}

/// The seed's `get`/`set` on any engine, in values.
pub trait ValueEngine {
    /// The value at `path`, or `None`.
    fn get_value<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Option<Value>>;
    /// Stores `value` (`None` deletes); resolves `true` as the seed's `set` does.
    fn set_value<'a>(&'a self, path: &'a str, value: Option<Value>) -> BoxFuture<'a, bool>;
    /// Several writes, all or none.
    fn set_values<'a>(&'a self, writes: Vec<(String, Option<Value>)>) -> BoxFuture<'a, bool>;
}

impl<E: Engine + ?Sized> ValueEngine for E {
    fn get_value<'a>(&'a self, p: &'a str) -> BoxFuture<'a, Option<Value>> {
        Box::pin(async move { self.get(p).await?.map(|b| decode(p, b)).transpose() })
    }

    fn set_value<'a>(&'a self, p: &'a str, value: Option<Value>) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let bytes = value.map(|v| encode(p, &v)).transpose()?;
            self.set(p, bytes).await?;
            Ok(true)
        })
    }

    fn set_values<'a>(&'a self, writes: Vec<(String, Option<Value>)>) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let mut batch = Vec::with_capacity(writes.len());
            for (p, v) in writes {
                let value = v.map(|v| encode(&p, &v)).transpose()?;
                batch.push(Write { path: p, value });
            }
            self.set_many(batch).await?;
            Ok(true)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_round_trip_through_their_stored_bytes() {
        let cases = [
            (
                "contact/a@s.whatsapp.net",
                Value::Json(json!({"id": "a", "name": "Ann ✓"})),
            ),
            ("x/str", Value::Json(json!("text"))),
            ("x/num", Value::Json(json!(-1.5))),
            ("x/bool", Value::Json(json!(true))),
            ("x/arr", Value::Json(json!([1, "two", null]))),
            (
                "x/nested",
                Value::Json(json!({"k": bufferjson::buffer(&[0, 1, 255])})),
            ),
            ("x/buf", Value::Bytes(vec![1, 2, 3])),
            (
                "chat/c/message/m/content",
                Value::Bytes(vec![0, 0x7b, 0xff]),
            ),
        ];
        for (p, v) in cases {
            let stored = encode(p, &v).unwrap();
            assert_eq!(decode(p, stored).unwrap(), v, "{p}");
        }
        // Content is stored raw: no base64, no JSON.
        assert_eq!(
            encode("a/content", &Value::Bytes(b"\x00raw".to_vec())).unwrap(),
            b"\x00raw"
        );
    }

    #[test]
    fn json_at_a_content_path_and_bad_text_are_refused() {
        let e = encode("a/content", &Value::Json(json!({}))).unwrap_err();
        assert_eq!(e.code(), "ERR_WA_STORE_BAD_VALUE");
        assert_eq!(
            check_json_text("a/b", b"{\"x\":").unwrap_err().code(),
            "ERR_WA_STORE_BAD_VALUE"
        );
        assert_eq!(
            check_json_text("a/b", b"{} {}").unwrap_err().code(),
            "ERR_WA_STORE_BAD_VALUE"
        );
        check_json_text("a/b", b"{\"x\":[1]}").unwrap();
        assert_eq!(
            decode("a/b", b"nope".to_vec()).unwrap_err().code(),
            "ERR_WA_STORE_CORRUPT"
        );
    }
}
