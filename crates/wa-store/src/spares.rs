//! Whole-file replacement without creating a file per write.
//!
//! A write fills a *spare* file (a private file in the store's temporary directory) and
//! swaps it with the target in one `renameat2(RENAME_EXCHANGE)`: readers see the old bytes
//! or the new ones, never a mix, and the old file becomes the next spare. Creating a file
//! costs an inode allocation (and on some virtual disks far more than the write itself);
//! a swap costs a directory update. Where the exchange is not supported (another OS, some
//! network file systems) the spare is renamed over the target instead, as before.
//!
//! Nothing here syncs: the write-ahead log is the durability point, and the checkpoint
//! syncs the files and directories recorded in [`Dirty`].

use std::collections::{HashSet, VecDeque};
use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Result, StoreError};
use crate::fsio;

/// Spares kept at most (deleted files beyond this are unlinked).
const MAX_SPARES: usize = 64;
/// Spares made ahead of time when the store is idle.
pub(crate) const IDLE_SPARES: usize = 8;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Files and directories changed since the last checkpoint, to sync before it.
#[derive(Default, Debug)]
pub(crate) struct Dirty {
    pub files: HashSet<PathBuf>,
    pub dirs: HashSet<PathBuf>,
}

impl Dirty {
    pub(crate) fn is_empty(&self) -> bool {
        self.files.is_empty() && self.dirs.is_empty()
    }

    pub(crate) fn file(&mut self, p: &Path) {
        if !self.files.contains(p) {
            self.files.insert(p.to_owned());
        }
    }

    pub(crate) fn dir(&mut self, p: &Path) {
        if !self.dirs.contains(p) {
            self.dirs.insert(p.to_owned());
        }
    }
}

/// The spare files of one store (first in, first out).
pub(crate) struct Spares {
    dir: PathBuf,
    free: VecDeque<PathBuf>,
    exchange: bool,
}

impl Spares {
    /// Uses `dir` (created 0700) for spares; files already there (spares of an earlier run,
    /// temporary files of a write that never renamed) are adopted or removed.
    pub(crate) fn open(dir: PathBuf) -> Result<Self> {
        fsio::create_dirs(&dir)?;
        let mut free = VecDeque::new();
        let rd = fs::read_dir(&dir).map_err(|e| StoreError::io("read directory", &dir, e))?;
        for ent in rd.flatten() {
            let p = ent.path();
            if free.len() < MAX_SPARES && usable(&p) {
                free.push_back(p);
            } else {
                let _ = fs::remove_file(&p).or_else(|_| fs::remove_dir_all(&p));
            }
        }
        Ok(Self {
            dir,
            free,
            exchange: cfg!(target_os = "linux"),
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.free.len()
    }

    fn fresh_name(&self) -> PathBuf {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        self.dir.join(format!("{}.{n}.spare", std::process::id()))
    }

    /// Makes spares until there are `n`.
    pub(crate) fn top_up(&mut self, n: usize) -> Result<()> {
        while self.free.len() < n {
            let p = self.fresh_name();
            fsio::write_new(&p, &[])?;
            self.free.push_back(p);
        }
        Ok(())
    }

    /// Replaces (or creates) `target` with `data` in one atomic step. `exists` says whether
    /// the target is there now (it picks the exchange; a wrong guess only costs a retry).
    pub(crate) fn put(
        &mut self,
        target: &Path,
        data: &[u8],
        exists: bool,
        dirty: &mut Dirty,
    ) -> Result<()> {
        dirty.file(target);
        if let Some(dir) = target.parent() {
            dirty.dir(dir);
        }
        dirty.dir(&self.dir);
        let spare = loop {
            match self.free.pop_front() {
                Some(s) if usable(&s) => break Some(s),
                Some(s) => {
                    let _ = fs::remove_file(&s);
                }
                None => break None,
            }
        };
        let spare = match spare {
            Some(s) => {
                if let Err(e) = fill(&s, data) {
                    let _ = fs::remove_file(&s);
                    return Err(e);
                }
                s
            }
            // The pool is empty: a new file, which the exchange below turns into a spare
            // (the target's old file), so a store that keeps rewriting its files soon
            // stops creating any.
            None => {
                let s = self.fresh_name();
                fsio::write_new(&s, data)?;
                s
            }
        };
        if exists && self.exchange {
            match exchange(&spare, target) {
                Ok(()) => {
                    // The old file now sits under the spare's name.
                    self.free.push_back(spare);
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) if unsupported(&e) => {
                    tracing::debug!("RENAME_EXCHANGE unsupported here; renaming instead");
                    self.exchange = false;
                }
                Err(e) => {
                    self.free.push_back(spare);
                    return Err(StoreError::io("exchange", target, e));
                }
            }
        }
        fs::rename(&spare, target).map_err(|e| {
            self.free.push_back(spare.clone());
            StoreError::io("rename", target, e)
        })
    }

    /// Removes `target` if it is there; its file becomes a spare while the pool is short.
    pub(crate) fn remove(&mut self, target: &Path, dirty: &mut Dirty) -> Result<bool> {
        let removed = if self.free.len() < MAX_SPARES {
            let to = self.fresh_name();
            match fs::rename(target, &to) {
                Ok(()) => {
                    self.free.push_back(to);
                    dirty.dir(&self.dir);
                    true
                }
                Err(e) if gone(&e) => false,
                // A directory where a file was expected, or a cross-device oddity: unlink.
                Err(_) => fsio::remove_opt(target)?,
            }
        } else {
            fsio::remove_opt(target)?
        };
        if removed && let Some(dir) = target.parent() {
            dirty.dir(dir);
        }
        Ok(removed)
    }

    /// Deletes every spare (a clean close leaves the temporary directory empty).
    pub(crate) fn clear(&mut self) {
        for s in self.free.drain(..) {
            let _ = fs::remove_file(s);
        }
    }
}

fn gone(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
    )
}

/// A spare can be reused only while it is a plain file with no other name: never follow a
/// symlink or write through a hard link into someone else's file.
fn usable(p: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_file() && m.nlink() == 1)
}

