//! The test server's napi addon: `wa-testserver` for the npm package `baileys-native-testing`
//! (`testing/index.js` shapes the JS API, `testing/index.d.ts` types it). It is its own cdylib,
//! apart from the main addon, so a production install carries no test server.
//! The server runs on this addon's tokio runtime and holds no JS handle, so it never keeps
//! Node alive. Structured results cross as JSON text.
#![deny(clippy::all)]

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use serde_json::json;
use wa_testserver::{
    FaultTarget, LoginRefusal, MediaRetryAnswer, NewsletterRole, ServerConfig, Stats,
    StreamErrorKind, TestServer, TestServerError,
};

// Errors reach JS with our code as a property, as in the main addon (see `wa_napi::errors`).
use wa_napi::errors::{Coded, JsFail, Result, coded};

/// Running servers by handle: JS holds a number, not a native object, so the typings stay
/// those of `testing/index.d.ts` and a forgotten handle costs nothing on the JS heap.
static SERVERS: Mutex<BTreeMap<u32, TestServer>> = Mutex::new(BTreeMap::new());
static NEXT: AtomicU32 = AtomicU32::new(1);

fn server(handle: u32) -> Result<TestServer> {
    SERVERS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&handle)
        .cloned()
        .ok_or_else(|| err(TestServerError::Stopped))
}

fn err(e: TestServerError) -> JsFail {
    coded(e.code(), e)
}

fn target(jid: Option<String>) -> FaultTarget {
    jid.map_or(FaultTarget::All, FaultTarget::Device)
}

fn stats_json(s: &Stats) -> String {
    json!({
        "connectionsOpened": s.connections_opened,
        "connectionsOpen": s.connections_open,
        "handshakesCompleted": s.handshakes_completed,
        "handshakeFailures": s.handshake_failures,
        "badFrames": s.bad_frames,
        "registrations": s.registrations,
        "pairings": s.pairings,
        "logins": s.logins,
        "loginsRefused": s.logins_refused,
        "preKeysUploaded": s.pre_keys_uploaded,
        "messagesReceived": s.messages_received,
        "messagesRouted": s.messages_routed,
        "duplicates": s.duplicates,
        "offlineDelivered": s.offline_delivered,
        "queuedNow": s.queued_now,
        "receiptsRelayed": s.receipts_relayed,
        "unknownIqs": s.unknown_iqs,
        "phoneReceived": s.phone_received,
        "phoneSent": s.phone_sent,
        "phoneDecryptFailures": s.phone_decrypt_failures,
        "phoneMediaRetries": s.phone_media_retries,
        "faultsInjected": s.faults_injected,
        "framesDropped": s.frames_dropped,
        "framesCorrupted": s.frames_corrupted,
    })
    .to_string()
}

/// Starts a server on 127.0.0.1. `seed` fixes every key; timers in ms override WhatsApp's.
/// The arguments are `startTestServer`'s options in order (`testing/index.js` spreads them).
#[allow(clippy::too_many_arguments)]
#[napi(js_name = "testServerStart", catch_unwind)]
pub async fn start(
    port: Option<u32>,
    seed: Option<Buffer>,
    handshake_timeout_ms: Option<u32>,
    qr_first_ttl_ms: Option<u32>,
    qr_next_ttl_ms: Option<u32>,
    pairing_timeout_ms: Option<u32>,
    media_max_bytes: Option<u32>,
    media_auth_ttl_ms: Option<u32>,
) -> Coded<u32> {
    Coded(
        async move {
            let mut config = match &seed {
                Some(s) => ServerConfig::seeded(s.as_ref()),
                None => ServerConfig::default(),
            };
            if let Some(v) = handshake_timeout_ms {
                config.handshake_timeout_ms = u64::from(v);
            }
            if let Some(v) = qr_first_ttl_ms {
                config.qr_first_ttl_ms = u64::from(v);
            }
            if let Some(v) = qr_next_ttl_ms {
                config.qr_next_ttl_ms = u64::from(v);
            }
            if let Some(v) = pairing_timeout_ms {
                config.pairing_timeout_ms = u64::from(v);
            }
            if let Some(v) = media_max_bytes {
                config.media_max_bytes = u64::from(v);
            }
            if let Some(v) = media_auth_ttl_ms {
                config.media_auth_ttl_ms = u64::from(v);
            }
            let port = u16::try_from(port.unwrap_or(0))
                .map_err(|_| coded("ERR_WA_TESTSERVER_IO", "port must be 0..65535"))?;
            let inner = TestServer::start(config, port).await.map_err(err)?;
            let handle = NEXT.fetch_add(1, Ordering::Relaxed);
            SERVERS
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(handle, inner);
            Ok(handle)
        }
        .await,
    )
}

