//! Moving an account between a Baileys auth folder and any engine (SQLite, files, ...),
//! both ways, byte for byte: values are BufferJSON text in both places.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::baileys::{BaileysFolder, CREDS_FILE, FolderEntry, key_file_name};
use crate::engine::{Engine, Write};
use crate::error::{Result, StoreError};
use crate::keys::{EngineKeyStore, KeyType, key_path};
use crate::store::CREDS_PATH;

/// What a migration moved.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    pub creds: bool,
    /// Keys moved, per Baileys type name.
    pub keys: BTreeMap<&'static str, usize>,
    /// Files of the folder that are neither creds nor keys (left where they are).
    pub skipped: Vec<String>,
}

impl MigrationReport {
    pub fn total_keys(&self) -> usize {
        self.keys.values().sum()
    }
}

fn check_json(what: &str, bytes: &[u8]) -> Result<()> {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .map(|_| ())
        .map_err(|e| StoreError::corrupt(what.to_owned(), e))
}

/// Copies a Baileys folder into `engine` in one atomic batch. Every file is checked to be
/// JSON first: a corrupt file fails the migration and nothing is written.
pub async fn folder_to_engine(
    folder: &BaileysFolder,
    engine: &dyn Engine,
) -> Result<MigrationReport> {
    let entries = folder.entries().await?;
    let mut report = MigrationReport::default();
    let names: Vec<String> = entries
        .iter()
        .filter(|(_, k)| !matches!(k, FolderEntry::Other(_)))
        .map(|(n, _)| n.clone())
        .collect();
    let mut contents = folder.read_files(names).await?.into_iter();
    let mut batch = Vec::new();
    for (name, kind) in entries {
        let (path, ty) = match kind {
            FolderEntry::Other(n) => {
                report.skipped.push(n);
                continue;
            }
            FolderEntry::Creds => (CREDS_PATH.to_owned(), None),
            FolderEntry::Key(ty, id) => (key_path(ty, &id)?, Some(ty)),
        };
        // A file deleted while we listed: nothing to move.
        let Some(bytes) = contents.next().flatten() else {
            continue;
        };
        check_json(&folder.dir().join(&name).display().to_string(), &bytes)?;
        match ty {
            None => report.creds = true,
            Some(ty) => *report.keys.entry(ty.as_str()).or_default() += 1,
        }
        batch.push(Write::put(path, bytes));
    }
    engine.set_many(batch).await?;
    Ok(report)
}

/// Writes the account in `engine` out as a Baileys folder (one atomic batch of files).
pub async fn engine_to_folder(
    engine: Arc<dyn Engine>,
    folder: &BaileysFolder,
) -> Result<MigrationReport> {
    let mut report = MigrationReport::default();
    let mut files = Vec::new();
    if let Some(creds) = engine.get(CREDS_PATH).await? {
        check_json("credentials", &creds)?;
        files.push((CREDS_FILE.to_owned(), Some(creds)));
        report.creds = true;
    }
    let keys = EngineKeyStore::new(engine.clone());
    for ty in KeyType::ALL {
        let ids = keys.ids(ty).await?;
        if ids.is_empty() {
            continue;
        }
        let paths = ids
            .iter()
            .map(|id| key_path(ty, id))
            .collect::<Result<Vec<_>>>()?;
        let values = engine.get_many(&paths).await?;
        for (id, v) in ids.iter().zip(values) {
            let Some(v) = v else { continue };
            check_json(&format!("{ty} {id:?}"), &v)?;
            files.push((key_file_name(ty, id), Some(v)));
            *report.keys.entry(ty.as_str()).or_default() += 1;
        }
    }
    folder.write_files(files).await?;
    Ok(report)
}

// ---------------------------------------------------------------------------------------
// Any engine to any engine
// ---------------------------------------------------------------------------------------

