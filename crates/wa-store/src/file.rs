//! The file engine: one directory per entry, readable with `ls` and `cat`.
//!
//! ```text
//! {base}/session/creds/index                  value of `session/creds`
//! {base}/chat/{jid}/message/{mid}/index       value of `chat/{jid}/message/{mid}`
//! {base}/chat/{jid}/message/{mid}/content     value of `chat/{jid}/message/{mid}/content`
//! {base}/.journal/wal                         write-ahead log (replayed on open)
//! {base}/.tmp/                                spare files, swapped in by writes
//! {base}/.lock                                held by the process that has the store open
//! ```
//!
//! A batch is made durable by one record in the write-ahead log (one `fdatasync`, shared
//! by concurrent writers), then its files are swapped in whole without syncing them; a
//! checkpoint later syncs what changed and empties the log (see `commit.rs`). After a
//! crash the log is replayed, so every acknowledged batch is there whole and no other
//! batch is there at all. Files are 0600, directories 0700. Segments become file names
//! through [`path::file_name`], so any JID is a safe, reversible name.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::commit::{self, Committer, FileOptions, Op, Paths, Prev, Target};
use crate::engine::{BoxFuture, Engine, Write, blocking};
use crate::error::{Result, StoreError};
use crate::fsio;
use crate::path::{self, CONTENT_FILE, VALUE_FILE};
use crate::spares::{Dirty, Spares};

/// The default base directory, relative to the working directory.
pub const DEFAULT_BASE: &str = ".baileys/default";

/// Where entries live on disk; shared by readers and the writer thread.
#[derive(Clone)]
struct Layout {
    base: PathBuf,
    tmp: PathBuf,
}

struct Inner {
    layout: Layout,
    committer: Committer,
}

/// The file engine. Cheap to clone; every handle on one directory in a process shares one
/// writer (and so one group commit).
#[derive(Clone)]
pub struct FileEngine {
    inner: Arc<Inner>,
}

impl FileEngine {
    /// Opens (creating if needed) the store under `base` and replays any batch a crash
    /// interrupted. Fails with `ERR_WA_STORE_IO` if another process has it open.
    pub fn open(base: impl Into<PathBuf>) -> Result<Self> {
        Self::open_with(base, FileOptions::default())
    }

    /// [`FileEngine::open`] with options (durability, checkpoint thresholds). A store
    /// already open in this process is shared; it keeps the stronger durability of the two.
    pub fn open_with(base: impl Into<PathBuf>, opts: FileOptions) -> Result<Self> {
        let base = base.into();
        if base.exists() && !base.is_dir() {
            return Err(StoreError::io(
                "open store",
                &base,
                std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
            ));
        }
        fsio::create_dirs(&base)?;
        let inner = commit::open_shared("file", &base, |key| {
            let layout = Layout {
                tmp: base.join(".tmp"),
                base: base.clone(),
            };
            let paths = Paths {
                wal: base.join(".journal").join("wal"),
                spares: layout.tmp.clone(),
                lock: base.join(".lock"),
                legacy: Some(base.join(".journal")),
            };
            fsio::create_dirs(&base.join(".journal"))?;
            let committer = Committer::start(
                key,
                FileTarget {
                    layout: layout.clone(),
                },
                paths,
                &opts,
                "files",
            )?;
            Ok(Arc::new(Inner { layout, committer }))
        })?;
        inner.committer.raise_durability(opts.durability);
        Ok(Self { inner })
    }

    pub fn base(&self) -> &Path {
        &self.inner.layout.base
    }

    /// Syncs everything written so far in place and empties the write-ahead log (this
    /// also happens on its own: when the store is idle, when the log grows, on close).
    pub async fn checkpoint(&self) -> Result<()> {
        self.inner.committer.checkpoint().await
    }

    /// Stops the store as a crash would: no checkpoint, nothing cleaned up. This must be
    /// the last handle.
    #[cfg(test)]
    fn crash(self) {
        let inner =
            Arc::try_unwrap(self.inner).unwrap_or_else(|_| panic!("other handles are open"));
        inner.committer.crash();
    }

