//! X3DH session building and the double ratchet, on a [`SessionRecord`], step for step as
//! libsignal-node does them (so either side can continue a record the other wrote), with three
//! differences that keep records sound:
//!
//! - a failed decryption leaves the record untouched: each session is tried on a copy (libsignal-
//!   node mutates the sessions it tries and then stores them when a later one succeeds);
//! - the session that decrypts becomes the open one (libsignal promotes it too), unless the
//!   open one is our own still unanswered session (see [`settle_session`]);
//! - receiving chains, skipped keys and closed sessions are bounded (see [`super::record`]).

use wa_crypto::cipher::{cbc_decrypt, cbc_encrypt};
use wa_crypto::curve::{self, AgreementKey};
use wa_crypto::mac::{ct_eq, hmac_sha256_parts};

use super::record::{
    BASE_KEY_OURS, BASE_KEY_THEIRS, CHAIN_RECEIVING, CHAIN_SENDING, Chain, IndexInfo, KeyBytes,
    MAX_JUMP, MAX_MESSAGE_KEYS, OPEN, PendingPreKey, Ratchet, SessionEntry, SessionRecord,
};
use crate::error::{ErrorKind, Fault};
use crate::kdf::{derive, message_key, message_keys, next_chain_key};
use crate::keys::{KeyPair, LocalIdentity, PreKeyBundle, private_key, public_key};
use crate::wire::{
    MAC_LEN, PreKeyFrame, VERSION_BYTE, WhisperFrame, encode_pre_key, encode_whisper_body,
    parse_whisper,
};

/// How an encrypted 1:1 message travels (`<enc type=...>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// `pkmsg`: carries the prekey bundle data until the other side answers.
    PreKey,
    /// `msg`: a plain ratchet message.
    Whisper,
}

impl MessageKind {
    /// Baileys' name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PreKey => "pkmsg",
            Self::Whisper => "msg",
        }
    }
}

/// An encrypted 1:1 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encrypted {
    pub kind: MessageKind,
    pub body: Vec<u8>,
}

fn record_key(bytes: &[u8], what: &'static str) -> Fault<[u8; 32]> {
    private_key(bytes, what).map_err(|_| ErrorKind::BadRecord(format!("{what} is not 32 bytes")))
}

/// A key from a message or a bundle, to be kept in the record: one longer than any key is
/// refused as a bad key.
fn kept(bytes: &[u8], what: &'static str) -> Fault<KeyBytes> {
    KeyBytes::new(bytes).ok_or(ErrorKind::InvalidKey(what))
}

/// X25519 refusing low-order points (an all-zero secret would be known to anyone).
fn dh(private: &[u8; 32], public: &[u8; 32]) -> Fault<[u8; 32]> {
    dh_with(&AgreementKey::new(private), public)
}

/// [`dh`] with a key imported once for several agreements.
fn dh_with(private: &AgreementKey, public: &[u8; 32]) -> Fault<[u8; 32]> {
    let s = private.agree(public);
    if s == [0u8; 32] {
        return Err(ErrorKind::InvalidKey("low-order public key"));
    }
    Ok(s)
}

/// The identity keys go into the MAC in 33-byte slots, as libsignal-node lays them out.
fn identity_slot(key: &[u8]) -> [u8; 33] {
    let mut slot = [0u8; 33];
    let n = key.len().min(33);
    slot[..n].copy_from_slice(&key[..n]);
    slot
}

fn mac8(sender: &[u8], receiver: &[u8], mac_key: &[u8; 32], body: &[u8]) -> [u8; MAC_LEN] {
    let full = hmac_sha256_parts(
        mac_key,
        &[
            &identity_slot(sender),
            &identity_slot(receiver),
            &[VERSION_BYTE],
            body,
        ],
    );
    let mut out = [0u8; MAC_LEN];
    out.copy_from_slice(&full[..MAC_LEN]);
    out
}

/// The root key from X3DH's concatenated agreements (libsignal's 0xFF * 32 prefix).
fn root_from(agreements: &[[u8; 32]]) -> Fault<KeyBytes> {
    let mut secret = Vec::with_capacity(32 * (agreements.len() + 1));
    secret.extend_from_slice(&[0xff; 32]);
    for a in agreements {
        secret.extend_from_slice(a);
    }
    let root: [u8; 32] = derive(&secret, &[], b"WhisperText")?;
    Ok(root.into())
}

