//! Typed access on top of an engine: credentials, Signal keys, contacts, chats, messages,
//! in the seed's layout:
//!
//! ```text
//! session/creds                              the account's credentials
//! session/signal/{type}/{id}                 Signal keys (see keys.rs)
//! contact/{jid}                              a contact (JSON)
//! chat/{jid}                                 a chat (JSON)
//! chat/{jid}/message/{id}                    a WAMessage (JSON)
//! chat/{jid}/message/{id}/content            its media bytes, raw
//! chat/{jid}/timestamp/{inverted}_{id}       the chat's timeline: newest first in key order
//! ```

use std::sync::Arc;

use serde_json::Value;

use crate::creds::AuthenticationCreds;
use crate::engine::{Engine, Write};
use crate::error::{Result, StoreError};
use crate::keys::{EngineKeyStore, parse_value};
use crate::path;

pub const CREDS_PATH: &str = "session/creds";

pub fn contact_path(jid: &str) -> Result<String> {
    Ok(format!("contact/{}", path::jid(jid)?))
}

pub fn chat_path(jid: &str) -> Result<String> {
    Ok(format!("chat/{}", path::jid(jid)?))
}

pub fn message_path(jid: &str, id: &str) -> Result<String> {
    Ok(format!(
        "chat/{}/message/{}",
        path::jid(jid)?,
        path::message_id(id)?
    ))
}

pub fn content_path(jid: &str, id: &str) -> Result<String> {
    Ok(format!("{}/content", message_path(jid, id)?))
}

fn to_bytes(v: &Value) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| StoreError::BadValue(e.to_string()))
}

/// One account's data in one engine.
#[derive(Clone)]
pub struct Store {
    engine: Arc<dyn Engine>,
}

impl Store {
    pub fn new(engine: Arc<dyn Engine>) -> Self {
        Self { engine }
    }

    pub fn engine(&self) -> &Arc<dyn Engine> {
        &self.engine
    }

    /// The Signal key store of this account.
    pub fn keys(&self) -> EngineKeyStore {
        EngineKeyStore::new(self.engine.clone())
    }

    /// The credentials as stored (BufferJSON), or `None` before the first save.
    pub async fn creds_json(&self) -> Result<Option<Value>> {
        self.json(CREDS_PATH).await
    }

    pub async fn creds(&self) -> Result<Option<AuthenticationCreds>> {
        match self.engine.get(CREDS_PATH).await? {
            Some(b) => Ok(Some(AuthenticationCreds::from_json(&b)?)),
            None => Ok(None),
        }
    }

    pub async fn set_creds(&self, creds: &AuthenticationCreds) -> Result<()> {
        self.engine.set(CREDS_PATH, Some(creds.to_json())).await
    }

    pub async fn set_creds_json(&self, creds: &Value) -> Result<()> {
        self.engine.set(CREDS_PATH, Some(to_bytes(creds)?)).await
    }

    async fn json(&self, p: &str) -> Result<Option<Value>> {
        match self.engine.get(p).await? {
            Some(b) => Ok(Some(parse_value(|| p.to_owned(), &b)?)),
            None => Ok(None),
        }
    }

    async fn put_json(&self, p: String, v: Option<&Value>) -> Result<()> {
        let bytes = v.map(to_bytes).transpose()?;
        self.engine.set(&p, bytes).await
    }

