//! Storage for JavaScript: the native engines as classes, JavaScript engines and Baileys
//! auth states adapted to our Rust traits, the typed store, the Signal key store with its
//! transactions, Baileys auth folders and migrations.
//!
//! Rust calls into JavaScript through one ThreadsafeFunction per adapted object: a
//! dispatcher written in lib/store.js that runs the user's methods, turns every throw or
//! rejection into a reply (so nothing crashes Node), and applies a batch with rollback.
//! Rust awaits the dispatcher's promise with a deadline; see docs/storage.md.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use napi::Status;
use napi::bindgen_prelude::{Buffer, Function, Promise};
use napi::threadsafe_function::ThreadsafeFunction;
use napi_derive::napi;
use serde_json::Value;
use wa_store::{
    AuthenticationCreds, BaileysFolder, BatchedStore, BoxFuture, Durability, Engine,
    EngineKeyStore, FileEngine, FileOptions, KeyChanges, KeyMap, KeyRequest, KeyStore,
    KeyTransaction, KeyType, KeyWrites, MemoryEngine, SqliteEngine, Store, StoreBatch, StoreError,
    TypedValue, Write, keys::AccountKeys, migrate,
};

use crate::errors::{Coded, JsFail, Result, coded};

/// Extra time Rust waits past the deadline it gives the dispatcher, so an answer that
/// made it in time is not mistaken for a timeout.
const GRACE: Duration = Duration::from_millis(1000);

fn js_err(e: StoreError) -> JsFail {
    coded(e.code(), e)
}

fn parse_json(what: &str, s: &str) -> Result<Value> {
    serde_json::from_str(s)
        .map_err(|e| coded("ERR_WA_STORE_BAD_VALUE", format!("{what} is not JSON: {e}")))
}

fn file_options(durability: Option<String>) -> Result<FileOptions> {
    let mut opts = FileOptions::default();
    if let Some(d) = durability {
        opts = opts.with_durability(Durability::parse(&d).map_err(js_err)?);
    }
    Ok(opts)
}

fn deadline_ms(timeout: Duration) -> f64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (now + timeout).as_secs_f64() * 1000.0
}

// ---------------------------------------------------------------------------------------
// JavaScript engines
// ---------------------------------------------------------------------------------------

/// A request from Rust to a JavaScript engine's dispatcher.
#[napi(object)]
pub struct EngineCall {
    /// `get`, `set` or `list`.
    pub op: String,
    pub paths: Vec<String>,
    /// For `set`: one value per path, `null` deletes.
    pub values: Vec<Option<Buffer>>,
    pub prefix: String,
    pub offset: u32,
    pub limit: u32,
    /// Epoch milliseconds after which the dispatcher undoes a batch instead of finishing it.
    pub deadline: f64,
}

/// The dispatcher's answer: the result, or the error the user's code raised.
#[napi(object)]
pub struct EngineReply {
    pub values: Option<Vec<Option<Buffer>>>,
    pub paths: Option<Vec<String>>,
    pub error: Option<String>,
    pub error_code: Option<String>,
}

type EngineTsfn =
    ThreadsafeFunction<EngineCall, Promise<EngineReply>, EngineCall, Status, false, true>;

struct JsEngine {
    dispatch: Arc<EngineTsfn>,
    timeout: Duration,
}

fn reply_error(op: &'static str, error: Option<String>, code: Option<String>) -> StoreError {
    match code.as_deref() {
        Some("ERR_WA_STORE_TIMEOUT") => StoreError::Timeout { op, ms: 0 },
        Some("ERR_WA_STORE_ENGINE_RESULT") => StoreError::EngineResult {
            op,
            detail: error.unwrap_or_default(),
        },
        Some(c) => StoreError::Engine {
            op,
            message: format!("{} ({c})", error.unwrap_or_default()),
        },
        None => StoreError::Engine {
            op,
            message: error.unwrap_or_default(),
        },
    }
}

async fn await_js<T, A>(
    tsfn: &ThreadsafeFunction<A, Promise<T>, A, Status, false, true>,
    arg: A,
    op: &'static str,
    timeout: Duration,
) -> std::result::Result<T, StoreError>
where
    T: napi::bindgen_prelude::FromNapiValue + Send + 'static,
    A: napi::bindgen_prelude::JsValuesTupleIntoVec + 'static,
{
    let call = async {
        let promise = tsfn.call_async_catch(arg).await?;
        promise.await
    };
    match tokio::time::timeout(timeout + GRACE, call).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(StoreError::Engine {
            op,
            message: e.reason.clone(),
        }),
        Err(_) => Err(StoreError::Timeout {
            op,
            ms: timeout.as_millis() as u64,
        }),
    }
}

impl JsEngine {
    async fn call(
        &self,
        op: &'static str,
        mut call: EngineCall,
    ) -> std::result::Result<EngineReply, StoreError> {
        call.deadline = deadline_ms(self.timeout);
        let reply = await_js(&self.dispatch, call, op, self.timeout).await?;
        if reply.error.is_some() || reply.error_code.is_some() {
            let mut e = reply_error(op, reply.error, reply.error_code);
            if let StoreError::Timeout { ms, .. } = &mut e {
                *ms = self.timeout.as_millis() as u64;
            }
            return Err(e);
        }
        Ok(reply)
    }

