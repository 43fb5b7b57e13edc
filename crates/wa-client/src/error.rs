//! Errors of the client, each with a stable code, and the reasons a connection ends, in
//! Baileys' `DisconnectReason` numbers so existing reconnect logic keeps working.
//!
//! Errors from the layers below keep their source (`Store`, `Signal`, `Binary`, `Noise`), so
//! a caller matches on the variant and reads the lower layer's own code, never the text.

use std::sync::Arc;

/// Baileys' `DisconnectReason` values (lib/Types/index.js).
pub mod reason {
    pub const CONNECTION_CLOSED: u16 = 428;
    pub const CONNECTION_LOST: u16 = 408;
    pub const CONNECTION_REPLACED: u16 = 440;
    pub const TIMED_OUT: u16 = 408;
    pub const LOGGED_OUT: u16 = 401;
    pub const BAD_SESSION: u16 = 500;
    pub const RESTART_REQUIRED: u16 = 515;
    pub const MULTIDEVICE_MISMATCH: u16 = 411;
    pub const FORBIDDEN: u16 = 403;
    pub const UNAVAILABLE_SERVICE: u16 = 503;
}

/// The client's own stable codes (lower layers' codes come from their errors).
pub mod code {
    pub const CLOSED: &str = "ERR_WA_CLIENT_CLOSED";
    pub const TIMEOUT: &str = "ERR_WA_CLIENT_TIMEOUT";
    pub const SERVER: &str = "ERR_WA_CLIENT_SERVER";
    pub const PROTOCOL: &str = "ERR_WA_CLIENT_PROTOCOL";
    pub const PAIRING: &str = "ERR_WA_CLIENT_PAIRING";
    pub const NOT_LOGGED_IN: &str = "ERR_WA_CLIENT_NOT_LOGGED_IN";
    pub const ARGUMENT: &str = "ERR_WA_CLIENT_ARGUMENT";
    pub const WEBSOCKET: &str = "ERR_WA_CLIENT_WEBSOCKET";
    pub const CREDS: &str = "ERR_WA_CLIENT_CREDS";
    pub const RESTART_REQUIRED: &str = "ERR_WA_CLIENT_RESTART_REQUIRED";
    pub const REPLACED: &str = "ERR_WA_CLIENT_REPLACED";
    pub const LOGGED_OUT: &str = "ERR_WA_CLIENT_LOGGED_OUT";
    pub const STREAM_ERROR: &str = "ERR_WA_CLIENT_STREAM_ERROR";
    pub const FAILURE: &str = "ERR_WA_CLIENT_FAILURE";
    pub const MULTIDEVICE_MISMATCH: &str = "ERR_WA_CLIENT_MULTIDEVICE_MISMATCH";
    pub const QR_EXPIRED: &str = "ERR_WA_CLIENT_QR_EXPIRED";
    pub const CONNECTION_LOST: &str = "ERR_WA_CLIENT_CONNECTION_LOST";
}

/// Why a connection ended: Baileys' status code, its message, and our stable code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disconnect {
    /// A `DisconnectReason` number (or the server's own code from `<failure>`).
    pub status: u16,
    /// Baileys' message for the same case (`Stream Errored (conflict)`, ...).
    pub message: String,
    /// Our stable code (`ERR_WA_CLIENT_...`, or a Noise code when the transport failed).
    pub code: &'static str,
    /// Attributes of the node that caused it (stream error / failure), for `lastDisconnect.error.data`.
    pub data: Vec<(String, String)>,
}

impl Disconnect {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            code,
            data: Vec::new(),
        }
    }

    /// The connection is gone (a handle used after the close, or the app ended it).
    pub fn closed() -> Self {
        Self::new(reason::CONNECTION_CLOSED, code::CLOSED, "Connection Closed")
    }

    /// The app logged out (`logout()`), as Baileys reports it.
    pub fn logged_out() -> Self {
        Self::new(reason::LOGGED_OUT, code::LOGGED_OUT, "Intentional Logout")
    }
}

impl std::fmt::Display for Disconnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.status)
    }
}

