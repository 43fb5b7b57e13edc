//! The S3 engine: `wa_store::Engine` on any S3-compatible object store, through
//! `object_store`'s S3 client (SigV4 signing, the AWS credential chain, retries).
//!
//! Layout: the entry at path `P` is the object `{prefix}/{P}`, so the seed's keys come out
//! as they are (`{prefix}/session/creds`, `{prefix}/chat/{cid}/message/{mid}/content`,
//! `{prefix}/chat/{cid}/timestamp/{inverted}_{mid}`). Characters S3 advises against in keys
//! (`%`, `#`, `\`, `{`, control characters, ...) are percent-encoded in the key and decoded
//! back by `list`. Content objects are stored raw (`application/octet-stream`), the rest as
//! JSON text (`application/json`).
//!
//! `list` is one delimited listing of the parent (S3 gives keys in byte order; the
//! decoded names are sorted again, so the order is the contract's on every engine).
//!
//! Credentials, in order: the `credentials` option; the standard environment
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`,
//! `AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, web identity and
//! container credentials); else the instance role (IMDSv2).
//!
//! Batches are not transactions (S3 has none): each object is written whole, puts and
//! deletes of a batch run concurrently, and a failed batch may be partly applied (each
//! record whole, never mixed). Outages are retried with backoff for at most
//! [`S3Options::retry_for`]; then the error is `ERR_WA_STORE_UNAVAILABLE`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::stream::{self, TryStreamExt as _};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::{Path as Key, PathPart};
use object_store::{
    Attribute, Attributes, BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt as _,
    PutOptions, PutPayload, RetryConfig,
};
use wa_store::engine::{Digest, read_digests};
use wa_store::path;
use wa_store::value::is_content_path;
use wa_store::{BoxFuture, Engine, Result, StoreError, Write};

/// The default prefix, as the seed's S3Engine.
pub const DEFAULT_PREFIX: &str = ".baileys/default";

/// Static credentials (the seed's `credentials` option).
#[derive(Clone, Default)]
pub struct Credentials {
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a secret.
        f.debug_struct("Credentials")
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "…"),
            )
            .field("session_token", &self.session_token.as_ref().map(|_| "…"))
            .finish()
    }
}

/// Options of [`S3Engine::new`], named as the seed and the AWS SDK for JavaScript name them.
#[derive(Clone, Debug)]
pub struct S3Options {
    pub bucket: String,
    /// Key prefix of this account inside the bucket.
    pub prefix: String,
    pub credentials: Option<Credentials>,
    /// An S3-compatible endpoint (`http://127.0.0.1:9000`); else `AWS_ENDPOINT_URL_S3`,
    /// `AWS_ENDPOINT_URL`, then AWS itself.
    pub endpoint: Option<String>,
    /// Path-style requests (`{endpoint}/{bucket}/{key}`), as most S3-compatible servers
    /// want; `false` (the default, as in the AWS SDK) uses virtual-hosted style.
    pub force_path_style: bool,
    /// How long one operation is retried across outages before it fails.
    pub retry_for: Duration,
    /// Timeout of one request.
    pub request_timeout: Duration,
    /// Most requests of one batch in flight at once.
    pub concurrency: usize,
}

impl S3Options {
    pub fn new(bucket: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            prefix: DEFAULT_PREFIX.to_owned(),
            credentials: None,
            endpoint: None,
            force_path_style: false,
            retry_for: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
            concurrency: 16,
        }
    }
}

/// The S3 engine. Cheap to clone.
#[derive(Clone)]
pub struct S3Engine {
    store: Arc<dyn ObjectStore>,
    /// The prefix's key parts (already encoded).
    root: Key,
    retry_for: Duration,
    concurrency: usize,
}

