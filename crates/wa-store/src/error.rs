//! The storage layer's errors, each with a stable `ERR_WA_STORE_*` code.

use std::path::PathBuf;

/// Everything that can go wrong in a store. `code()` is stable across releases.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A path that breaks the path convention (empty segment, `.`/`..`, NUL, too long).
    #[error("bad path {path:?}: {reason}")]
    BadPath { path: String, reason: &'static str },
    /// A JID that cannot name a store entry (empty, `/`, `..`, NUL).
    #[error("bad JID {jid:?}: {reason}")]
    BadJid { jid: String, reason: &'static str },
    /// A message or key id that cannot name a store entry.
    #[error("bad id {id:?}: {reason}")]
    BadId { id: String, reason: &'static str },
    /// A Signal key type that is not one of Baileys' `SignalDataTypeMap` names.
    #[error("unknown Signal key type {0:?}")]
    BadKeyType(String),
    /// A value that is not what its store holds (for example JSON that does not parse).
    #[error("bad value: {0}")]
    BadValue(String),
    /// Stored data that cannot be read back: a corrupt JSON file, a damaged database.
    #[error("corrupt {what}: {detail}")]
    Corrupt { what: String, detail: String },
    /// The database was written by a newer schema than this build knows.
    #[error("database schema version {found} is newer than the {supported} this build supports")]
    SchemaTooNew { found: i64, supported: i64 },
    /// An operating-system I/O error.
    #[error("{op} {path}: {source}", path = path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An SQLite error that is not corruption.
    #[error("sqlite: {0}")]
    Sqlite(String),
    /// An engine implemented outside Rust (a JavaScript object) threw or rejected.
    #[error("{op} failed in the JavaScript engine: {message}")]
    Engine { op: &'static str, message: String },
    /// An engine outside Rust answered with something that is not the contract's type.
    #[error("{op}: the JavaScript engine returned {detail}")]
    EngineResult { op: &'static str, detail: String },
    /// An engine outside Rust did not answer in time; the write's effects were rolled back
    /// or never happened (see docs/storage.md).
    #[error("{op} timed out after {ms} ms")]
    Timeout { op: &'static str, ms: u64 },
    /// PostgreSQL refused a statement or the connection (not a passing outage).
    #[error("postgres: {0}")]
    Postgres(String),
    /// S3 answered with an error that is not a passing outage (denied, no such bucket, ...).
    #[error("s3: {0}")]
    S3(String),
    /// A server engine could not be reached, or kept failing, for longer than its retry
    /// bound; nothing of the failed operation is half-applied.
    #[error("{engine} unavailable after retrying for {ms} ms: {message}")]
    Unavailable {
        engine: &'static str,
        ms: u64,
        message: String,
    },
    /// A migration's destination does not hold exactly the source's entries afterwards.
    #[error("migration not verified: {0}")]
    MigrationMismatch(String),
    /// An engine option that is not valid (an unknown key, a bad URL, a zero pool).
    #[error("bad option: {0}")]
    BadOption(String),
    /// The background task running blocking I/O went away (runtime shutting down).
    #[error("storage worker stopped: {0}")]
    Worker(String),
}

impl StoreError {
    /// The stable code of this error, as JavaScript sees it in `err.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadPath { .. } => "ERR_WA_STORE_BAD_PATH",
            Self::BadJid { .. } => "ERR_WA_STORE_BAD_JID",
            Self::BadId { .. } => "ERR_WA_STORE_BAD_ID",
            Self::BadKeyType(_) => "ERR_WA_STORE_BAD_KEY_TYPE",
            Self::BadValue(_) => "ERR_WA_STORE_BAD_VALUE",
            Self::Corrupt { .. } => "ERR_WA_STORE_CORRUPT",
            Self::SchemaTooNew { .. } => "ERR_WA_STORE_SCHEMA",
            Self::Io { .. } => "ERR_WA_STORE_IO",
            Self::Sqlite(_) => "ERR_WA_STORE_SQLITE",
            Self::Engine { .. } => "ERR_WA_STORE_ENGINE",
            Self::EngineResult { .. } => "ERR_WA_STORE_ENGINE_RESULT",
            Self::Timeout { .. } => "ERR_WA_STORE_TIMEOUT",
            Self::Worker(_) => "ERR_WA_STORE_WORKER",
            Self::Postgres(_) => "ERR_WA_STORE_PG",
            Self::S3(_) => "ERR_WA_STORE_S3",
            Self::Unavailable { .. } => "ERR_WA_STORE_UNAVAILABLE",
            Self::BadOption(_) => "ERR_WA_STORE_BAD_OPTION",
            Self::MigrationMismatch(_) => "ERR_WA_STORE_MIGRATION_MISMATCH",
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(what: impl Into<String>, detail: impl std::fmt::Display) -> Self {
        Self::Corrupt {
            what: what.into(),
            detail: detail.to_string(),
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        if let rusqlite::Error::SqliteFailure(f, _) = &e
            && matches!(f.code, ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
        {
            return Self::corrupt("SQLite database", &e);
        }
        Self::Sqlite(e.to_string())
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