    fn blank(op: &str) -> EngineCall {
        EngineCall {
            op: op.to_owned(),
            paths: Vec::new(),
            values: Vec::new(),
            prefix: String::new(),
            offset: 0,
            limit: 0,
            deadline: 0.0,
        }
    }
}

impl Engine for JsEngine {
    // Taken at its word: the Engine contract is that `set` applies a batch whole or not at all.
    fn all_or_nothing(&self) -> bool {
        true
    }

    fn get<'a>(&'a self, p: &'a str) -> BoxFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            let paths = [p.to_owned()];
            Ok(self.get_many(&paths).await?.pop().flatten())
        })
    }

    fn get_many<'a>(&'a self, paths: &'a [String]) -> BoxFuture<'a, Vec<Option<Vec<u8>>>> {
        Box::pin(async move {
            for p in paths {
                wa_store::path::check(p)?;
            }
            if paths.is_empty() {
                return Ok(Vec::new());
            }
            let mut call = Self::blank("get");
            call.paths = paths.to_vec();
            let reply = self.call("get", call).await?;
            let values = reply.values.ok_or_else(|| StoreError::EngineResult {
                op: "get",
                detail: "no values".into(),
            })?;
            if values.len() != paths.len() {
                return Err(StoreError::EngineResult {
                    op: "get",
                    detail: format!("{} values for {} paths", values.len(), paths.len()),
                });
            }
            Ok(values.into_iter().map(|v| v.map(|b| b.to_vec())).collect())
        })
    }

    fn set_many<'a>(&'a self, writes: Vec<Write>) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            for w in &writes {
                wa_store::path::check(&w.path)?;
            }
            if writes.is_empty() {
                return Ok(());
            }
            let mut call = Self::blank("set");
            for w in writes {
                call.paths.push(w.path);
                call.values.push(w.value.map(Buffer::from));
            }
            self.call("set", call).await.map(|_| ())
        })
    }

    fn list<'a>(
        &'a self,
        prefix: &'a str,
        offset: usize,
        limit: usize,
    ) -> BoxFuture<'a, Vec<String>> {
        Box::pin(async move {
            let prefix = wa_store::path::check_prefix(prefix)?;
            let mut call = Self::blank("list");
            call.prefix = prefix.to_owned();
            call.offset = u32::try_from(offset).unwrap_or(u32::MAX);
            call.limit = u32::try_from(limit).unwrap_or(u32::MAX);
            let reply = self.call("list", call).await?;
            reply.paths.ok_or_else(|| StoreError::EngineResult {
                op: "list",
                detail: "no paths".into(),
            })
        })
    }
}

// ---------------------------------------------------------------------------------------
// Engines as a JS class
// ---------------------------------------------------------------------------------------

/// A storage engine backed by Rust: memory, files, SQLite, or a JavaScript object adapted
/// to the same contract. Wrapped by the `Engine` classes of lib/store.js.
#[napi]
pub struct NativeEngine {
    inner: Arc<dyn Engine>,
}

fn to_writes(paths: Vec<String>, values: Vec<Option<Buffer>>) -> Result<Vec<Write>> {
    if paths.len() != values.len() {
        return Err(coded(
            "ERR_WA_STORE_BAD_VALUE",
            "paths and values differ in length",
        ));
    }
    Ok(paths
        .into_iter()
        .zip(values)
        .map(|(path, v)| Write {
            path,
            value: v.map(|b| b.to_vec()),
        })
        .collect())
}

#[napi]
impl NativeEngine {
    #[napi(factory)]
    pub fn memory() -> Self {
        Self {
            inner: Arc::new(MemoryEngine::new()),
        }
    }

    /// `durability`: `"full"` (default) or `"process"` (see docs/storage.md).
    #[napi(factory, catch_unwind)]
    pub fn file(base: String, durability: Option<String>) -> Result<Self> {
        let opts = file_options(durability)?;
        Ok(Self {
            inner: Arc::new(FileEngine::open_with(base, opts).map_err(js_err)?),
        })
    }

    #[napi(factory, catch_unwind)]
    pub fn sqlite(path: String) -> Result<Self> {
        Ok(Self {
            inner: Arc::new(SqliteEngine::open(path).map_err(js_err)?),
        })
    }

