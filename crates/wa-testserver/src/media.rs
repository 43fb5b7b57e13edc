//! The media store behind the test server's media host: upload auth tokens handed out by the
//! `media_conn` IQ, and the uploaded (encrypted) files, kept in memory by direct path.
//!
//! It knows no HTTP and no clock of its own: callers pass `now` (Unix ms). The handle is cheap
//! to clone; the core (for `media_conn`), the HTTPS host (`media_http`) and the control calls
//! share one store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Why an upload was refused; each maps to the HTTP status WhatsApp's host answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadRefusal {
    /// No `auth`, or one the server never issued or that has expired: 401.
    Unauthorized,
    /// The body is larger than the host's `maxContentLengthBytes`: 413.
    TooLarge,
    /// `token` is missing or is not the base64url SHA-256 of the body: 400.
    BadToken,
    /// Not an upload path the host knows: 404.
    UnknownPath,
}

impl UploadRefusal {
    pub fn status(self) -> u16 {
        match self {
            Self::Unauthorized => 401,
            Self::TooLarge => 413,
            Self::BadToken => 400,
            Self::UnknownPath => 404,
        }
    }
}

/// What the host answers a good upload with (WhatsApp's JSON keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// `/v/t62.7118-24/<id>.enc?...`: where the file can be downloaded, without scheme and host.
    pub direct_path: String,
    pub handle: String,
    pub object_id: String,
    /// Upload time, Unix seconds.
    pub ts: u64,
}

/// What a download finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Found(Arc<Vec<u8>>),
    /// Never stored here: 404.
    NotFound,
    /// Stored, then expired: 410.
    Gone,
}

struct StoredFile {
    bytes: Arc<Vec<u8>>,
    expired: bool,
}

struct Inner {
    max_bytes: u64,
    auth_ttl_ms: u64,
    /// auth token -> expiry (Unix ms).
    auths: HashMap<String, u64>,
    /// direct path without its query -> file.
    files: HashMap<String, StoredFile>,
    uploads: u64,
}

/// The store. Cheap to clone; every clone is the same store.
#[derive(Clone)]
pub struct MediaStore {
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for MediaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaStore").finish_non_exhaustive()
    }
}

/// The upload path prefixes WhatsApp's media hosts take (Baileys' `MEDIA_PATH_MAP`), with the
/// `t62` type the download path of each kind carries. `md-app-state` uploads go to `/{token}`.
const UPLOAD_KINDS: &[(&str, &str)] = &[
    ("/mms/image", "t62.7118-24"),
    ("/mms/video", "t62.7161-24"),
    ("/mms/audio", "t62.7114-24"),
    ("/mms/document", "t62.7119-24"),
    ("/mms/md-app-state", "t62.7119-24"),
    ("/mms/md-msg-hist", "t62.7119-24"),
    ("/product/image", "t62.7118-24"),
    ("/pps/biz-cover-photo", "t62.7118-24"),
    ("", "t62.7119-24"),
];

