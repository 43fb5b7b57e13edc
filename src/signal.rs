//! Binding of the Signal repository (`makeLibSignalRepository`, lib/signal.js): the same
//! `wa_client::repository::SignalRepository` and key-store adapter the socket runs on, over the
//! caller's `auth.keys` (through the key-store bridge of `store.rs`), plus the record
//! conversions stores and migrations use.

use std::sync::Arc;

use napi::Status;
use napi::bindgen_prelude::{Buffer, Either, Function, Promise, Uint8Array};
use napi::threadsafe_function::ThreadsafeFunction;
use napi_derive::napi;
use wa_client::ClientError;
use wa_client::lid::{LidPair, PnToLid};
use wa_client::repository::{Operation, Outcome, SessionCheck, SignalRepository, Step};
use wa_client::signal_store::batch_texts;
use wa_signal::{MessageKind, PreKeyBundle, ProtocolAddress, SenderKeyRecord, SessionRecord};
use wa_store::{AuthenticationCreds, BoxFuture, KeyType, StoreError};

use crate::errors::{Coded, JsFail, Result, coded};
use crate::store::NativeKeys;

/// A session record as stores hold it: libsignal-node's JSON text, or our binary form.
type StoredSession = Either<String, Uint8Array>;

/// The text Baileys' socket compares a duplicate's error message with (it then acks the
/// message instead of asking for a retry).
const MISSING_KEYS_ERROR_TEXT: &str = "Key used already or never filled";

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A client error for JS; a Signal error names its address, and a duplicate speaks Baileys'
/// words (the original text stays in `detail`).
fn fail(e: ClientError) -> JsFail {
    match &e {
        ClientError::Signal(s) => {
            let f = coded(s.code(), s).with("address", s.address.clone());
            if e.is_duplicate() {
                let detail = f.message.clone();
                JsFail {
                    message: MISSING_KEYS_ERROR_TEXT.into(),
                    ..f
                }
                .with("detail", detail)
            } else {
                f
            }
        }
        ClientError::Store(s) => coded(s.code(), s),
        _ => coded(e.code(), &e),
    }
}

fn bad_arg(what: impl std::fmt::Display) -> JsFail {
    coded("ERR_WA_SIGNAL_ARGUMENT", what)
}

/// The parts of `auth.creds` Signal uses (identity, registration id, signed prekey), over a
/// complete credentials value: a repository needs no more than Baileys' does. A missing signed
/// prekey (an unregistered device) stays missing: prekey messages then fail with
/// `ERR_WA_SIGNAL_NO_SIGNED_PREKEY`.
fn parse_creds(json: &str) -> Result<AuthenticationCreds> {
    let given: serde_json::Value =
        serde_json::from_str(json).map_err(|e| bad_arg(format!("auth.creds is not JSON: {e}")))?;
    let mut base = serde_json::to_value(AuthenticationCreds::generate())
        .map_err(|e| coded("ERR_WA_SIGNAL_INTERNAL", e))?;
    let empty = serde_json::json!({ "type": "Buffer", "data": "" });
    base["signedPreKey"] = serde_json::json!({
        "keyPair": { "private": empty, "public": empty },
        "signature": empty,
        "keyId": 0,
    });
    for key in ["signedIdentityKey", "registrationId", "signedPreKey"] {
        if let Some(v) = given.get(key).filter(|v| !v.is_null()) {
            base[key] = v.clone();
        }
    }
    AuthenticationCreds::from_json(base.to_string().as_bytes())
        .map_err(|e: StoreError| bad_arg(format!("auth.creds: {e}")))
}

/// A LID and the phone number it stands for (Baileys' `LIDMapping`).
#[napi(object)]
pub struct SignalLidPair {
    pub lid: String,
    pub pn: String,
}

/// `encryptMessage`'s result.
#[napi(object)]
pub struct SignalEncrypted {
    /// `pkmsg` or `msg`.
    #[napi(js_name = "type")]
    pub kind: String,
    pub ciphertext: Buffer,
}

/// `encryptGroupMessage`'s result.
#[napi(object)]
pub struct SignalGroupEncrypted {
    pub ciphertext: Buffer,
    pub sender_key_distribution_message: Buffer,
}

