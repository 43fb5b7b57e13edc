//! An engine that keeps everything in memory: tests, benchmarks, short-lived bots.

use std::collections::{BTreeSet, HashMap};
use std::sync::RwLock;

use crate::engine::{BoxFuture, Engine, Write};
use crate::path;

#[derive(Default)]
struct Inner {
    entries: HashMap<String, Vec<u8>>,
    /// parent -> names of its children that hold a value, in key order (for `list`).
    children: HashMap<String, BTreeSet<String>>,
}

impl Inner {
    fn apply(&mut self, w: Write) {
        let (parent, name) = path::split(&w.path);
        match w.value {
            Some(mut v) => {
                // Kept for the engine's lifetime: drop the spare capacity of the writer's buffer
                // (serde_json grows a value's Vec by doubling; a pre-key's 150 bytes sat in 256).
                v.shrink_to_fit();
                if let Some(e) = self.entries.get_mut(&w.path) {
                    *e = v;
                    return;
                }
                self.children
                    .entry(parent.to_owned())
                    .or_default()
                    .insert(name.to_owned());
                self.entries.insert(w.path, v);
            }
            None => {
                if self.entries.remove(&w.path).is_some()
                    && let Some(kids) = self.children.get_mut(parent)
                {
                    kids.remove(name);
                    if kids.is_empty() {
                        self.children.remove(parent);
                    }
                }
            }
        }
    }
}

/// The in-memory engine. Cloning the data out on `get` keeps readers independent of writers.
#[derive(Default)]
pub struct MemoryEngine {
    inner: RwLock<Inner>,
}

impl MemoryEngine {
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }
}

impl Engine for MemoryEngine {
    fn get<'a>(&'a self, p: &'a str) -> BoxFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            path::check(p)?;
            Ok(self.read().entries.get(p).cloned())
        })
    }

    fn get_many<'a>(&'a self, paths: &'a [String]) -> BoxFuture<'a, Vec<Option<Vec<u8>>>> {
        Box::pin(async move {
            for p in paths {
                path::check(p)?;
            }
            let inner = self.read();
            Ok(paths
                .iter()
                .map(|p| inner.entries.get(p).cloned())
                .collect())
        })
    }

    fn set_many<'a>(&'a self, writes: Vec<Write>) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            // Validate everything first so a bad path leaves the batch unapplied.
            for w in &writes {
                path::check(&w.path)?;
            }
            let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
            for w in writes {
                inner.apply(w);
            }
            Ok(())
        })
    }

    fn list<'a>(
        &'a self,
        prefix: &'a str,
        offset: usize,
        limit: usize,
    ) -> BoxFuture<'a, Vec<String>> {
        Box::pin(async move {
            let prefix = path::check_prefix(prefix)?;
            let inner = self.read();
            Ok(inner
                .children
                .get(prefix)
                .map(|kids| {
                    kids.iter()
                        .skip(offset)
                        .take(limit)
                        .map(|n| path::join(prefix, n))
                        .collect()
                })
                .unwrap_or_default())
        })
    }

    fn scan<'a>(&'a self, after: Option<&'a str>, limit: usize) -> BoxFuture<'a, Vec<String>> {
        Box::pin(async move {
            let inner = self.read();
            let mut all: Vec<&String> = inner
                .entries
                .keys()
                .filter(|p| after.is_none_or(|a| p.as_str() > a))
                .collect();
            all.sort_unstable();
            Ok(all.into_iter().take(limit).cloned().collect())
        })
    }
}
