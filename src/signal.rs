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
use wa_client::repository::{SessionCheck, SignalRepository};
use wa_signal::{MessageKind, PreKeyBundle, ProtocolAddress, SenderKeyRecord, SessionRecord};
use wa_store::{AuthenticationCreds, BoxFuture, StoreError};

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

    #[napi(catch_unwind)]
    pub async fn decrypt_message(
        &self,
        jid: String,
        kind: String,
        ciphertext: Buffer,
    ) -> Coded<Buffer> {
        Coded(
            async move {
                let kind = match kind.as_str() {
                    "pkmsg" => MessageKind::PreKey,
                    "msg" => MessageKind::Whisper,
                    other => return Err(bad_arg(format!("unknown message type {other:?}"))),
                };
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
        let bundle = PreKeyBundle {
            registration_id: session.registration_id,
            identity_key: session.identity_key.to_vec(),
            signed_pre_key_id: session.signed_pre_key.key_id,
            signed_pre_key: session.signed_pre_key.public_key.to_vec(),
            signed_pre_key_signature: session.signed_pre_key.signature.to_vec(),
            pre_key: session
                .pre_key
                .as_ref()
                .map(|k| (k.key_id, k.public_key.to_vec())),
        };
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
