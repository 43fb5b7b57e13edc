//! The Signal layer for JavaScript: the native half of `makeLibSignalRepository`
//! (`lib/signal.js`). Each export runs one `wa-signal` operation over values JS fetched from
//! the caller's key store (see `signal_store.rs`) and returns what to write back.
//! Records cross as libsignal-node's JSON text (sessions) and Baileys' sender-key bytes.
//! The functions are the JS layer's internals, so they stay out of the typings
//! (`skip_typescript`; napi cannot skip objects, so their interfaces remain);
//! `lib/types/40-signal.d.ts` declares the public surface.

use napi::bindgen_prelude::{Buffer, Either, Uint8Array};
use napi_derive::napi;
use wa_signal::protocol;
use wa_signal::{
    KeyPair, LocalIdentity, MessageKind, PreKeyBundle, ProtocolAddress, SenderKeyName,
    SenderKeyRecord, SessionRecord, SignalError,
};

use crate::errors::coded;
use crate::signal_store::{Snapshot, run_now};

/// A Curve25519 key pair in Baileys' shape (`{ public, private }`; public 32 or 33 bytes).
#[napi(object)]
pub struct SignalKeyPair {
    pub public: Uint8Array,
    pub private: Uint8Array,
}

/// A stored session record: libsignal-node's JSON text, or our binary form.
type StoredSession = Either<String, Uint8Array>;

#[napi(object)]
pub struct SignalEncryptRequest {
    pub address: String,
    pub session: Option<Either<String, Uint8Array>>,
    pub identity: SignalKeyPair,
    pub registration_id: u32,
    pub plaintext: Uint8Array,
}

#[napi(object)]
pub struct SignalEncryptResult {
    /// `pkmsg` or `msg`.
    #[napi(js_name = "type")]
    pub kind: String,
    pub ciphertext: Buffer,
    /// The updated record, libsignal-node's JSON text.
    pub session: String,
}

#[napi(object)]
pub struct SignalDecryptRequest {
    pub address: String,
    /// `pkmsg` or `msg`.
    #[napi(js_name = "type")]
    pub kind: String,
    pub ciphertext: Uint8Array,
    pub session: Option<Either<String, Uint8Array>>,
    /// The identity key stored for the address.
    pub remote_identity: Option<Uint8Array>,
    /// The one-time prekey the message names, if the store has it.
    pub pre_key_id: Option<u32>,
    pub pre_key: Option<SignalKeyPair>,
    pub signed_pre_key: Option<SignalKeyPair>,
    pub identity: SignalKeyPair,
    pub registration_id: u32,
    pub now: f64,
}

#[napi(object)]
pub struct SignalDecryptResult {
    pub plaintext: Buffer,
    pub session: String,
    /// The identity key to store for the address, when it is new or changed.
    pub identity: Option<Buffer>,
    pub identity_changed: bool,
    /// The one-time prekey consumed (to delete).
    pub removed_pre_key: Option<u32>,
}

#[napi(object)]
pub struct SignalPreKey {
    pub key_id: u32,
    pub public_key: Uint8Array,
}

#[napi(object)]
pub struct SignalSignedPreKey {
    pub key_id: u32,
    pub public_key: Uint8Array,
    pub signature: Uint8Array,
}

/// Baileys' `E2ESession`: a device's prekey bundle.
#[napi(object)]
pub struct SignalBundle {
    pub registration_id: u32,
    pub identity_key: Uint8Array,
    pub signed_pre_key: SignalSignedPreKey,
    pub pre_key: Option<SignalPreKey>,
}

#[napi(object)]
pub struct SignalInjectRequest {
    pub address: String,
    pub session: Option<Either<String, Uint8Array>>,
    pub remote_identity: Option<Uint8Array>,
    pub bundle: SignalBundle,
    pub identity: SignalKeyPair,
    pub registration_id: u32,
    pub now: f64,
}

#[napi(object)]
pub struct SignalInjectResult {
    pub session: String,
    pub identity: Option<Buffer>,
}

#[napi(object)]
pub struct SignalGroupRequest {
    /// The sender key name (`group::user::device`).
    pub name: String,
    /// The stored sender-key record (Baileys' JSON bytes, or our binary form).
    pub record: Option<Uint8Array>,
    /// Plaintext, ciphertext or distribution message, by operation.
    pub data: Option<Uint8Array>,
}

#[napi(object)]
pub struct SignalGroupResult {
    /// Plaintext or ciphertext, by operation.
    pub data: Option<Buffer>,
    pub distribution: Option<Buffer>,
    /// The record to store (Baileys' sender-key JSON bytes), when it changed.
    pub record: Option<Buffer>,
}