    /// Adapts a JavaScript engine through its dispatcher (see lib/store.js).
    /// PostgreSQL (connects and migrates on first use).
    #[napi(factory, catch_unwind)]
    pub fn postgres(connection_string: String, options: Option<PostgresOptions>) -> Result<Self> {
        let o = options.unwrap_or_default();
        let mut opts = wa_store_pg::PgOptions::default();
        if let Some(p) = o.prefix {
            opts.prefix = p;
        }
        if let Some(m) = o.pool_max {
            opts.pool_max = m as usize;
        }
        if let Some(ms) = o.retry_ms {
            opts.retry_for = Duration::from_millis(ms.into());
        }
        if let Some(ms) = o.connect_timeout_ms {
            opts.connect_timeout = Duration::from_millis(ms.into());
        }
        Ok(Self {
            inner: Arc::new(
                wa_store_pg::PostgresEngine::new(&connection_string, opts).map_err(js_err)?,
            ),
        })
    }

    /// S3 or an S3-compatible server.
    #[napi(factory, catch_unwind)]
    pub fn s3(options: S3EngineOptions) -> Result<Self> {
        let mut opts = wa_store_s3::S3Options::new(options.bucket);
        if let Some(p) = options.prefix {
            opts.prefix = p;
        }
        opts.endpoint = options.endpoint;
        opts.force_path_style = options.force_path_style.unwrap_or(false);
        if let Some(ms) = options.retry_ms {
            opts.retry_for = Duration::from_millis(ms.into());
        }
        if let Some(ms) = options.request_timeout_ms {
            opts.request_timeout = Duration::from_millis(ms.into());
        }
        opts.credentials = options.credentials.map(|c| wa_store_s3::Credentials {
            region: c.region,
            access_key_id: c.access_key_id,
            secret_access_key: c.secret_access_key,
            session_token: c.session_token,
        });
        Ok(Self {
            inner: Arc::new(wa_store_s3::S3Engine::new(opts).map_err(js_err)?),
        })
    }

    /// A Baileys auth folder as an engine (creds and keys in Baileys' files, the rest
    /// beside them in `.baileys-native/store`).
    #[napi(factory, catch_unwind, js_name = "baileysFolder")]
    pub fn baileys_folder(folder: String) -> Result<Self> {
        Ok(Self {
            inner: Arc::new(migrate::FolderEngine::open(folder).map_err(js_err)?),
        })
    }

    /// A copy of every entry of this engine into `destination` (run it with `run`).
    #[napi(js_name = "copyTo")]
    pub fn copy_to(&self, destination: &NativeEngine) -> CopyJob {
        CopyJob {
            src: self.inner.clone(),
            dst: destination.inner.clone(),
        }
    }

    /// Count and checksum of every entry (what migrations verify).
    #[napi(catch_unwind)]
    pub async fn checksum(&self) -> Coded<ChecksumResult> {
        Coded(
            async move {
                let (count, checksum) = migrate::checksum(&*self.inner).await.map_err(js_err)?;
                Ok(ChecksumResult {
                    count: count as f64,
                    checksum,
                })
            }
            .await,
        )
    }

    /// Every path holding a value, after `after` (scan order), at most `limit`.
    #[napi(catch_unwind)]
    pub async fn scan(&self, after: Option<String>, limit: u32) -> Coded<Vec<String>> {
        Coded(
            async move {
                self.inner
                    .scan(after.as_deref(), limit as usize)
                    .await
                    .map_err(js_err)
            }
            .await,
        )
    }

    #[napi(factory, js_name = "fromJs")]
    pub fn from_js(
        dispatch: Function<EngineCall, Promise<EngineReply>>,
        timeout_ms: u32,
    ) -> Result<Self> {
        let tsfn = dispatch
            .build_threadsafe_function()
            .callee_handled::<false>()
            .weak::<true>()
            .build()?;
        Ok(Self {
            inner: Arc::new(JsEngine {
                dispatch: Arc::new(tsfn),
                timeout: Duration::from_millis(timeout_ms.into()),
            }),
        })
    }

    #[napi(catch_unwind)]
    pub async fn get(&self, path: String) -> Coded<Option<Buffer>> {
        Coded(
            async move {
                Ok(self
                    .inner
                    .get(&path)
                    .await
                    .map_err(js_err)?
                    .map(Buffer::from))
            }
            .await,
        )
    }

    #[napi(catch_unwind)]
    pub async fn get_many(&self, paths: Vec<String>) -> Coded<Vec<Option<Buffer>>> {
        Coded(
            async move {
                Ok(self
                    .inner
                    .get_many(&paths)
                    .await
                    .map_err(js_err)?
                    .into_iter()
                    .map(|v| v.map(Buffer::from))
                    .collect())
            }
            .await,
        )
    }

    #[napi(catch_unwind)]
    pub async fn set(&self, path: String, value: Option<Buffer>) -> Coded<()> {
        Coded(
            async move {
                self.inner
                    .set(&path, value.map(|b| b.to_vec()))
                    .await
                    .map_err(js_err)
            }
            .await,
        )
    }

    #[napi(catch_unwind)]
    pub async fn set_many(&self, paths: Vec<String>, values: Vec<Option<Buffer>>) -> Coded<()> {
        Coded(
            async move {
                self.inner
                    .set_many(to_writes(paths, values)?)
                    .await
                    .map_err(js_err)
            }
            .await,
        )
    }

