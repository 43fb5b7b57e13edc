//! The sender-key record in Baileys' model (`SenderKeyRecord`: a list of states, the newest
//! last), with its JSON and binary forms.
//!
//! Baileys stores the record as the UTF-8 bytes of `JSON.stringify(states)`, where every byte
//! string is a Node Buffer's `toJSON()`: `{"type":"Buffer","data":[1,2,3]}`. We write exactly
//! that, so a record goes Baileys -> ours -> Baileys byte for byte, and read every spelling a
//! store may hand back. (Baileys' reviver leaves those objects as objects, which is why rc14
//! fails on the first skipped message key it tries to use: "Expected Buffer instead of:
//! Object". We read them as the bytes they are.)

use std::fmt::{self, Write as _};

use prost::Message as _;
use serde_json::Value;
use wa_proto::signal as pb;

use crate::b64;
use crate::session::RecordFormatError;

/// States kept per sender (libsignal's `MAX_SENDER_KEY_STATES`).
pub const MAX_SENDER_KEY_STATES: usize = 5;
/// Skipped message keys kept per state, and the longest jump one message may ask for.
pub const MAX_SENDER_MESSAGE_KEYS: usize = 2000;
pub const MAX_SENDER_JUMP: u32 = 2000;

/// Leads every binary sender-key record.
pub const SENDER_KEY_MAGIC: [u8; 4] = *b"wsk1";

/// All sender-key states of one sender in one group.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SenderKeyRecord {
    /// Oldest first; the last is the current one (Baileys' order).
    pub states: Vec<SenderKeyState>,
}

/// One sender-key chain.
#[derive(Clone, PartialEq, Eq)]
pub struct SenderKeyState {
    pub key_id: u32,
    /// The iteration of the next message key the chain gives.
    pub iteration: u32,
    pub chain_key: Vec<u8>,
    pub signing_public: Vec<u8>,
    /// Empty unless the chain is ours.
    pub signing_private: Vec<u8>,
    /// Keys of skipped messages, in the order they were skipped.
    pub message_keys: Vec<SenderMessageKey>,
}

#[derive(Clone, PartialEq, Eq)]
pub struct SenderMessageKey {
    pub iteration: u32,
    pub seed: Vec<u8>,
}

impl SenderKeyRecord {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// The state for `key_id` (the first match, as Baileys looks it up).
    pub fn state_mut(&mut self, key_id: u32) -> Option<&mut SenderKeyState> {
        self.states.iter_mut().find(|s| s.key_id == key_id)
    }

    /// Reads Baileys' sender-key JSON (the text of the stored Buffer).
    pub fn from_json(text: &[u8]) -> Result<Self, RecordFormatError> {
        let v: Value = serde_json::from_slice(text)
            .map_err(|e| RecordFormatError(format!("sender key JSON: {e}")))?;
        let Value::Array(items) = v else {
            return Err(RecordFormatError(
                "sender key record is not an array".into(),
            ));
        };
        let mut states = Vec::with_capacity(items.len());
        for item in &items {
            states.push(state_of(item)?);
        }
        Ok(Self { states })
    }

