//! A test companion (the client side of pairing, login, prekeys and Signal messages, written
//! for these tests from the protocol description) and a harness that steps it against the
//! sans-IO server core with a virtual clock.
#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::task::{Context, Poll, Waker};

use base64::Engine as _;
use prost::Message as _;
use wa_binary::{Node, decode_frame, encode_frame};
use wa_crypto::KeyPair;
use wa_crypto::curve;
use wa_crypto::mac::hmac_sha256;
use wa_noise::{ClientConfig, Event, NoiseSession};
use wa_proto::{
    AdvDeviceIdentity, AdvSignedDeviceIdentity, AdvSignedDeviceIdentityHmac, ClientPayload,
};
use wa_signal::keys::{generate_pre_keys, generate_registration_id, generate_signed_pre_key};
use wa_signal::protocol;
use wa_signal::{
    LocalIdentity, MemoryStore, MessageKind, PreKeyBundle, ProtocolAddress, SignedPreKey,
};
use wa_testserver::{ConnId, Output, Server, ServerConfig, ServerEvent};

pub const T0: u64 = 1_700_000_000_000;

pub fn now_or_never<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the in-memory store never waits"),
    }
}

/// A companion's long-lived state (what Baileys keeps in `creds` and its key store).
pub struct Device {
    pub noise: KeyPair,
    pub identity: KeyPair,
    pub registration_id: u32,
    pub signed: SignedPreKey,
    pub adv_secret: [u8; 32],
    pub jid: Option<String>,
    pub lid: Option<String>,
    /// Our ADVSignedDeviceIdentity (with the account key), sent with pkmsgs.
    pub account: Option<Vec<u8>>,
    pub account_key: Option<[u8; 32]>,
    pub store: MemoryStore,
    pub next_pre_key: u32,
    pub push_name: String,
}

impl Default for Device {
    fn default() -> Self {
        Self::new()
    }
}

impl Device {
    pub fn new() -> Self {
        let identity = KeyPair::generate();
        let registration_id = generate_registration_id();
        let signed = generate_signed_pre_key(&identity, 1);
        let store = MemoryStore::new(LocalIdentity::new(identity.clone(), registration_id));
        store.add_signed_pre_key(1, signed.key_pair.clone());
        Self {
            noise: KeyPair::generate(),
            identity,
            registration_id,
            signed,
            adv_secret: wa_crypto::random_bytes(),
            jid: None,
            lid: None,
            account: None,
            account_key: None,
            store,
            next_pre_key: 1,
            push_name: String::new(),
        }
    }

    pub fn registration_payload(&self) -> Vec<u8> {
        ClientPayload {
            passive: Some(false),
            pull: Some(false),
            device_pairing_data: Some(wa_proto::client_payload::DevicePairingRegistrationData {
                e_regid: Some(self.registration_id.to_be_bytes().to_vec()),
                e_keytype: Some(vec![5]),
                e_ident: Some(self.identity.public.to_vec()),
                e_skey_id: Some(self.signed.id.to_be_bytes()[1..].to_vec()),
                e_skey_val: Some(self.signed.key_pair.public.to_vec()),
                e_skey_sig: Some(self.signed.signature.to_vec()),
                build_hash: Some(vec![0; 16]),
                device_props: Some(vec![]),
            }),
            ..Default::default()
        }
        .encode_to_vec()
    }

    /// `username` and `device` from our JID; passive as Baileys logs in.
    pub fn login_payload(&self) -> Vec<u8> {
        let jid = wa_binary::Jid::parse(self.jid.as_deref().expect("paired")).unwrap();
        ClientPayload {
            username: Some(jid.user.parse().unwrap()),
            device: Some(u32::from(jid.device)),
            passive: Some(true),
            pull: Some(true),
            ..Default::default()
        }
        .encode_to_vec()
    }

    pub fn payload(&self) -> Vec<u8> {
        if self.jid.is_some() {
            self.login_payload()
        } else {
            self.registration_payload()
        }
    }

    /// The QR Baileys shows for a ref.
    pub fn qr(&self, pairing_ref: &str) -> String {
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        format!(
            "https://wa.me/settings/linked_devices#{pairing_ref},{},{},{},1",
            b64(&self.noise.public),
            b64(&self.identity.public),
            b64(&self.adv_secret)
        )
    }

