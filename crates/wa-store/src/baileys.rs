//! Baileys' auth folder (`useMultiFileAuthState`): `creds.json` and one
//! `<type>-<id>.json` per key, with `/` -> `__` and `:` -> `-` in the name, JSON in
//! BufferJSON form.
//!
//! Where Baileys truncates and rewrites each file in place, we replace each file whole (a
//! reader sees the old bytes or the new ones) and every `set` is all or nothing: it is one
//! record of a write-ahead log in `.baileys-native/` (made durable with one `fdatasync`,
//! shared by concurrent writers), then its files are swapped in. Baileys ignores that
//! folder, so the directory is a valid Baileys auth folder, with every acknowledged write
//! in its files, whenever our process is not in the middle of a write.
//!
//! After a crash our next open replays the log. If the crash was only the process's (the
//! machine did not go down since), a file that another program changed since our write
//! (Baileys, used in between) is left as that program wrote it: we only replay a file
//! whose bytes are still ones our log knows for it.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::commit::{self, Committer, FileOptions, Op, Paths, Prev, Target};
use crate::engine::{BoxFuture, blocking};
use crate::error::{Result, StoreError};
use crate::fsio;
use crate::keys::{KeyMap, KeyRequest, KeyStore, KeyType, KeyWrites, parse_value};
use crate::spares::{Dirty, Spares};

pub const CREDS_FILE: &str = "creds.json";
const OWN_DIR: &str = ".baileys-native";

/// Baileys' `fixFileName`.
pub fn fix_file_name(name: &str) -> String {
    name.replace('/', "__").replace(':', "-")
}

/// The file of one key.
pub fn key_file_name(ty: KeyType, id: &str) -> String {
    fix_file_name(&format!("{}-{id}.json", ty.as_str()))
}

/// Recovers `(type, id)` from a key file name. `fixFileName` is lossy (`:` and `-` both
/// become `-`), so ids are rebuilt from what each type's ids look like: sender-key names
/// are `group::user::device`; no other type Baileys writes has `:` in its ids.
pub fn parse_key_file_name(name: &str) -> Option<(KeyType, String)> {
    let stem = name.strip_suffix(".json")?;
    // Longest type name first: `sender-key-memory-` before `sender-key-`.
    let mut types = KeyType::ALL;
    types.sort_by_key(|t| std::cmp::Reverse(t.as_str().len()));
    for ty in types {
        if let Some(rest) = stem
            .strip_prefix(ty.as_str())
            .and_then(|r| r.strip_prefix('-'))
        {
            let id = if ty == KeyType::SenderKey {
                let parts: Vec<&str> = rest.rsplitn(3, "--").collect();
                match parts.as_slice() {
                    [device, user, group] => {
                        format!("{}::{user}::{device}", group.replace("__", "/"))
                    }
                    _ => rest.replace("__", "/"),
                }
            } else {
                rest.replace("__", "/")
            };
            return Some((ty, id));
        }
    }
    None
}

struct Inner {
    dir: PathBuf,
    committer: Committer,
}

/// A Baileys auth folder, readable and writable by us and by the real Baileys.
#[derive(Clone)]
pub struct BaileysFolder {
    inner: Arc<Inner>,
}

/// One file of the folder, as found by [`BaileysFolder::entries`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FolderEntry {
    Creds,
    Key(KeyType, String),
    /// A file that is neither (kept as is, reported by migrations).
    Other(String),
}

