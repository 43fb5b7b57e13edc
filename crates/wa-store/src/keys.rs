//! The Signal key store, shaped like Baileys' `SignalKeyStore`: `get(type, ids) -> map`,
//! `set({type: {id: value | null}})`, with transactions that read once and write once.
//!
//! Values are JSON in Baileys' BufferJSON form (bytes as `{"type":"Buffer","data":b64}`),
//! exactly what `useMultiFileAuthState` keeps in `<type>-<id>.json`; a session is the object
//! of libsignal-node's `SessionRecord.serialize()`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::engine::{BoxFuture, Engine, Write};
use crate::error::{Result, StoreError};
use crate::path;

/// Every type of Baileys' `SignalDataTypeMap`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyType {
    PreKey,
    Session,
    SenderKey,
    SenderKeyMemory,
    AppStateSyncKey,
    AppStateSyncVersion,
    LidMapping,
    DeviceList,
    Tctoken,
    IdentityKey,
    /// Not Baileys': the account's delivery journal (decrypted messages the app has not
    /// confirmed yet, see wa-client's `inbox`). Kept beside the Signal state so one `set`
    /// writes both.
    Inbox,
}

impl KeyType {
    pub const ALL: [KeyType; 11] = [
        KeyType::PreKey,
        KeyType::Session,
        KeyType::SenderKey,
        KeyType::SenderKeyMemory,
        KeyType::AppStateSyncKey,
        KeyType::AppStateSyncVersion,
        KeyType::LidMapping,
        KeyType::DeviceList,
        KeyType::Tctoken,
        KeyType::IdentityKey,
        KeyType::Inbox,
    ];

    /// Baileys' name of the type.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::PreKey => "pre-key",
            KeyType::Session => "session",
            KeyType::SenderKey => "sender-key",
            KeyType::SenderKeyMemory => "sender-key-memory",
            KeyType::AppStateSyncKey => "app-state-sync-key",
            KeyType::AppStateSyncVersion => "app-state-sync-version",
            KeyType::LidMapping => "lid-mapping",
            KeyType::DeviceList => "device-list",
            KeyType::Tctoken => "tctoken",
            KeyType::IdentityKey => "identity-key",
            KeyType::Inbox => "inbox",
        }
    }

    /// Whether [`CachedKeyStore`] keeps values of this type. Pre-keys are read at most once
    /// (when a peer uses one) and inbox entries once (at a replay after a crash), so caching
    /// them only holds memory.
    pub fn cached(self) -> bool {
        !matches!(self, KeyType::PreKey | KeyType::Inbox)
    }

    pub fn parse(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| StoreError::BadKeyType(s.to_owned()))
    }
}

impl std::fmt::Display for KeyType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The values found for one `get`: id -> value (missing ids are absent).
pub type KeyMap = HashMap<String, Value>;
/// Baileys' `SignalDataSet`: type -> id -> value, `None` deletes.
pub type KeyWrites = BTreeMap<KeyType, BTreeMap<String, Option<Value>>>;
/// One read request: a type and the ids wanted.
pub type KeyRequest = (KeyType, Vec<String>);

/// A value its writer keeps in its own type and a store writes as JSON. A cache holds the
/// value itself, so the next reader that knows the type takes it as it is: a session record,
/// read and written once per message, was printed to a JSON tree, the tree to text, and the
/// tree read back into a record at the next message (~8% of a received text's CPU).
pub trait TypedValue: std::any::Any + Send + Sync {
    /// The stored JSON text.
    fn json_text(&self) -> String;
    /// The same value as a JSON tree, for readers and stores that take trees.
    fn json_value(&self) -> Value;
}

/// A value already printed as JSON text (one written once and read rarely: an inbox entry).
pub struct JsonText(pub String);

impl TypedValue for JsonText {
    fn json_text(&self) -> String {
        self.0.clone()
    }

    fn json_value(&self) -> Value {
        // Printed by serde_json from a value: it parses back.
        serde_json::from_str(&self.0).unwrap_or(Value::Null)
    }
}

/// Writes of one `set`: JSON values (`None` deletes) and typed ones. A key is in one of
/// the two, not both.
#[derive(Default)]
pub struct KeyChanges {
    pub values: KeyWrites,
    pub typed: Vec<(KeyType, String, Arc<dyn TypedValue>)>,
}

impl KeyChanges {
    pub fn is_empty(&self) -> bool {
        self.typed.is_empty() && self.values.values().all(BTreeMap::is_empty)
    }

