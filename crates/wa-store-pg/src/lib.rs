//! The PostgreSQL engine: `wa_store::Engine` on a pooled `tokio-postgres` connection.
//!
//! One table holds every account: `wa_store_entries(prefix, parent, name, value)` with the
//! primary key `(prefix, parent, name)` in the "C" collation, so `get` is one index probe
//! and `list` (children of a parent, in byte order of their names) an index range scan.
//! `prefix` separates accounts sharing a database. A batch is one transaction. The schema
//! is created and migrated by versioned migrations (`wa_store_migrations`), applied under
//! an advisory lock so several processes can open one database at once; a database from
//! a newer build is refused (`ERR_WA_STORE_SCHEMA`).
//!
//! Outages (the server restarting, a dropped connection, a full pool) are retried with
//! backoff for at most [`PgOptions::retry_for`]; every operation is idempotent (a batch
//! writes whole values), so a retried batch cannot leave a mixed record. Past the bound
//! the error is `ERR_WA_STORE_UNAVAILABLE`; other server errors are `ERR_WA_STORE_PG`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;
use wa_store::path;
use wa_store::{BoxFuture, Engine, Result, StoreError, Write};

/// The schema version this build writes.
pub const SCHEMA_VERSION: i32 = 1;

/// Versioned migrations, applied in order, each in the transaction that records it. Never
/// edit a shipped one; append.
const MIGRATIONS: &[(i32, &str, &str)] = &[(
    1,
    "entries",
    "CREATE TABLE wa_store_entries (
         prefix     TEXT COLLATE \"C\" NOT NULL,
         parent     TEXT COLLATE \"C\" NOT NULL,
         name       TEXT COLLATE \"C\" NOT NULL,
         value      BYTEA NOT NULL,
         updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
         PRIMARY KEY (prefix, parent, name)
     )",
)];

/// An arbitrary constant naming our advisory lock (migrations of one database run one at
/// a time).
const MIGRATION_LOCK: i64 = 0x7761_5f73_746f_7265; // "wa_store"

/// Options of [`PostgresEngine::connect`].
#[derive(Clone, Debug)]
pub struct PgOptions {
    /// The account's key space in the table; two prefixes never see each other's entries.
    pub prefix: String,
    /// Most connections the pool opens.
    pub pool_max: usize,
    /// How long an operation is retried across outages before it fails.
    pub retry_for: Duration,
    /// How long one attempt may wait for a connection from the pool (or a new one).
    pub connect_timeout: Duration,
}

/// The default prefix, the seed's default account name.
pub const DEFAULT_PREFIX: &str = ".baileys/default";

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            prefix: DEFAULT_PREFIX.to_owned(),
            pool_max: 8,
            retry_for: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// The PostgreSQL engine. Cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct PostgresEngine {
    pool: Pool,
    prefix: String,
    opts: PgOptions,
    /// Set once the schema is known to be current (migrated on first use).
    schema: Arc<OnceCell<()>>,
}

fn pg_err(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

/// Whether an error is a passing outage worth retrying.
fn transient_pg(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(c) => {
            c.code().starts_with("08")
                || *c == SqlState::ADMIN_SHUTDOWN
                || *c == SqlState::CRASH_SHUTDOWN
                || *c == SqlState::CANNOT_CONNECT_NOW
                || *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED
                || *c == SqlState::TOO_MANY_CONNECTIONS
        }
        // No SQLSTATE: an I/O or protocol failure on the connection.
        None => e.as_db_error().is_none(),
    }
}

/// One attempt's failure.
enum Fail {
    Transient(String),
    Fatal(StoreError),
}

impl From<tokio_postgres::Error> for Fail {
    fn from(e: tokio_postgres::Error) -> Self {
        if transient_pg(&e) {
            Fail::Transient(pg_err(&e))
        } else {
            Fail::Fatal(StoreError::Postgres(pg_err(&e)))
        }
    }
}

impl From<deadpool_postgres::PoolError> for Fail {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        use deadpool_postgres::PoolError;
        match e {
            PoolError::Backend(e) => e.into(),
            PoolError::Timeout(_) => Fail::Transient("no connection within the timeout".into()),
            PoolError::PostCreateHook(e) => Fail::Transient(e.to_string()),
            other => Fail::Fatal(StoreError::Postgres(other.to_string())),
        }
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Fatal(e)
    }
}

impl PostgresEngine {
    /// Connects (`postgres://user:pass@host:port/db` or `host=... user=...`), creates or
    /// migrates the schema, and returns the engine for `opts.prefix`.
    pub async fn connect(url: &str, opts: PgOptions) -> Result<Self> {
        let engine = Self::new(url, opts)?;
        engine.ready().await?;
        Ok(engine)
    }

