//! The operations Baileys' `SignalRepository` offers, over the store traits: each loads what it
//! needs, works on the records in memory, and commits one batch only when it succeeds, so a
//! failed decryption never leaves a half-changed session behind.
//!
//! These functions do not serialise callers; [`SignalProtocol`] does, with one lock per address
//! (or sender key name), so two operations on one session never interleave.

use std::sync::{Arc, Mutex};

use tracing::{debug, warn};

use crate::address::{ProtocolAddress, SenderKeyName};
use crate::error::{ErrorKind, SignalError, StoreError};
use crate::group::{self, SenderKeyRecord};
use crate::keys::{LocalIdentity, PreKeyBundle, public_key};
use crate::session::{self, Encrypted, MessageKind, PreKeyMaterial, SessionRecord};
use crate::store::{
    Batch, IdentityKeyStore, PreKeyStore, SenderKeyStore, SessionStore, SignedPreKeyStore,
    StoreCommit,
};
use crate::wire::parse_pre_key;

/// Every store trait at once.
pub trait SignalStore:
    IdentityKeyStore + SessionStore + PreKeyStore + SignedPreKeyStore + SenderKeyStore + StoreCommit
{
}
impl<T> SignalStore for T where
    T: IdentityKeyStore
        + SessionStore
        + PreKeyStore
        + SignedPreKeyStore
        + SenderKeyStore
        + StoreCommit
{
}

/// A decrypted 1:1 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decrypted {
    pub plaintext: Vec<u8>,
    /// A prekey message came with another identity key than the one we knew: the old
    /// sessions were dropped and the new identity stored (Baileys logs this).
    pub identity_changed: bool,
}

/// A group message and the distribution message its readers need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEncrypted {
    pub ciphertext: Vec<u8>,
    pub distribution: Vec<u8>,
}

fn store_err(address: &impl std::fmt::Display) -> impl Fn(StoreError) -> SignalError + '_ {
    move |e| e.into_kind().at(address)
}

