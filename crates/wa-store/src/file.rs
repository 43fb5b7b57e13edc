//! The file engine: one directory per entry, readable with `ls` and `cat`.
//!
//! ```text
//! {base}/session/creds/index                  value of `session/creds`
//! {base}/chat/{jid}/message/{mid}/index       value of `chat/{jid}/message/{mid}`
//! {base}/chat/{jid}/message/{mid}/content     value of `chat/{jid}/message/{mid}/content`
//! {base}/chat/{jid}/message/.order            creation order of the chat's messages
//! {base}/.journal/*.batch                     batches being applied (replayed on open)
//! {base}/.tmp/                                temporary files before their rename
//! ```
//!
//! Every value is written to a temporary file, fsynced and renamed over its target; a batch
//! is first written whole to the journal, so after a crash it is replayed whole or (if its
//! journal is torn, i.e. it was never acknowledged) not at all. Files are 0600,
//! directories 0700. Segments become file names through [`path::file_name`], so any JID
//! is a safe, reversible name.

use std::collections::{HashMap, HashSet};
use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use crate::engine::{BoxFuture, Engine, Write, blocking};
use crate::error::{Result, StoreError};
use crate::fsio::{self, Journal};
use crate::path::{self, CONTENT_FILE, VALUE_FILE};

/// The default base directory, relative to the working directory.
pub const DEFAULT_BASE: &str = ".baileys/default";
const ORDER_FILE: &str = ".order";
/// Below this size an order log is never compacted.
const ORDER_COMPACT_MIN: u64 = 64 * 1024;

/// A write split in two, so a batch can sync all its files at once before any rename.
enum Step {
    Rename {
        tmp: PathBuf,
        file: PathBuf,
        dir: PathBuf,
    },
    Remove {
        file: PathBuf,
        dir: PathBuf,
        order_dir: PathBuf,
        content: bool,
    },
}

struct Inner {
    base: PathBuf,
    tmp: PathBuf,
    journal: Journal,
    /// Writers exclusive, readers shared: a reader never sees half of a batch.
    lock: RwLock<()>,
}

/// The file engine. Cheap to clone; clones share the lock.
#[derive(Clone)]
pub struct FileEngine {
    inner: Arc<Inner>,
}

impl FileEngine {
    /// Opens (creating if needed) the store under `base` and replays any batch a crash
    /// interrupted.
    pub fn open(base: impl Into<PathBuf>) -> Result<Self> {
        let base = base.into();
        if base.exists() && !base.is_dir() {
            return Err(StoreError::io(
                "open store",
                &base,
                std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
            ));
        }
        fsio::create_dirs(&base)?;
        let tmp = base.join(".tmp");
        fsio::create_dirs(&tmp)?;
        let journal = Journal::open(base.join(".journal"))?;
        let inner = Inner {
            base,
            tmp,
            journal,
            lock: RwLock::new(()),
        };
        inner.recover()?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    pub fn base(&self) -> &Path {
        &self.inner.base
    }
}

impl Inner {
    fn node_dir(&self, p: &str) -> PathBuf {
        let mut d = self.base.clone();
        if !p.is_empty() {
            for seg in p.split('/') {
                d.push(path::file_name(seg));
            }
        }
        d
    }

    /// (file holding the value, directory holding the parent's order log, order log entry)
    fn locate(&self, p: &str) -> (PathBuf, PathBuf, String) {
        let (parent, name) = path::split(p);
        let parent_dir = self.node_dir(parent);
        if name == CONTENT_FILE {
            (
                parent_dir.join(CONTENT_FILE),
                parent_dir,
                CONTENT_FILE.to_owned(),
            )
        } else {
            let enc = path::file_name(name);
            (parent_dir.join(&enc).join(VALUE_FILE), parent_dir, enc)
        }
    }

    fn recover(&self) -> Result<()> {
        let _w = self.lock.write().unwrap_or_else(|e| e.into_inner());
        for (file, ops) in self.journal.pending()? {
            tracing::info!(ops = ops.len(), "replaying an interrupted storage batch");
            let mut dirs = HashSet::new();
            for (p, v) in ops {
                path::check(&p).map_err(|_| StoreError::corrupt("storage journal", "bad path"))?;
                self.apply(&p, v.as_deref(), &mut dirs)?;
            }
            for d in dirs {
                fsio::sync_dir(&d)?;
            }
            self.journal.done(&file)?;
        }
        // Temporary files of writes that never renamed.
        if let Ok(rd) = fs::read_dir(&self.tmp) {
            for e in rd.flatten() {
                let _ = fs::remove_file(e.path());
            }
        }
        Ok(())
    }