/// Starts a session from a remote device's prekey bundle (we initiate). The open session, if
/// any, is closed; messages go out as `pkmsg` until the other side answers.
pub fn init_outgoing(
    record: &mut SessionRecord,
    local: &LocalIdentity,
    bundle: &PreKeyBundle,
    now: i64,
) -> Fault<()> {
    let their_identity = public_key(&bundle.identity_key, "bundle identity key")?;
    let their_signed = public_key(&bundle.signed_pre_key, "bundle signed prekey")?;
    if !curve::verify(
        &their_identity,
        &curve::prefix_public(&their_signed),
        &bundle.signed_pre_key_signature,
    ) {
        return Err(ErrorKind::BadSignature("signed prekey of the bundle"));
    }
    let their_pre = match &bundle.pre_key {
        Some((id, k)) => Some((*id, public_key(k, "bundle one-time prekey")?)),
        None => None,
    };
    let (base, base_key) = KeyPair::generate_for_agreement();
    let mut agreements = vec![
        local.with_agreement_key(|k| dh_with(k, &their_signed))?,
        dh_with(&base_key, &their_identity)?,
        dh_with(&base_key, &their_signed)?,
    ];
    if let Some((_, pre)) = &their_pre {
        agreements.push(dh_with(&base_key, pre)?);
    }
    let base_public = KeyBytes::from(base.public_prefixed());
    let (ephemeral, ephemeral_key) = KeyPair::generate_for_agreement();
    let mut entry = SessionEntry {
        id: base_public,
        registration_id: Some(bundle.registration_id),
        ratchet: Ratchet {
            ephemeral_public: ephemeral.public_prefixed().into(),
            ephemeral_private: ephemeral.private.into(),
            last_remote_ephemeral: kept(&bundle.signed_pre_key, "signed pre-key")?,
            previous_counter: 0,
            root_key: root_from(&agreements)?,
        },
        index: IndexInfo {
            base_key: base_public,
            base_key_type: BASE_KEY_OURS,
            closed: Some(OPEN),
            used: Some(now),
            created: Some(now),
            remote_identity_key: kept(&bundle.identity_key, "identity key")?,
        },
        chains: Vec::new(),
        pending_pre_key: Some(PendingPreKey {
            signed_key_id: Some(bundle.signed_pre_key_id),
            base_key: base_public,
            pre_key_id: their_pre.map(|(id, _)| id),
        }),
    };
    add_ratchet_chain_with(
        &mut entry,
        &ephemeral_key,
        &bundle.signed_pre_key,
        CHAIN_SENDING,
    )?;
    record.close_open(now);
    record.put(entry);
    record.prune_sessions();
    Ok(())
}

/// The session a `pkmsg` sets up on our side (they initiated).
fn init_incoming(
    local: &LocalIdentity,
    frame: &PreKeyFrame,
    pre_key: Option<&KeyPair>,
    signed: &KeyPair,
    now: i64,
) -> Fault<SessionEntry> {
    let their_identity = public_key(&frame.identity_key, "identity key")?;
    let their_base = public_key(&frame.base_key, "base key")?;
    // Our signed prekey serves two agreements: imported once.
    let signed_key = AgreementKey::new(&signed.private);
    let mut agreements = vec![
        dh_with(&signed_key, &their_identity)?,
        local.with_agreement_key(|k| dh_with(k, &their_base))?,
        dh_with(&signed_key, &their_base)?,
    ];
    if let Some(pre) = pre_key {
        agreements.push(dh(&pre.private, &their_base)?);
    }
    Ok(SessionEntry {
        id: kept(&frame.base_key, "base key")?,
        registration_id: Some(frame.registration_id),
        ratchet: Ratchet {
            ephemeral_public: signed.public_prefixed().into(),
            ephemeral_private: signed.private.into(),
            last_remote_ephemeral: kept(&frame.base_key, "base key")?,
            previous_counter: 0,
            root_key: root_from(&agreements)?,
        },
        index: IndexInfo {
            base_key: kept(&frame.base_key, "base key")?,
            base_key_type: BASE_KEY_THEIRS,
            closed: Some(OPEN),
            used: Some(now),
            created: Some(now),
            remote_identity_key: kept(&frame.identity_key, "identity key")?,
        },
        chains: Vec::new(),
        pending_pre_key: None,
    })
}