/// Whether two identity keys name the same key (33-byte and bare 32-byte forms compare equal).
fn same_identity(a: &[u8], b: &[u8]) -> bool {
    match (public_key(a, ""), public_key(b, "")) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// A session record to build on: a corrupt one is replaced, as Baileys (whose load swallows the
/// parse error) replaces it when a new session comes in.
async fn record_or_new<S: SessionStore>(
    store: &S,
    address: &ProtocolAddress,
) -> Result<SessionRecord, SignalError> {
    match store.load_session(address).await {
        Ok(r) => Ok(r.unwrap_or_default()),
        Err(StoreError::Corrupt(why)) => {
            warn!(%why, "replacing an unreadable session record");
            Ok(SessionRecord::new())
        }
        Err(e) => Err(store_err(address)(e)),
    }
}

/// Encrypts for a device with its open session (`encryptMessage`).
pub async fn encrypt<S>(
    store: &S,
    address: &ProtocolAddress,
    plaintext: &[u8],
) -> Result<Encrypted, SignalError>
where
    S: IdentityKeyStore + SessionStore + StoreCommit,
{
    let err = store_err(address);
    let local = store.local_identity().await.map_err(&err)?;
    let mut record = store
        .load_session(address)
        .await
        .map_err(&err)?
        .ok_or_else(|| ErrorKind::NoSession("No session record").at(address))?;
    let out = session::encrypt(&mut record, &local, plaintext).map_err(|k| k.at(address))?;
    let batch = Batch {
        sessions: vec![(address.clone(), Some(record))],
        ..Batch::default()
    };
    store.commit(batch).await.map_err(&err)?;
    Ok(out)
}

/// Decrypts a `pkmsg` or `msg` from a device (`decryptMessage`).
pub async fn decrypt<S>(
    store: &S,
    address: &ProtocolAddress,
    kind: MessageKind,
    ciphertext: &[u8],
    now: i64,
) -> Result<Decrypted, SignalError>
where
    S: IdentityKeyStore + SessionStore + PreKeyStore + SignedPreKeyStore + StoreCommit,
{
    let err = store_err(address);
    let local = store.local_identity().await.map_err(&err)?;
    let mut batch = Batch::default();
    let mut identity_changed = false;
    let plaintext = match kind {
        MessageKind::Whisper => {
            let mut record = store
                .load_session(address)
                .await
                .map_err(&err)?
                .ok_or_else(|| ErrorKind::NoSession("No session record").at(address))?;
            let plaintext = session::decrypt_whisper(&mut record, &local, ciphertext, now)
                .map_err(|k| k.at(address))?;
            batch.sessions.push((address.clone(), Some(record)));
            plaintext
        }
        MessageKind::PreKey => {
            let frame = parse_pre_key(ciphertext).map_err(|k| k.at(address))?;
            let known = store.remote_identity(address).await.map_err(&err)?;
            identity_changed = known
                .as_deref()
                .is_some_and(|k| !same_identity(k, &frame.identity_key));
            let mut record = if identity_changed {
                debug!("identity key changed; starting over");
                SessionRecord::new()
            } else {
                record_or_new(store, address).await?
            };
            let (pre_key, signed) = if session::needs_new_session(&record, &frame) {
                let pre = match frame.pre_key_id {
                    Some(id) => store.load_pre_key(id).await.map_err(&err)?,
                    None => None,
                };
                let signed = store
                    .load_signed_pre_key(frame.signed_pre_key_id)
                    .await
                    .map_err(&err)?;
                (pre, signed)
            } else {
                (None, None)
            };
            let keys = PreKeyMaterial {
                pre_key: pre_key.as_ref(),
                signed_pre_key: signed.as_ref(),
            };
            let (plaintext, used) =
                session::decrypt_pre_key(&mut record, &local, &frame, keys, now)
                    .map_err(|k| k.at(address))?;
            batch.sessions.push((address.clone(), Some(record)));
            if known
                .as_deref()
                .is_none_or(|k| !same_identity(k, &frame.identity_key))
            {
                batch
                    .identities
                    .push((address.clone(), frame.identity_key.clone()));
            }
            batch.removed_pre_keys.extend(used);
            plaintext
        }
    };
    store.commit(batch).await.map_err(&err)?;
    Ok(Decrypted {
        plaintext,
        identity_changed,
    })
}

/// Builds a session from a device's prekey bundle (`injectE2ESession`). A bundle with another
/// identity than the one we knew replaces the old sessions; the identity is remembered.
pub async fn process_bundle<S>(
    store: &S,
    address: &ProtocolAddress,
    bundle: &PreKeyBundle,
    now: i64,
) -> Result<(), SignalError>
where
    S: IdentityKeyStore + SessionStore + StoreCommit,
{
    let err = store_err(address);
    let local = store.local_identity().await.map_err(&err)?;
    let known = store.remote_identity(address).await.map_err(&err)?;
    let record = record_or_new(store, address).await?;
    let (record, identity) =
        start_session(record, known.as_deref(), &local, bundle, now).map_err(|k| k.at(address))?;
    let batch = Batch {
        sessions: vec![(address.clone(), Some(record))],
        identities: identity
            .map(|i| vec![(address.clone(), i)])
            .unwrap_or_default(),
        ..Batch::default()
    };
    store.commit(batch).await.map_err(&err)
}

/// A session started from `bundle` on the device's `record`: a bundle with another identity
/// than the `known` one starts a fresh record. Also the identity to remember, when it is new.
fn start_session(
    record: SessionRecord,
    known: Option<&[u8]>,
    local: &LocalIdentity,
    bundle: &PreKeyBundle,
    now: i64,
) -> Result<(SessionRecord, Option<Vec<u8>>), ErrorKind> {
    let changed = known.is_some_and(|k| !same_identity(k, &bundle.identity_key));
    let mut record = if changed {
        SessionRecord::new()
    } else {
        record
    };
    session::init_outgoing(&mut record, local, bundle, now)?;
    let identity = (known.is_none() || changed).then(|| bundle.identity_key.clone());
    Ok((record, identity))
}

/// One device of a fan-out, as read from the store: its session record, the identity we knew
/// for it, and the bundle to start a session from when it has no open session.
#[derive(Debug, Clone)]
pub struct FanOutDevice {
    pub address: ProtocolAddress,
    pub record: SessionRecord,
    pub known_identity: Option<Vec<u8>>,
    pub bundle: Option<PreKeyBundle>,
}

/// What one device of a fan-out gives: the ciphertext, and what to write for it.
#[derive(Debug, Clone)]
pub struct FanOutResult {
    pub address: ProtocolAddress,
    pub encrypted: Encrypted,
    pub record: SessionRecord,
    /// A remote identity to remember (a session was started with a new one).
    pub identity: Option<Vec<u8>>,
}

/// The pure part of sending to many devices: for one device, a session started from its
/// bundle when given, then `plaintext` encrypted with the open session. No store is touched,
/// so a caller holding the devices' locks may run many of these on several threads and
/// commit everything at once ([`fan_out_batch`]).
pub fn fan_out_one(
    local: &LocalIdentity,
    device: FanOutDevice,
    plaintext: &[u8],
    now: i64,
) -> Result<FanOutResult, SignalError> {
    let FanOutDevice {
        address,
        record,
        known_identity,
        bundle,
    } = device;
    let (mut record, identity) = match &bundle {
        Some(b) => start_session(record, known_identity.as_deref(), local, b, now)
            .map_err(|k| k.at(&address))?,
        None => (record, None),
    };
    let encrypted = session::encrypt(&mut record, local, plaintext).map_err(|k| k.at(&address))?;
    Ok(FanOutResult {
        address,
        encrypted,
        record,
        identity,
    })
}

/// The writes of a fan-out, in one batch.
pub fn fan_out_batch(results: &[FanOutResult]) -> Batch {
    let mut batch = Batch::default();
    for r in results {
        batch
            .sessions
            .push((r.address.clone(), Some(r.record.clone())));
        if let Some(i) = &r.identity {
            batch.identities.push((r.address.clone(), i.clone()));
        }
    }
    batch
}

/// A device's record and known identity for a fan-out: a missing or unreadable record reads
/// as empty (it is replaced, as in [`process_bundle`]).
pub async fn fan_out_device<S>(
    store: &S,
    address: ProtocolAddress,
    bundle: Option<PreKeyBundle>,
) -> Result<FanOutDevice, SignalError>
where
    S: IdentityKeyStore + SessionStore,
{
    let record = record_or_new(store, &address).await?;
    let known_identity = store
        .remote_identity(&address)
        .await
        .map_err(store_err(&address))?;
    Ok(FanOutDevice {
        address,
        record,
        known_identity,
        bundle,
    })
}

async fn sender_record<S: SenderKeyStore>(
    store: &S,
    name: &SenderKeyName,
) -> Result<SenderKeyRecord, SignalError> {
    Ok(store
        .load_sender_key(name)
        .await
        .map_err(store_err(name))?
        .unwrap_or_default())
}

async fn commit_sender_key<S: StoreCommit>(
    store: &S,
    name: &SenderKeyName,
    record: SenderKeyRecord,
) -> Result<(), SignalError> {
    let batch = Batch {
        sender_keys: vec![(name.clone(), Some(record))],
        ..Batch::default()
    };
    store.commit(batch).await.map_err(store_err(name))
}

/// Encrypts a group message with our sender key in the group, creating it on first use
/// (`encryptGroupMessage`). `name` is our own sender key name in the group.
pub async fn group_encrypt<S>(
    store: &S,
    name: &SenderKeyName,
    plaintext: &[u8],
) -> Result<GroupEncrypted, SignalError>
where
    S: SenderKeyStore + StoreCommit,
{
    let mut record = sender_record(store, name).await?;
    let distribution = group::distribution_message(&mut record);
    let ciphertext = group::encrypt(&mut record, plaintext).map_err(|k| k.at(name))?;
    commit_sender_key(store, name, record).await?;
    Ok(GroupEncrypted {
        ciphertext,
        distribution,
    })
}

/// Our distribution message for a group, creating our sender key on first use
/// (`getSenderKeyDistributionMessage`).
pub async fn group_distribution<S>(store: &S, name: &SenderKeyName) -> Result<Vec<u8>, SignalError>
where
    S: SenderKeyStore + StoreCommit,
{
    let mut record = sender_record(store, name).await?;
    let created = record.is_empty();
    let distribution = group::distribution_message(&mut record);
    if created {
        commit_sender_key(store, name, record).await?;
    }
    Ok(distribution)
}

/// Decrypts a group message from the sender `name` (`decryptGroupMessage`).
pub async fn group_decrypt<S>(
    store: &S,
    name: &SenderKeyName,
    ciphertext: &[u8],
) -> Result<Vec<u8>, SignalError>
where
    S: SenderKeyStore + StoreCommit,
{
    let mut record = sender_record(store, name).await?;
    let plaintext = group::decrypt(&mut record, ciphertext).map_err(|k| k.at(name))?;
    commit_sender_key(store, name, record).await?;
    Ok(plaintext)
}

/// Takes in a sender's distribution message (`processSenderKeyDistributionMessage`). An
/// unreadable stored record is replaced: the message carries everything the new one needs.
pub async fn group_process_distribution<S>(
    store: &S,
    name: &SenderKeyName,
    message: &[u8],
) -> Result<(), SignalError>
where
    S: SenderKeyStore + StoreCommit,
{
    let mut record = match store.load_sender_key(name).await {
        Ok(r) => r.unwrap_or_default(),
        Err(StoreError::Corrupt(why)) => {
            warn!(%why, "replacing an unreadable sender key record");
            SenderKeyRecord::new()
        }
        Err(e) => return Err(store_err(name)(e)),
    };
    group::process_distribution(&mut record, message).map_err(|k| k.at(name))?;
    commit_sender_key(store, name, record).await
}

/// One async lock per key (an address or a sender key name); entries go away when unused.
#[derive(Default)]
pub struct Locks {
    map: Mutex<foldhash::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Holds a key's lock until dropped.
pub struct LockGuard<'a> {
    locks: &'a Locks,
    key: String,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Locks {
    fn map(
        &self,
    ) -> std::sync::MutexGuard<'_, foldhash::HashMap<String, Arc<tokio::sync::Mutex<()>>>> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub async fn lock(&self, key: String) -> LockGuard<'_> {
        let m = self.map().entry(key.clone()).or_default().clone();
        let guard = m.lock_owned().await;
        LockGuard {
            locks: self,
            key,
            guard: Some(guard),
        }
    }

    /// Waits for the lock of `key`; the guard owns a handle to these locks, so it can live in
    /// a value that outlives the borrow (an operation object handed to JavaScript). The
    /// future is `'static`: poll it once where the call happens (with any waker) and it takes
    /// the lock if free or joins the queue right then, so locks are granted in call order
    /// even when the waiting itself happens elsewhere.
    pub fn lock_owned(
        self: &Arc<Self>,
        key: String,
    ) -> impl Future<Output = OwnedLockGuard> + Send + 'static {
        let locks = self.clone();
        let m = self.map().entry(key.clone()).or_default().clone();
        async move {
            let guard = m.lock_owned().await;
            OwnedLockGuard {
                locks,
                key,
                guard: Some(guard),
            }
        }
    }

    /// Drops a key's entry once nobody holds or waits for it.
    fn release(&self, key: &str) {
        let mut map = self.map();
        if map.get(key).is_some_and(|m| Arc::strong_count(m) == 1) {
            map.remove(key);
        }
    }

    /// Keys currently locked or waited for.
    pub fn len(&self) -> usize {
        self.map().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        self.locks.release(&self.key);
    }
}

/// Holds a key's lock until dropped, owning a handle to its [`Locks`].
pub struct OwnedLockGuard {
    locks: Arc<Locks>,
    key: String,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl OwnedLockGuard {
    /// The key held.
    pub fn key(&self) -> &str {
        &self.key
    }
}

impl Drop for OwnedLockGuard {
    fn drop(&mut self) {
        drop(self.guard.take());
        self.locks.release(&self.key);
    }
}

/// The operations with per-address serialisation, over one store.
pub struct SignalProtocol<S> {
    store: S,
    locks: Locks,
}

impl<S: SignalStore> SignalProtocol<S> {
    pub fn new(store: S) -> Self {
        Self {
            store,
            locks: Locks::default(),
        }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub async fn encrypt(
        &self,
        address: &ProtocolAddress,
        plaintext: &[u8],
    ) -> Result<Encrypted, SignalError> {
        let _g = self.locks.lock(address.id()).await;
        encrypt(&self.store, address, plaintext).await
    }

    pub async fn decrypt(
        &self,
        address: &ProtocolAddress,
        kind: MessageKind,
        ciphertext: &[u8],
        now: i64,
    ) -> Result<Decrypted, SignalError> {
        let _g = self.locks.lock(address.id()).await;
        decrypt(&self.store, address, kind, ciphertext, now).await
    }

    pub async fn process_bundle(
        &self,
        address: &ProtocolAddress,
        bundle: &PreKeyBundle,
        now: i64,
    ) -> Result<(), SignalError> {
        let _g = self.locks.lock(address.id()).await;
        process_bundle(&self.store, address, bundle, now).await
    }

    pub async fn group_encrypt(
        &self,
        name: &SenderKeyName,
        plaintext: &[u8],
    ) -> Result<GroupEncrypted, SignalError> {
        let _g = self.locks.lock(name.to_string()).await;
        group_encrypt(&self.store, name, plaintext).await
    }

    pub async fn group_decrypt(
        &self,
        name: &SenderKeyName,
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, SignalError> {
        let _g = self.locks.lock(name.to_string()).await;
        group_decrypt(&self.store, name, ciphertext).await
    }

    pub async fn group_distribution(&self, name: &SenderKeyName) -> Result<Vec<u8>, SignalError> {
        let _g = self.locks.lock(name.to_string()).await;
        group_distribution(&self.store, name).await
    }

    pub async fn group_process_distribution(
        &self,
        name: &SenderKeyName,
        message: &[u8],
    ) -> Result<(), SignalError> {
        let _g = self.locks.lock(name.to_string()).await;
        group_process_distribution(&self.store, name, message).await
    }

    /// Takes the lock of one key (an address's `to_string()` or a sender key name's) for work
    /// that calls the free functions of this module itself, for example a caller that stages
    /// several operations and commits them in one batch of its own: it must hold every key it
    /// touches until that batch is written, or a concurrent operation could read the state from
    /// before it.
    pub async fn lock(&self, key: String) -> LockGuard<'_> {
        self.locks.lock(key).await
    }

    /// Keys locked right now (tests check that locks do not pile up).
    pub fn locked_keys(&self) -> usize {
        self.locks.len()
    }
}
