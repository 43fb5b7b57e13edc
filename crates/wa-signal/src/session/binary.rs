//! The compact binary form of a session record for native stores: a 4-byte magic and the
//! `SessionRecordData` protobuf. It holds every field of the JSON form, so
//! JSON -> binary -> JSON is the identity, and is about half the size (no base64, no names).

use prost::Message as _;
use wa_proto::signal as pb;

use super::json::RecordFormatError;
use super::record::{
    Chain, IndexInfo, KeyBytes, PendingPreKey, RECORD_VERSION, Ratchet, SessionEntry, SessionRecord,
};

/// Leads every binary session record, so a store can hold both forms side by side.
pub const SESSION_MAGIC: [u8; 4] = *b"wsr1";

impl SessionRecord {
    pub fn to_binary(&self) -> Vec<u8> {
        let data = pb::SessionRecordData {
            version: Some(RECORD_VERSION.to_owned()),
            sessions: self.sessions.iter().map(entry_data).collect(),
        };
        let mut out = Vec::with_capacity(4 + data.encoded_len());
        out.extend_from_slice(&SESSION_MAGIC);
        data.encode(&mut out).expect("a Vec grows as needed");
        out
    }

    pub fn from_binary(bytes: &[u8]) -> Result<Self, RecordFormatError> {
        let body = bytes
            .strip_prefix(&SESSION_MAGIC)
            .ok_or_else(|| RecordFormatError("not a binary session record".into()))?;
        let data = pb::SessionRecordData::decode(body)
            .map_err(|e| RecordFormatError(format!("binary session record: {e}")))?;
        if data.version.as_deref().is_some_and(|v| v != RECORD_VERSION) {
            return Err(RecordFormatError("unknown binary record version".into()));
        }
        Ok(SessionRecord {
            sessions: data
                .sessions
                .into_iter()
                .map(entry_of)
                .collect::<Result<_, _>>()?,
        })
    }

    /// Reads either stored form: libsignal-node's JSON text or the binary form.
    pub fn from_stored(bytes: &[u8]) -> Result<Self, RecordFormatError> {
        if bytes.starts_with(&SESSION_MAGIC) {
            return Self::from_binary(bytes);
        }
        let text = std::str::from_utf8(bytes)
            .map_err(|_| RecordFormatError("session record is neither JSON nor binary".into()))?;
        Self::from_json(text)
    }
}

fn entry_data(s: &SessionEntry) -> pb::SessionData {
    pb::SessionData {
        id: s.id.to_vec(),
        registration_id: s.registration_id,
        ephemeral_public: s.ratchet.ephemeral_public.to_vec(),
        ephemeral_private: s.ratchet.ephemeral_private.to_vec(),
        last_remote_ephemeral: s.ratchet.last_remote_ephemeral.to_vec(),
        previous_counter: s.ratchet.previous_counter,
        root_key: s.ratchet.root_key.to_vec(),
        base_key: s.index.base_key.to_vec(),
        base_key_type: s.index.base_key_type,
        closed: s.index.closed,
        used: s.index.used,
        created: s.index.created,
        remote_identity_key: s.index.remote_identity_key.to_vec(),
        chains: s
            .chains
            .iter()
            .map(|c| pb::ChainData {
                ratchet_key: c.ratchet_key.to_vec(),
                counter: c.counter,
                key: c.key.map(|k| k.to_vec()),
                chain_type: c.chain_type,
                message_keys: c
                    .message_keys
                    .iter()
                    .map(|(i, k)| pb::MessageKeyData {
                        index: *i,
                        key: k.to_vec(),
                    })
                    .collect(),
            })
            .collect(),
        pending_pre_key: s.pending_pre_key.as_ref().map(|p| pb::PendingPreKeyData {
            signed_key_id: p.signed_key_id,
            base_key: p.base_key.to_vec(),
            pre_key_id: p.pre_key_id,
        }),
    }
}

fn entry_of(d: pb::SessionData) -> Result<SessionEntry, RecordFormatError> {
    let key = KeyBytes::stored;
    Ok(SessionEntry {
        id: key(&d.id, "id")?,
        registration_id: d.registration_id,
        ratchet: Ratchet {
            ephemeral_public: key(&d.ephemeral_public, "ephemeral public key")?,
            ephemeral_private: key(&d.ephemeral_private, "ephemeral private key")?,
            last_remote_ephemeral: key(&d.last_remote_ephemeral, "last remote ephemeral key")?,
            previous_counter: d.previous_counter,
            root_key: key(&d.root_key, "root key")?,
        },
        index: IndexInfo {
            base_key: key(&d.base_key, "base key")?,
            base_key_type: d.base_key_type,
            closed: d.closed,
            used: d.used,
            created: d.created,
            remote_identity_key: key(&d.remote_identity_key, "remote identity key")?,
        },
        chains: d
            .chains
            .into_iter()
            .map(|c| {
                Ok(Chain {
                    ratchet_key: key(&c.ratchet_key, "chain's ratchet key")?,
                    counter: c.counter,
                    key: c.key.as_deref().map(|k| key(k, "chain key")).transpose()?,
                    chain_type: c.chain_type,
                    message_keys: c
                        .message_keys
                        .into_iter()
                        .map(|m| Ok((m.index, key(&m.key, "message key")?)))
                        .collect::<Result<_, RecordFormatError>>()?,
                })
            })
            .collect::<Result<_, RecordFormatError>>()?,
        pending_pre_key: d
            .pending_pre_key
            .map(|p| {
                Ok::<_, RecordFormatError>(PendingPreKey {
                    signed_key_id: p.signed_key_id,
                    base_key: key(&p.base_key, "pending pre-key's base key")?,
                    pre_key_id: p.pre_key_id,
                })
            })
            .transpose()?,
    })
}
