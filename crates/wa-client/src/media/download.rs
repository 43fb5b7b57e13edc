//! Download: the encrypted file is fetched and its MAC checked over the whole of it before
//! any plaintext exists, so a flipped bit is an error, never bytes (Baileys 7 checks no media
//! MAC). Into memory for small files; for `'stream'` into a temporary file (0600, removed
//! when dropped) that is then decrypted chunk by chunk, so memory stays bounded whatever the
//! file's size. A byte range is cut from the verified plaintext.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use wa_crypto::CryptoError;
use wa_crypto::media::{MediaDecryptor, MediaKeys, MediaVerifier, media_keys};

use super::{HttpClient, MediaError, MediaType, upload::ORIGIN};

/// Plaintext handed out per read of a verified file: few enough hops to the JS thread, small
/// enough that memory stays bounded.
const CHUNK: usize = 256 * 1024;

/// What a download checks besides the MAC, and its limits.
#[derive(Debug, Clone, Default)]
pub struct DownloadOptions {
    /// The message's `fileEncSha256`: the encrypted file must hash to it.
    pub file_enc_sha256: Option<Vec<u8>>,
    /// The message's `fileSha256`: the plaintext must hash to it.
    pub file_sha256: Option<Vec<u8>>,
    /// Refuse files whose encrypted size is over this.
    pub max_length: Option<u64>,
    /// First plaintext byte to hand out.
    pub start_byte: Option<u64>,
    /// One past the last plaintext byte to hand out.
    pub end_byte: Option<u64>,
    /// Whole-request timeout.
    pub timeout: Option<Duration>,
}

fn crypto_err(e: CryptoError) -> MediaError {
    match e {
        CryptoError::BadMac => MediaError::BadMac,
        CryptoError::Truncated(n) => {
            MediaError::Truncated(format!("{n} bytes is shorter than one block and the MAC"))
        }
        CryptoError::CbcPadding => {
            MediaError::Truncated("the file does not end on a whole block and the MAC".into())
        }
        other => MediaError::Decode(other.to_string()),
    }
}

/// Fetches `url` into `sink`, verifying as the bytes arrive.
async fn fetch_verified(
    http: &HttpClient,
    url: &str,
    keys: &MediaKeys,
    opts: &DownloadOptions,
    mut sink: impl FnMut(&[u8]) -> Result<(), MediaError>,
) -> Result<u64, MediaError> {
    if !url.starts_with("https://") {
        return Err(MediaError::Argument("a media URL must be https".to_owned()));
    }
    let mut req = http.inner.get(url).header("Origin", ORIGIN);
    if let Some(t) = opts.timeout {
        req = req.timeout(t);
    }
    let mut res = req.send().await.map_err(super::http::net_err)?;
    let status = res.status();
    if !status.is_success() {
        return Err(MediaError::Http {
            status: status.as_u16(),
            what: "the download".into(),
        });
    }
    let mut verifier = MediaVerifier::new(keys);
    let mut got = 0u64;
    while let Some(chunk) = res.chunk().await.map_err(super::http::net_err)? {
        got += chunk.len() as u64;
        if let Some(max) = opts.max_length
            && got > max
        {
            return Err(MediaError::TooLarge(format!(
                "the file is over the limit of {max} bytes"
            )));
        }
        verifier.update(&chunk);
        sink(&chunk)?;
    }
    let verified = verifier.finish().map_err(crypto_err)?;
    if let Some(expected) = &opts.file_enc_sha256
        && expected.as_slice() != verified.file_enc_sha256
    {
        return Err(MediaError::HashMismatch("fileEncSha256"));
    }
    Ok(verified.enc_length)
}

/// Cuts `[start, end)` out of plaintext handed out from offset `at`.
fn in_range<'a>(data: &'a [u8], at: u64, opts: &DownloadOptions) -> &'a [u8] {
    let start = opts.start_byte.unwrap_or(0);
    let end = opts.end_byte.unwrap_or(u64::MAX);
    let from = start.saturating_sub(at).min(data.len() as u64) as usize;
    let to = end.saturating_sub(at).min(data.len() as u64) as usize;
    if from >= to { &[] } else { &data[from..to] }
}

/// Downloads, verifies and decrypts into memory.
pub async fn download_to_memory(
    http: &HttpClient,
    url: &str,
    media_key: &[u8],
    media_type: MediaType,
    opts: &DownloadOptions,
) -> Result<Vec<u8>, MediaError> {
    check_key(media_key)?;
    let keys = media_keys(media_key, media_type);
    let mut enc = Vec::new();
    fetch_verified(http, url, &keys, opts, |c| {
        enc.extend_from_slice(c);
        Ok(())
    })
    .await?;
    let plain = wa_crypto::media::decrypt_media(media_key, media_type, &enc).map_err(crypto_err)?;
    if let Some(expected) = &opts.file_sha256
        && expected.as_slice() != wa_crypto::hash::sha256(&plain)
    {
        return Err(MediaError::HashMismatch("fileSha256"));
    }
    Ok(in_range(&plain, 0, opts).to_vec())
}

