//! Baileys' `SignalRepository` for callers outside a socket (the binding's
//! `makeLibSignalRepository`, or a Rust program holding only a key store): the socket's own
//! Signal adapter and LID mappings over any key store, one lock per Signal address, and for
//! each operation one read of everything it needs and one atomic write.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use serde_json::Value;
use wa_signal::protocol::{self, Locks, OwnedLockGuard};
use wa_signal::store::{Batch, SessionStore};
use wa_signal::{
    Decrypted, Encrypted, GroupEncrypted, MessageKind, PreKeyBundle, ProtocolAddress,
    SenderKeyName, SessionRecord,
};
use wa_store::{AuthenticationCreds, BoxFuture, KeyMap, KeyRequest, KeyStore, KeyType, KeyWrites};

use crate::error::ClientError;
use crate::lid::{
    LidMappings, PnToLid, is_hosted_lid_user, is_hosted_pn_user, is_lid_user, is_pn_user,
    loose_decode,
};
use crate::signal_store::{KeyStoreSignal, Staged, batch_writes, stored_value};

/// How long a migrated device is remembered (Baileys: 3 days), and how many at most.
const MIGRATED_TTL: Duration = Duration::from_secs(3 * 24 * 60 * 60);
const MIGRATED_CAP: usize = 100_000;

/// The open session of a device, as `getSessionInfo` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub base_key: Vec<u8>,
    pub registration_id: u32,
}

/// What `validateSession` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionCheck {
    Open,
    /// No record (or an unreadable one, which Baileys' storage treats as none).
    NoSession,
    /// A record without an open session.
    NoOpenSession,
    /// The JID is not a Signal address.
    Invalid,
}

/// `migrateSession`'s counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Migration {
    pub migrated: u32,
    pub skipped: u32,
    pub total: u32,
}

