//! What the protocol needs from storage: async loads per key type and one atomic commit per
//! operation. `wa-store` (Baileys' typed key store: `get(type, ids)` / `set({type: {id:
//! value|null}})`) and the JS bridges implement these; [`MemoryStore`] is the in-process one.
//!
//! Loads return parsed records; a stored value that does not parse is
//! [`StoreError::Corrupt`], which the operations treat as Baileys does where that heals the
//! session (a new prekey message or bundle replaces it) and report otherwise.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use crate::address::{ProtocolAddress, SenderKeyName};
use crate::error::StoreError;
use crate::group::SenderKeyRecord;
use crate::keys::{KeyPair, LocalIdentity};
use crate::session::SessionRecord;

/// Our identity, and the identity keys we have seen for others (Baileys' `identity-key`).
pub trait IdentityKeyStore: Sync {
    fn local_identity(&self) -> impl Future<Output = Result<LocalIdentity, StoreError>> + Send;
    /// The identity key last seen for a device, as stored (33 bytes with the 0x05 prefix).
    fn remote_identity(
        &self,
        address: &ProtocolAddress,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send;
}

/// Session records by address (Baileys' `session`).
pub trait SessionStore: Sync {
    fn load_session(
        &self,
        address: &ProtocolAddress,
    ) -> impl Future<Output = Result<Option<SessionRecord>, StoreError>> + Send;
}

/// One-time prekeys by id (Baileys' `pre-key`).
pub trait PreKeyStore: Sync {
    fn load_pre_key(
        &self,
        id: u32,
    ) -> impl Future<Output = Result<Option<KeyPair>, StoreError>> + Send;
}

/// Signed prekeys by id (Baileys keeps one, in `creds.signedPreKey`). `id` is what the prekey
/// message names; `None` when it names none.
pub trait SignedPreKeyStore: Sync {
    fn load_signed_pre_key(
        &self,
        id: Option<u32>,
    ) -> impl Future<Output = Result<Option<KeyPair>, StoreError>> + Send;
}

/// Sender-key records by name (Baileys' `sender-key`).
pub trait SenderKeyStore: Sync {
    fn load_sender_key(
        &self,
        name: &SenderKeyName,
    ) -> impl Future<Output = Result<Option<SenderKeyRecord>, StoreError>> + Send;
}

/// Writes everything one operation changed, atomically.
pub trait StoreCommit: Sync {
    fn commit(&self, batch: Batch) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The changes of one operation. `None` deletes.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    pub sessions: Vec<(ProtocolAddress, Option<SessionRecord>)>,
    /// Remote identity keys to remember (as received).
    pub identities: Vec<(ProtocolAddress, Vec<u8>)>,
    /// One-time prekeys consumed.
    pub removed_pre_keys: Vec<u32>,
    pub sender_keys: Vec<(SenderKeyName, Option<SenderKeyRecord>)>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
            && self.identities.is_empty()
            && self.removed_pre_keys.is_empty()
            && self.sender_keys.is_empty()
    }
}

/// Every store trait over in-memory maps.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<MemoryInner>,
}

#[derive(Default)]
struct MemoryInner {
    local: Option<LocalIdentity>,
    signed_pre_keys: HashMap<u32, KeyPair>,
    pre_keys: HashMap<u32, KeyPair>,
    identities: HashMap<ProtocolAddress, Vec<u8>>,
    sessions: HashMap<ProtocolAddress, SessionRecord>,
    sender_keys: HashMap<String, SenderKeyRecord>,
    commits: usize,
}

impl MemoryStore {
    pub fn new(local: LocalIdentity) -> Self {
        let s = Self::default();
        s.lock().local = Some(local);
        s
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryInner> {
        // A panic while holding the lock leaves plain maps behind; keep using them.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn add_signed_pre_key(&self, id: u32, key_pair: KeyPair) {
        self.lock().signed_pre_keys.insert(id, key_pair);
    }

    pub fn add_pre_key(&self, id: u32, key_pair: KeyPair) {
        self.lock().pre_keys.insert(id, key_pair);
    }

    pub fn has_pre_key(&self, id: u32) -> bool {
        self.lock().pre_keys.contains_key(&id)
    }

    pub fn session(&self, address: &ProtocolAddress) -> Option<SessionRecord> {
        self.lock().sessions.get(address).cloned()
    }

    pub fn put_session(&self, address: &ProtocolAddress, record: SessionRecord) {
        self.lock().sessions.insert(address.clone(), record);
    }

    pub fn identity(&self, address: &ProtocolAddress) -> Option<Vec<u8>> {
        self.lock().identities.get(address).cloned()
    }

    pub fn sender_key(&self, name: &SenderKeyName) -> Option<SenderKeyRecord> {
        self.lock().sender_keys.get(&name.to_string()).cloned()
    }

    pub fn put_sender_key(&self, name: &SenderKeyName, record: SenderKeyRecord) {
        self.lock().sender_keys.insert(name.to_string(), record);
    }

    /// How many batches were committed (tests use it to see that failures write nothing).
    pub fn commits(&self) -> usize {
        self.lock().commits
    }
}

impl IdentityKeyStore for MemoryStore {
    async fn local_identity(&self) -> Result<LocalIdentity, StoreError> {
        self.lock()
            .local
            .clone()
            .ok_or_else(|| StoreError::Backend("no local identity".into()))
    }

    async fn remote_identity(
        &self,
        address: &ProtocolAddress,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock().identities.get(address).cloned())
    }
}

impl SessionStore for MemoryStore {
    async fn load_session(
        &self,
        address: &ProtocolAddress,
    ) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self.lock().sessions.get(address).cloned())
    }
}

impl PreKeyStore for MemoryStore {
    async fn load_pre_key(&self, id: u32) -> Result<Option<KeyPair>, StoreError> {
        Ok(self.lock().pre_keys.get(&id).cloned())
    }
}

impl SignedPreKeyStore for MemoryStore {
    async fn load_signed_pre_key(&self, id: Option<u32>) -> Result<Option<KeyPair>, StoreError> {
        Ok(id.and_then(|id| self.lock().signed_pre_keys.get(&id).cloned()))
    }
}

impl SenderKeyStore for MemoryStore {
    async fn load_sender_key(
        &self,
        name: &SenderKeyName,
    ) -> Result<Option<SenderKeyRecord>, StoreError> {
        Ok(self.lock().sender_keys.get(&name.to_string()).cloned())
    }
}

impl StoreCommit for MemoryStore {
    async fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        let mut m = self.lock();
        for (a, r) in batch.sessions {
            match r {
                Some(r) => m.sessions.insert(a, r),
                None => m.sessions.remove(&a),
            };
        }
        for (a, k) in batch.identities {
            m.identities.insert(a, k);
        }
        for id in batch.removed_pre_keys {
            m.pre_keys.remove(&id);
        }
        for (n, r) in batch.sender_keys {
            match r {
                Some(r) => m.sender_keys.insert(n.to_string(), r),
                None => m.sender_keys.remove(&n.to_string()),
            };
        }
        m.commits += 1;
        Ok(())
    }
}