#[napi(object)]
pub struct SignalSessionInfo {
    /// libsignal-node's `haveOpenSession()`.
    pub has_open_session: bool,
    /// Base key and registration id of the open session.
    pub base_key: Option<Buffer>,
    pub registration_id: Option<u32>,
}

fn fail(e: SignalError) -> napi::Error {
    coded(e.code(), e)
}

fn bad_arg(what: impl std::fmt::Display) -> napi::Error {
    coded("ERR_WA_SIGNAL_ARGUMENT", what)
}

fn address(s: &str) -> napi::Result<ProtocolAddress> {
    ProtocolAddress::parse(s).map_err(|k| fail(k.at(s)))
}

fn key_pair(k: &SignalKeyPair, what: &str) -> napi::Result<KeyPair> {
    let private: [u8; 32] = k
        .private
        .as_ref()
        .try_into()
        .map_err(|_| bad_arg(format!("{what}: private key must be 32 bytes")))?;
    let public = public_32(k.public.as_ref())
        .ok_or_else(|| bad_arg(format!("{what}: public key must be 32 or 33 bytes")))?;
    Ok(KeyPair { private, public })
}

fn public_32(bytes: &[u8]) -> Option<[u8; 32]> {
    match bytes.len() {
        33 if bytes[0] == 5 => bytes[1..].try_into().ok(),
        32 => bytes.try_into().ok(),
        _ => None,
    }
}

fn local(k: &SignalKeyPair, registration_id: u32) -> napi::Result<LocalIdentity> {
    Ok(LocalIdentity {
        key_pair: key_pair(k, "identity key")?,
        registration_id,
    })
}

fn parse_session(s: &StoredSession) -> Result<SessionRecord, String> {
    match s {
        Either::A(text) => SessionRecord::from_json(text),
        Either::B(bytes) => SessionRecord::from_stored(bytes.as_ref()),
    }
    .map_err(|e| e.to_string())
}

fn run<T>(f: impl std::future::Future<Output = Result<T, SignalError>>) -> napi::Result<T> {
    run_now(f)
        .ok_or_else(|| coded("ERR_WA_SIGNAL_INTERNAL", "an operation waited on the store"))?
        .map_err(fail)
}

fn session_out(batch_sessions: Vec<(ProtocolAddress, Option<SessionRecord>)>) -> String {
    batch_sessions
        .into_iter()
        .find_map(|(_, r)| r)
        .map(|r| r.to_json())
        .unwrap_or_else(|| SessionRecord::new().to_json())
}

/// Baileys' `jidToSignalProtocolAddress`: `user[_domainType].device`.
#[napi(js_name = "signalJidToAddress", catch_unwind, skip_typescript)]
pub fn jid_to_signal_protocol_address(jid: String) -> napi::Result<String> {
    ProtocolAddress::from_jid(&jid)
        .map(|a| a.to_string())
        .map_err(|k| fail(k.at(&jid)))
}

/// Baileys' sender key name of an author in a group: `group::user[_domainType]::device`.
#[napi(js_name = "signalSenderKeyName", catch_unwind, skip_typescript)]
pub fn signal_sender_key_name(group: String, author_jid: String) -> napi::Result<String> {
    SenderKeyName::from_jids(&group, &author_jid)
        .map(|n| n.to_string())
        .map_err(|k| fail(k.at(&author_jid)))
}

/// The one-time prekey id a `pkmsg` names (null for none); throws on a malformed message.
#[napi(js_name = "signalPreKeyId", catch_unwind, skip_typescript)]
pub fn signal_pre_key_id(address: String, ciphertext: Uint8Array) -> napi::Result<Option<u32>> {
    wa_signal::wire::parse_pre_key(ciphertext.as_ref())
        .map(|f| f.pre_key_id)
        .map_err(|k| fail(k.at(&address)))
}

/// Encrypts with the address's open session.
#[napi(js_name = "signalEncrypt", catch_unwind, skip_typescript)]
pub fn signal_encrypt(req: SignalEncryptRequest) -> napi::Result<SignalEncryptResult> {
    let addr = address(&req.address)?;
    let snap = Snapshot {
        local: Some(local(&req.identity, req.registration_id)?),
        session: std::sync::Mutex::new(req.session.as_ref().map(parse_session)),
        ..Snapshot::default()
    };
    let out = run(protocol::encrypt(&snap, &addr, req.plaintext.as_ref()))?;
    Ok(SignalEncryptResult {
        kind: out.kind.as_str().to_owned(),
        ciphertext: out.body.into(),
        session: session_out(snap.into_batch().sessions),
    })
}

