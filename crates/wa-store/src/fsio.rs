//! File-system primitives: atomic whole-file writes, syncing files and directories, and the
//! reader of the batch journal an earlier version of the file stores kept (so a store it
//! left after a crash still opens whole).

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write as _};
use std::path::{Path, PathBuf};
#[cfg(test)]
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Result, StoreError};

#[cfg(test)]
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh temporary file name, unique within this process and across processes.
#[cfg(test)]
pub(crate) fn tmp_name(tmp_dir: &Path) -> PathBuf {
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    tmp_dir.join(format!("{}.{n}.tmp", std::process::id()))
}

/// Creates `dir` and its parents with mode 0700.
pub(crate) fn create_dirs(dir: &Path) -> Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
        .map_err(|e| StoreError::io("create directory", dir, e))
}

fn open_new(path: &Path) -> Result<File> {
    let mut o = OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path).map_err(|e| StoreError::io("create", path, e))
}

/// Makes directory entries (renames, new files) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let d = match File::open(dir) {
            Ok(d) => d,
            // Removed later in the same batch: nothing left to make durable.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(StoreError::io("open directory", dir, e)),
        };
        d.sync_all()
            .map_err(|e| StoreError::io("fsync directory", dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Replaces `target` with `data` atomically: readers see the old bytes or the new ones,
/// never a mix, even if the process dies half-way. With `sync`, the file is on disk
/// before the rename (the caller syncs the directory). (Tests write the earlier journal
/// format with it.)
#[cfg(test)]
pub(crate) fn write_atomic(tmp_dir: &Path, target: &Path, data: &[u8], sync: bool) -> Result<()> {
    let tmp = tmp_name(tmp_dir);
    let res = (|| {
        let mut f = open_new(&tmp)?;
        f.write_all(data)
            .map_err(|e| StoreError::io("write", &tmp, e))?;
        if sync {
            f.sync_all().map_err(|e| StoreError::io("fsync", &tmp, e))?;
        }
        drop(f);
        fs::rename(&tmp, target).map_err(|e| StoreError::io("rename", target, e))
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

/// Creates `path` (0600, must not exist) holding `data`, not synced.
pub(crate) fn write_new(path: &Path, data: &[u8]) -> Result<()> {
    let mut f = open_new(path)?;
    if let Err(e) = f.write_all(data) {
        drop(f);
        let _ = fs::remove_file(path);
        return Err(StoreError::io("write", path, e));
    }
    Ok(())
}

/// Syncs a file; one that is gone (replaced or removed since) has nothing left to sync.
pub(crate) fn sync_file(path: &Path) -> Result<()> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(());
        }
        Err(e) => return Err(StoreError::io("open", path, e)),
    };
    f.sync_all().map_err(|e| StoreError::io("fsync", path, e))
}

/// Syncs many files (or directories) at once from several threads: the file system merges
/// concurrent syncs into few journal commits, so a checkpoint waits for the disk about once.
pub(crate) fn sync_all_parallel(paths: &[PathBuf], dirs: bool) -> Result<()> {
    let one = move |p: &PathBuf| if dirs { sync_dir(p) } else { sync_file(p) };
    if paths.len() <= 1 {
        return paths.iter().try_for_each(one);
    }
    let pool = sync_pool();
    let workers = paths.len().min(pool.threads + 1);
    let chunk = paths.len().div_ceil(workers);
    let mut chunks = paths.chunks(chunk);
    // The calling thread syncs the first chunk itself; the pool takes the others.
    let mine = chunks.next().unwrap_or_default();
    let (tx, rx) = std::sync::mpsc::channel();
    let mut sent = 0;
    for c in chunks {
        let owned = c.to_vec();
        let tx = tx.clone();
        pool.run(Box::new(move || {
            let _ = tx.send(owned.iter().try_for_each(one));
        }));
        sent += 1;
    }
    drop(tx);
    let mut result = mine.iter().try_for_each(one);
    for _ in 0..sent {
        let r = rx
            .recv()
            .unwrap_or_else(|_| Err(StoreError::Worker("sync thread stopped".into())));
        if result.is_ok() {
            result = r;
        }
    }
    result
}

type Job = Box<dyn FnOnce() + Send>;

/// A few threads, shared by every store of the process, that sync files in parallel at
/// checkpoints. (Spawning threads per checkpoint left each one's stack and malloc arena
/// behind: with a file-backed account per socket that was most of a socket's memory.)
struct SyncPool {
    queue: std::sync::Mutex<std::collections::VecDeque<Job>>,
    ready: std::sync::Condvar,
    threads: usize,
}

impl SyncPool {
    fn run(&'static self, job: Job) {
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(job);
        self.ready.notify_one();
    }

    fn work(&'static self) {
        loop {
            let job = {
                let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    if let Some(j) = q.pop_front() {
                        break j;
                    }
                    q = self.ready.wait(q).unwrap_or_else(|e| e.into_inner());
                }
            };
            // A panic in one sync must not take the pool's thread down.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
        }
    }
}

fn sync_pool() -> &'static SyncPool {
    static POOL: std::sync::OnceLock<&'static SyncPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let threads = std::thread::available_parallelism()
            .map_or(4, |n| n.get())
            .clamp(2, 8);
        let pool: &'static SyncPool = Box::leak(Box::new(SyncPool {
            queue: std::sync::Mutex::new(std::collections::VecDeque::new()),
            ready: std::sync::Condvar::new(),
            threads,
        }));
        let mut started = 0;
        for i in 0..threads {
            let spawned = std::thread::Builder::new()
                .name(format!("wa-store sync {i}"))
                .stack_size(64 * 1024)
                .spawn(move || pool.work());
            started += usize::from(spawned.is_ok());
        }
        // Without threads the caller syncs everything itself (see the fallback above).
        if started == 0 {
            Box::leak(Box::new(SyncPool {
                queue: std::sync::Mutex::new(std::collections::VecDeque::new()),
                ready: std::sync::Condvar::new(),
                threads: 0,
            }))
        } else {
            pool
        }
    })
}