    /// The same writes with every typed value as its JSON tree.
    pub fn into_values(self) -> KeyWrites {
        let mut w = self.values;
        for (ty, id, v) in self.typed {
            w.entry(ty).or_default().insert(id, Some(v.json_value()));
        }
        w
    }
}

impl From<KeyWrites> for KeyChanges {
    fn from(values: KeyWrites) -> Self {
        Self {
            values,
            typed: Vec::new(),
        }
    }
}

/// A store of Signal keys. `get_many` answers several types in one call, so a store behind
/// a round trip (a JavaScript auth state) pays it once.
pub trait KeyStore: Send + Sync + 'static {
    fn get_many<'a>(&'a self, reqs: &'a [KeyRequest]) -> BoxFuture<'a, Vec<KeyMap>>;

    fn set<'a>(&'a self, writes: &'a KeyWrites) -> BoxFuture<'a, ()>;

    /// [`KeyStore::set`] for a caller done with `writes`: a cache keeps the values themselves
    /// instead of copies (a session record is a tree of a few hundred nodes, written per
    /// message).
    fn set_owned(&self, writes: KeyWrites) -> BoxFuture<'_, ()> {
        Box::pin(async move { self.set(&writes).await })
    }

    /// Shows `f` the value held in memory for `(ty, id)`, without copying it: `f(Some(v))`
    /// when held, `f(None)` when known to be absent. Returns false, without calling `f`, when
    /// only a read ([`KeyStore::get`]) can answer: always, unless the store is a cache. `f`
    /// may run under the store's lock: it must not use the store.
    fn peek(&self, ty: KeyType, id: &str, f: &mut dyn FnMut(Option<&Value>)) -> bool {
        let _ = (ty, id, f);
        false
    }

    /// Writes `changes` as one `set`. A store without a typed form writes the typed values
    /// as JSON trees.
    fn set_changes<'a>(&'a self, changes: &'a KeyChanges) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if changes.typed.is_empty() {
                return self.set(&changes.values).await;
            }
            let mut w = changes.values.clone();
            for (ty, id, v) in &changes.typed {
                w.entry(*ty)
                    .or_default()
                    .insert(id.clone(), Some(v.json_value()));
            }
            self.set_owned(w).await
        })
    }

    /// [`KeyStore::set_changes`] for a caller done with `changes` (see
    /// [`KeyStore::set_owned`]).
    fn set_changes_owned(&self, changes: KeyChanges) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if changes.typed.is_empty() {
                return self.set_owned(changes.values).await;
            }
            self.set_owned(changes.into_values()).await
        })
    }

    /// The typed value held in memory for `(ty, id)`, when its last write was typed (see
    /// [`TypedValue`]); `None` sends the reader to [`KeyStore::peek`] or a read.
    fn peek_typed(&self, ty: KeyType, id: &str) -> Option<Arc<dyn TypedValue>> {
        let _ = (ty, id);
        None
    }

    /// Whether a failed `set` is known to have written nothing (see
    /// [`Engine::all_or_nothing`]). `false` unless the store can promise it.
    fn all_or_nothing(&self) -> bool {
        false
    }

    fn get<'a>(&'a self, ty: KeyType, ids: &'a [String]) -> BoxFuture<'a, KeyMap> {
        Box::pin(async move {
            let reqs = [(ty, ids.to_vec())];
            Ok(self.get_many(&reqs).await?.pop().unwrap_or_default())
        })
    }
}

/// The engine path of a key: `session/signal/{type}/{id}` with the id escaped.
pub fn key_path(ty: KeyType, id: &str) -> Result<String> {
    // Made in one string rather than `format!`ed: several keys are written per message.
    let ty = ty.as_str();
    let mut p = String::with_capacity("session/signal/".len() + ty.len() + 1 + id.len());
    p.push_str("session/signal/");
    p.push_str(ty);
    p.push('/');
    path::escape_id_into(id, &mut p)?;
    Ok(p)
}

pub(crate) fn parse_value(what: impl FnOnce() -> String, bytes: &[u8]) -> Result<Value> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::corrupt(what(), e))
}

/// Signal keys kept in any [`Engine`] under `session/signal/`.
#[derive(Clone)]
pub struct EngineKeyStore {
    engine: Arc<dyn Engine>,
}

impl EngineKeyStore {
    pub fn new(engine: Arc<dyn Engine>) -> Self {
        Self { engine }
    }

