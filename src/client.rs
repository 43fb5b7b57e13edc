//! The socket for JavaScript: one `wa_client::Client` per `makeWASocket` (lib/socket.js).
//!
//! Events cross as batches: a task drains the client's event channel and hands each batch
//! (`{ ack, events }`: `events` a JSON array of `{ name, data }`, bytes in BufferJSON; `ack`
//! the batch's number when something waits for it) to the app: by a direct call when the
//! socket runs on Node's loop (`event_loop`), else through one ThreadsafeFunction per socket,
//! called NonBlocking. The batch's messages leave the inbox (and the acks of receipts in it go to
//! the server) only when lib/socket.js calls `delivered(ack)`, after the listeners had the
//! batch (see wa-client's `delivery`). That function keeps Node alive while the socket is connected
//! and is released right after the `connection: 'close'` update, so a closed socket never
//! holds the process open. Nodes for `sendNode`/`query` cross as encoded frames.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use napi::JsValue;
use napi::Status;
use napi::bindgen_prelude::{Buffer, Env, Function, Object, Promise};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use wa_client::retry::{MessageSource, SharedSource};
use wa_client::{Browser, Client, ClientError, Config, Delivery, Disconnect};
use wa_store::{AuthenticationCreds, BoxFuture, StoreError};

use crate::compat;
use crate::errors::{Coded, JsFail, Result, coded};
use crate::event_loop;
use crate::logging;
use crate::store::NativeKeys;
use crate::trim;

/// `relayMessage`'s options that reach the stanza.
#[napi(object)]
#[derive(Default)]
pub struct RelayOptions {
    pub message_id: Option<String>,
    pub additional_attributes: Option<HashMap<String, String>>,
    /// Each node encoded with `encodeBinaryNode`.
    pub additional_nodes: Option<Vec<Buffer>>,
    /// The group's metadata from the app's `cachedGroupMetadata`, as JSON.
    pub group_metadata: Option<String>,
    /// Who may see a status (`status@broadcast`).
    pub status_jid_list: Option<Vec<String>>,
}

/// The protocol-relevant part of Baileys' `SocketConfig` (lib/socket.js fills the defaults).
#[napi(object)]
pub struct SocketOptions {
    pub url: String,
    /// The root key the server's intermediate certificate must be signed by (32 bytes).
    pub wa_cert_public_key: Option<Buffer>,
    /// `[os, browser, version]`.
    pub browser: Vec<String>,
    pub version: Vec<u32>,
    pub country_code: String,
    pub sync_full_history: bool,
    pub connect_timeout_ms: u32,
    pub keep_alive_interval_ms: u32,
    pub default_query_timeout_ms: u32,
    pub qr_timeout_ms: Option<u32>,
    pub emit_own_events: bool,
    /// The app logger's level (pino's names); records below it are not even formatted.
    pub log_level: Option<String>,
    /// Baileys' `markOnlineOnConnect` (default true).
    pub mark_online_on_connect: Option<bool>,
}

type EventsTsfn = ThreadsafeFunction<String, (), String, Status, false>;

pub(crate) fn client_err(e: ClientError) -> JsFail {
    match &e {
        // The server's own code and text travel as properties: lib/ makes Baileys' Boom of them.
        ClientError::Server { code, text } => {
            let (code, text) = (code.to_string(), text.clone());
            coded(e.code(), e).with("status", code).with("text", text)
        }
        _ => coded(e.code(), e),
    }
}