#[napi(js_name = "testServerUrl", catch_unwind)]
pub fn url(handle: u32) -> Result<String> {
    Ok(server(handle)?.url())
}

#[napi(js_name = "testServerPort", catch_unwind)]
pub fn port(handle: u32) -> Result<u32> {
    Ok(u32::from(server(handle)?.addr().port()))
}

#[napi(js_name = "testServerRootPublicKey", catch_unwind)]
pub fn root_public_key(handle: u32) -> Result<Buffer> {
    Ok(server(handle)?.root_public_key().to_vec().into())
}

#[napi(js_name = "testServerMediaHost", catch_unwind)]
pub fn media_host(handle: u32) -> Result<String> {
    Ok(server(handle)?.media_host())
}

#[napi(js_name = "testServerMediaCaPem", catch_unwind)]
pub fn media_ca_pem(handle: u32) -> Result<String> {
    Ok(server(handle)?.media_ca_pem().to_owned())
}

#[napi(js_name = "testServerMediaExpire", catch_unwind)]
pub fn media_expire(handle: u32, direct_path: String) -> Result<()> {
    server(handle)?.expire_media(&direct_path).map_err(err)
}

#[napi(js_name = "testServerMediaCorrupt", catch_unwind)]
pub fn media_corrupt(handle: u32, direct_path: String, offset: u32) -> Result<()> {
    server(handle)?
        .corrupt_media(&direct_path, offset as usize)
        .map_err(err)
}

#[napi(js_name = "testServerMediaFile", catch_unwind)]
pub fn media_file(handle: u32, direct_path: String) -> Result<Buffer> {
    Ok(server(handle)?
        .media_file(&direct_path)
        .map_err(err)?
        .into())
}

#[napi(js_name = "testServerMediaPut", catch_unwind)]
pub fn media_put(handle: u32, encrypted: Buffer) -> Result<String> {
    Ok(server(handle)?.put_media(encrypted.to_vec()))
}

#[napi(js_name = "testServerMediaFileCount", catch_unwind)]
pub fn media_file_count(handle: u32) -> Result<u32> {
    Ok(u32::try_from(server(handle)?.media_file_count()).unwrap_or(u32::MAX))
}

#[napi(js_name = "testServerStats", catch_unwind)]
pub fn stats(handle: u32) -> Result<String> {
    Ok(stats_json(&server(handle)?.stats()))
}

#[napi(js_name = "testServerScanQr", catch_unwind)]
pub async fn scan_qr(
    handle: u32,
    qr: String,
    phone: String,
    push_name: Option<String>,
) -> Coded<String> {
    Coded(
        async move {
            server(handle)?
                .scan_qr(&qr, &phone, push_name.as_deref())
                .await
                .map_err(err)
        }
        .await,
    )
}

#[napi(js_name = "testServerEnterPairingCode", catch_unwind)]
pub async fn enter_pairing_code(handle: u32, phone: String, code: String) -> Coded<String> {
    Coded(
        async move {
            server(handle)?
                .enter_pairing_code(&phone, &code)
                .await
                .map_err(err)
        }
        .await,
    )
}