fn map_err(op: &str, retry_for: Duration, e: object_store::Error) -> StoreError {
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    // Errors after the client's retries: the server could not be reached or kept failing.
    let outage = lower.contains("error sending request")
        || lower.contains("timed out")
        || lower.contains("timeout")
        || lower.contains("connection")
        || lower.contains("after ") && lower.contains("retries")
        || lower.contains("server error");
    if outage {
        StoreError::Unavailable {
            engine: "s3",
            ms: retry_for.as_millis() as u64,
            message: format!("{op}: {text}"),
        }
    } else {
        StoreError::S3(format!("{op}: {text}"))
    }
}

/// Adds the HTTP scheme's bucket host for virtual-hosted requests to a custom endpoint.
fn virtual_hosted(endpoint: &str, bucket: &str) -> Result<String> {
    let (scheme, rest) = endpoint
        .split_once("://")
        .ok_or_else(|| StoreError::BadOption(format!("endpoint {endpoint:?} has no scheme")))?;
    Ok(format!("{scheme}://{bucket}.{rest}"))
}

impl S3Engine {
    /// Builds the client (no request is made until the first operation).
    pub fn new(opts: S3Options) -> Result<Self> {
        if opts.bucket.is_empty() {
            return Err(StoreError::BadOption("bucket is required".into()));
        }
        if opts.concurrency == 0 {
            return Err(StoreError::BadOption(
                "concurrency must be at least 1".into(),
            ));
        }
        // reqwest is built without a TLS provider of its own: use ring, as the rest of
        // the stack does (a provider installed earlier by the process is kept).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut b = AmazonS3Builder::from_env().with_bucket_name(&opts.bucket);
        let env_endpoint = std::env::var("AWS_ENDPOINT_URL_S3")
            .ok()
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
            .filter(|s| !s.is_empty());
        let endpoint = opts.endpoint.clone().or(env_endpoint);
        if let Some(c) = &opts.credentials {
            if let Some(r) = &c.region {
                b = b.with_region(r);
            }
            match (&c.access_key_id, &c.secret_access_key) {
                (Some(k), Some(s)) => {
                    b = b.with_access_key_id(k).with_secret_access_key(s);
                    if let Some(t) = &c.session_token {
                        b = b.with_token(t);
                    }
                }
                (None, None) => {}
                _ => {
                    return Err(StoreError::BadOption(
                        "credentials need both accessKeyId and secretAccessKey".into(),
                    ));
                }
            }
        }
        // Client options replace the builder's, so `allow_http` is set on them.
        let mut client = ClientOptions::new()
            .with_timeout(opts.request_timeout)
            .with_connect_timeout(Duration::from_secs(3));
        if let Some(ep) = &endpoint {
            let ep = if opts.force_path_style {
                ep.clone()
            } else {
                virtual_hosted(ep, &opts.bucket)?
            };
            client = client.with_allow_http(ep.starts_with("http://"));
            b = b
                .with_config(AmazonS3ConfigKey::S3Endpoint, &ep)
                .with_endpoint(&ep);
        }
        b = b.with_virtual_hosted_style_request(!opts.force_path_style);
        b = b
            .with_retry(RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: Duration::from_millis(50),
                    max_backoff: Duration::from_secs(2),
                    base: 2.0,
                },
                max_retries: 100,
                retry_timeout: opts.retry_for,
            })
            .with_client_options(client);
        let store = b
            .build()
            .map_err(|e| StoreError::BadOption(format!("s3: {e}")))?;
        let root: Key = opts
            .prefix
            .split('/')
            .filter(|s| !s.is_empty())
            .map(PathPart::from)
            .collect();
        Ok(Self {
            store: Arc::new(store),
            root,
            retry_for: opts.retry_for,
            concurrency: opts.concurrency,
        })
    }

    fn key(&self, p: &str) -> Key {
        let mut k = self.root.clone();
        k.extend(p.split('/').map(PathPart::from));
        k
    }

    fn dir_key(&self, prefix: &str) -> Key {
        if prefix.is_empty() {
            self.root.clone()
        } else {
            self.key(prefix)
        }
    }

    fn err(&self, op: &str, e: object_store::Error) -> StoreError {
        map_err(op, self.retry_for, e)
    }

    async fn get_one(&self, p: &str) -> Result<Option<Vec<u8>>> {
        match self.store.get(&self.key(p)).await {
            Ok(r) => {
                let b = r.bytes().await.map_err(|e| self.err("get", e))?;
                Ok(Some(b.to_vec()))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.err("get", e)),
        }
    }

    /// Deletes every object under this engine's prefix (other prefixes are untouched).
    pub async fn clear(&self) -> Result<usize> {
        let keys: Vec<Key> = self
            .store
            .list(Some(&self.root))
            .map_ok(|m| m.location)
            .try_collect()
            .await
            .map_err(|e| self.err("list", e))?;
        let n = keys.len();
        self.store
            .delete_stream(stream::iter(keys.into_iter().map(Ok)).boxed())
            .try_collect::<Vec<_>>()
            .await
            .map_err(|e| self.err("delete", e))?;
        Ok(n)
    }
}