    /// Applies one write durably (file fsynced before rename); the directories whose entries
    /// changed are collected in `dirs` for the caller to fsync.
    fn apply(&self, p: &str, value: Option<&[u8]>, dirs: &mut HashSet<PathBuf>) -> Result<()> {
        let step = self.prepare(p, value, dirs)?;
        if let Step::Rename { tmp, .. } = &step {
            fsio::sync_file(tmp)?;
        }
        self.finish(step, dirs)
    }

    /// First half of a write: directories, order entry, and the new bytes in a temporary
    /// file (not yet synced). Nothing a reader sees changes yet.
    fn prepare(&self, p: &str, value: Option<&[u8]>, dirs: &mut HashSet<PathBuf>) -> Result<Step> {
        let (file, order_dir, entry) = self.locate(p);
        let Some(dir) = file.parent().map(Path::to_path_buf) else {
            return Err(StoreError::BadPath {
                path: p.to_owned(),
                reason: "no parent",
            });
        };
        let Some(v) = value else {
            return Ok(Step::Remove {
                file,
                dir,
                order_dir,
                content: entry == CONTENT_FILE,
            });
        };
        let existed = file.is_file();
        if !dir.is_dir() {
            // Every directory that gains an entry is synced: the new ones' parents.
            let mut up = dir.parent();
            while let Some(u) = up {
                dirs.insert(u.to_path_buf());
                if u.is_dir() {
                    break;
                }
                up = u.parent();
            }
            fsio::create_dirs(&dir)?;
        }
        if !existed {
            // The order entry goes first: a crash after it and before the rename
            // leaves only a harmless entry for a child that does not exist.
            self.append_order(&order_dir, &entry)?;
        }
        let tmp = fsio::write_tmp(&self.tmp, v)?;
        Ok(Step::Rename { tmp, file, dir })
    }

    /// Second half: the rename (or removal) that makes the write visible.
    fn finish(&self, step: Step, dirs: &mut HashSet<PathBuf>) -> Result<()> {
        match step {
            Step::Rename { tmp, file, dir } => {
                if let Err(e) = fs::rename(&tmp, &file) {
                    // An earlier removal in the same batch dropped the directory.
                    if e.kind() != std::io::ErrorKind::NotFound || !tmp.exists() {
                        let _ = fs::remove_file(&tmp);
                        return Err(StoreError::io("rename", &file, e));
                    }
                    fsio::create_dirs(&dir)?;
                    if let Some(up) = dir.parent() {
                        dirs.insert(up.to_path_buf());
                    }
                    fs::rename(&tmp, &file).map_err(|e| StoreError::io("rename", &file, e))?;
                }
                dirs.insert(dir);
            }
            Step::Remove {
                file,
                dir,
                order_dir,
                content,
            } => {
                if fsio::remove_opt(&file)? {
                    // Drop the entry's directory when nothing else lives in it.
                    if !content && fs::remove_dir(&dir).is_ok() {
                        dirs.insert(order_dir);
                    } else {
                        dirs.insert(dir);
                    }
                }
            }
        }
        Ok(())
    }

    fn append_order(&self, dir: &Path, entry: &str) -> Result<()> {
        fsio::create_dirs(dir)?;
        let log = dir.join(ORDER_FILE);
        let mut o = OpenOptions::new();
        o.append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        let mut f = o.open(&log).map_err(|e| StoreError::io("open", &log, e))?;
        let line = format!("{entry}\n");
        f.write_all(line.as_bytes())
            .map_err(|e| StoreError::io("append", &log, e))?;
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        drop(f);
        let before = len - line.len() as u64;
        // Compact when the log crosses a power of two above the minimum: amortized O(1).
        if len >= ORDER_COMPACT_MIN && before.leading_zeros() != len.leading_zeros() {
            self.compact_order(dir)?;
        }
        Ok(())
    }

    fn compact_order(&self, dir: &Path) -> Result<()> {
        let live = self.children(dir)?;
        let mut buf = String::new();
        for name in live.iter().rev() {
            buf.push_str(name);
            buf.push('\n');
        }
        fsio::write_atomic(&self.tmp, &dir.join(ORDER_FILE), buf.as_bytes(), true)
    }

