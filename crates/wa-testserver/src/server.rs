//! The server core, sans-IO, at the top of the module graph: websocket messages, the time and
//! control calls go in; websocket messages, close requests, events and a deadline come out.
//! [`Server`] owns the [`State`] and is the dispatcher: it decrypts what arrives, hands each
//! stanza to its handler by tag (`login`, `pairing`, `iq`, `routing`), and after every input
//! runs the effects the handlers left (stanzas for the simulated phones, `phone_ops`) until
//! none is left. [`crate::TestServer`] is the thin tokio driver around it, and tests drive it
//! directly with a virtual clock.
//!
//! Drive it like quinn-proto: after every input (`connect`, `handle_data`, `disconnect`,
//! `handle_timeout`, a control call) drain [`Server::poll_output`] to the sockets and
//! [`Server::poll_event`] to whoever waits, then sleep until [`Server::poll_timeout`].
//!
//! Nothing a client sends can panic the server or touch another connection: every input is
//! checked, and a connection that misbehaves is answered (error IQ, negative ack, stream error)
//! or closed on its own.

use std::collections::VecDeque;

use wa_binary::{Node, decode_frame_with_limits};
use wa_noise::Event as NoiseEvent;
use wa_vocab::{S_WHATSAPP_NET, device_jid};

use crate::account::{Account, normalize_number};
use crate::config::ServerConfig;
use crate::error::{Result, TestServerError};
use crate::inbox::InboxMessage;
use crate::nodes;
use crate::phone::PhoneReceipt;
use crate::state::{ConnId, Effect, Output, Phase, ServerEvent, State, Stats};

/// The server core. See the module documentation.
pub struct Server {
    pub(crate) state: State,
}

impl Server {
    pub fn new(config: ServerConfig) -> Self {
        Self {
            state: State::new(config),
        }
    }

    pub fn config(&self) -> &ServerConfig {
        &self.state.config
    }

    /// The media store: upload auths issued by `media_conn` and the uploaded files.
    pub fn media(&self) -> &crate::media::MediaStore {
        &self.state.media
    }

    /// The public key clients must trust instead of WhatsApp's root.
    pub fn root_public_key(&self) -> [u8; 32] {
        self.state.trust().root_public()
    }

    /// The server's Noise static public key (the leaf certificate's key).
    pub fn static_public_key(&self) -> [u8; 32] {
        self.state.trust().static_key().public
    }

    pub fn stats(&self) -> Stats {
        self.state.stats()
    }

    // ---- driver interface ----------------------------------------------------------------

    /// A websocket connection was accepted.
    pub fn connect(&mut self, conn: ConnId, now: u64) {
        self.state.open(conn, now);
    }

    /// The socket of `conn` closed (by the client, or after a [`Output::Close`]).
    pub fn disconnect(&mut self, conn: ConnId, now: u64) {
        self.state.remove(conn);
        self.settle(now);
    }

    /// One websocket message from `conn`.
    pub fn handle_data(&mut self, conn: ConnId, now: u64, data: &[u8]) {
        let Some((result, events)) = self.state.noise_input(conn, now, data) else {
            return;
        };
        for e in events {
            if !self.state.is_open(conn) {
                break;
            }
            match e {
                NoiseEvent::ClientFinished(id) => {
                    self.state.stats.handshakes_completed += 1;
                    crate::login::on_client_finished(&mut self.state, conn, *id, now);
                }
                NoiseEvent::Frame(f) => self.on_frame(conn, &f, now),
                NoiseEvent::ServerVerified(_) => {}
            }
            self.settle(now);
        }
        if let Err(e) = result
            && self.state.is_open(conn)
        {
            tracing::debug!(conn = conn.0, code = e.code(), "noise error; closing");
            if matches!(self.state.phase(conn), Some(Phase::Handshake { .. })) {
                self.state.stats.handshake_failures += 1;
            } else {
                self.state.stats.bad_frames += 1;
            }
            self.state.close(conn, true, now);
            self.settle(now);
        }
    }