    /// Every id of one type (in key order).
    pub async fn ids(&self, ty: KeyType) -> Result<Vec<String>> {
        let prefix = format!("session/signal/{}", ty.as_str());
        let mut out = Vec::new();
        loop {
            let page = self.engine.list(&prefix, out.len(), 1000).await?;
            let n = page.len();
            for p in page {
                let seg = path::split(&p).1;
                out.push(path::unescape(seg).ok_or_else(|| StoreError::corrupt("key path", &p))?);
            }
            if n < 1000 {
                return Ok(out);
            }
        }
    }
}

impl KeyStore for EngineKeyStore {
    fn all_or_nothing(&self) -> bool {
        self.engine.all_or_nothing()
    }

    fn get_many<'a>(&'a self, reqs: &'a [KeyRequest]) -> BoxFuture<'a, Vec<KeyMap>> {
        Box::pin(async move {
            let mut paths = Vec::new();
            for (ty, ids) in reqs {
                for id in ids {
                    paths.push(key_path(*ty, id)?);
                }
            }
            let mut values = self.engine.get_many(&paths).await?.into_iter();
            let mut out = Vec::with_capacity(reqs.len());
            for (ty, ids) in reqs {
                let mut m = KeyMap::new();
                for id in ids {
                    if let Some(bytes) = values.next().flatten() {
                        m.insert(id.clone(), parse_value(|| format!("{ty} {id:?}"), &bytes)?);
                    }
                }
                out.push(m);
            }
            Ok(out)
        })
    }

    fn set<'a>(&'a self, writes: &'a KeyWrites) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let mut batch = Vec::new();
            engine_writes(writes, &mut batch)?;
            self.engine.set_many(batch).await
        })
    }

    // A typed value goes to the engine as its text, without a JSON tree in between.
    fn set_changes<'a>(&'a self, changes: &'a KeyChanges) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let mut batch = Vec::new();
            engine_writes(&changes.values, &mut batch)?;
            if changes.typed.is_empty() {
                return self.engine.set_many(batch).await;
            }
            let mut typed = Vec::with_capacity(changes.typed.len());
            for (ty, id, v) in &changes.typed {
                typed.push((key_path(*ty, id)?, v.clone()));
            }
            self.engine.set_typed(batch, typed).await
        })
    }

    fn set_changes_owned(&self, changes: KeyChanges) -> BoxFuture<'_, ()> {
        Box::pin(async move { self.set_changes(&changes).await })
    }
}

fn engine_writes(writes: &KeyWrites, batch: &mut Vec<Write>) -> Result<()> {
    for (ty, ids) in writes {
        for (id, v) in ids {
            let p = key_path(*ty, id)?;
            batch.push(match v {
                Some(v) => Write::put(
                    p,
                    serde_json::to_vec(v).map_err(|e| StoreError::BadValue(e.to_string()))?,
                ),
                None => Write::delete(p),
            });
        }
    }
    Ok(())
}

/// How many of the newest pre-keys are kept: two full uploads of Baileys' 812.
pub const DEFAULT_MAX_PREKEYS: u32 = 1624;

/// Adds to `writes` the deletion of the pre-keys that fall out of the window of the
/// `max` newest ids when the pre-keys in `writes` are stored. Pre-key ids are handed out
/// in sequence (`creds.nextPreKeyId`), so the ids that leave the window are exactly the
/// ones below the new window that the previous window still held: the set stays bounded
/// without listing the store, which a Baileys-style auth state cannot do.
pub fn bound_prekeys(writes: &mut KeyWrites, max: u32) {
    let Some(pre) = writes.get(&KeyType::PreKey) else {
        return;
    };
    let new: Vec<u32> = pre
        .iter()
        .filter(|(_, v)| v.is_some())
        .filter_map(|(id, _)| id.parse().ok())
        .collect();
    let (Some(&lo), Some(&hi)) = (new.iter().min(), new.iter().max()) else {
        return;
    };
    if hi <= max {
        return;
    }
    let first = lo.saturating_sub(max).max(1);
    let last = hi - max;
    let pre = writes.entry(KeyType::PreKey).or_default();
    for id in first..=last {
        pre.entry(id.to_string()).or_insert(None);
    }
}

/// What the cache knows of a key: a JSON value, known absence, or a typed value.
enum Slot {
    Json(Option<Value>),
    Typed(Arc<dyn TypedValue>),
}

