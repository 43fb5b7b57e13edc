//! The server core, sans-IO: websocket messages and the time go in, websocket messages, close
//! requests, events and a deadline come out. All state (accounts, devices, connections,
//! offline queues) lives here; [`crate::TestServer`] is the thin tokio driver around it, and
//! tests drive it directly with a virtual clock.
//!
//! Drive it like quinn-proto: after every input (`connect`, `handle_data`, `disconnect`,
//! `handle_timeout`, a control call) drain [`Server::poll_output`] to the sockets and
//! [`Server::poll_event`] to whoever waits, then sleep until [`Server::poll_timeout`].
//!
//! Nothing a client sends can panic the server or touch another connection: every input is
//! checked, and a connection that misbehaves is answered (error IQ, negative ack, stream error)
//! or closed on its own.

use std::collections::{BTreeMap, HashMap, VecDeque};

use wa_binary::{DecodeLimits, Node, decode_frame_with_limits, encode_frame};
use wa_noise::{Event as NoiseEvent, NoiseSession, ResponderConfig};

use crate::account::Account;
use crate::adv::IssuedIdentity;
use crate::config::ServerConfig;
use crate::error::{Result, TestServerError};
use crate::inbox::InboxMessage;
use crate::nodes::{self, SERVER_JID};
use crate::phone::PhoneReceipt;
use crate::seed::Seed;
use crate::trust::TrustRoot;

/// A connection, as the driver numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// One device of one account.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceAddr {
    /// The account's phone number (digits).
    pub number: String,
    /// 0 for the phone, 1.. for companions.
    pub device: u16,
}

/// A control request that completes later (a pairing).
pub type RequestId = u64;

/// What the driver must do with a socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send one websocket binary message.
    Transmit { conn: ConnId, data: Vec<u8> },
    /// Close the connection; `abort` drops it without a websocket close frame.
    Close { conn: ConnId, abort: bool },
}

/// What happened, for whoever waits on a control call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerEvent {
    /// A pairing (QR scan or pairing code) completed: the companion signed its identity.
    Paired { request: RequestId, jid: String },
    /// A pairing failed (the companion refused it, went away, or a code did not match).
    PairingFailed {
        request: RequestId,
        error: TestServerError,
    },
}

/// Counters over the server's life.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub connections_opened: u64,
    pub connections_open: u64,
    pub handshakes_completed: u64,
    pub handshake_failures: u64,
    pub bad_frames: u64,
    pub registrations: u64,
    pub pairings: u64,
    pub logins: u64,
    pub logins_refused: u64,
    pub pre_keys_uploaded: u64,
    pub messages_received: u64,
    pub messages_routed: u64,
    pub duplicates: u64,
    pub offline_delivered: u64,
    pub queued_now: u64,
    pub receipts_relayed: u64,
    pub unknown_iqs: u64,
    pub phone_received: u64,
    pub phone_sent: u64,
    pub phone_decrypt_failures: u64,
    pub faults_injected: u64,
    pub frames_dropped: u64,
    pub frames_corrupted: u64,
}

/// A stanza waiting for a device to take it (acked by a receipt or an ack).
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub class: &'static str,
    pub id: String,
    /// The `from` of the stanza (acks name it as `to`).
    pub from: String,
    pub node: Node,
    /// The connection it was last sent on, until acked.
    pub sent_on: Option<ConnId>,
}

/// What a companion registered with on its first connection.
#[derive(Debug, Clone)]
pub(crate) struct Registration {
    pub noise_key: [u8; 32],
    pub identity: [u8; 32],
    pub registration_id: u32,
    pub signed_pre_key: crate::account::SignedKey,
    pub push_name: Option<String>,
}

/// A registering connection: its refs, and the pairing in progress if any.
#[derive(Debug, Clone)]
pub(crate) struct Registering {
    pub reg: Registration,
    pub refs: Vec<String>,
    pub refs_issued_at: u64,
    pub pairing: Option<Pairing>,
    pub link: Option<LinkRequest>,
    /// Closed when the last ref has expired and nobody paired.
    pub deadline: u64,
}