    /// Checks `pair-success` as Baileys' `configureSuccessfulPairing` does (honest signature
    /// check) and builds the `pair-device-sign` reply.
    pub fn on_pair_success(&mut self, iq: &Node) -> Result<Node, String> {
        let ps = iq.child("pair-success").ok_or("no pair-success")?;
        let container = ps
            .child("device-identity")
            .and_then(Node::content_bytes)
            .ok_or("no device-identity")?;
        let device = ps.child("device").ok_or("no device")?;
        let container =
            AdvSignedDeviceIdentityHmac::decode(container).map_err(|_| "bad container")?;
        let details = container.details.clone().ok_or("no details")?;
        if container.hmac.as_deref() != Some(&hmac_sha256(&self.adv_secret, &details)[..]) {
            return Err("hmac mismatch".into());
        }
        let account =
            AdvSignedDeviceIdentity::decode(details.as_slice()).map_err(|_| "bad account")?;
        let inner = account.details.clone().ok_or("no inner details")?;
        let key: [u8; 32] = account
            .account_signature_key
            .as_deref()
            .and_then(|k| k.try_into().ok())
            .ok_or("no account key")?;
        let mut msg = vec![6, 0];
        msg.extend_from_slice(&inner);
        msg.extend_from_slice(&self.identity.public);
        if !curve::verify(
            &key,
            &msg,
            account.account_signature.as_deref().unwrap_or(&[]),
        ) {
            return Err("account signature does not verify".into());
        }
        let key_index = AdvDeviceIdentity::decode(inner.as_slice())
            .map_err(|_| "bad device identity")?
            .key_index
            .ok_or("no key index")?;
        let mut dmsg = vec![6, 1];
        dmsg.extend_from_slice(&inner);
        dmsg.extend_from_slice(&self.identity.public);
        dmsg.extend_from_slice(&key);
        let signed = AdvSignedDeviceIdentity {
            device_signature: Some(curve::sign(&self.identity.private, &dmsg).to_vec()),
            ..account.clone()
        };
        self.account = Some(signed.encode_to_vec());
        self.account_key = Some(key);
        self.jid = device.get_attr("jid").map(str::to_owned);
        self.lid = device.get_attr("lid").map(str::to_owned);
        let reply_identity = AdvSignedDeviceIdentity {
            account_signature_key: None,
            ..signed
        };
        Ok(Node::new("iq")
            .attr("to", "s.whatsapp.net")
            .attr("type", "result")
            .attr("id", iq.get_attr("id").unwrap_or("").to_owned())
            .children(vec![Node::new("pair-device-sign").children(vec![
                Node::new("device-identity")
                    .attr("key-index", key_index.to_string())
                    .bytes(reply_identity.encode_to_vec()),
            ])]))
    }

    /// `<iq xmlns=encrypt type=set>` with `count` new prekeys.
    pub fn prekey_upload(&mut self, id: &str, count: u32) -> Node {
        let keys = generate_pre_keys(self.next_pre_key, count);
        self.next_pre_key += count;
        let mut list = Vec::new();
        for k in &keys {
            self.store.add_pre_key(k.id, k.key_pair.clone());
            list.push(Node::new("key").children(vec![
                Node::new("id").bytes(k.id.to_be_bytes()[1..].to_vec()),
                Node::new("value").bytes(k.key_pair.public.to_vec()),
            ]));
        }
        iq(id, "encrypt", "set").children(vec![
            Node::new("registration").bytes(self.registration_id.to_be_bytes().to_vec()),
            Node::new("type").bytes(vec![5]),
            Node::new("identity").bytes(self.identity.public.to_vec()),
            Node::new("list").children(list),
            Node::new("skey").children(vec![
                Node::new("id").bytes(self.signed.id.to_be_bytes()[1..].to_vec()),
                Node::new("value").bytes(self.signed.key_pair.public.to_vec()),
                Node::new("signature").bytes(self.signed.signature.to_vec()),
            ]),
        ])
    }

    pub fn address(jid: &str) -> ProtocolAddress {
        ProtocolAddress::from_jid(jid).unwrap()
    }