/// A DH ratchet step: a new chain for `remote_key` (receiving) or for our current ratchet key
/// (sending), and the next root key.
fn add_ratchet_chain(entry: &mut SessionEntry, remote_key: &[u8], chain_type: u32) -> Fault<()> {
    let ours = record_key(&entry.ratchet.ephemeral_private, "ratchet private key")?;
    add_ratchet_chain_with(entry, &AgreementKey::new(&ours), remote_key, chain_type)
}

/// [`add_ratchet_chain`] with our ratchet key already imported (`ours` must be the key of
/// `entry.ratchet`).
fn add_ratchet_chain_with(
    entry: &mut SessionEntry,
    ours: &AgreementKey,
    remote_key: &[u8],
    chain_type: u32,
) -> Fault<()> {
    let theirs = public_key(remote_key, "ratchet key")?;
    let shared = dh_with(ours, &theirs)?;
    let out: [u8; 64] = derive(&shared, &entry.ratchet.root_key, b"WhisperRatchet")?;
    let ratchet_key = if chain_type == CHAIN_SENDING {
        entry.ratchet.ephemeral_public
    } else {
        kept(remote_key, "ratchet key")?
    };
    if entry.chain(&ratchet_key).is_some() {
        return Err(ErrorKind::InvalidMessage("ratchet key reused"));
    }
    entry.chains.push(Chain {
        ratchet_key,
        counter: -1,
        key: Some(KeyBytes::new(&out[32..]).expect("32 bytes fit")),
        chain_type,
        message_keys: Default::default(),
    });
    entry.ratchet.root_key = KeyBytes::new(&out[..32]).expect("32 bytes fit");
    Ok(())
}

/// Refuses a message more than [`MAX_JUMP`] keys ahead of `chain` (`target` is past it).
fn within_jump(chain: &Chain, target: i64) -> Fault<()> {
    let jump = target.saturating_sub(chain.counter);
    if jump > i64::from(MAX_JUMP) {
        return Err(ErrorKind::TooFarInFuture {
            jump: jump as u64,
            limit: MAX_JUMP,
        });
    }
    Ok(())
}

/// Derives and keeps the message keys of `chain` up to index `counter`.
fn fill_message_keys(chain: &mut Chain, counter: u32) -> Fault<()> {
    let target = i64::from(counter);
    if chain.counter >= target {
        return Ok(());
    }
    within_jump(chain, target)?;
    let mut key = chain.key.take().ok_or(ErrorKind::ChainClosed)?;
    let mut index = chain.counter;
    while index < target {
        index += 1;
        // index is within 0..=u32::MAX here: it starts at >= -1 below target <= u32::MAX.
        let i = u32::try_from(index).map_err(|_| ErrorKind::BadRecord("chain counter".into()))?;
        chain.message_keys.insert(i, message_key(&key).into());
        key = next_chain_key(&key).into();
    }
    chain.key = Some(key);
    chain.counter = target;
    while chain.message_keys.len() > MAX_MESSAGE_KEYS {
        chain.message_keys.pop_first();
    }
    Ok(())
}

/// Steps the DH ratchet when a message shows a new ratchet key (libsignal-node's
/// `maybeStepRatchet`): closes the previous receiving chain after keeping its keys up to the
/// sender's previous counter, adds the new receiving chain, then a new sending chain on a fresh
/// ratchet key.
fn maybe_step_ratchet(entry: &mut SessionEntry, remote_key: &[u8], previous: u32) -> Fault<()> {
    if entry.chain(remote_key).is_some() {
        return Ok(());
    }
    let last = entry.ratchet.last_remote_ephemeral;
    if let Some(prev) = entry.chain_mut(&last) {
        fill_message_keys(prev, previous)?;
        prev.key = None;
    }
    add_ratchet_chain(entry, remote_key, CHAIN_RECEIVING)?;
    let ours = entry.ratchet.ephemeral_public;
    if let Some(sending) = entry.remove_chain(&ours) {
        entry.ratchet.previous_counter = sending.counter;
    }
    let (next, next_key) = KeyPair::generate_for_agreement();
    entry.ratchet.ephemeral_public = next.public_prefixed().into();
    entry.ratchet.ephemeral_private = next.private.into();
    add_ratchet_chain_with(entry, &next_key, remote_key, CHAIN_SENDING)?;
    entry.ratchet.last_remote_ephemeral = kept(remote_key, "ratchet key")?;
    Ok(())
}