    #[cfg(test)]
    fn stats(&self) -> &commit::Stats {
        self.inner.committer.stats()
    }
}

impl Layout {
    fn node_dir(&self, p: &str) -> PathBuf {
        let mut d = self.base.clone();
        if !p.is_empty() {
            for seg in p.split('/') {
                d.push(path::file_name(seg));
            }
        }
        d
    }

    /// (file holding the value, the parent's directory, the entry's name in it)
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

    /// Pre-order scan below `p`: entries after `after` (its segments, when the walk is still
    /// on its way to it), at most `limit` in `out`.
    fn scan_dir(
        &self,
        p: &str,
        after: Option<&[String]>,
        limit: usize,
        out: &mut Vec<String>,
    ) -> Result<()> {
        let mut kids = self.children_all(&self.node_dir(p))?;
        // By segment; a content file before a directory of the same name.
        kids.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.2.cmp(&b.2)));
        for (seg, has_value, is_dir) in kids {
            if out.len() >= limit {
                return Ok(());
            }
            let child = path::join(p, &seg);
            match after.and_then(|a| a.split_first()) {
                Some((first, _)) if seg.as_str() < first.as_str() => continue,
                Some((first, rest)) if seg == *first => {
                    // On the way to `after`: the node itself is `after` or one of its
                    // ancestors, so it comes before; what lies below may not.
                    if is_dir {
                        self.scan_dir(&child, Some(rest).filter(|r| !r.is_empty()), limit, out)?;
                    }
                }
                _ => {
                    if has_value {
                        out.push(child.clone());
                    }
                    if is_dir {
                        self.scan_dir(&child, None, limit, out)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Every child node of a directory: (segment, holds a value, is a directory).
    fn children_all(&self, dir: &Path) -> Result<Vec<(String, bool, bool)>> {
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
        let mut out = Vec::new();
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
                    out.push((name, true, false));
                }
            } else if ft.is_dir()
                && let Some(seg) = path::unescape(&name)
            {
                out.push((seg, ent.path().join(VALUE_FILE).is_file(), true));
            }
        }
        Ok(out)
    }

    /// Children of a node directory that hold a value, as path segments in key order.
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
        let mut segs = Vec::new();
        for ent in rd {
            let ent = ent.map_err(|e| StoreError::io("read directory", dir, e))?;
            let name = ent.file_name().to_string_lossy().into_owned();
            // Our own files (`.order` logs of earlier versions, spares) start with '.'.
            if name.starts_with('.') || name == VALUE_FILE {
                continue;
            }
            let ft = ent
                .file_type()
                .map_err(|e| StoreError::io("stat", ent.path(), e))?;
            if name == CONTENT_FILE {
                if ft.is_file() {
                    segs.push(name);
                }
            } else if ft.is_dir()
                && ent.path().join(VALUE_FILE).is_file()
                && let Some(seg) = path::unescape(&name)
            {
                segs.push(seg);
            }
        }
        // Key order: the byte order of the segments, as every engine lists.
        segs.sort_unstable();
        Ok(segs)
    }
}

/// The writer side: what journaled writes do to the directory tree.
struct FileTarget {
    layout: Layout,
}

impl Target for FileTarget {
    fn plan(&mut self, writes: Vec<(String, Option<Vec<u8>>)>, ops: &mut Vec<Op>) -> Result<()> {
        // Whether each path holds a value after the writes before it in this group.
        let mut exists: HashMap<String, bool> = HashMap::new();
        for (p, value) in writes {
            let before = match exists.get(&p) {
                Some(&e) => e,
                None => self.layout.locate(&p).0.is_file(),
            };
            exists.insert(p.clone(), value.is_some());
            ops.push(Op {
                created: value.is_some() && !before,
                key: p,
                value,
                prev: Prev::Unknown,
            });
        }
        Ok(())
    }

    fn apply(&mut self, ops: &[Op], spares: &mut Spares, dirty: &mut Dirty) -> Result<()> {
        for op in ops {
            self.apply_one(op, spares, dirty)?;
        }
        Ok(())
    }
}