/// A Baileys auth folder seen as an [`Engine`], so it can be the source or destination of
/// [`copy`]: `session/creds` is `creds.json`, `session/signal/{type}/{id}` is Baileys'
/// `{type}-{id}.json` (bytes as they are: both are BufferJSON text), and every other path
/// (contacts, chats, messages) lives in a file engine in `{folder}/.baileys-native/store`,
/// which Baileys never reads. Writes to the two parts are each all-or-nothing.
#[derive(Clone)]
pub struct FolderEngine {
    folder: BaileysFolder,
    rest: crate::FileEngine,
}

/// Where [`FolderEngine`] keeps what is not Baileys' own, inside the folder.
pub const FOLDER_STORE_DIR: &str = ".baileys-native/store";

enum FolderPath {
    Creds,
    Key(KeyType, String),
    Rest,
}

fn folder_path(p: &str) -> Result<FolderPath> {
    crate::path::check(p)?;
    if p == CREDS_PATH {
        return Ok(FolderPath::Creds);
    }
    let segs: Vec<&str> = p.split('/').collect();
    if let ["session", "signal", ty, id] = segs.as_slice() {
        let ty = KeyType::parse(ty)?;
        let id = crate::path::unescape(id).ok_or_else(|| StoreError::BadPath {
            path: p.to_owned(),
            reason: "bad key id escape",
        })?;
        return Ok(FolderPath::Key(ty, id));
    }
    if segs.first() == Some(&"session") {
        return Err(StoreError::BadPath {
            path: p.to_owned(),
            reason: "a Baileys folder holds session/creds and session/signal/{type}/{id} only",
        });
    }
    Ok(FolderPath::Rest)
}

impl FolderEngine {
    pub fn open(dir: impl Into<std::path::PathBuf>) -> Result<Self> {
        let folder = BaileysFolder::open(dir)?;
        let rest = crate::FileEngine::open(folder.dir().join(FOLDER_STORE_DIR))?;
        Ok(Self { folder, rest })
    }

    pub fn folder(&self) -> &BaileysFolder {
        &self.folder
    }

    fn file_of(p: &FolderPath) -> Option<String> {
        match p {
            FolderPath::Creds => Some(CREDS_FILE.to_owned()),
            FolderPath::Key(ty, id) => Some(key_file_name(*ty, id)),
            FolderPath::Rest => None,
        }
    }

    async fn session_paths(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for (_, kind) in self.folder.entries().await? {
            match kind {
                FolderEntry::Creds => out.push(CREDS_PATH.to_owned()),
                FolderEntry::Key(ty, id) => out.push(key_path(ty, &id)?),
                FolderEntry::Other(_) => {}
            }
        }
        out.sort_unstable();
        Ok(out)
    }
}