/// Decrypts a ratchet message inside one session, mutating it.
fn decrypt_in(
    entry: &mut SessionEntry,
    local: &LocalIdentity,
    frame: &WhisperFrame<'_>,
) -> Fault<Vec<u8>> {
    maybe_step_ratchet(entry, &frame.ephemeral_key, frame.previous_counter)?;
    let chain = entry
        .chain_mut(&frame.ephemeral_key)
        .ok_or(ErrorKind::Internal("ratchet step left no chain"))?;
    if chain.chain_type == CHAIN_SENDING {
        return Err(ErrorKind::InvalidMessage(
            "message on our own sending chain",
        ));
    }
    fill_message_keys(chain, frame.counter)?;
    let seed = chain
        .message_keys
        .remove(&frame.counter)
        .ok_or(ErrorKind::DuplicateMessage {
            counter: frame.counter,
        })?;
    let plaintext = open(entry, local, frame, &seed)?;
    entry.pending_pre_key = None;
    Ok(plaintext)
}

/// Checks a message's MAC with the keys of message key `seed`, then decrypts it.
fn open(
    entry: &SessionEntry,
    local: &LocalIdentity,
    frame: &WhisperFrame<'_>,
    seed: &[u8],
) -> Fault<Vec<u8>> {
    let keys = message_keys(seed);
    let expected = mac8(
        &entry.index.remote_identity_key,
        &local.public_prefixed(),
        &keys.mac,
        frame.body,
    );
    if !ct_eq(&expected, frame.mac) {
        return Err(ErrorKind::BadMac);
    }
    cbc_decrypt(&keys.cipher, &keys.iv, &frame.ciphertext).map_err(|_| ErrorKind::Decrypt)
}

/// Tries one session on a copy; the record changes only when it succeeds.
fn try_session(
    entry: &SessionEntry,
    local: &LocalIdentity,
    frame: &WhisperFrame<'_>,
) -> Fault<(SessionEntry, Vec<u8>)> {
    let mut copy = entry.clone();
    let plaintext = decrypt_in(&mut copy, local, frame)?;
    Ok((copy, plaintext))
}

/// How a message read on an existing chain moves that chain (see [`read_on_chain`]).
enum Advance {
    /// A key kept for a skipped message was used.
    Used(u32),
    /// The chain moved forward to `counter`, keeping the keys of the messages it skipped.
    Forward {
        skipped: Vec<(u32, KeyBytes)>,
        key: KeyBytes,
        counter: i64,
    },
}

/// Decrypts a message whose ratchet key names a chain the session already has (every
/// message but the first of each of the other side's turns) without changing the session:
/// `None` when the message needs a ratchet step. Errors are [`decrypt_in`]'s for the same
/// session. It spares the copy of the whole session that [`try_session`] makes, about 30
/// allocations a message.
fn read_on_chain(
    entry: &SessionEntry,
    local: &LocalIdentity,
    frame: &WhisperFrame<'_>,
) -> Option<Fault<(Vec<u8>, Advance)>> {
    let chain = entry.chain(&frame.ephemeral_key)?;
    Some(read_on(entry, chain, local, frame))
}

fn read_on(
    entry: &SessionEntry,
    chain: &Chain,
    local: &LocalIdentity,
    frame: &WhisperFrame<'_>,
) -> Fault<(Vec<u8>, Advance)> {
    if chain.chain_type == CHAIN_SENDING {
        return Err(ErrorKind::InvalidMessage(
            "message on our own sending chain",
        ));
    }
    let target = i64::from(frame.counter);
    let derived: [u8; 32];
    let (seed, advance): (&[u8], Advance) = if chain.counter >= target {
        let seed = chain
            .message_keys
            .get(&frame.counter)
            .ok_or(ErrorKind::DuplicateMessage {
                counter: frame.counter,
            })?;
        (seed, Advance::Used(frame.counter))
    } else {
        // As fill_message_keys derives them.
        within_jump(chain, target)?;
        let mut key = chain.key.ok_or(ErrorKind::ChainClosed)?;
        let mut skipped = Vec::new();
        let mut index = chain.counter;
        let mut seed = None;
        while index < target {
            index += 1;
            let i =
                u32::try_from(index).map_err(|_| ErrorKind::BadRecord("chain counter".into()))?;
            let mk = message_key(&key);
            if index == target {
                seed = Some(mk);
            } else {
                skipped.push((i, mk.into()));
            }
            key = next_chain_key(&key).into();
        }
        derived = seed.ok_or(ErrorKind::Internal("no key derived"))?;
        let advance = Advance::Forward {
            skipped,
            key,
            counter: target,
        };
        (&derived, advance)
    };
    Ok((open(entry, local, frame, seed)?, advance))
}