/// Reads a whole file, `None` when it does not exist.
pub(crate) fn read_opt(path: &Path) -> Result<Option<Vec<u8>>> {
    match File::open(path) {
        Ok(mut f) => {
            let mut buf = Vec::new();
            f.read_to_end(&mut buf)
                .map_err(|e| StoreError::io("read", path, e))?;
            Ok(Some(buf))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        // A directory where a file should be, or a path component that is a file.
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => Ok(None),
        Err(e) => Err(StoreError::io("open", path, e)),
    }
}

/// Removes a file; a missing file is not an error.
pub(crate) fn remove_opt(path: &Path) -> Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(StoreError::io("remove", path, e)),
    }
}

const CRC_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// CRC-32 (IEEE), to tell a whole journal from a torn one.
pub(crate) fn crc32(data: &[u8]) -> u32 {
    crc32_parts(&[data])
}

/// CRC-32 of the concatenation of `parts`, without concatenating them.
pub(crate) fn crc32_parts(parts: &[&[u8]]) -> u32 {
    let mut c = !0u32;
    for part in parts {
        for &b in *part {
            c = CRC_TABLE[((c ^ b as u32) & 0xFF) as usize] ^ (c >> 8);
        }
    }
    !c
}

/// FNV-1a, 64 bits: a cheap fingerprint of file contents (not a defence against anyone).
pub(crate) fn fnv64(data: &[u8]) -> u64 {
    let mut h = 0xCBF2_9CE4_8422_2325u64;
    for &b in data {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

const MAGIC: &[u8; 4] = b"WAJ1";

/// One journaled write: a key (engine path or file name) and the bytes, `None` to delete.
pub(crate) type JournalOp = (String, Option<Vec<u8>>);

/// The batches an earlier version of the file stores left in `dir` (one file per batch,
/// renamed into place once complete and synced, with a CRC), oldest first; torn ones were
/// never acknowledged and are removed. Nothing when there is no such directory.
pub(crate) fn legacy_pending(dir: &Path) -> Result<Vec<(PathBuf, Vec<JournalOp>)>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    Journal {
        dir: dir.to_owned(),
    }
    .pending()
}

/// The earlier version's journal directory (written here only by tests, as a fixture).
pub(crate) struct Journal {
    dir: PathBuf,
}

impl Journal {
    #[cfg(test)]
    pub(crate) fn open(dir: PathBuf) -> Result<Self> {
        create_dirs(&dir)?;
        Ok(Self { dir })
    }

    /// Writes `ops` durably and returns the journal file.
    #[cfg(test)]
    pub(crate) fn commit(&self, ops: &[JournalOp]) -> Result<PathBuf> {
        let mut buf = Vec::with_capacity(
            64 + ops
                .iter()
                .map(|o| o.0.len() + o.1.as_ref().map_or(0, Vec::len) + 13)
                .sum::<usize>(),
        );
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&(ops.len() as u32).to_le_bytes());
        for (key, value) in ops {
            buf.extend_from_slice(&(key.len() as u32).to_le_bytes());
            buf.extend_from_slice(key.as_bytes());
            match value {
                Some(v) => {
                    buf.push(1);
                    buf.extend_from_slice(&(v.len() as u64).to_le_bytes());
                    buf.extend_from_slice(v);
                }
                None => buf.push(0),
            }
        }
        let crc = crc32(&buf);
        buf.extend_from_slice(&crc.to_le_bytes());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{nanos:024}-{}-{n:08}.batch", std::process::id());
        let target = self.dir.join(name);
        write_atomic(&self.dir, &target, &buf, true)?;
        sync_dir(&self.dir)?;
        Ok(target)
    }

    /// The complete batches left by a crash, oldest first. Torn ones and leftovers are removed.
    pub(crate) fn pending(&self) -> Result<Vec<(PathBuf, Vec<JournalOp>)>> {
        let mut names = Vec::new();
        let rd =
            fs::read_dir(&self.dir).map_err(|e| StoreError::io("read directory", &self.dir, e))?;
        for ent in rd {
            let ent = ent.map_err(|e| StoreError::io("read directory", &self.dir, e))?;
            let name = ent.file_name().to_string_lossy().into_owned();
            if name.ends_with(".batch") {
                names.push(name);
            } else if name.ends_with(".tmp") {
                // A temporary file of a batch that never committed.
                let _ = fs::remove_file(ent.path());
            }
        }
        names.sort();
        let mut out = Vec::new();
        for name in names {
            let p = self.dir.join(&name);
            let bytes = read_opt(&p)?.unwrap_or_default();
            match decode(&bytes) {
                Some(ops) => out.push((p, ops)),
                None => {
                    tracing::warn!(journal = %name, "discarding a torn storage journal");
                    let _ = fs::remove_file(&p);
                }
            }
        }
        Ok(out)
    }
}