/// `{"jid": .., "lid": ..}` of the phone's account (created on first use).
#[napi(js_name = "testServerPhoneInfo", catch_unwind)]
pub fn phone_info(handle: u32, phone: String) -> Result<String> {
    let p = server(handle)?.phone(&phone).map_err(err)?;
    Ok(json!({ "jid": p.jid(), "lid": p.lid(), "number": p.number() }).to_string())
}

#[napi(js_name = "testServerPhoneSendText", catch_unwind)]
pub fn phone_send_text(handle: u32, phone: String, to: String, text: String) -> Result<String> {
    server(handle)?
        .phone(&phone)
        .and_then(|p| p.send_text(&to, &text))
        .map_err(err)
}

/// The phone sends any message (`proto.Message` bytes); returns its id.
#[napi(js_name = "testServerPhoneSendMessage", catch_unwind)]
pub fn phone_send_message(
    handle: u32,
    phone: String,
    to: String,
    message: Buffer,
) -> Result<String> {
    server(handle)?
        .phone(&phone)
        .and_then(|p| p.send_message_bytes(&to, &message))
        .map_err(err)
}

/// How the phone answers media retry requests (see `MediaRetryAnswer::parse`).
#[napi(js_name = "testServerPhoneSetMediaRetry", catch_unwind)]
pub fn phone_set_media_retry(
    handle: u32,
    phone: String,
    answer: String,
    code: Option<u32>,
) -> Result<()> {
    let answer = MediaRetryAnswer::parse(&answer, code).map_err(err)?;
    server(handle)?
        .phone(&phone)
        .and_then(|p| p.set_media_retry_answer(answer))
        .map_err(err)
}

/// The inbox as a JSON array of WAMessage-shaped objects.
#[napi(js_name = "testServerPhoneInbox", catch_unwind)]
pub fn phone_inbox(handle: u32, phone: String) -> Result<String> {
    let p = server(handle)?.phone(&phone).map_err(err)?;
    Ok(inbox_json(&p.inbox()))
}

#[napi(js_name = "testServerPhoneWaitForInbox", catch_unwind)]
pub async fn phone_wait_for_inbox(
    handle: u32,
    phone: String,
    count: u32,
    timeout_ms: u32,
) -> Coded<String> {
    Coded(
        async move {
            let p = server(handle)?.phone(&phone).map_err(err)?;
            let inbox = p
                .wait_for_inbox(count as usize, u64::from(timeout_ms))
                .await
                .map_err(err)?;
            Ok(inbox_json(&inbox))
        }
        .await,
    )
}

/// Receipts for the phone's own messages: `[{id, from, type}]`.
#[napi(js_name = "testServerPhoneReceipts", catch_unwind)]
pub fn phone_receipts(handle: u32, phone: String) -> Result<String> {
    let p = server(handle)?.phone(&phone).map_err(err)?;
    Ok(receipts_json(&p.receipts()))
}

#[napi(js_name = "testServerPhoneWaitForReceipts", catch_unwind)]
pub async fn phone_wait_for_receipts(
    handle: u32,
    phone: String,
    count: u32,
    timeout_ms: u32,
    skip: Option<u32>,
) -> Coded<String> {
    Coded(
        async move {
            let p = server(handle)?.phone(&phone).map_err(err)?;
            // A reader following the receipts as they come reads only the new ones.
            let r = p
                .wait_for_receipts_from(
                    skip.unwrap_or(0) as usize,
                    count as usize,
                    u64::from(timeout_ms),
                )
                .await
                .map_err(err)?;
            Ok(receipts_json(&r))
        }
        .await,
    )
}

/// Makes `count` accounts (`{prefix}{index:06}`) with `devices` devices each: the phone and
/// silent companions with real keys (for benchmarks of big groups).
#[napi(js_name = "testServerSeedAccounts", catch_unwind)]
pub fn seed_accounts(handle: u32, prefix: String, count: u32, devices: u32) -> Result<Vec<String>> {
    let devices = u16::try_from(devices)
        .map_err(|_| coded("ERR_WA_TESTSERVER_BAD_OPTION", "devices: at most 65535"))?;
    server(handle)?
        .seed_accounts(&prefix, count as usize, devices)
        .map_err(err)
}

