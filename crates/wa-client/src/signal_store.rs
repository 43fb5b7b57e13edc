//! The Signal store traits over the account's key store.
//!
//! Why here and not in `wa-store` or `wa-signal`: the client is the one place that has both
//! layers and decides what belongs to one unit of work; keeping the adapter here leaves
//! `wa-store` and `wa-signal` independent of each other (neither imports the other). The
//! socket and `makeLibSignalRepository` both run on this adapter. Reads go through the key store handed in (normally a `CachedKeyStore`, so a
//! record read or written once costs nothing the next time); each Signal operation commits its
//! [`Batch`] as **one** atomic `set`, in Baileys' value formats, so the same auth state keeps
//! working with Baileys' own repository.

use std::sync::Arc;

use serde_json::Value;
use wa_signal::store::{
    Batch, IdentityKeyStore, PreKeyStore, SenderKeyStore, SessionStore, SignedPreKeyStore,
    StoreCommit,
};
use wa_signal::{
    KeyPair, LocalIdentity, ProtocolAddress, SenderKeyName, SenderKeyRecord, SessionRecord,
    StoreError,
};
use wa_store::bufferjson;
use wa_store::{KeyChanges, KeyStore, KeyType, KeyWrites, TypedValue};

use crate::ctx::{SharedCreds, lock};

/// The wa-signal store traits over a [`KeyStore`] and the account's credentials.
#[derive(Clone)]
pub struct KeyStoreSignal {
    keys: Arc<dyn KeyStore>,
    creds: SharedCreds,
    /// Our identity key pair, derived from the credentials' private key once: every encrypt
    /// and decrypt asks for it, and deriving the public half is a scalar multiplication
    /// (7-10% of the client's CPU per message before). Derived again if that key changes.
    identity: Arc<std::sync::Mutex<Option<KeyPair>>>,
}

fn backend(e: wa_store::StoreError) -> StoreError {
    StoreError::Backend(format!("{}: {e}", e.code()))
}

fn key32(v: &[u8]) -> Option<[u8; 32]> {
    match v.len() {
        32 => v.try_into().ok(),
        33 if v[0] == 5 => v[1..].try_into().ok(),
        _ => None,
    }
}

/// A Baileys key pair value (`{ public, private }`, BufferJSON).
fn key_pair(v: &Value) -> Option<KeyPair> {
    let public = key32(&bufferjson::bytes(v.get("public")?)?)?;
    let private: [u8; 32] = bufferjson::bytes(v.get("private")?)?.try_into().ok()?;
    Some(KeyPair { private, public })
}

impl KeyStoreSignal {
    pub fn new(keys: Arc<dyn KeyStore>, creds: SharedCreds) -> Self {
        Self {
            keys,
            creds,
            identity: Arc::default(),
        }
    }

    /// The same credentials and derived identity over other keys (one operation's reads).
    pub fn with_keys(&self, keys: Arc<dyn KeyStore>) -> Self {
        Self {
            keys,
            creds: self.creds.clone(),
            identity: self.identity.clone(),
        }
    }

    /// The credentials the store reads (shared: a change is seen by the next operation).
    pub fn creds(&self) -> &SharedCreds {
        &self.creds
    }

    pub fn keys(&self) -> &Arc<dyn KeyStore> {
        &self.keys
    }

    async fn one(&self, ty: KeyType, id: &str) -> Result<Option<Value>, StoreError> {
        let ids = [id.to_owned()];
        let mut m = self.keys.get(ty, &ids).await.map_err(backend)?;
        Ok(m.remove(id).filter(|v| !v.is_null()))
    }
}

impl IdentityKeyStore for KeyStoreSignal {
    async fn local_identity(&self) -> Result<LocalIdentity, StoreError> {
        let (private, registration_id) = {
            let c = lock(&self.creds);
            let private: [u8; 32] = c
                .signed_identity_key
                .private
                .as_slice()
                .try_into()
                .map_err(|_| {
                    StoreError::Backend("creds.signedIdentityKey is not 32 bytes".into())
                })?;
            (private, c.registration_id)
        };
        let mut cached = self
            .identity
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key_pair = match cached.as_ref() {
            Some(k) if k.private == private => k.clone(),
            _ => cached.insert(KeyPair::from_private(private)).clone(),
        };
        Ok(LocalIdentity::new(key_pair, registration_id))
    }