impl BaileysFolder {
    /// Opens the folder, creating it like Baileys does; finishes any interrupted batch.
    /// Fails with `ERR_WA_STORE_IO` if another process of ours has it open.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        Self::open_with(dir, FileOptions::default())
    }

    /// [`BaileysFolder::open`] with options (durability, checkpoint thresholds). A folder
    /// already open in this process is shared; it keeps the stronger durability of the two.
    pub fn open_with(dir: impl Into<PathBuf>, opts: FileOptions) -> Result<Self> {
        let dir = dir.into();
        if dir.exists() && !dir.is_dir() {
            return Err(StoreError::io(
                "open auth folder",
                &dir,
                std::io::Error::new(
                    std::io::ErrorKind::NotADirectory,
                    "found something that is not a directory",
                ),
            ));
        }
        fsio::create_dirs(&dir)?;
        let inner = commit::open_shared("baileys-folder", &dir, |key| {
            let own = dir.join(OWN_DIR);
            fsio::create_dirs(&own)?;
            let paths = Paths {
                wal: own.join("wal"),
                spares: own.join("tmp"),
                lock: own.join("lock"),
                legacy: Some(own.join("journal")),
            };
            let committer = Committer::start(
                key,
                FolderTarget { dir: dir.clone() },
                paths,
                &opts,
                "auth folder",
            )?;
            Ok(Arc::new(Inner {
                dir: dir.clone(),
                committer,
            }))
        })?;
        inner.committer.raise_durability(opts.durability);
        Ok(Self { inner })
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Syncs everything written so far in place and empties the write-ahead log (this
    /// also happens on its own: when the folder is idle, when the log grows, on close).
    pub async fn checkpoint(&self) -> Result<()> {
        self.inner.committer.checkpoint().await
    }

    /// The text of `creds.json`, if any.
    pub async fn read_creds(&self) -> Result<Option<Vec<u8>>> {
        self.inner.committer.ready().await?;
        let inner = self.inner.clone();
        blocking(move || {
            let _r = inner.committer.rw.read().unwrap_or_else(|e| e.into_inner());
            let bytes = fsio::read_opt(&inner.dir.join(CREDS_FILE))?;
            if let Some(b) = &bytes {
                serde_json::from_slice::<serde_json::Value>(b).map_err(|e| {
                    StoreError::corrupt(format!("{}", inner.dir.join(CREDS_FILE).display()), e)
                })?;
            }
            Ok(bytes)
        })
        .await
    }

    /// Replaces `creds.json` atomically.
    pub async fn write_creds(&self, json: Vec<u8>) -> Result<()> {
        self.write_files(vec![(CREDS_FILE.to_owned(), Some(json))])
            .await
    }

    /// Reads raw files by name (`None` for missing ones).
    pub async fn read_files(&self, names: Vec<String>) -> Result<Vec<Option<Vec<u8>>>> {
        self.inner.committer.ready().await?;
        let inner = self.inner.clone();
        blocking(move || {
            let _r = inner.committer.rw.read().unwrap_or_else(|e| e.into_inner());
            names
                .iter()
                .map(|n| file_in(&inner.dir, n).and_then(|p| fsio::read_opt(&p)))
                .collect()
        })
        .await
    }

    /// Writes (or, with `None`, deletes) whole files by name, all or none; resolves once
    /// the batch is durable.
    pub async fn write_files(&self, files: Vec<(String, Option<Vec<u8>>)>) -> Result<()> {
        for (n, _) in &files {
            file_in(&self.inner.dir, n)?;
        }
        self.inner.committer.write(files).await
    }

    /// Every file of the folder, classified.
    pub async fn entries(&self) -> Result<Vec<(String, FolderEntry)>> {
        self.inner.committer.ready().await?;
        let inner = self.inner.clone();
        blocking(move || {
            let _r = inner.committer.rw.read().unwrap_or_else(|e| e.into_inner());
            let rd = fs::read_dir(&inner.dir)
                .map_err(|e| StoreError::io("read directory", &inner.dir, e))?;
            let mut out = Vec::new();
            for ent in rd {
                let ent = ent.map_err(|e| StoreError::io("read directory", &inner.dir, e))?;
                let name = ent.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') || !ent.file_type().is_ok_and(|t| t.is_file()) {
                    continue;
                }
                let kind = if name == CREDS_FILE {
                    FolderEntry::Creds
                } else if let Some((ty, id)) = parse_key_file_name(&name) {
                    FolderEntry::Key(ty, id)
                } else {
                    FolderEntry::Other(name.clone())
                };
                out.push((name, kind));
            }
            out.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(out)
        })
        .await
    }

    /// Stops the folder's writer as a crash would (no checkpoint). The last handle.
    #[cfg(test)]
    fn crash(self) {
        let inner =
            Arc::try_unwrap(self.inner).unwrap_or_else(|_| panic!("other handles are open"));
        inner.committer.crash();
    }
}

