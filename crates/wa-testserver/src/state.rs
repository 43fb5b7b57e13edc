//! The server's state, at the bottom of the core: every connection with its phase and its
//! faults, the accounts with their devices, the per-device queues, what was sent (for
//! receipts and duplicates), presence, counters; the output, event and effect queues; and the
//! primitives every handler uses: send a stanza to a connection, close it, look a device up.
//!
//! Handlers (`login`, `pairing`, `iq`, `routing`, `phone_ops`, ...) take a `&mut State` and
//! nothing else: they cannot call the dispatcher or a handler above them. When one needs work
//! done by a module above it (a stanza routed to a simulated phone must be taken by the phone,
//! whose code routes its answers), it pushes an [`Effect`]; the dispatcher (`server`) runs the
//! effects once the handler has returned, before the input call ends.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use wa_binary::{DecodeLimits, Jid, Node, encode_frame};
use wa_noise::{Event as NoiseEvent, NoiseError, NoiseSession, ResponderConfig};
use wa_vocab::{S_WHATSAPP_NET, device_jid};

use crate::account::{Account, SignedKey, normalize_number};
use crate::adv::IssuedIdentity;
use crate::config::ServerConfig;
use crate::error::{Result, TestServerError};
use crate::group::Groups;
use crate::media::MediaStore;
use crate::newsletter::Newsletters;
use crate::phone::Bundle;
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
    /// Media retry requests the phones answered.
    pub phone_media_retries: u64,
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
    pub signed_pre_key: SignedKey,
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

impl Held {
    fn output(self, conn: ConnId) -> Output {
        match self {
            Held::Data(data) => Output::Transmit { conn, data },
            Held::Close { abort } => Output::Close { conn, abort },
        }
    }
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

impl Conn {
    /// When the first frame a fault holds back is due.
    pub fn held_until(&self) -> Option<u64> {
        self.held.front().map(|(t, _)| *t)
    }
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

/// Work a handler leaves for a module above it; the dispatcher runs it after the handler
/// returns, in order, until none is left.
#[derive(Debug, Clone)]
pub(crate) enum Effect {
    /// A stanza (`message` or `receipt`) routed to the simulated phone of an account (device
    /// 0): the phone takes it (decrypts, answers with a receipt, or encrypts again for a retry).
    PhoneReceive {
        phone: DeviceAddr,
        class: &'static str,
        node: Node,
    },
    /// A logged-in device's connection ended (and no other connection of it is up): its
    /// presence no longer counts.
    DeviceOffline { addr: DeviceAddr },
}

/// The server's state. See the module documentation.
pub(crate) struct State {
    pub config: ServerConfig,
    pub seed: Seed,
    trust: TrustRoot,
    /// Upload auths from `media_conn` and the uploaded files (shared with the media host).
    pub media: MediaStore,
    pub conns: BTreeMap<ConnId, Conn>,
    pub accounts: BTreeMap<String, Account>,
    /// LID user -> phone number.
    pub lids: HashMap<String, String>,
    /// The connection each logged-in device is on.
    pub online: HashMap<DeviceAddr, ConnId>,
    /// Stanzas each companion has not acknowledged yet.
    pub queues: HashMap<DeviceAddr, VecDeque<Pending>>,
    /// Messages by (sender's number, id).
    pub sent: HashMap<(String, String), SentRecord>,
    /// Who subscribed to an account's presence.
    pub subscribers: HashMap<String, BTreeSet<DeviceAddr>>,
    pub presence: HashMap<DeviceAddr, bool>,
    pub last_seen: HashMap<String, u64>,
    pub refuse_logins_until: u64,
    pub refusal: LoginRefusal,
    out: VecDeque<Output>,
    pub events: VecDeque<ServerEvent>,
    pub effects: VecDeque<Effect>,
    next_id: u64,
    next_request: RequestId,
    pub stats: Stats,
    pub limits: DecodeLimits,
    /// Groups and communities.
    pub groups: Groups,
    /// Seeded companions without a connection: what is routed to them is dropped.
    pub silent: HashSet<DeviceAddr>,
    /// Newsletters (channels).
    pub newsletters: Newsletters,
    /// The newsletters (user ids) each connection subscribed to live updates of; forgotten
    /// when the connection ends, as WhatsApp ties them to the connection, not the device.
    pub newsletter_live: HashMap<ConnId, BTreeSet<String>>,
}

impl State {
    pub fn new(config: ServerConfig) -> Self {
        let seed = config.seed.map_or_else(Seed::random, Seed::new);
        let trust = TrustRoot::from_seed(&seed);
        let media = MediaStore::new(config.media_max_bytes, config.media_auth_ttl_ms);
        Self {
            media,
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
            effects: VecDeque::new(),
            next_id: 1,
            next_request: 1,
            stats: Stats::default(),
            limits: DecodeLimits::default(),
            groups: Groups::default(),
            silent: HashSet::new(),
            newsletters: Newsletters::default(),
            newsletter_live: HashMap::new(),
        }
    }

    pub fn trust(&self) -> &TrustRoot {
        &self.trust
    }

    /// The counters, with the gauges (open connections, queued stanzas) filled in.
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