    async fn remote_identity(
        &self,
        address: &ProtocolAddress,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let id = address.id();
        // Read in the cache's tree in place, as a session is (once per message).
        let mut held = None;
        if self.keys.peek(KeyType::IdentityKey, &id, &mut |v| {
            held = v.and_then(bufferjson::bytes);
        }) {
            return Ok(held);
        }
        Ok(self
            .one(KeyType::IdentityKey, &id)
            .await?
            .and_then(|v| bufferjson::bytes(&v)))
    }
}

impl SessionStore for KeyStoreSignal {
    async fn load_session(
        &self,
        address: &ProtocolAddress,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let id = address.id();
        // Written by an earlier operation as a record: taken as it is.
        if let Some(t) = self.keys.peek_typed(KeyType::Session, &id)
            && let Some(s) = (&*t as &dyn std::any::Any).downcast_ref::<StoredSession>()
        {
            return Ok(Some(s.0.clone()));
        }
        let parse =
            |v: &Value| session_from_value(v).map_err(|e| StoreError::Corrupt(e.to_string()));
        // The record is read from the cache's tree in place: copying the tree first cost more
        // than reading it.
        let mut held = None;
        self.keys.peek(KeyType::Session, &id, &mut |v| {
            held = Some(v.filter(|v| !v.is_null()).map(parse).transpose());
        });
        match held {
            Some(r) => r,
            None => self
                .one(KeyType::Session, &id)
                .await?
                .as_ref()
                .map(parse)
                .transpose(),
        }
    }
}

/// A stored session record in any of the forms a key store may hold it: libsignal-node's JSON
/// as text or as a tree, or our binary form as a BufferJSON buffer.
pub(crate) fn session_from_value(
    v: &Value,
) -> Result<SessionRecord, wa_signal::session::RecordFormatError> {
    match v {
        Value::String(s) => SessionRecord::from_json(s),
        other => match bufferjson::bytes(other) {
            Some(b) => SessionRecord::from_stored(&b),
            None => SessionRecord::from_json_value(other),
        },
    }
}

impl PreKeyStore for KeyStoreSignal {
    async fn load_pre_key(&self, id: u32) -> Result<Option<KeyPair>, StoreError> {
        Ok(self
            .one(KeyType::PreKey, &id.to_string())
            .await?
            .and_then(|v| key_pair(&v)))
    }
}

impl SignedPreKeyStore for KeyStoreSignal {
    // Baileys keeps one signed prekey and hands it out whatever id a message names.
    async fn load_signed_pre_key(&self, _: Option<u32>) -> Result<Option<KeyPair>, StoreError> {
        let c = lock(&self.creds);
        let kp = &c.signed_pre_key.key_pair;
        let private: Option<[u8; 32]> = kp.private.as_slice().try_into().ok();
        Ok(private.and_then(|private| {
            Some(KeyPair {
                private,
                public: key32(&kp.public)?,
            })
        }))
    }
}

impl SenderKeyStore for KeyStoreSignal {
    async fn load_sender_key(
        &self,
        name: &SenderKeyName,
    ) -> Result<Option<SenderKeyRecord>, StoreError> {
        let Some(v) = self.one(KeyType::SenderKey, &name.to_string()).await? else {
            return Ok(None);
        };
        let bytes = match &v {
            Value::String(s) => s.as_bytes().to_vec(),
            other => bufferjson::bytes(other)
                .ok_or_else(|| StoreError::Corrupt("sender key is not bytes".into()))?,
        };
        SenderKeyRecord::from_stored(&bytes)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }
}

/// A session record as the key store keeps it: libsignal-node's JSON when stored, the record
/// itself in the cache.
struct StoredSession(SessionRecord);

impl TypedValue for StoredSession {
    fn json_text(&self) -> String {
        self.0.to_json()
    }

    fn json_value(&self) -> Value {
        self.0.to_json_value()
    }
}

/// A Signal batch as one key store write: Baileys' `SignalDataSet`, each session written as
/// a record (see [`TypedValue`]).
pub fn batch_changes(mut batch: Batch) -> KeyChanges {
    let mut typed = Vec::with_capacity(batch.sessions.len());
    let mut deleted = Vec::new();
    for (addr, rec) in std::mem::take(&mut batch.sessions) {
        match rec {
            Some(r) => typed.push((
                KeyType::Session,
                addr.id(),
                std::sync::Arc::new(StoredSession(r)) as std::sync::Arc<dyn TypedValue>,
            )),
            None => deleted.push((addr, None)),
        }
    }
    batch.sessions = deleted;
    KeyChanges {
        values: batch_writes(batch),
        typed,
    }
}