    pub fn install(&self, jid: &str, user: &Node) {
        let b = bundle_from_user(user);
        now_or_never(protocol::process_bundle(
            &self.store,
            &Self::address(jid),
            &b,
            0,
        ))
        .unwrap();
    }

    pub fn encrypt(&self, jid: &str, plaintext: &[u8]) -> (String, Vec<u8>) {
        let e = now_or_never(protocol::encrypt(
            &self.store,
            &Self::address(jid),
            plaintext,
        ))
        .unwrap();
        (e.kind.as_str().to_owned(), e.body)
    }

    pub fn decrypt(&self, jid: &str, kind: &str, body: &[u8]) -> Result<Vec<u8>, String> {
        let kind = if kind == "pkmsg" {
            MessageKind::PreKey
        } else {
            MessageKind::Whisper
        };
        now_or_never(protocol::decrypt(
            &self.store,
            &Self::address(jid),
            kind,
            body,
            0,
        ))
        .map(|d| d.plaintext)
        .map_err(|e| e.to_string())
    }

    pub fn has_session(&self, jid: &str) -> bool {
        self.store
            .session(&Self::address(jid))
            .is_some_and(|r| r.has_open_session())
    }
}

pub fn bundle_from_user(user: &Node) -> PreKeyBundle {
    let b = |n: &Node, t: &str| n.child(t).and_then(Node::content_bytes).unwrap().to_vec();
    let be = |v: Vec<u8>| v.iter().fold(0u32, |a, x| (a << 8) | u32::from(*x));
    let skey = user.child("skey").unwrap();
    PreKeyBundle {
        registration_id: be(b(user, "registration")),
        identity_key: curve::prefix_public(&b(user, "identity").try_into().unwrap()).to_vec(),
        signed_pre_key_id: be(b(skey, "id")),
        signed_pre_key: curve::prefix_public(&b(skey, "value").try_into().unwrap()).to_vec(),
        signed_pre_key_signature: b(skey, "signature"),
        pre_key: user.child("key").map(|k| {
            (
                be(b(k, "id")),
                curve::prefix_public(&b(k, "value").try_into().unwrap()).to_vec(),
            )
        }),
    }
}

pub fn iq(id: &str, xmlns: &str, kind: &str) -> Node {
    Node::new("iq")
        .attr("id", id.to_owned())
        .attr("to", "s.whatsapp.net")
        .attr("xmlns", xmlns.to_owned())
        .attr("type", kind.to_owned())
}

/// WhatsApp's padding: `n` bytes of value `n`.
pub fn pad(mut m: Vec<u8>) -> Vec<u8> {
    m.extend([3u8; 3]);
    m
}

pub fn unpad(m: &[u8]) -> &[u8] {
    let n = usize::from(*m.last().unwrap());
    &m[..m.len() - n]
}

pub fn text_message(text: &str) -> Vec<u8> {
    pad(wa_proto::Message {
        conversation: Some(text.to_owned()),
        ..Default::default()
    }
    .encode_to_vec())
}

pub fn message_text(plain: &[u8]) -> Option<String> {
    let m = wa_proto::Message::decode(unpad(plain)).ok()?;
    m.conversation.or_else(|| {
        m.device_sent_message
            .and_then(|d| d.message)
            .and_then(|m| m.conversation)
    })
}

/// The client side of one connection.
pub struct Client {
    pub noise: NoiseSession,
    pub inbox: VecDeque<Node>,
    pub closed: Option<bool>,
    pub failed: bool,
    pub raw: Vec<Vec<u8>>,
}

/// The server core, its clients, and a virtual clock.
pub struct Harness {
    pub server: Server,
    pub now: u64,
    next: u64,
    pub clients: BTreeMap<ConnId, Client>,
    pub events: Vec<ServerEvent>,
}

pub fn fast_config() -> ServerConfig {
    ServerConfig {
        phone_pre_keys: 8,
        ..ServerConfig::seeded("harness")
    }
}

impl Harness {
    pub fn new() -> Self {
        Self::with_config(fast_config())
    }

    pub fn with_config(config: ServerConfig) -> Self {
        Self {
            server: Server::new(config),
            now: T0,
            next: 1,
            clients: BTreeMap::new(),
            events: Vec::new(),
        }
    }