/// `pair-success` sent; waiting for `pair-device-sign`.
#[derive(Debug, Clone)]
pub(crate) struct Pairing {
    pub request: Option<RequestId>,
    pub iq_id: String,
    pub number: String,
    pub device: u16,
    pub key_index: u32,
    pub issued: IssuedIdentity,
    pub platform: String,
    pub deadline: u64,
}

/// A companion asked to be linked by code (`companion_hello`).
#[derive(Debug, Clone)]
pub(crate) struct LinkRequest {
    pub number: String,
    pub wrapped: Vec<u8>,
    pub pairing_ref: Vec<u8>,
    pub entered: Option<LinkEntered>,
}

/// The code was typed on the phone; waiting for `companion_finish`.
#[derive(Debug, Clone)]
pub(crate) struct LinkEntered {
    pub request: Option<RequestId>,
    pub primary_ephemeral: wa_crypto::KeyPair,
    pub companion_ephemeral: [u8; 32],
}

/// A logged-in companion connection.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub addr: DeviceAddr,
    /// Active (after `<iq xmlns=passive><active/>`): gets live stanzas and the offline queue.
    pub active: bool,
}

#[derive(Debug)]
pub(crate) enum Phase {
    Handshake { deadline: u64 },
    Registering(Box<Registering>),
    LoggedIn(Session),
    Closing,
}

/// Output held back by a delay or stall fault.
#[derive(Debug)]
enum Held {
    Data(Vec<u8>),
    Close { abort: bool },
}

pub(crate) struct Conn {
    noise: NoiseSession,
    pub phase: Phase,
    /// Per-frame delay of everything sent (fault).
    pub delay_ms: u64,
    /// Nothing is sent before this time (fault).
    pub stalled_until: u64,
    held: VecDeque<(u64, Held)>,
    /// Corrupt this many of the next frames (fault).
    pub corrupt_next: u32,
    /// Swallow this many of the next stanzas (fault).
    pub drop_next: u32,
}

/// What a message id was, for routing receipts and spotting duplicates.
#[derive(Debug, Clone)]
pub(crate) struct SentRecord {
    pub sender: DeviceAddr,
    pub t: u64,
}

/// Login refusals (fault).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRefusal {
    /// `<stream:error code=N/>` and close (503 by default).
    StreamError(u16),
    /// `<failure reason=N/>` and close.
    Failure(u16),
}

/// The server core. See the module documentation.
pub struct Server {
    pub(crate) config: ServerConfig,
    pub(crate) seed: Seed,
    trust: TrustRoot,
    pub(crate) conns: BTreeMap<ConnId, Conn>,
    pub(crate) accounts: BTreeMap<String, Account>,
    pub(crate) lids: HashMap<String, String>,
    pub(crate) online: HashMap<DeviceAddr, ConnId>,
    pub(crate) queues: HashMap<DeviceAddr, VecDeque<Pending>>,
    pub(crate) sent: HashMap<(String, String), SentRecord>,
    pub(crate) subscribers: HashMap<String, std::collections::BTreeSet<DeviceAddr>>,
    pub(crate) presence: HashMap<DeviceAddr, bool>,
    pub(crate) last_seen: HashMap<String, u64>,
    pub(crate) refuse_logins_until: u64,
    pub(crate) refusal: LoginRefusal,
    out: VecDeque<Output>,
    pub(crate) events: VecDeque<ServerEvent>,
    next_id: u64,
    next_request: RequestId,
    pub(crate) stats: Stats,
    limits: DecodeLimits,
}