/// A Signal batch as Baileys' `SignalDataSet`.
pub fn batch_writes(batch: Batch) -> KeyWrites {
    let mut w = KeyWrites::new();
    for (addr, rec) in batch.sessions {
        let v = rec.map(|r| r.to_json_value());
        w.entry(KeyType::Session).or_default().insert(addr.id(), v);
    }
    for (addr, key) in batch.identities {
        w.entry(KeyType::IdentityKey)
            .or_default()
            .insert(addr.id(), Some(bufferjson::buffer(&key)));
    }
    for id in batch.removed_pre_keys {
        w.entry(KeyType::PreKey)
            .or_default()
            .insert(id.to_string(), None);
    }
    for (name, rec) in batch.sender_keys {
        w.entry(KeyType::SenderKey).or_default().insert(
            name.to_string(),
            rec.map(|r| bufferjson::buffer(&r.to_json())),
        );
    }
    w
}

/// A Signal batch as Baileys' `SignalDataSet` entries, each value as its JSON text (`None`
/// deletes): a session as libsignal-node's record JSON, bytes as BufferJSON
/// (`{"type":"Buffer","data":"<base64>"}`). The same values as [`batch_writes`], without
/// building JSON trees first (what the binding hands a JavaScript store).
pub fn batch_texts(batch: Batch) -> Vec<(KeyType, String, Option<String>)> {
    let mut out = Vec::new();
    for (addr, rec) in batch.sessions {
        out.push((KeyType::Session, addr.id(), rec.map(|r| r.to_json())));
    }
    for (addr, key) in batch.identities {
        out.push((
            KeyType::IdentityKey,
            addr.id(),
            Some(bufferjson::buffer(&key).to_string()),
        ));
    }
    for id in batch.removed_pre_keys {
        out.push((KeyType::PreKey, id.to_string(), None));
    }
    for (name, rec) in batch.sender_keys {
        out.push((
            KeyType::SenderKey,
            name.to_string(),
            rec.map(|r| bufferjson::buffer(&r.to_json()).to_string()),
        ));
    }
    out
}

/// A stored value handed over as JSON text, for the store adapter: a session record's JSON
/// stays text (the adapter parses it once, as a record, instead of as a JSON tree first);
/// anything else, bytes included, is parsed.
pub fn stored_value(ty: KeyType, text: &str) -> Result<Value, serde_json::Error> {
    let t = text.trim_start();
    if ty == KeyType::Session
        && t.starts_with('{')
        && !t.starts_with("{\"type\"")
        && !t.starts_with("{\"0\"")
    {
        return Ok(Value::String(text.to_owned()));
    }
    serde_json::from_str(text)
}

impl StoreCommit for KeyStoreSignal {
    async fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.keys
            .set_changes_owned(batch_changes(batch))
            .await
            .map_err(backend)
    }
}

/// Signal operations staged for one unit of work: reads see what earlier operations of the
/// unit wrote, commits only collect. The caller writes [`Staged::into_changes`] once, together
/// with whatever else belongs to the unit (a received message's inbox entry), and must hold
/// the protocol's lock of every key it touched until then.
pub struct Staged<'a> {
    base: &'a KeyStoreSignal,
    changes: std::sync::Mutex<Changes>,
}

#[derive(Default)]
struct Changes {
    sessions: foldhash::HashMap<String, (ProtocolAddress, Option<SessionRecord>)>,
    identities: foldhash::HashMap<String, (ProtocolAddress, Vec<u8>)>,
    removed_pre_keys: std::collections::BTreeSet<u32>,
    sender_keys: foldhash::HashMap<String, (SenderKeyName, Option<SenderKeyRecord>)>,
}

impl<'a> Staged<'a> {
    pub fn new(base: &'a KeyStoreSignal) -> Self {
        Self {
            base,
            changes: Default::default(),
        }
    }