/// A newsletter as the server keeps it, as JSON (`testing/index.js` parses it): id, name,
/// description, invite, owner, admins, followers, muted (phone-number JIDs), pictureId,
/// deleted, messages `[{serverId, id, t, type, plaintext (base64), reactions, views}]`.
#[napi(js_name = "testServerNewsletter", catch_unwind)]
pub fn newsletter(handle: u32, jid: String) -> Result<String> {
    let n = server(handle)?.newsletter(&jid).map_err(err)?;
    serde_json::to_string(&n).map_err(|e| coded("ERR_WA_TESTSERVER_IO", e))
}

/// Makes `user` an `ADMIN` or a `SUBSCRIBER` of a newsletter (Baileys cannot promote).
#[napi(js_name = "testServerNewsletterSetRole", catch_unwind)]
pub fn newsletter_set_role(handle: u32, jid: String, user: String, role: String) -> Result<()> {
    let role = match NewsletterRole::parse(&role) {
        Some(r @ (NewsletterRole::Admin | NewsletterRole::Subscriber)) => r,
        _ => {
            return Err(coded(
                "ERR_WA_TESTSERVER_BAD_OPTION",
                "role must be 'ADMIN' or 'SUBSCRIBER'",
            ));
        }
    };
    server(handle)?
        .newsletter_set_role(&jid, &user, role)
        .map_err(err)
}

/// The owner's phone posts a text to a newsletter; its server id.
#[napi(js_name = "testServerPhonePostNewsletter", catch_unwind)]
pub fn phone_post_newsletter(handle: u32, jid: String, text: String) -> Result<i64> {
    let id = server(handle)?
        .phone_post_newsletter(&jid, &text)
        .map_err(err)?;
    // Server ids count up from 100 per newsletter: far below 2^53.
    Ok(i64::try_from(id).unwrap_or(i64::MAX))
}

/// The phone of `creator` makes a group with `members` (numbers or user JIDs); its JID.
#[napi(js_name = "testServerPhoneCreateGroup", catch_unwind)]
pub fn phone_create_group(
    handle: u32,
    creator: String,
    subject: String,
    members: Vec<String>,
) -> Result<String> {
    server(handle)?
        .phone_create_group(&creator, &subject, &members)
        .map_err(err)
}

/// The phone of `actor` adds (`action` "add") or removes ("remove") members of a group.
#[napi(js_name = "testServerPhoneUpdateGroup", catch_unwind)]
pub fn phone_update_group(
    handle: u32,
    group: String,
    actor: String,
    action: String,
    members: Vec<String>,
) -> Result<()> {
    let add = match action.as_str() {
        "add" => true,
        "remove" => false,
        _ => {
            return Err(coded(
                "ERR_WA_TESTSERVER_BAD_OPTION",
                "action must be 'add' or 'remove'",
            ));
        }
    };
    server(handle)?
        .phone_update_group(&group, &actor, add, &members)
        .map_err(err)
}

#[napi(js_name = "testServerDevices", catch_unwind)]
pub fn devices(handle: u32, phone: String) -> Result<Vec<String>> {
    server(handle)?.devices(&phone).map_err(err)
}

#[napi(js_name = "testServerQueued", catch_unwind)]
pub fn queued(handle: u32, jid: String) -> Result<u32> {
    Ok(server(handle)?.queued(&jid) as u32)
}

#[napi(js_name = "testServerWaitForQueued", catch_unwind)]
pub async fn wait_for_queued(handle: u32, jid: String, count: u32, timeout_ms: u32) -> Coded<()> {
    Coded(
        async move {
            server(handle)?
                .wait_for_queued(&jid, count as usize, u64::from(timeout_ms))
                .await
                .map_err(err)
        }
        .await,
    )
}