fn config(o: &SocketOptions) -> Result<Config> {
    let mut c = Config {
        url: o.url.clone(),
        country_code: o.country_code.clone(),
        sync_full_history: o.sync_full_history,
        connect_timeout: Duration::from_millis(o.connect_timeout_ms.max(1).into()),
        keep_alive_interval: Duration::from_millis(o.keep_alive_interval_ms.max(1000).into()),
        default_query_timeout: Duration::from_millis(o.default_query_timeout_ms.max(1).into()),
        qr_timeout: o.qr_timeout_ms.map(|m| Duration::from_millis(m.into())),
        emit_own_events: o.emit_own_events,
        mark_online_on_connect: o.mark_online_on_connect.unwrap_or(true),
        ..Config::default()
    };
    if let Some(k) = &o.wa_cert_public_key {
        c.trust_root = k
            .as_ref()
            .try_into()
            .map_err(|_| coded("ERR_WA_CLIENT_ARGUMENT", "waCertPublicKey must be 32 bytes"))?;
    }
    if let [os, name, version] = o.browser.as_slice() {
        c.browser = Browser::new(os, name, version);
    }
    if let [a, b, d] = o.version.as_slice() {
        c.version = [*a, *b, *d];
    }
    Ok(c)
}

/// The app's `getMessage` (or the socket's store) for retry receipts: called with the key as
/// JSON text (`{ remoteJid, remoteJidAlt?, fromMe: true, id }`), answering the message as
/// `proto.Message` bytes, or nothing.
struct JsMessageSource {
    tsfn: ThreadsafeFunction<String, Promise<Option<Buffer>>, String, Status, false, true>,
}

impl MessageSource for JsMessageSource {
    fn sent_message<'a>(
        &'a self,
        chat: &'a str,
        alt: Option<&'a str>,
        id: &'a str,
    ) -> BoxFuture<'a, Option<wa_proto::Message>> {
        Box::pin(async move {
            let failed = |e: napi::Error| StoreError::Engine {
                op: "getMessage",
                message: e.reason,
            };
            let key = serde_json::json!({
                "remoteJid": chat,
                "remoteJidAlt": alt,
                "fromMe": true,
                "id": id,
            })
            .to_string();
            let call = async {
                self.tsfn
                    .call_async(key)
                    .await
                    .map_err(failed)?
                    .await
                    .map_err(failed)
            };
            let bytes = tokio::time::timeout(GET_MESSAGE_TIMEOUT, call)
                .await
                .map_err(|_| StoreError::Timeout {
                    op: "getMessage",
                    ms: GET_MESSAGE_TIMEOUT.as_millis() as u64,
                })??;
            bytes
                .map(|b| {
                    <wa_proto::Message as prost::Message>::decode(b.as_ref()).map_err(|e| {
                        StoreError::EngineResult {
                            op: "getMessage",
                            detail: format!("not a proto.Message: {e}"),
                        }
                    })
                })
                .transpose()
        })
    }
}

/// Runs `task` on Node's loop when the socket lives there, else on tokio's worker.
fn spawn_on(home: Option<&Arc<event_loop::Loop>>, task: impl Future<Output = ()> + Send + 'static) {
    match home {
        Some(l) => l.spawn(Box::pin(task)),
        None => {
            napi::bindgen_prelude::spawn(task);
        }
    }
}

/// How long a retry waits for the app's `getMessage`.
const GET_MESSAGE_TIMEOUT: Duration = Duration::from_secs(30);

/// Batches handed to JavaScript whose deliveries wait for `delivered(batch)`. A batch never
/// confirmed (the socket object collected first) leaves its messages in the inbox for the
/// next login.
#[derive(Clone, Default)]
struct Waiting(Arc<Mutex<foldhash::HashMap<u32, Vec<Delivery>>>>);

impl Waiting {
    fn lock(&self) -> std::sync::MutexGuard<'_, foldhash::HashMap<u32, Vec<Delivery>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn put(&self, batch: u32, d: Vec<Delivery>) {
        self.lock().insert(batch, d);
    }

    fn confirm(&self, batch: u32) -> bool {
        let Some(ds) = self.lock().remove(&batch) else {
            return false;
        };
        for d in ds {
            d.confirm();
        }
        true
    }
}