impl Server {
    pub fn new(config: ServerConfig) -> Self {
        let seed = config.seed.map_or_else(Seed::random, Seed::new);
        let trust = TrustRoot::from_seed(&seed);
        Self {
            config,
            seed,
            trust,
            conns: BTreeMap::new(),
            accounts: BTreeMap::new(),
            lids: HashMap::new(),
            online: HashMap::new(),
            queues: HashMap::new(),
            sent: HashMap::new(),
            subscribers: HashMap::new(),
            presence: HashMap::new(),
            last_seen: HashMap::new(),
            refuse_logins_until: 0,
            refusal: LoginRefusal::StreamError(503),
            out: VecDeque::new(),
            events: VecDeque::new(),
            next_id: 1,
            next_request: 1,
            stats: Stats::default(),
            limits: DecodeLimits::default(),
        }
    }

    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The public key clients must trust instead of WhatsApp's root.
    pub fn root_public_key(&self) -> [u8; 32] {
        self.trust.root_public()
    }

    /// The server's Noise static public key (the leaf certificate's key).
    pub fn static_public_key(&self) -> [u8; 32] {
        self.trust.static_key().public
    }

    pub fn stats(&self) -> Stats {
        let mut s = self.stats.clone();
        s.connections_open = self
            .conns
            .values()
            .filter(|c| !matches!(c.phase, Phase::Closing))
            .count() as u64;
        s.queued_now = self.queues.values().map(|q| q.len() as u64).sum();
        s
    }

    // ---- driver interface ----------------------------------------------------------------

    /// A websocket connection was accepted.
    pub fn connect(&mut self, conn: ConnId, now: u64) {
        let noise = NoiseSession::responder(ResponderConfig::new(
            self.trust.static_key().clone(),
            self.trust.chain().to_vec(),
        ));
        self.stats.connections_opened += 1;
        self.conns.insert(
            conn,
            Conn {
                noise,
                phase: Phase::Handshake {
                    deadline: now + self.config.handshake_timeout_ms,
                },
                delay_ms: 0,
                stalled_until: 0,
                held: VecDeque::new(),
                corrupt_next: 0,
                drop_next: 0,
            },
        );
    }

    /// The socket of `conn` closed (by the client, or after a [`Output::Close`]).
    pub fn disconnect(&mut self, conn: ConnId, _now: u64) {
        self.detach(conn);
        self.conns.remove(&conn);
    }