fn fill(spare: &Path, data: &[u8]) -> Result<()> {
    use std::os::unix::fs::{FileExt as _, PermissionsExt as _};
    let f = OpenOptions::new()
        .write(true)
        .open(spare)
        .map_err(|e| StoreError::io("open", spare, e))?;
    f.write_all_at(data, 0)
        .map_err(|e| StoreError::io("write", spare, e))?;
    f.set_len(data.len() as u64)
        .map_err(|e| StoreError::io("truncate", spare, e))?;
    // A file that came from elsewhere (Baileys writes 0644) is made private like ours.
    let meta = f.metadata().map_err(|e| StoreError::io("stat", spare, e))?;
    if meta.permissions().mode() & 0o777 != 0o600 {
        f.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(|e| StoreError::io("chmod", spare, e))?;
    }
    Ok(())
}

#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    use rustix::io::Errno;
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(|e| {
        if e == Errno::INVAL || e == Errno::NOSYS || e == Errno::OPNOTSUPP {
            std::io::Error::from(std::io::ErrorKind::Unsupported)
        } else {
            std::io::Error::from(e)
        }
    })
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> std::io::Result<()> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

fn unsupported(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::Unsupported
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_replaces_whole_files_and_recycles_the_old_one() {
        let d = tempfile::tempdir().unwrap();
        let mut s = Spares::open(d.path().join("tmp")).unwrap();
        let mut dirty = Dirty::default();
        let t = d.path().join("target");
        s.put(&t, b"first", false, &mut dirty).unwrap();
        assert_eq!(fs::read(&t).unwrap(), b"first");
        assert_eq!(s.len(), 0, "no spare yet: a new file was made");
        s.put(&t, b"second, longer", true, &mut dirty).unwrap();
        assert_eq!(fs::read(&t).unwrap(), b"second, longer");
        assert_eq!(s.len(), 1, "the old file became a spare");
        s.put(&t, b"3rd", true, &mut dirty).unwrap();
        assert_eq!(fs::read(&t).unwrap(), b"3rd");
        assert_eq!(s.len(), 1, "an exchange keeps the pool's size");
        s.top_up(2).unwrap();
        assert_eq!(s.len(), 2);
        assert!(dirty.files.contains(&t) && dirty.dirs.contains(d.path()));
        // A wrong guess about existence still ends with the right file.
        let u = d.path().join("new");
        s.put(&u, b"u", true, &mut dirty).unwrap();
        assert_eq!(fs::read(&u).unwrap(), b"u");
        assert!(s.remove(&u, &mut dirty).unwrap());
        assert!(!u.exists());
        assert!(!s.remove(&u, &mut dirty).unwrap());
        s.clear();
        assert_eq!(fs::read_dir(d.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn a_linked_spare_is_never_written_through() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        fs::write(&victim, b"keep me").unwrap();
        let tmp = d.path().join("tmp");
        fs::create_dir(&tmp).unwrap();
        std::os::unix::fs::symlink(&victim, tmp.join("evil.spare")).unwrap();
        fs::hard_link(&victim, tmp.join("linked.spare")).unwrap();
        let mut s = Spares::open(tmp).unwrap();
        assert_eq!(s.len(), 0, "links are not adopted");
        let t = d.path().join("t");
        fs::write(&t, b"old").unwrap();
        s.put(&t, b"new", true, &mut Dirty::default()).unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"keep me");
        assert_eq!(fs::read(&t).unwrap(), b"new");
    }

    #[test]
    fn files_of_other_modes_come_back_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let d = tempfile::tempdir().unwrap();
        let mut s = Spares::open(d.path().join("tmp")).unwrap();
        let t = d.path().join("creds.json");
        fs::write(&t, b"{}").unwrap();
        fs::set_permissions(&t, fs::Permissions::from_mode(0o644)).unwrap();
        s.top_up(1).unwrap();
        s.put(&t, b"{\"a\":1}", true, &mut Dirty::default())
            .unwrap();
        // The 0644 file is now the spare; written again, it becomes 0600.
        s.put(&t, b"{\"a\":2}", true, &mut Dirty::default())
            .unwrap();
        let mode = fs::metadata(&t).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