    #[napi(catch_unwind)]
    pub async fn list(&self, prefix: String, offset: u32, limit: u32) -> Coded<Vec<String>> {
        Coded(
            async move {
                self.inner
                    .list(&prefix, offset as usize, limit as usize)
                    .await
                    .map_err(js_err)
            }
            .await,
        )
    }

    /// Copies a Baileys auth folder into this engine (one atomic batch).
    #[napi(catch_unwind)]
    pub async fn import_auth_folder(&self, folder: String) -> Coded<MigrationSummary> {
        Coded(
            async move {
                let f = BaileysFolder::open(folder).map_err(js_err)?;
                migrate::folder_to_engine(&f, &*self.inner)
                    .await
                    .map(summary)
                    .map_err(js_err)
            }
            .await,
        )
    }

    /// Writes the account in this engine out as a Baileys auth folder.
    #[napi(catch_unwind)]
    pub async fn export_auth_folder(&self, folder: String) -> Coded<MigrationSummary> {
        Coded(
            async move {
                let f = BaileysFolder::open(folder).map_err(js_err)?;
                migrate::engine_to_folder(self.inner.clone(), &f)
                    .await
                    .map(summary)
                    .map_err(js_err)
            }
            .await,
        )
    }
}

/// What a migration moved.
#[napi(object, object_to_js = false)]
#[derive(Default)]
pub struct PostgresOptions {
    pub prefix: Option<String>,
    pub pool_max: Option<u32>,
    pub retry_ms: Option<u32>,
    pub connect_timeout_ms: Option<u32>,
}

#[napi(object, object_to_js = false)]
pub struct S3Credentials {
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
}

#[napi(object, object_to_js = false)]
pub struct S3EngineOptions {
    pub bucket: String,
    pub prefix: Option<String>,
    pub credentials: Option<S3Credentials>,
    pub endpoint: Option<String>,
    pub force_path_style: Option<bool>,
    pub retry_ms: Option<u32>,
    pub request_timeout_ms: Option<u32>,
}

#[napi(object)]
pub struct ChecksumResult {
    pub count: f64,
    pub checksum: String,
}

#[napi(object)]
pub struct CopyResult {
    pub copied: f64,
    pub resumed: bool,
    pub source_count: f64,
    pub destination_count: f64,
    pub source_checksum: String,
    pub destination_checksum: String,
}

/// A prepared copy between two engines.
#[napi]
pub struct CopyJob {
    src: Arc<dyn Engine>,
    dst: Arc<dyn Engine>,
}

#[napi]
impl CopyJob {
    /// Copies (resuming from `state` when it records an interrupted run) and verifies.
    #[napi(catch_unwind)]
    pub async fn run(&self, batch: Option<u32>, state: Option<String>) -> Coded<CopyResult> {
        Coded(
            async move {
                let opts = migrate::CopyOptions {
                    batch: batch.map_or(500, |b| b as usize),
                    state: state.map(Into::into),
                };
                let r = migrate::copy(&*self.src, &*self.dst, &opts)
                    .await
                    .map_err(js_err)?;
                Ok(CopyResult {
                    copied: r.copied as f64,
                    resumed: r.resumed,
                    source_count: r.source_count as f64,
                    destination_count: r.destination_count as f64,
                    source_checksum: r.source_checksum,
                    destination_checksum: r.destination_checksum,
                })
            }
            .await,
        )
    }
}

#[napi(object)]
pub struct MigrationSummary {
    pub creds: bool,
    /// Number of keys moved.
    pub keys: u32,
    /// Keys moved per Baileys type, as a JSON object text.
    pub by_type: String,
    /// Files of the folder that were neither creds nor keys.
    pub skipped: Vec<String>,
}

fn summary(r: wa_store::MigrationReport) -> MigrationSummary {
    MigrationSummary {
        creds: r.creds,
        keys: r.total_keys() as u32,
        by_type: serde_json::to_string(&r.keys).unwrap_or_default(),
        skipped: r.skipped,
    }
}

// ---------------------------------------------------------------------------------------
// Typed store
// ---------------------------------------------------------------------------------------

/// An entry of a typed listing: the last path segment (JID or message id) and its JSON.
#[napi(object)]
pub struct ListedEntry {
    pub id: String,
    pub json: String,
}

/// The typed store (contacts, chats, messages, content, creds) over an engine.
#[napi]
pub struct NativeStore {
    store: Store,
    /// Merges concurrent writes (started on first use, inside the runtime).
    batched: tokio::sync::OnceCell<BatchedStore>,
}

/// Records merged into one engine write at most.
const STORE_BATCH_ITEMS: usize = 1000;

fn json_text(v: Option<Value>) -> Option<String> {
    v.map(|v| v.to_string())
}

#[napi]
impl NativeStore {
    #[napi(constructor)]
    pub fn new(engine: &NativeEngine) -> Self {
        Self {
            store: Store::new(engine.inner.clone()),
            batched: tokio::sync::OnceCell::new(),
        }
    }

