//! Group commit for the file-backed stores: one writer thread per open store owns the
//! write-ahead log, the spare files and the list of what changed since the last checkpoint.
//!
//! A batch is sent to the writer and its future resolves when the batch is durable. The
//! writer takes every batch waiting, writes them as **one** log record, makes it durable
//! with one `fdatasync`, then materialises the files (swapped in whole, not synced) while
//! readers are held off, and answers every waiting writer. Concurrent writers therefore
//! share one sync; a lone writer pays one sync per batch where the previous design paid a
//! file sync and a directory sync per file.
//!
//! A **checkpoint** syncs every file and directory changed since the last one, then starts
//! a new log epoch (dropping the records). It runs when the log holds `checkpoint_bytes`,
//! when `checkpoint_files` files changed, when the store has been idle `checkpoint_idle`,
//! when the oldest record is [`MAX_RECORD_AGE`] old, and when the store closes; never on a
//! writer's path to its answer.
//!
//! On open, and after any failure that may have left the files and the log disagreeing
//! (the store is then *poisoned* until it heals), the log's records are replayed and a
//! checkpoint taken. Replaying is idempotent: every record holds whole values.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex, RwLock, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::error::{Result, StoreError};
use crate::fsio;
use crate::spares::{Dirty, IDLE_SPARES, Spares};
use crate::wal::Wal;

/// When a write to a file-backed store counts as done.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Durability {
    /// Survives process crashes only: the batch is in the operating system's cache when
    /// the write resolves and reaches the disk at the next checkpoint (`checkpoint_idle`
    /// after the store goes quiet, at most [`MAX_RECORD_AGE`] under steady load). A power
    /// loss or OS crash can lose the batches since, and may leave one partly applied, as
    /// with Baileys' own folder.
    Process = 0,
    /// Survives process crashes and power loss: the write resolves once its batch is on
    /// disk (`fdatasync` of the log). The default.
    #[default]
    Full = 1,
}

impl Durability {
    fn from_u8(v: u8) -> Self {
        if v == Durability::Process as u8 {
            Durability::Process
        } else {
            Durability::Full
        }
    }

    /// `"full"` or `"process"`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "full" => Ok(Durability::Full),
            "process" => Ok(Durability::Process),
            _ => Err(StoreError::BadValue(format!(
                "durability must be \"full\" or \"process\", not {s:?}"
            ))),
        }
    }
}

/// Options of the file-backed stores ([`crate::FileEngine`], [`crate::BaileysFolder`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileOptions {
    pub durability: Durability,
    /// Checkpoint once the log holds this many bytes of records.
    pub checkpoint_bytes: u64,
    /// ... or once this many files changed since the last checkpoint.
    pub checkpoint_files: usize,
    /// ... or once no write came for this long.
    pub checkpoint_idle: Duration,
    /// A writer thread with nothing to do parks after this long (the next write starts it
    /// again), so idle stores hold no thread.
    pub park_after: Duration,
}

impl Default for FileOptions {
    fn default() -> Self {
        Self {
            durability: Durability::Full,
            checkpoint_bytes: 8 << 20,
            checkpoint_files: 1024,
            checkpoint_idle: Duration::from_millis(250),
            park_after: PARK_AFTER,
        }
    }
}

impl FileOptions {
    pub fn with_durability(mut self, d: Durability) -> Self {
        self.durability = d;
        self
    }

    pub fn with_park_after(mut self, after: Duration) -> Self {
        self.park_after = after;
        self
    }

    pub fn with_checkpoint(mut self, bytes: u64, files: usize, idle: Duration) -> Self {
        self.checkpoint_bytes = bytes.max(1);
        self.checkpoint_files = files.max(1);
        self.checkpoint_idle = idle;
        self
    }
}

// ------------------------------------------------------------------------ records

/// What the previous bytes of a target were when a write was journaled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Prev {
    Unknown,
    Absent,
    Hash(u64),
}

/// One write as journaled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Op {
    pub key: String,
    pub value: Option<Vec<u8>>,
    /// The write made a new entry (no file to swap out).
    pub created: bool,
    pub prev: Prev,
}