/// Decrypts a `pkmsg` or `msg`.
#[napi(js_name = "signalDecrypt", catch_unwind, skip_typescript)]
pub fn signal_decrypt(req: SignalDecryptRequest) -> napi::Result<SignalDecryptResult> {
    let addr = address(&req.address)?;
    let kind = match req.kind.as_str() {
        "pkmsg" => MessageKind::PreKey,
        "msg" => MessageKind::Whisper,
        other => return Err(bad_arg(format!("unknown message type {other:?}"))),
    };
    let pre_key = match (req.pre_key_id, &req.pre_key) {
        (Some(id), Some(k)) => Some((id, key_pair(k, "prekey")?)),
        _ => None,
    };
    let snap = Snapshot {
        local: Some(local(&req.identity, req.registration_id)?),
        session: std::sync::Mutex::new(req.session.as_ref().map(parse_session)),
        remote_identity: req.remote_identity.as_ref().map(|k| k.to_vec()),
        pre_key,
        signed_pre_key: req
            .signed_pre_key
            .as_ref()
            .map(|k| key_pair(k, "signed prekey"))
            .transpose()?,
        ..Snapshot::default()
    };
    let out = run(protocol::decrypt(
        &snap,
        &addr,
        kind,
        req.ciphertext.as_ref(),
        req.now as i64,
    ))?;
    let batch = snap.into_batch();
    Ok(SignalDecryptResult {
        plaintext: out.plaintext.into(),
        session: session_out(batch.sessions),
        identity: batch.identities.into_iter().next().map(|(_, k)| k.into()),
        identity_changed: out.identity_changed,
        removed_pre_key: batch.removed_pre_keys.first().copied(),
    })
}

/// Builds a session from a device's prekey bundle (Baileys' `injectE2ESession`).
#[napi(js_name = "signalInjectSession", catch_unwind, skip_typescript)]
pub fn signal_inject_session(req: SignalInjectRequest) -> napi::Result<SignalInjectResult> {
    let addr = address(&req.address)?;
    let b = &req.bundle;
    let bundle = PreKeyBundle {
        registration_id: b.registration_id,
        identity_key: b.identity_key.to_vec(),
        signed_pre_key_id: b.signed_pre_key.key_id,
        signed_pre_key: b.signed_pre_key.public_key.to_vec(),
        signed_pre_key_signature: b.signed_pre_key.signature.to_vec(),
        pre_key: b
            .pre_key
            .as_ref()
            .map(|k| (k.key_id, k.public_key.to_vec())),
    };
    let snap = Snapshot {
        local: Some(local(&req.identity, req.registration_id)?),
        session: std::sync::Mutex::new(req.session.as_ref().map(parse_session)),
        remote_identity: req.remote_identity.as_ref().map(|k| k.to_vec()),
        ..Snapshot::default()
    };
    run(protocol::process_bundle(
        &snap,
        &addr,
        &bundle,
        req.now as i64,
    ))?;
    let batch = snap.into_batch();
    Ok(SignalInjectResult {
        session: session_out(batch.sessions),
        identity: batch.identities.into_iter().next().map(|(_, k)| k.into()),
    })
}

fn group_snapshot(req: &SignalGroupRequest) -> Snapshot {
    Snapshot {
        sender_key: std::sync::Mutex::new(
            req.record
                .as_ref()
                .map(|r| SenderKeyRecord::from_stored(r.as_ref()).map_err(|e| e.to_string())),
        ),
        ..Snapshot::default()
    }
}

fn sender_name(s: &str) -> napi::Result<SenderKeyName> {
    // group::user::device; the group JID itself never contains "::".
    let mut parts = s.rsplitn(3, "::");
    let (Some(device), Some(user), Some(group)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad_arg(format!("not a sender key name: {s}")));
    };
    let sender = ProtocolAddress::parse(&format!("{user}.{device}")).map_err(|k| fail(k.at(s)))?;
    Ok(SenderKeyName::new(group, sender))
}

fn data(req: &SignalGroupRequest) -> napi::Result<&[u8]> {
    req.data
        .as_ref()
        .map(|d| d.as_ref())
        .ok_or_else(|| bad_arg("data is required"))
}

fn record_out(batch: wa_signal::Batch) -> Option<Buffer> {
    batch
        .sender_keys
        .into_iter()
        .find_map(|(_, r)| r)
        .map(|r| r.to_json().into())
}