/// A connection to WhatsApp (or a test server) with Baileys' socket behaviour.
#[napi]
pub struct NativeSocket {
    pub(crate) client: Client,
    /// Deliveries of the batches JavaScript has not confirmed yet.
    waiting: Waiting,
    /// Routes this socket's `tracing` records to its JS logger while the socket object lives.
    _log: Option<logging::Registration>,
    /// Node's loop, when the socket runs on it (see `event_loop`).
    home: Option<Arc<event_loop::Loop>>,
    /// The socket's span: work a JavaScript call starts runs in it, so that its records reach
    /// this socket's logger (outside it they went to stderr, past a silent logger).
    pub(crate) span: tracing::Span,
}

impl NativeSocket {
    /// A promise of `work`'s outcome; the work runs where the socket does, so on Node's loop
    /// a send's promise settles without another thread.
    fn settle<'e>(
        &self,
        env: &'e Env,
        work: impl Future<Output = std::result::Result<String, JsFail>> + Send + 'static,
    ) -> Result<Object<'e>> {
        let work = tracing::Instrument::instrument(work, self.span.clone());
        if let Some(home) = &self.home {
            let (promise, value) = event_loop::LoopPromise::new(home.clone(), env)?;
            home.spawn(Box::pin(async move { promise.settle(work.await) }));
            return Ok(Object::from_raw(env.raw(), value));
        }
        let (deferred, promise) = env.create_deferred()?;
        napi::bindgen_prelude::spawn(async move {
            let outcome = work.await;
            deferred.resolve(move |env| outcome.map_err(|f| crate::errors::rejection(env, f)));
        });
        Ok(promise)
    }
}