/// Everything a client operation can fail with. Cheap to clone (a close is reported to every
/// waiter), so lower-layer errors that are not `Clone` are shared behind an `Arc`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// The connection is closed (or closed while the operation waited).
    #[error("connection closed: {0}")]
    Closed(Disconnect),
    /// No answer within the deadline (milliseconds waited).
    #[error("timed out after {0} ms")]
    Timeout(u64),
    /// The server answered with `<error code=.. text=..>` (or a message ack with an error).
    #[error("server error {code}: {text}")]
    Server { code: u16, text: String },
    /// A node did not have the shape the protocol requires.
    #[error("unexpected stanza: {0}")]
    Protocol(String),
    /// Pairing failed (bad HMAC or signature, missing parts).
    #[error("pairing failed: {0}")]
    Pairing(String),
    /// The operation needs a logged-in account.
    #[error("not logged in")]
    NotLoggedIn,
    /// A bad argument from the caller (a malformed JID, an unsupported content).
    #[error("bad argument: {0}")]
    Argument(String),
    /// The credentials are unusable (a key of the wrong size, a secret that is not base64).
    #[error("credentials: {0}")]
    Creds(String),
    /// The key store failed.
    #[error("store: {0}")]
    Store(#[source] Arc<wa_store::StoreError>),
    /// Signal encryption or decryption failed.
    #[error("signal: {0}")]
    Signal(#[source] wa_signal::SignalError),
    /// A node could not be encoded or decoded.
    #[error("binary: {0}")]
    Binary(#[source] wa_binary::BinaryError),
    /// Websocket connect or I/O failure.
    #[error("websocket: {0}")]
    WebSocket(String),
}

impl ClientError {
    /// The stable code: ours, or the lower layer's for errors that came from it.
    pub fn code(&self) -> &'static str {
        match self {
            ClientError::Closed(d) => d.code,
            ClientError::Timeout(_) => code::TIMEOUT,
            ClientError::Server { .. } => code::SERVER,
            ClientError::Protocol(_) => code::PROTOCOL,
            ClientError::Pairing(_) => code::PAIRING,
            ClientError::NotLoggedIn => code::NOT_LOGGED_IN,
            ClientError::Argument(_) => code::ARGUMENT,
            ClientError::Creds(_) => code::CREDS,
            ClientError::Store(e) => e.code(),
            ClientError::Signal(e) => e.code(),
            ClientError::Binary(e) => e.code(),
            ClientError::WebSocket(_) => code::WEBSOCKET,
        }
    }

    /// The status code Baileys' Boom error would carry.
    pub fn status(&self) -> u16 {
        match self {
            ClientError::Closed(d) => d.status,
            ClientError::Timeout(_) => reason::TIMED_OUT,
            ClientError::Server { code, .. } => *code,
            ClientError::NotLoggedIn => reason::LOGGED_OUT,
            ClientError::Argument(_) => 400,
            _ => 500,
        }
    }

    /// A message we already decrypted, delivered again (the key was used).
    pub fn is_duplicate(&self) -> bool {
        matches!(
            self,
            ClientError::Signal(e) if matches!(e.kind, wa_signal::ErrorKind::DuplicateMessage { .. })
        )
    }

    /// The key store failed (a server down or frozen): nothing of the work was written, and
    /// the same work can be done again once the store answers.
    pub fn is_store_failure(&self) -> bool {
        match self {
            ClientError::Store(_) => true,
            ClientError::Signal(e) => matches!(e.kind, wa_signal::ErrorKind::Store(_)),
            _ => false,
        }
    }

    pub(crate) fn closed() -> Self {
        ClientError::Closed(Disconnect::closed())
    }
}

impl From<wa_store::StoreError> for ClientError {
    fn from(e: wa_store::StoreError) -> Self {
        ClientError::Store(Arc::new(e))
    }
}

impl From<wa_signal::SignalError> for ClientError {
    fn from(e: wa_signal::SignalError) -> Self {
        ClientError::Signal(e)
    }
}

impl From<wa_binary::BinaryError> for ClientError {
    fn from(e: wa_binary::BinaryError) -> Self {
        ClientError::Binary(e)
    }
}

/// Every code this crate can give out itself, for the typings and the code tests.
pub const CODES: &[&str] = &[
    code::CLOSED,
    code::TIMEOUT,
    code::SERVER,
    code::PROTOCOL,
    code::PAIRING,
    code::NOT_LOGGED_IN,
    code::ARGUMENT,
    code::WEBSOCKET,
    code::CREDS,
    code::RESTART_REQUIRED,
    code::REPLACED,
    code::LOGGED_OUT,
    code::STREAM_ERROR,
    code::FAILURE,
    code::MULTIDEVICE_MISMATCH,
    code::QR_EXPIRED,
    code::CONNECTION_LOST,
];