impl FileTarget {
    fn apply_one(&self, op: &Op, spares: &mut Spares, dirty: &mut Dirty) -> Result<()> {
        let (file, order_dir, entry) = self.layout.locate(&op.key);
        let Some(dir) = file.parent().map(Path::to_path_buf) else {
            return Err(StoreError::BadPath {
                path: op.key.clone(),
                reason: "no parent",
            });
        };
        let Some(v) = &op.value else {
            if spares.remove(&file, dirty)? {
                // Drop the entry's directory when nothing else lives in it.
                if entry != CONTENT_FILE && fs::remove_dir(&dir).is_ok() {
                    dirty.dir(&order_dir);
                }
            }
            return Ok(());
        };
        if !dir.is_dir() {
            // Every directory that gains an entry is synced at the checkpoint.
            let mut up = dir.parent();
            while let Some(u) = up {
                dirty.dir(u);
                if u.is_dir() {
                    break;
                }
                up = u.parent();
            }
            fsio::create_dirs(&dir)?;
        }
        let exists = !op.created && file.is_file();
        spares.put(&file, v, exists, dirty)
    }
}

impl Engine for FileEngine {
    fn get<'a>(&'a self, p: &'a str) -> BoxFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            path::check(p)?;
            self.inner.committer.ready().await?;
            let inner = self.inner.clone();
            let p = p.to_owned();
            blocking(move || {
                let _r = inner.committer.rw.read().unwrap_or_else(|e| e.into_inner());
                fsio::read_opt(&inner.layout.locate(&p).0)
            })
            .await
        })
    }

    fn get_many<'a>(&'a self, paths: &'a [String]) -> BoxFuture<'a, Vec<Option<Vec<u8>>>> {
        Box::pin(async move {
            for p in paths {
                path::check(p)?;
            }
            self.inner.committer.ready().await?;
            let inner = self.inner.clone();
            let paths = paths.to_vec();
            blocking(move || {
                let _r = inner.committer.rw.read().unwrap_or_else(|e| e.into_inner());
                paths
                    .iter()
                    .map(|p| fsio::read_opt(&inner.layout.locate(p).0))
                    .collect()
            })
            .await
        })
    }

    // One log record per batch, replayed whole.
    fn all_or_nothing(&self) -> bool {
        true
    }

    fn set_many<'a>(&'a self, writes: Vec<Write>) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            for w in &writes {
                path::check(&w.path)?;
            }
            self.inner
                .committer
                .write(writes.into_iter().map(|w| (w.path, w.value)).collect())
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
            self.inner.committer.ready().await?;
            let inner = self.inner.clone();
            blocking(move || {
                let _r = inner.committer.rw.read().unwrap_or_else(|e| e.into_inner());
                let dir = inner.layout.node_dir(&prefix);
                let kids = inner.layout.children(&dir)?;
                Ok(kids
                    .into_iter()
                    .skip(offset)
                    .take(limit)
                    .map(|seg| path::join(&prefix, &seg))
                    .collect())
            })
            .await
        })
    }

    /// Scan order here is pre-order over the tree with each directory's children in key
    /// order (an entry, then everything below it); a page costs the entries it returns
    /// plus the directories on the way to `after`, not a walk of the whole store.
    fn scan<'a>(&'a self, after: Option<&'a str>, limit: usize) -> BoxFuture<'a, Vec<String>> {
        Box::pin(async move {
            if let Some(a) = after {
                path::check(a)?;
            }
            self.inner.committer.ready().await?;
            let inner = self.inner.clone();
            let after: Option<Vec<String>> =
                after.map(|a| a.split('/').map(str::to_owned).collect());
            blocking(move || {
                let _r = inner.committer.rw.read().unwrap_or_else(|e| e.into_inner());
                let mut out = Vec::new();
                inner
                    .layout
                    .scan_dir("", after.as_deref(), limit, &mut out)?;
                Ok(out)
            })
            .await
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::MemoryEngine;
    use crate::commit::Durability;
    use crate::testkit::{self, Rng};

    const MACHINERY: &[&str] = &[".journal", ".tmp", ".lock"];

    #[tokio::test]
    async fn an_idle_store_parks_its_writer_and_wakes_it_on_the_next_write() {
        let dir = tempfile::tempdir().unwrap();
        let opts = FileOptions::default().with_park_after(Duration::from_millis(30));
        let e = FileEngine::open_with(dir.path(), opts).unwrap();
        assert!(
            !e.inner.committer.is_running(),
            "a new store starts without a thread"
        );
        e.set("a/b", Some(b"1".to_vec())).await.unwrap();
        assert!(e.inner.committer.is_running());
        // Checkpointed, spares made, then nothing to do: the thread parks.
        let started = std::time::Instant::now();
        while e.inner.committer.is_running() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the writer never parked"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Parked, the thread ended detached: nothing of it (its stack) waits for a join.
        assert!(!e.inner.committer.holds_thread());
        // The next write wakes it, and everything written is there.
        e.set("a/c", Some(b"2".to_vec())).await.unwrap();
        assert_eq!(e.get("a/b").await.unwrap().unwrap(), b"1");
        assert_eq!(e.get("a/c").await.unwrap().unwrap(), b"2");
        drop(e);
        // Closed while running or parked: a clean close leaves no journal behind.
        let again = FileEngine::open_with(dir.path(), FileOptions::default()).unwrap();
        assert_eq!(again.get("a/c").await.unwrap().unwrap(), b"2");
    }

    fn universe() -> (Vec<String>, Vec<String>) {
        let mut paths = Vec::new();
        let mut prefixes = vec!["contact".to_owned(), "chat".to_owned()];
        for i in 0..6 {
            paths.push(format!("contact/{i}@s.whatsapp.net"));
        }
        for c in 0..3 {
            paths.push(format!("chat/c{c}@g.us"));
            prefixes.push(format!("chat/c{c}@g.us"));
            prefixes.push(format!("chat/c{c}@g.us/message"));
            for m in 0..8 {
                let msg = format!("chat/c{c}@g.us/message/m{m}");
                prefixes.push(msg.clone());
                paths.push(format!("{msg}/content"));
                paths.push(msg);
            }
        }
        (paths, prefixes)
    }

    fn random_batch(rng: &mut Rng, paths: &[String]) -> Vec<Write> {
        (0..1 + rng.below(5))
            .map(|_| {
                let p = paths[rng.below(paths.len() as u64) as usize].clone();
                if rng.chance(25) {
                    Write::delete(p)
                } else {
                    Write::put(p, rng.bytes(200))
                }
            })
            .collect()
    }

    async fn both(e: &FileEngine, model: &MemoryEngine, batch: Vec<Write>) {
        model.set_many(batch.clone()).await.unwrap();
        e.set_many(batch).await.unwrap();
    }

    async fn assert_same(e: &FileEngine, model: &MemoryEngine, what: &str) {
        let (paths, prefixes) = universe();
        assert_eq!(
            e.get_many(&paths).await.unwrap(),
            model.get_many(&paths).await.unwrap(),
            "{what}: values"
        );
        for p in &prefixes {
            assert_eq!(
                e.list(p, 0, 1000).await.unwrap(),
                model.list(p, 0, 1000).await.unwrap(),
                "{what}: list {p}"
            );
        }
    }

    /// After a power loss, files written since the last checkpoint may be anything; the
    /// log restores every acknowledged batch whole.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_power_loss_after_acknowledged_writes_loses_nothing() {
        let (paths, _) = universe();
        let mut damaged = 0;
        for seed in 0..12u64 {
            let dir = tempfile::tempdir().unwrap();
            let base = dir.path().join("s");
            let mut rng = Rng(seed);
            let model = MemoryEngine::new();
            let e = FileEngine::open(&base).unwrap();
            for _ in 0..15 {
                both(&e, &model, random_batch(&mut rng, &paths)).await;
            }
            e.checkpoint().await.unwrap();
            let synced = testkit::snapshot(&base, MACHINERY);
            for _ in 0..15 {
                both(&e, &model, random_batch(&mut rng, &paths)).await;
            }
            e.crash();
            damaged += testkit::power_loss(&base, &synced, MACHINERY, &mut rng);
            let e = FileEngine::open(&base).unwrap();
            assert_same(&e, &model, &format!("seed {seed}")).await;
        }
        assert!(damaged > 50, "the model damaged files ({damaged})");
    }

    /// A crash during a checkpoint, after the files were synced and before the log's new
    /// header reached the disk: the same records are replayed over their own results.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replaying_a_log_twice_changes_nothing() {
        let (paths, _) = universe();
        for seed in 100..106u64 {
            let dir = tempfile::tempdir().unwrap();
            let base = dir.path().join("s");
            let mut rng = Rng(seed);
            let model = MemoryEngine::new();
            let e = FileEngine::open(&base).unwrap();
            for _ in 0..20 {
                both(&e, &model, random_batch(&mut rng, &paths)).await;
            }
            e.crash();
            let wal = base.join(".journal").join("wal");
            let log = fs::read(&wal).unwrap();
            let e = FileEngine::open(&base).unwrap();
            assert_same(&e, &model, "first replay").await;
            e.crash();
            fs::write(&wal, &log).unwrap();
            let e = FileEngine::open(&base).unwrap();
            assert_same(&e, &model, "second replay").await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_writers_share_one_sync_and_each_waits_for_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let e = FileEngine::open(dir.path()).unwrap();
        e.set("warm/up", Some(vec![0])).await.unwrap();
        let groups_before = e.stats().groups.load(std::sync::atomic::Ordering::Relaxed);
        // Hold readers' side of the lock so the first group cannot finish: every other
        // writer queues behind it and they form one more group.
        let rw = e.inner.committer.rw.clone();
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let (held, is_held) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            let _reading = rw.read().unwrap();
            held.send(()).unwrap();
            let _ = hold.recv();
        });
        is_held.recv().unwrap();
        let mut tasks = Vec::new();
        for i in 0..32u32 {
            let e = e.clone();
            tasks.push(tokio::spawn(async move {
                let p = format!("chat/c@g.us/message/m{i}");
                e.set_many(vec![
                    Write::put(p.clone(), i.to_le_bytes().to_vec()),
                    Write::put(format!("{p}/content"), vec![i as u8; 100]),
                ])
                .await
                .unwrap();
                // Resolved means durable and visible.
                assert_eq!(e.get(&p).await.unwrap().unwrap(), i.to_le_bytes());
            }));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            tasks.iter().all(|t| !t.is_finished()),
            "no writer is answered before its batch is applied"
        );
        drop(release);
        holder.join().unwrap();
        for t in tasks {
            t.await.unwrap();
        }
        let s = e.stats();
        let groups = s.groups.load(std::sync::atomic::Ordering::Relaxed) - groups_before;
        assert!(groups <= 3, "32 writers took {groups} groups");
        assert_eq!(
            s.syncs.load(std::sync::atomic::Ordering::Relaxed),
            s.groups.load(std::sync::atomic::Ordering::Relaxed),
            "one log sync per group"
        );
        assert_eq!(
            e.list("chat/c@g.us/message", 0, 100).await.unwrap().len(),
            32
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_that_cannot_be_applied_heals_once_the_cause_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let e = FileEngine::open(dir.path()).unwrap();
        e.set("ok/one", Some(b"1".to_vec())).await.unwrap();
        // Something outside put a file where the entry's directory must go.
        fs::write(dir.path().join("blocked"), b"not a directory").unwrap();
        let err = e
            .set_many(vec![
                Write::put("ok/two", b"2".to_vec()),
                Write::put("blocked/x", b"x".to_vec()),
            ])
            .await
            .unwrap_err();
        assert_eq!(err.code(), "ERR_WA_STORE_IO");
        // Until it heals, operations fail rather than show half of that batch.
        assert_eq!(e.get("ok/one").await.unwrap_err().code(), "ERR_WA_STORE_IO");
        fs::remove_file(dir.path().join("blocked")).unwrap();
        // The batch was journaled before it failed: it is applied whole by the heal.
        assert_eq!(e.get("ok/two").await.unwrap().unwrap(), b"2");
        assert_eq!(e.get("blocked/x").await.unwrap().unwrap(), b"x");
        e.set("ok/three", Some(b"3".to_vec())).await.unwrap();
        assert_eq!(
            e.list("ok", 0, 10).await.unwrap(),
            vec!["ok/one", "ok/three", "ok/two"]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn handles_in_one_process_share_the_store_and_reopen_after_close() {
        let dir = tempfile::tempdir().unwrap();
        let a = FileEngine::open(dir.path()).unwrap();
        let b = FileEngine::open(dir.path().join(".").join("")).unwrap();
        assert!(Arc::ptr_eq(&a.inner, &b.inner), "one writer per directory");
        a.set("x/1", Some(vec![1])).await.unwrap();
        assert_eq!(b.get("x/1").await.unwrap().unwrap(), vec![1]);
        drop((a, b));
        for i in 0..20u8 {
            // Reopening right after the last handle closed waits for the close, then works.
            let e = FileEngine::open(dir.path()).unwrap();
            assert_eq!(e.get("x/1").await.unwrap().unwrap(), vec![1]);
            e.set(&format!("y/{i}"), Some(vec![i])).await.unwrap();
        }
        let e = FileEngine::open(dir.path()).unwrap();
        assert_eq!(e.list("y", 0, 100).await.unwrap().len(), 20);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn process_durability_skips_the_sync_and_still_checkpoints() {
        let dir = tempfile::tempdir().unwrap();
        let opts = FileOptions::default().with_durability(Durability::Process);
        let e = FileEngine::open_with(dir.path(), opts).unwrap();
        for i in 0..10u8 {
            e.set(&format!("a/{i}"), Some(vec![i])).await.unwrap();
        }
        assert_eq!(
            e.stats().syncs.load(std::sync::atomic::Ordering::Relaxed),
            0
        );
        let before = e
            .stats()
            .checkpoints
            .load(std::sync::atomic::Ordering::Relaxed);
        e.checkpoint().await.unwrap();
        assert_eq!(
            e.stats()
                .checkpoints
                .load(std::sync::atomic::Ordering::Relaxed),
            before + 1
        );
        // A second opener asking for full durability gets it, for every handle.
        let full = FileEngine::open(dir.path()).unwrap();
        e.set("a/x", Some(vec![9])).await.unwrap();
        assert_eq!(
            full.stats()
                .syncs
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_idle_store_checkpoints_on_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let opts =
            FileOptions::default().with_checkpoint(1 << 30, 1 << 20, Duration::from_millis(20));
        let e = FileEngine::open_with(dir.path(), opts).unwrap();
        let before = e
            .stats()
            .checkpoints
            .load(std::sync::atomic::Ordering::Relaxed);
        e.set("a/b", Some(vec![1])).await.unwrap();
        let wal = dir.path().join(".journal").join("wal");
        let (_, records) = crate::wal::Wal::open(&wal).unwrap();
        assert_eq!(records.len(), 1, "the write is in the log");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            e.stats()
                .checkpoints
                .load(std::sync::atomic::Ordering::Relaxed)
                > before
        );
        let (_, records) = crate::wal::Wal::open(&wal).unwrap();
        assert!(records.is_empty(), "and gone from it once idle");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_left_by_the_earlier_journal_format_are_replayed() {
        let dir = tempfile::tempdir().unwrap();
        {
            let e = FileEngine::open(dir.path()).unwrap();
            e.set("keep/me", Some(b"old".to_vec())).await.unwrap();
        }
        let j = fsio::Journal::open(dir.path().join(".journal")).unwrap();
        let batch = j
            .commit(&[
                ("keep/me".to_owned(), Some(b"new".to_vec())),
                ("gone/soon".to_owned(), None),
                ("fresh/one".to_owned(), Some(b"f".to_vec())),
            ])
            .unwrap();
        let e = FileEngine::open(dir.path()).unwrap();
        assert_eq!(e.get("keep/me").await.unwrap().unwrap(), b"new");
        assert_eq!(e.get("fresh/one").await.unwrap().unwrap(), b"f");
        assert!(!batch.exists(), "the replayed batch is removed");
    }
}
