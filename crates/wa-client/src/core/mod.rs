//! The client's connection state machine, sans-IO (the quinn-proto shape): websocket messages
//! and the time go in ([`Core::handle_data`], [`Core::handle_timeout`]), websocket messages,
//! outputs and a deadline come out ([`Core::poll_transmit`], [`Core::poll_output`],
//! [`Core::poll_timeout`]). It owns the Noise session, the node codec, IQ ids and their
//! deadlines, keepalive, QR refs and their rotation, `pair-success`, the `success` of a login,
//! stream errors and `<failure>`. Work that needs the key store (prekeys, messages) is handed
//! out as [`Output::LoggedIn`] and [`Output::Stanza`] to the async layer.

mod stream;

use std::collections::{HashMap, VecDeque};

use wa_binary::Node;
use wa_noise::{ClientConfig, Event as NoiseEvent, NoiseSession};
use wa_store::Me;

use crate::config::Config;
use crate::ctx::{SharedCreds, lock};
use crate::error::{ClientError, Disconnect, code, reason};
use crate::event::{ConnectionState, ConnectionUpdate, CredsField, Event, creds_update};
use crate::pairing;
use crate::payload;

/// What the state machine hands out.
#[derive(Debug)]
pub enum Output {
    /// An event for the application.
    Event(Event),
    /// The answer to an IQ (or the server's ack of a message) we are waiting for.
    Reply {
        id: String,
        result: Result<Node, ClientError>,
    },
    /// A stanza for the async layer (message, receipt, notification, call, presence, ...).
    Stanza(Node),
    /// Login succeeded (`<success>`): run the post-login steps.
    LoggedIn(Node),
    /// The connection ended; nothing more will come out.
    Closed(Disconnect),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Handshake,
    Open,
    Closed,
}

struct Qr {
    refs: VecDeque<String>,
    next_at: u64,
}

/// The connection state machine. Times are milliseconds since the Unix epoch.
pub struct Core {
    noise: NoiseSession,
    config: Config,
    creds: SharedCreds,
    phase: Phase,
    started: u64,
    last_recv: u64,
    next_ping: Option<u64>,
    tag_prefix: String,
    epoch: u64,
    waiting: HashMap<String, (u64, u64)>,
    qr: Option<Qr>,
    registering: bool,
    transmits: VecDeque<Vec<u8>>,
    outputs: VecDeque<Output>,
}

impl Core {
    /// A connection attempt: the Noise client hello is queued at once.
    pub fn new(config: Config, creds: SharedCreds, now: u64) -> Result<Self, ClientError> {
        let (noise_cfg, registering) = {
            let c = lock(&creds);
            let me_id = c.me.as_ref().map(|m| m.id.clone());
            let (payload, registering) = match me_id {
                Some(id) => (payload::login(&id, &config)?, false),
                None => (payload::registration(&c, &config), true),
            };
            let private: [u8; 32] =
                c.noise_key.private.as_slice().try_into().map_err(|_| {
                    ClientError::Creds("creds.noiseKey.private is not 32 bytes".into())
                })?;
            let mut cfg = ClientConfig::new(wa_crypto::KeyPair::from_private(private), payload);
            cfg.trust_root = config.trust_root;
            cfg.routing_info = c.routing_info.clone();
            (cfg, registering)
        };
        let prefix: [u8; 4] = wa_crypto::random_bytes();
        let mut core = Self {
            noise: NoiseSession::client(noise_cfg),
            config,
            creds,
            phase: Phase::Handshake,
            started: now,
            last_recv: now,
            next_ping: None,
            tag_prefix: format!(
                "{}.{}-",
                u16::from_be_bytes([prefix[0], prefix[1]]),
                u16::from_be_bytes([prefix[2], prefix[3]])
            ),
            epoch: 1,
            waiting: HashMap::new(),
            qr: None,
            registering,
            transmits: VecDeque::new(),
            outputs: VecDeque::new(),
        };
        core.drain_noise(now);
        core.event(Event::Connection(ConnectionUpdate {
            connection: Some(ConnectionState::Connecting),
            received_pending_notifications: Some(false),
            qr: Some(None),
            ..ConnectionUpdate::default()
        }));
        Ok(core)
    }

    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    pub fn is_open(&self) -> bool {
        self.phase == Phase::Open
    }

