//! Media for JavaScript: encryption of a file or buffer into a temporary file, download with
//! the MAC verified before any plaintext (into a Buffer, or as a verified file read chunk by
//! chunk for streams), and the socket's upload (in `client.rs`). Crypto, HTTP and file I/O run
//! off the JS thread.

use std::sync::Mutex;
use std::time::Duration;

use napi::Either;
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use wa_client::media::{
    DownloadOptions, EncryptedFile, HttpClient, MediaError, VerifiedDownload, media_type,
};

use crate::errors::{Coded, JsFail, coded};

pub(crate) fn media_err(e: MediaError) -> JsFail {
    let status = e.status();
    let fail = coded(e.code(), &e);
    match status {
        Some(s) => fail.with("status", s.to_string()),
        None => fail,
    }
}

fn join_err(e: tokio::task::JoinError) -> JsFail {
    coded("ERR_WA_MEDIA_IO", format!("media task failed: {e}"))
}

pub(crate) fn http() -> Result<HttpClient, JsFail> {
    HttpClient::shared_default().map_err(media_err)
}

/// `encryptMediaFile`'s result: Baileys' `encryptedStream` fields.
#[napi(object)]
pub struct EncryptedMediaFile {
    pub media_key: Buffer,
    pub enc_file_path: String,
    pub file_sha256: Buffer,
    pub file_enc_sha256: Buffer,
    pub file_length: f64,
}

/// Encrypts a Buffer or the file at a path under a fresh media key into a temporary file
/// (0600) the caller removes after uploading it.
#[napi(catch_unwind)]
pub async fn encrypt_media_file(
    input: Either<Buffer, String>,
    media_type_name: String,
    max_length: Option<f64>,
) -> Coded<EncryptedMediaFile> {
    Coded(
        async move {
            let kind = media_type(&media_type_name).map_err(media_err)?;
            let max = max_length.map(|m| m as u64);
            let file = tokio::task::spawn_blocking(move || match input {
                Either::A(buf) => EncryptedFile::encrypt(&buf[..], kind, None, max),
                Either::B(path) => {
                    EncryptedFile::encrypt_path(std::path::Path::new(&path), kind, None, max)
                }
            })
            .await
            .map_err(join_err)?
            .map_err(media_err)?;
            let (media_key, file_sha256, file_enc_sha256, file_length) = (
                file.media_key,
                file.file_sha256,
                file.file_enc_sha256,
                file.file_length,
            );
            let path = file.keep().map_err(media_err)?;
            Ok(EncryptedMediaFile {
                media_key: media_key.to_vec().into(),
                enc_file_path: path.to_string_lossy().into_owned(),
                file_sha256: file_sha256.to_vec().into(),
                file_enc_sha256: file_enc_sha256.to_vec().into(),
                file_length: file_length as f64,
            })
        }
        .await,
    )
}

/// What a download checks and cuts.
#[napi(object)]
#[derive(Default)]
pub struct MediaDownloadOptions {
    pub file_enc_sha256: Option<Buffer>,
    pub file_sha256: Option<Buffer>,
    pub start_byte: Option<f64>,
    pub end_byte: Option<f64>,
    pub max_length: Option<f64>,
    pub timeout_ms: Option<u32>,
}

fn download_options(o: Option<MediaDownloadOptions>) -> DownloadOptions {
    let o = o.unwrap_or_default();
    DownloadOptions {
        file_enc_sha256: o.file_enc_sha256.map(|b| b.to_vec()),
        file_sha256: o.file_sha256.map(|b| b.to_vec()),
        start_byte: o.start_byte.map(|v| v as u64),
        end_byte: o.end_byte.map(|v| v as u64),
        max_length: o.max_length.map(|v| v as u64),
        timeout: o.timeout_ms.map(|t| Duration::from_millis(u64::from(t))),
    }
}

/// Downloads, verifies and decrypts a media file into a Buffer.
#[napi(catch_unwind)]
pub async fn download_media(
    url: String,
    media_key: Buffer,
    media_type_name: String,
    options: Option<MediaDownloadOptions>,
) -> Coded<Buffer> {
    Coded(
        async move {
            let kind = media_type(&media_type_name).map_err(media_err)?;
            let opts = download_options(options);
            let plain = wa_client::media::download::download_to_memory(
                &http()?,
                &url,
                &media_key,
                kind,
                &opts,
            )
            .await
            .map_err(media_err)?;
            Ok(plain.into())
        }
        .await,
    )
}

/// A downloaded, verified media file, decrypted as JavaScript reads it.
#[napi]
pub struct MediaDownload {
    inner: std::sync::Arc<Mutex<Option<VerifiedDownload>>>,
}

