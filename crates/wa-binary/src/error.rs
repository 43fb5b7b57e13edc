//! Errors of the binary node codec. Every variant has a stable code (`ERR_WA_BINARY_*`) that
//! crosses into JavaScript as `err.code`.

/// What went wrong while decoding or encoding a binary node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BinaryError {
    /// The input ended before a value it announces (truncated frame, or a length field that
    /// points beyond the buffer).
    #[error("end of stream: {needed} more byte(s) needed at offset {at}")]
    EndOfStream { needed: u64, at: usize },
    /// A byte that cannot start the value expected at this position.
    #[error("invalid tag {tag} for {expected} at offset {at}")]
    InvalidTag {
        tag: u8,
        expected: &'static str,
        at: usize,
    },
    /// A byte in the token range that names no token (240..=244 are unassigned).
    #[error("invalid token {byte} at offset {at}")]
    InvalidToken { byte: u8, at: usize },
    /// A packed (nibble) digit outside the alphabet.
    #[error("invalid packed digit {digit} at offset {at}")]
    InvalidPacked { digit: u8, at: usize },
    /// A node with no list size or an empty tag; or, when encoding, an empty tag.
    #[error("invalid node at offset {at}: {reason}")]
    InvalidNode { reason: &'static str, at: usize },
    /// A JID pair without a server.
    #[error("invalid jid pair at offset {at}: empty server")]
    InvalidJid { at: usize },
    /// Nodes or JIDs nested deeper than the limit.
    #[error("nesting deeper than {limit} levels at offset {at}")]
    TooDeep { limit: usize, at: usize },
    /// The zlib payload of a compressed frame is corrupt or truncated.
    #[error("bad zlib payload: {0}")]
    Inflate(String),
    /// A size beyond what the format or the configured limit allows.
    #[error("{what} too large: {size} > {limit}")]
    TooLarge {
        what: &'static str,
        size: u64,
        limit: u64,
    },
}

impl BinaryError {
    /// The stable code of this error, as JavaScript sees it in `err.code`.
    pub fn code(&self) -> &'static str {
        match self {
            BinaryError::EndOfStream { .. } => "ERR_WA_BINARY_EOF",
            BinaryError::InvalidTag { .. } => "ERR_WA_BINARY_INVALID_TAG",
            BinaryError::InvalidToken { .. } => "ERR_WA_BINARY_INVALID_TOKEN",
            BinaryError::InvalidPacked { .. } => "ERR_WA_BINARY_INVALID_PACKED",
            BinaryError::InvalidNode { .. } => "ERR_WA_BINARY_INVALID_NODE",
            BinaryError::InvalidJid { .. } => "ERR_WA_BINARY_INVALID_JID",
            BinaryError::TooDeep { .. } => "ERR_WA_BINARY_TOO_DEEP",
            BinaryError::Inflate(_) => "ERR_WA_BINARY_INFLATE",
            BinaryError::TooLarge { .. } => "ERR_WA_BINARY_TOO_LARGE",
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = BinaryError> = std::result::Result<T, E>;