    /// Runs timers due at `now`: held frames, handshake and pairing deadlines.
    pub fn handle_timeout(&mut self, now: u64) {
        let state = &mut self.state;
        let ids: Vec<ConnId> = state.conns.keys().copied().collect();
        for id in ids {
            state.release_held(id, now);
            let Some(c) = state.conns.get(&id) else {
                continue;
            };
            match &c.phase {
                Phase::Handshake { deadline } if *deadline <= now => {
                    state.stats.handshake_failures += 1;
                    state.close(id, true, now);
                }
                Phase::Registering(r) => {
                    if let Some(p) = &r.pairing
                        && p.deadline <= now
                    {
                        let request = p.request;
                        if let Some(Phase::Registering(r)) = state.phase_mut(id) {
                            r.pairing = None;
                        }
                        if let Some(request) = request {
                            state.events.push_back(ServerEvent::PairingFailed {
                                request,
                                error: TestServerError::PairingTimeout,
                            });
                        }
                        state.close(id, false, now);
                    } else if r.pairing.is_none() && r.deadline <= now {
                        state.close(id, false, now);
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
        for c in self.state.conns.values() {
            if let Some(t) = c.held_until() {
                consider(t);
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
        self.state.pop_output()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.state.events.pop_front()
    }

    // ---- dispatch --------------------------------------------------------------------------

    fn on_frame(&mut self, conn: ConnId, frame: &[u8], now: u64) {
        let state = &mut self.state;
        let node = match decode_frame_with_limits(frame, &state.limits) {
            Ok(n) => n,
            Err(e) => {
                tracing::debug!(conn = conn.0, code = e.code(), "undecodable frame");
                state.stats.bad_frames += 1;
                state.stream_error(conn, nodes::stream_error_bad_xml(), now);
                return;
            }
        };
        match state.phase(conn) {
            Some(Phase::Registering(_)) => {
                crate::pairing::on_registration_node(state, conn, node, now)
            }
            Some(Phase::LoggedIn(_)) => self.on_session_node(conn, node, now),
            _ => {}
        }
    }

    fn on_session_node(&mut self, conn: ConnId, node: Node, now: u64) {
        let state = &mut self.state;
        let Some(Phase::LoggedIn(s)) = state.phase(conn) else {
            return;
        };
        let addr = s.addr.clone();
        match node.tag.as_ref() {
            "iq" => crate::iq::on_iq(state, conn, &addr, &node, now),
            "message" => crate::routing::on_message(state, conn, &addr, &node, now),
            "receipt" => crate::routing::on_receipt(state, conn, &addr, &node, now),
            "ack" => crate::routing::on_ack(state, &addr, &node),
            "presence" => crate::presence::on_presence(state, &addr, &node, now),
            "chatstate" => crate::presence::on_chatstate(state, &addr, &node, now),
            "notification" | "call" => {
                // Clients do not send these to the server; a well-behaved server acks and
                // drops them.
                if let Some(id) = node.get_attr("id") {
                    let ack = Node::new("ack")
                        .attr("id", id.to_owned())
                        .attr("class", node.tag.clone())
                        .attr("from", S_WHATSAPP_NET);
                    state.send(conn, &ack, now);
                }
            }
            _ => {}
        }
    }

    /// Runs the effects handlers left, and those that running them leaves, until none is
    /// left. Every input ends with this, so the state is settled between inputs.
    pub(crate) fn settle(&mut self, now: u64) {
        while let Some(effect) = self.state.effects.pop_front() {
            match effect {
                Effect::PhoneReceive { phone, class, node } => {
                    crate::phone_groups::phone_receive(&mut self.state, &phone, class, &node, now)
                }
                Effect::DeviceOffline { addr } => {
                    crate::presence::on_device_gone(&mut self.state, &addr, now)
                }
            }
        }
    }

    // ---- accounts and queries --------------------------------------------------------------

    /// The account of a phone number, created with its phone on first use.
    pub fn ensure_account(
        &mut self,
        number: &str,
        push_name: Option<&str>,
    ) -> Result<&mut Account> {
        self.state.ensure_account(number, push_name)
    }

    /// The JIDs (phone number and LID) of an account, created on first use.
    pub fn account_jids(&mut self, number: &str) -> Result<(String, String)> {
        let a = self.ensure_account(number, None)?;
        Ok((a.pn_jid(), a.lid_jid()))
    }

    /// What the phone of `number` has received so far.
    pub fn inbox(&self, number: &str) -> Result<Vec<InboxMessage>> {
        let number = normalize_number(number)?;
        Ok(self
            .state
            .accounts
            .get(&number)
            .map(|a| a.phone.inbox.clone())
            .unwrap_or_default())
    }

    /// Receipts the phone of `number` got for its own messages.
    pub fn phone_receipts(&self, number: &str) -> Result<Vec<PhoneReceipt>> {
        self.phone_receipts_from(number, 0)
    }

    /// The phone's receipts after the first `skip`: a reader following them reads only the
    /// new ones.
    pub fn phone_receipts_from(&self, number: &str, skip: usize) -> Result<Vec<PhoneReceipt>> {
        let number = normalize_number(number)?;
        Ok(self
            .state
            .accounts
            .get(&number)
            .map(|a| a.phone.receipts.get(skip..).unwrap_or_default().to_vec())
            .unwrap_or_default())
    }

    /// The phone of `number`, if that account exists.
    fn phone_of(&self, number: &str) -> Option<&crate::phone::Phone> {
        let n = normalize_number(number).ok()?;
        self.state.accounts.get(&n).map(|a| &a.phone)
    }

    /// How many messages the phone of `number` received (what a waiter checks on every
    /// event, so it counts instead of copying the inbox).
    pub fn inbox_len(&self, number: &str) -> usize {
        self.phone_of(number).map_or(0, |p| p.inbox.len())
    }

    /// How many receipts the phone of `number` got.
    pub fn phone_receipt_count(&self, number: &str) -> usize {
        self.phone_of(number).map_or(0, |p| p.receipts.len())
    }

    /// The companions linked to `number`, as device JIDs.
    pub fn devices(&self, number: &str) -> Result<Vec<String>> {
        let number = normalize_number(number)?;
        Ok(self
            .state
            .accounts
            .get(&number)
            .map(|a| {
                a.companions
                    .keys()
                    .map(|d| device_jid(&a.number, *d, S_WHATSAPP_NET))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Stanzas waiting for a device (not yet acked), by device JID.
    pub fn queued(&self, device_jid: &str) -> usize {
        self.state
            .device_of(device_jid)
            .and_then(|d| self.state.queues.get(&d))
            .map_or(0, VecDeque::len)
    }

    /// Whether a device is connected and logged in (active or passive).
    pub fn is_online(&self, device_jid: &str) -> bool {
        self.state
            .device_of(device_jid)
            .is_some_and(|d| self.state.online.contains_key(&d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// A phone writing to another account's phone goes through two effects (the message to
    /// the second phone, then its delivery receipt to the first): both are settled before
    /// the control call returns.
    #[test]
    fn a_control_call_returns_with_its_effects_settled() {
        let mut s = Server::new(ServerConfig::seeded("effects"));
        let now = 1_700_000_000_000;
        s.account_jids("15550002").unwrap();
        let id = s
            .phone_send_text(now, "15550001", "15550002", "phone to phone")
            .unwrap();
        assert!(s.state.effects.is_empty());
        let inbox = s.inbox("15550002").unwrap();
        assert_eq!(inbox.len(), 1);
        assert_eq!(inbox[0].text(), Some("phone to phone"));
        assert_eq!(inbox[0].participant, "15550001@s.whatsapp.net");
        let receipts = s.phone_receipts("15550001").unwrap();
        assert_eq!(receipts.len(), 1);
        assert_eq!(receipts[0].id, id);
        assert_eq!(receipts[0].kind, "delivery");
        assert_eq!(receipts[0].from, "15550002@s.whatsapp.net");
        // What the waiters count, and a reader following the receipts from an offset.
        assert_eq!(
            (s.inbox_len("15550002"), s.phone_receipt_count("15550001")),
            (1, 1)
        );
        assert_eq!(
            (s.inbox_len("15550001"), s.phone_receipt_count("15550009")),
            (0, 0)
        );
        assert_eq!(s.phone_receipts_from("15550001", 0).unwrap()[0].id, id);
        assert!(s.phone_receipts_from("15550001", 1).unwrap().is_empty());
        assert!(s.phone_receipts_from("15550001", 7).unwrap().is_empty());
        let stats = s.stats();
        assert_eq!(
            (
                stats.phone_sent,
                stats.phone_received,
                stats.messages_routed
            ),
            (1, 1, 1)
        );
        assert_eq!(stats.receipts_relayed, 1);
        // Nothing went to a socket: no companion is involved.
        assert!(s.poll_output().is_none());
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
        let addr = crate::state::DeviceAddr {
            number: number.to_owned(),
            device,
        };
        self.state.online.insert(addr.clone(), conn);
        if let Some(phase) = self.state.phase_mut(conn) {
            *phase = Phase::LoggedIn(crate::state::Session { addr, active: true });
        }
    }

    /// A frame (flag byte + node) from `conn`, as if it had been decrypted.
    pub fn fuzz_frame(&mut self, conn: ConnId, frame: &[u8], now: u64) {
        self.on_frame(conn, frame, now);
        self.settle(now);
    }
}
