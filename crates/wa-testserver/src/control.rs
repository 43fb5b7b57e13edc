//! The control API of the core: what a test does as the phone (scan a QR, type a pairing
//! code, send a message, unlink a device) and the fault controls.

use wa_binary::Node;

use crate::error::{Result, TestServerError};
use crate::linkcode::{self, PrimaryHello};
use crate::nodes::{self, SERVER_JID};
use crate::server::{ConnId, DeviceAddr, LoginRefusal, Phase, RequestId, Server};

/// Which connections a fault hits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultTarget {
    /// Every open connection (handshaking, registering or logged in).
    All,
    /// The connection a companion device (`number:device@s.whatsapp.net` or its LID form) is
    /// logged in on.
    Device(String),
    /// One connection.
    Conn(ConnId),
}

/// A stream error to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamErrorKind {
    /// `<conflict type="replaced"/>`: clients read 440.
    Replaced,
    /// `code=401` with `<conflict type="device_removed"/>`: logged out. (As a fault the device
    /// stays linked; [`Server::remove_device`] unlinks it for real.)
    DeviceRemoved,
    /// `<stream:error code=N/>` (500 internal, 503 unavailable, 515 restart, ...).
    Code(u16),
}

impl StreamErrorKind {
    /// From the status code a client reports: 440 and 401 get their conflict forms.
    pub fn from_code(code: u16) -> Self {
        match code {
            440 => Self::Replaced,
            401 => Self::DeviceRemoved,
            c => Self::Code(c),
        }
    }

    fn node(self) -> Node {
        match self {
            Self::Replaced => nodes::stream_error_replaced(),
            Self::DeviceRemoved => nodes::stream_error_device_removed(),
            Self::Code(c) => nodes::stream_error_code(c),
        }
    }
}

/// Unlinks a companion: its record, keys and queue go; its connection (if `kick`) gets
/// `401 device_removed`; everyone online learns the device list changed.
pub(crate) fn unlink(server: &mut Server, addr: &DeviceAddr, kick: bool, now: u64) {
    let Some(account) = server.accounts.get_mut(&addr.number) else {
        return;
    };
    if account.companions.remove(&addr.device).is_none() {
        return;
    }
    account.devices_changed = now / 1000;
    server.queues.remove(addr);
    if kick && let Some(conn) = server.online.get(addr).copied() {
        server.stream_error(conn, nodes::stream_error_device_removed(), now);
    }
    crate::routing::notify_devices(server, &addr.number, "remove", addr.device, now);
}

impl Server {
    /// The phone of `number` scans `qr` (what the companion shows). The companion gets
    /// `pair-success`; the request completes with [`crate::ServerEvent::Paired`] when it
    /// signs, or fails.
    pub fn scan_qr(
        &mut self,
        now: u64,
        qr: &str,
        number: &str,
        push_name: Option<&str>,
    ) -> Result<RequestId> {
        crate::pairing::scan_qr(self, now, qr, number, push_name)
    }

    /// What the phone needs to compute for a typed code: the companion's wrapped key.
    pub fn pairing_code_request(&self, number: &str) -> Result<Vec<u8>> {
        crate::pairing::link_code_material(self, number)
    }

    /// The user types `code` on the phone of `number`. The PBKDF2 work happens inline; a
    /// driver that must not block calls [`linkcode::primary_hello`] itself (on
    /// [`Server::pairing_code_request`]'s bytes) and then [`Server::enter_pairing_code_prepared`].
    pub fn enter_pairing_code(&mut self, now: u64, number: &str, code: &str) -> Result<RequestId> {
        let wrapped = self.pairing_code_request(number)?;
        let hello = linkcode::primary_hello(code, &wrapped);
        self.enter_pairing_code_prepared(now, number, hello)
    }

    /// [`Server::enter_pairing_code`] with the phone's answer computed already.
    pub fn enter_pairing_code_prepared(
        &mut self,
        now: u64,
        number: &str,
        hello: Option<PrimaryHello>,
    ) -> Result<RequestId> {
        crate::pairing::enter_pairing_code(self, now, number, hello)
    }

    /// The phone of `number` sends a text message to `to` (a user JID or a number).
    pub fn phone_send_text(
        &mut self,
        now: u64,
        number: &str,
        to: &str,
        text: &str,
    ) -> Result<String> {
        self.phone_send_message(
            now,
            number,
            to,
            wa_proto::Message {
                conversation: Some(text.to_owned()),
                ..Default::default()
            },
        )
    }

