//! The control API of the core: what a test does as the phone (scan a QR, type a pairing
//! code, send a message, unlink a device) and the fault controls. Each call is an input like
//! a frame: it acts on the state through the handlers, then settles the effects they left
//! (a message the phone sends to another account's phone is taken by that phone before the
//! call returns).

use wa_binary::Node;
use wa_vocab::S_WHATSAPP_NET;

use crate::config::GroupAddressing;
use crate::devices::unlink;
use crate::error::{Result, TestServerError};
use crate::group::Group;
use crate::linkcode::{self, PrimaryHello};
use crate::newsletter::{Newsletter, NewsletterRole};
use crate::nodes;
use crate::phone::MediaRetryAnswer;
use crate::server::Server;
use crate::state::{ConnId, LoginRefusal, Phase, RequestId};

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
        let request = crate::pairing::scan_qr(&mut self.state, now, qr, number, push_name);
        self.settle(now);
        request
    }

    /// What the phone needs to compute for a typed code: the companion's wrapped key.
    pub fn pairing_code_request(&self, number: &str) -> Result<Vec<u8>> {
        crate::pairing::link_code_material(&self.state, number)
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
        let request = crate::pairing::enter_pairing_code(&mut self.state, now, number, hello);
        self.settle(now);
        request
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
        let id = crate::phone_groups::phone_send(&mut self.state, now, number, to, message);
        self.settle(now);
        id
    }

    /// How the phone of `number` answers media retry requests for what it sent.
    pub fn set_media_retry_answer(&mut self, number: &str, answer: MediaRetryAnswer) -> Result<()> {
        self.state.ensure_account(number, None)?.phone.media_retry = answer;
        Ok(())
    }

    /// The phone unlinks a companion: `401 device_removed` on its connection, refused
    /// logins afterwards.
    pub fn remove_device(&mut self, now: u64, device_jid: &str) -> Result<()> {
        let addr = self
            .state
            .device_of(device_jid)
            .filter(|d| d.device != 0)
            .ok_or_else(|| TestServerError::UnknownDevice(device_jid.to_owned()))?;
        unlink(&mut self.state, &addr, true, now);
        self.settle(now);
        Ok(())
    }

    /// Accounts made in bulk (`{prefix}{index:06}`), each with its phone and `devices - 1`
    /// silent companions with real keys: members for benchmarks of big groups.
    pub fn seed_accounts(
        &mut self,
        now: u64,
        prefix: &str,
        count: usize,
        devices: u16,
    ) -> Result<Vec<String>> {
        crate::seeding::seed_accounts(&mut self.state, prefix, count, devices, now)
    }

    // ---- groups ----------------------------------------------------------------------------

    /// How groups created from now on address their members (LID by default, as WhatsApp's
    /// new groups; existing groups keep theirs).
    pub fn set_group_addressing(&mut self, addressing: GroupAddressing) {
        crate::groups::set_addressing(&mut self.state, addressing);
    }

    /// The phone of `creator` makes a group with these members (phone numbers, or user JIDs
    /// by number or LID; unknown ones are left out); their companions get the `create`
    /// notification. Returns the group's JID.
    pub fn phone_create_group(
        &mut self,
        now: u64,
        creator: &str,
        subject: &str,
        members: &[String],
    ) -> Result<String> {
        if !creator.contains('@') {
            self.state.ensure_account(creator, None)?;
        }
        let creator = user_of(creator)?;
        let members: Vec<String> = members.iter().map(|m| user_of(m)).collect::<Result<_>>()?;
        let jid = crate::groups::create_by_phone(&mut self.state, &creator, subject, &members, now)
            .ok_or(TestServerError::UnknownAccount(creator))?;
        self.settle(now);
        Ok(jid)
    }

    /// The phone of `actor` adds (or removes) members of a group, with the notifications a
    /// companion's change sends.
    pub fn phone_update_group(
        &mut self,
        now: u64,
        group: &str,
        actor: &str,
        add: bool,
        members: &[String],
    ) -> Result<()> {
        let actor = user_of(actor)?;
        let members: Vec<String> = members.iter().map(|m| user_of(m)).collect::<Result<_>>()?;
        crate::groups::change_by_phone(&mut self.state, group, &actor, add, &members, now)
            .ok_or_else(|| TestServerError::BadJid(group.to_owned()))?;
        self.settle(now);
        Ok(())
    }

    /// A group as the server keeps it (`…@g.us`).
    pub fn group(&self, group: &str) -> Result<Group> {
        wa_binary::Jid::parse(group)
            .ok()
            .filter(wa_binary::Jid::is_group)
            .and_then(|j| self.state.groups.get(&j.user).cloned())
            .ok_or_else(|| TestServerError::BadJid(group.to_owned()))
    }

    /// The JIDs of the groups `number` is a member of.
    pub fn groups_of(&self, number: &str) -> Result<Vec<String>> {
        let number = crate::account::normalize_number(number)?;
        Ok(self
            .state
            .groups
            .of_member(&number)
            .map(Group::jid)
            .collect())
    }

    // ---- newsletters -----------------------------------------------------------------------

    /// A newsletter as the server keeps it (`…@newsletter`), deleted ones included.
    pub fn newsletter(&self, jid: &str) -> Result<Newsletter> {
        wa_binary::Jid::parse(jid)
            .ok()
            .filter(wa_binary::Jid::is_newsletter)
            .and_then(|j| self.state.newsletters.by_id.get(&j.user))
            .map(crate::newsletter::NewsletterRecord::snapshot)
            .ok_or_else(|| TestServerError::BadJid(jid.to_owned()))
    }

    /// Makes `user` (a phone number, or a user JID by number or LID) an admin or a subscriber
    /// of a newsletter, following it if it did not: Baileys has no call that promotes, so a
    /// test sets admins up this way. Nobody is notified. The owner's role changes only by
    /// handing the ownership over (`BadOption`).
    pub fn newsletter_set_role(
        &mut self,
        jid: &str,
        user: &str,
        role: NewsletterRole,
    ) -> Result<()> {
        let number = self.resolve_account(user)?;
        let n = wa_binary::Jid::parse(jid)
            .ok()
            .filter(wa_binary::Jid::is_newsletter)
            .and_then(|j| self.state.newsletters.live_mut(&j.user))
            .ok_or_else(|| TestServerError::BadJid(jid.to_owned()))?;
        if n.set_role(&number, role) {
            Ok(())
        } else {
            Err(TestServerError::BadOption(
                "a newsletter's owner changes only by handing it to an admin; roles set here are ADMIN or SUBSCRIBER".into(),
            ))
        }
    }

    /// The owner's phone posts a text (a `conversation` message) to a newsletter; every
    /// companion of its owner, admins and followers gets it. Returns its server id.
    pub fn phone_post_newsletter(&mut self, now: u64, jid: &str, text: &str) -> Result<u64> {
        let nid = wa_binary::Jid::parse(jid)
            .ok()
            .filter(wa_binary::Jid::is_newsletter)
            .map(|j| j.user)
            .ok_or_else(|| TestServerError::BadJid(jid.to_owned()))?;
        let message = wa_proto::Message {
            conversation: Some(text.to_owned()),
            ..Default::default()
        };
        let server_id = crate::newsletters::post_by_phone(
            &mut self.state,
            &nid,
            prost::Message::encode_to_vec(&message),
            now,
        )
        .ok_or_else(|| TestServerError::BadJid(jid.to_owned()))?;
        self.settle(now);
        Ok(server_id)
    }

    /// The phone number of an account named by number or user JID (PN or LID).
    fn resolve_account(&self, who: &str) -> Result<String> {
        let jid = wa_binary::Jid::parse(&user_of(who)?)
            .map_err(|_| TestServerError::BadJid(who.to_owned()))?;
        self.state
            .account_of(&jid)
            .map(|a| a.number.clone())
            .ok_or_else(|| TestServerError::UnknownAccount(who.to_owned()))
    }

    // ---- faults ----------------------------------------------------------------------------

    fn targets(&self, target: &FaultTarget) -> Vec<ConnId> {
        let state = &self.state;
        match target {
            FaultTarget::All => state
                .conns
                .iter()
                .filter(|(_, c)| !matches!(c.phase, Phase::Closing))
                .map(|(id, _)| *id)
                .collect(),
            FaultTarget::Conn(c) => state.is_open(*c).then_some(*c).into_iter().collect(),
            FaultTarget::Device(jid) => state
                .device_of(jid)
                .and_then(|d| state.online.get(&d).copied())
                .into_iter()
                .collect(),
        }
    }

    /// Drops connections without a close frame (a network cut). Returns how many.
    pub fn drop_connections(&mut self, now: u64, target: &FaultTarget) -> usize {
        let conns = self.targets(target);
        for c in &conns {
            self.state.close(*c, true, now);
        }
        self.state.stats.faults_injected += conns.len() as u64;
        conns.len()
    }

    /// Delays every frame sent to the connections by `ms` (0 ends the delay).
    pub fn delay_frames(&mut self, target: &FaultTarget, ms: u64) -> usize {
        let conns = self.targets(target);
        for c in &conns {
            if let Some(conn) = self.state.conns.get_mut(c) {
                conn.delay_ms = ms;
            }
        }
        self.state.stats.faults_injected += conns.len() as u64;
        conns.len()
    }

    /// Sends nothing to the connections for `ms`, then everything held back, in order.
    pub fn stall(&mut self, now: u64, target: &FaultTarget, ms: u64) -> usize {
        let conns = self.targets(target);
        for c in &conns {
            if let Some(conn) = self.state.conns.get_mut(c) {
                conn.stalled_until = now.saturating_add(ms);
            }
        }
        self.state.stats.faults_injected += conns.len() as u64;
        conns.len()
    }

    /// Sends each connection a frame whose ciphertext is corrupted (a server ping the client
    /// cannot authenticate), so its Noise session fails.
    pub fn corrupt_frame(&mut self, now: u64, target: &FaultTarget) -> usize {
        let conns = self.targets(target);
        for c in &conns {
            if let Some(conn) = self.state.conns.get_mut(c) {
                conn.corrupt_next = conn.corrupt_next.saturating_add(1);
            }
            let id = self.state.next_stanza_id();
            let ping = Node::new("iq")
                .attr("from", S_WHATSAPP_NET)
                .attr("id", id)
                .attr("type", "get")
                .attr("xmlns", "urn:xmpp:ping");
            self.state.send(*c, &ping, now);
        }
        self.state.stats.faults_injected += conns.len() as u64;
        conns.len()
    }

    /// Silently loses the next `n` stanzas to each connection (they stay queued until the
    /// device acks, so a reconnect delivers them).
    pub fn drop_frames(&mut self, target: &FaultTarget, n: u32) -> usize {
        let conns = self.targets(target);
        for c in &conns {
            if let Some(conn) = self.state.conns.get_mut(c) {
                conn.drop_next = conn.drop_next.saturating_add(n);
            }
        }
        self.state.stats.faults_injected += conns.len() as u64;
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
            self.state.stream_error(*c, kind.node(), now);
        }
        self.state.stats.faults_injected += conns.len() as u64;
        conns.len()
    }

    /// Refuses every login for `ms` from `now` (0 ends it).
    pub fn refuse_logins(&mut self, now: u64, ms: u64, refusal: LoginRefusal) {
        self.state.refuse_logins_until = now.saturating_add(ms);
        self.state.refusal = refusal;
        self.state.stats.faults_injected += 1;
    }
}

/// A phone number, or the user JID of an account (by number or LID), as a JID the groups code
/// resolves.
fn user_of(who: &str) -> Result<String> {
    if who.contains('@') {
        wa_binary::Jid::parse(who)
            .map(|j| wa_binary::Jid::new(j.user, j.server).to_string())
            .map_err(|_| TestServerError::BadJid(who.to_owned()))
    } else {
        Ok(format!(
            "{}@s.whatsapp.net",
            crate::account::normalize_number(who)?
        ))
    }
}
