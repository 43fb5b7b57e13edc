//! The runtime layer: a small tokio driver around [`Core`] (websocket in and out, the timer,
//! commands from handles) and the work that needs the key store (post-login prekeys, the
//! receive pipeline, sending). One [`Client`] is one connection attempt, as one Baileys
//! socket is: after it closes, make a new one with the same credentials and keys.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::Message as WsMessage;
use wa_binary::{Jid, Node, Server};
use wa_signal::{MessageKind, ProtocolAddress, SenderKeyName, SignalProtocol};
use wa_store::{AuthenticationCreds, KeyStore, KeyType, KeyWrites};

use crate::config::{Config, INITIAL_PREKEY_COUNT, MIN_PREKEY_COUNT, ORIGIN};
use crate::core::{Core, Output, SharedCreds, creds_patch, lock};
use crate::error::{ClientError, Disconnect, reason};
use crate::event::Event;
use crate::nodes::{self, S_WHATSAPP_NET};
use crate::pair;
use crate::proto_json;
use crate::signal_store::{self, KeyStoreSignal};

/// How long a device list stays cached (Baileys' `USER_DEVICES` TTL).
const DEVICE_TTL: Duration = Duration::from_secs(300);
/// Retry receipts per message before giving up (Baileys' `maxMsgRetryCount`).
const MAX_RETRIES: u32 = 5;
/// Sent messages kept for resending on a retry receipt.
const RECENT_CAP: usize = 512;

/// A bounded map of the messages we sent lately, oldest evicted first.
#[derive(Default)]
struct Recent {
    map: HashMap<String, (String, wa_proto::Message)>,
    order: std::collections::VecDeque<String>,
}

impl Recent {
    fn put(&mut self, id: String, chat: String, msg: wa_proto::Message) {
        if self.map.insert(id.clone(), (chat, msg)).is_none() {
            self.order.push_back(id);
        }
        while self.order.len() > RECENT_CAP {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

enum Command {
    Send(Node, oneshot::Sender<Result<(), ClientError>>),
    Query(
        Node,
        Option<u64>,
        oneshot::Sender<Result<Node, ClientError>>,
    ),
    /// Sends a node whose id the server acks (a message) and waits for that ack.
    SendAwaitAck(Node, oneshot::Sender<Result<Node, ClientError>>),
    /// Closes, after writing a last node if given. One command, so that the server ending the
    /// stream in answer to that node cannot be seen before the close that explains it.
    Close(Disconnect, Option<Node>),
}

enum Work {
    LoggedIn(Node),
    Stanza(Node),
}

struct Inner {
    config: Config,
    creds: SharedCreds,
    keys: Arc<dyn KeyStore>,
    signal: SignalProtocol<KeyStoreSignal>,
    cmd: mpsc::UnboundedSender<Command>,
    events: mpsc::UnboundedSender<Event>,
    devices: std::sync::Mutex<HashMap<String, (Instant, Vec<String>)>>,
    retries: std::sync::Mutex<HashMap<String, u32>>,
    /// Messages we sent lately, for resending on a retry receipt: id -> (chat, message).
    recent: std::sync::Mutex<Recent>,
    prekeys: tokio::sync::Mutex<()>,
    closed: AtomicBool,
}

/// A handle on one connection. Cheap to clone; every clone talks to the same connection.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

/// The events of a connection; ends when the connection has closed.
pub type Events = mpsc::UnboundedReceiver<Event>;

impl Client {
    /// Starts connecting. Events (starting with `connection.update { connection:
    /// 'connecting' }`) arrive on the returned receiver.
    pub fn connect(
        config: Config,
        creds: AuthenticationCreds,
        keys: Arc<dyn KeyStore>,
    ) -> (Client, Events) {
        let creds: SharedCreds = Arc::new(std::sync::Mutex::new(creds));
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let (work_tx, work_rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            signal: SignalProtocol::new(KeyStoreSignal::new(keys.clone(), creds.clone())),
            config,
            creds,
            keys,
            cmd: cmd_tx,
            events: ev_tx,
            devices: std::sync::Mutex::new(HashMap::new()),
            retries: std::sync::Mutex::new(HashMap::new()),
            recent: std::sync::Mutex::new(Recent::default()),
            prekeys: tokio::sync::Mutex::new(()),
            closed: AtomicBool::new(false),
        });
        let client = Client { inner };
        tokio::spawn(drive(client.clone(), cmd_rx, work_tx));
        tokio::spawn(work(client.clone(), work_rx));
        (client, ev_rx)
    }

    /// A copy of the current credentials.
    /// The key store this connection uses.
    pub fn key_store(&self) -> &Arc<dyn KeyStore> {
        &self.inner.keys
    }

    pub fn creds(&self) -> AuthenticationCreds {
        lock(&self.inner.creds).clone()
    }

    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::SeqCst)
    }

    fn emit(&self, e: Event) {
        let _ = self.inner.events.send(e);
    }

    fn log(&self, level: &'static str, msg: impl Into<String>) {
        self.emit(Event::log(level, msg, json!({})));
    }

    /// Logs a failure: the stable code at `level`, the details (which may name JIDs or Signal
    /// addresses) only at debug.
    fn log_err(&self, level: &'static str, what: &str, e: &ClientError) {
        self.emit(Event::log(
            level,
            what.to_owned(),
            json!({ "code": e.code() }),
        ));
        self.emit(Event::log(
            "debug",
            format!("{what}: {e}"),
            json!({ "code": e.code() }),
        ));
    }

    fn creds_update(&self, keys: &[&str]) {
        let patch = creds_patch(&lock(&self.inner.creds), keys);
        self.emit(Event::creds(patch));
    }

    fn command(&self, c: Command) -> Result<(), ClientError> {
        self.inner
            .cmd
            .send(c)
            .map_err(|_| ClientError::Closed(Disconnect::closed()))
    }

    /// Sends a node without waiting for an answer (Baileys' `sendNode`).
    pub async fn send_node(&self, node: Node) -> Result<(), ClientError> {
        let (tx, rx) = oneshot::channel();
        self.command(Command::Send(node, tx))?;
        rx.await
            .unwrap_or_else(|_| Err(ClientError::Closed(Disconnect::closed())))
    }