fn random_hex<const N: usize>() -> String {
    wa_crypto::random_bytes::<N>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The direct path without its query string (`?...`).
pub fn path_only(direct_path: &str) -> &str {
    direct_path.split('?').next().unwrap_or(direct_path)
}

impl MediaStore {
    pub fn new(max_bytes: u64, auth_ttl_ms: u64) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                max_bytes,
                auth_ttl_ms,
                auths: HashMap::new(),
                files: HashMap::new(),
                uploads: 0,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn max_bytes(&self) -> u64 {
        self.lock().max_bytes
    }

    /// A fresh upload auth token, valid for the configured auth TTL from `now`.
    pub fn issue_auth(&self, now: u64) -> String {
        let token = URL_SAFE_NO_PAD.encode(wa_crypto::random_bytes::<24>());
        let mut inner = self.lock();
        let expiry = now.saturating_add(inner.auth_ttl_ms);
        inner.auths.retain(|_, exp| *exp > now);
        inner.auths.insert(token.clone(), expiry);
        token
    }

    /// Whether `auth` was issued and has not expired at `now`.
    pub fn auth_valid(&self, auth: &str, now: u64) -> bool {
        self.lock().auths.get(auth).is_some_and(|exp| *exp > now)
    }

    /// Which `t62` type an upload path (`/mms/image/{token}`, `/{token}`) stores under, and the
    /// token in the path; `None` for paths that are not uploads.
    pub fn upload_route(path: &str) -> Option<(&'static str, &str)> {
        UPLOAD_KINDS.iter().find_map(|(prefix, kind)| {
            let rest = path.strip_prefix(prefix)?.strip_prefix('/')?;
            (!rest.is_empty() && !rest.contains('/')).then_some((*kind, rest))
        })
    }

    /// Stores an upload after the checks WhatsApp's host makes, in its order: auth, size, the
    /// body's hash against `token` (and the token in the path).
    pub fn upload(
        &self,
        path: &str,
        auth: Option<&str>,
        token: Option<&str>,
        body: Vec<u8>,
        now: u64,
    ) -> Result<Uploaded, UploadRefusal> {
        let (kind, path_token) = Self::upload_route(path).ok_or(UploadRefusal::UnknownPath)?;
        if !auth.is_some_and(|a| self.auth_valid(a, now)) {
            return Err(UploadRefusal::Unauthorized);
        }
        if body.len() as u64 > self.max_bytes() {
            return Err(UploadRefusal::TooLarge);
        }
        let hash = URL_SAFE_NO_PAD.encode(Sha256::digest(&body));
        if token != Some(hash.as_str()) || path_token != hash {
            return Err(UploadRefusal::BadToken);
        }
        Ok(self.store(kind, body, now))
    }

    /// Stores `body` under a new direct path of type `kind` and counts the upload.
    fn store(&self, kind: &str, body: Vec<u8>, now: u64) -> Uploaded {
        let id = random_hex::<16>();
        let ts = now / 1_000;
        let path = format!("/v/{kind}/{id}.enc");
        // WhatsApp's direct paths carry a signature (`oh`) and an expiry (`oe`, hex seconds).
        let direct_path = format!(
            "{path}?ccb=11-4&oh={}&oe={:08X}&_nc_sid=5e03e0&mms3=true",
            random_hex::<16>(),
            ts + 30 * 24 * 3_600
        );
        let mut inner = self.lock();
        inner.files.insert(
            path,
            StoredFile {
                bytes: Arc::new(body),
                expired: false,
            },
        );
        inner.uploads += 1;
        Uploaded {
            direct_path,
            handle: random_hex::<20>(),
            object_id: format!(
                "{}",
                u64::from_be_bytes(wa_crypto::random_bytes::<8>()) >> 12
            ),
            ts,
        }
    }

    /// Puts an (encrypted) file on the host without the upload checks, as a phone's upload
    /// would: returns its new direct path.
    pub fn put(&self, body: Vec<u8>, now: u64) -> String {
        self.store("t62.7118-24", body, now).direct_path
    }

    /// The phone uploads a file again (media retry): the bytes stored at `direct_path`, expired
    /// or not, become downloadable under a new direct path of the same type, which is
    /// returned. The old path stays as it is. `None` when nothing was ever stored there.
    pub fn reupload(&self, direct_path: &str, now: u64) -> Option<String> {
        let path = path_only(direct_path);
        let bytes = self.lock().files.get(path)?.bytes.as_ref().clone();
        let kind = path
            .strip_prefix("/v/")
            .and_then(|p| p.split('/').next())
            .filter(|k| !k.is_empty())
            .unwrap_or("t62.7118-24")
            .to_owned();
        Some(self.store(&kind, bytes, now).direct_path)
    }

    /// The file at a direct path (its query, if any, is ignored).
    pub fn lookup(&self, direct_path: &str) -> Lookup {
        match self.lock().files.get(path_only(direct_path)) {
            None => Lookup::NotFound,
            Some(f) if f.expired => Lookup::Gone,
            Some(f) => Lookup::Found(f.bytes.clone()),
        }
    }

    /// Marks a file expired (downloads get 410). False when no file is stored there.
    pub fn expire(&self, direct_path: &str) -> bool {
        match self.lock().files.get_mut(path_only(direct_path)) {
            Some(f) => {
                f.expired = true;
                true
            }
            None => false,
        }
    }

    /// Flips every bit of the byte at `offset` of a stored file. False when no file is stored
    /// there or it is shorter than `offset + 1`.
    pub fn corrupt(&self, direct_path: &str, offset: usize) -> bool {
        let mut inner = self.lock();
        let Some(f) = inner.files.get_mut(path_only(direct_path)) else {
            return false;
        };
        let mut bytes = f.bytes.as_ref().clone();
        let Some(b) = bytes.get_mut(offset) else {
            return false;
        };
        *b ^= 0xff;
        f.bytes = Arc::new(bytes);
        true
    }

    /// The stored bytes of a file (expired ones too).
    pub fn file(&self, direct_path: &str) -> Option<Vec<u8>> {
        self.lock()
            .files
            .get(path_only(direct_path))
            .map(|f| f.bytes.as_ref().clone())
    }

    /// How many files are stored (expired ones included).
    pub fn file_count(&self) -> usize {
        self.lock().files.len()
    }

    /// How many uploads were accepted.
    pub fn uploads(&self) -> u64 {
        self.lock().uploads
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(body: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(body))
    }

    #[test]
    fn upload_checks_auth_size_and_hash_in_order() {
        let store = MediaStore::new(8, 1_000);
        let auth = store.issue_auth(10_000);
        let body = b"12345678".to_vec();
        let t = token(&body);
        let path = format!("/mms/image/{t}");
        let up = |auth: Option<&str>, tok: Option<&str>, body: Vec<u8>, now| {
            store.upload(&path, auth, tok, body, now)
        };
        assert_eq!(
            up(None, Some(&t), body.clone(), 10_000),
            Err(UploadRefusal::Unauthorized)
        );
        assert_eq!(
            up(Some("nope"), Some(&t), body.clone(), 10_000),
            Err(UploadRefusal::Unauthorized)
        );
        assert_eq!(
            up(Some(&auth), Some(&t), body.clone(), 11_000),
            Err(UploadRefusal::Unauthorized),
            "expired auth"
        );
        assert_eq!(
            up(Some(&auth), Some(&t), b"123456789".to_vec(), 10_500),
            Err(UploadRefusal::TooLarge)
        );
        assert_eq!(
            up(Some(&auth), Some(&token(b"other")), body.clone(), 10_500),
            Err(UploadRefusal::BadToken)
        );
        let ok = up(Some(&auth), Some(&t), body.clone(), 10_500).unwrap();
        assert!(ok.direct_path.starts_with("/v/t62.7118-24/"), "{ok:?}");
        assert_eq!(store.lookup(&ok.direct_path), Lookup::Found(Arc::new(body)));
        assert_eq!(store.file_count(), 1);
    }

    #[test]
    fn routes_every_upload_kind_and_nothing_else() {
        assert_eq!(
            MediaStore::upload_route("/mms/video/abc"),
            Some(("t62.7161-24", "abc"))
        );
        assert_eq!(
            MediaStore::upload_route("/abc"),
            Some(("t62.7119-24", "abc"))
        );
        assert_eq!(MediaStore::upload_route("/mms/image/"), None);
        assert_eq!(MediaStore::upload_route("/mms/image/a/b"), None);
        assert_eq!(MediaStore::upload_route("/v/t62.7118-24/x.enc"), None);
    }

    #[test]
    fn expire_and_corrupt() {
        let store = MediaStore::new(100, 1_000);
        let auth = store.issue_auth(0);
        let body = vec![7u8; 20];
        let t = token(&body);
        let up = store
            .upload(&format!("/mms/audio/{t}"), Some(&auth), Some(&t), body, 1)
            .unwrap();
        assert!(store.corrupt(&up.direct_path, 19));
        assert!(!store.corrupt(&up.direct_path, 20));
        assert_eq!(store.file(&up.direct_path).unwrap()[19], 7 ^ 0xff);
        assert!(store.expire(path_only(&up.direct_path)));
        assert_eq!(store.lookup(&up.direct_path), Lookup::Gone);
        assert_eq!(store.lookup("/v/t62.7114-24/none.enc"), Lookup::NotFound);
        assert!(!store.expire("/v/none"));
    }

    #[test]
    fn put_and_reupload() {
        let store = MediaStore::new(100, 1_000);
        let p = store.put(vec![1, 2, 3], 5_000);
        assert!(p.starts_with("/v/t62.7118-24/"), "{p}");
        assert_eq!(store.lookup(&p), Lookup::Found(Arc::new(vec![1, 2, 3])));
        assert!(store.expire(&p));
        let again = store.reupload(&p, 6_000).unwrap();
        assert_ne!(path_only(&again), path_only(&p));
        assert_eq!(store.lookup(&p), Lookup::Gone, "the old path stays gone");
        assert_eq!(store.lookup(&again), Lookup::Found(Arc::new(vec![1, 2, 3])));
        assert_eq!(store.reupload("/v/t62.7118-24/none.enc", 6_000), None);
        assert_eq!(store.uploads(), 2);
    }
}
