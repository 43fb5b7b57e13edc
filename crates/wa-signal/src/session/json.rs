//! libsignal-node's `SessionRecord.serialize()` JSON, read and written exactly: same keys, same
//! order, same optional parts, base64 byte strings. A record libsignal-node wrote comes back
//! byte for byte.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::record::{
    Chain, IndexInfo, KeyBytes, PendingPreKey, RECORD_VERSION, Ratchet, SessionEntry, SessionRecord,
};
use crate::b64;
use crate::serde_util::{B64, Ordered};

#[derive(Serialize, Deserialize)]
struct JsonRecord {
    #[serde(rename = "_sessions", default)]
    sessions: Ordered<JsonEntry>,
    #[serde(default)]
    version: Option<String>,
    /// Records from before `v1` kept the registration id here.
    #[serde(rename = "registrationId", default, skip_serializing)]
    registration_id: Option<u32>,
}

#[derive(Serialize, Deserialize)]
struct JsonEntry {
    #[serde(
        rename = "registrationId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    registration_id: Option<u32>,
    #[serde(rename = "currentRatchet")]
    current_ratchet: JsonRatchet,
    #[serde(rename = "indexInfo")]
    index_info: JsonIndex,
    #[serde(rename = "_chains", default)]
    chains: Ordered<JsonChain>,
    #[serde(
        rename = "pendingPreKey",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pending_pre_key: Option<JsonPending>,
}

#[derive(Serialize, Deserialize)]
struct JsonKeyPair {
    #[serde(rename = "pubKey")]
    pub_key: B64,
    #[serde(rename = "privKey")]
    priv_key: B64,
}

#[derive(Serialize, Deserialize)]
struct JsonRatchet {
    #[serde(rename = "ephemeralKeyPair")]
    ephemeral_key_pair: JsonKeyPair,
    #[serde(rename = "lastRemoteEphemeralKey")]
    last_remote_ephemeral_key: B64,
    #[serde(rename = "previousCounter")]
    previous_counter: i64,
    #[serde(rename = "rootKey")]
    root_key: B64,
}

#[derive(Serialize, Deserialize)]
struct JsonIndex {
    #[serde(rename = "baseKey")]
    base_key: B64,
    #[serde(rename = "baseKeyType")]
    base_key_type: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    closed: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    used: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created: Option<i64>,
    #[serde(rename = "remoteIdentityKey")]
    remote_identity_key: B64,
}

#[derive(Serialize, Deserialize)]
struct JsonChainKey {
    counter: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<B64>,
}

#[derive(Serialize, Deserialize)]
struct JsonChain {
    #[serde(rename = "chainKey")]
    chain_key: JsonChainKey,
    #[serde(rename = "chainType")]
    chain_type: u32,
    #[serde(rename = "messageKeys", default)]
    message_keys: BTreeMap<u32, B64>,
}

#[derive(Serialize, Deserialize)]
struct JsonPending {
    #[serde(
        rename = "signedKeyId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    signed_key_id: Option<u32>,
    #[serde(rename = "baseKey")]
    base_key: B64,
    #[serde(rename = "preKeyId", default, skip_serializing_if = "Option::is_none")]
    pre_key_id: Option<u32>,
}

/// Why a stored record could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFormatError(pub String);

impl std::fmt::Display for RecordFormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RecordFormatError {}

fn key_of(s: &str, what: &str) -> Result<KeyBytes, RecordFormatError> {
    let bytes =
        b64::decode(s).ok_or_else(|| RecordFormatError(format!("{what} key is not base64")))?;
    KeyBytes::stored(&bytes, what)
}

impl SessionRecord {
    /// Reads libsignal-node's JSON (`SessionRecord.serialize()`, as stored by Baileys).
    pub fn from_json(text: &str) -> Result<Self, RecordFormatError> {
        let j: JsonRecord = serde_json::from_str(text)
            .map_err(|e| RecordFormatError(format!("session record JSON: {e}")))?;
        Self::from_parsed(j)
    }