    /// Whether this connection registers a new device (no `creds.me` when it started).
    pub fn is_registration(&self) -> bool {
        self.registering
    }

    pub fn creds(&self) -> &SharedCreds {
        &self.creds
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A fresh message tag (`<prefix><n>`), Baileys' `generateMessageTag`.
    pub fn next_tag(&mut self) -> String {
        let t = format!("{}{}", self.tag_prefix, self.epoch);
        self.epoch += 1;
        t
    }

    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmits.pop_front()
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The next moment [`Core::handle_timeout`] must run.
    pub fn poll_timeout(&self) -> Option<u64> {
        if self.phase == Phase::Closed {
            return None;
        }
        let mut t: Option<u64> = None;
        let mut take = |d: u64| t = Some(t.map_or(d, |x| x.min(d)));
        if self.phase == Phase::Handshake {
            take(self.started + self.config.connect_timeout.as_millis() as u64);
        }
        if let Some(p) = self.next_ping {
            take(p);
        }
        if let Some(q) = &self.qr {
            take(q.next_at);
        }
        for &(d, _) in self.waiting.values() {
            take(d);
        }
        t
    }

    fn event(&mut self, e: Event) {
        self.outputs.push_back(Output::Event(e));
    }

    /// Ends the connection (once); later calls do nothing.
    pub fn close(&mut self, why: Disconnect) {
        if self.phase == Phase::Closed {
            return;
        }
        tracing::debug!(status = why.status, code = why.code, "connection closing");
        self.phase = Phase::Closed;
        self.qr = None;
        self.next_ping = None;
        for (id, _) in self.waiting.drain() {
            self.outputs.push_back(Output::Reply {
                id,
                result: Err(ClientError::Closed(why.clone())),
            });
        }
        self.outputs.push_back(Output::Closed(why));
    }

    /// Sends a node (no reply expected).
    pub fn send_node(&mut self, node: &Node) -> Result<(), ClientError> {
        if self.phase != Phase::Open {
            return Err(ClientError::Closed(Disconnect::closed()));
        }
        let frame = wa_binary::encode_frame(node).map_err(ClientError::Binary)?;
        self.noise
            .send(&frame)
            .map_err(|e| ClientError::Closed(Disconnect::new(500, e.code(), e.to_string())))?;
        self.drain_noise_transmits();
        Ok(())
    }

    /// Sends a node and waits for the `iq` result (or `ack`) carrying its id; gives the node an
    /// id when it has none. The answer comes out as [`Output::Reply`].
    pub fn send_query(
        &mut self,
        node: &mut Node,
        timeout_ms: Option<u64>,
        now: u64,
    ) -> Result<String, ClientError> {
        let id = match node.get_attr("id") {
            Some(id) if !id.is_empty() => id.to_owned(),
            _ => {
                let id = self.next_tag();
                node.attrs.push(("id".into(), id.clone().into()));
                id
            }
        };
        self.send_node(node)?;
        let timeout = timeout_ms.unwrap_or(self.config.default_query_timeout.as_millis() as u64);
        self.waiting.insert(id.clone(), (now + timeout, timeout));
        Ok(id)
    }

    /// Waits for the answer to a node already sent with this id (a message's server `ack`).
    pub fn expect_reply(&mut self, id: String, timeout_ms: u64, now: u64) {
        if self.phase != Phase::Closed {
            self.waiting.insert(id, (now + timeout_ms, timeout_ms));
        }
    }

    /// Forgets a waiter (the caller went away).
    pub fn cancel(&mut self, id: &str) {
        self.waiting.remove(id);
    }

    /// Feeds one websocket message.
    pub fn handle_data(&mut self, now: u64, data: &[u8]) {
        if self.phase == Phase::Closed {
            return;
        }
        self.last_recv = now;
        if let Err(e) = self.noise.handle_data(now / 1000, data) {
            self.drain_noise(now);
            self.close(Disconnect::new(500, e.code(), e.to_string()));
            return;
        }
        self.drain_noise(now);
    }

    fn drain_noise_transmits(&mut self) {
        while let Some(t) = self.noise.poll_transmit() {
            self.transmits.push_back(t);
        }
    }

    fn drain_noise(&mut self, now: u64) {
        self.drain_noise_transmits();
        while let Some(ev) = self.noise.poll_event() {
            match ev {
                NoiseEvent::ServerVerified(_) => {
                    self.phase = Phase::Open;
                    self.next_ping = Some(now + self.config.keep_alive_interval.as_millis() as u64);
                    self.drain_noise_transmits();
                }
                NoiseEvent::Frame(frame) => {
                    if self.phase == Phase::Closed {
                        continue;
                    }
                    match wa_binary::decode_frame(&frame) {
                        Ok(node) => self.handle_node(node, now),
                        Err(e) => {
                            // One undecodable stanza is the server's problem, not a reason to
                            // drop the connection (Baileys would throw inside its handler).
                            tracing::warn!(
                                code = e.code(),
                                "received a frame that does not decode"
                            );
                        }
                    }
                }
                NoiseEvent::ClientFinished(_) => {}
            }
        }
    }

    fn handle_node(&mut self, node: Node, now: u64) {
        if let Some(id) = node.get_attr("id")
            && (node.tag == "ack"
                || (node.tag == "iq" && matches!(node.get_attr("type"), Some("result" | "error"))))
            && self.waiting.remove(id).is_some()
        {
            let id = id.to_owned();
            let result = match node.child("error") {
                Some(err) if node.tag == "iq" => Err(ClientError::Server {
                    code: err
                        .get_attr("code")
                        .and_then(|c| c.parse().ok())
                        .unwrap_or(500),
                    text: err.get_attr("text").unwrap_or_default().to_owned(),
                }),
                _ => Ok(node),
            };
            self.outputs.push_back(Output::Reply { id, result });
            return;
        }
        match node.tag.as_ref() {
            "stream:error" => self.close(stream::stream_error(&node)),
            "failure" => self.close(stream::failure(&node)),
            "xmlstreamend" => self.close(stream::stream_end()),
            "success" => {
                self.qr = None;
                self.outputs.push_back(Output::LoggedIn(node));
            }
            "iq" => self.handle_iq(node, now),
            "ib" => self.handle_ib(node),
            // An ack nobody waits for (the server's ack of each receipt we send: one per
            // message received) has nothing to act on; handed on, it woke the receive worker
            // for nothing.
            "ack" => {}
            _ => self.outputs.push_back(Output::Stanza(node)),
        }
    }

    fn handle_iq(&mut self, node: Node, now: u64) {
        let id = node.get_attr("id").unwrap_or_default().to_owned();
        if node.child("pair-device").is_some() && node.get_attr("type") == Some("set") {
            let ack = Node::new("iq")
                .attr("to", "s.whatsapp.net")
                .attr("type", "result")
                .attr("id", id);
            let _ = self.send_node(&ack);
            let refs: VecDeque<String> = node
                .child("pair-device")
                .map(|p| {
                    p.children_by_tag("ref")
                        .filter_map(|r| r.content_string().map(|s| s.into_owned()))
                        .collect()
                })
                .unwrap_or_default();
            self.qr = Some(Qr { refs, next_at: now });
            self.rotate_qr(now, true);
        } else if node.child("pair-success").is_some() {
            let result = {
                let c = lock(&self.creds);
                pairing::pair_success(&node, &c)
            };
            match result {
                Ok(p) => self.paired(p),
                Err(e) => {
                    tracing::warn!(code = e.code(), "pairing refused");
                    self.close(Disconnect::new(500, e.code(), e.to_string()));
                }
            }
        } else if node.get_attr("type") == Some("get")
            && node.get_attr("xmlns") == Some("urn:xmpp:ping")
        {
            let pong = Node::new("iq")
                .attr("to", "s.whatsapp.net")
                .attr("type", "result")
                .attr("id", id);
            let _ = self.send_node(&pong);
        } else {
            self.outputs.push_back(Output::Stanza(node));
        }
    }

    fn rotate_qr(&mut self, now: u64, first: bool) {
        let Some(qr) = &mut self.qr else { return };
        match qr.refs.pop_front() {
            Some(r) => {
                let life = self
                    .config
                    .qr_timeout
                    .map_or(if first { 60_000 } else { 20_000 }, |d| {
                        d.as_millis() as u64
                    });
                qr.next_at = now + life;
                let text = pairing::qr_string(&r, &lock(&self.creds), &self.config.browser);
                self.event(Event::Connection(ConnectionUpdate {
                    qr: Some(Some(text)),
                    ..ConnectionUpdate::default()
                }));
            }
            None => {
                self.qr = None;
                self.close(Disconnect::new(
                    reason::TIMED_OUT,
                    code::QR_EXPIRED,
                    "QR refs attempts ended",
                ));
            }
        }
    }

    fn paired(&mut self, p: pairing::Paired) {
        self.qr = None;
        let update = {
            let mut c = lock(&self.creds);
            c.me = Some(Me {
                lid: p.me_lid.clone(),
                name: p.biz_name.clone(),
                ..Me::new(p.me_id.clone())
            });
            c.account = Some(p.account.clone());
            c.signal_identities
                .get_or_insert_with(Vec::new)
                .push(p.identity.clone());
            c.platform = p.platform.clone();
            c.registered = true;
            creds_update(
                &c,
                &[
                    CredsField::Me,
                    CredsField::Account,
                    CredsField::SignalIdentities,
                    CredsField::Platform,
                    CredsField::Registered,
                ],
            )
        };
        self.event(Event::Creds(update));
        self.event(Event::Connection(ConnectionUpdate {
            is_new_login: Some(true),
            qr: Some(None),
            ..ConnectionUpdate::default()
        }));
        if let Err(e) = self.send_node(&p.reply) {
            self.close(Disconnect::new(500, e.code(), e.to_string()));
        }
    }

    fn handle_ib(&mut self, node: Node) {
        if let Some(off) = node.child("offline") {
            let count: u64 = off
                .get_attr("count")
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            tracing::info!(count, "handled offline messages/notifications");
            self.event(Event::Connection(ConnectionUpdate {
                received_pending_notifications: Some(true),
                ..ConnectionUpdate::default()
            }));
        } else if let Some(er) = node.child("edge_routing") {
            if let Some(info) = er.child("routing_info").and_then(Node::content_bytes) {
                let update = {
                    let mut c = lock(&self.creds);
                    c.routing_info = Some(info.to_vec());
                    creds_update(&c, &[CredsField::RoutingInfo])
                };
                self.event(Event::Creds(update));
            }
        } else if node.child("offline_preview").is_some() {
            let batch =
                Node::new("ib").children(vec![Node::new("offline_batch").attr("count", "100")]);
            let _ = self.send_node(&batch);
        } else if node.child("downgrade_webclient").is_some() {
            self.close(Disconnect::new(
                reason::MULTIDEVICE_MISMATCH,
                code::MULTIDEVICE_MISMATCH,
                "Multi-device beta not joined",
            ));
        } else {
            self.outputs.push_back(Output::Stanza(node));
        }
    }

    /// Runs everything due at `now`: the handshake deadline, keepalive, QR rotation, IQ
    /// deadlines.
    pub fn handle_timeout(&mut self, now: u64) {
        if self.phase == Phase::Closed {
            return;
        }
        if self.phase == Phase::Handshake
            && now >= self.started + self.config.connect_timeout.as_millis() as u64
        {
            self.close(Disconnect::new(
                reason::TIMED_OUT,
                code::TIMEOUT,
                "Timed Out",
            ));
            return;
        }
        let expired: Vec<String> = self
            .waiting
            .iter()
            .filter(|(_, (d, _))| *d <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            let waited = self.waiting.remove(&id).map_or(0, |(_, t)| t);
            self.outputs.push_back(Output::Reply {
                id,
                result: Err(ClientError::Timeout(waited)),
            });
        }
        if self.qr.as_ref().is_some_and(|q| q.next_at <= now) {
            self.rotate_qr(now, false);
        }
        if let Some(p) = self.next_ping
            && p <= now
            && self.phase == Phase::Open
        {
            let interval = self.config.keep_alive_interval.as_millis() as u64;
            if now.saturating_sub(self.last_recv) > interval + 5000 {
                self.close(Disconnect::new(
                    reason::CONNECTION_LOST,
                    code::CONNECTION_LOST,
                    "Connection was lost",
                ));
                return;
            }
            self.next_ping = Some(now + interval);
            let mut ping = Node::new("iq")
                .attr("to", "s.whatsapp.net")
                .attr("type", "get")
                .attr("xmlns", "w:p")
                .children(vec![Node::new("ping")]);
            // The answer is only needed to prove the link is alive (it moves `last_recv`).
            let _ = self.send_query(&mut ping, Some(interval), now);
        }
    }
}