impl Advance {
    /// Moves `chain` as [`decrypt_in`] would have.
    fn apply(self, chain: &mut Chain) {
        match self {
            Advance::Used(counter) => {
                chain.message_keys.remove(&counter);
            }
            Advance::Forward {
                skipped,
                key,
                counter,
            } => {
                chain.message_keys.extend(skipped);
                chain.key = Some(key);
                chain.counter = counter;
                // The used key counted while the kept ones were trimmed, then left.
                while chain.message_keys.len() + 1 > MAX_MESSAGE_KEYS {
                    chain.message_keys.pop_first();
                }
            }
        }
    }
}

/// Decrypts with session `i` of the record and stores what that changed; the record is left
/// as it was when it fails.
fn decrypt_with(
    record: &mut SessionRecord,
    i: usize,
    local: &LocalIdentity,
    frame: &WhisperFrame<'_>,
    now: i64,
) -> Fault<Vec<u8>> {
    match read_on_chain(&record.sessions[i], local, frame) {
        Some(read) => {
            let (plaintext, advance) = read?;
            let entry = &mut record.sessions[i];
            let chain = entry
                .chain_mut(&frame.ephemeral_key)
                .ok_or(ErrorKind::Internal("the chain just read is gone"))?;
            advance.apply(chain);
            entry.pending_pre_key = None;
            settle_session(record, i, now);
            Ok(plaintext)
        }
        None => {
            let (entry, plaintext) = try_session(&record.sessions[i], local, frame)?;
            record.sessions[i] = entry;
            settle_session(record, i, now);
            Ok(plaintext)
        }
    }
}

/// Stores a session that just decrypted: marks it used, prunes it, and makes it the open one,
/// unless the open one is a session we started that the other side has not answered yet.
///
/// That exception: the other side adopts our pending session as soon as it reads our prekey
/// message, so a message on an older session only says it had not read it yet when sending.
/// Switching back would make us send on a session the other side has just closed, and
/// libsignal-node (Baileys) then corrupts its new session: it tries that one first, and a
/// failed attempt's ratchet step is stored once an older session succeeds.
fn settle_session(record: &mut SessionRecord, i: usize, now: i64) {
    let entry = &mut record.sessions[i];
    entry.index.used = Some(now);
    entry.prune_chains();
    let keep_pending = record.open_index().is_some_and(|o| {
        o != i && {
            let open = &record.sessions[o];
            open.index.base_key_type == BASE_KEY_OURS && open.pending_pre_key.is_some()
        }
    });
    if !keep_pending {
        record.promote(i, now);
    }
    record.prune_sessions();
}

/// Decrypts a `msg` with whichever session of the record it belongs to.
pub fn decrypt_whisper(
    record: &mut SessionRecord,
    local: &LocalIdentity,
    message: &[u8],
    now: i64,
) -> Fault<Vec<u8>> {
    let frame = parse_whisper(message)?;
    if record.sessions.is_empty() {
        return Err(ErrorKind::NoSession("No session record"));
    }
    // Report the failure of the session that knows the message's ratchet key, if any: that
    // one is the message's own session; the others only fail for not being it.
    let mut first_error = None;
    let mut owner_error = None;
    for i in record.by_recent_use() {
        match decrypt_with(record, i, local, &frame, now) {
            Ok(plaintext) => return Ok(plaintext),
            Err(e) => {
                if owner_error.is_none() && record.sessions[i].chain(&frame.ephemeral_key).is_some()
                {
                    owner_error = Some(e.clone());
                }
                first_error.get_or_insert(e);
            }
        }
    }
    Err(owner_error
        .or(first_error)
        .expect("at least one session was tried"))
}

/// What a `pkmsg` needs from the key stores, when it sets up a new session.
pub struct PreKeyMaterial<'a> {
    pub pre_key: Option<&'a KeyPair>,
    pub signed_pre_key: Option<&'a KeyPair>,
}