pub(crate) fn encode_ops(ops: &[Op]) -> Vec<u8> {
    let size: usize = ops
        .iter()
        .map(|o| 22 + o.key.len() + o.value.as_ref().map_or(0, Vec::len))
        .sum();
    let mut b = Vec::with_capacity(4 + size);
    b.extend_from_slice(&(ops.len() as u32).to_le_bytes());
    for o in ops {
        let prev_tag = match o.prev {
            Prev::Unknown => 0,
            Prev::Absent => 1,
            Prev::Hash(_) => 2,
        };
        b.push(u8::from(o.value.is_some()) | (u8::from(o.created) << 1) | (prev_tag << 2));
        if let Prev::Hash(h) = o.prev {
            b.extend_from_slice(&h.to_le_bytes());
        }
        b.extend_from_slice(&(o.key.len() as u32).to_le_bytes());
        b.extend_from_slice(o.key.as_bytes());
        if let Some(v) = &o.value {
            b.extend_from_slice(&(v.len() as u64).to_le_bytes());
            b.extend_from_slice(v);
        }
    }
    b
}

pub(crate) fn decode_ops(mut r: &[u8]) -> Option<Vec<Op>> {
    let mut take = |n: usize| -> Option<&[u8]> {
        if r.len() < n {
            return None;
        }
        let (h, t) = r.split_at(n);
        r = t;
        Some(h)
    };
    let count = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
    let mut ops = Vec::with_capacity(count.min(1 << 16));
    for _ in 0..count {
        let flags = take(1)?[0];
        if flags >> 4 != 0 {
            return None;
        }
        let prev = match (flags >> 2) & 3 {
            0 => Prev::Unknown,
            1 => Prev::Absent,
            2 => Prev::Hash(u64::from_le_bytes(take(8)?.try_into().ok()?)),
            _ => return None,
        };
        let klen = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
        let key = String::from_utf8(take(klen)?.to_vec()).ok()?;
        let value = if flags & 1 != 0 {
            let vlen = usize::try_from(u64::from_le_bytes(take(8)?.try_into().ok()?)).ok()?;
            Some(take(vlen)?.to_vec())
        } else {
            None
        };
        ops.push(Op {
            key,
            value,
            created: flags & 2 != 0,
            prev,
        });
    }
    Some(ops)
}

// ------------------------------------------------------------------------ targets

/// What a store does with journaled writes.
pub(crate) trait Target: Send + 'static {
    /// Turns one group's writes (in order) into the ops to journal, deciding what each
    /// means against the files as they are now. Writes nothing.
    fn plan(&mut self, writes: Vec<(String, Option<Vec<u8>>)>, ops: &mut Vec<Op>) -> Result<()>;

    /// Makes the files say what `ops` say (readers are held off meanwhile).
    fn apply(&mut self, ops: &[Op], spares: &mut Spares, dirty: &mut Dirty) -> Result<()>;

    /// Applies every record the log held after a crash, oldest first. `same_boot` says the
    /// crash was only the process's (no power loss since the records were written).
    fn replay(
        &mut self,
        ops: &[Op],
        same_boot: bool,
        spares: &mut Spares,
        dirty: &mut Dirty,
    ) -> Result<()> {
        let _ = same_boot;
        self.apply(ops, spares, dirty)
    }
}

/// Where a store keeps its machinery.
pub(crate) struct Paths {
    pub wal: PathBuf,
    pub spares: PathBuf,
    pub lock: PathBuf,
    /// The batch directory of the earlier journal format, replayed if present.
    pub legacy: Option<PathBuf>,
}

// ------------------------------------------------------------------------ the writer

type Batch = Vec<(String, Option<Vec<u8>>)>;

enum Cmd {
    Write {
        writes: Batch,
        reply: oneshot::Sender<Result<()>>,
    },
    Checkpoint(oneshot::Sender<Result<()>>),
    Heal(oneshot::Sender<Result<()>>),
    #[cfg(test)]
    Crash,
}

/// Counters for tests and diagnostics.
#[derive(Default, Debug)]
pub(crate) struct Stats {
    pub batches: AtomicU64,
    pub groups: AtomicU64,
    pub syncs: AtomicU64,
    pub checkpoints: AtomicU64,
}