    /// Writes contacts, chats and messages (`{ contacts: [[jid, json|null]], chats: [...],
    /// messages: [{ jid, id, message, content?, fresh? }] }`, `content` an index into
    /// `contents`, `fresh` for a message no earlier version of which is stored),
    /// merged with other callers' writes; resolves once stored.
    #[napi(catch_unwind)]
    pub async fn write(&self, json: String, contents: Vec<Buffer>) -> Coded<()> {
        Coded(
            async move {
                let batch = parse_batch(&json, contents)?;
                let b = self
                    .batched
                    .get_or_init(|| async {
                        BatchedStore::new(self.store.clone(), STORE_BATCH_ITEMS)
                    })
                    .await;
                b.write(batch).await.map_err(js_err)
            }
            .await,
        )
    }

    /// Reads `kind` (`creds`, `contact`, `chat`, `message`) as JSON text.
    #[napi(catch_unwind)]
    pub async fn get_json(
        &self,
        kind: String,
        jid: String,
        id: Option<String>,
    ) -> Coded<Option<String>> {
        Coded(
            async move {
                let s = &self.store;
                let v = match (kind.as_str(), id) {
                    ("creds", _) => s.creds_json().await,
                    ("contact", _) => s.contact(&jid).await,
                    ("chat", _) => s.chat(&jid).await,
                    ("message", Some(id)) => s.message(&jid, &id).await,
                    _ => {
                        return Err(coded(
                            "ERR_WA_STORE_BAD_VALUE",
                            format!("unknown kind {kind:?}"),
                        ));
                    }
                };
                Ok(json_text(v.map_err(js_err)?))
            }
            .await,
        )
    }

    /// Writes `kind` from JSON text; `null` deletes (a message with its content).
    #[napi(catch_unwind)]
    pub async fn set_json(
        &self,
        kind: String,
        jid: String,
        id: Option<String>,
        json: Option<String>,
    ) -> Coded<()> {
        Coded(
            async move {
                let v = json.as_deref().map(|j| parse_json(&kind, j)).transpose()?;
                let s = &self.store;
                let r = match (kind.as_str(), id, v) {
                    ("creds", _, Some(v)) => s.set_creds_json(&v).await,
                    ("creds", _, None) => s.engine().set(wa_store::CREDS_PATH, None).await,
                    ("contact", _, v) => s.set_contact(&jid, v.as_ref()).await,
                    ("chat", _, v) => s.set_chat(&jid, v.as_ref()).await,
                    ("message", Some(id), v) => s.set_message(&jid, &id, v.as_ref()).await,
                    _ => {
                        return Err(coded(
                            "ERR_WA_STORE_BAD_VALUE",
                            format!("unknown kind {kind:?}"),
                        ));
                    }
                };
                r.map_err(js_err)
            }
            .await,
        )
    }

    #[napi(catch_unwind)]
    pub async fn content(&self, jid: String, id: String) -> Coded<Option<Buffer>> {
        Coded(
            async move {
                Ok(self
                    .store
                    .content(&jid, &id)
                    .await
                    .map_err(js_err)?
                    .map(Buffer::from))
            }
            .await,
        )
    }

    #[napi(catch_unwind)]
    pub async fn set_content(&self, jid: String, id: String, content: Option<Buffer>) -> Coded<()> {
        Coded(
            async move {
                self.store
                    .set_content(&jid, &id, content.map(|b| b.to_vec()))
                    .await
                    .map_err(js_err)
            }
            .await,
        )
    }

    /// Lists `contact`, `chat` or (with `jid`) `message` entries, newest first.
    #[napi(catch_unwind)]
    pub async fn list_json(
        &self,
        kind: String,
        jid: Option<String>,
        offset: u32,
        limit: u32,
    ) -> Coded<Vec<ListedEntry>> {
        Coded(
            async move {
                let (o, l) = (offset as usize, limit as usize);
                let s = &self.store;
                let r = match (kind.as_str(), jid) {
                    ("contact", _) => s.contacts(o, l).await,
                    ("chat", _) => s.chats(o, l).await,
                    ("message", Some(jid)) => s.messages(&jid, o, l).await,
                    _ => {
                        return Err(coded(
                            "ERR_WA_STORE_BAD_VALUE",
                            format!("cannot list {kind:?}"),
                        ));
                    }
                };
                Ok(r.map_err(js_err)?
                    .into_iter()
                    .map(|(id, v)| ListedEntry {
                        id,
                        json: v.to_string(),
                    })
                    .collect())
            }
            .await,
        )
    }
}