    /// Writes Baileys' sender-key JSON.
    pub fn to_json(&self) -> Vec<u8> {
        let mut s = String::with_capacity(256 * self.states.len().max(1));
        s.push('[');
        for (i, st) in self.states.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(
                s,
                r#"{{"senderKeyId":{},"senderChainKey":{{"iteration":{},"seed":"#,
                st.key_id, st.iteration
            );
            node_buffer(&mut s, &st.chain_key);
            s.push_str(r#"},"senderSigningKey":{"public":"#);
            node_buffer(&mut s, &st.signing_public);
            s.push_str(r#","private":"#);
            node_buffer(&mut s, &st.signing_private);
            s.push_str(r#"},"senderMessageKeys":["#);
            for (j, k) in st.message_keys.iter().enumerate() {
                if j > 0 {
                    s.push(',');
                }
                let _ = write!(s, r#"{{"iteration":{},"seed":"#, k.iteration);
                node_buffer(&mut s, &k.seed);
                s.push('}');
            }
            s.push_str("]}");
        }
        s.push(']');
        s.into_bytes()
    }

    pub fn to_binary(&self) -> Vec<u8> {
        let data = pb::SenderKeyRecordData {
            states: self
                .states
                .iter()
                .map(|s| pb::SenderKeyStateData {
                    key_id: s.key_id,
                    iteration: s.iteration,
                    seed: s.chain_key.clone(),
                    signing_public: s.signing_public.clone(),
                    signing_private: s.signing_private.clone(),
                    message_keys: s
                        .message_keys
                        .iter()
                        .map(|k| pb::SenderMessageKeyData {
                            iteration: k.iteration,
                            seed: k.seed.clone(),
                        })
                        .collect(),
                })
                .collect(),
        };
        let mut out = Vec::with_capacity(4 + data.encoded_len());
        out.extend_from_slice(&SENDER_KEY_MAGIC);
        data.encode(&mut out).expect("a Vec grows as needed");
        out
    }

    pub fn from_binary(bytes: &[u8]) -> Result<Self, RecordFormatError> {
        let body = bytes
            .strip_prefix(&SENDER_KEY_MAGIC)
            .ok_or_else(|| RecordFormatError("not a binary sender key record".into()))?;
        let data = pb::SenderKeyRecordData::decode(body)
            .map_err(|e| RecordFormatError(format!("binary sender key record: {e}")))?;
        Ok(Self {
            states: data
                .states
                .into_iter()
                .map(|s| SenderKeyState {
                    key_id: s.key_id,
                    iteration: s.iteration,
                    chain_key: s.seed,
                    signing_public: s.signing_public,
                    signing_private: s.signing_private,
                    message_keys: s
                        .message_keys
                        .into_iter()
                        .map(|k| SenderMessageKey {
                            iteration: k.iteration,
                            seed: k.seed,
                        })
                        .collect(),
                })
                .collect(),
        })
    }

    /// Reads either stored form: Baileys' JSON bytes or the binary form.
    pub fn from_stored(bytes: &[u8]) -> Result<Self, RecordFormatError> {
        if bytes.starts_with(&SENDER_KEY_MAGIC) {
            Self::from_binary(bytes)
        } else {
            Self::from_json(bytes)
        }
    }

    /// Number of skipped message keys held (for tests and metrics).
    pub fn message_key_count(&self) -> usize {
        self.states.iter().map(|s| s.message_keys.len()).sum()
    }
}

/// `{"type":"Buffer","data":[...]}`: what `JSON.stringify` makes of a Node Buffer.
fn node_buffer(s: &mut String, bytes: &[u8]) {
    s.push_str(r#"{"type":"Buffer","data":["#);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{b}");
    }
    s.push_str("]}");
}

fn err(what: &str) -> RecordFormatError {
    RecordFormatError(format!("sender key record: {what}"))
}

fn u32_of(v: Option<&Value>, what: &str) -> Result<u32, RecordFormatError> {
    v.and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| err(what))
}

fn byte_array(items: &[Value]) -> Option<Vec<u8>> {
    items
        .iter()
        .map(|x| x.as_u64().and_then(|n| u8::try_from(n).ok()))
        .collect()
}

/// A byte string in any spelling a store hands back: Node's Buffer JSON (array or base64 data),
/// a revived-then-restringified `{"0":..}` object, a plain array, or a base64 string.
fn bytes_of(v: Option<&Value>, what: &str) -> Result<Vec<u8>, RecordFormatError> {
    let bad = || err(what);
    match v.ok_or_else(bad)? {
        Value::Object(m) if m.get("type").and_then(Value::as_str) == Some("Buffer") => {
            match m.get("data") {
                Some(Value::Array(items)) => byte_array(items).ok_or_else(bad),
                Some(Value::String(s)) => b64::decode(s).ok_or_else(bad),
                _ => Err(bad()),
            }
        }
        Value::Object(m) => {
            let mut pairs = Vec::with_capacity(m.len());
            for (k, x) in m {
                let i: usize = k.parse().map_err(|_| bad())?;
                let b = x
                    .as_u64()
                    .and_then(|n| u8::try_from(n).ok())
                    .ok_or_else(bad)?;
                pairs.push((i, b));
            }
            pairs.sort_unstable_by_key(|p| p.0);
            if pairs.iter().enumerate().any(|(i, p)| p.0 != i) {
                return Err(bad());
            }
            Ok(pairs.into_iter().map(|p| p.1).collect())
        }
        Value::Array(items) => byte_array(items).ok_or_else(bad),
        Value::String(s) => b64::decode(s).ok_or_else(bad),
        _ => Err(bad()),
    }
}

fn state_of(v: &Value) -> Result<SenderKeyState, RecordFormatError> {
    let chain = v
        .get("senderChainKey")
        .ok_or_else(|| err("senderChainKey"))?;
    let signing = v
        .get("senderSigningKey")
        .ok_or_else(|| err("senderSigningKey"))?;
    let private = match signing.get("private") {
        None | Some(Value::Null) => Vec::new(),
        p => bytes_of(p, "senderSigningKey.private")?,
    };
    let mut message_keys = Vec::new();
    // Baileys treats a missing or non-array list as empty.
    if let Some(Value::Array(keys)) = v.get("senderMessageKeys") {
        message_keys.reserve(keys.len());
        for k in keys {
            message_keys.push(SenderMessageKey {
                iteration: u32_of(k.get("iteration"), "message key iteration")?,
                seed: bytes_of(k.get("seed"), "message key seed")?,
            });
        }
    }
    Ok(SenderKeyState {
        key_id: u32_of(v.get("senderKeyId"), "senderKeyId")?,
        iteration: u32_of(chain.get("iteration"), "senderChainKey.iteration")?,
        chain_key: bytes_of(chain.get("seed"), "senderChainKey.seed")?,
        signing_public: bytes_of(signing.get("public"), "senderSigningKey.public")?,
        signing_private: private,
        message_keys,
    })
}

impl fmt::Debug for SenderKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.states).finish()
    }
}

