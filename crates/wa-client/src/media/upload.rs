//! Upload: a file is encrypted chunk by chunk into a temporary file (0600, removed when
//! dropped), then POSTed to the `media_conn` hosts in order until one answers with a `url` or
//! `direct_path`; a refusal fetches `media_conn` again before the next host (Baileys'
//! `getWAUploadToServer`).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use wa_crypto::media::{MediaEncryptor, media_keys};

use super::{HttpClient, MediaError, MediaType, upload_path};
use crate::ctx::Client;

/// Read size while encrypting: constant memory whatever the file's size.
const CHUNK: usize = 64 * 1024;
/// Read size while uploading the encrypted file.
const IO_CHUNK: usize = 256 * 1024;

/// Baileys' `DEFAULT_ORIGIN`, sent as `Origin` with every media request.
pub const ORIGIN: &str = "https://web.whatsapp.com";

/// An encrypted file ready to upload, with what the message needs to describe it.
pub struct EncryptedFile {
    /// The encrypted bytes (ciphertext and MAC), removed when this is dropped unless kept.
    pub file: tempfile::NamedTempFile,
    pub media_key: [u8; 32],
    pub file_sha256: [u8; 32],
    pub file_enc_sha256: [u8; 32],
    /// Length of the plaintext.
    pub file_length: u64,
}

impl std::fmt::Debug for EncryptedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptedFile")
            .field("path", &self.file.path())
            .field("file_length", &self.file_length)
            .finish_non_exhaustive()
    }
}

impl EncryptedFile {
    /// Encrypts everything `source` yields under a fresh media key, into a temporary file in
    /// `dir` (the system's temporary directory when `None`). A `max_length` caps the
    /// plaintext: a longer source is refused before the whole of it was read.
    pub fn encrypt(
        mut source: impl Read,
        media_type: MediaType,
        dir: Option<&Path>,
        max_length: Option<u64>,
    ) -> Result<Self, MediaError> {
        let media_key: [u8; 32] = wa_crypto::random_bytes();
        let mut enc = MediaEncryptor::new(&media_keys(&media_key, media_type));
        let mut file = match dir {
            Some(d) => tempfile::NamedTempFile::new_in(d)?,
            None => tempfile::NamedTempFile::new()?,
        };
        let mut buf = vec![0u8; CHUNK];
        let mut out = Vec::with_capacity(CHUNK + 32);
        let mut read = 0u64;
        loop {
            let n = match source.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            read += n as u64;
            if let Some(max) = max_length
                && read > max
            {
                return Err(MediaError::TooLarge(format!(
                    "the file is over the limit of {max} bytes"
                )));
            }
            out.clear();
            enc.update(&buf[..n], &mut out);
            file.write_all(&out)?;
        }
        out.clear();
        let digest = enc.finish(&mut out);
        file.write_all(&out)?;
        file.flush()?;
        Ok(Self {
            file,
            media_key,
            file_sha256: digest.file_sha256,
            file_enc_sha256: digest.file_enc_sha256,
            file_length: digest.file_length,
        })
    }

    /// Encrypts the file at `path`.
    pub fn encrypt_path(
        path: &Path,
        media_type: MediaType,
        dir: Option<&Path>,
        max_length: Option<u64>,
    ) -> Result<Self, MediaError> {
        let f = std::fs::File::open(path)
            .map_err(|e| MediaError::Io(format!("{}: {e}", path.display())))?;
        if !f.metadata()?.is_file() {
            return Err(MediaError::Argument(format!(
                "{} is not a regular file",
                path.display()
            )));
        }
        Self::encrypt(std::io::BufReader::new(f), media_type, dir, max_length)
    }

    /// Keeps the encrypted file on disk (the caller deletes it) and returns its path.
    pub fn keep(self) -> Result<PathBuf, MediaError> {
        let (_, path) = self
            .file
            .keep()
            .map_err(|e| MediaError::Io(e.to_string()))?;
        Ok(path)
    }
}

/// Where an uploaded file can be fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadResult {
    /// The full URL (`mediaUrl`).
    pub url: Option<String>,
    pub direct_path: Option<String>,
    /// `meta_hmac`, `fbid`, `ts` as the host sent them (newsletters and stickers use them).
    pub meta_hmac: Option<String>,
    pub fbid: Option<serde_json::Value>,
    pub ts: Option<serde_json::Value>,
}

/// Baileys' `encodeBase64EncodedStringForUpload`: base64 made URL-safe, padding dropped.
pub fn upload_token(file_enc_sha256: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(file_enc_sha256)
}