impl Engine for FolderEngine {
    fn get<'a>(&'a self, p: &'a str) -> crate::BoxFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            let fp = folder_path(p)?;
            match Self::file_of(&fp) {
                Some(f) => Ok(self.folder.read_files(vec![f]).await?.pop().flatten()),
                None => self.rest.get(p).await,
            }
        })
    }

    fn get_many<'a>(&'a self, paths: &'a [String]) -> crate::BoxFuture<'a, Vec<Option<Vec<u8>>>> {
        Box::pin(async move {
            let mut files = Vec::new();
            let mut rest = Vec::new();
            let mut slots = Vec::with_capacity(paths.len());
            for p in paths {
                match Self::file_of(&folder_path(p)?) {
                    Some(f) => {
                        slots.push((true, files.len()));
                        files.push(f);
                    }
                    None => {
                        slots.push((false, rest.len()));
                        rest.push(p.clone());
                    }
                }
            }
            let mut fv = self.folder.read_files(files).await?;
            let mut rv = self.rest.get_many(&rest).await?;
            Ok(slots
                .into_iter()
                .map(|(f, i)| if f { fv[i].take() } else { rv[i].take() })
                .collect())
        })
    }

    fn set_many<'a>(&'a self, writes: Vec<Write>) -> crate::BoxFuture<'a, ()> {
        Box::pin(async move {
            let mut files = Vec::new();
            let mut rest = Vec::new();
            for w in writes {
                match Self::file_of(&folder_path(&w.path)?) {
                    Some(f) => {
                        if let Some(v) = &w.value {
                            check_json(&f, v)?;
                        }
                        files.push((f, w.value));
                    }
                    None => rest.push(w),
                }
            }
            if !files.is_empty() {
                self.folder.write_files(files).await?;
            }
            self.rest.set_many(rest).await
        })
    }

    fn list<'a>(
        &'a self,
        prefix: &'a str,
        offset: usize,
        limit: usize,
    ) -> crate::BoxFuture<'a, Vec<String>> {
        Box::pin(async move {
            let parent = crate::path::check_prefix(prefix)?;
            if parent == "session" || parent.starts_with("session/") {
                let all = self.session_paths().await?;
                return Ok(all
                    .into_iter()
                    .filter(|p| crate::path::split(p).0 == parent)
                    .skip(offset)
                    .take(limit)
                    .collect());
            }
            self.rest.list(parent, offset, limit).await
        })
    }

    fn scan<'a>(
        &'a self,
        after: Option<&'a str>,
        limit: usize,
    ) -> crate::BoxFuture<'a, Vec<String>> {
        Box::pin(async move {
            // Session paths first (in key order), then the file engine's own scan.
            let in_session = after.is_some_and(|a| a.starts_with("session/"));
            let mut out: Vec<String> = if after.is_none() || in_session {
                self.session_paths()
                    .await?
                    .into_iter()
                    .filter(|p| after.is_none_or(|a| p.as_str() > a))
                    .take(limit)
                    .collect()
            } else {
                Vec::new()
            };
            if out.len() < limit {
                let rest_after = after.filter(|_| !in_session);
                out.extend(self.rest.scan(rest_after, limit - out.len()).await?);
            }
            Ok(out)
        })
    }
}

/// Options of [`copy`].
#[derive(Clone, Debug)]
pub struct CopyOptions {
    /// Entries per batch (one `get_many` and one `set_many` each).
    pub batch: usize,
    /// A file recording progress: a copy that was interrupted resumes after the last
    /// batch it recorded. Removed when the copy is verified.
    pub state: Option<std::path::PathBuf>,
}

impl Default for CopyOptions {
    fn default() -> Self {
        Self {
            batch: 500,
            state: None,
        }
    }
}

/// What [`copy`] did and what it checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyReport {
    /// Entries copied by this run (a resumed run counts only its own).
    pub copied: u64,
    /// Whether this run resumed an interrupted one.
    pub resumed: bool,
    /// Entries in the source, and in the destination after the copy.
    pub source_count: u64,
    pub destination_count: u64,
    /// SHA-256 over every (path, value) of each side, in path order (hex).
    pub source_checksum: String,
    pub destination_checksum: String,
}

/// Counts and checksums every entry of an engine: SHA-256 over `path NUL len md5` of each
/// entry in path order. S3 answers from its listing (an object's ETag is its MD5); with
/// `read_all` every value is read instead.
pub async fn checksum(e: &dyn Engine) -> Result<(u64, String)> {
    checksum_with(e, false).await
}

async fn checksum_with(e: &dyn Engine, read_all: bool) -> Result<(u64, String)> {
    const PAGE: usize = 1000;
    let mut all: Vec<crate::engine::Digest> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let (page, last) = if read_all {
            let paths = e.scan(after.as_deref(), PAGE).await?;
            let last = paths.last().cloned();
            (crate::engine::read_digests(e, &paths).await?, last)
        } else {
            // A digest page may hold fewer entries than scanned (deleted meanwhile), so
            // resume after the last path scanned, which digests report in scan order.
            let page = e.digests(after.as_deref(), PAGE).await?;
            let last = page.last().map(|d| d.0.clone());
            (page, last)
        };
        let done = last.is_none();
        all.extend(page);
        if done {
            break;
        }
        after = last;
    }
    all.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut buf: Vec<u8> = Vec::with_capacity(all.len() * 64);
    for (p, len, md5) in &all {
        buf.extend_from_slice(p.as_bytes());
        buf.push(0);
        buf.extend_from_slice(&len.to_be_bytes());
        buf.extend_from_slice(md5);
    }
    let digest = wa_crypto::hash::sha256(&buf);
    Ok((
        all.len() as u64,
        digest.iter().map(|b| format!("{b:02x}")).collect(),
    ))
}