    /// Sends an IQ and waits for its result (Baileys' `query`); an `<error>` answer is an error.
    pub async fn query(&self, node: Node, timeout: Option<Duration>) -> Result<Node, ClientError> {
        let (tx, rx) = oneshot::channel();
        self.command(Command::Query(
            node,
            timeout.map(|d| d.as_millis() as u64),
            tx,
        ))?;
        rx.await
            .unwrap_or_else(|_| Err(ClientError::Closed(Disconnect::closed())))
    }

    /// Closes the connection (Baileys' `end`).
    pub fn end(&self, why: Option<Disconnect>) {
        let _ = self.command(Command::Close(
            why.unwrap_or_else(Disconnect::intentional),
            None,
        ));
    }

    fn me(&self) -> Result<(Jid, Option<Jid>), ClientError> {
        let c = lock(&self.inner.creds);
        let me = c.me.as_ref().ok_or(ClientError::NotLoggedIn)?;
        let id = me
            .get("id")
            .and_then(Value::as_str)
            .ok_or(ClientError::NotLoggedIn)?;
        let id = Jid::parse(id).map_err(|e| ClientError::Store(format!("creds.me.id: {e}")))?;
        let lid = me
            .get("lid")
            .and_then(Value::as_str)
            .and_then(|l| Jid::parse(l).ok());
        Ok((id, lid))
    }

    /// Logs out: tells the server to remove this companion, then closes with 401.
    pub async fn logout(&self) -> Result<(), ClientError> {
        // As Baileys: the request is written, not awaited (the server ends the stream at once).
        let farewell = self.me().ok().map(|(me, _)| {
            Node::new("iq")
                .attr("to", S_WHATSAPP_NET)
                .attr("type", "set")
                .attr("id", nodes::message_id(None, now_ms() / 1000))
                .attr("xmlns", "md")
                .children(vec![
                    Node::new("remove-companion-device")
                        .attr("jid", me.to_string())
                        .attr("reason", "user_initiated"),
                ])
        });
        let _ = self.command(Command::Close(
            Disconnect::new(
                reason::LOGGED_OUT,
                "ERR_WA_CLIENT_LOGGED_OUT",
                "Intentional Logout",
            ),
            farewell,
        ));
        Ok(())
    }

    /// Baileys' `requestPairingCode(phoneNumber, customPairingCode?)`: returns the code to type
    /// on the phone.
    pub async fn request_pairing_code(
        &self,
        phone: &str,
        custom: Option<&str>,
    ) -> Result<String, ClientError> {
        let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
        if digits.is_empty() {
            return Err(ClientError::Argument(format!(
                "{phone:?} is not a phone number"
            )));
        }
        let code = match custom {
            Some(c) if c.chars().count() != 8 => {
                return Err(ClientError::Argument(
                    "Custom pairing code must be exactly 8 chars".into(),
                ));
            }
            Some(c) => c.to_owned(),
            None => wa_crypto::pairing::generate_pairing_code(),
        };
        let jid = format!("{digits}@{S_WHATSAPP_NET}");
        let snapshot = {
            let mut c = lock(&self.inner.creds);
            c.pairing_code = Some(code.clone());
            c.me = Some(json!({ "id": jid, "name": "~" }));
            c.clone()
        };
        self.creds_update(&["pairingCode", "me"]);
        let browser = self.inner.config.browser.clone();
        let (jid2, code2) = (jid.clone(), code.clone());
        let node = tokio::task::spawn_blocking(move || {
            pair::link_code_hello(&snapshot, &jid2, &code2, &browser, "")
        })
        .await
        .map_err(|e| ClientError::Protocol(format!("pairing key task: {e}")))??;
        let node = Node {
            attrs: node.attrs.into_iter().filter(|(k, _)| k != "id").collect(),
            ..node
        };
        // Baileys only writes this IQ; we wait for the server's answer, so the code we return
        // is known to the server before anyone types it (and a refusal is an error here).
        self.query(node, None).await?;
        Ok(code)
    }

    /// Sends a text (`sendMessage(jid, { text })`); resolves with the WAMessage once the
    /// server acknowledged it.
    pub async fn send_text(&self, to: &str, text: &str) -> Result<Value, ClientError> {
        let message = wa_proto::Message {
            extended_text_message: Some(Box::new(wa_proto::message::ExtendedTextMessage {
                text: Some(text.to_owned()),
                ..Default::default()
            })),
            ..Default::default()
        };
        self.send_message(to, message).await
    }

