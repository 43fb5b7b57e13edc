//! Test helpers for the file-backed stores: a seeded generator, snapshots of a directory
//! tree, and a model of what a power loss can do to files that were not synced.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

pub(crate) struct Rng(pub u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut x = self.0;
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^ (x >> 31)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub(crate) fn bytes(&mut self, max: u64) -> Vec<u8> {
        let n = self.below(max + 1);
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Files (relative path -> bytes) and directories under `root`, skipping top-level
/// names in `skip` (the store's own machinery).
#[derive(Clone, Debug, Default)]
pub(crate) struct Tree {
    pub files: BTreeMap<PathBuf, Vec<u8>>,
    pub dirs: BTreeSet<PathBuf>,
}

pub(crate) fn snapshot(root: &Path, skip: &[&str]) -> Tree {
    fn walk(root: &Path, rel: &Path, skip: &[&str], t: &mut Tree) {
        for ent in fs::read_dir(root.join(rel)).unwrap() {
            let ent = ent.unwrap();
            let name = ent.file_name().to_string_lossy().into_owned();
            if rel.as_os_str().is_empty() && skip.contains(&name.as_str()) {
                continue;
            }
            let r = rel.join(&name);
            if ent.file_type().unwrap().is_dir() {
                t.dirs.insert(r.clone());
                walk(root, &r, skip, t);
            } else {
                t.files.insert(r, fs::read(ent.path()).unwrap());
            }
        }
    }
    let mut t = Tree::default();
    walk(root, Path::new(""), skip, &mut t);
    t
}

/// Puts `root` in a state a power loss could leave when `synced` was the last state made
/// durable: every file written since may be intact, gone, empty, garbage, or back to its
/// synced bytes; a file removed since may be back; an append-only log (`.order`) keeps
/// its synced bytes plus any prefix of what was appended; new empty directories may be
/// gone. Returns how many files were damaged.
pub(crate) fn power_loss(root: &Path, synced: &Tree, skip: &[&str], rng: &mut Rng) -> usize {
    let now = snapshot(root, skip);
    let mut damaged = 0;
    for (rel, bytes) in &now.files {
        let old = synced.files.get(rel);
        if old == Some(bytes) {
            continue;
        }
        let p = root.join(rel);
        if rel.file_name().is_some_and(|n| n == ".order") {
            if let Some(old) = old.filter(|o| !bytes.starts_with(o)) {
                // Rewritten (compacted): the rename made it, or it did not.
                if rng.chance(50) {
                    fs::write(&p, old).unwrap();
                    damaged += 1;
                }
                continue;
            }
            let from = old.map_or(0, Vec::len);
            let keep = from + rng.below((bytes.len() - from.min(bytes.len())) as u64 + 1) as usize;
            fs::write(&p, &bytes[..keep.min(bytes.len())]).unwrap();
            damaged += 1;
            continue;
        }
        damaged += 1;
        match rng.below(5) {
            0 => fs::remove_file(&p).unwrap(),
            1 => fs::write(&p, b"").unwrap(),
            2 => fs::write(&p, rng.bytes(64)).unwrap(),
            3 if old.is_some() => fs::write(&p, old.unwrap()).unwrap(),
            _ => damaged -= 1,
        }
    }
    for (rel, bytes) in &synced.files {
        if !now.files.contains_key(rel) && rng.chance(50) {
            let p = root.join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, bytes).unwrap();
            damaged += 1;
        }
    }
    let mut dirs: Vec<&PathBuf> = now
        .dirs
        .iter()
        .filter(|d| !synced.dirs.contains(*d))
        .collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for d in dirs {
        if rng.chance(50) {
            let _ = fs::remove_dir(root.join(d));
        }
    }
    damaged
}