    /// One websocket message from `conn`.
    pub fn handle_data(&mut self, conn: ConnId, now: u64, data: &[u8]) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if matches!(c.phase, Phase::Closing) {
            return;
        }
        let result = c.noise.handle_data(now / 1000, data);
        let mut transmits = Vec::new();
        while let Some(t) = c.noise.poll_transmit() {
            transmits.push(t);
        }
        let mut events = Vec::new();
        while let Some(e) = c.noise.poll_event() {
            events.push(e);
        }
        for t in transmits {
            self.emit(conn, Held::Data(t), now);
        }
        for e in events {
            if !self.is_open(conn) {
                break;
            }
            match e {
                NoiseEvent::ClientFinished(id) => {
                    self.stats.handshakes_completed += 1;
                    crate::login::on_client_finished(self, conn, *id, now);
                }
                NoiseEvent::Frame(f) => self.on_frame(conn, &f, now),
                NoiseEvent::ServerVerified(_) => {}
            }
        }
        if let Err(e) = result
            && self.is_open(conn)
        {
            tracing::debug!(conn = conn.0, code = e.code(), "noise error; closing");
            if matches!(
                self.conns.get(&conn).map(|c| &c.phase),
                Some(Phase::Handshake { .. })
            ) {
                self.stats.handshake_failures += 1;
            } else {
                self.stats.bad_frames += 1;
            }
            self.close(conn, true, now);
        }
    }

    /// Runs timers due at `now`: held frames, handshake and pairing deadlines.
    pub fn handle_timeout(&mut self, now: u64) {
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for id in ids {
            self.release_held(id, now);
            let Some(c) = self.conns.get(&id) else {
                continue;
            };
            match &c.phase {
                Phase::Handshake { deadline } if *deadline <= now => {
                    self.stats.handshake_failures += 1;
                    self.close(id, true, now);
                }
                Phase::Registering(r) => {
                    if let Some(p) = &r.pairing
                        && p.deadline <= now
                    {
                        let request = p.request;
                        if let Some(Phase::Registering(r)) =
                            self.conns.get_mut(&id).map(|c| &mut c.phase)
                        {
                            r.pairing = None;
                        }
                        if let Some(request) = request {
                            self.events.push_back(ServerEvent::PairingFailed {
                                request,
                                error: TestServerError::PairingTimeout,
                            });
                        }
                        self.close(id, false, now);
                    } else if r.pairing.is_none() && r.deadline <= now {
                        self.close(id, false, now);
                    }
                }
                _ => {}
            }
        }
    }

    /// When [`Server::handle_timeout`] must run next.
    pub fn poll_timeout(&self) -> Option<u64> {
        let mut next: Option<u64> = None;
        let mut consider = |t: u64| next = Some(next.map_or(t, |n| n.min(t)));
        for c in self.conns.values() {
            if let Some((t, _)) = c.held.front() {
                consider(*t);
            }
            match &c.phase {
                Phase::Handshake { deadline } => consider(*deadline),
                Phase::Registering(r) => match &r.pairing {
                    Some(p) => consider(p.deadline),
                    None => consider(r.deadline),
                },
                _ => {}
            }
        }
        next
    }

    /// The next socket action.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    // ---- connections -----------------------------------------------------------------------

    pub(crate) fn is_open(&self, conn: ConnId) -> bool {
        self.conns
            .get(&conn)
            .is_some_and(|c| !matches!(c.phase, Phase::Closing))
    }

    pub(crate) fn phase(&self, conn: ConnId) -> Option<&Phase> {
        self.conns.get(&conn).map(|c| &c.phase)
    }

    pub(crate) fn phase_mut(&mut self, conn: ConnId) -> Option<&mut Phase> {
        self.conns.get_mut(&conn).map(|c| &mut c.phase)
    }

    /// Queues `held` for the socket, behind anything a fault holds back.
    fn emit(&mut self, conn: ConnId, held: Held, now: u64) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let mut release = now.saturating_add(c.delay_ms).max(c.stalled_until);
        if let Some((last, _)) = c.held.back() {
            release = release.max(*last);
        }
        if release <= now && c.held.is_empty() {
            self.out.push_back(match held {
                Held::Data(data) => Output::Transmit { conn, data },
                Held::Close { abort } => Output::Close { conn, abort },
            });
        } else {
            c.held.push_back((release, held));
        }
    }

    fn release_held(&mut self, conn: ConnId, now: u64) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        while c.held.front().is_some_and(|(t, _)| *t <= now) {
            let Some((_, h)) = c.held.pop_front() else {
                break;
            };
            self.out.push_back(match h {
                Held::Data(data) => Output::Transmit { conn, data },
                Held::Close { abort } => Output::Close { conn, abort },
            });
        }
    }

    /// Encrypts and sends one stanza to `conn`.
    pub(crate) fn send(&mut self, conn: ConnId, node: &Node, now: u64) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if matches!(c.phase, Phase::Closing) || !c.noise.is_established() {
            return;
        }
        if c.drop_next > 0 {
            c.drop_next -= 1;
            self.stats.frames_dropped += 1;
            return;
        }
        let frame = match encode_frame(node) {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(error = %e, "the server built a stanza it cannot encode");
                return;
            }
        };
        let mut data = match c.noise.send_now(&frame) {
            Ok(d) => d,
            Err(e) => {
                tracing::debug!(code = e.code(), "cannot send on this connection");
                return;
            }
        };
        if c.corrupt_next > 0 {
            c.corrupt_next -= 1;
            self.stats.frames_corrupted += 1;
            if let Some(last) = data.last_mut() {
                *last ^= 0x55;
            }
        }
        self.emit(conn, Held::Data(data), now);
    }

    /// Ends a connection: state is detached at once, the socket closes after what is queued.
    pub(crate) fn close(&mut self, conn: ConnId, abort: bool, now: u64) {
        if !self.is_open(conn) {
            return;
        }
        self.detach(conn);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.phase = Phase::Closing;
        }
        self.emit(conn, Held::Close { abort }, now);
    }

    /// Sends a stream error and closes.
    pub(crate) fn stream_error(&mut self, conn: ConnId, node: Node, now: u64) {
        self.send(conn, &node, now);
        self.close(conn, false, now);
    }

    /// Forgets what a connection held: its login, its pairing, its in-flight stanzas.
    fn detach(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        match std::mem::replace(&mut c.phase, Phase::Closing) {
            Phase::LoggedIn(s) => {
                if self.online.get(&s.addr) == Some(&conn) {
                    self.online.remove(&s.addr);
                }
                if let Some(q) = self.queues.get_mut(&s.addr) {
                    for p in q.iter_mut().filter(|p| p.sent_on == Some(conn)) {
                        p.sent_on = None;
                    }
                }
            }
            Phase::Registering(r) => {
                let requests = [
                    r.pairing.as_ref().and_then(|p| p.request),
                    r.link
                        .as_ref()
                        .and_then(|l| l.entered.as_ref())
                        .and_then(|e| e.request),
                ];
                for request in requests.into_iter().flatten() {
                    self.events.push_back(ServerEvent::PairingFailed {
                        request,
                        error: TestServerError::PairingFailed(
                            "the companion's connection closed".into(),
                        ),
                    });
                }
            }
            _ => {}
        }
    }

    fn on_frame(&mut self, conn: ConnId, frame: &[u8], now: u64) {
        let node = match decode_frame_with_limits(frame, &self.limits) {
            Ok(n) => n,
            Err(e) => {
                tracing::debug!(conn = conn.0, code = e.code(), "undecodable frame");
                self.stats.bad_frames += 1;
                self.stream_error(conn, nodes::stream_error_bad_xml(), now);
                return;
            }
        };
        match self.phase(conn) {
            Some(Phase::Registering(_)) => {
                crate::pairing::on_registration_node(self, conn, node, now)
            }
            Some(Phase::LoggedIn(_)) => self.on_session_node(conn, node, now),
            _ => {}
        }
    }

    fn on_session_node(&mut self, conn: ConnId, node: Node, now: u64) {
        let Some(Phase::LoggedIn(s)) = self.phase(conn) else {
            return;
        };
        let addr = s.addr.clone();
        match node.tag.as_ref() {
            "iq" => crate::iq::on_iq(self, conn, &addr, &node, now),
            "message" => crate::routing::on_message(self, conn, &addr, &node, now),
            "receipt" => crate::routing::on_receipt(self, conn, &addr, &node, now),
            "ack" => crate::routing::on_ack(self, &addr, &node),
            "presence" => crate::routing::on_presence(self, &addr, &node, now),
            "chatstate" => crate::routing::on_chatstate(self, &addr, &node, now),
            "notification" | "call" => {
                // Clients do not send these to the server; a well-behaved server acks and
                // drops them.
                if let Some(id) = node.get_attr("id") {
                    let ack = Node::new("ack")
                        .attr("id", id.to_owned())
                        .attr("class", node.tag.clone())
                        .attr("from", SERVER_JID);
                    self.send(conn, &ack, now);
                }
            }
            _ => {}
        }
    }

    // ---- ids and accounts ------------------------------------------------------------------

    /// A fresh stanza id.
    pub(crate) fn next_stanza_id(&mut self) -> String {
        let n = self.next_id;
        self.next_id += 1;
        format!("{n}.{}", n % 97)
    }

    pub(crate) fn next_request(&mut self) -> RequestId {
        let r = self.next_request;
        self.next_request += 1;
        r
    }

    /// The account of a phone number, created with its phone on first use.
    pub fn ensure_account(
        &mut self,
        number: &str,
        push_name: Option<&str>,
    ) -> Result<&mut Account> {
        let number = normalize_number(number)?;
        if !self.accounts.contains_key(&number) {
            let mut salt = 0u64;
            let lid = loop {
                let n = self
                    .seed
                    .number(&format!("lid {number} {salt}"), 100_000_000_000_000);
                let lid = format!("1{n:014}");
                if !self.lids.contains_key(&lid) {
                    break lid;
                }
                salt += 1;
            };
            let name = push_name.unwrap_or(&number).to_owned();
            let account = Account::new(
                &self.seed,
                &number,
                lid.clone(),
                &name,
                self.config.phone_pre_keys,
            );
            self.lids.insert(lid, number.clone());
            self.accounts.insert(number.clone(), account);
        }
        let account = self
            .accounts
            .get_mut(&number)
            .ok_or_else(|| TestServerError::UnknownAccount(number.clone()))?;
        if let Some(p) = push_name {
            account.push_name = p.to_owned();
        }
        Ok(account)
    }

    /// The account a user JID names (by phone number or LID); device and agent are ignored.
    pub(crate) fn account_of(&self, jid: &wa_binary::Jid) -> Option<&Account> {
        match jid.server {
            wa_binary::Server::Pn | wa_binary::Server::Legacy => self.accounts.get(&jid.user),
            wa_binary::Server::Lid => self.lids.get(&jid.user).and_then(|n| self.accounts.get(n)),
            _ => None,
        }
    }

    /// The device a device JID names, if the account and device exist.
    pub(crate) fn device_of(&self, jid: &str) -> Option<DeviceAddr> {
        let jid = wa_binary::Jid::parse(jid).ok()?;
        let account = self.account_of(&jid)?;
        account.has_device(jid.device).then(|| DeviceAddr {
            number: account.number.clone(),
            device: jid.device,
        })
    }

    /// A device's JID, by phone number or by LID.
    pub(crate) fn jid_of(&self, addr: &DeviceAddr, lid: bool) -> String {
        match (lid, self.accounts.get(&addr.number)) {
            (true, Some(a)) => nodes::device_jid(&a.lid, addr.device, "lid"),
            _ => nodes::device_jid(&addr.number, addr.device, SERVER_JID),
        }
    }

    // ---- control: phones -------------------------------------------------------------------

    /// The JIDs (phone number and LID) of an account, created on first use.
    pub fn account_jids(&mut self, number: &str) -> Result<(String, String)> {
        let a = self.ensure_account(number, None)?;
        Ok((a.pn_jid(), a.lid_jid()))
    }

    /// What the phone of `number` has received so far.
    pub fn inbox(&self, number: &str) -> Result<Vec<InboxMessage>> {
        let number = normalize_number(number)?;
        Ok(self
            .accounts
            .get(&number)
            .map(|a| a.phone.inbox.clone())
            .unwrap_or_default())
    }

    /// Receipts the phone of `number` got for its own messages.
    pub fn phone_receipts(&self, number: &str) -> Result<Vec<PhoneReceipt>> {
        let number = normalize_number(number)?;
        Ok(self
            .accounts
            .get(&number)
            .map(|a| a.phone.receipts.clone())
            .unwrap_or_default())
    }

    /// The companions linked to `number`, as device JIDs.
    pub fn devices(&self, number: &str) -> Result<Vec<String>> {
        let number = normalize_number(number)?;
        Ok(self
            .accounts
            .get(&number)
            .map(|a| {
                a.companions
                    .keys()
                    .map(|d| nodes::device_jid(&a.number, *d, SERVER_JID))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Stanzas waiting for a device (not yet acked), by device JID.
    pub fn queued(&self, device_jid: &str) -> usize {
        self.device_of(device_jid)
            .and_then(|d| self.queues.get(&d))
            .map_or(0, VecDeque::len)
    }

    /// Whether a device is connected and logged in (active or passive).
    pub fn is_online(&self, device_jid: &str) -> bool {
        self.device_of(device_jid)
            .is_some_and(|d| self.online.contains_key(&d))
    }
}

/// A phone number from `+1 555 123`, `1555123` or `1555123@s.whatsapp.net`.
pub fn normalize_number(input: &str) -> Result<String> {
    let user = input.split('@').next().unwrap_or_default();
    let user = user.split(':').next().unwrap_or_default();
    let digits: String = user
        .chars()
        .filter(|c| !matches!(c, '+' | ' ' | '-' | '(' | ')'))
        .collect();
    if (5..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        if digits.starts_with('0') {
            return Err(TestServerError::BadPhoneNumber(input.to_owned()));
        }
        Ok(digits)
    } else {
        Err(TestServerError::BadPhoneNumber(input.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers() {
        assert_eq!(normalize_number("+1 555 0100").unwrap(), "15550100");
        assert_eq!(
            normalize_number("15550100@s.whatsapp.net").unwrap(),
            "15550100"
        );
        assert_eq!(
            normalize_number("15550100:3@s.whatsapp.net").unwrap(),
            "15550100"
        );
        assert!(normalize_number("abc").is_err());
        assert!(normalize_number("0123456").is_err());
        assert!(normalize_number("123").is_err());
    }

    #[test]
    fn accounts_are_derived_from_the_seed() {
        let mut a = Server::new(ServerConfig::seeded("x"));
        let mut b = Server::new(ServerConfig::seeded("x"));
        let c = Server::new(ServerConfig::seeded("y"));
        assert_eq!(a.root_public_key(), b.root_public_key());
        assert_ne!(a.root_public_key(), c.root_public_key());
        let ja = a.account_jids("15550001").unwrap();
        let jb = b.account_jids("15550001").unwrap();
        assert_eq!(ja, jb);
        assert_eq!(ja.0, "15550001@s.whatsapp.net");
        assert!(ja.1.ends_with("@lid") && ja.1.len() == 15 + 4);
        let other = a.account_jids("15550002").unwrap();
        assert_ne!(other.1, ja.1);
    }
}

/// Entry points for the fuzz targets (`cargo fuzz` builds with `--cfg fuzzing`): stanzas
/// reach the handlers without a Noise session in front.
#[cfg(fuzzing)]
impl Server {
    /// A connection logged in as a new companion of `number`, without a handshake.
    pub fn fuzz_logged_in(&mut self, conn: ConnId, number: &str, now: u64) {
        self.connect(conn, now);
        let Ok(account) = self.ensure_account(number, None) else {
            return;
        };
        let (device, key_index) = account.allocate_device();
        let identity = wa_crypto::KeyPair::from_private([device as u8; 32]);
        account.companions.insert(
            device,
            crate::account::Companion {
                device,
                key_index,
                noise_key: [0; 32],
                identity: identity.public,
                registration_id: 1,
                signed_pre_key: crate::account::SignedKey {
                    id: 1,
                    public: [9; 32],
                    signature: vec![0; 64],
                },
                pre_keys: [(1, [5u8; 32]), (2, [6u8; 32])].into_iter().collect(),
                adv: Vec::new(),
                platform: "fuzz".into(),
                paired_at: now,
                uploaded_total: 0,
            },
        );
        let addr = DeviceAddr {
            number: number.to_owned(),
            device,
        };
        self.online.insert(addr.clone(), conn);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.phase = Phase::LoggedIn(Session { addr, active: true });
        }
    }

    /// A frame (flag byte + node) from `conn`, as if it had been decrypted.
    pub fn fuzz_frame(&mut self, conn: ConnId, frame: &[u8], now: u64) {
        self.on_frame(conn, frame, now);
    }
}
