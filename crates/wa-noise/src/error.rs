use thiserror::Error;

/// Why a server certificate chain was refused. Every check has its own variant so a test (and
/// an operator reading logs) can tell which one failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CertError {
    #[error("certificate chain is not a valid CertChain protobuf")]
    ChainDecode,
    #[error("certificate chain lacks {0}")]
    Missing(&'static str),
    #[error("{which} certificate signature is {got} bytes, expected 64")]
    SignatureLength { which: &'static str, got: usize },
    #[error("intermediate certificate is not signed by the trusted root key")]
    UntrustedIntermediate,
    #[error("{0} certificate details are not a valid protobuf")]
    DetailsDecode(&'static str),
    #[error("intermediate certificate names issuer serial {got}, expected {expected}")]
    IntermediateIssuer { got: u32, expected: u32 },
    #[error("intermediate certificate key is {0} bytes, expected 32")]
    IntermediateKeyLength(usize),
    #[error("leaf certificate is not signed by the intermediate certificate's key")]
    LeafSignature,
    #[error("leaf certificate names issuer serial {got}, the intermediate's serial is {expected}")]
    IssuerSerialMismatch { got: u32, expected: u32 },
    #[error("leaf certificate key does not match the server's static key")]
    LeafKeyMismatch,
    #[error("{which} certificate is not valid before {not_before} (now {now})")]
    NotYetValid {
        which: &'static str,
        not_before: u64,
        now: u64,
    },
    #[error("{which} certificate expired at {not_after} (now {now})")]
    Expired {
        which: &'static str,
        not_after: u64,
        now: u64,
    },
}

impl CertError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::ChainDecode => "ERR_WA_NOISE_CERT_DECODE",
            Self::Missing(_) => "ERR_WA_NOISE_CERT_MISSING",
            Self::SignatureLength { .. } => "ERR_WA_NOISE_CERT_SIGNATURE_LENGTH",
            Self::UntrustedIntermediate => "ERR_WA_NOISE_CERT_UNTRUSTED_ROOT",
            Self::DetailsDecode(_) => "ERR_WA_NOISE_CERT_DETAILS_DECODE",
            Self::IntermediateIssuer { .. } => "ERR_WA_NOISE_CERT_INTERMEDIATE_ISSUER",
            Self::IntermediateKeyLength(_) => "ERR_WA_NOISE_CERT_INTERMEDIATE_KEY",
            Self::LeafSignature => "ERR_WA_NOISE_CERT_LEAF_SIGNATURE",
            Self::IssuerSerialMismatch { .. } => "ERR_WA_NOISE_CERT_ISSUER_SERIAL",
            Self::LeafKeyMismatch => "ERR_WA_NOISE_CERT_LEAF_KEY",
            Self::NotYetValid { .. } => "ERR_WA_NOISE_CERT_NOT_YET_VALID",
            Self::Expired { .. } => "ERR_WA_NOISE_CERT_EXPIRED",
        }
    }
}

/// Errors of the Noise session. Errors caused by the peer's bytes are fatal and sticky: the
/// session returns the same error from every later call. Misuse by the local caller (sending
/// before the handshake, a payload over the frame limit) is reported but leaves the session
/// usable; see [`NoiseError::is_fatal`].
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum NoiseError {
    #[error("bad connection intro: {0}")]
    BadIntro(&'static str),
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    FrameTooLarge { len: usize, max: usize },
    #[error("handshake message is not a valid HandshakeMessage protobuf")]
    HandshakeDecode,
    #[error("unexpected handshake message: expected {0}")]
    UnexpectedMessage(&'static str),
    #[error("handshake message lacks {0}")]
    MissingField(&'static str),
    #[error("{field} is {got} bytes, expected 32")]
    KeyLength { field: &'static str, got: usize },
    #[error("peer key is of low order (all-zero shared secret)")]
    WeakKey,
    #[error("handshake ciphertext failed authentication")]
    HandshakeDecrypt,
    #[error("server certificate refused: {0}")]
    Cert(#[from] CertError),
    #[error("ClientPayload is not a valid protobuf")]
    ClientPayloadDecode,
    #[error("frame {counter} failed authentication")]
    Decrypt { counter: u32 },
    #[error("frame {counter} is a replay of frame {original}")]
    Replay { counter: u32, original: u32 },
    #[error("frame counter exhausted; the session must be re-established")]
    CounterExhausted,
    #[error("the handshake has not completed")]
    NotEstablished,
    #[error("payload of {len} bytes does not fit in a frame of at most {max}")]
    PayloadTooLarge { len: usize, max: usize },
}

impl NoiseError {
    /// A stable code for the JS boundary (`err.code`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadIntro(_) => "ERR_WA_NOISE_BAD_INTRO",
            Self::FrameTooLarge { .. } => "ERR_WA_NOISE_FRAME_TOO_LARGE",
            Self::HandshakeDecode => "ERR_WA_NOISE_HANDSHAKE_DECODE",
            Self::UnexpectedMessage(_) => "ERR_WA_NOISE_UNEXPECTED_MESSAGE",
            Self::MissingField(_) => "ERR_WA_NOISE_MISSING_FIELD",
            Self::KeyLength { .. } => "ERR_WA_NOISE_KEY_LENGTH",
            Self::WeakKey => "ERR_WA_NOISE_WEAK_KEY",
            Self::HandshakeDecrypt => "ERR_WA_NOISE_HANDSHAKE_DECRYPT",
            Self::Cert(e) => e.code(),
            Self::ClientPayloadDecode => "ERR_WA_NOISE_CLIENT_PAYLOAD",
            Self::Decrypt { .. } => "ERR_WA_NOISE_DECRYPT",
            Self::Replay { .. } => "ERR_WA_NOISE_REPLAY",
            Self::CounterExhausted => "ERR_WA_NOISE_COUNTER_EXHAUSTED",
            Self::NotEstablished => "ERR_WA_NOISE_NOT_ESTABLISHED",
            Self::PayloadTooLarge { .. } => "ERR_WA_NOISE_PAYLOAD_TOO_LARGE",
        }
    }

    /// Whether the error ends the session (all errors caused by received bytes do).
    pub fn is_fatal(&self) -> bool {
        !matches!(self, Self::NotEstablished | Self::PayloadTooLarge { .. })
    }
}