/// Whether a `pkmsg` starts a new session (so the prekeys must be loaded) or continues one
/// already set up by an earlier `pkmsg` with the same base key.
pub fn needs_new_session(record: &SessionRecord, frame: &PreKeyFrame) -> bool {
    record.session_index(&frame.base_key).is_none()
}

/// Decrypts a `pkmsg`: sets up the session it announces (or reuses the one an earlier copy set
/// up) and decrypts its inner message. Returns the plaintext and the one-time prekey id that
/// was consumed, which the caller must delete.
pub fn decrypt_pre_key(
    record: &mut SessionRecord,
    local: &LocalIdentity,
    frame: &PreKeyFrame,
    keys: PreKeyMaterial<'_>,
    now: i64,
) -> Fault<(Vec<u8>, Option<u32>)> {
    let inner = parse_whisper(&frame.message)?;
    if let Some(i) = record.session_index(&frame.base_key) {
        if record.sessions[i].index.base_key_type == BASE_KEY_OURS {
            return Err(ErrorKind::InvalidMessage(
                "prekey message carries our own base key",
            ));
        }
        let plaintext = decrypt_with(record, i, local, &inner, now)?;
        return Ok((plaintext, None));
    }
    let signed = keys
        .signed_pre_key
        .ok_or(ErrorKind::MissingSignedPreKey(frame.signed_pre_key_id))?;
    let pre_key = match frame.pre_key_id {
        Some(id) => Some(keys.pre_key.ok_or(ErrorKind::MissingPreKey(id))?),
        None => None,
    };
    let mut entry = init_incoming(local, frame, pre_key, signed, now)?;
    let plaintext = decrypt_in(&mut entry, local, &inner)?;
    entry.prune_chains();
    record.close_open(now);
    record.put(entry);
    record.prune_sessions();
    Ok((plaintext, frame.pre_key_id))
}