#[napi(object)]
pub struct SignalPreKeyIn {
    pub key_id: u32,
    pub public_key: Buffer,
}

#[napi(object)]
pub struct SignalSignedPreKeyIn {
    pub key_id: u32,
    pub public_key: Buffer,
    pub signature: Buffer,
}

/// Baileys' `SignalBundleIn`: a device's prekey bundle.
#[napi(object)]
pub struct SignalBundleIn {
    pub registration_id: u32,
    pub identity_key: Buffer,
    pub signed_pre_key: SignalSignedPreKeyIn,
    pub pre_key: Option<SignalPreKeyIn>,
}

#[napi(object)]
pub struct SignalSessionInfo {
    pub base_key: Buffer,
    pub registration_id: u32,
}

#[napi(object)]
pub struct SignalSessionValidation {
    pub exists: bool,
    pub reason: Option<String>,
}

#[napi(object)]
pub struct SignalMigration {
    pub migrated: u32,
    pub skipped: u32,
    pub total: u32,
}

/// Asks the app's `pnToLIDFunc(jids)` (its answer crosses as JSON text of `{ lid, pn }[]`).
struct JsPnToLid {
    tsfn: ThreadsafeFunction<Vec<String>, Promise<String>, Vec<String>, Status, false, true>,
}

impl PnToLid for JsPnToLid {
    fn fetch(&self, pns: Vec<String>) -> BoxFuture<'_, Vec<LidPair>> {
        Box::pin(async move {
            let failed = |e: napi::Error| StoreError::Engine {
                op: "pnToLIDFunc",
                message: e.reason,
            };
            let text = self
                .tsfn
                .call_async(pns)
                .await
                .map_err(failed)?
                .await
                .map_err(failed)?;
            let pairs: Vec<serde_json::Value> =
                serde_json::from_str(&text).map_err(|e| StoreError::EngineResult {
                    op: "pnToLIDFunc",
                    detail: e.to_string(),
                })?;
            Ok(pairs
                .iter()
                .filter_map(|p| {
                    Some(LidPair {
                        lid: p.get("lid")?.as_str()?.to_owned(),
                        pn: p.get("pn")?.as_str()?.to_owned(),
                    })
                })
                .collect())
        })
    }
}

fn pairs_out(p: Option<Vec<LidPair>>) -> Option<Vec<SignalLidPair>> {
    p.map(|v| {
        v.into_iter()
            .map(|LidPair { lid, pn }| SignalLidPair { lid, pn })
            .collect()
    })
}

/// What an operation produced (the fields of its kind).
#[napi(object)]
pub struct SignalOpResult {
    /// `pkmsg` or `msg` for an encryption.
    #[napi(js_name = "type")]
    pub kind: Option<String>,
    pub ciphertext: Option<Buffer>,
    pub plaintext: Option<Buffer>,
    pub sender_key_distribution_message: Option<Buffer>,
}

/// One repository call driven from JavaScript over a JavaScript key store (lib/signal.js):
/// `step` runs on the JS thread and names the keys to read; the store's `get` and `set`
/// run there too, so a call costs no thread round trip unless it waits for a lock another
/// call holds (or a LID lookup of the app's `pnToLIDFunc`). The locks are the repository's
/// own: held from the step that takes them until `finish` or `release`.
#[napi]
pub struct NativeSignalOp {
    op: std::sync::Mutex<Operation>,
    writes: std::sync::Mutex<Vec<(KeyType, String, Option<String>)>>,
}