/// The path of a file of the folder; names never hold a separator (Baileys' fix replaces
/// `/`), and `..`-only names are refused, so nothing lands outside the folder.
fn file_in(dir: &Path, name: &str) -> Result<PathBuf> {
    let bad = |reason| {
        Err(StoreError::BadPath {
            path: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() || name == "." || name == ".." {
        return bad("not a file name");
    }
    if name.contains('/') || name.contains('\\') || name.contains('\0') {
        return bad("a separator or NUL in a file name");
    }
    if name.len() > 255 {
        return bad("file name longer than 255 bytes");
    }
    Ok(dir.join(name))
}

fn sig(bytes: Option<&[u8]>) -> Prev {
    bytes.map_or(Prev::Absent, |b| Prev::Hash(fsio::fnv64(b)))
}

/// The writer side: journaled writes are whole files of the folder.
struct FolderTarget {
    dir: PathBuf,
}

impl Target for FolderTarget {
    fn plan(&mut self, writes: Vec<(String, Option<Vec<u8>>)>, ops: &mut Vec<Op>) -> Result<()> {
        // What each file holds before each write: on disk, or what this group wrote last.
        let mut last: HashMap<String, Prev> = HashMap::new();
        for (name, value) in writes {
            let prev = match last.get(&name) {
                Some(p) => *p,
                None => sig(fsio::read_opt(&file_in(&self.dir, &name)?)?.as_deref()),
            };
            last.insert(name.clone(), sig(value.as_deref()));
            ops.push(Op {
                key: name,
                value,
                created: false,
                prev,
            });
        }
        Ok(())
    }

    fn apply(&mut self, ops: &[Op], spares: &mut Spares, dirty: &mut Dirty) -> Result<()> {
        for op in ops {
            let target = file_in(&self.dir, &op.key)?;
            match &op.value {
                Some(v) => spares.put(&target, v, target.is_file(), dirty)?,
                None => {
                    spares.remove(&target, dirty)?;
                }
            }
        }
        Ok(())
    }

    fn replay(
        &mut self,
        ops: &[Op],
        same_boot: bool,
        spares: &mut Spares,
        dirty: &mut Dirty,
    ) -> Result<()> {
        if !same_boot {
            // The machine went down: any file written since the last checkpoint may be
            // torn or stale on disk. Restore every one.
            return self.apply(ops, spares, dirty);
        }
        // A process crash: files hold exactly what was last written to them, by us or by
        // someone else since. Each file gets its last journaled value unless its bytes
        // are none our log knows for it (another program wrote it after us) and are whole.
        let mut order: Vec<&str> = Vec::new();
        let mut chains: HashMap<&str, Vec<&Op>> = HashMap::new();
        for op in ops {
            chains
                .entry(op.key.as_str())
                .or_insert_with(|| {
                    order.push(op.key.as_str());
                    Vec::new()
                })
                .push(op);
        }
        let mut finals = Vec::new();
        for name in order {
            let chain = &chains[name];
            let last = *chain.last().expect("a chain has an op");
            let current = fsio::read_opt(&file_in(&self.dir, name)?)?;
            let cur = sig(current.as_deref());
            if cur == sig(last.value.as_deref()) {
                continue;
            }
            let ours = chain[0].prev == Prev::Unknown
                || chain[0].prev == cur
                || chain.iter().any(|o| sig(o.value.as_deref()) == cur);
            let torn = current
                .as_deref()
                .is_some_and(|b| serde_json::from_slice::<serde::de::IgnoredAny>(b).is_err());
            if ours || torn {
                finals.push(last.clone());
            } else {
                tracing::warn!(
                    file = name,
                    "not replaying: another program changed this file after our last write"
                );
            }
        }
        self.apply(&finals, spares, dirty)
    }
}

impl KeyStore for BaileysFolder {
    // One log record per batch, replayed whole.
    fn all_or_nothing(&self) -> bool {
        true
    }

    fn get_many<'a>(&'a self, reqs: &'a [KeyRequest]) -> BoxFuture<'a, Vec<KeyMap>> {
        Box::pin(async move {
            let names: Vec<String> = reqs
                .iter()
                .flat_map(|(ty, ids)| ids.iter().map(move |id| key_file_name(*ty, id)))
                .collect();
            let mut files = self.read_files(names.clone()).await?.into_iter().zip(names);
            let mut out = Vec::with_capacity(reqs.len());
            for (_, ids) in reqs {
                let mut m = KeyMap::new();
                for id in ids {
                    if let Some((Some(bytes), name)) = files.next() {
                        m.insert(
                            id.clone(),
                            parse_value(
                                || self.inner.dir.join(&name).display().to_string(),
                                &bytes,
                            )?,
                        );
                    }
                }
                out.push(m);
            }
            Ok(out)
        })
    }

    fn set<'a>(&'a self, writes: &'a KeyWrites) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let mut files = Vec::new();
            let mut seen = HashSet::new();
            for (ty, ids) in writes {
                for (id, v) in ids {
                    let name = key_file_name(*ty, id);
                    if !seen.insert(name.clone()) {
                        // Two ids that Baileys' file naming maps to one file: the last wins.
                        files.retain(|(n, _): &(String, Option<Vec<u8>>)| n != &name);
                    }
                    let bytes = match v {
                        Some(v) => Some(
                            serde_json::to_vec(v)
                                .map_err(|e| StoreError::BadValue(e.to_string()))?,
                        ),
                        None => None,
                    };
                    files.push((name, bytes));
                }
            }
            self.write_files(files).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_match_baileys_and_parse_back() {
        let cases = [
            (
                KeyType::Session,
                "5511999999999.0",
                "session-5511999999999.0.json",
            ),
            (
                KeyType::Session,
                "100000000000001_1.3",
                "session-100000000000001_1.3.json",
            ),
            (KeyType::PreKey, "812", "pre-key-812.json"),
            (
                KeyType::SenderKey,
                "120363000000000001@g.us::5511999999999::0",
                "sender-key-120363000000000001@g.us--5511999999999--0.json",
            ),
            (
                KeyType::SenderKey,
                "1234-5678@g.us::100000000000001_1::2",
                "sender-key-1234-5678@g.us--100000000000001_1--2.json",
            ),
            (
                KeyType::SenderKeyMemory,
                "120363000000000001@g.us",
                "sender-key-memory-120363000000000001@g.us.json",
            ),
            (
                KeyType::AppStateSyncKey,
                "AAAAAB/x",
                "app-state-sync-key-AAAAAB__x.json",
            ),
            (
                KeyType::AppStateSyncVersion,
                "critical_unblock_low",
                "app-state-sync-version-critical_unblock_low.json",
            ),
            (
                KeyType::LidMapping,
                "5511999999999_reverse",
                "lid-mapping-5511999999999_reverse.json",
            ),
            (
                KeyType::DeviceList,
                "5511999999999",
                "device-list-5511999999999.json",
            ),
            (
                KeyType::Tctoken,
                "5511999999999@s.whatsapp.net",
                "tctoken-5511999999999@s.whatsapp.net.json",
            ),
            (
                KeyType::IdentityKey,
                "5511999999999.0",
                "identity-key-5511999999999.0.json",
            ),
        ];
        for (ty, id, file) in cases {
            assert_eq!(key_file_name(ty, id), file);
            assert_eq!(
                parse_key_file_name(file),
                Some((ty, id.to_owned())),
                "{file}"
            );
        }
        assert_eq!(parse_key_file_name("creds.json"), None);
        assert_eq!(parse_key_file_name("notes.txt"), None);
    }

    use std::collections::BTreeMap;

    use crate::testkit::{self, Rng};

    const MACHINERY: &[&str] = &[OWN_DIR];

    type Model = BTreeMap<String, Vec<u8>>;

    fn random_batch(rng: &mut Rng) -> Vec<(String, Option<Vec<u8>>)> {
        (0..1 + rng.below(4))
            .map(|_| {
                let name = match rng.below(3) {
                    0 => CREDS_FILE.to_owned(),
                    1 => format!("session-55119{}.0.json", rng.below(6)),
                    _ => format!("pre-key-{}.json", rng.below(8)),
                };
                let v = (!rng.chance(25)).then(|| {
                    format!(
                        "{{\"v\":{},\"pad\":\"{}\"}}",
                        rng.next(),
                        "x".repeat(rng.below(300) as usize)
                    )
                    .into_bytes()
                });
                (name, v)
            })
            .collect()
    }

    async fn write(f: &BaileysFolder, model: &mut Model, batch: Vec<(String, Option<Vec<u8>>)>) {
        for (n, v) in &batch {
            match v {
                Some(v) => model.insert(n.clone(), v.clone()),
                None => model.remove(n),
            };
        }
        f.write_files(batch).await.unwrap();
    }

    async fn assert_matches(f: &BaileysFolder, model: &Model, what: &str) {
        let on_disk: Model = f
            .entries()
            .await
            .unwrap()
            .into_iter()
            .map(|(n, _)| {
                let b = fs::read(f.dir().join(&n)).unwrap();
                (n, b)
            })
            .collect();
        assert_eq!(&on_disk, model, "{what}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_power_loss_after_acknowledged_writes_loses_nothing() {
        let mut damaged = 0;
        for seed in 0..12u64 {
            let dir = tempfile::tempdir().unwrap();
            let mut rng = Rng(seed);
            let mut model = Model::new();
            let f = BaileysFolder::open(dir.path()).unwrap();
            for _ in 0..10 {
                write(&f, &mut model, random_batch(&mut rng)).await;
            }
            f.checkpoint().await.unwrap();
            let synced = testkit::snapshot(dir.path(), MACHINERY);
            for _ in 0..15 {
                write(&f, &mut model, random_batch(&mut rng)).await;
            }
            f.crash();
            damaged += testkit::power_loss(dir.path(), &synced, MACHINERY, &mut rng);
            crate::wal::forget_boot(&dir.path().join(OWN_DIR).join("wal"));
            let f = BaileysFolder::open(dir.path()).unwrap();
            assert_matches(&f, &model, &format!("seed {seed}")).await;
        }
        assert!(damaged > 30, "the model damaged files ({damaged})");
    }

    /// Our process is killed, Baileys runs on the folder and writes, then we open it again:
    /// what Baileys wrote stands; what only our log knows is restored.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn after_a_process_crash_files_baileys_wrote_since_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let f = BaileysFolder::open(d).unwrap();
        let j = |s: &str| s.as_bytes().to_vec();
        f.write_files(vec![
            ("creds.json".into(), Some(j(r#"{"c":0}"#))),
            ("session-1.0.json".into(), Some(j(r#"{"s":0}"#))),
            ("pre-key-1.json".into(), Some(j(r#"{"p":1}"#))),
            ("session-2.0.json".into(), Some(j(r#"{"t":0}"#))),
            ("session-3.0.json".into(), Some(j(r#"{"u":0}"#))),
        ])
        .await
        .unwrap();
        f.checkpoint().await.unwrap();
        f.write_files(vec![
            ("creds.json".into(), Some(j(r#"{"c":1}"#))),
            ("session-1.0.json".into(), Some(j(r#"{"s":1}"#))),
            ("session-2.0.json".into(), Some(j(r#"{"t":1}"#))),
        ])
        .await
        .unwrap();
        f.write_files(vec![
            ("session-3.0.json".into(), Some(j(r#"{"u":1}"#))),
            ("pre-key-2.json".into(), Some(j(r#"{"p":2}"#))),
        ])
        .await
        .unwrap();
        f.crash();
        // Baileys, in between: advances the session and creds, uses up pre-key 1 and 2,
        // and is itself killed in the middle of rewriting session 2.
        fs::write(d.join("session-1.0.json"), r#"{"s":2,"by":"baileys"}"#).unwrap();
        fs::write(d.join("creds.json"), r#"{"c":2,"by":"baileys"}"#).unwrap();
        fs::remove_file(d.join("pre-key-1.json")).unwrap();
        fs::remove_file(d.join("pre-key-2.json")).unwrap();
        fs::write(d.join("session-2.0.json"), r#"{"t":"#).unwrap();
        // As if our last batch had not reached its files when we were killed.
        fs::write(d.join("session-3.0.json"), r#"{"u":0}"#).unwrap();
        let f = BaileysFolder::open(d).unwrap();
        let read = |n: &str| fs::read_to_string(d.join(n)).ok();
        assert_eq!(
            read("session-1.0.json").unwrap(),
            r#"{"s":2,"by":"baileys"}"#
        );
        assert_eq!(read("creds.json").unwrap(), r#"{"c":2,"by":"baileys"}"#);
        assert_eq!(
            read("pre-key-1.json"),
            None,
            "a key Baileys used up stays gone"
        );
        // A file our log created and that is gone now looks exactly like our creation not
        // having reached the folder: it is restored (for a pre-key, an unused spare).
        assert_eq!(read("pre-key-2.json").unwrap(), r#"{"p":2}"#);
        assert_eq!(
            read("session-2.0.json").unwrap(),
            r#"{"t":1}"#,
            "a torn file gets our last value"
        );
        assert_eq!(
            read("session-3.0.json").unwrap(),
            r#"{"u":1}"#,
            "our acknowledged batch is finished"
        );
        drop(f);
        // A power loss instead (another boot): everything the log holds is restored.
        let f = BaileysFolder::open(d).unwrap();
        f.write_files(vec![("session-1.0.json".into(), Some(j(r#"{"s":3}"#)))])
            .await
            .unwrap();
        f.crash();
        fs::write(d.join("session-1.0.json"), r#"{"s":"stale"}"#).unwrap();
        crate::wal::forget_boot(&d.join(OWN_DIR).join("wal"));
        drop(BaileysFolder::open(d).unwrap());
        assert_eq!(read("session-1.0.json").unwrap(), r#"{"s":3}"#);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_clean_close_leaves_only_baileys_files_and_our_lock() {
        let dir = tempfile::tempdir().unwrap();
        let f = BaileysFolder::open(dir.path()).unwrap();
        f.write_creds(b"{}".to_vec()).await.unwrap();
        f.write_files(vec![("session-1.0.json".into(), Some(b"{}".to_vec()))])
            .await
            .unwrap();
        drop(f);
        let own: Vec<String> = fs::read_dir(dir.path().join(OWN_DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(own, vec!["lock", "tmp"]);
        assert_eq!(
            fs::read_dir(dir.path().join(OWN_DIR).join("tmp"))
                .unwrap()
                .count(),
            0
        );
    }

    #[test]
    fn traversal_ids_stay_inside_the_folder() {
        // `/` becomes `__`, so an id cannot name another directory.
        assert_eq!(
            key_file_name(KeyType::Session, "../../etc/passwd"),
            "session-..__..__etc__passwd.json"
        );
    }
}