    /// The same from a JSON tree (what a key store holds), without printing it to text first.
    pub fn from_json_value(v: &serde_json::Value) -> Result<Self, RecordFormatError> {
        let j = JsonRecord::deserialize(v)
            .map_err(|e| RecordFormatError(format!("session record JSON: {e}")))?;
        Self::from_parsed(j)
    }

    fn from_parsed(j: JsonRecord) -> Result<Self, RecordFormatError> {
        let mut record = SessionRecord::new();
        match j.version.as_deref() {
            Some(RECORD_VERSION) => {}
            // libsignal-node's one migration: pre-v1 records kept the registration id on top.
            None => {}
            Some(v) => {
                return Err(RecordFormatError(format!(
                    "unknown session record version {v:?}"
                )));
            }
        }
        let legacy_registration = if j.version.is_none() {
            j.registration_id
        } else {
            None
        };
        let key = KeyBytes::stored;
        for (id, e) in j.sessions.0 {
            let mut chains = Vec::with_capacity(e.chains.0.len());
            for (ratchet_key, c) in e.chains.0 {
                chains.push(Chain {
                    ratchet_key: key_of(&ratchet_key, "chain")?,
                    counter: c.chain_key.counter,
                    key: c
                        .chain_key
                        .key
                        .map(|k| key(&k.0, "chain key"))
                        .transpose()?,
                    chain_type: c.chain_type,
                    message_keys: c
                        .message_keys
                        .into_iter()
                        .map(|(i, k)| Ok((i, key(&k.0, "message key")?)))
                        .collect::<Result<_, RecordFormatError>>()?,
                });
            }
            let r = e.current_ratchet;
            let pair = r.ephemeral_key_pair;
            record.sessions.push(SessionEntry {
                id: key_of(&id, "session")?,
                registration_id: e.registration_id.or(legacy_registration),
                ratchet: Ratchet {
                    ephemeral_public: key(&pair.pub_key.0, "ephemeral public key")?,
                    ephemeral_private: key(&pair.priv_key.0, "ephemeral private key")?,
                    last_remote_ephemeral: key(
                        &r.last_remote_ephemeral_key.0,
                        "last remote ephemeral key",
                    )?,
                    previous_counter: r.previous_counter,
                    root_key: key(&r.root_key.0, "root key")?,
                },
                index: IndexInfo {
                    base_key: key(&e.index_info.base_key.0, "base key")?,
                    base_key_type: e.index_info.base_key_type,
                    closed: e.index_info.closed,
                    used: e.index_info.used,
                    created: e.index_info.created,
                    remote_identity_key: key(
                        &e.index_info.remote_identity_key.0,
                        "remote identity key",
                    )?,
                },
                chains,
                pending_pre_key: e
                    .pending_pre_key
                    .map(|p| {
                        Ok::<_, RecordFormatError>(PendingPreKey {
                            signed_key_id: p.signed_key_id,
                            base_key: key(&p.base_key.0, "pending pre-key's base key")?,
                            pre_key_id: p.pre_key_id,
                        })
                    })
                    .transpose()?,
            });
        }
        Ok(record)
    }

