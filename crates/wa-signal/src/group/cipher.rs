//! Sender keys: distribution, encryption and decryption on a [`SenderKeyRecord`].
//!
//! Differences from Baileys rc14, all readable by it:
//! - encryption uses each chain step once (Baileys skips a step per message and stores the
//!   skipped key in its own record, which grows to 2,000 keys and slows every send);
//! - decryption changes the record only when it succeeds, and reads skipped keys it stored;
//! - a distribution message for a chain we already have keeps our chain (as libsignal does),
//!   instead of stacking a duplicate state that pushes the others out.

use wa_crypto::cipher::{cbc_decrypt, cbc_encrypt};
use wa_crypto::curve;

use super::record::{
    MAX_SENDER_JUMP, MAX_SENDER_KEY_STATES, MAX_SENDER_MESSAGE_KEYS, SenderKeyRecord,
    SenderKeyState, SenderMessageKey,
};
use crate::error::{ErrorKind, Fault};
use crate::kdf::{message_key, next_chain_key, sender_message_keys};
use crate::keys::{KeyPair, private_key, public_key};
use crate::wire::{
    Distribution, encode_distribution, encode_sender_key_message, parse_distribution,
    parse_sender_key_message,
};

/// Sender key ids are drawn below 2^31 - 1, as Baileys' `randomInt(2147483647)`.
const KEY_ID_BOUND: u32 = 0x7fff_ffff;

fn new_key_id() -> u32 {
    let r: [u8; 4] = wa_crypto::random_bytes();
    u32::from_le_bytes(r) % KEY_ID_BOUND
}

/// The signing public key with its 0x05 prefix, as distribution messages carry it.
fn prefixed(public: &[u8]) -> Vec<u8> {
    if public.len() == 32 {
        let mut k = Vec::with_capacity(33);
        k.push(curve::KEY_TYPE_DJB);
        k.extend_from_slice(public);
        k
    } else {
        public.to_vec()
    }
}

/// Our distribution message for the record (our own sender key in a group), creating the
/// sender key first when the record is empty.
pub fn distribution_message(record: &mut SenderKeyRecord) -> Vec<u8> {
    if record.is_empty() {
        let signing = KeyPair::generate();
        record.states.push(SenderKeyState {
            key_id: new_key_id(),
            iteration: 0,
            chain_key: wa_crypto::random_bytes::<32>().to_vec(),
            signing_public: signing.public_prefixed().to_vec(),
            signing_private: signing.private.to_vec(),
            message_keys: Vec::new(),
        });
    }
    let s = record.states.last().expect("a state exists");
    encode_distribution(&Distribution {
        key_id: s.key_id,
        iteration: s.iteration,
        chain_key: s.chain_key.clone(),
        signing_key: prefixed(&s.signing_public),
    })
}

/// Encrypts a group message with our current sender key.
pub fn encrypt(record: &mut SenderKeyRecord, plaintext: &[u8]) -> Fault<Vec<u8>> {
    let s = record
        .states
        .last_mut()
        .ok_or(ErrorKind::NoSession("No sender key to encrypt with"))?;
    let signing = private_key(&s.signing_private, "signing key")
        .map_err(|_| ErrorKind::BadRecord("sender key has no signing private key".into()))?;
    let next_iteration = s
        .iteration
        .checked_add(1)
        .ok_or_else(|| ErrorKind::BadRecord("sender key chain exhausted".into()))?;
    let (iv, key) = sender_message_keys(&message_key(&s.chain_key));
    let ciphertext = cbc_encrypt(&key, &iv, plaintext).map_err(|_| ErrorKind::Internal("AES"))?;
    let message = encode_sender_key_message(s.key_id, s.iteration, ciphertext, &signing);
    s.chain_key = next_chain_key(&s.chain_key).to_vec();
    s.iteration = next_iteration;
    // Our own chain never reads its messages back; skipped keys a Baileys record left here
    // are dead weight.
    s.message_keys.clear();
    Ok(message)
}

/// Decrypts a group message from the sender whose record this is.
pub fn decrypt(record: &mut SenderKeyRecord, message: &[u8]) -> Fault<Vec<u8>> {
    let frame = parse_sender_key_message(message)?;
    let s = record
        .state_mut(frame.key_id)
        .ok_or(ErrorKind::NoSenderKey(frame.key_id))?;
    let signer = public_key(&s.signing_public, "signing key")
        .map_err(|_| ErrorKind::BadRecord("sender key signing key".into()))?;
    if !curve::verify(&signer, frame.signed, frame.signature) {
        return Err(ErrorKind::BadSignature("group message"));
    }
    if frame.iteration < s.iteration {
        let i = s
            .message_keys
            .iter()
            .position(|k| k.iteration == frame.iteration)
            .ok_or(ErrorKind::DuplicateMessage {
                counter: frame.iteration,
            })?;
        let (iv, key) = sender_message_keys(&s.message_keys[i].seed);
        let plaintext =
            cbc_decrypt(&key, &iv, &frame.ciphertext).map_err(|_| ErrorKind::Decrypt)?;
        s.message_keys.remove(i);
        return Ok(plaintext);
    }
    let jump = frame.iteration - s.iteration;
    if jump > MAX_SENDER_JUMP {
        return Err(ErrorKind::TooFarInFuture {
            jump: u64::from(jump),
            limit: MAX_SENDER_JUMP,
        });
    }
    let next_iteration = frame
        .iteration
        .checked_add(1)
        .ok_or(ErrorKind::InvalidMessage("iteration out of range"))?;
    // Walk the chain on the side; the record changes only once the message decrypts.
    let mut chain = s.chain_key.clone();
    let mut skipped = Vec::with_capacity(jump as usize);
    for iteration in s.iteration..frame.iteration {
        skipped.push(SenderMessageKey {
            iteration,
            seed: message_key(&chain).to_vec(),
        });
        chain = next_chain_key(&chain).to_vec();
    }
    let (iv, key) = sender_message_keys(&message_key(&chain));
    let plaintext = cbc_decrypt(&key, &iv, &frame.ciphertext).map_err(|_| ErrorKind::Decrypt)?;
    s.message_keys.extend(skipped);
    let excess = s.message_keys.len().saturating_sub(MAX_SENDER_MESSAGE_KEYS);
    s.message_keys.drain(..excess);
    s.chain_key = next_chain_key(&chain).to_vec();
    s.iteration = next_iteration;
    Ok(plaintext)
}

/// Takes in a sender's distribution message. A chain we already hold (same id, same signing
/// key) is kept as it is and becomes the newest; a state with the same id but another key is
/// replaced; at most [`MAX_SENDER_KEY_STATES`] states stay.
pub fn process_distribution(record: &mut SenderKeyRecord, message: &[u8]) -> Fault<()> {
    let d = parse_distribution(message)?;
    let signer = public_key(&d.signing_key, "signing key")?;
    let same = |s: &SenderKeyState| {
        s.key_id == d.key_id && public_key(&s.signing_public, "").ok() == Some(signer)
    };
    let existing = record
        .states
        .iter()
        .position(same)
        .map(|i| record.states.remove(i));
    record.states.retain(|s| s.key_id != d.key_id);
    let state = existing.unwrap_or_else(|| SenderKeyState {
        key_id: d.key_id,
        iteration: d.iteration,
        chain_key: d.chain_key.clone(),
        signing_public: d.signing_key.clone(),
        signing_private: Vec::new(),
        message_keys: Vec::new(),
    });
    record.states.push(state);
    let excess = record.states.len().saturating_sub(MAX_SENDER_KEY_STATES);
    record.states.drain(..excess);
    Ok(())
}
