//! Baileys' `SignalRepository` for callers outside a socket (the binding's
//! `makeLibSignalRepository`, or a Rust program holding only a key store): the socket's own
//! Signal adapter and LID mappings over any key store, one lock per Signal address, and for
//! each operation one read of everything it needs and one atomic write.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;
use wa_signal::protocol::{self, LockGuard, Locks};
use wa_signal::store::SessionStore;
use wa_signal::{
    Decrypted, Encrypted, GroupEncrypted, MessageKind, PreKeyBundle, ProtocolAddress,
    SenderKeyName, SessionRecord,
};
use wa_store::{AuthenticationCreds, BoxFuture, KeyMap, KeyRequest, KeyStore, KeyType, KeyWrites};

use crate::ctx::SharedCreds;
use crate::error::ClientError;
use crate::lid::{
    LidMappings, PnToLid, is_hosted_lid_user, is_hosted_pn_user, is_lid_user, is_pn_user,
    loose_decode,
};
use crate::signal_store::KeyStoreSignal;

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

/// A key store whose answers for the keys an operation needs were fetched in one read; other
/// reads go through, writes go through and are remembered.
struct Prefetched {
    inner: Arc<dyn KeyStore>,
    seen: Mutex<HashMap<(KeyType, String), Option<Value>>>,
}

impl Prefetched {
    async fn load(inner: Arc<dyn KeyStore>, reqs: Vec<KeyRequest>) -> Result<Self, ClientError> {
        let mut seen = HashMap::new();
        let reqs: Vec<KeyRequest> = reqs
            .into_iter()
            .filter(|(_, ids)| !ids.is_empty())
            .collect();
        if !reqs.is_empty() {
            let got = inner.get_many(&reqs).await?;
            for ((ty, ids), mut m) in reqs.into_iter().zip(got) {
                for id in ids {
                    let v = m.remove(&id);
                    seen.insert((ty, id), v);
                }
            }
        }
        Ok(Self {
            inner,
            seen: Mutex::new(seen),
        })
    }
}

impl KeyStore for Prefetched {
    fn get_many<'a>(&'a self, reqs: &'a [KeyRequest]) -> BoxFuture<'a, Vec<KeyMap>> {
        Box::pin(async move {
            let mut out: Vec<KeyMap> = Vec::with_capacity(reqs.len());
            let mut misses: Vec<(usize, KeyRequest)> = Vec::new();
            {
                let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
                for (i, (ty, ids)) in reqs.iter().enumerate() {
                    let mut m = KeyMap::new();
                    let mut miss = Vec::new();
                    for id in ids {
                        match seen.get(&(*ty, id.clone())) {
                            Some(Some(v)) => {
                                m.insert(id.clone(), v.clone());
                            }
                            Some(None) => {}
                            None => miss.push(id.clone()),
                        }
                    }
                    if !miss.is_empty() {
                        misses.push((i, (*ty, miss)));
                    }
                    out.push(m);
                }
            }
            if !misses.is_empty() {
                let wanted: Vec<KeyRequest> = misses.iter().map(|(_, r)| r.clone()).collect();
                for ((i, _), m) in misses.iter().zip(self.inner.get_many(&wanted).await?) {
                    out[*i].extend(m);
                }
            }
            Ok(out)
        })
    }

    fn set<'a>(&'a self, writes: &'a KeyWrites) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.inner.set(writes).await?;
            let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
            for (ty, ids) in writes {
                for (id, v) in ids {
                    seen.insert((*ty, id.clone()), v.clone());
                }
            }
            Ok(())
        })
    }
}

/// The Signal operations of Baileys' repository over one key store.
pub struct SignalRepository {
    keys: Arc<dyn KeyStore>,
    creds: SharedCreds,
    lids: LidMappings,
    locks: Locks,
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

impl SignalRepository {
    /// `creds` must hold our identity, registration id and signed prekey (Baileys'
    /// `auth.creds`); `fetcher` looks up the LIDs of unknown phone numbers.
    pub fn new(
        keys: Arc<dyn KeyStore>,
        creds: AuthenticationCreds,
        fetcher: Option<Arc<dyn PnToLid>>,
    ) -> Self {
        Self {
            lids: LidMappings::new(keys.clone(), fetcher),
            keys,
            creds: Arc::new(Mutex::new(creds)),
            locks: Locks::default(),
            migrated: Mutex::new(HashMap::new()),
        }
    }

    /// The LID mapping store (`repository.lidMapping`).
    pub fn lids(&self) -> &LidMappings {
        &self.lids
    }

    /// Takes in new credentials (the app rotated its signed prekey, say).
    pub fn set_creds(&self, creds: AuthenticationCreds) {
        *crate::ctx::lock(&self.creds) = creds;
    }

    async fn store(&self, reqs: Vec<KeyRequest>) -> Result<KeyStoreSignal, ClientError> {
        let pre = Prefetched::load(self.keys.clone(), reqs).await?;
        Ok(KeyStoreSignal::new(Arc::new(pre), self.creds.clone()))
    }

    /// Where the session with `jid` lives (`jidToSignalProtocolAddress`, then under the LID
    /// once the mapping is known).
    pub async fn resolve(&self, jid: &str) -> Result<ProtocolAddress, ClientError> {
        self.lids.session_address(&address(jid)?).await
    }