struct Shared {
    poisoned: AtomicBool,
    durability: AtomicU8,
    stats: Stats,
}

/// Most bytes of values one group takes in, so one record stays a sane size.
const GROUP_BYTES: usize = 64 << 20;
/// A store that never goes idle still checkpoints this often (which bounds what a power
/// loss can take with durability `process`, and how much a reopen replays).
pub(crate) const MAX_RECORD_AGE: Duration = Duration::from_secs(5);

/// How long a writer thread with nothing to do waits before it parks, by default: an idle
/// store (an account whose socket has no traffic) holds no thread, and the next write starts
/// one again.
const PARK_AFTER: Duration = Duration::from_secs(5);

/// Starts the writer thread again over a parked writer.
type Spawn = Box<dyn FnOnce(Receiver<Cmd>) -> std::io::Result<JoinHandle<()>> + Send>;

/// Where the writer is: running on a thread (`tx` set) or parked (`parked` set).
#[derive(Default)]
struct Link {
    tx: Option<Sender<Cmd>>,
    parked: Option<Spawn>,
    thread: Option<JoinHandle<()>>,
}

fn lock_link(link: &Mutex<Link>) -> std::sync::MutexGuard<'_, Link> {
    link.lock().unwrap_or_else(|e| e.into_inner())
}

/// The handle of a store's writer. Dropping it closes the store: a final checkpoint, the
/// spares and the log removed, the lock released.
pub(crate) struct Committer {
    link: Arc<Mutex<Link>>,
    /// Readers take it shared; the writer takes it while it materialises a group.
    pub rw: Arc<RwLock<()>>,
    shared: Arc<Shared>,
    key: PathBuf,
}

/// A spawner of `writer`'s thread, for the link to keep while the writer is parked.
fn parked<T: Target>(writer: Writer<T>, link: Arc<Mutex<Link>>, name: String) -> Spawn {
    Box::new(move |rx| {
        std::thread::Builder::new()
            .name(format!("wa-store {name}"))
            .spawn(move || writer.run(rx, link, name))
    })
}

impl Committer {
    /// Opens a store's machinery: takes the lock, replays what a crash left (old format
    /// first, then the log), checkpoints, and starts the writer thread.
    pub(crate) fn start<T: Target>(
        key: PathBuf,
        mut target: T,
        paths: Paths,
        opts: &FileOptions,
        name: &str,
    ) -> Result<Self> {
        let lock = take_lock(&paths.lock)?;
        let rw = Arc::new(RwLock::new(()));
        let shared = Arc::new(Shared {
            poisoned: AtomicBool::new(false),
            durability: AtomicU8::new(opts.durability as u8),
            stats: Stats::default(),
        });
        let mut spares = Spares::open(paths.spares.clone())?;
        let mut dirty = Dirty::default();
        let legacy = match &paths.legacy {
            Some(d) => fsio::legacy_pending(d)?,
            None => Vec::new(),
        };
        for (file, batch) in &legacy {
            tracing::info!(journal = %file.display(), "replaying a batch of the earlier journal format");
            let mut ops = Vec::new();
            target.plan(batch.clone(), &mut ops)?;
            target.apply(&ops, &mut spares, &mut dirty)?;
        }
        let (wal, records) = Wal::open(&paths.wal)?;
        let mut writer = Writer {
            target,
            wal,
            spares,
            dirty,
            rw: rw.clone(),
            shared: shared.clone(),
            opts: opts.clone(),
            poison: None,
            oldest: None,
            _lock: lock,
        };
        if !records.is_empty() {
            tracing::info!(
                records = records.len(),
                "replaying the storage journal after a crash"
            );
        }
        writer.replay(records)?;
        // Always a new epoch (new salt): nothing written before this open can pass for a
        // record of it, even after a power loss left holes in the log.
        writer.checkpoint_now(true)?;
        for (file, _) in legacy {
            fsio::remove_opt(&file)?;
        }
        // The writer starts parked: its thread comes with the first write.
        let link = Arc::new(Mutex::new(Link::default()));
        lock_link(&link).parked = Some(parked(writer, link.clone(), name.to_owned()));
        Ok(Self {
            link,
            rw,
            shared,
            key,
        })
    }