/// Encrypts with the open session: a `pkmsg` while the other side has not answered yet.
pub fn encrypt(
    record: &mut SessionRecord,
    local: &LocalIdentity,
    plaintext: &[u8],
) -> Fault<Encrypted> {
    let i = record
        .open_index()
        .ok_or(ErrorKind::NoSession("No open session"))?;
    let our_identity = local.public_prefixed();
    let entry = &mut record.sessions[i];
    let ratchet_key = entry.ratchet.ephemeral_public;
    let chain = entry.chain_mut(&ratchet_key).ok_or(ErrorKind::NoSession(
        "open session has no sending chain yet",
    ))?;
    if chain.chain_type != CHAIN_SENDING {
        return Err(ErrorKind::BadRecord(
            "current ratchet key names a receiving chain".into(),
        ));
    }
    let chain_key = chain.key.as_ref().ok_or(ErrorKind::ChainClosed)?;
    let counter = chain
        .counter
        .checked_add(1)
        .and_then(|c| u32::try_from(c).ok())
        .ok_or_else(|| ErrorKind::BadRecord("sending counter out of range".into()))?;
    let seed = message_key(chain_key);
    chain.key = Some(next_chain_key(chain_key).into());
    chain.counter = i64::from(counter);
    chain.message_keys.remove(&counter);
    let keys = message_keys(&seed);
    let ciphertext =
        cbc_encrypt(&keys.cipher, &keys.iv, plaintext).map_err(|_| ErrorKind::Internal("AES"))?;
    // protobufjs writes a negative previous counter as its 32-bit two's complement.
    let previous = entry.ratchet.previous_counter as u32;
    let body = encode_whisper_body(&ratchet_key, counter, previous, ciphertext);
    let mac = mac8(
        &our_identity,
        &entry.index.remote_identity_key,
        &keys.mac,
        &body,
    );
    let mut message = Vec::with_capacity(1 + body.len() + MAC_LEN);
    message.push(VERSION_BYTE);
    message.extend_from_slice(&body);
    message.extend_from_slice(&mac);
    let Some(pending) = &entry.pending_pre_key else {
        return Ok(Encrypted {
            kind: MessageKind::Whisper,
            body: message,
        });
    };
    let body = encode_pre_key(&PreKeyFrame {
        pre_key_id: pending.pre_key_id.filter(|&id| id != 0),
        base_key: pending.base_key.to_vec(),
        identity_key: our_identity.to_vec(),
        message,
        registration_id: local.registration_id,
        signed_pre_key_id: pending.signed_key_id,
    });
    Ok(Encrypted {
        kind: MessageKind::PreKey,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{generate_identity, generate_signed_pre_key};
    use crate::wire::parse_pre_key;

    const NOW: i64 = 1_700_000_000_000;

    /// Every session tried on a copy: how a whisper message was read before [`read_on_chain`].
    fn decrypt_by_copy(
        record: &mut SessionRecord,
        local: &LocalIdentity,
        message: &[u8],
    ) -> Fault<Vec<u8>> {
        let frame = parse_whisper(message)?;
        let (mut first, mut owner) = (None, None);
        for i in record.by_recent_use() {
            match try_session(&record.sessions[i], local, &frame) {
                Ok((entry, plaintext)) => {
                    record.sessions[i] = entry;
                    settle_session(record, i, NOW);
                    return Ok(plaintext);
                }
                Err(e) => {
                    if owner.is_none() && record.sessions[i].chain(&frame.ephemeral_key).is_some() {
                        owner = Some(e.clone());
                    }
                    first.get_or_insert(e);
                }
            }
        }
        Err(owner.or(first).expect("a session"))
    }

    /// Alice's and Bob's records after a prekey message and its answer, and their identities.
    fn established() -> (SessionRecord, LocalIdentity, SessionRecord, LocalIdentity) {
        let alice = LocalIdentity::new(generate_identity(), 1);
        let bob = LocalIdentity::new(generate_identity(), 2);
        let signed = generate_signed_pre_key(&bob.key_pair, 7);
        let bundle = PreKeyBundle {
            registration_id: 2,
            identity_key: bob.public_prefixed().to_vec(),
            signed_pre_key_id: 7,
            signed_pre_key: signed.key_pair.public_prefixed().to_vec(),
            signed_pre_key_signature: signed.signature.to_vec(),
            pre_key: None,
        };
        let mut a = SessionRecord::default();
        init_outgoing(&mut a, &alice, &bundle, NOW).unwrap();
        let first = encrypt(&mut a, &alice, b"hello").unwrap();
        let mut b = SessionRecord::default();
        let keys = PreKeyMaterial {
            pre_key: None,
            signed_pre_key: Some(&signed.key_pair),
        };
        let frame = parse_pre_key(&first.body).unwrap();
        decrypt_pre_key(&mut b, &bob, &frame, keys, NOW).unwrap();
        let reply = encrypt(&mut b, &bob, b"hi").unwrap();
        decrypt_whisper(&mut a, &alice, &reply.body, NOW).unwrap();
        (a, alice, b, bob)
    }

    #[test]
    fn reading_on_a_known_chain_changes_the_record_as_a_copy_would() {
        let (mut a, alice, mut b, bob) = established();
        let mut send = |text: &[u8]| encrypt(&mut a, &alice, text).unwrap().body;
        let msgs: Vec<Vec<u8>> = (0..40).map(|i| send(format!("m{i}").as_bytes())).collect();
        // The first steps Bob's ratchet (a fresh key pair: no two records would match).
        decrypt_whisper(&mut b, &bob, &msgs[0], NOW).unwrap();
        let mut forged = msgs[30].clone();
        *forged.last_mut().unwrap() ^= 1;
        // In order, ahead, late, twice, already read, forged, and a step so far ahead that the kept keys
        // are trimmed (past MAX_MESSAGE_KEYS), then a little further.
        let mut order: Vec<Vec<u8>> = [1, 2, 5, 3, 3, 9, 4, 8, 0, 39, 30]
            .iter()
            .map(|&i| msgs[i].clone())
            .collect();
        order.extend([forged, msgs[6].clone(), msgs[39].clone()]);
        let far: Vec<Vec<u8>> = (0..MAX_JUMP + 5).map(|_| send(b"x")).collect();
        order.extend([
            far[MAX_JUMP as usize - 1].clone(),
            far[MAX_JUMP as usize + 4].clone(),
            far[3].clone(),
        ]);
        for (n, m) in order.iter().enumerate() {
            let mut reference = b.clone();
            let want = decrypt_by_copy(&mut reference, &bob, m);
            let got = decrypt_whisper(&mut b, &bob, m, NOW);
            assert_eq!(got, want, "delivery {n}");
            assert!(b == reference, "delivery {n}: the records differ");
        }
        assert!(
            b.message_key_count() >= MAX_MESSAGE_KEYS - 2,
            "the keys were trimmed"
        );
    }
}