impl From<Option<Value>> for Slot {
    fn from(v: Option<Value>) -> Self {
        Slot::Json(v)
    }
}

struct Lru {
    map: foldhash::HashMap<(KeyType, String), Slot>,
    order: VecDeque<(KeyType, String)>,
    cap: usize,
}

impl Lru {
    fn put(&mut self, k: (KeyType, String), v: impl Into<Slot>) {
        let v = v.into();
        if self.map.insert(k.clone(), v).is_none() {
            self.order.push_back(k);
            while self.map.len() > self.cap {
                match self.order.pop_front() {
                    Some(old) => {
                        self.map.remove(&old);
                    }
                    None => break,
                }
            }
        }
    }

    /// Keeps typed value `v` for `k` after a `set` that ended in `res` (forgets `k` if it
    /// failed).
    fn typed_written(&mut self, k: (KeyType, String), v: Arc<dyn TypedValue>, res: &Result<()>) {
        match res {
            Ok(()) if k.0.cached() => self.put(k, Slot::Typed(v)),
            _ => self.forget(&k),
        }
    }

    fn forget(&mut self, k: &(KeyType, String)) {
        // The stale order entry is dropped lazily by eviction.
        self.map.remove(k);
    }
}

/// A read cache and the pre-key bound in front of any [`KeyStore`]. Reads of keys it has
/// seen cost nothing; a failed write drops the keys it touched, so the cache never claims
/// what the store may not hold.
pub struct CachedKeyStore {
    inner: Arc<dyn KeyStore>,
    cache: Mutex<Lru>,
    max_prekeys: Option<u32>,
}

impl CachedKeyStore {
    pub fn new(inner: Arc<dyn KeyStore>, capacity: usize, max_prekeys: Option<u32>) -> Self {
        Self {
            inner,
            cache: Mutex::new(Lru {
                map: Default::default(),
                order: VecDeque::new(),
                cap: capacity.max(1),
            }),
            max_prekeys,
        }
    }

    /// Forgets everything cached (another writer changed the store).
    pub fn clear_cache(&self) {
        let mut c = self.lock();
        c.map.clear();
        c.order.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `writes` with the pre-keys that leave the bound deleted, when it writes pre-keys.
    fn bounded(&self, writes: &KeyWrites) -> Option<KeyWrites> {
        let max = self.max_prekeys?;
        if !writes.contains_key(&KeyType::PreKey) {
            return None;
        }
        let mut w = writes.clone();
        bound_prekeys(&mut w, max);
        Some(w)
    }

    fn warn_failed(writes: &KeyWrites, typed: usize, res: &Result<()>) {
        if let Err(e) = res {
            let keys: usize = writes.values().map(BTreeMap::len).sum::<usize>() + typed;
            tracing::warn!(
                code = e.code(),
                keys,
                "a key store write failed; the cache forgets the keys it touched"
            );
        }
    }

    /// Brings the cache in step with a `set` of `writes` that ended in `res`. Pre-keys are not
    /// kept ([`KeyType::cached`]): written hundreds at a time and each read at most once, when
    /// a peer uses it, caching them cost ~1.4 KB per key (1.1 MB per fresh account) for nothing.
    fn written(&self, writes: &KeyWrites, res: &Result<()>) {
        Self::warn_failed(writes, 0, res);
        let mut c = self.lock();
        for (ty, ids) in writes {
            for (id, v) in ids {
                let k = (*ty, id.clone());
                match res {
                    Ok(()) if ty.cached() => c.put(k, v.clone()),
                    _ => c.forget(&k),
                }
            }
        }
    }

    /// [`CachedKeyStore::written`], keeping the written values themselves.
    fn written_owned(&self, changes: KeyChanges, res: &Result<()>) {
        Self::warn_failed(&changes.values, changes.typed.len(), res);
        let mut c = self.lock();
        for (ty, ids) in changes.values {
            for (id, v) in ids {
                let k = (ty, id);
                match res {
                    Ok(()) if ty.cached() => c.put(k, v),
                    _ => c.forget(&k),
                }
            }
        }
        for (ty, id, v) in changes.typed {
            c.typed_written((ty, id), v, res);
        }
    }

    /// `changes` with the pre-keys that leave the bound deleted (see [`Self::bounded`]).
    fn bounded_changes(&self, changes: KeyChanges) -> KeyChanges {
        match self.bounded(&changes.values) {
            Some(values) => KeyChanges {
                values,
                typed: changes.typed,
            },
            None => changes,
        }
    }
}

impl KeyStore for CachedKeyStore {
    fn all_or_nothing(&self) -> bool {
        self.inner.all_or_nothing()
    }