/// Downloads and verifies a media file into a temporary file; resolves once the MAC held.
#[napi(catch_unwind)]
pub async fn open_media_download(
    url: String,
    media_key: Buffer,
    media_type_name: String,
    options: Option<MediaDownloadOptions>,
) -> Coded<MediaDownload> {
    Coded(
        async move {
            let kind = media_type(&media_type_name).map_err(media_err)?;
            let opts = download_options(options);
            let d = VerifiedDownload::fetch(&http()?, &url, &media_key, kind, opts, None)
                .await
                .map_err(media_err)?;
            Ok(MediaDownload {
                inner: std::sync::Arc::new(Mutex::new(Some(d))),
            })
        }
        .await,
    )
}

#[napi]
impl MediaDownload {
    /// The next plaintext chunk, or `null` at the end (the temporary file is then removed).
    #[napi(catch_unwind, ts_return_type = "Promise<Buffer | null>")]
    pub async fn read(&self) -> Coded<Option<Buffer>> {
        let inner = self.inner.clone();
        Coded(
            async move {
                let chunk = tokio::task::spawn_blocking(move || {
                    let mut slot = inner.lock().unwrap_or_else(|p| p.into_inner());
                    let Some(d) = slot.as_mut() else {
                        return Ok(None);
                    };
                    let r = d.next_chunk();
                    if !matches!(r, Ok(Some(_))) {
                        // Done or failed: the file goes now, not at garbage collection.
                        *slot = None;
                    }
                    r
                })
                .await
                .map_err(join_err)?
                .map_err(media_err)?;
                Ok(chunk.map(Buffer::from))
            }
            .await,
        )
    }

    /// Drops the temporary file without reading the rest.
    #[napi]
    pub fn close(&self) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

/// Largest file read whole for a thumbnail or a duration.
const META_MAX: u64 = 64 * 1024 * 1024;

fn read_input(input: Either<Buffer, String>) -> Result<Vec<u8>, MediaError> {
    match input {
        Either::A(b) => Ok(b.to_vec()),
        Either::B(path) => {
            let len = std::fs::metadata(&path)
                .map_err(|e| MediaError::Io(format!("{path}: {e}")))?
                .len();
            if len > META_MAX {
                return Err(MediaError::TooLarge(format!(
                    "{path} is over {META_MAX} bytes"
                )));
            }
            std::fs::read(&path).map_err(|e| MediaError::Io(format!("{path}: {e}")))
        }
    }
}

/// `extractImageThumb`'s native half: a JPEG `width` pixels wide and the original's size.
#[napi(object)]
pub struct ImageThumb {
    pub jpeg: Buffer,
    pub width: u32,
    pub height: u32,
}

#[napi(catch_unwind)]
pub async fn image_thumbnail(input: Either<Buffer, String>, width: u32) -> Coded<ImageThumb> {
    Coded(
        async move {
            let t = tokio::task::spawn_blocking(move || {
                wa_client::media::meta::image_thumbnail(&read_input(input)?, width)
            })
            .await
            .map_err(join_err)?
            .map_err(media_err)?;
            Ok(ImageThumb {
                jpeg: t.jpeg.into(),
                width: t.width,
                height: t.height,
            })
        }
        .await,
    )
}

/// `generateProfilePicture`'s native half: the image cut to `width` x `height` around its
/// centre, as a JPEG.
#[napi(catch_unwind)]
pub async fn profile_picture(
    input: Either<Buffer, String>,
    width: u32,
    height: u32,
) -> Coded<Buffer> {
    Coded(
        async move {
            let jpeg = tokio::task::spawn_blocking(move || {
                wa_client::media::meta::profile_picture(&read_input(input)?, width, height)
            })
            .await
            .map_err(join_err)?
            .map_err(media_err)?;
            Ok(jpeg.into())
        }
        .await,
    )
}

/// `getAudioWaveform`'s native half: the 64 bars (0-100) of an Ogg Opus or PCM WAV file;
/// `null` for other formats.
#[napi(catch_unwind)]
pub async fn audio_waveform(input: Either<Buffer, String>) -> Coded<Option<Buffer>> {
    Coded(
        async move {
            let bars = tokio::task::spawn_blocking(move || {
                wa_client::media::waveform::audio_waveform(&read_input(input)?)
            })
            .await
            .map_err(join_err)?
            .map_err(media_err)?;
            Ok(bars.map(|b| b.to_vec().into()))
        }
        .await,
    )
}

/// The duration in seconds of an Ogg (Opus or Vorbis) file; `null` for other formats.
#[napi(catch_unwind)]
pub async fn audio_duration(input: Either<Buffer, String>) -> Coded<Option<f64>> {
    Coded(
        async move {
            tokio::task::spawn_blocking(move || {
                Ok(wa_client::media::meta::ogg_duration(&read_input(input)?))
            })
            .await
            .map_err(join_err)?
            .map_err(media_err)
        }
        .await,
    )
}