impl fmt::Debug for SenderKeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SenderKeyState")
            .field("key_id", &self.key_id)
            .field("iteration", &self.iteration)
            .field("ours", &!self.signing_private.is_empty())
            .field("message_keys", &self.message_keys.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // What Baileys rc14 stores after receiving a distribution and one message out of order.
    const BAILEYS: &str = concat!(
        r#"[{"senderKeyId":123,"senderChainKey":{"iteration":3,"seed":{"type":"Buffer","data":[1,2,3]}},"#,
        r#""senderSigningKey":{"public":{"type":"Buffer","data":[5,9,9]},"private":{"type":"Buffer","data":[]}},"#,
        r#""senderMessageKeys":[{"iteration":1,"seed":{"type":"Buffer","data":[7,7]}}]}]"#
    );

    #[test]
    fn reads_baileys_and_writes_it_back() {
        let r = SenderKeyRecord::from_json(BAILEYS.as_bytes()).unwrap();
        assert_eq!(r.states.len(), 1);
        let s = &r.states[0];
        assert_eq!((s.key_id, s.iteration), (123, 3));
        assert_eq!(s.chain_key, [1, 2, 3]);
        assert!(s.signing_private.is_empty());
        assert_eq!(s.message_keys[0].seed, [7, 7]);
        let out = String::from_utf8(r.to_json()).unwrap();
        assert_eq!(out, BAILEYS);
        assert_eq!(SenderKeyRecord::from_json(out.as_bytes()).unwrap(), r);
        assert_eq!(SenderKeyRecord::from_stored(&r.to_binary()).unwrap(), r);
    }

    #[test]
    fn reads_every_byte_spelling() {
        let spellings = [
            r#"{"type":"Buffer","data":[1,2]}"#,
            r#"{"type":"Buffer","data":"AQI="}"#,
            r#"{"0":1,"1":2}"#,
            r#"{"1":2,"0":1}"#,
            "[1,2]",
            r#""AQI""#,
        ];
        for sp in spellings {
            let text = BAILEYS.replace(r#"{"type":"Buffer","data":[1,2,3]}"#, sp);
            let r = SenderKeyRecord::from_json(text.as_bytes()).unwrap();
            assert_eq!(r.states[0].chain_key, [1, 2], "{sp}");
        }
        for bad in [r#"{"0":1,"2":2}"#, r#"{"0":256}"#, "[1,-1]", "7", r#""*""#] {
            let text = BAILEYS.replace(r#"{"type":"Buffer","data":[1,2,3]}"#, bad);
            assert!(
                SenderKeyRecord::from_json(text.as_bytes()).is_err(),
                "{bad}"
            );
        }
        assert!(SenderKeyRecord::from_json(b"{}").is_err());
        assert!(SenderKeyRecord::from_json(b"[]").unwrap().is_empty());
    }
}
