//! Media: the `media_conn` IQ (hosts and auth, refreshed when stale), encryption of a file into
//! a temporary file, upload to the hosts in order, and download that checks the MAC over the
//! whole file before any plaintext is handed out. Both directions live here.
//!
//! - [`conn`]: `media_conn`, cached per connection.
//! - [`http`]: the HTTPS client (Mozilla's roots, the platform's, `NODE_EXTRA_CA_CERTS`, and
//!   the app's own).
//! - [`upload`]: encrypt to a temporary file; upload with retries over the hosts.
//! - [`download`]: fetch and verify, then decrypt from memory or from a temporary file.
//! - [`meta`]: image thumbnails and dimensions, profile pictures, Ogg audio durations.
//! - [`waveform`]: the 64-bar waveform of a voice note (Ogg Opus or PCM WAV).
//! - [`retry`]: the phone's answer to a media retry request (`messages.media-update`).

pub mod conn;
pub mod download;
mod error;
pub mod http;
pub mod meta;
pub mod retry;
pub mod upload;
pub mod waveform;

pub use conn::{MediaConn, MediaHost};
pub use download::{DownloadOptions, VerifiedDownload};
pub use error::MediaError;
pub use http::{HttpClient, TrustConfig};
pub use retry::{MediaRetryFailure, MediaRetryOutcome, MediaRetryUpdate, parse_media_retry};
pub use upload::{EncryptedFile, UploadResult};
pub use wa_crypto::MediaType;

/// Baileys' `DEF_MEDIA_HOST`: where a `directPath` is fetched from when nothing else names a
/// host.
pub const DEFAULT_MEDIA_HOST: &str = "mmg.whatsapp.net";

/// Baileys' `MEDIA_PATH_MAP`: the upload path of each media type (`None`: no upload path).
pub fn upload_path(media_type: &str) -> Option<&'static str> {
    Some(match media_type {
        "image" | "sticker" | "thumbnail-link" => "/mms/image",
        "video" => "/mms/video",
        "document" => "/mms/document",
        "audio" => "/mms/audio",
        "product-catalog-image" => "/product/image",
        "md-app-state" => "",
        "md-msg-hist" => "/mms/md-app-state",
        "biz-cover-photo" => "/pps/biz-cover-photo",
        _ => return None,
    })
}

/// The media type of a crypto name (`image`, `ptt`, `thumbnail-link`, ...).
pub fn media_type(name: &str) -> Result<MediaType, MediaError> {
    MediaType::from_name(name)
        .ok_or_else(|| MediaError::Argument(format!("unknown media type {name:?}")))
}

/// Per-connection media state: the cached `media_conn`.
#[derive(Default)]
pub struct MediaState {
    pub(crate) conn: tokio::sync::Mutex<Option<MediaConn>>,
}