    /// Children of a node directory that hold a value, newest first, as order-log entries.
    fn children(&self, dir: &Path) -> Result<Vec<String>> {
        let rd = match fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(Vec::new());
            }
            Err(e) => return Err(StoreError::io("read directory", dir, e)),
        };
        let mut cands = Vec::new();
        for ent in rd {
            let ent = ent.map_err(|e| StoreError::io("read directory", dir, e))?;
            let name = ent.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name == VALUE_FILE {
                continue;
            }
            let ft = ent
                .file_type()
                .map_err(|e| StoreError::io("stat", ent.path(), e))?;
            if name == CONTENT_FILE {
                if ft.is_file() {
                    cands.push(name);
                }
            } else if ft.is_dir() && ent.path().join(VALUE_FILE).is_file() {
                cands.push(name);
            }
        }
        let order = fsio::read_opt(&dir.join(ORDER_FILE))?.unwrap_or_default();
        let text = String::from_utf8_lossy(&order);
        let mut pos: HashMap<&str, usize> = HashMap::new();
        // Only complete lines count; the last occurrence is the creation that stands.
        let complete = text.rfind('\n').map_or("", |i| &text[..i]);
        for (i, line) in complete.split('\n').enumerate() {
            pos.insert(line, i + 1);
        }
        // Entries the log lost (a crash between log and file) sort as oldest, by name.
        cands.sort_by(|a, b| {
            let (pa, pb) = (
                pos.get(a.as_str()).copied().unwrap_or(0),
                pos.get(b.as_str()).copied().unwrap_or(0),
            );
            pb.cmp(&pa).then_with(|| b.cmp(a))
        });
        Ok(cands)
    }
}

impl Engine for FileEngine {
    fn get<'a>(&'a self, p: &'a str) -> BoxFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            path::check(p)?;
            let inner = self.inner.clone();
            let p = p.to_owned();
            blocking(move || {
                let _r = inner.lock.read().unwrap_or_else(|e| e.into_inner());
                fsio::read_opt(&inner.locate(&p).0)
            })
            .await
        })
    }

    fn get_many<'a>(&'a self, paths: &'a [String]) -> BoxFuture<'a, Vec<Option<Vec<u8>>>> {
        Box::pin(async move {
            for p in paths {
                path::check(p)?;
            }
            let inner = self.inner.clone();
            let paths = paths.to_vec();
            blocking(move || {
                let _r = inner.lock.read().unwrap_or_else(|e| e.into_inner());
                paths
                    .iter()
                    .map(|p| fsio::read_opt(&inner.locate(p).0))
                    .collect()
            })
            .await
        })
    }

    fn set_many<'a>(&'a self, writes: Vec<Write>) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            for w in &writes {
                path::check(&w.path)?;
            }
            if writes.is_empty() {
                return Ok(());
            }
            let inner = self.inner.clone();
            blocking(move || {
                let _w = inner.lock.write().unwrap_or_else(|e| e.into_inner());
                let mut dirs = HashSet::new();
                if let [w] = writes.as_slice() {
                    // One file: the rename alone is atomic, no journal needed.
                    inner.apply(&w.path, w.value.as_deref(), &mut dirs)?;
                    for d in dirs {
                        fsio::sync_dir(&d)?;
                    }
                    return Ok(());
                }
                let ops: Vec<_> = writes.into_iter().map(|w| (w.path, w.value)).collect();
                let journal_file = inner.journal.commit(&ops)?;
                let mut steps = Vec::with_capacity(ops.len());
                for (p, v) in &ops {
                    steps.push(inner.prepare(p, v.as_deref(), &mut dirs)?);
                }
                // One wait for the disk instead of one per file.
                let tmps: Vec<PathBuf> = steps
                    .iter()
                    .filter_map(|s| match s {
                        Step::Rename { tmp, .. } => Some(tmp.clone()),
                        Step::Remove { .. } => None,
                    })
                    .collect();
                fsio::sync_all_parallel(&tmps, false)?;
                for step in steps {
                    inner.finish(step, &mut dirs)?;
                }
                fsio::sync_all_parallel(&dirs.into_iter().collect::<Vec<_>>(), true)?;
                inner.journal.done(&journal_file)
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
            let inner = self.inner.clone();
            blocking(move || {
                let _r = inner.lock.read().unwrap_or_else(|e| e.into_inner());
                let dir = inner.node_dir(&prefix);
                let kids = inner.children(&dir)?;
                Ok(kids
                    .into_iter()
                    .skip(offset)
                    .take(limit)
                    .filter_map(|k| {
                        let seg = if k == CONTENT_FILE {
                            k
                        } else {
                            path::unescape(&k)?
                        };
                        Some(path::join(&prefix, &seg))
                    })
                    .collect())
            })
            .await
        })
    }
}
