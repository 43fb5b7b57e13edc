//! Errors of the client, each with a stable code, and the reasons a connection ends, in
//! Baileys' `DisconnectReason` numbers so existing reconnect logic keeps working.

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

/// Why a connection ended: Baileys' status code, its message, and our stable code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disconnect {
    /// A `DisconnectReason` number (or the server's own code from `<failure>`).
    pub status: u16,
    /// Baileys' message for the same case (`Stream Errored (conflict)`, ...).
    pub message: String,
    /// Our stable code (`ERR_WA_CLIENT_...`).
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

    pub fn closed() -> Self {
        Self::new(
            reason::CONNECTION_CLOSED,
            "ERR_WA_CLIENT_CLOSED",
            "Connection Closed",
        )
    }

    pub fn intentional() -> Self {
        Self::new(
            reason::CONNECTION_CLOSED,
            "ERR_WA_CLIENT_CLOSED",
            "Connection Closed",
        )
    }
}

impl std::fmt::Display for Disconnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.status)
    }
}

/// Everything a client operation can fail with.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// The connection is closed (or closed while the operation waited).
    #[error("connection closed: {0}")]
    Closed(Disconnect),
    /// No answer within the deadline.
    #[error("timed out after {0} ms")]
    Timeout(u64),
    /// The server answered an IQ with `<error code=.. text=..>`.
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
    /// The key store or credentials failed.
    #[error("store: {0}")]
    Store(String),
    /// Signal encryption or decryption failed.
    #[error("signal: {code}: {message}")]
    Signal { code: &'static str, message: String },
    /// Websocket connect or I/O failure.
    #[error("websocket: {0}")]
    WebSocket(String),
}

impl ClientError {
    pub fn code(&self) -> &'static str {
        match self {
            ClientError::Closed(d) => d.code,
            ClientError::Timeout(_) => "ERR_WA_CLIENT_TIMEOUT",
            ClientError::Server { .. } => "ERR_WA_CLIENT_SERVER",
            ClientError::Protocol(_) => "ERR_WA_CLIENT_PROTOCOL",
            ClientError::Pairing(_) => "ERR_WA_CLIENT_PAIRING",
            ClientError::NotLoggedIn => "ERR_WA_CLIENT_NOT_LOGGED_IN",
            ClientError::Argument(_) => "ERR_WA_CLIENT_ARGUMENT",
            ClientError::Store(_) => "ERR_WA_CLIENT_STORE",
            ClientError::Signal { code, .. } => code,
            ClientError::WebSocket(_) => "ERR_WA_CLIENT_WEBSOCKET",
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
}

impl From<wa_store::StoreError> for ClientError {
    fn from(e: wa_store::StoreError) -> Self {
        ClientError::Store(format!("{}: {e}", e.code()))
    }
}

impl From<wa_signal::SignalError> for ClientError {
    fn from(e: wa_signal::SignalError) -> Self {
        ClientError::Signal {
            code: e.code(),
            message: e.to_string(),
        }
    }
}
