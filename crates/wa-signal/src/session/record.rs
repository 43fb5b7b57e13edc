//! The session record, modelled on libsignal-node's `SessionRecord` so that its JSON reads
//! and writes without loss: every field it has, in its order, with its optional parts.
//!
//! One record per remote device holds several sessions (states): at most one open
//! (`closed == -1`) and older closed ones kept for late messages. Each session holds its
//! chains keyed by ratchet public key: our sending chain and the receiving chains.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;

use super::json::RecordFormatError;

/// `indexInfo.baseKeyType`: the base key is ours (we initiated) or theirs.
pub const BASE_KEY_OURS: u32 = 1;
pub const BASE_KEY_THEIRS: u32 = 2;
/// `chainType`.
pub const CHAIN_SENDING: u32 = 1;
pub const CHAIN_RECEIVING: u32 = 2;
/// `indexInfo.closed` of the open session.
pub const OPEN: i64 = -1;
/// The record version libsignal-node writes.
pub const RECORD_VERSION: &str = "v1";

/// Closed sessions kept besides the open one (libsignal's `ARCHIVED_STATES_MAX_LENGTH`).
pub const MAX_CLOSED_SESSIONS: usize = 40;
/// Receiving chains kept per session (libsignal's `MAX_RECEIVER_CHAINS`). libsignal-node keeps
/// them all, so its records grow with every change of direction.
pub const MAX_RECEIVING_CHAINS: usize = 5;
/// Skipped message keys kept per chain, and the longest jump one message may ask for.
pub const MAX_MESSAGE_KEYS: usize = 2000;
pub const MAX_JUMP: u32 = 2000;

/// Key material of a session, held inline. Every key a session keeps is 32 bytes (private,
/// root, chain and message keys) or 33 (public keys with their type byte), and the record is
/// copied for every message it decrypts or encrypts: as `Vec`s its keys were a dozen
/// allocations (and frees) per message.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyBytes {
    len: u8,
    /// Zero past `len`, so that the derived comparisons compare the keys alone.
    bytes: [u8; KeyBytes::MAX],
}

impl KeyBytes {
    /// The longest key a session holds.
    pub const MAX: usize = 33;

    /// `b` as a key, or `None` when it is longer than any key of a session.
    pub fn new(b: &[u8]) -> Option<Self> {
        let mut bytes = [0; Self::MAX];
        bytes.get_mut(..b.len())?.copy_from_slice(b);
        Some(Self {
            len: b.len() as u8,
            bytes,
        })
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// `b` read from a stored record as its key `what`: longer than any key, the record is
    /// refused.
    pub(crate) fn stored(b: &[u8], what: &str) -> Result<Self, RecordFormatError> {
        Self::new(b).ok_or_else(|| {
            RecordFormatError(format!(
                "session record: {what} is {} bytes, longer than any key",
                b.len()
            ))
        })
    }
}

// Keys are secrets: Debug shows their length only.
impl fmt::Debug for KeyBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyBytes({} bytes)", self.len)
    }
}

impl Deref for KeyBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for KeyBytes {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl PartialEq<[u8]> for KeyBytes {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_slice() == other
    }
}

impl PartialEq<&[u8]> for KeyBytes {
    fn eq(&self, other: &&[u8]) -> bool {
        self.as_slice() == *other
    }
}

impl PartialEq<Vec<u8>> for KeyBytes {
    fn eq(&self, other: &Vec<u8>) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl From<[u8; 32]> for KeyBytes {
    fn from(k: [u8; 32]) -> Self {
        Self::new(&k).expect("32 bytes fit")
    }
}

impl From<[u8; 33]> for KeyBytes {
    fn from(k: [u8; 33]) -> Self {
        Self::new(&k).expect("33 bytes fit")
    }
}

/// All sessions with one remote device.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SessionRecord {
    /// In the record's order (the JSON object's key order).
    pub sessions: Vec<SessionEntry>,
}

/// One session (libsignal-node's `SessionEntry`).
#[derive(Clone, PartialEq, Eq)]
pub struct SessionEntry {
    /// The key under `_sessions` (base64-decoded); the base key for every session we make.
    pub id: KeyBytes,
    /// The remote device's registration id; old records may lack it.
    pub registration_id: Option<u32>,
    pub ratchet: Ratchet,
    pub index: IndexInfo,
    /// In the record's order (the `_chains` object's key order).
    pub chains: Vec<Chain>,
    pub pending_pre_key: Option<PendingPreKey>,
}