    /// Opens a connection whose client starts the handshake with `payload`.
    pub fn connect(&mut self, noise_key: &KeyPair, payload: Vec<u8>) -> ConnId {
        let id = ConnId(self.next);
        self.next += 1;
        self.server.connect(id, self.now);
        let mut config = ClientConfig::new(noise_key.clone(), payload);
        config.trust_root = self.server.root_public_key();
        let noise = NoiseSession::client(config);
        self.clients.insert(
            id,
            Client {
                noise,
                inbox: VecDeque::new(),
                closed: None,
                failed: false,
                raw: Vec::new(),
            },
        );
        self.flush_client(id);
        self.step();
        id
    }

    pub fn connect_device(&mut self, d: &Device) -> ConnId {
        let noise = d.noise.clone();
        self.connect(&noise, d.payload())
    }

    fn flush_client(&mut self, id: ConnId) {
        let mut out = Vec::new();
        if let Some(c) = self.clients.get_mut(&id) {
            while let Some(t) = c.noise.poll_transmit() {
                out.push(t);
            }
        }
        for t in out {
            self.server.handle_data(id, self.now, &t);
        }
    }

    /// Delivers server output to clients until nothing moves.
    pub fn step(&mut self) {
        loop {
            let mut moved = false;
            while let Some(o) = self.server.poll_output() {
                moved = true;
                match o {
                    Output::Transmit { conn, data } => {
                        let Some(c) = self.clients.get_mut(&conn) else {
                            continue;
                        };
                        c.raw.push(data.clone());
                        if c.noise.handle_data(self.now / 1000, &data).is_err() {
                            c.failed = true;
                        }
                        while let Some(e) = c.noise.poll_event() {
                            if let Event::Frame(f) = e {
                                c.inbox
                                    .push_back(decode_frame(&f).expect("server frames decode"));
                            }
                        }
                        self.flush_client(conn);
                    }
                    Output::Close { conn, abort } => {
                        if let Some(c) = self.clients.get_mut(&conn) {
                            c.closed = Some(abort);
                        }
                        self.server.disconnect(conn, self.now);
                    }
                }
            }
            while let Some(e) = self.server.poll_event() {
                self.events.push(e);
            }
            if !moved {
                break;
            }
        }
    }

    pub fn send(&mut self, id: ConnId, node: &Node) {
        let frame = encode_frame(node).unwrap();
        let data = self
            .clients
            .get_mut(&id)
            .expect("client")
            .noise
            .send_now(&frame)
            .expect("established");
        self.server.handle_data(id, self.now, &data);
        self.step();
    }

    pub fn send_raw(&mut self, id: ConnId, data: &[u8]) {
        self.server.handle_data(id, self.now, data);
        self.step();
    }

    /// The client closes its socket.
    pub fn hang_up(&mut self, id: ConnId) {
        self.server.disconnect(id, self.now);
        if let Some(c) = self.clients.get_mut(&id) {
            c.closed = Some(true);
        }
        self.step();
    }

    pub fn advance(&mut self, ms: u64) {
        self.now += ms;
        self.server.handle_timeout(self.now);
        self.step();
    }

    /// Runs timers until `t`.
    pub fn advance_to(&mut self, t: u64) {
        while let Some(next) = self.server.poll_timeout() {
            if next > t {
                break;
            }
            self.now = self.now.max(next);
            self.server.handle_timeout(self.now);
            self.step();
        }
        self.now = self.now.max(t);
        self.server.handle_timeout(self.now);
        self.step();
    }

    pub fn recv(&mut self, id: ConnId) -> Option<Node> {
        self.clients.get_mut(&id).and_then(|c| c.inbox.pop_front())
    }

    pub fn drain(&mut self, id: ConnId) -> Vec<Node> {
        self.clients
            .get_mut(&id)
            .map(|c| c.inbox.drain(..).collect())
            .unwrap_or_default()
    }

    /// The first received stanza with this tag (earlier ones are dropped).
    pub fn expect(&mut self, id: ConnId, tag: &str) -> Node {
        while let Some(n) = self.recv(id) {
            if n.tag == tag {
                return n;
            }
        }
        panic!("no <{tag}> for {id:?}");
    }

    pub fn closed(&self, id: ConnId) -> Option<bool> {
        self.clients.get(&id).and_then(|c| c.closed)
    }