    /// Entries directly below `prefix`, in key order, with their last path segment.
    async fn list_json(
        &self,
        prefix: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<(String, Value)>> {
        let paths = self.engine.list(prefix, offset, limit).await?;
        let values = self.engine.get_many(&paths).await?;
        let mut out = Vec::with_capacity(paths.len());
        for (p, v) in paths.iter().zip(values) {
            // Deleted between list and get: skip.
            if let Some(b) = v {
                out.push((path::split(p).1.to_owned(), parse_value(|| p.clone(), &b)?));
            }
        }
        Ok(out)
    }

    pub async fn contact(&self, jid: &str) -> Result<Option<Value>> {
        self.json(&contact_path(jid)?).await
    }

    pub async fn set_contact(&self, jid: &str, v: Option<&Value>) -> Result<()> {
        self.put_json(contact_path(jid)?, v).await
    }

    pub async fn contacts(&self, offset: usize, limit: usize) -> Result<Vec<(String, Value)>> {
        self.list_json("contact", offset, limit).await
    }

    pub async fn chat(&self, jid: &str) -> Result<Option<Value>> {
        self.json(&chat_path(jid)?).await
    }

    pub async fn set_chat(&self, jid: &str, v: Option<&Value>) -> Result<()> {
        self.put_json(chat_path(jid)?, v).await
    }

    pub async fn chats(&self, offset: usize, limit: usize) -> Result<Vec<(String, Value)>> {
        self.list_json("chat", offset, limit).await
    }

    pub async fn message(&self, jid: &str, id: &str) -> Result<Option<Value>> {
        self.json(&message_path(jid, id)?).await
    }

    /// Stores a message's JSON (its content, if any, stays); `None` deletes the message,
    /// its content and its place in the chat's timeline together.
    pub async fn set_message(&self, jid: &str, id: &str, v: Option<&Value>) -> Result<()> {
        match v {
            Some(v) => {
                let mut b = StoreBatch::default();
                b.message(jid, id, v.clone(), None);
                self.write(b).await
            }
            None => {
                let old = self.message(jid, id).await?;
                let mut writes = vec![
                    Write::delete(content_path(jid, id)?),
                    Write::delete(message_path(jid, id)?),
                ];
                if let Some(old) = old {
                    writes.push(Write::delete(timeline_path(jid, id, timestamp_ms(&old))?));
                }
                self.engine.set_many(writes).await
            }
        }
    }

    /// A message and its content in one atomic batch.
    pub async fn put_message_with_content(
        &self,
        jid: &str,
        id: &str,
        v: &Value,
        content: Vec<u8>,
    ) -> Result<()> {
        let mut b = StoreBatch::default();
        b.message(jid, id, v.clone(), Some(content));
        self.write(b).await
    }

    /// Writes a batch of contacts, chats and messages: one read (the previous timestamps
    /// of the messages, to move their place in the timeline; none for messages marked
    /// [`fresh`](MessageRecord::fresh)) and one atomic `set_many`.
    pub async fn write(&self, batch: StoreBatch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut writes =
            Vec::with_capacity(batch.contacts.len() + batch.chats.len() + 3 * batch.messages.len());
        for (jid, v) in &batch.contacts {
            writes.push(Write {
                path: contact_path(jid)?,
                value: v.as_ref().map(to_bytes).transpose()?,
            });
        }
        for (jid, v) in &batch.chats {
            writes.push(Write {
                path: chat_path(jid)?,
                value: v.as_ref().map(to_bytes).transpose()?,
            });
        }
        if !batch.messages.is_empty() {
            let paths = batch
                .messages
                .iter()
                .map(|m| message_path(&m.jid, &m.id))
                .collect::<Result<Vec<_>>>()?;
            // Only what may exist already is read: on a server engine the read is a round
            // trip per message (S3) or per batch (PostgreSQL).
            let unknown: Vec<String> = batch
                .messages
                .iter()
                .zip(&paths)
                .filter(|(m, _)| !m.fresh)
                .map(|(_, p)| p.clone())
                .collect();
            let mut read = if unknown.is_empty() {
                Vec::new()
            } else {
                self.engine.get_many(&unknown).await?
            }
            .into_iter();
            let previous: Vec<Option<Vec<u8>>> = batch
                .messages
                .iter()
                .map(|m| if m.fresh { None } else { read.next().flatten() })
                .collect();
            // The timestamp each message has at this point of the batch (a message written
            // twice in one batch moves once).
            let mut now: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
            for ((m, p), prev) in batch.messages.iter().zip(paths).zip(previous) {
                let ts = timestamp_ms(&m.message);
                let old_ts = match (now.get(&p), prev) {
                    (Some(t), _) => Some(*t),
                    (None, Some(prev)) => Some(timestamp_ms(&parse_value(|| p.clone(), &prev)?)),
                    (None, None) => None,
                };
                if let Some(old_ts) = old_ts
                    && old_ts != ts
                {
                    writes.push(Write::delete(timeline_path(&m.jid, &m.id, old_ts)?));
                }
                now.insert(p.clone(), ts);
                writes.push(Write::put(p, to_bytes(&m.message)?));
                writes.push(Write::put(
                    timeline_path(&m.jid, &m.id, ts)?,
                    (ts / 1000).to_string().into_bytes(),
                ));
                if let Some(c) = &m.content {
                    writes.push(Write::put(content_path(&m.jid, &m.id)?, c.clone()));
                }
            }
        }
        self.engine.set_many(writes).await
    }

    /// Messages of a chat, newest first (by their `messageTimestamp`, then id), with their
    /// ids: a page of the chat's timeline `chat/{jid}/timestamp/{inverted}_{id}`.
    pub async fn messages(
        &self,
        jid: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<(String, Value)>> {
        let line = format!("{}/timestamp", chat_path(jid)?);
        let names = self.engine.list(&line, offset, limit).await?;
        let mut ids = Vec::with_capacity(names.len());
        for n in &names {
            let name = path::split(n).1;
            // `{13 digits}_{id}`; anything else under the timeline is not ours: skip it.
            if let Some((digits, id)) = name.split_once('_')
                && digits.len() == 13
                && digits.bytes().all(|b| b.is_ascii_digit())
            {
                ids.push(id.to_owned());
            }
        }
        let paths = ids
            .iter()
            .map(|id| message_path(jid, id))
            .collect::<Result<Vec<_>>>()?;
        let values = self.engine.get_many(&paths).await?;
        let mut out = Vec::with_capacity(ids.len());
        for ((id, p), v) in ids.into_iter().zip(&paths).zip(values) {
            if let Some(b) = v {
                out.push((id, parse_value(|| p.clone(), &b)?));
            }
        }
        Ok(out)
    }

    pub async fn content(&self, jid: &str, id: &str) -> Result<Option<Vec<u8>>> {
        self.engine.get(&content_path(jid, id)?).await
    }

    pub async fn set_content(&self, jid: &str, id: &str, content: Option<Vec<u8>>) -> Result<()> {
        self.engine.set(&content_path(jid, id)?, content).await
    }
}

/// The largest timestamp (ms) the timeline orders; the seed's `_max_timestamp`.
pub const MAX_TIMESTAMP_MS: u64 = 9_999_999_999_999;

/// `chat/{jid}/timestamp/{MAX_TIMESTAMP_MS - ts, 13 digits}_{id}`: the seed's S3 key that
/// orders a chat's messages newest first in plain key order, on every engine.
pub fn timeline_path(jid: &str, id: &str, ts_ms: u64) -> Result<String> {
    Ok(format!(
        "{}/timestamp/{:013}_{}",
        chat_path(jid)?,
        MAX_TIMESTAMP_MS - ts_ms.min(MAX_TIMESTAMP_MS),
        path::message_id(id)?
    ))
}

/// A WAMessage's `messageTimestamp` (seconds: a number, a numeric string, or protobufjs'
/// Long `{low, high}`) in milliseconds; 0 when it has none.
pub fn timestamp_ms(message: &Value) -> u64 {
    let secs = match message.get("messageTimestamp") {
        Some(Value::Number(n)) => n.as_u64().or_else(|| n.as_f64().map(|f| f.max(0.0) as u64)),
        Some(Value::String(s)) => s.parse::<u64>().ok(),
        Some(Value::Object(o)) => {
            let low = o.get("low").and_then(Value::as_i64).unwrap_or(0) as u32 as u64;
            let high = o.get("high").and_then(Value::as_i64).unwrap_or(0) as u32 as u64;
            Some((high << 32) | low)
        }
        _ => None,
    };
    secs.unwrap_or(0).saturating_mul(1000)
}

/// One message of a [`StoreBatch`].
#[derive(Clone, Debug)]
pub struct MessageRecord {
    pub jid: String,
    pub id: String,
    /// The WAMessage JSON (Baileys' shape; bytes in BufferJSON form).
    pub message: Value,
    /// The message's content (media bytes), kept raw at `.../content`.
    pub content: Option<Vec<u8>>,
    /// The caller knows no earlier version of this message is stored (a message seen for
    /// the first time), so its previous timestamp is not read.
    pub fresh: bool,
}

/// Contacts, chats and messages written together by [`Store::write`] (and merged across
/// callers by [`BatchedStore`]). `None` deletes a contact or chat.
#[derive(Clone, Debug, Default)]
pub struct StoreBatch {
    pub contacts: Vec<(String, Option<Value>)>,
    pub chats: Vec<(String, Option<Value>)>,
    pub messages: Vec<MessageRecord>,
}

impl StoreBatch {
    pub fn contact(&mut self, jid: impl Into<String>, v: Option<Value>) -> &mut Self {
        self.contacts.push((jid.into(), v));
        self
    }

    pub fn chat(&mut self, jid: impl Into<String>, v: Option<Value>) -> &mut Self {
        self.chats.push((jid.into(), v));
        self
    }

    pub fn message(
        &mut self,
        jid: impl Into<String>,
        id: impl Into<String>,
        message: Value,
        content: Option<Vec<u8>>,
    ) -> &mut Self {
        self.messages.push(MessageRecord {
            jid: jid.into(),
            id: id.into(),
            message,
            content,
            fresh: false,
        });
        self
    }

    /// A message seen for the first time ([`MessageRecord::fresh`]): written without reading
    /// an earlier version.
    pub fn fresh_message(
        &mut self,
        jid: impl Into<String>,
        id: impl Into<String>,
        message: Value,
        content: Option<Vec<u8>>,
    ) -> &mut Self {
        self.message(jid, id, message, content);
        if let Some(m) = self.messages.last_mut() {
            m.fresh = true;
        }
        self
    }

    pub fn is_empty(&self) -> bool {
        self.contacts.is_empty() && self.chats.is_empty() && self.messages.is_empty()
    }

    pub fn len(&self) -> usize {
        self.contacts.len() + self.chats.len() + self.messages.len()
    }

    fn append(&mut self, other: StoreBatch) {
        self.contacts.extend(other.contacts);
        self.chats.extend(other.chats);
        self.messages.extend(other.messages);
    }
}

type Pending = (StoreBatch, tokio::sync::oneshot::Sender<Result<()>>);

/// A [`Store`] whose writes from many callers are merged: while one batch is being
/// written, the batches that arrive wait and then go together in one `Store::write` (one
/// read and one transaction or request burst), up to `max_items` records. A burst of 1,000
/// messages is then a handful of round trips, not 1,000. Each caller's `write` resolves
/// once its records are stored; when a merged write fails, each caller's batch is retried
/// alone so one bad record cannot fail the others.
#[derive(Clone)]
pub struct BatchedStore {
    store: Store,
    tx: tokio::sync::mpsc::UnboundedSender<Pending>,
}

impl BatchedStore {
    /// Starts the writer task on the current tokio runtime.
    pub fn new(store: Store, max_items: usize) -> Self {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Pending>();
        let writer = store.clone();
        let max_items = max_items.max(1);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut group = vec![first];
                let mut items = group[0].0.len();
                while items < max_items {
                    match rx.try_recv() {
                        Ok(p) => {
                            items += p.0.len();
                            group.push(p);
                        }
                        Err(_) => break,
                    }
                }
                if group.len() == 1 {
                    let (b, reply) = group.pop().expect("one pending batch");
                    let _ = reply.send(writer.write(b).await);
                    continue;
                }
                let mut merged = StoreBatch::default();
                for (b, _) in &group {
                    merged.append(b.clone());
                }
                match writer.write(merged).await {
                    Ok(()) => {
                        for (_, reply) in group {
                            let _ = reply.send(Ok(()));
                        }
                    }
                    Err(_) => {
                        for (b, reply) in group {
                            let _ = reply.send(writer.write(b).await);
                        }
                    }
                }
            }
        });
        Self { store, tx }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Queues `batch`; resolves once it is stored (or failed).
    pub async fn write(&self, batch: StoreBatch) -> Result<()> {
        let (reply, done) = tokio::sync::oneshot::channel();
        self.tx
            .send((batch, reply))
            .map_err(|_| StoreError::Worker("the store writer stopped".into()))?;
        done.await
            .map_err(|_| StoreError::Worker("the store writer stopped".into()))?
    }
}
