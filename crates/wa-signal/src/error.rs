use thiserror::Error;

/// What went wrong, without the address (the pure record operations do not know it).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ErrorKind {
    #[error("{0}")]
    NoSession(&'static str),
    #[error("invalid message: {0}")]
    InvalidMessage(&'static str),
    #[error("unsupported message version byte 0x{0:02x}")]
    UnknownVersion(u8),
    #[error("bad MAC")]
    BadMac,
    #[error("message is {jump} messages into the future (limit {limit})")]
    TooFarInFuture { jump: u64, limit: u32 },
    #[error("message {counter} was already decrypted or its key has expired")]
    DuplicateMessage { counter: u32 },
    #[error("message for a closed chain")]
    ChainClosed,
    #[error("no one-time prekey with id {0}")]
    MissingPreKey(u32),
    #[error("no signed prekey with id {0:?}")]
    MissingSignedPreKey(Option<u32>),
    #[error("invalid signature: {0}")]
    BadSignature(&'static str),
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
    #[error("decryption failed after a valid MAC (bad padding)")]
    Decrypt,
    #[error("corrupt record: {0}")]
    BadRecord(String),
    #[error("no sender key state with id {0}")]
    NoSenderKey(u32),
    #[error("invalid address: {0}")]
    Address(&'static str),
    #[error("store failed: {0}")]
    Store(String),
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl ErrorKind {
    /// The stable code for the JS boundary (`err.code`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoSession(_) => "ERR_WA_SIGNAL_NO_SESSION",
            Self::InvalidMessage(_) => "ERR_WA_SIGNAL_INVALID_MESSAGE",
            Self::UnknownVersion(_) => "ERR_WA_SIGNAL_VERSION",
            Self::BadMac => "ERR_WA_SIGNAL_BAD_MAC",
            Self::TooFarInFuture { .. } => "ERR_WA_SIGNAL_FUTURE_LIMIT",
            Self::DuplicateMessage { .. } => "ERR_WA_SIGNAL_DUPLICATE",
            Self::ChainClosed => "ERR_WA_SIGNAL_CHAIN_CLOSED",
            Self::MissingPreKey(_) => "ERR_WA_SIGNAL_NO_PREKEY",
            Self::MissingSignedPreKey(_) => "ERR_WA_SIGNAL_NO_SIGNED_PREKEY",
            Self::BadSignature(_) => "ERR_WA_SIGNAL_BAD_SIGNATURE",
            Self::InvalidKey(_) => "ERR_WA_SIGNAL_INVALID_KEY",
            Self::Decrypt => "ERR_WA_SIGNAL_DECRYPT",
            Self::BadRecord(_) => "ERR_WA_SIGNAL_BAD_RECORD",
            Self::NoSenderKey(_) => "ERR_WA_SIGNAL_NO_SENDER_KEY",
            Self::Address(_) => "ERR_WA_SIGNAL_ADDRESS",
            Self::Store(_) => "ERR_WA_SIGNAL_STORE",
            Self::Internal(_) => "ERR_WA_SIGNAL_INTERNAL",
        }
    }

    /// The error at an address (`user.device`) or sender key name (`group::user::device`).
    pub fn at(self, address: impl std::fmt::Display) -> SignalError {
        SignalError {
            address: address.to_string(),
            kind: self,
        }
    }
}

/// An error of the Signal layer: what went wrong and with whom.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{kind} [{address}]")]
pub struct SignalError {
    /// The Signal address (`user[_domainType].device`) or sender key name it concerns.
    pub address: String,
    pub kind: ErrorKind,
}

impl SignalError {
    /// The stable code for the JS boundary (`err.code`).
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }
}

/// An error a store implementation reports.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StoreError {
    /// The backend could not read or write (I/O, a JS callback that threw, ...).
    #[error("{0}")]
    Backend(String),
    /// A stored value exists but cannot be read as a record.
    #[error("{0}")]
    Corrupt(String),
}

impl StoreError {
    pub(crate) fn into_kind(self) -> ErrorKind {
        match self {
            Self::Backend(m) => ErrorKind::Store(m),
            Self::Corrupt(m) => ErrorKind::BadRecord(m),
        }
    }
}

pub(crate) type Fault<T> = Result<T, ErrorKind>;
