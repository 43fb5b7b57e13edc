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
use crate::signal_store::{KeyStoreSignal, Staged, batch_writes, session_from_value, stored_value};

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

mod operation;
#[cfg(test)]
mod tests;

use operation::*;
pub use operation::{Operation, Outcome, Step, Waited, Work};

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
                op.to_lock.push_back(addr.id());
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
                        self.keys.set(&batch_writes(batch)).await?;
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
                base_key: open.index.base_key.to_vec(),
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
            if v.is_null() {
                continue;
            }
            let record = session_from_value(v);
            let record = match record {
                Ok(r) if r.has_open_session() => r,
                Ok(_) => continue,
                Err(_) => {
                    tracing::warn!("skipping an unreadable session record in a migration");
                    continue;
                }
            };
            let m = w.entry(KeyType::Session).or_default();
            m.insert(to_addr.clone(), Some(record.to_json_value()));
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