/// Encrypts a group message with our sender key (`data` = plaintext).
#[napi(js_name = "signalGroupEncrypt", catch_unwind, skip_typescript)]
pub fn signal_group_encrypt(req: SignalGroupRequest) -> napi::Result<SignalGroupResult> {
    let name = sender_name(&req.name)?;
    let snap = group_snapshot(&req);
    let out = run(protocol::group_encrypt(&snap, &name, data(&req)?))?;
    Ok(SignalGroupResult {
        data: Some(out.ciphertext.into()),
        distribution: Some(out.distribution.into()),
        record: record_out(snap.into_batch()),
    })
}

/// Decrypts a group message from the sender `name` (`data` = ciphertext).
#[napi(js_name = "signalGroupDecrypt", catch_unwind, skip_typescript)]
pub fn signal_group_decrypt(req: SignalGroupRequest) -> napi::Result<SignalGroupResult> {
    let name = sender_name(&req.name)?;
    let snap = group_snapshot(&req);
    let plaintext = run(protocol::group_decrypt(&snap, &name, data(&req)?))?;
    Ok(SignalGroupResult {
        data: Some(plaintext.into()),
        distribution: None,
        record: record_out(snap.into_batch()),
    })
}

/// Takes in a sender key distribution message (`data`).
#[napi(
    js_name = "signalGroupProcessDistribution",
    catch_unwind,
    skip_typescript
)]
pub fn signal_group_process_distribution(
    req: SignalGroupRequest,
) -> napi::Result<SignalGroupResult> {
    let name = sender_name(&req.name)?;
    let snap = group_snapshot(&req);
    run(protocol::group_process_distribution(
        &snap,
        &name,
        data(&req)?,
    ))?;
    Ok(SignalGroupResult {
        data: None,
        distribution: None,
        record: record_out(snap.into_batch()),
    })
}

/// Our distribution message for a group, creating our sender key on first use.
#[napi(js_name = "signalGroupDistribution", catch_unwind, skip_typescript)]
pub fn signal_group_distribution(req: SignalGroupRequest) -> napi::Result<SignalGroupResult> {
    let name = sender_name(&req.name)?;
    let snap = group_snapshot(&req);
    let distribution = run(protocol::group_distribution(&snap, &name))?;
    Ok(SignalGroupResult {
        data: None,
        distribution: Some(distribution.into()),
        record: record_out(snap.into_batch()),
    })
}

/// What `getSessionInfo` / `validateSession` need from a stored record.
#[napi(js_name = "signalSessionInfo", catch_unwind, skip_typescript)]
pub fn signal_session_info(session: StoredSession) -> napi::Result<SignalSessionInfo> {
    let record = parse_session(&session).map_err(|e| coded("ERR_WA_SIGNAL_BAD_RECORD", e))?;
    let open = record.open_session();
    Ok(SignalSessionInfo {
        has_open_session: record.has_open_session(),
        base_key: open.map(|s| s.index.base_key.clone().into()),
        registration_id: open.and_then(|s| s.registration_id),
    })
}

/// A stored session record (JSON text or binary) as libsignal-node's JSON text.
#[napi(js_name = "signalSessionRecordToJson", catch_unwind, skip_typescript)]
pub fn session_record_to_json(session: StoredSession) -> napi::Result<String> {
    parse_session(&session)
        .map(|r| r.to_json())
        .map_err(|e| coded("ERR_WA_SIGNAL_BAD_RECORD", e))
}

/// A stored session record (JSON text or binary) in the compact binary form.
#[napi(js_name = "signalSessionRecordToBinary", catch_unwind, skip_typescript)]
pub fn session_record_to_binary(session: StoredSession) -> napi::Result<Buffer> {
    parse_session(&session)
        .map(|r| r.to_binary().into())
        .map_err(|e| coded("ERR_WA_SIGNAL_BAD_RECORD", e))
}

/// A stored sender-key record (Baileys' JSON bytes or binary) as Baileys' JSON bytes.
#[napi(js_name = "signalSenderKeyRecordToJson", catch_unwind, skip_typescript)]
pub fn sender_key_record_to_json(record: Uint8Array) -> napi::Result<Buffer> {
    SenderKeyRecord::from_stored(record.as_ref())
        .map(|r| r.to_json().into())
        .map_err(|e| coded("ERR_WA_SIGNAL_BAD_RECORD", e))
}

/// A stored sender-key record in the compact binary form.
#[napi(
    js_name = "signalSenderKeyRecordToBinary",
    catch_unwind,
    skip_typescript
)]
pub fn sender_key_record_to_binary(record: Uint8Array) -> napi::Result<Buffer> {
    SenderKeyRecord::from_stored(record.as_ref())
        .map(|r| r.to_binary().into())
        .map_err(|e| coded("ERR_WA_SIGNAL_BAD_RECORD", e))
}