    /// The engine without touching the server yet: the first operation connects and
    /// migrates the schema (for constructors that cannot wait).
    pub fn new(url: &str, opts: PgOptions) -> Result<Self> {
        if opts.pool_max == 0 {
            return Err(StoreError::BadOption("pool.max must be at least 1".into()));
        }
        let mut cfg: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::BadOption(format!("connection string: {e}")))?;
        if cfg.get_connect_timeout().is_none() {
            cfg.connect_timeout(opts.connect_timeout);
        }
        cfg.application_name("baileys-native");
        let mgr = Manager::from_config(
            cfg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(mgr)
            .max_size(opts.pool_max)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(opts.connect_timeout))
            .create_timeout(Some(opts.connect_timeout))
            .recycle_timeout(Some(opts.connect_timeout))
            .build()
            .map_err(|e| StoreError::BadOption(format!("pool: {e}")))?;
        Ok(Self {
            pool,
            prefix: opts.prefix.clone(),
            opts,
            schema: Arc::new(OnceCell::new()),
        })
    }

    /// Creates or migrates the schema once per engine.
    async fn ready(&self) -> Result<()> {
        self.schema
            .get_or_try_init(|| self.retry("migrate", || self.migrate_once()))
            .await
            .map(|_| ())
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The schema version of the database (after [`connect`](Self::connect) migrated it).
    pub async fn schema_version(&self) -> Result<i32> {
        self.ready().await?;
        self.retry("schema version", || async {
            let c = self.pool.get().await?;
            let row = c
                .query_one(
                    "SELECT COALESCE(MAX(version), 0) FROM wa_store_migrations",
                    &[],
                )
                .await?;
            Ok(row.get::<_, i32>(0))
        })
        .await
    }

    /// Deletes every entry of this engine's prefix (other prefixes are untouched).
    pub async fn clear(&self) -> Result<u64> {
        self.ready().await?;
        self.retry("clear", || async {
            let c = self.pool.get().await?;
            Ok(c.execute(
                "DELETE FROM wa_store_entries WHERE prefix = $1",
                &[&self.prefix],
            )
            .await?)
        })
        .await
    }

    async fn migrate_once(&self) -> std::result::Result<(), Fail> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS wa_store_migrations (
                 version    INTEGER PRIMARY KEY,
                 name       TEXT NOT NULL,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             )",
        )
        .await?;
        let current: i32 = tx
            .query_one(
                "SELECT COALESCE(MAX(version), 0) FROM wa_store_migrations",
                &[],
            )
            .await?
            .get(0);
        if current > SCHEMA_VERSION {
            return Err(Fail::Fatal(StoreError::SchemaTooNew {
                found: current.into(),
                supported: SCHEMA_VERSION.into(),
            }));
        }
        for &(version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
            tx.batch_execute(sql).await?;
            tx.execute(
                "INSERT INTO wa_store_migrations (version, name) VALUES ($1, $2)",
                &[&version, &name],
            )
            .await?;
            tracing::info!(version, name, "postgres store: migration applied");
        }
        tx.commit().await?;
        Ok(())
    }

    /// Runs `attempt` until it succeeds, fails for good, or outages last past the bound.
    async fn retry<T, F, Fut>(&self, op: &'static str, mut attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<T, Fail>>,
    {
        let start = Instant::now();
        let mut backoff = Duration::from_millis(50);
        loop {
            match attempt().await {
                Ok(v) => return Ok(v),
                Err(Fail::Fatal(e)) => return Err(e),
                Err(Fail::Transient(msg)) => {
                    let spent = start.elapsed();
                    if spent + backoff > self.opts.retry_for {
                        return Err(StoreError::Unavailable {
                            engine: "postgres",
                            ms: spent.as_millis() as u64,
                            message: format!("{op}: {msg}"),
                        });
                    }
                    tracing::warn!(op, error = %msg, "postgres store: retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
    }
}

/// `(parent, name)` of a checked path.
fn key(p: &str) -> Result<(&str, &str)> {
    path::check(p)?;
    Ok(path::split(p))
}

impl Engine for PostgresEngine {
    fn get<'a>(&'a self, p: &'a str) -> BoxFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            let (parent, name) = key(p)?;
            self.ready().await?;
            self.retry("get", || async move {
                let c = self.pool.get().await?;
                let st = c
                    .prepare_cached(
                        "SELECT value FROM wa_store_entries WHERE prefix = $1 AND parent = $2 AND name = $3",
                    )
                    .await?;
                let row = c.query_opt(&st, &[&self.prefix, &parent, &name]).await?;
                Ok(row.map(|r| r.get::<_, Vec<u8>>(0)))
            })
            .await
        })
    }

    fn get_many<'a>(&'a self, paths: &'a [String]) -> BoxFuture<'a, Vec<Option<Vec<u8>>>> {
        Box::pin(async move {
            let mut parents = Vec::with_capacity(paths.len());
            let mut names = Vec::with_capacity(paths.len());
            for p in paths {
                let (parent, name) = key(p)?;
                parents.push(parent);
                names.push(name);
            }
            if paths.is_empty() {
                return Ok(Vec::new());
            }
            self.ready().await?;
            let found = self
                .retry("get", || {
                    let (parents, names) = (&parents, &names);
                    async move {
                        let c = self.pool.get().await?;
                        let st = c
                            .prepare_cached(
                                "SELECT e.parent, e.name, e.value FROM wa_store_entries e
                                 JOIN unnest($2::text[], $3::text[]) AS k(parent, name)
                                   ON e.parent = k.parent AND e.name = k.name
                                 WHERE e.prefix = $1",
                            )
                            .await?;
                        let rows = c.query(&st, &[&self.prefix, parents, names]).await?;
                        Ok(rows
                            .into_iter()
                            .map(|r| {
                                (
                                    path::join(r.get::<_, &str>(0), r.get::<_, &str>(1)),
                                    r.get::<_, Vec<u8>>(2),
                                )
                            })
                            .collect::<HashMap<String, Vec<u8>>>())
                    }
                })
                .await?;
            Ok(paths.iter().map(|p| found.get(p).cloned()).collect())
        })
    }

    // One transaction per batch.
    fn all_or_nothing(&self) -> bool {
        true
    }

    fn set_many<'a>(&'a self, writes: Vec<Write>) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            // The last write to a path wins; what remains touches each path once, so the
            // order inside the transaction no longer matters.
            let mut last: HashMap<&str, Option<&[u8]>> = HashMap::with_capacity(writes.len());
            for w in &writes {
                path::check(&w.path)?;
                last.insert(&w.path, w.value.as_deref());
            }
            if last.is_empty() {
                return Ok(());
            }
            self.ready().await?;
            let (mut put_p, mut put_n, mut put_v) = (Vec::new(), Vec::new(), Vec::new());
            let (mut del_p, mut del_n) = (Vec::new(), Vec::new());
            for (p, v) in &last {
                let (parent, name) = path::split(p);
                match v {
                    Some(v) => {
                        put_p.push(parent);
                        put_n.push(name);
                        put_v.push(*v);
                    }
                    None => {
                        del_p.push(parent);
                        del_n.push(name);
                    }
                }
            }
            self.retry("set", || {
                let (put_p, put_n, put_v, del_p, del_n) = (&put_p, &put_n, &put_v, &del_p, &del_n);
                async move {
                    let mut c = self.pool.get().await?;
                    let tx = c.transaction().await?;
                    if !put_p.is_empty() {
                        let st = tx
                            .prepare_cached(
                                "INSERT INTO wa_store_entries (prefix, parent, name, value)
                                 SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bytea[])
                                 ON CONFLICT (prefix, parent, name)
                                 DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
                            )
                            .await?;
                        tx.execute(&st, &[&self.prefix, put_p, put_n, put_v])
                            .await?;
                    }
                    if !del_p.is_empty() {
                        let st = tx
                            .prepare_cached(
                                "DELETE FROM wa_store_entries e
                                 USING unnest($2::text[], $3::text[]) AS k(parent, name)
                                 WHERE e.prefix = $1 AND e.parent = k.parent AND e.name = k.name",
                            )
                            .await?;
                        tx.execute(&st, &[&self.prefix, del_p, del_n]).await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }
            })
            .await
        })
    }

    fn list<'a>(
        &'a self,
        prefix: &'a str,
        offset: usize,
        limit: usize,
    ) -> BoxFuture<'a, Vec<String>> {
        Box::pin(async move {
            let parent = path::check_prefix(prefix)?;
            if limit == 0 {
                return Ok(Vec::new());
            }
            self.ready().await?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let offset = i64::try_from(offset).unwrap_or(i64::MAX);
            let names = self
                .retry("list", || async move {
                    let c = self.pool.get().await?;
                    let st = c
                        .prepare_cached(
                            "SELECT name FROM wa_store_entries WHERE prefix = $1 AND parent = $2
                             ORDER BY name LIMIT $3 OFFSET $4",
                        )
                        .await?;
                    let rows = c
                        .query(&st, &[&self.prefix, &parent, &limit, &offset])
                        .await?;
                    Ok(rows
                        .into_iter()
                        .map(|r| r.get::<_, String>(0))
                        .collect::<Vec<_>>())
                })
                .await?;
            Ok(names.iter().map(|n| path::join(parent, n)).collect())
        })
    }

    fn scan<'a>(&'a self, after: Option<&'a str>, limit: usize) -> BoxFuture<'a, Vec<String>> {
        Box::pin(async move {
            let (ap, an) = match after {
                Some(a) => key(a)?,
                None => ("", ""),
            };
            let first = after.is_none();
            if limit == 0 {
                return Ok(Vec::new());
            }
            self.ready().await?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            self.retry("scan", || async move {
                let c = self.pool.get().await?;
                let st = c
                    .prepare_cached(
                        "SELECT parent, name FROM wa_store_entries
                         WHERE prefix = $1 AND ($2 OR (parent, name) > ($3, $4))
                         ORDER BY parent, name LIMIT $5",
                    )
                    .await?;
                let rows = c
                    .query(&st, &[&self.prefix, &first, &ap, &an, &limit])
                    .await?;
                Ok(rows
                    .into_iter()
                    .map(|r| path::join(r.get::<_, &str>(0), r.get::<_, &str>(1)))
                    .collect())
            })
            .await
        })
    }
}