/// `currentRatchet`.
#[derive(Clone, PartialEq, Eq)]
pub struct Ratchet {
    pub ephemeral_public: KeyBytes,
    pub ephemeral_private: KeyBytes,
    pub last_remote_ephemeral: KeyBytes,
    /// The length of our previous sending chain (-1 when it was never used).
    pub previous_counter: i64,
    pub root_key: KeyBytes,
}

/// `indexInfo`.
#[derive(Clone, PartialEq, Eq)]
pub struct IndexInfo {
    pub base_key: KeyBytes,
    pub base_key_type: u32,
    /// -1 while open, else when it was closed (ms since the epoch). Absent reads as closed.
    pub closed: Option<i64>,
    pub used: Option<i64>,
    pub created: Option<i64>,
    pub remote_identity_key: KeyBytes,
}

/// One chain of the double ratchet.
#[derive(Clone, PartialEq, Eq)]
pub struct Chain {
    /// The ratchet public key the chain hangs on (the `_chains` key, base64-decoded).
    pub ratchet_key: KeyBytes,
    /// Index of the last message key derived (-1 before the first).
    pub counter: i64,
    /// The next chain key; `None` once the chain is closed.
    pub key: Option<KeyBytes>,
    pub chain_type: u32,
    /// Derived but unused message keys (skipped messages), by index.
    pub message_keys: BTreeMap<u32, KeyBytes>,
}

/// What a prekey message must carry until the other side answers.
#[derive(Clone, PartialEq, Eq)]
pub struct PendingPreKey {
    pub signed_key_id: Option<u32>,
    pub base_key: KeyBytes,
    pub pre_key_id: Option<u32>,
}

impl SessionEntry {
    pub fn is_open(&self) -> bool {
        self.index.closed == Some(OPEN)
    }

    pub fn chain(&self, ratchet_key: &[u8]) -> Option<&Chain> {
        self.chains.iter().find(|c| c.ratchet_key == ratchet_key)
    }

    pub fn chain_mut(&mut self, ratchet_key: &[u8]) -> Option<&mut Chain> {
        self.chains
            .iter_mut()
            .find(|c| c.ratchet_key == ratchet_key)
    }

    pub(crate) fn remove_chain(&mut self, ratchet_key: &[u8]) -> Option<Chain> {
        let i = self
            .chains
            .iter()
            .position(|c| c.ratchet_key == ratchet_key)?;
        Some(self.chains.remove(i))
    }

    /// Drops receiving chains that can never decrypt again (closed, no keys left), then the
    /// oldest receiving chains beyond [`MAX_RECEIVING_CHAINS`] (never the current one).
    pub(crate) fn prune_chains(&mut self) {
        self.chains.retain(|c| {
            c.chain_type != CHAIN_RECEIVING || c.key.is_some() || !c.message_keys.is_empty()
        });
        loop {
            let receiving = self
                .chains
                .iter()
                .filter(|c| c.chain_type == CHAIN_RECEIVING)
                .count();
            if receiving <= MAX_RECEIVING_CHAINS {
                break;
            }
            let current = &self.ratchet.last_remote_ephemeral;
            let Some(oldest) = self
                .chains
                .iter()
                .position(|c| c.chain_type == CHAIN_RECEIVING && &c.ratchet_key != current)
            else {
                break;
            };
            self.chains.remove(oldest);
        }
    }
}

impl SessionRecord {
    pub fn new() -> Self {
        Self::default()
    }

    /// The session messages are sent with: the first open one, as libsignal-node picks it.
    pub fn open_session(&self) -> Option<&SessionEntry> {
        self.sessions.iter().find(|s| s.is_open())
    }

    pub(crate) fn open_index(&self) -> Option<usize> {
        self.sessions.iter().position(|s| s.is_open())
    }

    /// libsignal-node's `haveOpenSession`: an open session with a registration id.
    pub fn has_open_session(&self) -> bool {
        self.open_session()
            .is_some_and(|s| s.registration_id.is_some())
    }

    /// The session stored under `id` (its base key).
    pub fn session_index(&self, id: &[u8]) -> Option<usize> {
        self.sessions.iter().position(|s| s.id == id)
    }