#[napi]
impl NativeSocket {
    /// Starts connecting with the given credentials (`creds.json` text) and key store;
    /// `onEvents` receives every batch of events as JSON text (a batch of one plain received
    /// text as lines instead, see src/compat/received.rs), `onLog` every log record of
    /// this socket (`{ level, msg, target, fields }` as JSON text).
    #[napi(factory, catch_unwind)]
    pub fn connect(
        env: &Env,
        options: SocketOptions,
        creds_json: String,
        keys: &NativeKeys,
        on_events: Function<String, ()>,
        on_log: Option<Function<String, ()>>,
        get_message: Option<Function<String, Promise<Option<Buffer>>>>,
    ) -> Result<Self> {
        let mut cfg = config(&options)?;
        if let Some(f) = get_message {
            let tsfn = f
                .build_threadsafe_function()
                .callee_handled::<false>()
                .weak::<true>()
                .build()?;
            cfg.message_source = Some(SharedSource(Arc::new(JsMessageSource { tsfn })));
        }
        let creds = AuthenticationCreds::from_json(creds_json.as_bytes())
            .map_err(|e| coded(e.code(), e))?;
        let home = event_loop::current(env);
        // On Node's loop the batches are handed over by a direct call; the thread-safe
        // function then only keeps Node alive while the socket is connected.
        let direct = home
            .clone()
            .and_then(|l| event_loop::JsCallback::new(l, env, on_events.raw()));
        let tsfn: EventsTsfn = on_events
            .build_threadsafe_function()
            .callee_handled::<false>()
            .build()?;
        let store = keys.store.clone();
        logging::install();
        let id = logging::next_socket_id();
        let log = match on_log {
            Some(f) => {
                let rank = logging::rank_of_pino(options.log_level.as_deref());
                let tsfn: logging::LogTsfn = f
                    .build_threadsafe_function()
                    .callee_handled::<false>()
                    .weak::<true>()
                    .max_queue_size::<{ logging::QUEUE }>()
                    .build()?;
                (rank > 0).then(|| logging::register(id, tsfn, rank))
            }
            None => None,
        };
        let batcher_home = home.clone();
        cfg.runner = home.as_ref().map(event_loop::runner);
        let span = tracing::info_span!(logging::SOCKET_SPAN, socket = id);
        let socket_span = span.clone();
        let waiting = Waiting::default();
        let batches = waiting.clone();
        let client = napi::bindgen_prelude::within_runtime_if_available(move || {
            let (client, mut events) = span.in_scope(|| Client::connect(cfg, creds, store));
            let waiting = batches;
            let batcher = async move {
                let mut batch = Vec::new();
                let mut deliveries = Vec::new();
                let mut next_batch: u32 = 0;
                while let Some(first) = events.recv_pending().await {
                    let (e, d) = first;
                    batch.push(e);
                    deliveries.extend(d);
                    while batch.len() < 256 {
                        match events.try_recv_pending() {
                            Ok((e, d)) => {
                                batch.push(e);
                                deliveries.extend(d);
                            }
                            Err(_) => break,
                        }
                    }
                    let closed = batch.iter().any(wa_client::Event::is_close);
                    if batch.iter().any(wa_client::Event::ends_burst) {
                        trim::soon();
                    }
                    let ack = if deliveries.is_empty() {
                        None
                    } else {
                        next_batch = next_batch.wrapping_add(1);
                        waiting.put(next_batch, std::mem::take(&mut deliveries));
                        Some(next_batch)
                    };
                    let mut text = Vec::with_capacity(512);
                    // One plain text or one status update (most batches) goes as lines;
                    // anything else as JSON.
                    let lines = match batch.as_mut_slice() {
                        [one] => {
                            compat::received::write_batch(one, ack, &mut text)
                                || compat::status::write_batch(one, ack, &mut text)
                        }
                        _ => false,
                    };
                    if lines {
                        batch.clear();
                    } else {
                        text.extend_from_slice(br#"{"ack":"#);
                        match ack {
                            Some(a) => text.extend_from_slice(a.to_string().as_bytes()),
                            None => text.extend_from_slice(b"null"),
                        }
                        text.extend_from_slice(br#","events":["#);
                        for (i, e) in batch.drain(..).enumerate() {
                            if i > 0 {
                                text.push(b',');
                            }
                            compat::write_event(&e, &mut text);
                        }
                        text.extend_from_slice(b"]}");
                    }
                    // Every piece is UTF-8 (JSON printed from Rust strings).
                    let json = String::from_utf8(text)
                        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
                    match direct.as_ref().and_then(|d| d.call(&json)) {
                        // The listeners had the batch before the call returned (no event
                        // buffer held it): confirmed here instead of by `delivered(batch)`.
                        Some(true) => {
                            if let Some(ack) = ack {
                                waiting.confirm(ack);
                            }
                        }
                        Some(false) => {}
                        None => {
                            tsfn.call(json, ThreadsafeFunctionCallMode::NonBlocking);
                        }
                    }
                    if closed {
                        break;
                    }
                }
                // Dropping the function releases it: Node may exit once the socket closed.
                drop(tsfn);
                drop(direct);
            };
            spawn_on(batcher_home.as_ref(), batcher);
            client
        });
        Ok(Self {
            client,
            waiting,
            _log: log,
            home,
            span: socket_span,
        })
    }

    /// `sendMessage(jid, { text })`: resolves with the WAMessage as JSON once the server acked.
    /// Synchronous up to the promise: the send takes its place in the chat's order during this
    /// call, so sends made one after another go out in that order even when nobody awaits.
    /// No own-message event comes from here: the caller emits the message it resolves with
    /// (one JSON of it instead of two, and the same object in the event and the result, as
    /// in Baileys).
    ///
    /// With `brief`, a message with nothing but what every 1:1 text has resolves with those
    /// parts instead (see [`compat::brief_text`]), for the caller to make the object from the
    /// text it holds: printing the message as JSON, parsing it and reviving its secret were
    /// about 7% of a text sent's CPU in a profile. `brief` is for a caller whose `text` came
    /// through unchanged (no lone surrogates).
    #[napi(catch_unwind, ts_return_type = "Promise<string>")]
    pub fn send_text<'e>(
        &self,
        env: &'e Env,
        jid: String,
        text: String,
        brief: Option<bool>,
    ) -> Result<Object<'e>> {
        let options = wa_client::SendOptions {
            no_own_event: true,
            ..Default::default()
        };
        let sending = self.client.send_text_with(&jid, &text, options);
        let brief = brief.unwrap_or(false);
        self.settle(env, async move {
            sending
                .await
                .map(|msg| {
                    brief
                        .then(|| compat::brief_text(&msg))
                        .flatten()
                        .unwrap_or_else(|| compat::wa_message_text(&msg))
                })
                .map_err(client_err)
        })
    }