    /// Encrypts `message` for every device of the recipient and of our own account and sends
    /// it; resolves with the WAMessage once the server acknowledged it.
    pub async fn send_message(
        &self,
        to: &str,
        message: wa_proto::Message,
    ) -> Result<Value, ClientError> {
        let (me, me_lid) = self.me()?;
        let dest = Jid::parse(to).map_err(|e| ClientError::Argument(format!("{to:?}: {e}")))?;
        if dest.is_group() || dest.is_broadcast() || dest.is_newsletter() {
            return Err(ClientError::Argument(
                "only messages to users are supported so far".into(),
            ));
        }
        let dest = dest.normalized_user();
        let now = now_ms();
        let id = nodes::message_id(Some(&me.user), now / 1000);
        let is_lid = dest.server == Server::Lid;
        let own = match (&me_lid, is_lid) {
            (Some(l), true) => l.normalized_user(),
            _ => me.normalized_user(),
        };
        let own_device = if is_lid {
            me_lid.clone().unwrap_or_else(|| me.clone())
        } else {
            me.clone()
        };
        let devices = self.devices(&[own.to_string(), dest.to_string()]).await?;
        let mut recipients: Vec<String> = Vec::new();
        for d in devices {
            let j = Jid::parse(&d).map_err(|e| ClientError::Protocol(e.to_string()))?;
            if j.user == own_device.user && j.device == own_device.device {
                continue;
            }
            recipients.push(d);
        }
        if recipients.is_empty() {
            return Err(ClientError::Protocol(format!("no devices for {dest}")));
        }
        self.assert_sessions(&recipients).await?;

        let plain = message.encode_to_vec();
        let dsm = wa_proto::Message {
            device_sent_message: Some(Box::new(wa_proto::message::DeviceSentMessage {
                destination_jid: Some(dest.to_string()),
                message: Some(Box::new(message.clone())),
                phash: None,
            })),
            ..Default::default()
        }
        .encode_to_vec();
        let mut participants = Vec::with_capacity(recipients.len());
        let mut any_pkmsg = false;
        for r in &recipients {
            let rj = Jid::parse(r).map_err(|e| ClientError::Protocol(e.to_string()))?;
            let mine = rj.user == me.user || me_lid.as_ref().is_some_and(|l| l.user == rj.user);
            let bytes = nodes::pad(if mine { dsm.clone() } else { plain.clone() });
            let address = self.address(r).await?;
            let enc = self.inner.signal.encrypt(&address, &bytes).await?;
            any_pkmsg |= enc.kind == MessageKind::PreKey;
            participants.push(Node::new("to").attr("jid", r.clone()).children(vec![
                Node::new("enc")
                    .attr("v", "2")
                    .attr("type", enc.kind.as_str())
                    .bytes(enc.body),
            ]));
        }
        let mut content = vec![Node::new("participants").children(participants)];
        if any_pkmsg {
            let account = lock(&self.inner.creds).account.clone();
            if let Some(acc) = account {
                content.push(Node::new("device-identity").bytes(pair::encode_account(&acc)));
            }
        }
        let stanza = Node::new("message")
            .attr("id", id.clone())
            .attr("to", dest.to_string())
            .attr("type", "text")
            .attr("phash", nodes::phash(&recipients))
            .children(content);
        let (tx, rx) = oneshot::channel();
        self.command(Command::SendAwaitAck(stanza, tx))?;
        let ack = rx
            .await
            .unwrap_or_else(|_| Err(ClientError::Closed(Disconnect::closed())))?;
        if let Some(e) = ack.get_attr("error") {
            return Err(ClientError::Server {
                code: e.parse().unwrap_or(500),
                text: format!("message refused by the server ({e})"),
            });
        }
        self.inner
            .recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .put(id.clone(), dest.to_string(), message.clone());
        let msg = json!({
            "key": { "remoteJid": dest.to_string(), "fromMe": true, "id": id },
            "message": proto_json::to_json("wa.Message", &message)?,
            "messageTimestamp": now / 1000,
            "messageStubParameters": [],
            "status": 2,
        });
        if self.inner.config.emit_own_events {
            self.emit(Event::new(
                "messages.upsert",
                json!({ "messages": [msg.clone()], "type": "append" }),
            ));
        }
        Ok(msg)
    }

    /// The Signal address of a device JID: under its LID when the mapping is known, as
    /// Baileys' repository keeps sessions.
    async fn address(&self, jid: &str) -> Result<ProtocolAddress, ClientError> {
        let j = Jid::parse(jid).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let target = if j.server == Server::Pn {
            match signal_store::lid_for_pn_user(&self.inner.keys, &j.user).await? {
                Some(lid) => Jid {
                    device: j.device,
                    ..Jid::new(lid, Server::Lid)
                }
                .to_string(),
                None => jid.to_owned(),
            }
        } else {
            jid.to_owned()
        };
        ProtocolAddress::from_jid(&target).map_err(|k| ClientError::from(k.at(&target)))
    }

