//! Baileys' auth folder (`useMultiFileAuthState`): `creds.json` and one
//! `<type>-<id>.json` per key, with `/` -> `__` and `:` -> `-` in the name, JSON in
//! BufferJSON form.
//!
//! We write each file atomically (temporary file, fsync, rename) where Baileys truncates
//! and rewrites in place, and a `set` of several files goes through a journal in
//! `.baileys-native/`, so a crash never leaves half a batch. Baileys ignores that folder,
//! so the directory stays a valid Baileys auth folder both ways.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use crate::engine::{BoxFuture, blocking};
use crate::error::{Result, StoreError};
use crate::fsio::{self, Journal};
use crate::keys::{KeyMap, KeyRequest, KeyStore, KeyType, KeyWrites, parse_value};

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
    tmp: PathBuf,
    journal: Journal,
    lock: RwLock<()>,
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
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
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
        let own = dir.join(OWN_DIR);
        let tmp = own.join("tmp");
        fsio::create_dirs(&tmp)?;
        let journal = Journal::open(own.join("journal"))?;
        let inner = Inner {
            dir,
            tmp,
            journal,
            lock: RwLock::new(()),
        };
        {
            let _w = inner.lock.write().unwrap_or_else(|e| e.into_inner());
            for (file, ops) in inner.journal.pending()? {
                let mut dirty = false;
                for (name, v) in &ops {
                    inner.apply(name, v.as_deref(), &mut dirty)?;
                }
                fsio::sync_dir(&inner.dir)?;
                inner.journal.done(&file)?;
            }
        }
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The text of `creds.json`, if any.
    pub async fn read_creds(&self) -> Result<Option<Vec<u8>>> {
        let inner = self.inner.clone();
        blocking(move || {
            let _r = inner.lock.read().unwrap_or_else(|e| e.into_inner());
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
        let inner = self.inner.clone();
        blocking(move || {
            let _r = inner.lock.read().unwrap_or_else(|e| e.into_inner());
            names
                .iter()
                .map(|n| inner.file(n).and_then(|p| fsio::read_opt(&p)))
                .collect()
        })
        .await
    }

    /// Writes (or, with `None`, deletes) whole files by name, all or none.
    pub async fn write_files(&self, files: Vec<(String, Option<Vec<u8>>)>) -> Result<()> {
        for (n, _) in &files {
            self.inner.file(n)?;
        }
        if files.is_empty() {
            return Ok(());
        }
        let inner = self.inner.clone();
        blocking(move || {
            let _w = inner.lock.write().unwrap_or_else(|e| e.into_inner());
            let mut dirty = false;
            if let [(n, v)] = files.as_slice() {
                inner.apply(n, v.as_deref(), &mut dirty)?;
            } else {
                let j = inner.journal.commit(&files)?;
                // Stage every new file, sync them all at once, then rename in order.
                let mut staged = Vec::with_capacity(files.len());
                for (n, v) in &files {
                    let target = inner.file(n)?;
                    staged.push((
                        target,
                        v.as_deref()
                            .map(|v| fsio::write_tmp(&inner.tmp, v))
                            .transpose()?,
                    ));
                }
                let tmps: Vec<PathBuf> = staged.iter().filter_map(|(_, t)| t.clone()).collect();
                fsio::sync_all_parallel(&tmps, false)?;
                for (target, tmp) in staged {
                    match tmp {
                        Some(tmp) => fs::rename(&tmp, &target)
                            .map_err(|e| StoreError::io("rename", &target, e))?,
                        None => {
                            fsio::remove_opt(&target)?;
                        }
                    }
                    dirty = true;
                }
                if dirty {
                    fsio::sync_dir(&inner.dir)?;
                    dirty = false;
                }
                inner.journal.done(&j)?;
            }
            if dirty {
                fsio::sync_dir(&inner.dir)?;
            }
            Ok(())
        })
        .await
    }

    /// Every file of the folder, classified.
    pub async fn entries(&self) -> Result<Vec<(String, FolderEntry)>> {
        let inner = self.inner.clone();
        blocking(move || {
            let _r = inner.lock.read().unwrap_or_else(|e| e.into_inner());
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
}

impl Inner {
    /// The path of a file of the folder; names never hold a separator (Baileys' fix
    /// replaces `/`), and `..`-only names are refused, so nothing lands outside the folder.
    fn file(&self, name: &str) -> Result<PathBuf> {
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
        Ok(self.dir.join(name))
    }

    fn apply(&self, name: &str, value: Option<&[u8]>, dirty: &mut bool) -> Result<()> {
        let p = self.file(name)?;
        match value {
            Some(v) => {
                fsio::write_atomic(&self.tmp, &p, v, true)?;
                *dirty = true;
            }
            None => *dirty |= fsio::remove_opt(&p)?,
        }
        Ok(())
    }
}

impl KeyStore for BaileysFolder {
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

    #[test]
    fn traversal_ids_stay_inside_the_folder() {
        // `/` becomes `__`, so an id cannot name another directory.
        assert_eq!(
            key_file_name(KeyType::Session, "../../etc/passwd"),
            "session-..__..__etc__passwd.json"
        );
    }
}