    /// Writes libsignal-node's JSON: what `SessionRecord.serialize()` would give.
    ///
    /// Written by hand rather than through serde: every string in a record is base64 or a
    /// fixed key (nothing to escape), and a record is written after every message sent or
    /// received; the serde path copied each key into its JSON struct first and was 8% of a
    /// text sent's instructions. `tests` hold it to the serde form byte for byte.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(self.sessions.len() * 1024 + 32);
        out.push_str(r#"{"_sessions":{"#);
        for (i, s) in self.sessions.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_b64(&mut out, &s.id);
            out.push(':');
            push_entry(&mut out, s);
        }
        out.push_str(r#"},"version":""#);
        out.push_str(RECORD_VERSION);
        out.push_str(r#""}"#);
        out
    }

    /// [`SessionRecord::to_json`] as a JSON tree, without the text in between.
    pub fn to_json_value(&self) -> serde_json::Value {
        serde_json::to_value(self.json_record()).expect("records serialise to JSON")
    }

    fn json_record(&self) -> JsonRecord {
        JsonRecord {
            sessions: Ordered(
                self.sessions
                    .iter()
                    .map(|s| (b64::encode(&s.id), entry_json(s)))
                    .collect(),
            ),
            version: Some(RECORD_VERSION.to_owned()),
            registration_id: None,
        }
    }
}

/// `"<base64>"`.
fn push_b64(out: &mut String, bytes: &[u8]) {
    use base64::Engine as _;
    out.push('"');
    base64::engine::general_purpose::STANDARD.encode_string(bytes, out);
    out.push('"');
}

fn push_int(out: &mut String, n: impl itoa::Integer) {
    out.push_str(itoa::Buffer::new().format(n));
}

/// `,"<name>":<n>` when `n` is there (the fields serde skips when `None`).
fn push_opt(out: &mut String, name: &str, n: Option<impl itoa::Integer>) {
    if let Some(n) = n {
        out.push_str(name);
        push_int(out, n);
    }
}

/// One session entry as [`entry_json`] and serde would write it.
fn push_entry(out: &mut String, s: &SessionEntry) {
    out.push('{');
    if let Some(id) = s.registration_id {
        out.push_str(r#""registrationId":"#);
        push_int(out, id);
        out.push(',');
    }
    let r = &s.ratchet;
    out.push_str(r#""currentRatchet":{"ephemeralKeyPair":{"pubKey":"#);
    push_b64(out, &r.ephemeral_public);
    out.push_str(r#","privKey":"#);
    push_b64(out, &r.ephemeral_private);
    out.push_str(r#"},"lastRemoteEphemeralKey":"#);
    push_b64(out, &r.last_remote_ephemeral);
    out.push_str(r#","previousCounter":"#);
    push_int(out, r.previous_counter);
    out.push_str(r#","rootKey":"#);
    push_b64(out, &r.root_key);
    let x = &s.index;
    out.push_str(r#"},"indexInfo":{"baseKey":"#);
    push_b64(out, &x.base_key);
    out.push_str(r#","baseKeyType":"#);
    push_int(out, x.base_key_type);
    push_opt(out, r#","closed":"#, x.closed);
    push_opt(out, r#","used":"#, x.used);
    push_opt(out, r#","created":"#, x.created);
    out.push_str(r#","remoteIdentityKey":"#);
    push_b64(out, &x.remote_identity_key);
    out.push_str(r#"},"_chains":{"#);
    for (i, c) in s.chains.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_b64(out, &c.ratchet_key);
        out.push_str(r#":{"chainKey":{"counter":"#);
        push_int(out, c.counter);
        if let Some(k) = &c.key {
            out.push_str(r#","key":"#);
            push_b64(out, k);
        }
        out.push_str(r#"},"chainType":"#);
        push_int(out, c.chain_type);
        out.push_str(r#","messageKeys":{"#);
        for (j, (n, k)) in c.message_keys.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            out.push('"');
            push_int(out, *n);
            out.push_str(r#"":"#);
            push_b64(out, k);
        }
        out.push_str("}}");
    }
    out.push('}');
    if let Some(p) = &s.pending_pre_key {
        out.push_str(r#","pendingPreKey":{"#);
        if let Some(id) = p.signed_key_id {
            out.push_str(r#""signedKeyId":"#);
            push_int(out, id);
            out.push(',');
        }
        out.push_str(r#""baseKey":"#);
        push_b64(out, &p.base_key);
        push_opt(out, r#","preKeyId":"#, p.pre_key_id);
        out.push('}');
    }
    out.push('}');
}

fn entry_json(s: &SessionEntry) -> JsonEntry {
    JsonEntry {
        registration_id: s.registration_id,
        current_ratchet: JsonRatchet {
            ephemeral_key_pair: JsonKeyPair {
                pub_key: B64(s.ratchet.ephemeral_public.to_vec()),
                priv_key: B64(s.ratchet.ephemeral_private.to_vec()),
            },
            last_remote_ephemeral_key: B64(s.ratchet.last_remote_ephemeral.to_vec()),
            previous_counter: s.ratchet.previous_counter,
            root_key: B64(s.ratchet.root_key.to_vec()),
        },
        index_info: JsonIndex {
            base_key: B64(s.index.base_key.to_vec()),
            base_key_type: s.index.base_key_type,
            closed: s.index.closed,
            used: s.index.used,
            created: s.index.created,
            remote_identity_key: B64(s.index.remote_identity_key.to_vec()),
        },
        chains: Ordered(
            s.chains
                .iter()
                .map(|c| {
                    (
                        b64::encode(&c.ratchet_key),
                        JsonChain {
                            chain_key: JsonChainKey {
                                counter: c.counter,
                                key: c.key.map(|k| B64(k.to_vec())),
                            },
                            chain_type: c.chain_type,
                            message_keys: c
                                .message_keys
                                .iter()
                                .map(|(i, k)| (*i, B64(k.to_vec())))
                                .collect(),
                        },
                    )
                })
                .collect(),
        ),
        pending_pre_key: s.pending_pre_key.as_ref().map(|p| JsonPending {
            signed_key_id: p.signed_key_id,
            base_key: B64(p.base_key.to_vec()),
            pre_key_id: p.pre_key_id,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A record as libsignal-node 6 writes it: an open session we initiated (pending prekey, a
    // sending chain), and a closed one with a receiving chain holding two skipped keys.
    const NODE_RECORD: &str = concat!(
        r#"{"_sessions":{"BWdBMVBc1Jw5O5yHqEZC8aHdm6IK8eHdIXUb3NRn2xxJ":{"registrationId":4521,"#,
        r#""currentRatchet":{"ephemeralKeyPair":{"pubKey":"BQ9Q9VPc0ww8X2+bVJYj1IfEJr+4cAuM8F1QyI8bRIon","#,
        r#""privKey":"sGxJ3pVw8hDa3S2u0Zb8P3WcvvcZr8gC2oJrN6I1g2E="},"#,
        r#""lastRemoteEphemeralKey":"BSu6/pWkEUBjU1yAo2tVY3k7p7LrWmBw4TnXo0GtZv1A","previousCounter":0,"#,
        r#""rootKey":"yN7q9k9Vb0yYzW5V7FqR4G8d2YB6l0WzX9mY3cV6U2E="},"#,
        r#""indexInfo":{"baseKey":"BWdBMVBc1Jw5O5yHqEZC8aHdm6IK8eHdIXUb3NRn2xxJ","baseKeyType":1,"#,
        r#""closed":-1,"used":1718000000000,"created":1718000000000,"#,
        r#""remoteIdentityKey":"BU5f8m1X2nE0kTq+q8pY2G5yqgZ3uR5K2rJ7c6m1h9Bz"},"#,
        r#""_chains":{"BQ9Q9VPc0ww8X2+bVJYj1IfEJr+4cAuM8F1QyI8bRIon":{"chainKey":{"counter":-1,"#,
        r#""key":"p6q3o1c8Vb0yYzW5V7FqR4G8d2YB6l0WzX9mY3cV6U0="},"chainType":1,"messageKeys":{}}},"#,
        r#""pendingPreKey":{"signedKeyId":1,"baseKey":"BWdBMVBc1Jw5O5yHqEZC8aHdm6IK8eHdIXUb3NRn2xxJ","preKeyId":17}},"#,
        r#""BRFyq6hH9rB1Cq0Kq3H0fN3sZbB0Q8m4V6m0u9j2Q1B7":{"registrationId":4521,"#,
        r#""currentRatchet":{"ephemeralKeyPair":{"pubKey":"BT8a0m2a8vX0mQ+0b8J9y5J7dM2e0T5h3Q9v1gG7v3y2","#,
        r#""privKey":"wD2r1fP9kZ3yW7n6T8u5Q1s4E0o2L9i7K3j6H5g8F1E="},"#,
        r#""lastRemoteEphemeralKey":"BXl5cGm0fV7nq2k3S1t0R9o8P7u6Y5w4E3r2T1q0Z9x8","previousCounter":3,"#,
        r#""rootKey":"aA1bB2cC3dD4eE5fF6gG7hH8iI9jJ0kK1lL2mM3nN4o="},"#,
        r#""indexInfo":{"baseKey":"BRFyq6hH9rB1Cq0Kq3H0fN3sZbB0Q8m4V6m0u9j2Q1B7","baseKeyType":2,"#,
        r#""closed":1718000000500,"used":1717000000000,"created":1716000000000,"#,
        r#""remoteIdentityKey":"BU5f8m1X2nE0kTq+q8pY2G5yqgZ3uR5K2rJ7c6m1h9Bz"},"#,
        r#""_chains":{"BXl5cGm0fV7nq2k3S1t0R9o8P7u6Y5w4E3r2T1q0Z9x8":{"chainKey":{"counter":5},"#,
        r#""chainType":2,"messageKeys":{"2":"kK1lL2mM3nN4oO5pP6qQ7rR8sS9tT0uU1vV2wW3xX4w=","#,
        r#""10":"zZ1yY2xX3wW4vV5uU6tT7sS8rR9qQ0pP1oO2nN3mM4k="}}}}},"version":"v1"}"#
    );

    #[test]
    fn node_json_round_trips_byte_for_byte() {
        let r = SessionRecord::from_json(NODE_RECORD).unwrap();
        assert_eq!(r.sessions.len(), 2);
        assert!(r.has_open_session());
        let closed = &r.sessions[1];
        assert!(!closed.is_open());
        let chain = &closed.chains[0];
        assert!(chain.key.is_none());
        // messageKeys keep JavaScript's integer-key order: 2 before 10.
        assert_eq!(
            chain.message_keys.keys().copied().collect::<Vec<_>>(),
            [2, 10]
        );
        assert_eq!(r.to_json(), NODE_RECORD);
    }

    #[test]
    fn the_json_tree_path_reads_and_writes_what_the_text_path_does() {
        let tree: serde_json::Value = serde_json::from_str(NODE_RECORD).unwrap();
        let r = SessionRecord::from_json_value(&tree).unwrap();
        assert!(r == SessionRecord::from_json(NODE_RECORD).unwrap());
        assert_eq!(r.to_json_value(), tree);
        // Printed, the tree is the record's JSON byte for byte (integer keys in JS order too).
        assert_eq!(r.to_json_value().to_string(), NODE_RECORD);
        let bad = serde_json::json!({ "_sessions": { "!!": {} } });
        assert!(SessionRecord::from_json_value(&bad).is_err());
        assert!(SessionRecord::from_json_value(&serde_json::json!(7)).is_err());
    }

    #[test]
    fn pre_v1_records_migrate_like_libsignal_node() {
        let old = NODE_RECORD
            .replace(r#","version":"v1""#, r#","registrationId":99"#)
            .replacen(r#""registrationId":4521,"#, "", 1);
        let r = SessionRecord::from_json(&old).unwrap();
        assert_eq!(r.sessions[0].registration_id, Some(99));
        assert_eq!(r.sessions[1].registration_id, Some(4521));
        assert!(r.to_json().ends_with(r#""version":"v1"}"#));
    }

    #[test]
    fn bad_records_are_errors() {
        for bad in [
            "",
            "7",
            "{\"version\":\"v2\"}",
            "{\"_sessions\":{\"!!\":{}}}",
            &NODE_RECORD.replace("\"previousCounter\":0", "\"previousCounter\":\"x\""),
            &NODE_RECORD.replace("\"rootKey\":\"yN7", "\"rootKey\":\"*N7"),
            // 34 bytes: longer than any key a session holds.
            &NODE_RECORD.replace(
                "\"rootKey\":\"yN7q9k9Vb0yYzW5V7FqR4G8d2YB6l0WzX9mY3cV6U2E=\"",
                "\"rootKey\":\"yN7q9k9Vb0yYzW5V7FqR4G8d2YB6l0WzX9mY3cV6U2EAAA==\"",
            ),
        ] {
            assert!(SessionRecord::from_json(bad).is_err(), "{bad}");
        }
        assert_eq!(SessionRecord::from_json("{}").unwrap().sessions.len(), 0);
    }

    mod written_by_hand {
        use super::super::*;
        use crate::session::record::{Chain, IndexInfo, KeyBytes, PendingPreKey, Ratchet};
        use proptest::prelude::*;

        fn key() -> impl Strategy<Value = KeyBytes> {
            prop::collection::vec(any::<u8>(), 0..=KeyBytes::MAX)
                .prop_map(|k| KeyBytes::new(&k).expect("no longer than a key"))
        }

        fn chain() -> impl Strategy<Value = Chain> {
            (
                key(),
                any::<i64>(),
                prop::option::of(key()),
                any::<u32>(),
                prop::collection::btree_map(any::<u32>(), key(), 0..4),
            )
                .prop_map(|(ratchet_key, counter, key, chain_type, message_keys)| {
                    Chain {
                        ratchet_key,
                        counter,
                        key,
                        chain_type,
                        message_keys,
                    }
                })
        }

        fn entry() -> impl Strategy<Value = SessionEntry> {
            (
                (key(), prop::option::of(any::<u32>())),
                (key(), key(), key(), any::<i64>(), key()),
                (
                    key(),
                    any::<u32>(),
                    prop::option::of(any::<i64>()),
                    prop::option::of(any::<i64>()),
                    prop::option::of(any::<i64>()),
                    key(),
                ),
                prop::collection::vec(chain(), 0..3),
                prop::option::of((
                    prop::option::of(any::<u32>()),
                    key(),
                    prop::option::of(any::<u32>()),
                )),
            )
                .prop_map(|((id, registration_id), r, x, chains, pending)| {
                    SessionEntry {
                        id,
                        registration_id,
                        ratchet: Ratchet {
                            ephemeral_public: r.0,
                            ephemeral_private: r.1,
                            last_remote_ephemeral: r.2,
                            previous_counter: r.3,
                            root_key: r.4,
                        },
                        index: IndexInfo {
                            base_key: x.0,
                            base_key_type: x.1,
                            closed: x.2,
                            used: x.3,
                            created: x.4,
                            remote_identity_key: x.5,
                        },
                        chains,
                        pending_pre_key: pending.map(|(signed_key_id, base_key, pre_key_id)| {
                            PendingPreKey {
                                signed_key_id,
                                base_key,
                                pre_key_id,
                            }
                        }),
                    }
                })
        }

        proptest! {
            // The hand-written JSON is serde's, byte for byte, for any record.
            #[test]
            fn is_what_serde_writes(sessions in prop::collection::vec(entry(), 0..3)) {
                let r = SessionRecord { sessions };
                let serde = serde_json::to_string(&r.json_record()).unwrap();
                prop_assert_eq!(r.to_json(), serde);
            }
        }

        #[test]
        fn reads_back_as_the_same_record() {
            let r = SessionRecord::from_json(super::NODE_RECORD).unwrap();
            let again = SessionRecord::from_json(&r.to_json()).unwrap();
            assert!(again == r);
        }
    }
}
