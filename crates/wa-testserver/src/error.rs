use thiserror::Error;

/// Why a control call (scan a QR, type a pairing code, send as the phone, ...) or the server
/// itself failed. Errors caused by clients never surface here: the server answers those on
/// the wire (error IQ, negative ack, stream error) and keeps serving.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TestServerError {
    #[error("not a pairing QR string: {0}")]
    BadQr(&'static str),
    #[error("no connection is waiting to be paired with this QR (unknown ref)")]
    UnknownRef,
    #[error("the QR ref has expired; scan the one the client shows now")]
    QrExpired,
    #[error("the QR was made for other keys than the waiting connection's")]
    QrKeyMismatch,
    #[error("not a phone number: {0:?}")]
    BadPhoneNumber(String),
    #[error("not a JID the test server can address: {0:?}")]
    BadJid(String),
    #[error("no account with this number or LID: {0}")]
    UnknownAccount(String),
    #[error("no device {0} on this account")]
    UnknownDevice(String),
    #[error("no companion asked for a pairing code for {0}")]
    NoPairingCodeRequest(String),
    #[error("pairing failed: {0}")]
    PairingFailed(String),
    #[error("the companion did not finish pairing in time")]
    PairingTimeout,
    #[error("the pairing code does not match the one the companion shows")]
    PairingCodeMismatch,
    #[error("the phone could not encrypt: {0}")]
    PhoneCrypto(String),
    #[error("timed out waiting: {0}")]
    Timeout(String),
    #[error("could not start the server: {0}")]
    Io(String),
    #[error("no media file at {0}")]
    UnknownMedia(String),
    #[error("not an encoded proto.Message: {0}")]
    BadMessage(String),
    #[error("bad option: {0}")]
    BadOption(String),
    #[error("the server has stopped")]
    Stopped,
}

impl TestServerError {
    /// The stable code for the JS boundary (`err.code`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadQr(_) => "ERR_WA_TESTSERVER_BAD_QR",
            Self::UnknownRef => "ERR_WA_TESTSERVER_UNKNOWN_REF",
            Self::QrExpired => "ERR_WA_TESTSERVER_QR_EXPIRED",
            Self::QrKeyMismatch => "ERR_WA_TESTSERVER_QR_KEY_MISMATCH",
            Self::BadPhoneNumber(_) => "ERR_WA_TESTSERVER_BAD_PHONE_NUMBER",
            Self::BadJid(_) => "ERR_WA_TESTSERVER_BAD_JID",
            Self::UnknownAccount(_) => "ERR_WA_TESTSERVER_UNKNOWN_ACCOUNT",
            Self::UnknownDevice(_) => "ERR_WA_TESTSERVER_UNKNOWN_DEVICE",
            Self::NoPairingCodeRequest(_) => "ERR_WA_TESTSERVER_NO_PAIRING_CODE_REQUEST",
            Self::PairingFailed(_) => "ERR_WA_TESTSERVER_PAIRING_FAILED",
            Self::PairingTimeout => "ERR_WA_TESTSERVER_PAIRING_TIMEOUT",
            Self::PairingCodeMismatch => "ERR_WA_TESTSERVER_PAIRING_CODE_MISMATCH",
            Self::PhoneCrypto(_) => "ERR_WA_TESTSERVER_PHONE_CRYPTO",
            Self::Timeout(_) => "ERR_WA_TESTSERVER_TIMEOUT",
            Self::Io(_) => "ERR_WA_TESTSERVER_IO",
            Self::UnknownMedia(_) => "ERR_WA_TESTSERVER_UNKNOWN_MEDIA",
            Self::BadMessage(_) => "ERR_WA_TESTSERVER_BAD_MESSAGE",
            Self::BadOption(_) => "ERR_WA_TESTSERVER_BAD_OPTION",
            Self::Stopped => "ERR_WA_TESTSERVER_STOPPED",
        }
    }
}

pub type Result<T, E = TestServerError> = std::result::Result<T, E>;