#[napi(js_name = "testServerIsOnline", catch_unwind)]
pub fn is_online(handle: u32, jid: String) -> Result<bool> {
    Ok(server(handle)?.is_online(&jid))
}

#[napi(js_name = "testServerWaitForOnline", catch_unwind)]
pub async fn wait_for_online(handle: u32, jid: String, online: bool, timeout_ms: u32) -> Coded<()> {
    Coded(
        async move {
            server(handle)?
                .wait_for_online(&jid, online, u64::from(timeout_ms))
                .await
                .map_err(err)
        }
        .await,
    )
}

#[napi(js_name = "testServerDropConnections", catch_unwind)]
pub fn drop_connections(handle: u32, jid: Option<String>) -> Result<u32> {
    Ok(server(handle)?.drop_connections(&target(jid)) as u32)
}

#[napi(js_name = "testServerDelayFrames", catch_unwind)]
pub fn delay_frames(handle: u32, jid: Option<String>, ms: u32) -> Result<u32> {
    Ok(server(handle)?.delay_frames(&target(jid), u64::from(ms)) as u32)
}

#[napi(js_name = "testServerStall", catch_unwind)]
pub fn stall(handle: u32, jid: Option<String>, ms: u32) -> Result<u32> {
    Ok(server(handle)?.stall(&target(jid), u64::from(ms)) as u32)
}

#[napi(js_name = "testServerCorruptFrame", catch_unwind)]
pub fn corrupt_frame(handle: u32, jid: Option<String>) -> Result<u32> {
    Ok(server(handle)?.corrupt_frame(&target(jid)) as u32)
}

#[napi(js_name = "testServerDropFrames", catch_unwind)]
pub fn drop_frames(handle: u32, jid: Option<String>, count: u32) -> Result<u32> {
    Ok(server(handle)?.drop_frames(&target(jid), count) as u32)
}

#[napi(js_name = "testServerStreamError", catch_unwind)]
pub fn stream_error(handle: u32, jid: Option<String>, code: u32) -> Result<u32> {
    let code = u16::try_from(code).unwrap_or(500);
    Ok(server(handle)?.send_stream_error(&target(jid), StreamErrorKind::from_code(code)) as u32)
}

/// Refuses logins for `ms`: with `<failure reason=code>` when `failure`, else a stream
/// error with `code` (503 by default).
#[napi(js_name = "testServerRefuseLogins", catch_unwind)]
pub fn refuse_logins(handle: u32, ms: u32, code: Option<u32>, failure: Option<bool>) -> Result<()> {
    let code = code.and_then(|c| u16::try_from(c).ok()).unwrap_or(503);
    let refusal = if failure.unwrap_or(false) {
        LoginRefusal::Failure(code)
    } else {
        LoginRefusal::StreamError(code)
    };
    server(handle)?.refuse_logins(u64::from(ms), refusal);
    Ok(())
}

#[napi(js_name = "testServerRemoveDevice", catch_unwind)]
pub fn remove_device(handle: u32, jid: String) -> Result<()> {
    server(handle)?.remove_device(&jid).map_err(err)
}

#[napi(js_name = "testServerStop", catch_unwind)]
pub async fn stop(handle: u32) -> Coded<()> {
    Coded(
        async move {
            let server = SERVERS
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&handle);
            if let Some(s) = server {
                s.stop().await;
            }
            Ok(())
        }
        .await,
    )
}

fn inbox_json(inbox: &[wa_testserver::InboxMessage]) -> String {
    serde_json::Value::Array(inbox.iter().map(|m| m.to_json()).collect()).to_string()
}

fn receipts_json(r: &[wa_testserver::PhoneReceipt]) -> String {
    serde_json::Value::Array(
        r.iter()
            .map(|r| json!({ "id": r.id, "from": r.from, "type": r.kind }))
            .collect(),
    )
    .to_string()
}