    /// Device JIDs of users, from the cache or one usync query.
    async fn devices(&self, users: &[String]) -> Result<Vec<String>, ClientError> {
        let mut out = Vec::new();
        let mut missing = Vec::new();
        {
            let cache = self
                .inner
                .devices
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for u in users {
                match cache.get(u) {
                    Some((at, list)) if at.elapsed() < DEVICE_TTL => out.extend(list.clone()),
                    _ => missing.push(u.clone()),
                }
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        let sid = nodes::message_id(None, now_ms() / 1000);
        let result = self
            .query(nodes::usync_devices(&missing, &sid), None)
            .await?;
        let mut device_lists: KeyWrites = KeyWrites::new();
        for u in nodes::parse_usync_devices(&result) {
            let jid = Jid::parse(&u.jid).map_err(|e| ClientError::Protocol(e.to_string()))?;
            if let Some(lid) = u.lid.as_deref().and_then(|l| Jid::parse(l).ok())
                && jid.server == Server::Pn
            {
                signal_store::store_lid_mapping(&self.inner.keys, &lid.user, &jid.user).await?;
            }
            let list: Vec<String> = u
                .devices
                .iter()
                .map(|(d, hosted)| {
                    let server = if *hosted {
                        if jid.server == Server::Lid {
                            Server::HostedLid
                        } else {
                            Server::Hosted
                        }
                    } else {
                        jid.server.clone()
                    };
                    nodes::device_jid(&jid.user, &server, *d)
                })
                .collect();
            device_lists.entry(KeyType::DeviceList).or_default().insert(
                jid.user.clone(),
                Some(Value::Array(
                    u.devices
                        .iter()
                        .map(|(d, _)| Value::String(d.to_string()))
                        .collect(),
                )),
            );
            out.extend(list.clone());
            self.inner
                .devices
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(jid.normalized_user().to_string(), (Instant::now(), list));
        }
        if !device_lists.is_empty() {
            self.inner.keys.set(&device_lists).await?;
        }
        Ok(out)
    }

    /// Makes sure every device has an open session, fetching bundles in one query for those
    /// that do not.
    async fn assert_sessions(&self, jids: &[String]) -> Result<(), ClientError> {
        let mut need = Vec::new();
        for j in jids {
            let addr = self.address(j).await?;
            let open =
                wa_signal::store::SessionStore::load_session(self.inner.signal.store(), &addr)
                    .await
                    .ok()
                    .flatten()
                    .is_some_and(|r| r.has_open_session());
            if !open {
                need.push(j.clone());
            }
        }
        if need.is_empty() {
            return Ok(());
        }
        self.fetch_sessions(&need).await
    }

    /// Fetches bundles for devices (one query) and starts a session with each.
    async fn fetch_sessions(&self, need: &[String]) -> Result<(), ClientError> {
        let result = self.query(nodes::bundle_query(need), None).await?;
        let now = now_ms() as i64;
        for (jid, bundle) in nodes::parse_bundles(&result) {
            match bundle {
                Ok(b) => {
                    let addr = self.address(&jid).await?;
                    self.inner.signal.process_bundle(&addr, &b, now).await?;
                }
                Err(e) => self.log_err("warn", "no prekey bundle for a device", &e),
            }
        }
        Ok(())
    }

    /// Uploads prekeys: generates what is missing, stores them, then sends them.
    async fn upload_prekeys(&self, count: u32) -> Result<(), ClientError> {
        let _g = self.inner.prekeys.lock().await;
        let (first, next, reg_id, identity, skey) = {
            let c = lock(&self.inner.creds);
            (
                c.first_unuploaded_pre_key_id,
                c.next_pre_key_id,
                c.registration_id,
                c.signed_identity_key.public.clone(),
                nodes::signed_prekey_node(
                    c.signed_pre_key.key_id,
                    &c.signed_pre_key.key_pair.public,
                    &c.signed_pre_key.signature,
                ),
            )
        };
        let available = next.saturating_sub(first);
        let remaining = count.saturating_sub(available);
        let last = next + remaining;
        let mut writes = KeyWrites::new();
        let mut fresh: HashMap<u32, Vec<u8>> = HashMap::new();
        for id in next..last {
            let kp = wa_crypto::KeyPair::generate();
            fresh.insert(id, kp.public.to_vec());
            writes.entry(KeyType::PreKey).or_default().insert(
                id.to_string(),
                Some(json!({
                    "private": wa_store::bufferjson::buffer(&kp.private),
                    "public": wa_store::bufferjson::buffer(&kp.public),
                })),
            );
        }
        if !writes.is_empty() {
            self.inner.keys.set(&writes).await?;
        }
        let ids: Vec<String> = (first..first + count).map(|i| i.to_string()).collect();
        let stored = self.inner.keys.get(KeyType::PreKey, &ids).await?;
        let mut upload: Vec<(u32, Vec<u8>)> = Vec::new();
        for id in first..first + count {
            if let Some(p) = fresh.get(&id) {
                upload.push((id, p.clone()));
            } else if let Some(v) = stored.get(&id.to_string())
                && let Some(p) = v.get("public").and_then(wa_store::bufferjson::bytes)
            {
                upload.push((id, p));
            }
        }
        {
            let mut c = lock(&self.inner.creds);
            c.next_pre_key_id = c.next_pre_key_id.max(last);
            c.first_unuploaded_pre_key_id = c.first_unuploaded_pre_key_id.max(first + count);
        }
        self.creds_update(&["nextPreKeyId", "firstUnuploadedPreKeyId"]);
        let node = nodes::prekey_upload(reg_id, &identity, &upload, skey);
        self.query(node, None).await?;
        self.log("info", format!("uploaded {} pre-keys", upload.len()));
        Ok(())
    }

    async fn post_login(&self, success: Node) {
        let r: Result<(), ClientError> = async {
            let count = self
                .query(nodes::iq("encrypt", "get", vec![Node::new("count")]), None)
                .await?;
            let on_server: u32 = count
                .child("count")
                .and_then(|c| c.get_attr("value"))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let want = if on_server == 0 {
                INITIAL_PREKEY_COUNT
            } else {
                MIN_PREKEY_COUNT
            };
            let current = lock(&self.inner.creds).next_pre_key_id.saturating_sub(1);
            let current_missing = current > 0
                && self
                    .inner
                    .keys
                    .get(KeyType::PreKey, &[current.to_string()])
                    .await?
                    .is_empty();
            if on_server <= want || current_missing {
                self.upload_prekeys(want).await?;
            }
            self.query(nodes::iq("passive", "set", vec![Node::new("active")]), None)
                .await?;
            Ok(())
        }
        .await;
        if let Err(e) = r {
            self.log_err("warn", "post-login steps failed", &e);
        }
        // Baileys validates the key bundle after login; a failure only logs.
        if self
            .query(nodes::iq("encrypt", "get", vec![Node::new("digest")]), None)
            .await
            .is_err()
        {
            self.log("debug", "digest check failed");
        }
        let lid = success.get_attr("lid").map(str::to_owned);
        {
            let mut c = lock(&self.inner.creds);
            if let (Some(me), Some(l)) = (c.me.as_mut(), &lid)
                && let Some(o) = me.as_object_mut()
            {
                o.insert("lid".into(), json!(l));
            }
        }
        self.creds_update(&["me"]);
        self.emit(Event::connection(json!({ "connection": "open" })));
        if let (Ok((me, _)), Some(l)) = (self.me(), lid.and_then(|l| Jid::parse(&l).ok())) {
            let _ = signal_store::store_lid_mapping(&self.inner.keys, &l.user, &me.user).await;
        }
    }

    async fn handle_stanza(&self, node: Node) {
        let r = match node.tag.as_ref() {
            "message" => self.handle_message(&node).await,
            "receipt" => self.handle_receipt(&node).await,
            "notification" => self.handle_notification(&node).await,
            "call" => self.send_ack(&node, None).await,
            _ => Ok(()),
        };
        if let Err(e) = r {
            self.log_err("warn", &format!("handling <{}> failed", node.tag), &e);
        }
    }

    async fn send_ack(&self, node: &Node, error: Option<u16>) -> Result<(), ClientError> {
        let me = self.me().ok().map(|(m, _)| m.to_string());
        self.send_node(nodes::ack(node, error, me.as_deref())).await
    }

    async fn handle_receipt(&self, node: &Node) -> Result<(), ClientError> {
        let status = match node.get_attr("type") {
            None => Some(3),
            Some("read" | "read-self") => Some(4),
            Some("played") => Some(5),
            Some("sender") => Some(2),
            _ => None,
        };
        let from = node.get_attr("from").unwrap_or_default();
        let (me, me_lid) = self.me()?;
        let from_jid = Jid::parse(from).ok();
        let from_me_node = from_jid.as_ref().is_some_and(|f| {
            f.user == me.user || me_lid.as_ref().is_some_and(|l| l.user == f.user)
        });
        let remote = if from_me_node {
            node.get_attr("recipient").unwrap_or(from)
        } else {
            from
        };
        if let Some(status) = status
            && (status >= 2 || !from_me_node)
        {
            let mut ids = vec![node.get_attr("id").unwrap_or_default().to_owned()];
            if let Some(list) = node.child("list") {
                ids.extend(
                    list.children_by_tag("item")
                        .filter_map(|i| i.get_attr("id").map(str::to_owned)),
                );
            }
            let t: u64 = node.get_attr("t").and_then(|t| t.parse().ok()).unwrap_or(0);
            let updates: Vec<Value> = ids
                .iter()
                .map(|id| {
                    json!({
                        "key": { "remoteJid": remote, "id": id, "fromMe": node.get_attr("recipient").is_none() || from_me_node,
                                 "participant": node.get_attr("participant") },
                        "update": { "status": status, "messageTimestamp": t },
                    })
                })
                .collect();
            self.emit(Event::new("messages.update", Value::Array(updates)));
        }
        if node.get_attr("type") == Some("retry")
            && let Err(e) = self.resend(node).await
        {
            self.log_err("warn", "could not resend on a retry receipt", &e);
        }
        self.send_ack(node, None).await
    }

    /// Answers a retry receipt: a fresh session for the device that failed (from the bundle in
    /// the receipt, or fetched), then the message again, for that device only.
    async fn resend(&self, receipt: &Node) -> Result<(), ClientError> {
        let id = receipt.get_attr("id").unwrap_or_default().to_owned();
        let device = receipt
            .get_attr("participant")
            .or(receipt.get_attr("from"))
            .unwrap_or_default()
            .to_owned();
        let count: u32 = receipt
            .child("retry")
            .and_then(|r| r.get_attr("count"))
            .and_then(|c| c.parse().ok())
            .unwrap_or(1);
        let Some((chat, message)) = self
            .inner
            .recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .map
            .get(&id)
            .cloned()
        else {
            self.log("debug", "retry receipt for a message no longer cached");
            return Ok(());
        };
        if count > MAX_RETRIES {
            return Ok(());
        }
        let address = self.address(&device).await?;
        let bundle = receipt
            .child("keys")
            .map(|k| nodes::bundle_from_retry(receipt, k))
            .transpose()?;
        match bundle {
            Some(b) => {
                self.inner
                    .signal
                    .process_bundle(&address, &b, now_ms() as i64)
                    .await?
            }
            None => self.fetch_sessions(std::slice::from_ref(&device)).await?,
        }
        let (me, me_lid) = self.me()?;
        let dj = Jid::parse(&device).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let mine = dj.user == me.user || me_lid.as_ref().is_some_and(|l| l.user == dj.user);
        let plain = if mine {
            wa_proto::Message {
                device_sent_message: Some(Box::new(wa_proto::message::DeviceSentMessage {
                    destination_jid: Some(chat.clone()),
                    message: Some(Box::new(message)),
                    phash: None,
                })),
                ..Default::default()
            }
            .encode_to_vec()
        } else {
            message.encode_to_vec()
        };
        let enc = self
            .inner
            .signal
            .encrypt(&address, &nodes::pad(plain))
            .await?;
        let mut content = vec![
            Node::new("enc")
                .attr("v", "2")
                .attr("type", enc.kind.as_str())
                .attr("count", count.to_string())
                .bytes(enc.body),
        ];
        if enc.kind == MessageKind::PreKey
            && let Some(acc) = lock(&self.inner.creds).account.clone()
        {
            content.push(Node::new("device-identity").bytes(pair::encode_account(&acc)));
        }
        let mut stanza = Node::new("message")
            .attr("id", id)
            .attr("type", "text")
            .attr("to", device.clone());
        if mine {
            stanza = stanza.attr("recipient", chat);
        } else {
            stanza = stanza.attr("device_fanout", "false");
        }
        self.log("debug", format!("resending a message on retry {count}"));
        let (tx, rx) = oneshot::channel();
        self.command(Command::SendAwaitAck(stanza.children(content), tx))?;
        rx.await
            .unwrap_or_else(|_| Err(ClientError::Closed(Disconnect::closed())))?;
        Ok(())
    }

    async fn handle_notification(&self, node: &Node) -> Result<(), ClientError> {
        match node.get_attr("type") {
            Some("link_code_companion_reg") => {
                let snapshot = lock(&self.inner.creds).clone();
                let n = node.clone();
                let done =
                    tokio::task::spawn_blocking(move || pair::link_code_finish(&n, &snapshot, ""))
                        .await
                        .map_err(|e| ClientError::Protocol(format!("pairing task: {e}")))?;
                match done {
                    Ok(f) => {
                        lock(&self.inner.creds).adv_secret_key = f.adv_secret_key;
                        let iq = Node {
                            attrs: f.iq.attrs.into_iter().filter(|(k, _)| k != "id").collect(),
                            ..f.iq
                        };
                        self.query(iq, None).await?;
                        lock(&self.inner.creds).registered = true;
                        self.creds_update(&["advSecretKey", "registered"]);
                    }
                    Err(e) => self.log_err("warn", "pairing by code failed", &e),
                }
            }
            Some("encrypt") => {
                if let Some(c) = node.child("count")
                    && c.get_attr("value")
                        .and_then(|v| v.parse::<u32>().ok())
                        .unwrap_or(0)
                        < MIN_PREKEY_COUNT
                {
                    let me = self.clone();
                    tokio::spawn(async move {
                        if let Err(e) = me.upload_prekeys(MIN_PREKEY_COUNT).await {
                            me.log_err("warn", "prekey refill failed", &e);
                        }
                    });
                }
            }
            Some("devices") => {
                if let Some(from) = node.get_attr("from").and_then(|f| Jid::parse(f).ok()) {
                    self.inner
                        .devices
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .remove(&from.normalized_user().to_string());
                }
            }
            _ => {}
        }
        self.send_ack(node, None).await
    }

    async fn handle_message(&self, node: &Node) -> Result<(), ClientError> {
        let (me, me_lid) = self.me()?;
        let Some(parsed) = ParsedMessage::parse(node, &me, me_lid.as_ref()) else {
            return self.send_ack(node, Some(487)).await;
        };
        // Remember the sender's LID mapping before decrypting, so the session is looked up
        // where Baileys keeps it.
        if let (Some(alt), Ok(author)) = (&parsed.sender_alt, Jid::parse(&parsed.author))
            && let Ok(alt) = Jid::parse(alt)
        {
            if author.server == Server::Pn && alt.server == Server::Lid {
                signal_store::store_lid_mapping(&self.inner.keys, &alt.user, &author.user).await?;
            } else if author.server == Server::Lid && alt.server == Server::Pn {
                signal_store::store_lid_mapping(&self.inner.keys, &author.user, &alt.user).await?;
            }
        }
        let mut message: Option<wa_proto::Message> = None;
        let mut failure: Option<ClientError> = None;
        let mut decryptables = 0;
        for enc in node.child_nodes() {
            if enc.tag != "enc" && enc.tag != "plaintext" {
                continue;
            }
            let Some(ct) = enc.content_bytes() else {
                continue;
            };
            decryptables += 1;
            let r: Result<wa_proto::Message, ClientError> = async {
                let plain = match (enc.tag.as_ref(), enc.get_attr("type")) {
                    ("plaintext", _) => ct.to_vec(),
                    (_, Some(t @ ("pkmsg" | "msg"))) => {
                        let kind = if t == "pkmsg" {
                            MessageKind::PreKey
                        } else {
                            MessageKind::Whisper
                        };
                        let addr = self.address(&parsed.author).await?;
                        let d = self
                            .inner
                            .signal
                            .decrypt(&addr, kind, ct, now_ms() as i64)
                            .await?;
                        nodes::unpad(&d.plaintext)?.to_vec()
                    }
                    (_, Some("skmsg")) => {
                        let name = SenderKeyName::from_jids(&parsed.chat, &parsed.author)
                            .map_err(|k| ClientError::from(k.at(&parsed.author)))?;
                        let p = self.inner.signal.group_decrypt(&name, ct).await?;
                        nodes::unpad(&p)?.to_vec()
                    }
                    (_, other) => {
                        return Err(ClientError::Protocol(format!("unknown e2e type {other:?}")));
                    }
                };
                let mut m = wa_proto::Message::decode(plain.as_slice())
                    .map_err(|e| ClientError::Protocol(format!("message: {e}")))?;
                if let Some(dsm) = m.device_sent_message.take()
                    && let Some(inner) = dsm.message
                {
                    m = *inner;
                }
                if let Some(skdm) = &m.sender_key_distribution_message
                    && let (Some(g), Some(d)) = (
                        &skdm.group_id,
                        &skdm.axolotl_sender_key_distribution_message,
                    )
                    && let Ok(name) = SenderKeyName::from_jids(g, &parsed.author)
                    && let Err(e) = self.inner.signal.group_process_distribution(&name, d).await
                {
                    self.log_err(
                        "warn",
                        "sender key distribution failed",
                        &ClientError::from(e),
                    );
                }
                Ok(m)
            }
            .await;
            match r {
                Ok(m) => match &mut message {
                    // Several `enc` children (rare): later content completes earlier, as
                    // Baileys' Object.assign does.
                    Some(existing) => {
                        let _ = existing.merge(m.encode_to_vec().as_slice());
                    }
                    None => message = Some(m),
                },
                Err(e) => failure = Some(e),
            }
        }
        let mut msg = parsed.key_json();
        if let Some(m) = &message {
            msg["message"] = proto_json::to_json("wa.Message", m)?;
        }
        if let Some(e) = &failure {
            msg["messageStubType"] = json!(2);
            msg["messageStubParameters"] = json!([e.to_string()]);
        } else if decryptables == 0 {
            msg["messageStubType"] = json!(2);
            msg["messageStubParameters"] = json!(["Message absent from node"]);
        }
        let upsert_type = if node.get_attr("offline").is_some() {
            "append"
        } else {
            "notify"
        };
        if failure.is_some() {
            let is_duplicate = matches!(&failure, Some(ClientError::Signal { code, .. }) if *code == "ERR_WA_SIGNAL_DUPLICATE");
            if is_duplicate {
                // A message we already decrypted (the server re-delivered it): Baileys acks it
                // with a parsing error instead of asking for a retry.
                self.send_ack(node, Some(487)).await?;
                return Ok(());
            }
            self.send_retry(node).await?;
            self.send_ack(node, Some(500)).await?;
        } else {
            // The Signal state this message changed is committed; now tell the app, then
            // tell the server (a crash before the receipt means redelivery, never loss).
            self.emit(Event::new(
                "messages.upsert",
                json!({ "messages": [msg], "type": upsert_type }),
            ));
            let mut receipt = Node::new("receipt").attr("id", parsed.id.clone());
            if parsed.category_peer {
                receipt = receipt
                    .attr("to", parsed.chat.clone())
                    .attr("type", "peer_msg");
            } else if parsed.from_me {
                receipt = receipt
                    .attr("recipient", parsed.chat.clone())
                    .attr("to", parsed.author.clone())
                    .attr("type", "sender");
            } else {
                receipt = receipt.attr("to", parsed.chat.clone());
                if let Some(p) = &parsed.participant {
                    receipt = receipt.attr("participant", p.clone());
                }
            }
            self.send_node(receipt).await?;
            return Ok(());
        }
        self.emit(Event::new(
            "messages.upsert",
            json!({ "messages": [msg], "type": upsert_type }),
        ));
        Ok(())
    }

    /// Asks the sender to encrypt again (a retry receipt); from the second try it carries our
    /// keys so the sender can start a new session.
    async fn send_retry(&self, node: &Node) -> Result<(), ClientError> {
        let id = node.get_attr("id").unwrap_or_default().to_owned();
        let key = format!("{id}:{}", node.get_attr("participant").unwrap_or_default());
        let count = {
            let mut r = self
                .inner
                .retries
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let c = r.entry(key).or_insert(0);
            *c += 1;
            *c
        };
        if count > MAX_RETRIES {
            self.log("debug", "reached the retry limit for a message");
            return Ok(());
        }
        let (reg, account, identity, skey) = {
            let c = lock(&self.inner.creds);
            (
                c.registration_id,
                c.account.clone(),
                c.signed_identity_key.public.clone(),
                nodes::signed_prekey_node(
                    c.signed_pre_key.key_id,
                    &c.signed_pre_key.key_pair.public,
                    &c.signed_pre_key.signature,
                ),
            )
        };
        let mut retry = Node::new("retry")
            .attr("count", count.to_string())
            .attr("id", id.clone())
            .attr("v", "1")
            .attr("error", "0");
        if let Some(t) = node.get_attr("t") {
            retry = retry.attr("t", t.to_owned());
        }
        let mut content = vec![retry, Node::new("registration").bytes(nodes::be(reg, 4))];
        if count > 1 {
            // One fresh prekey for the sender's new session.
            let kp = wa_crypto::KeyPair::generate();
            let pid = {
                let mut c = lock(&self.inner.creds);
                let id = c.next_pre_key_id;
                c.next_pre_key_id += 1;
                c.first_unuploaded_pre_key_id = c.first_unuploaded_pre_key_id.max(id + 1);
                id
            };
            let mut w = KeyWrites::new();
            w.entry(KeyType::PreKey).or_default().insert(
                pid.to_string(),
                Some(json!({
                    "private": wa_store::bufferjson::buffer(&kp.private),
                    "public": wa_store::bufferjson::buffer(&kp.public),
                })),
            );
            self.inner.keys.set(&w).await?;
            self.creds_update(&["nextPreKeyId", "firstUnuploadedPreKeyId"]);
            let mut keys = vec![
                Node::new("type").bytes(vec![5]),
                Node::new("identity").bytes(identity),
                nodes::prekey_node(pid, &kp.public),
                skey,
            ];
            if let Some(acc) = &account {
                keys.push(Node::new("device-identity").bytes(pair::encode_account(acc)));
            }
            content.push(Node::new("keys").children(keys));
        }
        let mut receipt = Node::new("receipt")
            .attr("id", id)
            .attr("type", "retry")
            .attr("to", node.get_attr("from").unwrap_or_default().to_owned());
        for k in ["recipient", "participant"] {
            if let Some(v) = node.get_attr(k) {
                receipt = receipt.attr(k, v.to_owned());
            }
        }
        self.send_node(receipt.children(content)).await
    }
}

/// The addressing of a received `<message>` (Baileys' `decodeMessageNode`).
struct ParsedMessage {
    id: String,
    chat: String,
    author: String,
    participant: Option<String>,
    from_me: bool,
    category_peer: bool,
    sender_alt: Option<String>,
    addressing_mode: &'static str,
    timestamp: u64,
    push_name: Option<String>,
}

impl ParsedMessage {
    fn parse(node: &Node, me: &Jid, me_lid: Option<&Jid>) -> Option<Self> {
        let id = node.get_attr("id")?.to_owned();
        let from = node.get_attr("from")?.to_owned();
        let from_jid = Jid::parse(&from).ok()?;
        let participant = node.get_attr("participant").map(str::to_owned);
        let recipient = node.get_attr("recipient").map(str::to_owned);
        let is_me = |j: &Jid| j.user == me.user || me_lid.is_some_and(|l| l.user == j.user);
        let sender = participant.as_deref().unwrap_or(&from);
        let addressing_mode = match node.get_attr("addressing_mode") {
            Some("lid") => "lid",
            Some(_) => "pn",
            None if sender.ends_with("lid") => "lid",
            None => "pn",
        };
        let sender_alt = if addressing_mode == "lid" {
            node.get_attr("participant_pn")
                .or(node.get_attr("sender_pn"))
                .or(node.get_attr("peer_recipient_pn"))
        } else {
            node.get_attr("participant_lid")
                .or(node.get_attr("sender_lid"))
                .or(node.get_attr("peer_recipient_lid"))
        }
        .map(str::to_owned);
        let (chat, author, from_me) = if from_jid.is_group() || from_jid.is_broadcast() {
            let p = participant.clone()?;
            let pj = Jid::parse(&p).ok()?;
            (from.clone(), p, is_me(&pj))
        } else if let Some(r) = recipient {
            if !is_me(&from_jid) {
                return None;
            }
            (r, from.clone(), true)
        } else {
            (from.clone(), from.clone(), is_me(&from_jid))
        };
        Some(Self {
            id,
            chat,
            author,
            participant,
            from_me,
            category_peer: node.get_attr("category") == Some("peer"),
            sender_alt,
            addressing_mode,
            timestamp: node.get_attr("t").and_then(|t| t.parse().ok()).unwrap_or(0),
            push_name: node.get_attr("notify").map(str::to_owned),
        })
    }

    fn key_json(&self) -> Value {
        let group = self.chat.ends_with("@g.us");
        let mut key = json!({
            "remoteJid": self.chat,
            "fromMe": self.from_me,
            "id": self.id,
            "addressingMode": self.addressing_mode,
        });
        if let Some(p) = &self.participant {
            key["participant"] = json!(p);
        }
        if let Some(alt) = &self.sender_alt {
            key[if group {
                "participantAlt"
            } else {
                "remoteJidAlt"
            }] = json!(alt);
        }
        let mut msg = json!({
            "key": key,
            "messageTimestamp": self.timestamp,
            "broadcast": self.chat.ends_with("@broadcast"),
        });
        if self.category_peer {
            msg["category"] = json!("peer");
        }
        if let Some(n) = &self.push_name {
            msg["pushName"] = json!(n);
        }
        if self.from_me {
            msg["status"] = json!(2);
        }
        msg
    }
}

async fn work(client: Client, mut rx: mpsc::UnboundedReceiver<Work>) {
    while let Some(w) = rx.recv().await {
        match w {
            Work::LoggedIn(node) => {
                let c = client.clone();
                tokio::spawn(async move { c.post_login(node).await });
            }
            Work::Stanza(node) => client.handle_stanza(node).await,
        }
    }
}

fn closed_event(d: &Disconnect) -> Event {
    let data: serde_json::Map<String, Value> = d
        .data
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    Event::connection(json!({
        "connection": "close",
        "lastDisconnect": {
            "error": { "message": d.message, "statusCode": d.status, "code": d.code, "data": data },
            "date": now_ms(),
        }
    }))
}

/// TLS for `wss://` (WhatsApp's servers): rustls with the ring provider and Mozilla's roots,
/// built once per process.
fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: std::sync::OnceLock<Arc<rustls::ClientConfig>> = std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map(|b| b.with_root_certificates(roots).with_no_client_auth());
            // The ring provider supports the default versions; should a future rustls refuse,
            // fall back to its own default builder rather than fail every connection.
            Arc::new(config.unwrap_or_else(|_| {
                rustls::ClientConfig::builder()
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth()
            }))
        })
        .clone()
}