impl NativeSignalOp {
    fn new(op: std::result::Result<Operation, ClientError>) -> Coded<Self> {
        Coded(
            op.map(|op| Self {
                op: op.into(),
                writes: Default::default(),
            })
            .map_err(fail),
        )
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Vec<(KeyType, String, Option<String>)>> {
        self.writes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn op(&self) -> std::sync::MutexGuard<'_, Operation> {
        self.op
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[napi]
impl NativeSignalOp {
    /// The next step: `0` wait (await `wait()`), `1` done (take `finish()`), `2` done with a
    /// write (`writes()`, then `finish()` once the store took it), or the keys to read as
    /// `[type, id, type, id, ...]`: the next call's `found` answers them, one JSON text (or
    /// null: not stored) per pair. A failure releases the locks.
    #[napi(catch_unwind, ts_return_type = "number | string[]")]
    pub fn step(&self, found: Option<Vec<Option<String>>>) -> Coded<Either<u32, Vec<String>>> {
        let mut op = self.op();
        let r = (|| {
            if let Some(texts) = found {
                op.feed_texts(texts)?;
            }
            op.step()
        })();
        Coded(Ok(match r {
            Ok(Step::Wait) => Either::A(0),
            Ok(Step::Read(reqs)) => {
                let mut flat = Vec::new();
                for (t, ids) in reqs {
                    for id in ids {
                        flat.push(t.as_str().to_owned());
                        flat.push(id);
                    }
                }
                Either::B(flat)
            }
            Ok(Step::Write(batch)) if batch.is_empty() => Either::A(1),
            Ok(Step::Write(batch)) => {
                drop(op);
                *self.pending() = batch_texts(batch);
                Either::A(2)
            }
            Err(e) => {
                op.release();
                return Coded(Err(fail(e)));
            }
        }))
    }

    /// The write of a finished operation, as `[type, id, json, ...]`: `json` the value's JSON
    /// text (a session: libsignal-node's record; bytes: BufferJSON), null to delete.
    #[napi]
    pub fn writes(&self) -> Vec<Option<String>> {
        let mut flat = Vec::new();
        for (t, id, v) in std::mem::take(&mut *self.pending()) {
            flat.push(Some(t.as_str().to_owned()));
            flat.push(Some(id));
            flat.push(v);
        }
        flat
    }

    /// Waits for what `step` asked to wait for: a lock another call holds (`step` already
    /// took this call's place in its queue, so calls on one address run in call order), or
    /// the LID lookup of `pnToLIDFunc`.
    #[napi(catch_unwind)]
    pub async fn wait(&self) -> Coded<()> {
        let waiting = self.op().wait();
        match waiting.await {
            Ok(w) => {
                self.op().waited(w);
                Coded(Ok(()))
            }
            Err(e) => {
                self.op().release();
                Coded(Err(fail(e)))
            }
        }
    }

    /// The result, after the write (if any) succeeded; releases the locks.
    #[napi(catch_unwind)]
    pub fn finish(&self) -> Coded<SignalOpResult> {
        let outcome = self.op().finish();
        let mut r = SignalOpResult {
            kind: None,
            ciphertext: None,
            plaintext: None,
            sender_key_distribution_message: None,
        };
        match outcome {
            Ok(Outcome::Encrypted(e)) => {
                r.kind = Some(e.kind.as_str().to_owned());
                r.ciphertext = Some(e.body.into());
            }
            Ok(Outcome::Decrypted(d)) => {
                if d.identity_changed {
                    tracing::info!("identity key changed or new contact; the session starts over");
                }
                r.plaintext = Some(d.plaintext.into());
            }
            Ok(Outcome::GroupEncrypted(g)) => {
                r.ciphertext = Some(g.ciphertext.into());
                r.sender_key_distribution_message = Some(g.distribution.into());
            }
            Ok(Outcome::GroupDecrypted(p)) => r.plaintext = Some(p.into()),
            Ok(Outcome::Distribution(d)) => r.sender_key_distribution_message = Some(d.into()),
            Ok(Outcome::Injected | Outcome::Processed) => {}
            Err(e) => return Coded(Err(fail(e))),
        }
        Coded(Ok(r))
    }

    /// Gives up (the store's read or write failed): releases the locks; nothing was applied.
    #[napi]
    pub fn release(&self) {
        self.op().release();
    }
}

fn bundle_in(session: &SignalBundleIn) -> PreKeyBundle {
    PreKeyBundle {
        registration_id: session.registration_id,
        identity_key: session.identity_key.to_vec(),
        signed_pre_key_id: session.signed_pre_key.key_id,
        signed_pre_key: session.signed_pre_key.public_key.to_vec(),
        signed_pre_key_signature: session.signed_pre_key.signature.to_vec(),
        pre_key: session
            .pre_key
            .as_ref()
            .map(|k| (k.key_id, k.public_key.to_vec())),
    }
}

fn message_kind(kind: &str) -> Result<MessageKind> {
    match kind {
        "pkmsg" => Ok(MessageKind::PreKey),
        "msg" => Ok(MessageKind::Whisper),
        other => Err(bad_arg(format!("unknown message type {other:?}"))),
    }
}

/// Baileys' `SignalRepository` on the Rust Signal layer (wrapped by lib/signal.js).
#[napi]
pub struct NativeSignalRepository {
    repo: Arc<SignalRepository>,
}

#[napi]
impl NativeSignalRepository {
    /// `keys`: the caller's key store (not cached: others may write to it too); `credsJson`:
    /// `auth.creds` as BufferJSON text; `pnToLid(jids)` resolves to JSON text of `{ lid, pn }[]`.
    #[napi(factory, catch_unwind)]
    pub fn create(
        keys: &NativeKeys,
        creds_json: String,
        pn_to_lid: Option<Function<Vec<String>, Promise<String>>>,
    ) -> Result<Self> {
        let creds = parse_creds(&creds_json)?;
        let fetcher: Option<Arc<dyn PnToLid>> = match pn_to_lid {
            Some(f) => Some(Arc::new(JsPnToLid {
                tsfn: f
                    .build_threadsafe_function()
                    .callee_handled::<false>()
                    .weak::<true>()
                    .build()?,
            })),
            None => None,
        };
        Ok(Self {
            repo: Arc::new(SignalRepository::new(keys.store.clone(), creds, fetcher)),
        })
    }

    /// Takes in `auth.creds` again (the app changed them).
    #[napi(catch_unwind)]
    pub fn set_creds(&self, creds_json: String) -> Result<()> {
        self.repo.set_creds(parse_creds(&creds_json)?);
        Ok(())
    }

    /// `decryptMessage` as an operation the caller drives over its own key store.
    #[napi(catch_unwind)]
    pub fn decrypt_op(
        &self,
        jid: String,
        kind: String,
        ciphertext: Buffer,
    ) -> Coded<NativeSignalOp> {
        let kind = match message_kind(&kind) {
            Ok(k) => k,
            Err(e) => return Coded(Err(e)),
        };
        NativeSignalOp::new(
            self.repo
                .decrypt_operation(&jid, kind, &ciphertext, now_ms()),
        )
    }

    #[napi(catch_unwind)]
    pub fn encrypt_op(&self, jid: String, data: Buffer) -> Coded<NativeSignalOp> {
        NativeSignalOp::new(self.repo.encrypt_operation(&jid, &data))
    }

    #[napi(js_name = "injectE2ESessionOp", catch_unwind)]
    pub fn inject_e2e_session_op(
        &self,
        jid: String,
        session: SignalBundleIn,
    ) -> Coded<NativeSignalOp> {
        NativeSignalOp::new(
            self.repo
                .inject_operation(&jid, bundle_in(&session), now_ms()),
        )
    }

    #[napi(catch_unwind)]
    pub fn encrypt_group_op(
        &self,
        group: String,
        me_id: String,
        data: Buffer,
    ) -> Coded<NativeSignalOp> {
        NativeSignalOp::new(self.repo.group_encrypt_operation(&group, &me_id, &data))
    }

    #[napi(catch_unwind)]
    pub fn decrypt_group_op(
        &self,
        group: String,
        author_jid: String,
        msg: Buffer,
    ) -> Coded<NativeSignalOp> {
        NativeSignalOp::new(self.repo.group_decrypt_operation(&group, &author_jid, &msg))
    }

    #[napi(catch_unwind)]
    pub fn process_sender_key_distribution_op(
        &self,
        group_id: String,
        author_jid: String,
        message: Buffer,
    ) -> Coded<NativeSignalOp> {
        NativeSignalOp::new(self.repo.process_distribution_operation(
            &group_id,
            &author_jid,
            &message,
        ))
    }

    #[napi(catch_unwind)]
    pub fn sender_key_distribution_op(
        &self,
        group: String,
        me_id: String,
    ) -> Coded<NativeSignalOp> {
        NativeSignalOp::new(self.repo.distribution_operation(&group, &me_id))
    }

    #[napi(catch_unwind)]
    pub async fn decrypt_message(
        &self,
        jid: String,
        kind: String,
        ciphertext: Buffer,
    ) -> Coded<Buffer> {
        Coded(
            async move {
                let kind = message_kind(&kind)?;
                let out = self
                    .repo
                    .decrypt(&jid, kind, &ciphertext, now_ms())
                    .await
                    .map_err(fail)?;
                if out.identity_changed {
                    tracing::info!("identity key changed or new contact; the session starts over");
                }
                Ok(out.plaintext.into())
            }
            .await,
        )
    }

    #[napi(catch_unwind)]
    pub async fn encrypt_message(&self, jid: String, data: Buffer) -> Coded<SignalEncrypted> {
        Coded(
            self.repo
                .encrypt(&jid, &data)
                .await
                .map(|e| SignalEncrypted {
                    kind: e.kind.as_str().to_owned(),
                    ciphertext: e.body.into(),
                })
                .map_err(fail),
        )
    }

    #[napi(js_name = "injectE2ESession", catch_unwind)]
    pub async fn inject_e2e_session(&self, jid: String, session: SignalBundleIn) -> Coded<()> {
        let bundle = bundle_in(&session);
        Coded(
            self.repo
                .inject_session(&jid, &bundle, now_ms())
                .await
                .map_err(fail),
        )
    }

    #[napi(catch_unwind)]
    pub async fn encrypt_group_message(
        &self,
        group: String,
        me_id: String,
        data: Buffer,
    ) -> Coded<SignalGroupEncrypted> {
        Coded(
            self.repo
                .group_encrypt(&group, &me_id, &data)
                .await
                .map(|g| SignalGroupEncrypted {
                    ciphertext: g.ciphertext.into(),
                    sender_key_distribution_message: g.distribution.into(),
                })
                .map_err(fail),
        )
    }

    #[napi(catch_unwind)]
    pub async fn decrypt_group_message(
        &self,
        group: String,
        author_jid: String,
        msg: Buffer,
    ) -> Coded<Buffer> {
        Coded(
            self.repo
                .group_decrypt(&group, &author_jid, &msg)
                .await
                .map(Buffer::from)
                .map_err(fail),
        )
    }

    #[napi(catch_unwind)]
    pub async fn process_sender_key_distribution_message(
        &self,
        group_id: String,
        author_jid: String,
        message: Buffer,
    ) -> Coded<()> {
        Coded(
            self.repo
                .process_distribution(&group_id, &author_jid, &message)
                .await
                .map_err(fail),
        )
    }

    #[napi(catch_unwind)]
    pub async fn get_sender_key_distribution_message(
        &self,
        group: String,
        me_id: String,
    ) -> Coded<Buffer> {
        Coded(
            self.repo
                .distribution(&group, &me_id)
                .await
                .map(Buffer::from)
                .map_err(fail),
        )
    }

    #[napi(catch_unwind)]
    pub async fn has_sender_key(&self, group: String, me_id: String) -> Coded<bool> {
        Coded(self.repo.has_sender_key(&group, &me_id).await.map_err(fail))
    }

    #[napi(catch_unwind)]
    pub async fn get_session_info(&self, jid: String) -> Coded<Option<SignalSessionInfo>> {
        Coded(
            self.repo
                .session_info(&jid)
                .await
                .map(|i| {
                    i.map(|i| SignalSessionInfo {
                        base_key: i.base_key.into(),
                        registration_id: i.registration_id,
                    })
                })
                .map_err(fail),
        )
    }

    #[napi(catch_unwind)]
    pub async fn validate_session(&self, jid: String) -> SignalSessionValidation {
        let reason = match self.repo.check_session(&jid).await {
            SessionCheck::Open => None,
            SessionCheck::NoSession => Some("no session"),
            SessionCheck::NoOpenSession => Some("no open session"),
            SessionCheck::Invalid => Some("validation error"),
        };
        SignalSessionValidation {
            exists: reason.is_none(),
            reason: reason.map(str::to_owned),
        }
    }

    #[napi(catch_unwind)]
    pub async fn delete_session(&self, jids: Vec<String>) -> Coded<()> {
        Coded(self.repo.delete_sessions(&jids).await.map_err(fail))
    }

    #[napi(catch_unwind)]
    pub async fn migrate_session(
        &self,
        from_jid: String,
        to_jid: String,
    ) -> Coded<SignalMigration> {
        Coded(
            self.repo
                .migrate_session(&from_jid, &to_jid)
                .await
                .map(|m| SignalMigration {
                    migrated: m.migrated,
                    skipped: m.skipped,
                    total: m.total,
                })
                .map_err(fail),
        )
    }

    #[napi(js_name = "storeLIDPNMappings", catch_unwind)]
    pub async fn store_lid_pn_mappings(&self, pairs: Vec<SignalLidPair>) -> Coded<()> {
        let pairs: Vec<LidPair> = pairs
            .into_iter()
            .map(|SignalLidPair { lid, pn }| LidPair { lid, pn })
            .collect();
        Coded(self.repo.lids().store(&pairs).await.map_err(fail))
    }

    #[napi(js_name = "getLIDsForPNs", catch_unwind)]
    pub async fn get_lids_for_pns(&self, pns: Vec<String>) -> Coded<Option<Vec<SignalLidPair>>> {
        Coded(
            self.repo
                .lids()
                .lids_for_pns(&pns)
                .await
                .map(pairs_out)
                .map_err(fail),
        )
    }

    #[napi(js_name = "getPNsForLIDs", catch_unwind)]
    pub async fn get_pns_for_lids(&self, lids: Vec<String>) -> Coded<Option<Vec<SignalLidPair>>> {
        Coded(
            self.repo
                .lids()
                .pns_for_lids(&lids)
                .await
                .map(pairs_out)
                .map_err(fail),
        )
    }

    /// Forgets what is cached (mappings, migrated devices); the store stays.
    #[napi]
    pub fn close(&self) {
        self.repo.lids().clear();
    }
}

/// Baileys' `jidToSignalProtocolAddress`: `user[_domainType].device`.
#[napi(js_name = "signalJidToAddress", catch_unwind, skip_typescript)]
pub fn jid_to_signal_protocol_address(jid: String) -> Coded<String> {
    // `Coded` rather than `Result`: a thrown error keeps its `address` property too.
    Coded(
        ProtocolAddress::from_jid(&jid)
            .map(|a| a.to_string())
            .map_err(|k| {
                let e = k.at(&jid);
                coded(e.code(), &e).with("address", jid.clone())
            }),
    )
}

fn parse_session(s: &StoredSession) -> Result<SessionRecord> {
    match s {
        Either::A(text) => SessionRecord::from_json(text),
        Either::B(bytes) => SessionRecord::from_stored(bytes.as_ref()),
    }
    .map_err(|e| coded("ERR_WA_SIGNAL_BAD_RECORD", e))
}

/// A stored session record (JSON text or binary) as libsignal-node's JSON text.
#[napi(js_name = "signalSessionRecordToJson", catch_unwind, skip_typescript)]
pub fn session_record_to_json(session: StoredSession) -> Result<String> {
    parse_session(&session).map(|r| r.to_json())
}

/// A stored session record (JSON text or binary) in the compact binary form.
#[napi(js_name = "signalSessionRecordToBinary", catch_unwind, skip_typescript)]
pub fn session_record_to_binary(session: StoredSession) -> Result<Buffer> {
    parse_session(&session).map(|r| r.to_binary().into())
}

/// A stored sender-key record (Baileys' JSON bytes or binary) as Baileys' JSON bytes.
#[napi(js_name = "signalSenderKeyRecordToJson", catch_unwind, skip_typescript)]
pub fn sender_key_record_to_json(record: Uint8Array) -> Result<Buffer> {
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
pub fn sender_key_record_to_binary(record: Uint8Array) -> Result<Buffer> {
    SenderKeyRecord::from_stored(record.as_ref())
        .map(|r| r.to_binary().into())
        .map_err(|e| coded("ERR_WA_SIGNAL_BAD_RECORD", e))
}
