//! Errors of the media feature, each with a stable code (`ERR_WA_MEDIA_*`).

use crate::error::ClientError;

/// Everything an upload, a download or a media retry can fail with.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MediaError {
    /// The connection failed the `media_conn` IQ or the retry receipt.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A media host answered with an HTTP status other than success. `404`/`410` mean the
    /// file is gone: ask the phone to upload it again (media retry).
    #[error("media host answered {status} for {what}")]
    Http { status: u16, what: String },
    /// The request did not reach a host, or broke off (TLS, DNS, reset, timeout).
    #[error("media transfer failed: {0}")]
    Network(String),
    /// Every host refused the upload.
    #[error("media upload failed on all hosts: {0}")]
    UploadFailed(String),
    /// The file's MAC does not match: the bytes were changed or belong to another key.
    #[error("media MAC mismatch: the file is corrupt or not encrypted with this key")]
    BadMac,
    /// The downloaded file ended early (shorter than one block and the MAC, or misaligned).
    #[error("media file truncated: {0}")]
    Truncated(String),
    /// A digest of the file differs from the one in the message.
    #[error("{0} does not match the message")]
    HashMismatch(&'static str),
    /// The file is larger than the limit.
    #[error("media too large: {0}")]
    TooLarge(String),
    /// A bad argument: an unknown media type, a URL that is neither a file nor https, a key of
    /// the wrong size, a message without media.
    #[error("{0}")]
    Argument(String),
    /// A local file could not be read or written.
    #[error("media file: {0}")]
    Io(String),
    /// An image could not be decoded (thumbnail) or an audio file read (duration).
    #[error("{0}")]
    Decode(String),
    /// TLS configuration: an extra CA certificate could not be read.
    #[error("TLS trust: {0}")]
    Tls(String),
    /// The phone answered a media retry request with a failure (`MediaRetryNotification`
    /// result, as Baileys' status: 404 not found, 412 decryption error, 418 general error).
    #[error("media re-upload failed ({0})")]
    Retry(u16),
}

impl MediaError {
    /// The stable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            MediaError::Client(e) => e.code(),
            MediaError::Http { .. } => "ERR_WA_MEDIA_HTTP",
            MediaError::Network(_) => "ERR_WA_MEDIA_NETWORK",
            MediaError::UploadFailed(_) => "ERR_WA_MEDIA_UPLOAD_FAILED",
            MediaError::BadMac => "ERR_WA_MEDIA_BAD_MAC",
            MediaError::Truncated(_) => "ERR_WA_MEDIA_TRUNCATED",
            MediaError::HashMismatch(_) => "ERR_WA_MEDIA_HASH_MISMATCH",
            MediaError::TooLarge(_) => "ERR_WA_MEDIA_TOO_LARGE",
            MediaError::Argument(_) => "ERR_WA_MEDIA_ARGUMENT",
            MediaError::Io(_) => "ERR_WA_MEDIA_IO",
            MediaError::Decode(_) => "ERR_WA_MEDIA_DECODE",
            MediaError::Tls(_) => "ERR_WA_MEDIA_TLS",
            MediaError::Retry(_) => "ERR_WA_MEDIA_RETRY",
        }
    }

    /// The HTTP-like status Baileys attaches to the same failure (`error.status` /
    /// `output.statusCode`), when there is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            MediaError::Http { status, .. } => Some(*status),
            MediaError::Retry(s) => Some(*s),
            MediaError::UploadFailed(_) => Some(500),
            MediaError::TooLarge(_) => Some(413),
            MediaError::Argument(_) => Some(400),
            _ => None,
        }
    }

    /// Whether the host said the file is gone, so a media retry can bring it back.
    pub fn is_gone(&self) -> bool {
        matches!(
            self,
            MediaError::Http {
                status: 404 | 410,
                ..
            }
        )
    }
}

impl From<std::io::Error> for MediaError {
    fn from(e: std::io::Error) -> Self {
        MediaError::Io(e.to_string())
    }
}