fn parse_batch(json: &str, contents: Vec<Buffer>) -> Result<StoreBatch> {
    let v = parse_json("store batch", json)?;
    let bad = |m: &str| coded("ERR_WA_STORE_BAD_VALUE", format!("store batch: {m}"));
    let mut contents: Vec<Option<Vec<u8>>> =
        contents.into_iter().map(|b| Some(b.to_vec())).collect();
    let mut batch = StoreBatch::default();
    for (key, list) in [
        ("contacts", &mut batch.contacts),
        ("chats", &mut batch.chats),
    ] {
        for pair in v[key].as_array().map(Vec::as_slice).unwrap_or_default() {
            let jid = pair[0]
                .as_str()
                .ok_or_else(|| bad("a jid is not a string"))?;
            let value = match &pair[1] {
                Value::Null => None,
                other => Some(other.clone()),
            };
            list.push((jid.to_owned(), value));
        }
    }
    for m in v["messages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let jid = m["jid"].as_str().ok_or_else(|| bad("message jid"))?;
        let id = m["id"].as_str().ok_or_else(|| bad("message id"))?;
        let content = match m.get("content").and_then(Value::as_u64) {
            Some(i) => Some(
                contents
                    .get_mut(i as usize)
                    .and_then(Option::take)
                    .ok_or_else(|| bad("content index"))?,
            ),
            None => None,
        };
        if m["fresh"].as_bool() == Some(true) {
            batch.fresh_message(jid, id, m["message"].clone(), content);
        } else {
            batch.message(jid, id, m["message"].clone(), content);
        }
    }
    Ok(batch)
}

// ---------------------------------------------------------------------------------------
// Signal keys
// ---------------------------------------------------------------------------------------

/// A request from Rust to a Baileys-style `keys` object's dispatcher; `json` holds
/// `[[type, ids], ...]` for `get` and the `SignalDataSet` for `set`, in BufferJSON.
#[napi(object)]
pub struct KeysCall {
    pub op: String,
    pub json: String,
    pub deadline: f64,
}

#[napi(object)]
pub struct KeysReply {
    pub json: Option<String>,
    pub error: Option<String>,
    pub error_code: Option<String>,
}

type KeysTsfn = ThreadsafeFunction<KeysCall, Promise<KeysReply>, KeysCall, Status, false, true>;

/// A Baileys `SignalKeyStore` (`{ get(type, ids), set(data) }`) as a Rust [`KeyStore`].
struct JsKeyStore {
    dispatch: KeysTsfn,
    timeout: Duration,
}

impl JsKeyStore {
    async fn call(
        &self,
        op: &'static str,
        json: String,
    ) -> std::result::Result<Option<String>, StoreError> {
        let call = KeysCall {
            op: op.to_owned(),
            json,
            deadline: deadline_ms(self.timeout),
        };
        let reply = await_js(&self.dispatch, call, op, self.timeout).await?;
        if reply.error.is_some() || reply.error_code.is_some() {
            let mut e = reply_error(op, reply.error, reply.error_code);
            if let StoreError::Timeout { ms, .. } = &mut e {
                *ms = self.timeout.as_millis() as u64;
            }
            return Err(e);
        }
        Ok(reply.json)
    }
}

fn writes_from_json(v: Value) -> std::result::Result<KeyWrites, StoreError> {
    let Value::Object(types) = v else {
        return Err(StoreError::BadValue(
            "a SignalDataSet must be an object".into(),
        ));
    };
    let mut w = KeyWrites::new();
    for (ty, ids) in types {
        let ty = KeyType::parse(&ty)?;
        let Value::Object(ids) = ids else {
            return Err(StoreError::BadValue(format!(
                "{ty}: expected an object of id -> value"
            )));
        };
        let slot = w.entry(ty).or_default();
        for (id, v) in ids {
            slot.insert(id, if v.is_null() { None } else { Some(v) });
        }
    }
    Ok(w)
}

fn requests_from_json(v: Value) -> std::result::Result<Vec<KeyRequest>, StoreError> {
    let bad = || StoreError::BadValue("requests must be [[type, [ids...]], ...]".into());
    let Value::Array(items) = v else {
        return Err(bad());
    };
    items
        .into_iter()
        .map(|item| {
            let Value::Array(pair) = item else {
                return Err(bad());
            };
            let [Value::String(ty), Value::Array(ids)] = pair.as_slice() else {
                return Err(bad());
            };
            let ids = ids
                .iter()
                .map(|i| i.as_str().map(str::to_owned).ok_or_else(bad))
                .collect::<std::result::Result<_, _>>()?;
            Ok((KeyType::parse(ty)?, ids))
        })
        .collect()
}

impl KeyStore for JsKeyStore {
    // Taken at its word: a key store given to the socket writes a `set` whole or not at all
    // (docs/client.md, the durable inbox), so a message stays one write.
    fn all_or_nothing(&self) -> bool {
        true
    }

