//! The Engine contract: every store is a map from paths to bytes with four operations.

use std::future::Future;
use std::pin::Pin;

use crate::error::Result;

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
///   `prefix` that hold a value, newest first, where "newest" is the order in which each
///   entry was created (overwriting keeps an entry's place; deleting and creating again
///   makes it the newest).
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

    fn list<'a>(
        &'a self,
        prefix: &'a str,
        offset: usize,
        limit: usize,
    ) -> BoxFuture<'a, Vec<String>>;
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