fn ws_error_status(e: &tokio_tungstenite::tungstenite::Error) -> u16 {
    use tokio_tungstenite::tungstenite::Error as E;
    match e {
        E::Http(resp) if resp.status().as_u16() >= 400 => resp.status().as_u16(),
        E::Io(_) => reason::TIMED_OUT,
        _ => 500,
    }
}

/// The driver: the websocket, the timer and commands in; the state machine in between.
async fn drive(
    client: Client,
    mut cmd_rx: mpsc::UnboundedReceiver<Command>,
    work_tx: mpsc::UnboundedSender<Work>,
) {
    let inner = client.inner.clone();
    let mut core = match Core::new(inner.config.clone(), inner.creds.clone(), now_ms()) {
        Ok(c) => c,
        Err(e) => {
            let d = Disconnect::new(e.status(), e.code(), e.to_string());
            let _ = inner.events.send(closed_event(&d));
            inner.closed.store(true, Ordering::SeqCst);
            return;
        }
    };
    let mut waiters: HashMap<String, oneshot::Sender<Result<Node, ClientError>>> = HashMap::new();
    // Outputs queued before the socket exists (the `connecting` update).
    forward(&mut core, &inner, &work_tx, &mut waiters);

    let connect = async {
        let mut req = inner
            .config
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| Disconnect::new(400, "ERR_WA_CLIENT_WEBSOCKET", e.to_string()))?;
        req.headers_mut()
            .insert("Origin", HeaderValue::from_static(ORIGIN));
        let connector = if inner.config.url.starts_with("wss:") {
            Some(tokio_tungstenite::Connector::Rustls(tls_config()))
        } else {
            None
        };
        // Nagle off (as Node's `ws` does): a send that waits for the server's ack would
        // otherwise sit behind the peer's delayed ACK, ~40 ms per message.
        let disable_nagle = true;
        // tungstenite allocates its read buffer up front (128 KiB by default); a bot's stanzas
        // are small and one process may hold hundreds of sockets. Larger frames still arrive.
        let ws_config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .read_buffer_size(16 * 1024);
        match tokio::time::timeout(
            inner.config.connect_timeout,
            tokio_tungstenite::connect_async_tls_with_config(
                req,
                Some(ws_config),
                disable_nagle,
                connector,
            ),
        )
        .await
        {
            Ok(Ok((ws, _))) => Ok(ws),
            Ok(Err(e)) => Err(Disconnect::new(
                ws_error_status(&e),
                "ERR_WA_CLIENT_WEBSOCKET",
                format!("WebSocket Error ({e})"),
            )),
            Err(_) => Err(Disconnect::new(
                reason::TIMED_OUT,
                "ERR_WA_CLIENT_TIMEOUT",
                "WebSocket Error (timed out)",
            )),
        }
    };
    let ws = tokio::select! {
        r = connect => r,
        Some(Command::Close(d, _)) = cmd_rx.recv() => Err(d),
    };
    let mut ws = match ws {
        Ok(ws) => ws,
        Err(d) => {
            core.close(d);
            forward(&mut core, &inner, &work_tx, &mut waiters);
            inner.closed.store(true, Ordering::SeqCst);
            return;
        }
    };

    loop {
        while let Some(t) = core.poll_transmit() {
            if let Err(e) = ws.send(WsMessage::Binary(t.into())).await {
                core.close(Disconnect::new(
                    reason::CONNECTION_CLOSED,
                    "ERR_WA_CLIENT_WEBSOCKET",
                    format!("WebSocket Error ({e})"),
                ));
                break;
            }
        }
        let out = forward(&mut core, &inner, &work_tx, &mut waiters);
        if out || core.is_closed() {
            break;
        }
        let deadline = core.poll_timeout();
        let sleep = async {
            match deadline {
                Some(d) => {
                    tokio::time::sleep(Duration::from_millis(d.saturating_sub(now_ms()))).await
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            msg = ws.next() => match msg {
                Some(Ok(WsMessage::Binary(b))) => core.handle_data(now_ms(), &b),
                Some(Ok(WsMessage::Close(_))) | None => core.close(Disconnect::new(
                    reason::CONNECTION_CLOSED,
                    "ERR_WA_CLIENT_CLOSED",
                    "Connection Terminated",
                )),
                Some(Ok(_)) => {}
                Some(Err(e)) => core.close(Disconnect::new(
                    ws_error_status(&e),
                    "ERR_WA_CLIENT_WEBSOCKET",
                    format!("WebSocket Error ({e})"),
                )),
            },
            cmd = cmd_rx.recv() => match cmd {
                Some(Command::Send(node, tx)) => { let _ = tx.send(core.send_node(&node)); }
                Some(Command::Query(mut node, timeout, tx)) => {
                    match core.send_query(&mut node, timeout, now_ms()) {
                        Ok(id) => { waiters.insert(id, tx); }
                        Err(e) => { let _ = tx.send(Err(e)); }
                    }
                }
                Some(Command::SendAwaitAck(node, tx)) => {
                    let id = node.get_attr("id").unwrap_or_default().to_owned();
                    match core.send_node(&node) {
                        Ok(()) => {
                            core.expect_reply(id.clone(), inner.config.default_query_timeout.as_millis() as u64, now_ms());
                            waiters.insert(id, tx);
                        }
                        Err(e) => { let _ = tx.send(Err(e)); }
                    }
                }
                Some(Command::Close(d, farewell)) => {
                    if let Some(node) = farewell {
                        let _ = core.send_node(&node);
                    }
                    core.close(d);
                }
                // Every handle is gone: nobody can use this connection any more.
                None => core.close(Disconnect::intentional()),
            },
            () = sleep => core.handle_timeout(now_ms()),
        }
    }
    inner.closed.store(true, Ordering::SeqCst);
    while let Some(t) = core.poll_transmit() {
        let _ = ws.send(WsMessage::Binary(t.into())).await;
    }
    let _ = ws.close(None).await;
    forward(&mut core, &inner, &work_tx, &mut waiters);
    for (_, tx) in waiters.drain() {
        let _ = tx.send(Err(ClientError::Closed(Disconnect::closed())));
    }
}

/// Routes the state machine's outputs; true once the connection has closed.
fn forward(
    core: &mut Core,
    inner: &Inner,
    work_tx: &mpsc::UnboundedSender<Work>,
    waiters: &mut HashMap<String, oneshot::Sender<Result<Node, ClientError>>>,
) -> bool {
    let mut closed = false;
    while let Some(o) = core.poll_output() {
        match o {
            Output::Event(e) => {
                let _ = inner.events.send(e);
            }
            Output::Reply { id, result } => {
                if let Some(tx) = waiters.remove(&id) {
                    let _ = tx.send(result);
                }
            }
            Output::Stanza(n) => {
                let _ = work_tx.send(Work::Stanza(n));
            }
            Output::LoggedIn(n) => {
                let _ = work_tx.send(Work::LoggedIn(n));
            }
            Output::Closed(d) => {
                inner.closed.store(true, Ordering::SeqCst);
                let _ = inner.events.send(closed_event(&d));
                closed = true;
            }
        }
    }
    closed
}