    /// Sessions in the order decryption tries them: most recently used first; ties keep the
    /// record's order (libsignal-node sorts stably by `used`).
    pub(crate) fn by_recent_use(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.sessions.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(self.sessions[i].index.used.unwrap_or(0)));
        order
    }

    /// Closes the open sessions (normally one) at `now`.
    pub(crate) fn close_open(&mut self, now: i64) {
        for s in &mut self.sessions {
            if s.is_open() {
                s.index.closed = Some(now);
            }
        }
    }

    /// Makes session `i` the open one: closes the others, opens it.
    pub(crate) fn promote(&mut self, i: usize, now: i64) {
        if self.sessions[i].is_open() {
            return;
        }
        self.close_open(now);
        self.sessions[i].index.closed = Some(OPEN);
    }

    /// Adds a session (replacing one with the same id).
    pub(crate) fn put(&mut self, entry: SessionEntry) {
        match self.session_index(&entry.id) {
            Some(i) => self.sessions[i] = entry,
            None => self.sessions.push(entry),
        }
    }

    /// Keeps at most [`MAX_CLOSED_SESSIONS`] closed sessions, dropping the longest closed.
    pub(crate) fn prune_sessions(&mut self) {
        loop {
            let closed: Vec<usize> = (0..self.sessions.len())
                .filter(|&i| !self.sessions[i].is_open())
                .collect();
            if closed.len() <= MAX_CLOSED_SESSIONS {
                break;
            }
            let oldest = closed
                .into_iter()
                .min_by_key(|&i| self.sessions[i].index.closed.unwrap_or(i64::MIN))
                .expect("more than MAX_CLOSED_SESSIONS closed sessions");
            self.sessions.remove(oldest);
        }
    }

    /// Number of message keys held over all sessions and chains (for tests and metrics).
    pub fn message_key_count(&self) -> usize {
        self.sessions
            .iter()
            .flat_map(|s| &s.chains)
            .map(|c| c.message_keys.len())
            .sum()
    }
}

// Records hold private keys: their Debug output shows the shape only.
impl fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionRecord")
            .field("sessions", &self.sessions)
            .finish()
    }
}

impl fmt::Debug for SessionEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionEntry")
            .field("open", &self.is_open())
            .field("base_key_type", &self.index.base_key_type)
            .field("chains", &self.chains)
            .field("pending_pre_key", &self.pending_pre_key.is_some())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chain")
            .field("type", &self.chain_type)
            .field("counter", &self.counter)
            .field("closed", &self.key.is_none())
            .field("message_keys", &self.message_keys.len())
            .finish()
    }
}

impl fmt::Debug for Ratchet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ratchet")
            .field("previous_counter", &self.previous_counter)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for PendingPreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingPreKey")
            .field("signed_key_id", &self.signed_key_id)
            .field("pre_key_id", &self.pre_key_id)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for IndexInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IndexInfo")
            .field("base_key_type", &self.base_key_type)
            .field("closed", &self.closed)
            .field("used", &self.used)
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_held_inline_up_to_33_bytes() {
        let k = KeyBytes::new(&[5; 33]).unwrap();
        assert_eq!(k.as_slice(), &[5; 33][..]);
        assert!(KeyBytes::new(&[5; 34]).is_none());
        // Compared by their bytes alone: a shorter key is another key, even as a prefix.
        assert_ne!(KeyBytes::new(&[5; 32]).unwrap(), k);
        assert_eq!(KeyBytes::new(&[]).unwrap().len(), 0);
        assert_eq!(KeyBytes::from([7; 32]), vec![7u8; 32]);
        // Debug shows no key material.
        assert_eq!(format!("{k:?}"), "KeyBytes(33 bytes)");
    }

    #[test]
    fn a_stored_record_with_a_key_longer_than_any_is_refused() {
        use prost::Message as _;
        let data = wa_proto::signal::SessionRecordData {
            version: Some(RECORD_VERSION.to_owned()),
            sessions: vec![wa_proto::signal::SessionData {
                id: vec![5; 33],
                root_key: vec![1; 34],
                ..Default::default()
            }],
        };
        let mut bytes = super::super::SESSION_MAGIC.to_vec();
        data.encode(&mut bytes).unwrap();
        let e = SessionRecord::from_binary(&bytes).unwrap_err();
        assert!(e.0.contains("root key is 34 bytes"), "{e}");
        // The same record with a key of 33 bytes reads.
        let mut ok = data.clone();
        ok.sessions[0].root_key = vec![1; 32];
        let mut bytes = super::super::SESSION_MAGIC.to_vec();
        ok.encode(&mut bytes).unwrap();
        let r = SessionRecord::from_binary(&bytes).unwrap();
        assert_eq!(r.sessions[0].ratchet.root_key, vec![1u8; 32]);
    }
}