    fn get_many<'a>(&'a self, reqs: &'a [KeyRequest]) -> BoxFuture<'a, Vec<KeyMap>> {
        Box::pin(async move {
            let mut out: Vec<KeyMap> = Vec::with_capacity(reqs.len());
            let mut misses: Vec<KeyRequest> = Vec::new();
            {
                let c = self.lock();
                for (ty, ids) in reqs {
                    let mut m = KeyMap::new();
                    let mut miss = Vec::new();
                    for id in ids {
                        match c.map.get(&(*ty, id.clone())) {
                            Some(Slot::Json(Some(v))) => {
                                m.insert(id.clone(), v.clone());
                            }
                            Some(Slot::Typed(v)) => {
                                m.insert(id.clone(), v.json_value());
                            }
                            Some(Slot::Json(None)) => {}
                            None => miss.push(id.clone()),
                        }
                    }
                    out.push(m);
                    misses.push((*ty, miss));
                }
            }
            if misses.iter().any(|(_, ids)| !ids.is_empty()) {
                let wanted: Vec<KeyRequest> = misses
                    .iter()
                    .filter(|(_, ids)| !ids.is_empty())
                    .cloned()
                    .collect();
                let mut fetched = self.inner.get_many(&wanted).await?.into_iter();
                let mut c = self.lock();
                for (i, (ty, ids)) in misses.iter().enumerate() {
                    if ids.is_empty() {
                        continue;
                    }
                    let got = fetched.next().unwrap_or_default();
                    for id in ids {
                        if let Some(v) = got.get(id) {
                            // A pre-key is read once, when a peer uses it, and then deleted:
                            // caching it only holds memory.
                            if ty.cached() {
                                c.put((*ty, id.clone()), Some(v.clone()));
                            }
                            out[i].insert(id.clone(), v.clone());
                        }
                    }
                }
            }
            Ok(out)
        })
    }

    fn set<'a>(&'a self, writes: &'a KeyWrites) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let bounded;
            let writes = match self.bounded(writes) {
                Some(w) => {
                    bounded = w;
                    &bounded
                }
                None => writes,
            };
            let res = self.inner.set(writes).await;
            self.written(writes, &res);
            res
        })
    }

    fn set_owned(&self, writes: KeyWrites) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let writes = self.bounded(&writes).unwrap_or(writes);
            let res = self.inner.set(&writes).await;
            self.written_owned(writes.into(), &res);
            res
        })
    }

    fn set_changes<'a>(&'a self, changes: &'a KeyChanges) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let values = self.bounded(&changes.values);
            let bounded;
            let changes = match values {
                Some(values) => {
                    bounded = KeyChanges {
                        values,
                        typed: changes.typed.clone(),
                    };
                    &bounded
                }
                None => changes,
            };
            let res = self.inner.set_changes(changes).await;
            self.written(&changes.values, &res);
            let mut c = self.lock();
            for (ty, id, v) in &changes.typed {
                c.typed_written((*ty, id.clone()), v.clone(), &res);
            }
            res
        })
    }

    fn set_changes_owned(&self, changes: KeyChanges) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let changes = self.bounded_changes(changes);
            let res = self.inner.set_changes(&changes).await;
            self.written_owned(changes, &res);
            res
        })
    }

    fn peek(&self, ty: KeyType, id: &str, f: &mut dyn FnMut(Option<&Value>)) -> bool {
        let c = self.lock();
        match c.map.get(&(ty, id.to_owned())) {
            Some(Slot::Json(v)) => {
                f(v.as_ref());
                true
            }
            Some(Slot::Typed(v)) => {
                f(Some(&v.json_value()));
                true
            }
            None => false,
        }
    }

    fn peek_typed(&self, ty: KeyType, id: &str) -> Option<Arc<dyn TypedValue>> {
        match self.lock().map.get(&(ty, id.to_owned())) {
            Some(Slot::Typed(v)) => Some(v.clone()),
            _ => None,
        }
    }
}

/// A unit of Signal work (one message): reads are fetched once and served from the
/// transaction afterwards, writes are held and committed together in one atomic `set`.
pub struct KeyTransaction {
    store: Arc<dyn KeyStore>,
    seen: HashMap<(KeyType, String), Option<Value>>,
    writes: KeyWrites,
}