/// Percent-decodes a key part (the inverse of `PathPart`'s encoding).
fn decode_part(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl Engine for S3Engine {
    fn get<'a>(&'a self, p: &'a str) -> BoxFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            path::check(p)?;
            self.get_one(p).await
        })
    }

    fn get_many<'a>(&'a self, paths: &'a [String]) -> BoxFuture<'a, Vec<Option<Vec<u8>>>> {
        Box::pin(async move {
            for p in paths {
                path::check(p)?;
            }
            let reads: Vec<_> = paths.iter().map(|p| self.get_one(p.as_str())).collect();
            stream::iter(reads)
                .buffered(self.concurrency)
                .try_collect()
                .await
        })
    }

    fn set_many<'a>(&'a self, writes: Vec<Write>) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let mut last: HashMap<String, Option<Vec<u8>>> = HashMap::with_capacity(writes.len());
            for w in writes {
                path::check(&w.path)?;
                last.insert(w.path, w.value);
            }
            let mut dels = Vec::new();
            let mut puts = Vec::new();
            for (p, v) in last {
                match v {
                    Some(v) => puts.push((p, v)),
                    None => dels.push(self.key(&p)),
                }
            }
            stream::iter(puts.into_iter().map(|(p, v)| async move {
                let ct = if is_content_path(&p) {
                    "application/octet-stream"
                } else {
                    "application/json"
                };
                let mut attributes = Attributes::new();
                attributes.insert(Attribute::ContentType, ct.into());
                let opts = PutOptions {
                    attributes,
                    ..Default::default()
                };
                self.store
                    .put_opts(&self.key(&p), PutPayload::from(v), opts)
                    .await
                    .map(|_| ())
                    .map_err(|e| self.err("put", e))
            }))
            .buffer_unordered(self.concurrency)
            .try_collect::<Vec<()>>()
            .await?;
            if !dels.is_empty() {
                let results: Vec<object_store::Result<Key>> = self
                    .store
                    .delete_stream(stream::iter(dels.into_iter().map(Ok)).boxed())
                    .collect()
                    .await;
                for r in results {
                    match r {
                        Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                        Err(e) => return Err(self.err("delete", e)),
                    }
                }
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
            let parent = path::check_prefix(prefix)?;
            if limit == 0 {
                return Ok(Vec::new());
            }
            let dir = self.dir_key(parent);
            let res = self
                .store
                .list_with_delimiter(Some(&dir))
                .await
                .map_err(|e| self.err("list", e))?;
            let depth = dir.parts_count() + 1;
            let mut names: Vec<String> = res
                .objects
                .iter()
                .filter(|m| m.location.parts_count() == depth)
                .filter_map(|m| m.location.filename().and_then(decode_part))
                .collect();
            names.sort_unstable();
            Ok(names
                .into_iter()
                .skip(offset)
                .take(limit)
                .map(|n| path::join(parent, &n))
                .collect())
        })
    }

    fn scan<'a>(&'a self, after: Option<&'a str>, limit: usize) -> BoxFuture<'a, Vec<String>> {
        Box::pin(async move {
            let metas = self.scan_meta(after, limit).await?;
            Ok(metas.into_iter().map(|(p, _)| p).collect())
        })
    }

    /// From the listing: an object's ETag is the MD5 of its bytes when it was written in
    /// one PUT without KMS encryption; any other ETag is read and hashed instead.
    fn digests<'a>(&'a self, after: Option<&'a str>, limit: usize) -> BoxFuture<'a, Vec<Digest>> {
        Box::pin(async move {
            let metas = self.scan_meta(after, limit).await?;
            let mut out = Vec::with_capacity(metas.len());
            let mut unknown = Vec::new();
            for (p, m) in metas {
                match m.e_tag.as_deref().and_then(md5_etag) {
                    Some(md5) => out.push((p, m.size, md5)),
                    None => unknown.push(p),
                }
            }
            out.extend(read_digests(self, &unknown).await?);
            Ok(out)
        })
    }
}