    fn send(&self, cmd: Cmd) -> Result<()> {
        let stopped = || StoreError::Worker("the storage writer stopped".into());
        let mut link = lock_link(&self.link);
        if link.tx.is_none() {
            let spawn = link.parked.take().ok_or_else(stopped)?;
            let (tx, rx) = mpsc::channel();
            link.thread = Some(spawn(rx).map_err(|e| {
                StoreError::Worker(format!("cannot start the storage writer: {e}"))
            })?);
            link.tx = Some(tx);
        }
        link.tx
            .as_ref()
            .and_then(|tx| tx.send(cmd).ok())
            .ok_or_else(stopped)
    }

    async fn ask(&self, make: impl FnOnce(oneshot::Sender<Result<()>>) -> Cmd) -> Result<()> {
        let (reply, rx) = oneshot::channel();
        self.send(make(reply))?;
        rx.await
            .map_err(|_| StoreError::Worker("the storage writer stopped".into()))?
    }

    /// Commits one batch (all or nothing); resolves once it is durable and visible.
    pub(crate) async fn write(&self, writes: Batch) -> Result<()> {
        if writes.is_empty() {
            return Ok(());
        }
        self.ask(|reply| Cmd::Write { writes, reply }).await
    }

    /// Makes everything written so far durable in place and empties the log.
    pub(crate) async fn checkpoint(&self) -> Result<()> {
        self.ask(Cmd::Checkpoint).await
    }

    /// Before a read: if a failed write may have left the files behind the log, replay it.
    pub(crate) async fn ready(&self) -> Result<()> {
        if self.shared.poisoned.load(Ordering::Acquire) {
            self.ask(Cmd::Heal).await?;
        }
        Ok(())
    }

    /// Raises the durability (a second opener asking for more gets it for everyone).
    pub(crate) fn raise_durability(&self, d: Durability) {
        self.shared.durability.fetch_max(d as u8, Ordering::AcqRel);
    }

    #[cfg(test)]
    pub(crate) fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    /// Stops the writer as a crash would: no checkpoint, nothing cleaned up.
    #[cfg(test)]
    pub(crate) fn crash(self) {
        let _ = self.send(Cmd::Crash);
        let mut link = lock_link(&self.link);
        link.tx = None;
        link.parked = None;
        if let Some(t) = link.thread.take() {
            let _ = t.join();
        }
    }

    /// Whether a writer thread is running (tests: an idle store parks it).
    #[cfg(test)]
    pub(crate) fn is_running(&self) -> bool {
        lock_link(&self.link).tx.is_some()
    }

    /// Whether a thread handle is kept (tests: a parked writer's thread is detached).
    #[cfg(test)]
    pub(crate) fn holds_thread(&self) -> bool {
        lock_link(&self.link).thread.is_some()
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        let (tx, thread, parked) = {
            let mut link = lock_link(&self.link);
            (link.tx.take(), link.thread.take(), link.parked.take())
        };
        // A closed channel makes the writer close the store: its final checkpoint.
        drop(tx);
        if let Some(t) = thread {
            let _ = t.join();
        }
        // (A writer parks only while its channel is open, so none can have parked since.)
        if let Some(spawn) = parked {
            let (tx, rx) = mpsc::channel();
            drop(tx);
            if let Ok(t) = spawn(rx) {
                let _ = t.join();
            }
        }
        release(&self.key);
    }
}

struct Writer<T> {
    target: T,
    wal: Wal,
    spares: Spares,
    dirty: Dirty,
    rw: Arc<RwLock<()>>,
    shared: Arc<Shared>,
    opts: FileOptions,
    poison: Option<String>,
    /// When the first record of the current epoch was written.
    oldest: Option<std::time::Instant>,
    _lock: File,
}

