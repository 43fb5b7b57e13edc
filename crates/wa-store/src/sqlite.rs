//! The SQLite engine: one table, WAL, one transaction per batch, a migrations table.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};

use crate::engine::{BoxFuture, Engine, Write, blocking};
use crate::error::{Result, StoreError};
use crate::path;

/// Schema migrations, applied in order inside one transaction each. Never edit a shipped
/// one; append.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "entries",
        "CREATE TABLE entries (
         parent TEXT NOT NULL,
         name   TEXT NOT NULL,
         value  BLOB NOT NULL,
         seq    INTEGER NOT NULL,
         PRIMARY KEY (parent, name)
     );
     CREATE INDEX entries_by_order ON entries (parent, seq);",
    ),
    (
        2,
        "list in key order",
        // `list` is served by the primary key (parent, name) now; the creation-order index
        // is dead weight on every write.
        "DROP INDEX entries_by_order;",
    ),
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = 2;

struct Db {
    conn: Connection,
    /// Creation counter for `list` order; survives restarts through `MAX(seq)`.
    seq: i64,
}

/// The SQLite engine. Cheap to clone; clones share one connection.
#[derive(Clone)]
pub struct SqliteEngine {
    db: Arc<Mutex<Db>>,
    path: PathBuf,
}

impl SqliteEngine {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let existed = path.exists();
        let conn = Connection::open(&path)?;
        #[cfg(unix)]
        if !existed {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
        }
        let db = Self::init(conn)?;
        Ok(Self {
            db: Arc::new(Mutex::new(db)),
            path,
        })
    }

    /// An in-memory database (tests, benchmarks).
    pub fn memory() -> Result<Self> {
        let db = Self::init(Connection::open_in_memory()?)?;
        Ok(Self {
            db: Arc::new(Mutex::new(db)),
            path: PathBuf::from(":memory:"),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn init(mut conn: Connection) -> Result<Db> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // Reading the header here turns a truncated or foreign file into a clear error.
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if mode != "wal" && mode != "memory" {
            return Err(StoreError::Sqlite(format!(
                "cannot enable WAL (journal_mode is {mode})"
            )));
        }
        // FULL: an acknowledged batch survives power loss, not only a process crash.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS migrations (
                 version    INTEGER PRIMARY KEY,
                 name       TEXT NOT NULL,
                 applied_at INTEGER NOT NULL
             );",
        )?;
        let current: i64 = conn.query_row(
            "SELECT COALESCE(MAX(version), 0) FROM migrations",
            [],
            |r| r.get(0),
        )?;
        if current > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                found: current,
                supported: SCHEMA_VERSION,
            });
        }
        for &(version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            tx.execute(
                "INSERT INTO migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                params![version, name, now],
            )?;
            tx.commit()?;
        }
        let seq: i64 = conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM entries", [], |r| {
            r.get(0)
        })?;
        Ok(Db { conn, seq })
    }

    async fn with_db<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Db) -> Result<T> + Send + 'static,
    {
        let db = self.db.clone();
        blocking(move || {
            let mut g = db.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut g)
        })
        .await
    }
}

fn get_one(conn: &Connection, p: &str) -> Result<Option<Vec<u8>>> {
    let (parent, name) = path::split(p);
    let mut st =
        conn.prepare_cached("SELECT value FROM entries WHERE parent = ?1 AND name = ?2")?;
    Ok(st
        .query_row(params![parent, name], |r| r.get(0))
        .optional()?)
}

impl Engine for SqliteEngine {
    fn get<'a>(&'a self, p: &'a str) -> BoxFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            path::check(p)?;
            let p = p.to_owned();
            self.with_db(move |db| get_one(&db.conn, &p)).await
        })
    }

    fn get_many<'a>(&'a self, paths: &'a [String]) -> BoxFuture<'a, Vec<Option<Vec<u8>>>> {
        Box::pin(async move {
            for p in paths {
                path::check(p)?;
            }
            let paths = paths.to_vec();
            self.with_db(move |db| paths.iter().map(|p| get_one(&db.conn, p)).collect())
                .await
        })
    }

    // One transaction per batch.
    fn all_or_nothing(&self) -> bool {
        true
    }

    fn set_many<'a>(&'a self, writes: Vec<Write>) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            for w in &writes {
                path::check(&w.path)?;
            }
            if writes.is_empty() {
                return Ok(());
            }
            self.with_db(move |db| {
                let mut seq = db.seq;
                let tx = db.conn.transaction()?;
                {
                    let mut exists =
                        tx.prepare_cached("SELECT 1 FROM entries WHERE parent = ?1 AND name = ?2")?;
                    let mut update = tx.prepare_cached(
                        "UPDATE entries SET value = ?3 WHERE parent = ?1 AND name = ?2",
                    )?;
                    let mut insert = tx.prepare_cached(
                        "INSERT INTO entries (parent, name, value, seq) VALUES (?1, ?2, ?3, ?4)",
                    )?;
                    let mut delete =
                        tx.prepare_cached("DELETE FROM entries WHERE parent = ?1 AND name = ?2")?;
                    for w in &writes {
                        let (parent, name) = path::split(&w.path);
                        match &w.value {
                            Some(v) => {
                                if exists.exists(params![parent, name])? {
                                    update.execute(params![parent, name, v])?;
                                } else {
                                    seq += 1;
                                    insert.execute(params![parent, name, v, seq])?;
                                }
                            }
                            None => {
                                delete.execute(params![parent, name])?;
                            }
                        }
                    }
                }
                tx.commit()?;
                db.seq = seq;
                Ok(())
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
            let prefix = path::check_prefix(prefix)?.to_owned();
            self.with_db(move |db| {
                let mut st = db.conn.prepare_cached(
                    "SELECT name FROM entries WHERE parent = ?1 ORDER BY name LIMIT ?2 OFFSET ?3",
                )?;
                let limit = i64::try_from(limit).unwrap_or(i64::MAX);
                let offset = i64::try_from(offset).unwrap_or(i64::MAX);
                let rows =
                    st.query_map(params![prefix, limit, offset], |r| r.get::<_, String>(0))?;
                rows.map(|n| Ok(path::join(&prefix, &n?))).collect()
            })
            .await
        })
    }

    fn scan<'a>(&'a self, after: Option<&'a str>, limit: usize) -> BoxFuture<'a, Vec<String>> {
        Box::pin(async move {
            let (ap, an) = match after {
                Some(a) => {
                    path::check(a)?;
                    let (p, n) = path::split(a);
                    (p.to_owned(), n.to_owned())
                }
                None => (String::new(), String::new()),
            };
            let first = after.is_none();
            self.with_db(move |db| {
                let mut st = db.conn.prepare_cached(
                    "SELECT parent, name FROM entries WHERE ?1 OR (parent, name) > (?2, ?3)
                     ORDER BY parent, name LIMIT ?4",
                )?;
                let limit = i64::try_from(limit).unwrap_or(i64::MAX);
                let rows = st.query_map(params![first, ap, an, limit], |r| {
                    Ok(path::join(&r.get::<_, String>(0)?, &r.get::<_, String>(1)?))
                })?;
                rows.map(|r| r.map_err(Into::into)).collect()
            })
            .await
        })
    }
}