    fn changes(&self) -> std::sync::MutexGuard<'_, Changes> {
        self.changes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether any operation committed something.
    pub fn is_empty(&self) -> bool {
        let c = self.changes();
        c.sessions.is_empty()
            && c.identities.is_empty()
            && c.removed_pre_keys.is_empty()
            && c.sender_keys.is_empty()
    }

    /// Everything committed, as one key store write.
    pub fn into_changes(self) -> KeyChanges {
        batch_changes(self.into_batch())
    }

    /// Everything committed, as records.
    pub fn into_batch(self) -> Batch {
        let c = self
            .changes
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Batch {
            sessions: c.sessions.into_values().collect(),
            identities: c.identities.into_values().collect(),
            removed_pre_keys: c.removed_pre_keys.into_iter().collect(),
            sender_keys: c.sender_keys.into_values().collect(),
        }
    }
}

impl IdentityKeyStore for Staged<'_> {
    async fn local_identity(&self) -> Result<LocalIdentity, StoreError> {
        self.base.local_identity().await
    }

    async fn remote_identity(
        &self,
        address: &ProtocolAddress,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let staged = self
            .changes()
            .identities
            .get(&address.id())
            .map(|(_, k)| k.clone());
        match staged {
            Some(k) => Ok(Some(k)),
            None => self.base.remote_identity(address).await,
        }
    }
}

impl SessionStore for Staged<'_> {
    async fn load_session(
        &self,
        address: &ProtocolAddress,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let staged = self
            .changes()
            .sessions
            .get(&address.id())
            .map(|(_, r)| r.clone());
        match staged {
            Some(r) => Ok(r),
            None => self.base.load_session(address).await,
        }
    }
}

impl PreKeyStore for Staged<'_> {
    async fn load_pre_key(&self, id: u32) -> Result<Option<KeyPair>, StoreError> {
        if self.changes().removed_pre_keys.contains(&id) {
            return Ok(None);
        }
        self.base.load_pre_key(id).await
    }
}

impl SignedPreKeyStore for Staged<'_> {
    async fn load_signed_pre_key(&self, id: Option<u32>) -> Result<Option<KeyPair>, StoreError> {
        self.base.load_signed_pre_key(id).await
    }
}

impl SenderKeyStore for Staged<'_> {
    async fn load_sender_key(
        &self,
        name: &SenderKeyName,
    ) -> Result<Option<SenderKeyRecord>, StoreError> {
        let staged = self
            .changes()
            .sender_keys
            .get(&name.to_string())
            .map(|(_, r)| r.clone());
        match staged {
            Some(r) => Ok(r),
            None => self.base.load_sender_key(name).await,
        }
    }
}

impl StoreCommit for Staged<'_> {
    async fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        let mut c = self.changes();
        for (a, r) in batch.sessions {
            c.sessions.insert(a.to_string(), (a, r));
        }
        for (a, k) in batch.identities {
            c.identities.insert(a.to_string(), (a, k));
        }
        c.removed_pre_keys.extend(batch.removed_pre_keys);
        for (n, r) in batch.sender_keys {
            c.sender_keys.insert(n.to_string(), (n, r));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use wa_store::creds::AuthenticationCreds;
    use wa_store::{EngineKeyStore, MemoryEngine};

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn local_identity_is_the_creds_pair_and_follows_a_new_private_key() {
        let creds = AuthenticationCreds::generate();
        let first = creds.signed_identity_key.clone();
        let shared: SharedCreds = Arc::new(Mutex::new(creds));
        let keys: Arc<dyn KeyStore> = Arc::new(EngineKeyStore::new(Arc::new(MemoryEngine::new())));
        let store = KeyStoreSignal::new(keys, shared.clone());
        for _ in 0..2 {
            let id = block_on(store.local_identity()).unwrap();
            assert_eq!(id.key_pair.private.as_slice(), first.private.as_slice());
            assert_eq!(id.key_pair.public.as_slice(), first.public.as_slice());
        }
        // A clone shares the derived pair; a changed private key is derived again.
        let other = AuthenticationCreds::generate().signed_identity_key;
        lock(&shared).signed_identity_key = other.clone();
        let id = block_on(store.clone().local_identity()).unwrap();
        assert_eq!(id.key_pair.private.as_slice(), other.private.as_slice());
        assert_eq!(id.key_pair.public.as_slice(), other.public.as_slice());
        assert_ne!(id.key_pair.public.as_slice(), first.public.as_slice());
    }
}