/// The MD5 an ETag stands for, when it is one (32 hex digits, quoted or not).
fn md5_etag(tag: &str) -> Option<[u8; 16]> {
    let hex = tag.trim_matches('"');
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl S3Engine {
    /// Every object below the prefix after `after`, in key order, with its metadata.
    async fn scan_meta(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, object_store::ObjectMeta)>> {
        if let Some(a) = after {
            path::check(a)?;
        }
        let depth = self.root.parts_count();
        let to_path = |k: &Key| -> Option<String> {
            let parts: Vec<String> = k
                .parts()
                .skip(depth)
                .map(|p| decode_part(p.as_ref()))
                .collect::<Option<_>>()?;
            (!parts.is_empty()).then(|| parts.join("/"))
        };
        let stream = match after {
            Some(a) => self.store.list_with_offset(Some(&self.root), &self.key(a)),
            None => self.store.list(Some(&self.root)),
        };
        let metas: Vec<object_store::ObjectMeta> = stream
            .take(limit)
            .try_collect()
            .await
            .map_err(|e| self.err("list", e))?;
        Ok(metas
            .into_iter()
            .filter_map(|m| to_path(&m.location).map(|p| (p, m)))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_parts_decode_back() {
        for s in [
            "a%b",
            "ñandú 😀",
            "x#y?z*",
            "tab\tline\n",
            "%2E",
            "[]{}~|^`\\\"<>",
        ] {
            let part = PathPart::from(s);
            assert_eq!(decode_part(part.as_ref()).as_deref(), Some(s), "{s:?}");
        }
    }

    #[test]
    fn options_are_checked_and_secrets_never_printed() {
        let mut o = S3Options::new("");
        assert_eq!(
            S3Engine::new(o.clone()).err().unwrap().code(),
            "ERR_WA_STORE_BAD_OPTION"
        );
        o.bucket = "b".into();
        o.credentials = Some(Credentials {
            access_key_id: Some("AKIA".into()),
            ..Default::default()
        });
        assert_eq!(
            S3Engine::new(o.clone()).err().unwrap().code(),
            "ERR_WA_STORE_BAD_OPTION"
        );
        o.credentials = Some(Credentials {
            access_key_id: Some("AKIA".into()),
            secret_access_key: Some("very-secret".into()),
            session_token: Some("tok-secret".into()),
            region: Some("us-east-1".into()),
        });
        assert!(!format!("{o:?}").contains("secret\""));
        assert!(!format!("{o:?}").contains("very-secret"));
        assert!(!format!("{o:?}").contains("tok-secret"));
        assert_eq!(
            virtual_hosted("http://127.0.0.1:9000", "bkt").unwrap(),
            "http://bkt.127.0.0.1:9000"
        );
    }
}