    fn get_many<'a>(&'a self, reqs: &'a [KeyRequest]) -> BoxFuture<'a, Vec<KeyMap>> {
        Box::pin(async move {
            let json = Value::Array(
                reqs.iter()
                    .map(|(t, ids)| serde_json::json!([t.as_str(), ids]))
                    .collect(),
            )
            .to_string();
            let text = self
                .call("get", json)
                .await?
                .ok_or_else(|| StoreError::EngineResult {
                    op: "get",
                    detail: "nothing".into(),
                })?;
            let parsed: Value =
                serde_json::from_str(&text).map_err(|e| StoreError::EngineResult {
                    op: "get",
                    detail: e.to_string(),
                })?;
            let Value::Array(maps) = parsed else {
                return Err(StoreError::EngineResult {
                    op: "get",
                    detail: "not an array".into(),
                });
            };
            if maps.len() != reqs.len() {
                return Err(StoreError::EngineResult {
                    op: "get",
                    detail: "wrong number of answers".into(),
                });
            }
            maps.into_iter()
                .map(|m| match m {
                    // Baileys' stores answer missing ids with null; absent means the same.
                    Value::Object(o) => Ok(o.into_iter().filter(|(_, v)| !v.is_null()).collect()),
                    other => Err(StoreError::EngineResult {
                        op: "get",
                        detail: format!("{other} instead of an object"),
                    }),
                })
                .collect()
        })
    }

    fn set<'a>(&'a self, writes: &'a KeyWrites) -> BoxFuture<'a, ()> {
        Box::pin(async move { self.call("set", set_text(writes, &[])?).await.map(|_| ()) })
    }

    // The dispatcher takes text: a typed value goes in as its own, without a tree.
    fn set_changes<'a>(&'a self, changes: &'a KeyChanges) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.call("set", set_text(&changes.values, &changes.typed)?)
                .await
                .map(|_| ())
        })
    }

    fn set_changes_owned(&self, changes: KeyChanges) -> BoxFuture<'_, ()> {
        Box::pin(async move { self.set_changes(&changes).await })
    }
}

/// A `SignalDataSet` as JSON text (what the dispatcher's `set` takes), each typed value
/// printed by itself, without a tree of the whole.
fn set_text(
    values: &KeyWrites,
    typed: &[(KeyType, String, Arc<dyn TypedValue>)],
) -> std::result::Result<String, StoreError> {
    enum Piece<'a> {
        Value(Option<&'a Value>),
        Text(String),
    }
    let mut by_type: std::collections::BTreeMap<KeyType, Vec<(&str, Piece<'_>)>> =
        Default::default();
    for (ty, ids) in values {
        let slot = by_type.entry(*ty).or_default();
        for (id, v) in ids {
            slot.push((id, Piece::Value(v.as_ref())));
        }
    }
    for (ty, id, v) in typed {
        by_type
            .entry(*ty)
            .or_default()
            .push((id, Piece::Text(v.json_text())));
    }
    let bad = |e: serde_json::Error| StoreError::BadValue(e.to_string());
    let mut out = String::from("{");
    for (i, (ty, entries)) in by_type.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(ty.as_str()).map_err(bad)?);
        out.push_str(":{");
        for (j, (id, piece)) in entries.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            out.push_str(&serde_json::to_string(id).map_err(bad)?);
            out.push(':');
            match piece {
                Piece::Value(Some(v)) => out.push_str(&serde_json::to_string(v).map_err(bad)?),
                Piece::Value(None) => out.push_str("null"),
                Piece::Text(t) => out.push_str(t),
            }
        }
        out.push('}');
    }
    out.push('}');
    Ok(out)
}

/// The Signal key store of an account: over an engine, a Baileys folder or a JavaScript
/// auth state, always behind a read cache and the pre-key bound.
#[napi]
pub struct NativeKeys {
    pub(crate) store: Arc<dyn KeyStore>,
}

// The account key policy (cache size, pre-key bound) is wa-store's, shared with Rust users.
fn cached(inner: Arc<dyn KeyStore>) -> Arc<dyn KeyStore> {
    AccountKeys::new(inner).build()
}

#[napi]
impl NativeKeys {
    #[napi(factory, js_name = "fromEngine")]
    pub fn from_engine(engine: &NativeEngine) -> Self {
        Self {
            store: cached(Arc::new(EngineKeyStore::new(engine.inner.clone()))),
        }
    }

    /// Adapts a Baileys `keys` object through its dispatcher (see lib/store.js). `cache`
    /// (default true) puts the read cache in front: right when this process is the store's
    /// only writer (a socket's own auth state), wrong when others write to it too (a Signal
    /// repository handed to another socket).
    #[napi(factory, js_name = "fromJs")]
    pub fn from_js(
        dispatch: Function<KeysCall, Promise<KeysReply>>,
        timeout_ms: u32,
        cache: Option<bool>,
    ) -> Result<Self> {
        let tsfn = dispatch
            .build_threadsafe_function()
            .callee_handled::<false>()
            .weak::<true>()
            .build()?;
        let store: Arc<dyn KeyStore> = Arc::new(JsKeyStore {
            dispatch: tsfn,
            timeout: Duration::from_millis(timeout_ms.into()),
        });
        Ok(Self {
            store: if cache.unwrap_or(true) {
                cached(store)
            } else {
                store
            },
        })
    }

    /// `get(type, ids)`: a JSON object of the ids found.
    #[napi(catch_unwind)]
    pub async fn get(&self, key_type: String, ids: Vec<String>) -> Coded<String> {
        Coded(
            async move {
                let ty = KeyType::parse(&key_type).map_err(js_err)?;
                let m = self.store.get(ty, &ids).await.map_err(js_err)?;
                Ok(Value::Object(m.into_iter().collect()).to_string())
            }
            .await,
        )
    }