impl Client {
    /// Uploads an encrypted file (at `path`, its SHA-256 `file_enc_sha256`) as `media_type`
    /// to the `media_conn` hosts in order; the first host that answers with a location wins.
    pub async fn upload_media(
        &self,
        http: &HttpClient,
        path: &Path,
        media_type: &str,
        file_enc_sha256: &[u8],
        timeout: Option<Duration>,
    ) -> Result<UploadResult, MediaError> {
        let route = upload_path(media_type).ok_or_else(|| {
            MediaError::Argument(format!("no upload path for media type {media_type:?}"))
        })?;
        let size = tokio::fs::metadata(path)
            .await
            .map_err(|e| MediaError::Io(format!("{}: {e}", path.display())))?
            .len();
        let token = upload_token(file_enc_sha256);
        let mut conn = self.media_conn(false).await?;
        if conn.hosts.is_empty() {
            return Err(MediaError::UploadFailed("media_conn named no host".into()));
        }
        let mut failures = Vec::new();
        for i in 0..conn.hosts.len() {
            let Some(host) = conn.hosts.get(i).cloned() else {
                break;
            };
            if host.max_content_length_bytes > 0 && size > host.max_content_length_bytes {
                failures.push(format!(
                    "{}: {size} bytes is over its limit of {}",
                    host.hostname, host.max_content_length_bytes
                ));
                continue;
            }
            let url = format!(
                "https://{}{route}/{token}?auth={}&token={token}",
                host.hostname,
                percent_encode(&conn.auth)
            );
            match post_file(http, &url, path, size, timeout).await {
                Ok(r) if r.url.is_some() || r.direct_path.is_some() => return Ok(r),
                Ok(_) => {
                    failures.push(format!("{}: no url in the answer", host.hostname));
                    conn = self.media_conn(true).await?;
                }
                Err(e) => {
                    tracing::warn!(host = %host.hostname, "media upload failed: {e}");
                    failures.push(format!("{}: {e}", host.hostname));
                    if matches!(
                        e,
                        MediaError::Http {
                            status: 401 | 403,
                            ..
                        }
                    ) {
                        conn = self.media_conn(true).await?;
                    }
                }
            }
        }
        if failures.iter().all(|f| f.contains("over its limit")) && !failures.is_empty() {
            return Err(MediaError::TooLarge(failures.join("; ")));
        }
        Err(MediaError::UploadFailed(failures.join("; ")))
    }
}

async fn post_file(
    http: &HttpClient,
    url: &str,
    path: &Path,
    size: u64,
    timeout: Option<Duration>,
) -> Result<UploadResult, MediaError> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| MediaError::Io(format!("{}: {e}", path.display())))?;
    let mut req = http
        .inner
        .post(url)
        .header("Content-Type", "application/octet-stream")
        .header("Origin", ORIGIN)
        .header("Content-Length", size)
        // Large reads: each becomes a few TLS records instead of many small ones.
        .body(reqwest::Body::wrap_stream(
            tokio_util::io::ReaderStream::with_capacity(file, IO_CHUNK),
        ));
    if let Some(t) = timeout {
        req = req.timeout(t);
    }
    let res = req.send().await.map_err(super::http::net_err)?;
    let status = res.status();
    if !status.is_success() {
        return Err(MediaError::Http {
            status: status.as_u16(),
            what: "the upload".into(),
        });
    }
    let body = res.bytes().await.map_err(super::http::net_err)?;
    let v: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| MediaError::Network(format!("the host's answer is not JSON: {e}")))?;
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    Ok(UploadResult {
        url: s("url"),
        direct_path: s("direct_path"),
        meta_hmac: s("meta_hmac"),
        fbid: v.get("fbid").cloned(),
        ts: v.get("ts").cloned(),
    })
}

/// `encodeURIComponent` of the auth token.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypting_a_file_matches_the_one_shot_definition() {
        let plain: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let f = EncryptedFile::encrypt(&plain[..], MediaType::Image, None, None).unwrap();
        let enc = std::fs::read(f.file.path()).unwrap();
        let expected = wa_crypto::media::encrypt_media(&f.media_key, MediaType::Image, &plain);
        assert_eq!(enc, expected.data);
        assert_eq!(f.file_sha256, expected.digest.file_sha256);
        assert_eq!(f.file_enc_sha256, expected.digest.file_enc_sha256);
        assert_eq!(f.file_length, 200_000);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(f.file.path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let path = f.file.path().to_owned();
        drop(f);
        assert!(!path.exists(), "the temporary file goes with its owner");
    }

    #[test]
    fn a_source_over_the_limit_is_refused() {
        let err = EncryptedFile::encrypt(&[0u8; 100][..], MediaType::Document, None, Some(99))
            .unwrap_err();
        assert!(matches!(err, MediaError::TooLarge(_)));
        assert!(matches!(
            EncryptedFile::encrypt_path(Path::new("/"), MediaType::Document, None, None),
            Err(MediaError::Argument(_) | MediaError::Io(_))
        ));
    }

    #[test]
    fn tokens_and_auth_are_url_safe() {
        assert_eq!(upload_token(&[0xfb, 0xff, 0xfe]), "-__-");
        assert_eq!(percent_encode("a+b/c=="), "a%2Bb%2Fc%3D%3D");
    }
}