impl KeyTransaction {
    pub fn new(store: Arc<dyn KeyStore>) -> Self {
        Self {
            store,
            seen: HashMap::new(),
            writes: KeyWrites::new(),
        }
    }

    /// Fetches everything in `reqs` not yet known to the transaction, in one `get_many`.
    pub async fn prefetch(&mut self, reqs: &[KeyRequest]) -> Result<()> {
        let wanted: Vec<KeyRequest> = reqs
            .iter()
            .map(|(ty, ids)| {
                let mut miss: Vec<String> = ids
                    .iter()
                    .filter(|id| !self.seen.contains_key(&(*ty, (*id).clone())))
                    .cloned()
                    .collect();
                miss.dedup();
                (*ty, miss)
            })
            .filter(|(_, ids)| !ids.is_empty())
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let got = self.store.get_many(&wanted).await?;
        for ((ty, ids), mut m) in wanted.into_iter().zip(got) {
            for id in ids {
                let v = m.remove(&id);
                self.seen.insert((ty, id), v);
            }
        }
        Ok(())
    }

    pub async fn get(&mut self, ty: KeyType, ids: &[String]) -> Result<KeyMap> {
        self.prefetch(&[(ty, ids.to_vec())]).await?;
        Ok(ids
            .iter()
            .filter_map(|id| match self.seen.get(&(ty, id.clone())) {
                Some(Some(v)) => Some((id.clone(), v.clone())),
                _ => None,
            })
            .collect())
    }

    /// Stages writes; later reads in this transaction see them.
    pub fn set(&mut self, writes: KeyWrites) {
        for (ty, ids) in writes {
            let slot = self.writes.entry(ty).or_default();
            for (id, v) in ids {
                self.seen.insert((ty, id.clone()), v.clone());
                slot.insert(id, v);
            }
        }
    }

    /// The writes staged so far.
    pub fn pending(&self) -> &KeyWrites {
        &self.writes
    }

    /// Writes everything staged in one atomic `set` (nothing when nothing was staged).
    pub async fn commit(self) -> Result<()> {
        if self.writes.values().all(BTreeMap::is_empty) {
            return Ok(());
        }
        self.store.set(&self.writes).await
    }
}

/// Read-cache entries kept per account key store by default.
pub const DEFAULT_KEY_CACHE: usize = 16_384;

/// The policy every account's key store runs under, in one place for the binding and for
/// Rust users: a bounded read cache in front of the store (a key read or written once is
/// free the next time) and the pre-key bound (the newest `max_prekeys` ids are kept).
///
/// ```
/// # use std::sync::Arc;
/// # use wa_store::{MemoryEngine, keys::AccountKeys};
/// let keys = AccountKeys::over_engine(Arc::new(MemoryEngine::new())).build();
/// let small = AccountKeys::over_engine(Arc::new(MemoryEngine::new()))
///     .cache(1024)
///     .max_prekeys(Some(812))
///     .build();
/// # let _ = (keys, small);
/// ```
#[derive(Clone)]
pub struct AccountKeys {
    inner: Arc<dyn KeyStore>,
    cache: usize,
    max_prekeys: Option<u32>,
}

impl AccountKeys {
    /// Any key store (a Baileys folder, a JavaScript auth state adapted by the binding).
    pub fn new(inner: Arc<dyn KeyStore>) -> Self {
        Self {
            inner,
            cache: DEFAULT_KEY_CACHE,
            max_prekeys: Some(DEFAULT_MAX_PREKEYS),
        }
    }

    /// The keys kept in an engine under `session/signal/...`.
    pub fn over_engine(engine: Arc<dyn Engine>) -> Self {
        Self::new(Arc::new(EngineKeyStore::new(engine)))
    }

    /// Read-cache entries (default [`DEFAULT_KEY_CACHE`]).
    pub fn cache(mut self, entries: usize) -> Self {
        self.cache = entries;
        self
    }

    /// How many of the newest pre-key ids are kept (default [`DEFAULT_MAX_PREKEYS`]);
    /// `None` keeps every pre-key.
    pub fn max_prekeys(mut self, max: Option<u32>) -> Self {
        self.max_prekeys = max;
        self
    }

    /// The key store to hand to the client.
    pub fn build(self) -> Arc<dyn KeyStore> {
        Arc::new(CachedKeyStore::new(
            self.inner,
            self.cache,
            self.max_prekeys,
        ))
    }
}