    /// `set(data)` with a `SignalDataSet` as JSON text: all or nothing.
    #[napi(catch_unwind)]
    pub async fn set(&self, json: String) -> Coded<()> {
        Coded(
            async move {
                let w = writes_from_json(parse_json("data", &json)?).map_err(js_err)?;
                self.store.set(&w).await.map_err(js_err)
            }
            .await,
        )
    }

    #[napi]
    pub fn transaction(&self) -> NativeKeyTransaction {
        NativeKeyTransaction {
            tx: tokio::sync::Mutex::new(Some(KeyTransaction::new(self.store.clone()))),
        }
    }
}

/// One unit of key work: reads fetched once (`prefetch`), writes committed once.
#[napi]
pub struct NativeKeyTransaction {
    tx: tokio::sync::Mutex<Option<KeyTransaction>>,
}

fn finished() -> JsFail {
    coded(
        "ERR_WA_STORE_TX_DONE",
        "the transaction was already committed",
    )
}

#[napi]
impl NativeKeyTransaction {
    /// Fetches `[[type, ids], ...]` (JSON) in one read of the underlying store.
    #[napi(catch_unwind)]
    pub async fn prefetch(&self, json: String) -> Coded<()> {
        Coded(
            async move {
                let reqs = requests_from_json(parse_json("requests", &json)?).map_err(js_err)?;
                let mut g = self.tx.lock().await;
                g.as_mut()
                    .ok_or_else(finished)?
                    .prefetch(&reqs)
                    .await
                    .map_err(js_err)
            }
            .await,
        )
    }

    #[napi(catch_unwind)]
    pub async fn get(&self, key_type: String, ids: Vec<String>) -> Coded<String> {
        Coded(
            async move {
                let ty = KeyType::parse(&key_type).map_err(js_err)?;
                let mut g = self.tx.lock().await;
                let m = g
                    .as_mut()
                    .ok_or_else(finished)?
                    .get(ty, &ids)
                    .await
                    .map_err(js_err)?;
                Ok(Value::Object(m.into_iter().collect()).to_string())
            }
            .await,
        )
    }

    #[napi(catch_unwind)]
    pub async fn set(&self, json: String) -> Coded<()> {
        Coded(
            async move {
                let w = writes_from_json(parse_json("data", &json)?).map_err(js_err)?;
                let mut g = self.tx.lock().await;
                g.as_mut().ok_or_else(finished)?.set(w);
                Ok(())
            }
            .await,
        )
    }

    /// Writes everything staged in one atomic `set`.
    #[napi(catch_unwind)]
    pub async fn commit(&self) -> Coded<()> {
        Coded(
            async move {
                let tx = self.tx.lock().await.take().ok_or_else(finished)?;
                tx.commit().await.map_err(js_err)
            }
            .await,
        )
    }
}

// ---------------------------------------------------------------------------------------
// Baileys auth folders and credentials
// ---------------------------------------------------------------------------------------

/// A Baileys `useMultiFileAuthState` folder.
#[napi]
pub struct NativeAuthFolder {
    folder: BaileysFolder,
}

#[napi]
impl NativeAuthFolder {
    /// `durability`: `"full"` (default) or `"process"` (see docs/storage.md).
    #[napi(constructor, catch_unwind)]
    pub fn new(dir: String, durability: Option<String>) -> Result<Self> {
        let opts = file_options(durability)?;
        Ok(Self {
            folder: BaileysFolder::open_with(dir, opts).map_err(js_err)?,
        })
    }

    /// The text of `creds.json`, `null` when there is none.
    #[napi(catch_unwind)]
    pub async fn read_creds(&self) -> Coded<Option<String>> {
        Coded(
            async move {
                let b = self.folder.read_creds().await.map_err(js_err)?;
                b.map(|b| {
                    String::from_utf8(b)
                        .map_err(|e| coded("ERR_WA_STORE_CORRUPT", format!("creds.json: {e}")))
                })
                .transpose()
            }
            .await,
        )
    }

    /// Replaces `creds.json` atomically.
    #[napi(catch_unwind)]
    pub async fn write_creds(&self, json: String) -> Coded<()> {
        Coded(
            async move {
                parse_json("creds", &json)?;
                self.folder
                    .write_creds(json.into_bytes())
                    .await
                    .map_err(js_err)
            }
            .await,
        )
    }

    #[napi]
    pub fn keys(&self) -> NativeKeys {
        NativeKeys {
            store: cached(Arc::new(self.folder.clone())),
        }
    }
}

/// Fresh credentials as JSON text (BufferJSON), like Baileys' `initAuthCreds()`.
#[napi(js_name = "initAuthCredsJson", catch_unwind)]
pub fn init_auth_creds_json() -> String {
    String::from_utf8(AuthenticationCreds::generate().to_json()).unwrap_or_default()
}
