//! The Engine contract: every store is a map from paths to bytes with four operations.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::error::Result;
use crate::keys::TypedValue;

/// A boxed future, so engines can be used as `Arc<dyn Engine>` (a JavaScript engine and a
/// native one are interchangeable at run time).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// One write of a batch: `Some(bytes)` stores, `None` deletes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    pub path: String,
    pub value: Option<Vec<u8>>,
}

impl Write {
    pub fn put(path: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Self {
            path: path.into(),
            value: Some(value.into()),
        }
    }

    pub fn delete(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            value: None,
        }
    }
}

/// The storage contract (see docs/storage.md).
///
/// - `get(path)` returns the bytes stored at `path`, or `None`.
/// - `set_many(writes)` applies every write or none, in order (a later write to the same
///   path wins); once it resolves the batch is durable.
/// - `list(prefix, offset, limit)` returns the full paths of the entries directly below
///   `prefix` that hold a value, in key order: the byte order of the paths (what S3, a
///   PostgreSQL or SQLite index and a sorted directory all give; newest-first timelines
///   come from keys that sort that way, such as the Store's inverted timestamps).
pub trait Engine: Send + Sync + 'static {
    fn get<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Option<Vec<u8>>>;

    /// Several gets; engines override this to answer in one query or one round trip.
    fn get_many<'a>(&'a self, paths: &'a [String]) -> BoxFuture<'a, Vec<Option<Vec<u8>>>> {
        Box::pin(async move {
            let mut out = Vec::with_capacity(paths.len());
            for p in paths {
                out.push(self.get(p).await?);
            }
            Ok(out)
        })
    }

    fn set<'a>(&'a self, path: &'a str, value: Option<Vec<u8>>) -> BoxFuture<'a, ()> {
        Box::pin(self.set_many(vec![Write {
            path: path.to_owned(),
            value,
        }]))
    }

    fn set_many<'a>(&'a self, writes: Vec<Write>) -> BoxFuture<'a, ()>;

    /// `set_many` of `writes` and of `typed`, values not printed yet, as one batch (no path
    /// in both). The default prints each typed value and writes its text. An engine that
    /// keeps values in memory may keep a typed value as it is and print it only when it is
    /// read: a session record is replaced by the next message of its chat long before anyone
    /// reads it, and printing and packing it was a sixth of a received text's instructions.
    fn set_typed<'a>(
        &'a self,
        mut writes: Vec<Write>,
        typed: Vec<(String, Arc<dyn TypedValue>)>,
    ) -> BoxFuture<'a, ()> {
        for (path, v) in typed {
            writes.push(Write::put(path, v.json_text().into_bytes()));
        }
        self.set_many(writes)
    }

    /// Whether a failed `set_many` is known to have applied nothing (a transaction, a
    /// write-ahead log). An engine that cannot promise it (S3: a batch is many puts, some of
    /// which may land before an outage fails the rest; an engine written in JavaScript) says
    /// `false`, and writers whose batches must not be split that way write in steps instead
    /// (the inbox: a message before the keys its decryption used up).
    fn all_or_nothing(&self) -> bool {
        false
    }

    fn list<'a>(
        &'a self,
        prefix: &'a str,
        offset: usize,
        limit: usize,
    ) -> BoxFuture<'a, Vec<String>>;

    /// Digests of the entries a [`scan`](Engine::scan) page holds (for verifying copies).
    /// The default reads them; S3 answers from its listing (ETags).
    fn digests<'a>(&'a self, after: Option<&'a str>, limit: usize) -> BoxFuture<'a, Vec<Digest>> {
        Box::pin(async move {
            let paths = self.scan(after, limit).await?;
            read_digests(self, &paths).await
        })
    }

    /// Every path holding a value (at any depth), in the engine's scan order, starting
    /// after `after`; at most `limit`. Migrations page through an account with it and
    /// resume after the last path they copied. Native engines answer from an index; the
    /// default walks the path convention with `list` (creds, each Signal key type,
    /// contacts, chats and, per listed chat, its messages, contents and timeline), so a
    /// JavaScript engine needs no more than `get`/`set`/`list`.
    fn scan<'a>(&'a self, after: Option<&'a str>, limit: usize) -> BoxFuture<'a, Vec<String>> {
        Box::pin(async move {
            let mut all = convention_walk(self).await?;
            all.sort_unstable();
            Ok(all
                .into_iter()
                .filter(|p| after.is_none_or(|a| p.as_str() > a))
                .take(limit)
                .collect())
        })
    }
}

/// One entry's digest for migration checks: its path, length and MD5 (the digest S3
/// reports for an object, so an S3 engine can answer from a listing).
pub type Digest = (String, u64, [u8; 16]);

/// Digests of the entries of `paths` by reading them.
pub async fn read_digests<E: Engine + ?Sized>(e: &E, paths: &[String]) -> Result<Vec<Digest>> {
    let values = e.get_many(paths).await?;
    Ok(paths
        .iter()
        .zip(values)
        .filter_map(|(p, v)| v.map(|v| (p.clone(), v.len() as u64, wa_crypto::hash::md5(&v))))
        .collect())
}

/// Every child of `prefix` (all pages).
async fn list_all<E: Engine + ?Sized>(e: &E, prefix: &str) -> Result<Vec<String>> {
    const PAGE: usize = 1000;
    let mut out = Vec::new();
    loop {
        let page = e.list(prefix, out.len(), PAGE).await?;
        let n = page.len();
        out.extend(page);
        if n < PAGE {
            return Ok(out);
        }
    }
}

/// The paths an account holds, found by walking the path convention.
async fn convention_walk<E: Engine + ?Sized>(e: &E) -> Result<Vec<String>> {
    let mut out = list_all(e, "session").await?;
    for ty in crate::KeyType::ALL {
        out.extend(list_all(e, &format!("session/signal/{}", ty.as_str())).await?);
    }
    out.extend(list_all(e, "contact").await?);
    let chats = list_all(e, "chat").await?;
    for chat in &chats {
        let messages = list_all(e, &format!("{chat}/message")).await?;
        for m in &messages {
            out.extend(list_all(e, m).await?);
        }
        out.extend(messages);
        out.extend(list_all(e, &format!("{chat}/timestamp")).await?);
    }
    out.extend(chats);
    Ok(out)
}

/// Runs blocking storage work off the async threads.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    match tokio::runtime::Handle::try_current() {
        Ok(h) => h
            .spawn_blocking(f)
            .await
            .map_err(|e| crate::StoreError::Worker(e.to_string()))?,
        // Outside a runtime (plain sync callers, tests) the caller's thread may block.
        Err(_) => f(),
    }
}