fn decode(b: &[u8]) -> Option<Vec<JournalOp>> {
    if b.len() < 12 || &b[..4] != MAGIC {
        return None;
    }
    let (body, crc) = b.split_at(b.len() - 4);
    if crc32(body) != u32::from_le_bytes(crc.try_into().ok()?) {
        return None;
    }
    let mut r = &body[4..];
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
        let klen = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
        let key = String::from_utf8(take(klen)?.to_vec()).ok()?;
        let value = match take(1)?[0] {
            1 => {
                let vlen = u64::from_le_bytes(take(8)?.try_into().ok()?) as usize;
                Some(take(vlen)?.to_vec())
            }
            0 => None,
            _ => return None,
        };
        ops.push((key, value));
    }
    Some(ops)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_ieee_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn journal_round_trips_and_rejects_torn_files() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path().join("j")).unwrap();
        let ops = vec![
            ("a/b".to_owned(), Some(vec![1, 2, 3])),
            ("c".to_owned(), None),
        ];
        let f = j.commit(&ops).unwrap();
        let bytes = fs::read(&f).unwrap();
        assert_eq!(decode(&bytes).unwrap(), ops);
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_none(), "cut at {cut}");
        }
        let mut flipped = bytes.clone();
        flipped[9] ^= 1;
        assert!(decode(&flipped).is_none());
        assert_eq!(j.pending().unwrap().len(), 1);
        fs::write(&f, &bytes[..bytes.len() - 1]).unwrap();
        assert!(j.pending().unwrap().is_empty());
        assert!(!f.exists(), "a torn journal is removed");
    }

    proptest::proptest! {
        #[test]
        fn journal_decoder_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = decode(&bytes);
            let mut framed = MAGIC.to_vec();
            framed.extend_from_slice(&bytes);
            let crc = crc32(&framed);
            framed.extend_from_slice(&crc.to_le_bytes());
            let _ = decode(&framed);
        }

        #[test]
        fn name_and_value_parsers_never_panic(s in ".{0,64}") {
            let _ = crate::path::check(&s);
            let _ = crate::path::unescape(&s);
            let _ = crate::baileys::parse_key_file_name(&s);
            let _ = crate::creds::AuthenticationCreds::from_json(s.as_bytes());
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&s) {
                let _ = crate::bufferjson::bytes(&v);
            }
        }
    }
}