    /// Baileys' `relayMessage(jid, message, { messageId, additionalAttributes,
    /// additionalNodes })` with the message as `proto.Message` bytes and each additional node
    /// as an encoded frame; resolves with the WAMessage as JSON once the server acked. Like
    /// `sendText`, it takes its place in the chat's order during this call.
    #[napi(catch_unwind, ts_return_type = "Promise<string>")]
    pub fn relay_message<'e>(
        &self,
        env: &'e Env,
        jid: String,
        message: Buffer,
        options: Option<RelayOptions>,
    ) -> Result<Object<'e>> {
        let message =
            <wa_proto::Message as prost::Message>::decode(message.as_ref()).map_err(|e| {
                coded(
                    wa_client::error::code::ARGUMENT,
                    format!("message is not a proto.Message: {e}"),
                )
            })?;
        let options = options.unwrap_or_default();
        let mut send = wa_client::SendOptions {
            id: options.message_id,
            status_jid_list: options.status_jid_list,
            ..Default::default()
        };
        for (k, v) in options.additional_attributes.unwrap_or_default() {
            send.attrs.push((k, v));
        }
        for frame in options.additional_nodes.unwrap_or_default() {
            let node = wa_binary::decode_frame(frame.as_ref()).map_err(|e| coded(e.code(), e))?;
            send.nodes.push(node);
        }
        if let Some(text) = options.group_metadata {
            let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                coded(
                    wa_client::error::code::ARGUMENT,
                    format!("cachedGroupMetadata's answer is not JSON: {e}"),
                )
            })?;
            send.group = compat::groups::metadata_from_json(&v).map(std::sync::Arc::new);
        }
        let sending = self.client.relay_message(&jid, message, send);
        self.settle(env, async move {
            sending
                .await
                .map(|msg| compat::wa_message_text(&msg))
                .map_err(client_err)
        })
    }

    /// Baileys' `refreshMediaConn(forceGet)`: the upload hosts and auth token (cached until
    /// its `ttl` passes), as JSON `{ hosts: [{ hostname, maxContentLengthBytes }], auth, ttl,
    /// fetchDate }` (fetchDate in ms since the epoch).
    #[napi(catch_unwind)]
    pub async fn refresh_media_conn(&self, force: Option<bool>) -> Coded<String> {
        Coded(
            async move {
                let c = self
                    .client
                    .media_conn(force.unwrap_or(false))
                    .await
                    .map_err(crate::media::media_err)?;
                let hosts: Vec<_> = c
                    .hosts
                    .iter()
                    .map(|h| {
                        serde_json::json!({
                            "hostname": h.hostname,
                            "maxContentLengthBytes": h.max_content_length_bytes,
                        })
                    })
                    .collect();
                Ok(serde_json::json!({
                    "hosts": hosts,
                    "auth": c.auth,
                    "ttl": c.ttl,
                    "fetchDate": c.fetch_date,
                })
                .to_string())
            }
            .await,
        )
    }

    /// Uploads an encrypted file (from `encryptMediaFile`) to the `media_conn` hosts; resolves
    /// with `{ mediaUrl, directPath, meta_hmac, fbid, ts }` as JSON (Baileys' upload result).
    #[napi(catch_unwind)]
    pub async fn upload_media(
        &self,
        enc_file_path: String,
        media_type: String,
        file_enc_sha256: Buffer,
        timeout_ms: Option<u32>,
    ) -> Coded<String> {
        Coded(
            async move {
                let http = crate::media::http()?;
                let r = self
                    .client
                    .upload_media(
                        &http,
                        std::path::Path::new(&enc_file_path),
                        &media_type,
                        &file_enc_sha256,
                        timeout_ms.map(|t| Duration::from_millis(u64::from(t))),
                    )
                    .await
                    .map_err(crate::media::media_err)?;
                Ok(serde_json::json!({
                    "mediaUrl": r.url,
                    "directPath": r.direct_path,
                    "meta_hmac": r.meta_hmac,
                    "fbid": r.fbid,
                    "ts": r.ts,
                })
                .to_string())
            }
            .await,
        )
    }

    /// The host a `directPath` is fetched from (Baileys' `getMediaHost`): the first
    /// `media_conn` host, fetched first when none is cached and `fetch` is set (a failed fetch
    /// leaves WhatsApp's default).
    #[napi(catch_unwind)]
    pub async fn media_host(&self, fetch: bool) -> String {
        if fetch && let Err(e) = self.client.media_conn(false).await {
            tracing::debug!(code = e.code(), "media_conn for the media host failed");
        }
        self.client.media_host().await
    }

    #[napi(catch_unwind)]
    pub async fn request_pairing_code(
        &self,
        phone_number: String,
        custom_code: Option<String>,
    ) -> Coded<String> {
        Coded(
            async move {
                self.client
                    .request_pairing_code(&phone_number, custom_code.as_deref())
                    .await
                    .map_err(client_err)
            }
            .await,
        )
    }

    #[napi(catch_unwind)]
    pub async fn logout(&self) -> Coded<()> {
        Coded(async move { self.client.logout().await.map_err(client_err) }.await)
    }

    /// Closes the connection; `statusCode`/`message` become `lastDisconnect.error`.
    #[napi(catch_unwind)]
    pub fn end(&self, status_code: Option<u32>, message: Option<String>) {
        let why = status_code.map(|s| {
            Disconnect::new(
                u16::try_from(s).unwrap_or(500),
                wa_client::error::code::CLOSED,
                message.unwrap_or_else(|| "Connection Closed".into()),
            )
        });
        self.client.end(why);
    }

    /// The JavaScript listeners have had event batch `batch` (after any buffering): the
    /// server's receipts and acks for it go out, its inbox entries are done. Returns whether
    /// that batch was waiting.
    #[napi(catch_unwind)]
    pub fn delivered(&self, batch: u32) -> bool {
        self.waiting.confirm(batch)
    }

    #[napi(getter)]
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// Sends an encoded node (a frame from `encodeBinaryNode`).
    #[napi(catch_unwind)]
    pub async fn send_node(&self, frame: Buffer) -> Coded<()> {
        Coded(
            async move {
                let node =
                    wa_binary::decode_frame(frame.as_ref()).map_err(|e| coded(e.code(), e))?;
                self.client.send_node(node).await.map_err(client_err)
            }
            .await,
        )
    }

    /// Sends an encoded IQ and resolves with the encoded answer.
    #[napi(catch_unwind)]
    pub async fn query(&self, frame: Buffer, timeout_ms: Option<u32>) -> Coded<Buffer> {
        Coded(
            async move {
                let node =
                    wa_binary::decode_frame(frame.as_ref()).map_err(|e| coded(e.code(), e))?;
                let reply = self
                    .client
                    .query(node, timeout_ms.map(|t| Duration::from_millis(t.into())))
                    .await
                    .map_err(client_err)?;
                let bytes = wa_binary::encode_frame(&reply).map_err(|e| coded(e.code(), e))?;
                Ok(bytes.into())
            }
            .await,
        )
    }
}