impl<T: Target> Writer<T> {
    fn run(mut self, rx: Receiver<Cmd>, link: Arc<Mutex<Link>>, name: String) {
        loop {
            let busy = !self.wal.is_empty()
                || !self.dirty.is_empty()
                || self.poison.is_some()
                || self.spares.len() < IDLE_SPARES;
            let wait = if busy {
                self.opts.checkpoint_idle
            } else {
                self.opts.park_after
            };
            let first = match rx.recv_timeout(wait) {
                Ok(c) => c,
                Err(RecvTimeoutError::Timeout) if busy => {
                    self.idle();
                    continue;
                }
                Err(RecvTimeoutError::Timeout) => {
                    // Nothing to do: park, unless a command slipped in. Senders hold the
                    // link while they send, so nothing can arrive once it says "parked".
                    let mut l = lock_link(&link);
                    match rx.try_recv() {
                        Ok(c) => c,
                        Err(mpsc::TryRecvError::Empty) => {
                            l.tx = None;
                            l.parked = Some(parked(self, link.clone(), name));
                            // Detach this thread: its stack and descriptor go when it ends.
                            // Kept for the next write to join, an idle account's writer left
                            // a 2 MB stack mapping behind until then, one per idle account.
                            drop(l.thread.take());
                            return;
                        }
                        // The store is being closed.
                        Err(mpsc::TryRecvError::Disconnected) => break,
                    }
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let mut group = Vec::new();
            let mut later = Vec::new();
            let mut bytes = 0usize;
            let mut next = Some(first);
            while let Some(cmd) = next.take() {
                match cmd {
                    Cmd::Write { writes, reply } => {
                        bytes += writes
                            .iter()
                            .map(|(k, v)| k.len() + v.as_ref().map_or(0, Vec::len))
                            .sum::<usize>();
                        group.push((writes, reply));
                    }
                    other => later.push(other),
                }
                if bytes < GROUP_BYTES {
                    next = rx.try_recv().ok();
                }
            }
            if !group.is_empty() {
                self.commit_group(group);
            }
            for cmd in later {
                match cmd {
                    Cmd::Write { .. } => {}
                    Cmd::Checkpoint(reply) => {
                        let r = self.heal_if_poisoned().and_then(|()| self.checkpoint());
                        let _ = reply.send(r);
                    }
                    Cmd::Heal(reply) => {
                        let _ = reply.send(self.heal_if_poisoned());
                    }
                    #[cfg(test)]
                    Cmd::Crash => return,
                }
            }
        }
        self.close();
    }

    fn commit_group(&mut self, group: Vec<(Batch, oneshot::Sender<Result<()>>)>) {
        let mut writes = Vec::new();
        let mut replies = Vec::with_capacity(group.len());
        for (w, reply) in group {
            writes.extend(w);
            replies.push(reply);
        }
        let n = replies.len() as u64;
        let res = self.commit(writes);
        if res.is_ok() {
            let s = &self.shared.stats;
            s.batches.fetch_add(n, Ordering::Relaxed);
            s.groups.fetch_add(1, Ordering::Relaxed);
        }
        for reply in replies {
            let _ = reply.send(match &res {
                Ok(()) => Ok(()),
                Err(e) => Err(dup(e)),
            });
        }
        if res.is_ok()
            && (self.wal.used() >= self.opts.checkpoint_bytes
                || self.dirty.files.len() >= self.opts.checkpoint_files
                || self.oldest.is_some_and(|t| t.elapsed() >= MAX_RECORD_AGE))
            && let Err(e) = self.checkpoint()
        {
            tracing::warn!(error = %e, "storage checkpoint failed; it is retried");
        }
    }

    fn commit(&mut self, writes: Batch) -> Result<()> {
        self.heal_if_poisoned()?;
        let mut ops = Vec::with_capacity(writes.len());
        self.target.plan(writes, &mut ops)?;
        let payload = encode_ops(&ops);
        if let Err(e) = self.wal.append(&payload) {
            return Err(self.poisoned(e));
        }
        self.oldest.get_or_insert_with(std::time::Instant::now);
        if Durability::from_u8(self.shared.durability.load(Ordering::Acquire)) == Durability::Full {
            if let Err(e) = self.wal.sync() {
                return Err(self.poisoned(e));
            }
            self.shared.stats.syncs.fetch_add(1, Ordering::Relaxed);
        }
        let rw = self.rw.clone();
        let applied = {
            let _w = rw.write().unwrap_or_else(|e| e.into_inner());
            self.target.apply(&ops, &mut self.spares, &mut self.dirty)
        };
        applied.map_err(|e| self.poisoned(e))
    }

    /// Records that the files may disagree with the log until a replay.
    fn poisoned(&mut self, e: StoreError) -> StoreError {
        tracing::warn!(error = %e, "storage write failed; the journal is replayed before the next operation");
        self.poison = Some(e.to_string());
        self.shared.poisoned.store(true, Ordering::Release);
        e
    }

    fn heal_if_poisoned(&mut self) -> Result<()> {
        if self.poison.is_none() {
            return Ok(());
        }
        let (wal, records) = Wal::open(self.wal.path())?;
        self.wal = wal;
        self.replay(records)?;
        self.checkpoint_now(true)?;
        self.poison = None;
        self.shared.poisoned.store(false, Ordering::Release);
        tracing::info!("storage healed: the journal was replayed");
        Ok(())
    }

    fn replay(&mut self, records: Vec<crate::wal::Recovered>) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut ops = Vec::new();
        for r in records {
            ops.extend(decode_ops(&r.payload).ok_or_else(|| {
                StoreError::corrupt(
                    format!("storage journal {}", self.wal.path().display()),
                    format!("record {} does not decode", r.lsn),
                )
            })?);
        }
        let same_boot = self.wal.same_boot();
        let rw = self.rw.clone();
        let _w = rw.write().unwrap_or_else(|e| e.into_inner());
        self.target
            .replay(&ops, same_boot, &mut self.spares, &mut self.dirty)
    }

    fn checkpoint(&mut self) -> Result<()> {
        if self.poison.is_some() {
            return Err(StoreError::Worker(format!(
                "checkpoint skipped: {}",
                self.poison.clone().unwrap_or_default()
            )));
        }
        self.checkpoint_now(false).map_err(|e| self.poisoned(e))
    }

    /// Syncs every changed file and directory, then starts a new log epoch.
    fn checkpoint_now(&mut self, force: bool) -> Result<()> {
        if !force && self.wal.is_empty() && self.dirty.is_empty() {
            return Ok(());
        }
        let files: Vec<PathBuf> = self.dirty.files.iter().cloned().collect();
        fsio::sync_all_parallel(&files, false)?;
        let dirs: Vec<PathBuf> = self.dirty.dirs.iter().cloned().collect();
        fsio::sync_all_parallel(&dirs, true)?;
        self.wal.reset()?;
        self.oldest = None;
        self.dirty = Dirty::default();
        self.shared
            .stats
            .checkpoints
            .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn idle(&mut self) {
        if let Err(e) = self.heal_if_poisoned() {
            tracing::debug!(error = %e, "storage still cannot heal");
            return;
        }
        if let Err(e) = self.checkpoint() {
            tracing::warn!(error = %e, "idle storage checkpoint failed; it is retried");
            return;
        }
        if let Err(e) = self.spares.top_up(IDLE_SPARES) {
            tracing::debug!(error = %e, "cannot make spare files");
        }
    }

    /// A clean close leaves the files durable and no log, no spares behind.
    fn close(mut self) {
        let done = self
            .heal_if_poisoned()
            .and_then(|()| self.checkpoint_now(false));
        match done {
            Ok(()) => {
                self.spares.clear();
                let path = self.wal.path().to_owned();
                drop(self.wal);
                let _ = std::fs::remove_file(path);
            }
            Err(e) => {
                tracing::warn!(error = %e, "storage closed without a final checkpoint; the journal is replayed at the next open");
            }
        }
    }
}

/// A copy of an error for each writer of a failed group.
fn dup(e: &StoreError) -> StoreError {
    match e {
        StoreError::Io { op, path, source } => StoreError::Io {
            op,
            path: path.clone(),
            source: std::io::Error::new(source.kind(), source.to_string()),
        },
        StoreError::Corrupt { what, detail } => StoreError::Corrupt {
            what: what.clone(),
            detail: detail.clone(),
        },
        StoreError::BadPath { path, reason } => StoreError::BadPath {
            path: path.clone(),
            reason,
        },
        StoreError::BadValue(s) => StoreError::BadValue(s.clone()),
        other => StoreError::Worker(other.to_string()),
    }
}

// ------------------------------------------------------------------------ opening once

/// Stores open in this process, by (kind, canonical directory): every handle on one
/// directory shares one writer, one lock and one group commit.
type Registry = Vec<(&'static str, PathBuf, Weak<dyn std::any::Any + Send + Sync>)>;
static OPEN: Mutex<Registry> = Mutex::new(Vec::new());
/// Directories whose writer is starting or still closing in this process.
static HELD: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static HELD_CV: Condvar = Condvar::new();

/// The store already open on `dir` in this process, or a new one from `open`.
pub(crate) fn open_shared<S: Send + Sync + 'static>(
    kind: &'static str,
    dir: &Path,
    open: impl FnOnce(PathBuf) -> Result<Arc<S>>,
) -> Result<Arc<S>> {
    let key = dir
        .canonicalize()
        .map_err(|e| StoreError::io("resolve", dir, e))?;
    let mut reg = OPEN.lock().unwrap_or_else(|e| e.into_inner());
    reg.retain(|(_, _, w)| w.strong_count() > 0);
    if let Some(found) = reg
        .iter()
        .filter(|(k, p, _)| *k == kind && *p == key)
        .find_map(|(_, _, w)| w.upgrade())
        && let Ok(s) = found.downcast::<S>()
    {
        return Ok(s);
    }
    // A handle dropped a moment ago may still be closing: wait for it to let go.
    {
        let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
        while held.contains(&key) {
            held = HELD_CV.wait(held).unwrap_or_else(|e| e.into_inner());
        }
        held.push(key.clone());
    }
    match open(key.clone()) {
        Ok(s) => {
            let any: Arc<dyn std::any::Any + Send + Sync> = s.clone();
            reg.push((kind, key, Arc::downgrade(&any)));
            Ok(s)
        }
        Err(e) => {
            release(&key);
            Err(e)
        }
    }
}

fn release(key: &Path) {
    let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
    held.retain(|p| p != key);
    HELD_CV.notify_all();
}

/// One process at a time writes a store: an advisory lock on a file that is never deleted.
fn take_lock(path: &Path) -> Result<File> {
    let mut o = OpenOptions::new();
    o.read(true).write(true).create(true).truncate(false);
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let f = o
        .open(path)
        .map_err(|e| StoreError::io("open lock", path, e))?;
    // A lock is briefly held elsewhere after its owner let go: by a process still closing,
    // or by a child forked from the owner that has not yet run `exec`. So wait a little.
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match f.try_lock() {
            Ok(()) => return Ok(f),
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::io(
                    "lock",
                    path,
                    std::io::Error::new(
                        std::io::ErrorKind::WouldBlock,
                        "the store is open in another process",
                    ),
                ));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                // A file system without locks: go on, as the earlier version always did.
                tracing::warn!(error = %e, "cannot lock the store; not guarding against a second process");
                return Ok(f);
            }
        }
    }
}