    /// Registers, scans the QR as the phone of `number`, answers pair-success, and returns
    /// the companion's JID.
    pub fn pair(&mut self, d: &mut Device, number: &str) -> String {
        let c = self.connect_device(d);
        let pd = self.expect(c, "iq");
        let r = first_ref(&pd);
        let request = self
            .server
            .scan_qr(self.now, &d.qr(&r), number, Some("Tester"))
            .unwrap();
        self.step();
        let ps = self.expect(c, "iq");
        let reply = d.on_pair_success(&ps).unwrap();
        self.send(c, &reply);
        let jid = self
            .events
            .iter()
            .find_map(|e| match e {
                ServerEvent::Paired { request: r, jid } if *r == request => Some(jid.clone()),
                _ => None,
            })
            .expect("paired");
        let se = self.expect(c, "stream:error");
        assert_eq!(se.get_attr("code"), Some("515"));
        assert_eq!(self.closed(c), Some(false));
        jid
    }

    /// Logs a paired device in, uploads prekeys and goes active. Returns the connection and
    /// what arrived up to the offline count.
    pub fn login(&mut self, d: &mut Device, prekeys: u32) -> (ConnId, Vec<Node>) {
        let c = self.connect_device(d);
        let success = self.expect(c, "success");
        assert!(success.get_attr("lid").is_some());
        if prekeys > 0 {
            let up = d.prekey_upload("up", prekeys);
            self.send(c, &up);
        }
        self.drain(c);
        self.send(
            c,
            &iq("act", "passive", "set").children(vec![Node::new("active")]),
        );
        let mut got = Vec::new();
        loop {
            let n = self.recv(c).expect("offline count arrives");
            if n.tag == "ib" && n.child("offline").is_some() {
                got.push(n);
                break;
            }
            got.push(n);
        }
        (c, got)
    }

    /// Pairs and logs in a new device of `number`.
    pub fn online_device(&mut self, number: &str) -> (Device, ConnId) {
        let mut d = Device::new();
        self.pair(&mut d, number);
        let (c, _) = self.login(&mut d, 10);
        (d, c)
    }
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

pub fn first_ref(pair_device_iq: &Node) -> String {
    let refs = pair_device_iq.child("pair-device").expect("pair-device");
    String::from_utf8(refs.child("ref").unwrap().content_bytes().unwrap().to_vec()).unwrap()
}

pub fn refs(pair_device_iq: &Node) -> Vec<String> {
    pair_device_iq
        .child("pair-device")
        .unwrap()
        .children_by_tag("ref")
        .map(|r| String::from_utf8(r.content_bytes().unwrap().to_vec()).unwrap())
        .collect()
}

/// A `<message>` with one `<to>` per device, each encrypted by `from` for that device
/// (fetching bundles through the server when there is no session yet).
pub fn encrypted_message(
    h: &mut Harness,
    conn: ConnId,
    from: &Device,
    to_user: &str,
    devices: &[String],
    id: &str,
    text: &str,
) -> Node {
    let need: Vec<&String> = devices.iter().filter(|d| !from.has_session(d)).collect();
    if !need.is_empty() {
        h.send(
            conn,
            &iq("keys", "encrypt", "get").children(vec![
                Node::new("key").children(
                    need.iter()
                        .map(|d| Node::new("user").attr("jid", (*d).clone()))
                        .collect(),
                ),
            ]),
        );
        let res = h.expect(conn, "iq");
        for u in res.child("list").unwrap().children_by_tag("user") {
            from.install(u.get_attr("jid").unwrap(), u);
        }
    }
    let mut tos = Vec::new();
    let mut pk = false;
    for d in devices {
        let (kind, body) = from.encrypt(d, &text_message(text));
        pk |= kind == "pkmsg";
        tos.push(Node::new("to").attr("jid", d.clone()).children(vec![
                Node::new("enc")
                    .attr("v", "2")
                    .attr("type", kind)
                    .bytes(body),
            ]));
    }
    let mut children = vec![Node::new("participants").children(tos)];
    if pk && let Some(a) = &from.account {
        children.push(Node::new("device-identity").bytes(a.clone()));
    }
    Node::new("message")
        .attr("id", id.to_owned())
        .attr("to", to_user.to_owned())
        .attr("type", "text")
        .children(children)
}

pub mod ws;