fn read_state(p: &std::path::Path) -> Result<Option<(String, u64)>> {
    match std::fs::read_to_string(p) {
        Ok(s) => {
            let v: serde_json::Value =
                serde_json::from_str(&s).map_err(|e| StoreError::corrupt("migration state", e))?;
            let after = v["after"].as_str().map(str::to_owned);
            let copied = v["copied"].as_u64().unwrap_or(0);
            Ok(after.map(|a| (a, copied)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::io("read", p, e)),
    }
}

fn write_state(p: &std::path::Path, after: &str, copied: u64) -> Result<()> {
    let text = serde_json::json!({ "after": after, "copied": copied }).to_string();
    let tmp = p.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(|e| StoreError::io("write", &tmp, e))?;
    std::fs::rename(&tmp, p).map_err(|e| StoreError::io("rename", p, e))
}

/// Copies every entry of `src` into `dst` (any two engines: a Baileys folder through
/// [`FolderEngine`], our files, SQLite, PostgreSQL, S3, a JavaScript engine), in batches,
/// reading the source only. With a state file an interrupted copy resumes after the last
/// batch it finished (rewriting a batch is harmless: values are whole). Verified at the
/// end: the destination must hold exactly the source's entries (count and checksum), or
/// the copy fails with `ERR_WA_STORE_MIGRATION_MISMATCH`.
pub async fn copy(src: &dyn Engine, dst: &dyn Engine, opts: &CopyOptions) -> Result<CopyReport> {
    let batch = opts.batch.max(1);
    let (mut after, mut total) = match &opts.state {
        Some(p) => match read_state(p)? {
            Some((a, n)) => (Some(a), n),
            None => (None, 0),
        },
        None => (None, 0),
    };
    let resumed = after.is_some();
    let mut copied = 0u64;
    loop {
        let page = src.scan(after.as_deref(), batch).await?;
        if page.is_empty() {
            break;
        }
        let values = src.get_many(&page).await?;
        let writes: Vec<Write> = page
            .iter()
            .zip(values)
            .filter_map(|(p, v)| v.map(|v| Write::put(p.clone(), v)))
            .collect();
        copied += writes.len() as u64;
        total += writes.len() as u64;
        dst.set_many(writes).await?;
        after = page.last().cloned();
        if let (Some(state), Some(a)) = (&opts.state, &after) {
            write_state(state, a, total)?;
        }
    }
    let (mut source_count, mut source_checksum) = checksum(src).await?;
    let (mut destination_count, mut destination_checksum) = checksum(dst).await?;
    if (source_count, &source_checksum) != (destination_count, &destination_checksum) {
        // A digest taken from metadata (an S3 ETag that is not an MD5, under SSE-KMS) can
        // differ where the bytes do not: read every value on both sides before deciding.
        (source_count, source_checksum) = checksum_with(src, true).await?;
        (destination_count, destination_checksum) = checksum_with(dst, true).await?;
    }
    let report = CopyReport {
        copied,
        resumed,
        source_count,
        destination_count,
        source_checksum,
        destination_checksum,
    };
    if report.source_count != report.destination_count
        || report.source_checksum != report.destination_checksum
    {
        return Err(StoreError::MigrationMismatch(format!(
            "source {} entries ({}), destination {} entries ({})",
            report.source_count,
            &report.source_checksum[..16],
            report.destination_count,
            &report.destination_checksum[..16]
        )));
    }
    if let Some(state) = &opts.state {
        let _ = std::fs::remove_file(state);
    }
    Ok(report)
}
