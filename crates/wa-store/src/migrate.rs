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