/// How long opening waits for another holder of the store's lock.
const LOCK_WAIT: Duration = Duration::from_secs(2);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_round_trip_and_truncations_are_refused() {
        let ops = vec![
            Op {
                key: "a/b".into(),
                value: Some(vec![1, 2, 3]),
                created: true,
                prev: Prev::Absent,
            },
            Op {
                key: "c".into(),
                value: None,
                created: false,
                prev: Prev::Hash(0xDEAD_BEEF),
            },
            Op {
                key: "ü".into(),
                value: Some(Vec::new()),
                created: false,
                prev: Prev::Unknown,
            },
        ];
        let b = encode_ops(&ops);
        assert_eq!(decode_ops(&b).unwrap(), ops);
        for cut in 0..b.len() {
            assert!(decode_ops(&b[..cut]).is_none(), "cut at {cut}");
        }
    }

    proptest::proptest! {
        #[test]
        fn the_op_decoder_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = decode_ops(&bytes);
        }
    }

    #[test]
    fn durability_parses() {
        assert_eq!(Durability::parse("full").unwrap(), Durability::Full);
        assert_eq!(Durability::parse("process").unwrap(), Durability::Process);
        assert_eq!(
            Durability::parse("fast").unwrap_err().code(),
            "ERR_WA_STORE_BAD_VALUE"
        );
    }
}