fn check_key(media_key: &[u8]) -> Result<(), MediaError> {
    if media_key.len() != 32 {
        return Err(MediaError::Argument(format!(
            "mediaKey must be 32 bytes, got {}",
            media_key.len()
        )));
    }
    Ok(())
}

/// A downloaded and verified encrypted file, decrypted as it is read.
pub struct VerifiedDownload {
    file: tempfile::NamedTempFile,
    decryptor: Option<MediaDecryptor>,
    plain_hash: Option<(Vec<u8>, wa_crypto::hash::Sha256Stream)>,
    handed: u64,
    opts: DownloadOptions,
    done: bool,
}

impl std::fmt::Debug for VerifiedDownload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedDownload")
            .field("handed", &self.handed)
            .finish_non_exhaustive()
    }
}

impl VerifiedDownload {
    /// Downloads `url` into a temporary file in `dir` (the system's when `None`) and
    /// verifies it; nothing is decrypted yet.
    pub async fn fetch(
        http: &HttpClient,
        url: &str,
        media_key: &[u8],
        media_type: MediaType,
        opts: DownloadOptions,
        dir: Option<&Path>,
    ) -> Result<Self, MediaError> {
        check_key(media_key)?;
        let keys = media_keys(media_key, media_type);
        let mut file = match dir {
            Some(d) => tempfile::NamedTempFile::new_in(d)?,
            None => tempfile::NamedTempFile::new()?,
        };
        fetch_verified(http, url, &keys, &opts, |c| Ok(file.write_all(c)?)).await?;
        file.flush()?;
        file.as_file_mut().seek(SeekFrom::Start(0))?;
        let plain_hash = opts
            .file_sha256
            .clone()
            .map(|h| (h, wa_crypto::hash::Sha256Stream::default()));
        Ok(Self {
            file,
            decryptor: Some(MediaDecryptor::new(&keys)),
            plain_hash,
            handed: 0,
            opts,
            done: false,
        })
    }

    /// The next plaintext chunk (within the requested range); `None` at the end. Blocking
    /// file reads: call it off the async runtime's workers.
    pub fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, MediaError> {
        let mut buf = vec![0u8; CHUNK];
        loop {
            if self.done {
                return Ok(None);
            }
            let n = self.file.as_file_mut().read(&mut buf)?;
            let mut plain = Vec::with_capacity(n + 16);
            if n == 0 {
                let dec = self
                    .decryptor
                    .take()
                    .ok_or_else(|| MediaError::Io("read past the end".into()))?;
                dec.finish(&mut plain).map_err(crypto_err)?;
                self.done = true;
            } else if let Some(dec) = self.decryptor.as_mut() {
                dec.update(&buf[..n], &mut plain);
            }
            if let Some((_, h)) = self.plain_hash.as_mut() {
                h.update(&plain);
            }
            if self.done
                && let Some((expected, h)) = self.plain_hash.take()
                && expected.as_slice() != h.finish()
            {
                return Err(MediaError::HashMismatch("fileSha256"));
            }
            let at = self.handed;
            self.handed += plain.len() as u64;
            let part = in_range(&plain, at, &self.opts);
            if !part.is_empty() {
                return Ok(Some(part.to_vec()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cut_across_chunks() {
        let opts = DownloadOptions {
            start_byte: Some(5),
            end_byte: Some(12),
            ..Default::default()
        };
        let data: Vec<u8> = (0..10).collect();
        assert_eq!(in_range(&data, 0, &opts), &[5, 6, 7, 8, 9]);
        // The same bytes as the chunk at offset 10: its first two are in range.
        assert_eq!(in_range(&data, 10, &opts), &[0, 1]);
        assert_eq!(in_range(&data, 20, &opts), &[] as &[u8]);
        assert_eq!(in_range(&data, 0, &DownloadOptions::default()), &data[..]);
    }

    #[test]
    fn crypto_failures_map_to_media_errors() {
        assert!(matches!(
            crypto_err(CryptoError::BadMac),
            MediaError::BadMac
        ));
        assert!(matches!(
            crypto_err(CryptoError::Truncated(3)),
            MediaError::Truncated(_)
        ));
        assert!(check_key(&[0; 31]).is_err());
    }
}