    pub fn pop_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    // ---- connections -----------------------------------------------------------------------

    /// A new connection, waiting for its Noise handshake.
    pub fn open(&mut self, conn: ConnId, now: u64) {
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

    /// Feeds websocket bytes to the connection's Noise session: what it answers is sent, what
    /// it decrypted (the client's identity, frames) is returned with the session's verdict.
    /// `None` for a connection that is gone or closing.
    pub fn noise_input(
        &mut self,
        conn: ConnId,
        now: u64,
        data: &[u8],
    ) -> Option<(std::result::Result<(), NoiseError>, Vec<NoiseEvent>)> {
        let c = self.conns.get_mut(&conn)?;
        if matches!(c.phase, Phase::Closing) {
            return None;
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
        Some((result, events))
    }

    pub fn is_open(&self, conn: ConnId) -> bool {
        self.conns
            .get(&conn)
            .is_some_and(|c| !matches!(c.phase, Phase::Closing))
    }

    pub fn phase(&self, conn: ConnId) -> Option<&Phase> {
        self.conns.get(&conn).map(|c| &c.phase)
    }

    pub fn phase_mut(&mut self, conn: ConnId) -> Option<&mut Phase> {
        self.conns.get_mut(&conn).map(|c| &mut c.phase)
    }

    /// Whether `conn` is logged in and active (gets live stanzas).
    pub fn is_active(&self, conn: ConnId) -> bool {
        matches!(self.phase(conn), Some(Phase::LoggedIn(s)) if s.active)
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
            self.out.push_back(held.output(conn));
        } else {
            c.held.push_back((release, held));
        }
    }

    /// Passes on what a fault held back until `now`.
    pub fn release_held(&mut self, conn: ConnId, now: u64) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        while c.held.front().is_some_and(|(t, _)| *t <= now) {
            let Some((_, h)) = c.held.pop_front() else {
                break;
            };
            self.out.push_back(h.output(conn));
        }
    }

    /// Encrypts and sends one stanza to `conn`.
    pub fn send(&mut self, conn: ConnId, node: &Node, now: u64) {
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
    pub fn close(&mut self, conn: ConnId, abort: bool, now: u64) {
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
    pub fn stream_error(&mut self, conn: ConnId, node: Node, now: u64) {
        self.send(conn, &node, now);
        self.close(conn, false, now);
    }

    /// The socket of `conn` is gone: forget it.
    pub fn remove(&mut self, conn: ConnId) {
        self.detach(conn);
        self.conns.remove(&conn);
    }

    /// Forgets what a connection held: its login, its pairing, its in-flight stanzas.
    fn detach(&mut self, conn: ConnId) {
        self.newsletter_live.remove(&conn);
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        match std::mem::replace(&mut c.phase, Phase::Closing) {
            Phase::LoggedIn(s) => {
                if self.online.get(&s.addr) == Some(&conn) {
                    self.online.remove(&s.addr);
                    self.effects.push_back(Effect::DeviceOffline {
                        addr: s.addr.clone(),
                    });
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

    // ---- ids and accounts ------------------------------------------------------------------

    /// A fresh stanza id.
    pub fn next_stanza_id(&mut self) -> String {
        let n = self.next_id;
        self.next_id += 1;
        format!("{n}.{}", n % 97)
    }

    pub fn next_request(&mut self) -> RequestId {
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
    pub fn account_of(&self, jid: &Jid) -> Option<&Account> {
        match jid.server {
            wa_binary::Server::Pn | wa_binary::Server::Legacy => self.accounts.get(&jid.user),
            wa_binary::Server::Lid => self.lids.get(&jid.user).and_then(|n| self.accounts.get(n)),
            _ => None,
        }
    }

    /// The device a device JID names, if the account and device exist.
    pub fn device_of(&self, jid: &str) -> Option<DeviceAddr> {
        let jid = Jid::parse(jid).ok()?;
        let account = self.account_of(&jid)?;
        account.has_device(jid.device).then(|| DeviceAddr {
            number: account.number.clone(),
            device: jid.device,
        })
    }

    /// A device's JID, by phone number or by LID.
    pub fn jid_of(&self, addr: &DeviceAddr, lid: bool) -> String {
        match (lid, self.accounts.get(&addr.number)) {
            (true, Some(a)) => device_jid(&a.lid, addr.device, wa_binary::Server::Lid.as_str()),
            _ => device_jid(&addr.number, addr.device, S_WHATSAPP_NET),
        }
    }

    /// A device's bundle as a key fetch hands it out (consumes a one-time prekey).
    pub fn take_bundle(&mut self, device: &DeviceAddr) -> Result<Bundle> {
        let account = self
            .accounts
            .get_mut(&device.number)
            .ok_or_else(|| TestServerError::UnknownAccount(device.number.clone()))?;
        if device.device == 0 {
            let identity = account.identity.public;
            Ok(account.phone.take_bundle(&identity))
        } else {
            account
                .companions
                .get_mut(&device.device)
                .map(crate::account::Companion::take_bundle)
                .ok_or_else(|| {
                    TestServerError::UnknownDevice(format!("{}:{}", device.number, device.device))
                })
        }
    }
}