    /// The phone of `number` sends any message to `to`.
    pub fn phone_send_message(
        &mut self,
        now: u64,
        number: &str,
        to: &str,
        message: wa_proto::Message,
    ) -> Result<String> {
        crate::phone_ops::phone_send(self, now, number, to, message)
    }

    /// The phone unlinks a companion: `401 device_removed` on its connection, refused
    /// logins afterwards.
    pub fn remove_device(&mut self, now: u64, device_jid: &str) -> Result<()> {
        let addr = self
            .device_of(device_jid)
            .filter(|d| d.device != 0)
            .ok_or_else(|| TestServerError::UnknownDevice(device_jid.to_owned()))?;
        unlink(self, &addr, true, now);
        Ok(())
    }

    // ---- faults ----------------------------------------------------------------------------

    fn targets(&self, target: &FaultTarget) -> Vec<ConnId> {
        match target {
            FaultTarget::All => self
                .conns
                .iter()
                .filter(|(_, c)| !matches!(c.phase, Phase::Closing))
                .map(|(id, _)| *id)
                .collect(),
            FaultTarget::Conn(c) => self.is_open(*c).then_some(*c).into_iter().collect(),
            FaultTarget::Device(jid) => self
                .device_of(jid)
                .and_then(|d| self.online.get(&d).copied())
                .into_iter()
                .collect(),
        }
    }

    /// Drops connections without a close frame (a network cut). Returns how many.
    pub fn drop_connections(&mut self, now: u64, target: &FaultTarget) -> usize {
        let conns = self.targets(target);
        for c in &conns {
            self.close(*c, true, now);
        }
        self.stats.faults_injected += conns.len() as u64;
        conns.len()
    }

    /// Delays every frame sent to the connections by `ms` (0 ends the delay).
    pub fn delay_frames(&mut self, target: &FaultTarget, ms: u64) -> usize {
        let conns = self.targets(target);
        for c in &conns {
            if let Some(conn) = self.conns.get_mut(c) {
                conn.delay_ms = ms;
            }
        }
        self.stats.faults_injected += conns.len() as u64;
        conns.len()
    }

    /// Sends nothing to the connections for `ms`, then everything held back, in order.
    pub fn stall(&mut self, now: u64, target: &FaultTarget, ms: u64) -> usize {
        let conns = self.targets(target);
        for c in &conns {
            if let Some(conn) = self.conns.get_mut(c) {
                conn.stalled_until = now.saturating_add(ms);
            }
        }
        self.stats.faults_injected += conns.len() as u64;
        conns.len()
    }

    /// Sends each connection a frame whose ciphertext is corrupted (a server ping the client
    /// cannot authenticate), so its Noise session fails.
    pub fn corrupt_frame(&mut self, now: u64, target: &FaultTarget) -> usize {
        let conns = self.targets(target);
        for c in &conns {
            if let Some(conn) = self.conns.get_mut(c) {
                conn.corrupt_next = conn.corrupt_next.saturating_add(1);
            }
            let id = self.next_stanza_id();
            let ping = Node::new("iq")
                .attr("from", SERVER_JID)
                .attr("id", id)
                .attr("type", "get")
                .attr("xmlns", "urn:xmpp:ping");
            self.send(*c, &ping, now);
        }
        self.stats.faults_injected += conns.len() as u64;
        conns.len()
    }

    /// Silently loses the next `n` stanzas to each connection (they stay queued until the
    /// device acks, so a reconnect delivers them).
    pub fn drop_frames(&mut self, target: &FaultTarget, n: u32) -> usize {
        let conns = self.targets(target);
        for c in &conns {
            if let Some(conn) = self.conns.get_mut(c) {
                conn.drop_next = conn.drop_next.saturating_add(n);
            }
        }
        self.stats.faults_injected += conns.len() as u64;
        conns.len()
    }

    /// Sends a stream error and closes.
    pub fn send_stream_error(
        &mut self,
        now: u64,
        target: &FaultTarget,
        kind: StreamErrorKind,
    ) -> usize {
        let conns = self.targets(target);
        for c in &conns {
            self.stream_error(*c, kind.node(), now);
        }
        self.stats.faults_injected += conns.len() as u64;
        conns.len()
    }

    /// Refuses every login for `ms` from `now` (0 ends it).
    pub fn refuse_logins(&mut self, now: u64, ms: u64, refusal: LoginRefusal) {
        self.refuse_logins_until = now.saturating_add(ms);
        self.refusal = refusal;
        self.stats.faults_injected += 1;
    }
}