/// The keys one run of an operation may read: what the driver fetched (`None`: fetched and
/// absent). A read of anything else is recorded and fails the run, which the operation then
/// repeats with that key fetched too. Nothing writes here: the run's commit is staged.
struct Fed {
    values: Mutex<HashMap<(KeyType, String), Option<Value>>>,
    misses: Mutex<Vec<(KeyType, String)>>,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl KeyStore for Fed {
    fn get_many<'a>(&'a self, reqs: &'a [KeyRequest]) -> BoxFuture<'a, Vec<KeyMap>> {
        let mut out: Vec<KeyMap> = Vec::with_capacity(reqs.len());
        let mut missed = false;
        {
            let values = locked(&self.values);
            let mut misses = locked(&self.misses);
            for (ty, ids) in reqs {
                let mut m = KeyMap::new();
                for id in ids {
                    match values.get(&(*ty, id.clone())) {
                        Some(Some(v)) => {
                            m.insert(id.clone(), v.clone());
                        }
                        Some(None) => {}
                        None => {
                            misses.push((*ty, id.clone()));
                            missed = true;
                        }
                    }
                }
                out.push(m);
            }
        }
        Box::pin(async move {
            if missed {
                return Err(wa_store::StoreError::Engine {
                    op: "get",
                    message: "a key the operation did not read first".into(),
                });
            }
            Ok(out)
        })
    }

    fn set<'a>(&'a self, _: &'a KeyWrites) -> BoxFuture<'a, ()> {
        Box::pin(async {
            Err(wa_store::StoreError::Engine {
                op: "set",
                message: "an operation's run writes through its staged batch only".into(),
            })
        })
    }
}

/// How often an operation may find it needs a key it did not read first (each such key is
/// read in one more round): far more than any operation needs.
const MAX_ROUNDS: u32 = 8;

/// The Signal work of one repository call.
pub enum Work {
    Encrypt(Vec<u8>),
    Decrypt {
        kind: MessageKind,
        ciphertext: Vec<u8>,
        /// The one-time prekey a prekey message names (read with the session).
        pre_key: Option<u32>,
        now_ms: i64,
    },
    Inject {
        bundle: PreKeyBundle,
        now_ms: i64,
    },
    GroupEncrypt(Vec<u8>),
    GroupDecrypt(Vec<u8>),
    ProcessDistribution(Vec<u8>),
    Distribution,
}

/// What an operation produced.
#[derive(Debug)]
pub enum Outcome {
    Encrypted(Encrypted),
    Decrypted(Decrypted),
    Injected,
    GroupEncrypted(GroupEncrypted),
    /// A group message's plaintext.
    GroupDecrypted(Vec<u8>),
    Processed,
    /// Our distribution message.
    Distribution(Vec<u8>),
}

/// What an [`Operation`] needs from its driver before it can go on.
#[derive(Debug)]
pub enum Step {
    /// A lock another operation holds, or the LID lookup of a phone number: await
    /// [`Operation::wait`], hand the answer to [`Operation::waited`], step again.
    Wait,
    /// Read these keys (one `get_many`) and hand the answer to [`Operation::feed`].
    Read(Vec<KeyRequest>),
    /// Done: write this (one atomic `set`; nothing when empty), then take
    /// [`Operation::finish`]. A failed write leaves the store as it was: drop the operation.
    Write(Batch),
}

/// What [`Operation::wait`] brings back.
pub enum Waited {
    Lock(OwnedLockGuard),
    Resolved(ProtocolAddress),
}

enum Target {
    Session(ProtocolAddress),
    Sender(SenderKeyName),
}

/// One repository call as a state machine without I/O of its own: it names the locks and
/// keys it needs, runs the Signal operation on the values it is handed, and gives back the
/// one write that applies it. [`SignalRepository`] drives it over its key store; the binding
/// drives it from the JavaScript thread over a JavaScript key store, so the store's methods
/// run where they live and the Signal work runs as a plain call in between (no thread
/// round trip per read or write). Locks are taken in order and held until the operation is
/// finished or dropped: the phone-number address first, then the LID one if the mapping read
/// with it moves the session there (an operation entering by LID takes only the LID lock, so
/// this order cannot deadlock).
pub struct Operation {
    locks: Arc<Locks>,
    lids: Arc<LidMappings>,
    signal: KeyStoreSignal,
    work: Work,
    target: Target,
    /// The session's address still needs the LID lookup (a fetcher may be asked).
    unresolved: bool,
    /// A phone-number user whose mapping is read together with the data under its
    /// phone-number address, so an unmapped device costs one read, not two.
    speculate: Option<String>,
    to_lock: std::collections::VecDeque<String>,
    /// The place in the queue of the next lock, taken in `step`.
    waiting: Option<Pin<Box<dyn Future<Output = OwnedLockGuard> + Send>>>,
    guards: Vec<OwnedLockGuard>,
    values: HashMap<(KeyType, String), Option<Value>>,
    asked: Vec<KeyRequest>,
    rounds: u32,
    outcome: Option<Outcome>,
}

/// Requests grouped by type, in first-seen order.
fn grouped(keys: impl IntoIterator<Item = (KeyType, String)>) -> Vec<KeyRequest> {
    let mut out: Vec<KeyRequest> = Vec::new();
    for (ty, id) in keys {
        match out.iter_mut().find(|(t, _)| *t == ty) {
            Some((_, ids)) => {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            None => out.push((ty, vec![id])),
        }
    }
    out
}

impl Operation {
    /// The address (or sender key name) the operation works on, as its lock names it.
    pub fn target(&self) -> String {
        match &self.target {
            Target::Session(a) => a.to_string(),
            Target::Sender(n) => n.to_string(),
        }
    }

    fn reads(&self) -> Vec<(KeyType, String)> {
        let mut out = Vec::new();
        match &self.target {
            Target::Session(a) => {
                let a = a.to_string();
                out.push((KeyType::Session, a.clone()));
                match &self.work {
                    Work::Decrypt { kind, pre_key, .. } => {
                        if *kind == MessageKind::PreKey {
                            out.push((KeyType::IdentityKey, a));
                        }
                        if let Some(id) = pre_key {
                            out.push((KeyType::PreKey, id.to_string()));
                        }
                    }
                    Work::Inject { .. } => out.push((KeyType::IdentityKey, a)),
                    _ => {}
                }
            }
            Target::Sender(n) => out.push((KeyType::SenderKey, n.to_string())),
        }
        if let Some(user) = &self.speculate {
            out.push((KeyType::LidMapping, user.clone()));
        }
        out
    }

    /// What to do next (never blocks, never does I/O). A failure releases the locks.
    pub fn step(&mut self) -> Result<Step, ClientError> {
        let step = self.next();
        if step.is_err() {
            self.release();
        }
        step
    }

    fn next(&mut self) -> Result<Step, ClientError> {
        loop {
            if self.unresolved {
                return Ok(Step::Wait);
            }
            while let Some(key) = self.to_lock.front() {
                if self.waiting.is_some() {
                    return Ok(Step::Wait);
                }
                // Polled here, where the call happens: the lock is taken, or the queue joined
                // in call order (the waiting then happens in `wait`).
                let mut lock = Box::pin(self.locks.lock_owned(key.clone()));
                let mut cx = Context::from_waker(Waker::noop());
                match lock.as_mut().poll(&mut cx) {
                    Poll::Ready(g) => {
                        self.guards.push(g);
                        self.to_lock.pop_front();
                    }
                    Poll::Pending => {
                        self.waiting = Some(lock);
                        return Ok(Step::Wait);
                    }
                }
            }
            let missing = grouped(
                self.reads()
                    .into_iter()
                    .filter(|k| !self.values.contains_key(k)),
            );
            if !missing.is_empty() {
                self.asked = missing.clone();
                return Ok(Step::Read(missing));
            }
            if let Some(user) = self.speculate.take()
                && let Some(Some(Value::String(lid_user))) =
                    self.values.get(&(KeyType::LidMapping, user.clone()))
                && !lid_user.is_empty()
            {
                self.lids.remember(&user, lid_user);
                if let Target::Session(plain) = &self.target
                    && let Some(addr) = self.lids.cached_session_address(plain)
                    && addr != *plain
                {
                    self.to_lock.push_back(addr.to_string());
                    self.target = Target::Session(addr);
                    continue;
                }
            }
            if self.rounds >= MAX_ROUNDS {
                return Err(ClientError::Protocol(
                    "a Signal operation kept asking for keys it had not read".into(),
                ));
            }
            self.rounds += 1;
            return self.run();
        }
    }

    /// Waits for what [`Step::Wait`] named: the next lock, or the LID lookup.
    pub fn wait(&mut self) -> Pin<Box<dyn Future<Output = Result<Waited, ClientError>> + Send>> {
        let lids = self.lids.clone();
        let plain = match (&self.target, self.unresolved) {
            (Target::Session(a), true) => Some(a.clone()),
            _ => None,
        };
        let lock = self.waiting.take();
        Box::pin(async move {
            if let Some(plain) = plain {
                return Ok(Waited::Resolved(lids.session_address(&plain).await?));
            }
            match lock {
                Some(lock) => Ok(Waited::Lock(lock.await)),
                None => Err(ClientError::Protocol(
                    "a Signal operation was awaited with nothing to wait for".into(),
                )),
            }
        })
    }

    pub fn waited(&mut self, w: Waited) {
        match w {
            Waited::Resolved(addr) => {
                self.unresolved = false;
                self.to_lock.push_back(addr.to_string());
                self.target = Target::Session(addr);
            }
            Waited::Lock(g) => {
                if self.to_lock.front().is_some_and(|k| k == g.key()) {
                    self.to_lock.pop_front();
                    self.guards.push(g);
                }
            }
        }
    }

    /// The answer to the last [`Step::Read`] as JSON texts, one per id in request order
    /// (`None`: not stored); see [`stored_value`].
    pub fn feed_texts(&mut self, found: Vec<Option<String>>) -> Result<(), ClientError> {
        let bad = |detail: String| {
            ClientError::Store(Arc::new(wa_store::StoreError::EngineResult {
                op: "get",
                detail,
            }))
        };
        let wanted: usize = self.asked.iter().map(|(_, ids)| ids.len()).sum();
        if found.len() != wanted {
            return Err(bad(format!("{} values for {wanted} keys", found.len())));
        }
        let mut found = found.into_iter();
        for (ty, ids) in std::mem::take(&mut self.asked) {
            for id in ids {
                let v = match found.next().flatten() {
                    Some(text) => {
                        Some(stored_value(ty, &text).map_err(|e| bad(format!("{ty} {id}: {e}")))?)
                            .filter(|v| !v.is_null())
                    }
                    None => None,
                };
                self.values.insert((ty, id), v);
            }
        }
        Ok(())
    }

    /// The answer to the last [`Step::Read`], one map per request (absent ids: not stored).
    pub fn feed(&mut self, found: Vec<KeyMap>) -> Result<(), ClientError> {
        if found.len() != self.asked.len() {
            return Err(ClientError::Store(Arc::new(
                wa_store::StoreError::EngineResult {
                    op: "get",
                    detail: format!("{} answers for {} requests", found.len(), self.asked.len()),
                },
            )));
        }
        for ((ty, ids), mut m) in std::mem::take(&mut self.asked).into_iter().zip(found) {
            for id in ids {
                let v = m.remove(&id).filter(|v| !v.is_null());
                self.values.insert((ty, id), v);
            }
        }
        Ok(())
    }

    fn run(&mut self) -> Result<Step, ClientError> {
        use futures_util::FutureExt;
        let fed = Arc::new(Fed {
            values: Mutex::new(std::mem::take(&mut self.values)),
            misses: Mutex::new(Vec::new()),
        });
        let base = self.signal.with_keys(fed.clone());
        let store = Staged::new(&base);
        let ran = match (&self.work, &self.target) {
            (Work::Encrypt(p), Target::Session(a)) => protocol::encrypt(&store, a, p)
                .now_or_never()
                .map(|r| r.map(Outcome::Encrypted)),
            (
                Work::Decrypt {
                    kind,
                    ciphertext,
                    now_ms,
                    ..
                },
                Target::Session(a),
            ) => protocol::decrypt(&store, a, *kind, ciphertext, *now_ms)
                .now_or_never()
                .map(|r| r.map(Outcome::Decrypted)),
            (Work::Inject { bundle, now_ms }, Target::Session(a)) => {
                protocol::process_bundle(&store, a, bundle, *now_ms)
                    .now_or_never()
                    .map(|r| r.map(|()| Outcome::Injected))
            }
            (Work::GroupEncrypt(p), Target::Sender(n)) => protocol::group_encrypt(&store, n, p)
                .now_or_never()
                .map(|r| r.map(Outcome::GroupEncrypted)),
            (Work::GroupDecrypt(c), Target::Sender(n)) => protocol::group_decrypt(&store, n, c)
                .now_or_never()
                .map(|r| r.map(Outcome::GroupDecrypted)),
            (Work::ProcessDistribution(m), Target::Sender(n)) => {
                protocol::group_process_distribution(&store, n, m)
                    .now_or_never()
                    .map(|r| r.map(|()| Outcome::Processed))
            }
            (Work::Distribution, Target::Sender(n)) => protocol::group_distribution(&store, n)
                .now_or_never()
                .map(|r| r.map(Outcome::Distribution)),
            _ => {
                return Err(ClientError::Protocol(
                    "a Signal operation on the wrong kind of address".into(),
                ));
            }
        };
        let batch = store.into_batch();
        drop(base);
        self.values = std::mem::take(&mut *locked(&fed.values));
        let misses = std::mem::take(&mut *locked(&fed.misses));
        if !misses.is_empty() {
            let reqs = grouped(misses);
            self.asked = reqs.clone();
            return Ok(Step::Read(reqs));
        }
        match ran {
            Some(Ok(outcome)) => {
                self.outcome = Some(outcome);
                Ok(Step::Write(batch))
            }
            Some(Err(e)) => Err(e.into()),
            None => Err(ClientError::Protocol(
                "a Signal operation waited although its keys were all read".into(),
            )),
        }
    }

    /// The outcome, once its write is done; the locks are released.
    pub fn finish(&mut self) -> Result<Outcome, ClientError> {
        self.release();
        self.outcome.take().ok_or_else(|| {
            ClientError::Protocol("a Signal operation was finished before it was done".into())
        })
    }

    /// Gives up: the locks are released, nothing was written by the operation itself.
    pub fn release(&mut self) {
        self.waiting = None;
        self.to_lock.clear();
        self.guards.clear();
    }
}

/// The Signal operations of Baileys' repository over one key store.
pub struct SignalRepository {
    keys: Arc<dyn KeyStore>,
    signal: KeyStoreSignal,
    lids: Arc<LidMappings>,
    locks: Arc<Locks>,
    migrated: Mutex<HashMap<String, Instant>>,
}

fn address(jid: &str) -> Result<ProtocolAddress, ClientError> {
    ProtocolAddress::from_jid(jid).map_err(|k| ClientError::from(k.at(jid)))
}

/// The phone-number user of a PN (or hosted PN) address, whose session may live under a LID.
fn pn_user_of(a: &ProtocolAddress) -> Option<String> {
    let text = a.to_string();
    let name = text.split_once('.')?.0;
    let (user, domain) = name.split_once('_').unwrap_or((name, "0"));
    matches!(domain, "0" | "128").then(|| user.to_owned())
}

fn sender_key(group: &str, author: &str) -> Result<SenderKeyName, ClientError> {
    SenderKeyName::from_jids(group, author).map_err(|k| ClientError::from(k.at(author)))
}

fn unexpected(o: Outcome) -> ClientError {
    ClientError::Protocol(format!("a Signal operation ended with {o:?}"))
}

impl SignalRepository {
    /// `creds` must hold our identity, registration id and signed prekey (Baileys'
    /// `auth.creds`); `fetcher` looks up the LIDs of unknown phone numbers.
    pub fn new(
        keys: Arc<dyn KeyStore>,
        creds: AuthenticationCreds,
        fetcher: Option<Arc<dyn PnToLid>>,
    ) -> Self {
        Self {
            lids: Arc::new(LidMappings::new(keys.clone(), fetcher)),
            signal: KeyStoreSignal::new(keys.clone(), Arc::new(Mutex::new(creds))),
            keys,
            locks: Arc::default(),
            migrated: Mutex::new(HashMap::new()),
        }
    }

    /// The LID mapping store (`repository.lidMapping`).
    pub fn lids(&self) -> &LidMappings {
        &self.lids
    }

    /// Takes in new credentials (the app rotated its signed prekey, say).
    pub fn set_creds(&self, creds: AuthenticationCreds) {
        *crate::ctx::lock(self.signal.creds()) = creds;
    }

    /// Where the session with `jid` lives (`jidToSignalProtocolAddress`, then under the LID
    /// once the mapping is known).
    pub async fn resolve(&self, jid: &str) -> Result<ProtocolAddress, ClientError> {
        self.lids.session_address(&address(jid)?).await
    }

    fn operation(&self, target: Target, work: Work) -> Operation {
        Operation {
            locks: self.locks.clone(),
            lids: self.lids.clone(),
            signal: self.signal.clone(),
            work,
            target,
            unresolved: false,
            speculate: None,
            to_lock: Default::default(),
            waiting: None,
            guards: Vec::new(),
            values: HashMap::new(),
            asked: Vec::new(),
            rounds: 0,
            outcome: None,
        }
    }

    /// An operation on the session with `jid`: under its LID when the mapping is cached;
    /// otherwise, without a fetcher, under its phone-number address with the mapping read
    /// alongside (and the LID taken if it turns up); with a fetcher, after the lookup.
    fn session_operation(&self, jid: &str, work: Work) -> Result<Operation, ClientError> {
        let plain = address(jid)?;
        let mut op = self.operation(Target::Session(plain.clone()), work);
        match self.lids.cached_session_address(&plain) {
            Some(addr) => {
                op.to_lock.push_back(addr.to_string());
                op.target = Target::Session(addr);
            }
            None => match pn_user_of(&plain) {
                Some(user) if !self.lids.has_fetcher() => {
                    op.to_lock.push_back(plain.to_string());
                    op.speculate = Some(user);
                }
                _ => op.unresolved = true,
            },
        }
        Ok(op)
    }

    fn sender_operation(
        &self,
        group: &str,
        author: &str,
        work: Work,
    ) -> Result<Operation, ClientError> {
        let name = sender_key(group, author)?;
        let mut op = self.operation(Target::Sender(name.clone()), work);
        op.to_lock.push_back(name.to_string());
        Ok(op)
    }

    /// `encryptMessage` as an [`Operation`].
    pub fn encrypt_operation(&self, jid: &str, plaintext: &[u8]) -> Result<Operation, ClientError> {
        self.session_operation(jid, Work::Encrypt(plaintext.to_vec()))
    }

    /// `decryptMessage` as an [`Operation`].
    pub fn decrypt_operation(
        &self,
        jid: &str,
        kind: MessageKind,
        ciphertext: &[u8],
        now_ms: i64,
    ) -> Result<Operation, ClientError> {
        let pre_key = match kind {
            MessageKind::PreKey => wa_signal::wire::parse_pre_key(ciphertext)
                .ok()
                .and_then(|f| f.pre_key_id),
            MessageKind::Whisper => None,
        };
        self.session_operation(
            jid,
            Work::Decrypt {
                kind,
                ciphertext: ciphertext.to_vec(),
                pre_key,
                now_ms,
            },
        )
    }

    /// `injectE2ESession` as an [`Operation`].
    pub fn inject_operation(
        &self,
        jid: &str,
        bundle: PreKeyBundle,
        now_ms: i64,
    ) -> Result<Operation, ClientError> {
        self.session_operation(jid, Work::Inject { bundle, now_ms })
    }

    /// `encryptGroupMessage` as an [`Operation`] (`me`: our own JID).
    pub fn group_encrypt_operation(
        &self,
        group: &str,
        me: &str,
        plaintext: &[u8],
    ) -> Result<Operation, ClientError> {
        self.sender_operation(group, me, Work::GroupEncrypt(plaintext.to_vec()))
    }

    /// `decryptGroupMessage` as an [`Operation`].
    pub fn group_decrypt_operation(
        &self,
        group: &str,
        author: &str,
        ciphertext: &[u8],
    ) -> Result<Operation, ClientError> {
        self.sender_operation(group, author, Work::GroupDecrypt(ciphertext.to_vec()))
    }

    /// `processSenderKeyDistributionMessage` as an [`Operation`].
    pub fn process_distribution_operation(
        &self,
        group: &str,
        author: &str,
        message: &[u8],
    ) -> Result<Operation, ClientError> {
        self.sender_operation(group, author, Work::ProcessDistribution(message.to_vec()))
    }

    /// `getSenderKeyDistributionMessage` as an [`Operation`].
    pub fn distribution_operation(&self, group: &str, me: &str) -> Result<Operation, ClientError> {
        self.sender_operation(group, me, Work::Distribution)
    }

    /// Drives an operation over this repository's key store.
    pub async fn run(&self, mut op: Operation) -> Result<Outcome, ClientError> {
        loop {
            match op.step()? {
                Step::Wait => {
                    let w = op.wait().await?;
                    op.waited(w);
                }
                Step::Read(reqs) => {
                    let found = self.keys.get_many(&reqs).await?;
                    op.feed(found)?;
                }
                Step::Write(batch) => {
                    if !batch.is_empty() {
                        let w = batch_writes(batch).map_err(|e| {
                            ClientError::Signal(
                                wa_signal::ErrorKind::Store(e.to_string()).at(op.target()),
                            )
                        })?;
                        self.keys.set(&w).await?;
                    }
                    return op.finish();
                }
            }
        }
    }

    pub async fn decrypt(
        &self,
        jid: &str,
        kind: MessageKind,
        ciphertext: &[u8],
        now_ms: i64,
    ) -> Result<Decrypted, ClientError> {
        match self
            .run(self.decrypt_operation(jid, kind, ciphertext, now_ms)?)
            .await?
        {
            Outcome::Decrypted(d) => Ok(d),
            o => Err(unexpected(o)),
        }
    }

    pub async fn encrypt(&self, jid: &str, plaintext: &[u8]) -> Result<Encrypted, ClientError> {
        match self.run(self.encrypt_operation(jid, plaintext)?).await? {
            Outcome::Encrypted(e) => Ok(e),
            o => Err(unexpected(o)),
        }
    }

    /// Builds a session from a device's prekey bundle (`injectE2ESession`).
    pub async fn inject_session(
        &self,
        jid: &str,
        bundle: &PreKeyBundle,
        now_ms: i64,
    ) -> Result<(), ClientError> {
        match self
            .run(self.inject_operation(jid, bundle.clone(), now_ms)?)
            .await?
        {
            Outcome::Injected => Ok(()),
            o => Err(unexpected(o)),
        }
    }

    pub async fn group_encrypt(
        &self,
        group: &str,
        me: &str,
        plaintext: &[u8],
    ) -> Result<GroupEncrypted, ClientError> {
        match self
            .run(self.group_encrypt_operation(group, me, plaintext)?)
            .await?
        {
            Outcome::GroupEncrypted(g) => Ok(g),
            o => Err(unexpected(o)),
        }
    }

    pub async fn group_decrypt(
        &self,
        group: &str,
        author: &str,
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, ClientError> {
        match self
            .run(self.group_decrypt_operation(group, author, ciphertext)?)
            .await?
        {
            Outcome::GroupDecrypted(p) => Ok(p),
            o => Err(unexpected(o)),
        }
    }

    /// Takes in an author's sender key distribution message.
    pub async fn process_distribution(
        &self,
        group: &str,
        author: &str,
        message: &[u8],
    ) -> Result<(), ClientError> {
        match self
            .run(self.process_distribution_operation(group, author, message)?)
            .await?
        {
            Outcome::Processed => Ok(()),
            o => Err(unexpected(o)),
        }
    }

    /// Our distribution message for a group, creating our sender key on first use.
    pub async fn distribution(&self, group: &str, me: &str) -> Result<Vec<u8>, ClientError> {
        match self.run(self.distribution_operation(group, me)?).await? {
            Outcome::Distribution(d) => Ok(d),
            o => Err(unexpected(o)),
        }
    }

    pub async fn has_sender_key(&self, group: &str, me: &str) -> Result<bool, ClientError> {
        let name = sender_key(group, me)?.to_string();
        let m = self
            .keys
            .get(KeyType::SenderKey, std::slice::from_ref(&name))
            .await?;
        Ok(m.get(&name).is_some_and(|v| !v.is_null()))
    }

    /// The stored record of a device, `None` when missing or unreadable (Baileys' storage
    /// treats an unreadable record as none).
    async fn record(&self, addr: &ProtocolAddress) -> Result<Option<SessionRecord>, ClientError> {
        match self.signal.load_session(addr).await {
            Ok(r) => Ok(r),
            Err(wa_signal::StoreError::Corrupt(_)) => Ok(None),
            Err(e) => Err(ClientError::Signal(
                wa_signal::ErrorKind::Store(e.to_string()).at(addr),
            )),
        }
    }

    /// `getSessionInfo`: the open session's base key and registration id.
    pub async fn session_info(&self, jid: &str) -> Result<Option<SessionInfo>, ClientError> {
        let addr = self.resolve(jid).await?;
        Ok(self.record(&addr).await?.and_then(|r| {
            let open = r.open_session()?;
            Some(SessionInfo {
                base_key: open.index.base_key.clone(),
                registration_id: open.registration_id?,
            })
        }))
    }

    /// `validateSession`.
    pub async fn check_session(&self, jid: &str) -> SessionCheck {
        let Ok(addr) = self.resolve(jid).await else {
            return SessionCheck::Invalid;
        };
        match self.record(&addr).await {
            Ok(Some(r)) if r.has_open_session() => SessionCheck::Open,
            Ok(Some(_)) => SessionCheck::NoOpenSession,
            Ok(None) => SessionCheck::NoSession,
            Err(_) => SessionCheck::Invalid,
        }
    }

    /// `deleteSession`: the sessions of these JIDs' addresses (as written, not resolved).
    pub async fn delete_sessions(&self, jids: &[String]) -> Result<(), ClientError> {
        if jids.is_empty() {
            return Ok(());
        }
        let mut addrs: Vec<String> = jids
            .iter()
            .map(|j| address(j).map(|a| a.to_string()))
            .collect::<Result<_, _>>()?;
        addrs.sort();
        addrs.dedup();
        let mut guards = Vec::with_capacity(addrs.len());
        for a in &addrs {
            guards.push(self.locks.lock(a.clone()).await);
        }
        let mut w = KeyWrites::new();
        let m = w.entry(KeyType::Session).or_default();
        for a in addrs {
            m.insert(a, None);
        }
        Ok(self.keys.set(&w).await?)
    }

    fn was_migrated(&self, key: &str) -> bool {
        let mut m = self.migrated.lock().unwrap_or_else(PoisonError::into_inner);
        match m.get(key) {
            Some(at) if at.elapsed() < MIGRATED_TTL => true,
            Some(_) => {
                m.remove(key);
                false
            }
            None => false,
        }
    }

    fn mark_migrated(&self, key: String) {
        let mut m = self.migrated.lock().unwrap_or_else(PoisonError::into_inner);
        if m.len() >= MIGRATED_CAP {
            m.retain(|_, at| at.elapsed() < MIGRATED_TTL);
            if m.len() >= MIGRATED_CAP {
                m.clear();
            }
        }
        m.insert(key, Instant::now());
    }

    /// `migrateSession(fromJid, toJid)`: moves the open sessions of a phone number's devices
    /// (those in its stored device list, and `from`'s own) to the LID addresses.
    pub async fn migrate_session(&self, from: &str, to: &str) -> Result<Migration, ClientError> {
        if from.is_empty() || !(is_lid_user(to) || is_hosted_lid_user(to)) {
            return Ok(Migration::default());
        }
        if !is_pn_user(from) && !is_hosted_pn_user(from) {
            return Ok(Migration {
                total: 1,
                ..Migration::default()
            });
        }
        let (Some(f), Some(t)) = (loose_decode(from), loose_decode(to)) else {
            return Ok(Migration::default());
        };
        let user = f.user.to_owned();
        let list = self
            .keys
            .get(KeyType::DeviceList, std::slice::from_ref(&user))
            .await?;
        let Some(Value::Array(stored)) = list.get(&user) else {
            return Ok(Migration::default());
        };
        let mut devices: Vec<String> = stored
            .iter()
            .filter_map(|d| match d {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect();
        let from_device = f.device.unwrap_or(0).to_string();
        if !devices.contains(&from_device) {
            devices.push(from_device);
        }
        let ids: Vec<String> = devices
            .iter()
            .filter(|d| !self.was_migrated(&format!("{user}.{d}")))
            .map(|d| format!("{user}.{d}"))
            .collect();
        let existing = self.keys.get(KeyType::Session, &ids).await?;
        // (from address, to address, cache key), in the stored order.
        let mut ops: Vec<(String, String, String)> = Vec::new();
        for id in &ids {
            if existing.get(id).is_none_or(Value::is_null) {
                continue;
            }
            let Some(device) = id.split('.').nth(1).and_then(|d| d.parse::<u64>().ok()) else {
                continue;
            };
            let pn_jid = match device {
                99 => format!("{user}:99@hosted"),
                0 => format!("{user}@s.whatsapp.net"),
                d => format!("{user}:{d}@s.whatsapp.net"),
            };
            let lid_jid = if device == 0 {
                format!("{}@{}", t.user, t.server)
            } else {
                format!("{}:{device}@{}", t.user, t.server)
            };
            ops.push((
                address(&pn_jid)?.to_string(),
                address(&lid_jid)?.to_string(),
                format!("{user}.{device}"),
            ));
        }
        let mut held: Vec<String> = ops
            .iter()
            .flat_map(|(f, t, _)| [f.clone(), t.clone()])
            .collect();
        held.sort();
        held.dedup();
        let mut guards = Vec::with_capacity(held.len());
        for k in &held {
            guards.push(self.locks.lock(k.clone()).await);
        }
        let mut froms: Vec<String> = ops.iter().map(|(f, _, _)| f.clone()).collect();
        froms.dedup();
        let sessions = self.keys.get(KeyType::Session, &froms).await?;
        let mut w = KeyWrites::new();
        let mut count = 0u32;
        for (from_addr, to_addr, _) in &ops {
            let Some(v) = sessions.get(from_addr) else {
                continue;
            };
            let record = match v {
                Value::String(s) => SessionRecord::from_json(s),
                Value::Null => continue,
                other => match wa_store::bufferjson::bytes(other) {
                    Some(b) => SessionRecord::from_stored(&b),
                    None => SessionRecord::from_json(&other.to_string()),
                },
            };
            let record = match record {
                Ok(r) if r.has_open_session() => r,
                Ok(_) => continue,
                Err(_) => {
                    tracing::warn!("skipping an unreadable session record in a migration");
                    continue;
                }
            };
            let json: Value = serde_json::from_str(&record.to_json())
                .map_err(|e| ClientError::Protocol(format!("session record: {e}")))?;
            let m = w.entry(KeyType::Session).or_default();
            m.insert(to_addr.clone(), Some(json));
            m.insert(from_addr.clone(), None);
            count += 1;
        }
        if count > 0 {
            self.keys.set(&w).await?;
            let written = w.get(&KeyType::Session);
            for (_, to_addr, key) in &ops {
                if written.is_some_and(|m| m.get(to_addr).is_some_and(Option::is_some)) {
                    self.mark_migrated(key.clone());
                }
            }
        }
        Ok(Migration {
            migrated: count,
            skipped: ops.len() as u32 - count,
            total: ops.len() as u32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wa_store::{EngineKeyStore, MemoryEngine};

    fn repository() -> SignalRepository {
        let keys: Arc<dyn KeyStore> = Arc::new(EngineKeyStore::new(Arc::new(MemoryEngine::new())));
        SignalRepository::new(keys, AuthenticationCreds::generate(), None)
    }

    const GROUP: &str = "120363040000000001@g.us";
    const ME: &str = "5511000000001@s.whatsapp.net";

    #[test]
    fn an_operation_reads_runs_and_hands_back_one_write() {
        let repo = repository();
        let mut op = repo.distribution_operation(GROUP, ME).unwrap();
        let name = op.target();
        let Step::Read(reqs) = op.step().unwrap() else {
            panic!("the sender key is read first");
        };
        assert_eq!(reqs, vec![(KeyType::SenderKey, vec![name.clone()])]);
        assert_eq!(repo.locks.len(), 1, "the lock is held from the first step");
        // Answered with the wrong number of maps: refused.
        assert!(op.feed(vec![]).is_err());
        op.asked = reqs;
        op.feed(vec![KeyMap::new()]).unwrap();
        let Step::Write(batch) = op.step().unwrap() else {
            panic!("then the operation runs");
        };
        assert_eq!(batch.sender_keys.len(), 1, "a new sender key is written");
        assert_eq!(batch.sender_keys[0].0.to_string(), name);
        assert!(matches!(op.finish().unwrap(), Outcome::Distribution(d) if !d.is_empty()));
        assert!(repo.locks.is_empty(), "finish releases the lock");
    }

    #[test]
    fn a_run_that_misses_a_read_is_discarded_and_repeated() {
        let repo = repository();
        let mut op = repo.distribution_operation(GROUP, ME).unwrap();
        let name = op.target();
        assert!(matches!(op.step().unwrap(), Step::Read(_)));
        op.feed(vec![KeyMap::new()]).unwrap();
        // The run itself meets a key it was not handed: the Fed store records the miss, the
        // result (a created sender key) is dropped, and the key is asked for.
        op.speculate = None;
        op.values.clear();
        op.asked.clear();
        let step = op.run().unwrap();
        let Step::Read(reqs) = step else {
            panic!("a miss asks for the key, whatever the run produced");
        };
        assert_eq!(reqs, vec![(KeyType::SenderKey, vec![name])]);
        assert!(op.outcome.is_none());
        // An operation that keeps missing gives up with an error (and releases its lock).
        op.feed(vec![KeyMap::new()]).unwrap();
        op.rounds = MAX_ROUNDS;
        assert!(op.step().is_err());
        assert!(repo.locks.is_empty());
    }

    #[test]
    fn a_second_operation_on_the_address_waits_and_a_dropped_one_frees_its_place() {
        let repo = repository();
        let mut first = repo.distribution_operation(GROUP, ME).unwrap();
        assert!(matches!(first.step().unwrap(), Step::Read(_)));
        let mut second = repo.distribution_operation(GROUP, ME).unwrap();
        assert!(matches!(second.step().unwrap(), Step::Wait));
        let mut third = repo.distribution_operation(GROUP, ME).unwrap();
        assert!(matches!(third.step().unwrap(), Step::Wait));
        // The second gives up while queued: the third is next.
        drop(second);
        first.release();
        let waited = futures_util::FutureExt::now_or_never(third.wait())
            .expect("the lock passed to the third")
            .unwrap();
        third.waited(waited);
        assert!(matches!(third.step().unwrap(), Step::Read(_)));
        third.release();
        drop(third);
        drop(first);
        assert!(repo.locks.is_empty());
    }
}
