//! Typed access on top of an engine: credentials, Signal keys, contacts, chats, messages.

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

    /// Entries directly below `prefix`, newest first, with their last path segment.
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

    /// Stores a message's JSON; `None` deletes the message and its content together.
    pub async fn set_message(&self, jid: &str, id: &str, v: Option<&Value>) -> Result<()> {
        let p = message_path(jid, id)?;
        match v {
            Some(v) => self.engine.set(&p, Some(to_bytes(v)?)).await,
            None => {
                self.engine
                    .set_many(vec![
                        Write::delete(content_path(jid, id)?),
                        Write::delete(p),
                    ])
                    .await
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
        self.engine
            .set_many(vec![
                Write::put(message_path(jid, id)?, to_bytes(v)?),
                Write::put(content_path(jid, id)?, content),
            ])
            .await
    }

    /// Messages of a chat, newest first.
    pub async fn messages(
        &self,
        jid: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<(String, Value)>> {
        self.list_json(&format!("{}/message", chat_path(jid)?), offset, limit)
            .await
    }

    pub async fn content(&self, jid: &str, id: &str) -> Result<Option<Vec<u8>>> {
        self.engine.get(&content_path(jid, id)?).await
    }

    pub async fn set_content(&self, jid: &str, id: &str, content: Option<Vec<u8>>) -> Result<()> {
        self.engine.set(&content_path(jid, id)?, content).await
    }
}