    /// Resolves `jid`, takes its lock, and reads what `reqs(address)` names, in as few store
    /// round trips as it can: for a phone-number address whose mapping is not cached (and no
    /// fetcher could find one), the mapping is read together with the data under the
    /// phone-number address, so an unmapped device costs one read, not two.
    async fn prepare(
        &self,
        jid: &str,
        reqs: impl Fn(&ProtocolAddress) -> Vec<KeyRequest>,
    ) -> Result<(ProtocolAddress, Vec<LockGuard<'_>>, KeyStoreSignal), ClientError> {
        let plain = address(jid)?;
        let pn_user = pn_user_of(&plain);
        let speculate = match &pn_user {
            Some(u) => !self.lids.has_fetcher() && self.lids.cached_lid_user(u).is_none(),
            None => false,
        };
        if !speculate {
            let addr = self.lids.session_address(&plain).await?;
            let guard = self.locks.lock(addr.to_string()).await;
            let store = self.store(reqs(&addr)).await?;
            return Ok((addr, vec![guard], store));
        }
        let user = pn_user.unwrap_or_default();
        // Locks: the phone-number address first, then the LID one if it turns out to differ
        // (an operation entering by LID takes only the LID lock, so this order cannot deadlock).
        let mut guards = vec![self.locks.lock(plain.to_string()).await];
        let mut wanted = reqs(&plain);
        wanted.push((KeyType::LidMapping, vec![user.clone()]));
        let pre = Prefetched::load(self.keys.clone(), wanted).await?;
        let mapped = pre
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(KeyType::LidMapping, user.clone()))
            .cloned()
            .flatten();
        match mapped {
            Some(Value::String(lid_user)) if !lid_user.is_empty() => {
                self.lids.remember(&user, &lid_user);
                let addr = self.lids.session_address(&plain).await?;
                guards.push(self.locks.lock(addr.to_string()).await);
                let store = self.store(reqs(&addr)).await?;
                Ok((addr, guards, store))
            }
            _ => Ok((
                plain,
                guards,
                KeyStoreSignal::new(Arc::new(pre), self.creds.clone()),
            )),
        }
    }

    pub async fn decrypt(
        &self,
        jid: &str,
        kind: MessageKind,
        ciphertext: &[u8],
        now_ms: i64,
    ) -> Result<Decrypted, ClientError> {
        let pre_key = match kind {
            MessageKind::PreKey => wa_signal::wire::parse_pre_key(ciphertext)
                .ok()
                .and_then(|f| f.pre_key_id),
            MessageKind::Whisper => None,
        };
        let (addr, _g, store) = self
            .prepare(jid, |a| {
                let mut reqs = vec![(KeyType::Session, vec![a.to_string()])];
                if kind == MessageKind::PreKey {
                    reqs.push((KeyType::IdentityKey, vec![a.to_string()]));
                }
                if let Some(id) = pre_key {
                    reqs.push((KeyType::PreKey, vec![id.to_string()]));
                }
                reqs
            })
            .await?;
        Ok(protocol::decrypt(&store, &addr, kind, ciphertext, now_ms).await?)
    }

    pub async fn encrypt(&self, jid: &str, plaintext: &[u8]) -> Result<Encrypted, ClientError> {
        let (addr, _g, store) = self
            .prepare(jid, |a| vec![(KeyType::Session, vec![a.to_string()])])
            .await?;
        Ok(protocol::encrypt(&store, &addr, plaintext).await?)
    }

    /// Builds a session from a device's prekey bundle (`injectE2ESession`).
    pub async fn inject_session(
        &self,
        jid: &str,
        bundle: &PreKeyBundle,
        now_ms: i64,
    ) -> Result<(), ClientError> {
        let (addr, _g, store) = self
            .prepare(jid, |a| {
                vec![
                    (KeyType::Session, vec![a.to_string()]),
                    (KeyType::IdentityKey, vec![a.to_string()]),
                ]
            })
            .await?;
        Ok(protocol::process_bundle(&store, &addr, bundle, now_ms).await?)
    }

    async fn sender_store(&self, name: &SenderKeyName) -> Result<KeyStoreSignal, ClientError> {
        self.store(vec![(KeyType::SenderKey, vec![name.to_string()])])
            .await
    }

    pub async fn group_encrypt(
        &self,
        group: &str,
        me: &str,
        plaintext: &[u8],
    ) -> Result<GroupEncrypted, ClientError> {
        let name = sender_key(group, me)?;
        let _g = self.locks.lock(name.to_string()).await;
        let store = self.sender_store(&name).await?;
        Ok(protocol::group_encrypt(&store, &name, plaintext).await?)
    }

    pub async fn group_decrypt(
        &self,
        group: &str,
        author: &str,
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, ClientError> {
        let name = sender_key(group, author)?;
        let _g = self.locks.lock(name.to_string()).await;
        let store = self.sender_store(&name).await?;
        Ok(protocol::group_decrypt(&store, &name, ciphertext).await?)
    }

    /// Takes in an author's sender key distribution message.
    pub async fn process_distribution(
        &self,
        group: &str,
        author: &str,
        message: &[u8],
    ) -> Result<(), ClientError> {
        let name = sender_key(group, author)?;
        let _g = self.locks.lock(name.to_string()).await;
        let store = self.sender_store(&name).await?;
        Ok(protocol::group_process_distribution(&store, &name, message).await?)
    }

    /// Our distribution message for a group, creating our sender key on first use.
    pub async fn distribution(&self, group: &str, me: &str) -> Result<Vec<u8>, ClientError> {
        let name = sender_key(group, me)?;
        let _g = self.locks.lock(name.to_string()).await;
        let store = self.sender_store(&name).await?;
        Ok(protocol::group_distribution(&store, &name).await?)
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
        let store = KeyStoreSignal::new(self.keys.clone(), self.creds.clone());
        match store.load_session(addr).await {
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
