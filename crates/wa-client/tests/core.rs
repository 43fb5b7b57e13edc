//! The connection state machine driven deterministically against an in-memory Noise
//! responder playing the server: virtual clock, hand-built stanzas, no sockets, no sleeps.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use prost::Message as _;
use wa_binary::Node;
use wa_client::config::Config;
use wa_client::core::{Core, Output};
use wa_client::ctx::SharedCreds;
use wa_client::error::ClientError;
use wa_client::{ConnectionUpdate, CredsChange, CredsUpdate, Event};
use wa_crypto::KeyPair;
use wa_noise::{Event as NoiseEvent, MintOptions, NoiseSession, ResponderConfig, mint_chain};
use wa_proto::{
    AdvDeviceIdentity, AdvSignedDeviceIdentity, AdvSignedDeviceIdentityHmac, ClientPayload,
};
use wa_store::AuthenticationCreds;

const T0: u64 = 1_750_000_000_000;

struct Server {
    root: KeyPair,
    noise: NoiseSession,
    payload: Option<ClientPayload>,
}

impl Server {
    fn new() -> Self {
        let root = KeyPair::generate();
        Self::with_root(root)
    }

    fn with_root(root: KeyPair) -> Self {
        let stat = KeyPair::generate();
        let chain = mint_chain(&root, &stat.public, &MintOptions::default()).encode();
        Self {
            root,
            noise: NoiseSession::responder(ResponderConfig::new(stat, chain)),
            payload: None,
        }
    }

    fn send(&mut self, node: &Node) {
        let frame = wa_binary::encode_frame(node).unwrap();
        self.noise.send(&frame).unwrap();
    }
}

struct Rig {
    server: Server,
    core: Core,
    now: u64,
    creds: SharedCreds,
    /// Nodes the client sent, decoded.
    sent: Vec<Node>,
    outputs: Vec<Output>,
    answer_pings: bool,
}

fn config(root: &KeyPair) -> Config {
    Config {
        trust_root: root.public,
        ..Config::default()
    }
}

impl Rig {
    fn new(creds: AuthenticationCreds) -> Self {
        let server = Server::new();
        let cfg = config(&server.root);
        Self::with(server, cfg, creds)
    }

    fn with(server: Server, cfg: Config, creds: AuthenticationCreds) -> Self {
        let creds: SharedCreds = Arc::new(Mutex::new(creds));
        let core = Core::new(cfg, creds.clone(), T0).unwrap();
        let mut rig = Self {
            server,
            core,
            now: T0,
            creds,
            sent: Vec::new(),
            outputs: Vec::new(),
            answer_pings: true,
        };
        rig.pump();
        rig
    }

    /// Moves bytes both ways until both sides are quiet.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            while let Some(t) = self.core.poll_transmit() {
                moved = true;
                if self.server.noise.handle_data(self.now / 1000, &t).is_err() {
                    break;
                }
            }
            while let Some(ev) = self.server.noise.poll_event() {
                match ev {
                    NoiseEvent::ClientFinished(id) => self.server.payload = Some(id.payload),
                    NoiseEvent::Frame(f) => {
                        let n = wa_binary::decode_frame(&f).unwrap();
                        // Like a server, answer keepalive pings (unless a test wants silence).
                        if self.answer_pings && n.get_attr("xmlns") == Some("w:p") {
                            let id = n.get_attr("id").unwrap().to_owned();
                            self.server
                                .send(&Node::new("iq").attr("id", id).attr("type", "result"));
                        }
                        self.sent.push(n);
                    }
                    NoiseEvent::ServerVerified(_) => {}
                }
            }
            while let Some(t) = self.server.noise.poll_transmit() {
                moved = true;
                self.core.handle_data(self.now, &t);
            }
            while let Some(o) = self.core.poll_output() {
                self.outputs.push(o);
            }
            if !moved {
                return;
            }
        }
    }

    fn deliver(&mut self, node: &Node) {
        self.server.send(node);
        self.pump();
    }

    /// Moves the clock forward, waking at every deadline on the way as a driver would.
    fn advance(&mut self, ms: u64) {
        let target = self.now + ms;
        while let Some(d) = self.core.poll_timeout().filter(|d| *d <= target) {
            self.now = d.max(self.now);
            self.core.handle_timeout(self.now);
            self.pump();
        }
        self.now = target;
        self.core.handle_timeout(self.now);
        self.pump();
    }

    fn connection_updates(&self) -> Vec<ConnectionUpdate> {
        self.outputs
            .iter()
            .filter_map(|o| match o {
                Output::Event(Event::Connection(u)) => Some(u.clone()),
                _ => None,
            })
            .collect()
    }

    fn creds_updates(&self) -> Vec<CredsUpdate> {
        self.outputs
            .iter()
            .filter_map(|o| match o {
                Output::Event(Event::Creds(u)) => Some(u.clone()),
                _ => None,
            })
            .collect()
    }

    fn qrs(&self) -> Vec<String> {
        self.connection_updates()
            .into_iter()
            .filter_map(|u| u.qr.flatten())
            .collect()
    }

    fn closed(&self) -> Option<wa_client::Disconnect> {
        self.outputs.iter().find_map(|o| match o {
            Output::Closed(d) => Some(d.clone()),
            _ => None,
        })
    }
}

fn pair_device(refs: &[&str]) -> Node {
    Node::new("iq")
        .attr("from", "s.whatsapp.net")
        .attr("type", "set")
        .attr("id", "pd1")
        .attr("xmlns", "md")
        .children(vec![
            Node::new("pair-device").children(
                refs.iter()
                    .map(|r| Node::new("ref").bytes(r.as_bytes().to_vec()))
                    .collect(),
            ),
        ])
}

/// What a phone makes for a companion: ADV identity signed by the phone's key, HMAC'd with
/// the companion's ADV secret.
fn pair_success(
    creds: &AuthenticationCreds,
    phone: &KeyPair,
    tamper_sig: bool,
    tamper_hmac: bool,
) -> Node {
    let details = AdvDeviceIdentity {
        raw_id: Some(7),
        timestamp: Some(1_750_000_000),
        key_index: Some(3),
        ..Default::default()
    }
    .encode_to_vec();
    let msg = [&[6u8, 0][..], &details, &creds.signed_identity_key.public].concat();
    let mut sig = wa_crypto::curve::sign(&phone.private, &msg).to_vec();
    if tamper_sig {
        sig[10] ^= 1;
    }
    let signed = AdvSignedDeviceIdentity {
        details: Some(details),
        account_signature_key: Some(phone.public.to_vec()),
        account_signature: Some(sig),
        device_signature: None,
    }
    .encode_to_vec();
    let secret = base64::engine::general_purpose::STANDARD
        .decode(&creds.adv_secret_key)
        .unwrap();
    let mut hmac = wa_crypto::mac::hmac_sha256(&secret, &signed).to_vec();
    if tamper_hmac {
        hmac[0] ^= 1;
    }
    let wrapped = AdvSignedDeviceIdentityHmac {
        details: Some(signed),
        hmac: Some(hmac),
        account_type: None,
    }
    .encode_to_vec();
    Node::new("iq")
        .attr("from", "s.whatsapp.net")
        .attr("type", "result")
        .attr("id", "ps1")
        .children(vec![Node::new("pair-success").children(vec![
            Node::new("device-identity").bytes(wrapped),
            Node::new("platform").attr("name", "android"),
            Node::new("device")
                .attr("jid", "15551234567:4@s.whatsapp.net")
                .attr("lid", "123456789:4@lid"),
        ])])
}

#[test]
fn registration_payload_and_qr_rotation_in_baileys_format() {
    let creds = AuthenticationCreds::generate();
    let mut rig = Rig::new(creds.clone());
    let payload = rig.server.payload.clone().expect("handshake finished");
    let reg = payload.device_pairing_data.expect("registration payload");
    assert_eq!(reg.e_ident.unwrap(), creds.signed_identity_key.public);
    assert!(rig.core.is_open());

    rig.deliver(&pair_device(&["ref-one", "ref-two", "ref-three"]));
    // The client acknowledged the IQ.
    let ack = rig.sent.iter().find(|n| n.tag == "iq").unwrap();
    assert_eq!(ack.get_attr("id"), Some("pd1"));
    assert_eq!(ack.get_attr("type"), Some("result"));
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    assert_eq!(
        rig.qrs(),
        vec![format!(
            "https://wa.me/settings/linked_devices#ref-one,{},{},{},1",
            b64(&creds.noise_key.public),
            b64(&creds.signed_identity_key.public),
            creds.adv_secret_key
        )]
    );
    // The first QR lives 60 s, the next ones 20 s; then the attempt ends with 408.
    rig.advance(59_000);
    assert_eq!(rig.qrs().len(), 1);
    rig.advance(1_000);
    assert_eq!(rig.qrs().len(), 2);
    assert!(rig.qrs()[1].contains("#ref-two,"));
    rig.advance(20_000);
    assert!(rig.qrs()[2].contains("#ref-three,"));
    assert!(rig.closed().is_none());
    rig.advance(20_000);
    let d = rig.closed().expect("closed after the last ref");
    assert_eq!(d.status, 408);
    assert_eq!(d.message, "QR refs attempts ended");
}

#[test]
fn pair_success_is_verified_countersigned_and_stored() {
    let creds = AuthenticationCreds::generate();
    let phone = KeyPair::generate();
    let mut rig = Rig::new(creds.clone());
    rig.deliver(&pair_device(&["r"]));
    rig.deliver(&pair_success(&creds, &phone, false, false));
    assert!(rig.closed().is_none(), "{:?}", rig.closed());
    let reply = rig
        .sent
        .iter()
        .find(|n| n.child("pair-device-sign").is_some())
        .expect("pair-device-sign sent");
    assert_eq!(reply.get_attr("id"), Some("ps1"));
    let di = reply
        .child("pair-device-sign")
        .unwrap()
        .child("device-identity")
        .unwrap();
    assert_eq!(di.get_attr("key-index"), Some("3"));
    let signed = AdvSignedDeviceIdentity::decode(di.content_bytes().unwrap()).unwrap();
    assert!(
        signed.account_signature_key.is_none(),
        "reply leaves the account key out"
    );
    // Our countersignature verifies under our identity key (an honest oracle: wa-crypto's
    // verify is tested against libsignal).
    let msg = [
        &[6u8, 1][..],
        signed.details.as_ref().unwrap(),
        &creds.signed_identity_key.public,
        &phone.public,
    ]
    .concat();
    let ours: [u8; 32] = creds
        .signed_identity_key
        .public
        .as_slice()
        .try_into()
        .unwrap();
    assert!(wa_crypto::curve::verify(
        &ours,
        &msg,
        signed.device_signature.as_ref().unwrap()
    ));
    let c = rig.creds.lock().unwrap().clone();
    assert_eq!(c.me.as_ref().unwrap().id, "15551234567:4@s.whatsapp.net");
    assert_eq!(
        c.me.as_ref().unwrap().lid.as_deref(),
        Some("123456789:4@lid")
    );
    assert_eq!(c.platform.as_deref(), Some("android"));
    assert_eq!(
        c.account.as_ref().unwrap().account_signature_key.as_deref(),
        Some(&phone.public[..])
    );
    let ids = c.signal_identities.unwrap();
    assert_eq!(ids[0].identifier.name, "123456789:4@lid");
    assert_eq!(ids[0].identifier_key[0], 5);
    let updates = rig.creds_updates();
    assert!(updates.iter().any(|u| {
        u.iter().any(|c| matches!(c, CredsChange::Account(Some(_))))
            && u.iter().any(|c| matches!(c, CredsChange::Me(Some(_))))
    }));
    assert!(
        rig.connection_updates()
            .iter()
            .any(|u| u.is_new_login == Some(true))
    );
    // Then the server restarts the stream.
    rig.deliver(&Node::new("stream:error").attr("code", "515"));
    let d = rig.closed().unwrap();
    assert_eq!((d.status, d.code), (515, "ERR_WA_CLIENT_RESTART_REQUIRED"));
    assert_eq!(d.message, "Stream Errored (restart required)");
}

#[test]
fn pair_success_with_a_forged_account_signature_or_hmac_is_refused() {
    for (sig, hmac, why) in [(true, false, "signature"), (false, true, "HMAC")] {
        let creds = AuthenticationCreds::generate();
        let phone = KeyPair::generate();
        let mut rig = Rig::new(creds.clone());
        rig.deliver(&pair_success(&creds, &phone, sig, hmac));
        let d = rig
            .closed()
            .unwrap_or_else(|| panic!("forged {why} accepted"));
        assert_eq!(d.code, "ERR_WA_CLIENT_PAIRING", "{why}");
        assert!(
            rig.sent
                .iter()
                .all(|n| n.child("pair-device-sign").is_none())
        );
        assert!(rig.creds.lock().unwrap().me.is_none());
    }
}

#[test]
fn a_server_signed_by_another_root_is_refused() {
    let server = Server::new();
    let other = KeyPair::generate();
    let mut rig = Rig::with(server, config(&other), AuthenticationCreds::generate());
    let d = rig.closed().expect("refused");
    assert_eq!(d.code, "ERR_WA_NOISE_CERT_UNTRUSTED_ROOT");
    assert!(
        rig.server.payload.is_none(),
        "no ClientFinish sent to an untrusted server"
    );
    assert!(!rig.core.is_open());
    rig.advance(100_000);
    assert_eq!(
        rig.outputs
            .iter()
            .filter(|o| matches!(o, Output::Closed(_)))
            .count(),
        1
    );
}

#[test]
fn the_default_trust_root_is_whatsapps() {
    assert_eq!(Config::default().trust_root, wa_noise::WA_CERT_ROOT);
    let server = Server::new();
    let mut rig = Rig::with(server, Config::default(), AuthenticationCreds::generate());
    assert_eq!(
        rig.closed().unwrap().code,
        "ERR_WA_NOISE_CERT_UNTRUSTED_ROOT"
    );
    rig.pump();
}

fn logged_in_creds() -> AuthenticationCreds {
    let mut c = AuthenticationCreds::generate();
    c.me = Some(wa_store::Me::new("15551234567:4@s.whatsapp.net"));
    c
}

#[test]
fn login_payload_and_stream_errors_map_to_disconnect_reasons() {
    let cases: Vec<(Node, u16, &str)> = vec![
        (
            Node::new("stream:error")
                .children(vec![Node::new("conflict").attr("type", "replaced")]),
            440,
            "Stream Errored (conflict)",
        ),
        (
            Node::new("stream:error")
                .attr("code", "401")
                .children(vec![Node::new("conflict").attr("type", "device_removed")]),
            401,
            "Stream Errored (conflict)",
        ),
        (
            Node::new("stream:error").attr("code", "503"),
            503,
            "Stream Errored (unknown)",
        ),
        (
            Node::new("stream:error").children(vec![Node::new("bad")]),
            500,
            "Stream Errored (bad)",
        ),
        (
            Node::new("failure").attr("reason", "403"),
            403,
            "Connection Failure",
        ),
        (
            Node::new("failure").attr("reason", "401"),
            401,
            "Connection Failure",
        ),
        (
            Node::new("xmlstreamend"),
            428,
            "Connection Terminated by Server",
        ),
        (
            Node::new("ib").children(vec![Node::new("downgrade_webclient")]),
            411,
            "Multi-device beta not joined",
        ),
    ];
    for (node, status, message) in cases {
        let mut rig = Rig::new(logged_in_creds());
        let p = rig.server.payload.clone().unwrap();
        assert_eq!(
            (p.username, p.device, p.passive),
            (Some(15_551_234_567), Some(4), Some(true))
        );
        rig.deliver(&node);
        let d = rig.closed().unwrap();
        assert_eq!((d.status, d.message.as_str()), (status, message), "{node}");
    }
}

#[test]
fn iq_replies_errors_and_timeouts_by_id() {
    let mut rig = Rig::new(logged_in_creds());
    let mut q1 = Node::new("iq")
        .attr("type", "get")
        .attr("xmlns", "encrypt")
        .children(vec![Node::new("count")]);
    let id1 = rig.core.send_query(&mut q1, None, rig.now).unwrap();
    let mut q2 = Node::new("iq").attr("type", "get").attr("xmlns", "x");
    let id2 = rig.core.send_query(&mut q2, None, rig.now).unwrap();
    let mut q3 = Node::new("iq").attr("type", "get").attr("xmlns", "y");
    let id3 = rig.core.send_query(&mut q3, Some(5_000), rig.now).unwrap();
    assert_ne!(id1, id2);
    rig.pump();
    assert_eq!(rig.sent.iter().filter(|n| n.tag == "iq").count(), 3);
    rig.deliver(
        &Node::new("iq")
            .attr("id", id2.clone())
            .attr("type", "error")
            .children(vec![
                Node::new("error")
                    .attr("code", "404")
                    .attr("text", "item-not-found"),
            ]),
    );
    rig.deliver(
        &Node::new("iq")
            .attr("id", id1.clone())
            .attr("type", "result")
            .children(vec![Node::new("count").attr("value", "0")]),
    );
    let replies: Vec<(String, Result<Node, ClientError>)> = rig
        .outputs
        .drain(..)
        .filter_map(|o| match o {
            Output::Reply { id, result } => Some((id, result)),
            _ => None,
        })
        .collect();
    assert_eq!(replies.len(), 2);
    assert!(matches!(&replies[0], (id, Err(ClientError::Server { code: 404, .. })) if *id == id2));
    assert!(matches!(&replies[1], (id, Ok(n)) if *id == id1 && n.child("count").is_some()));
    // An answer to an unknown id is a stanza for the async layer, not a reply.
    rig.deliver(&Node::new("iq").attr("id", "nobody").attr("type", "result"));
    assert!(
        rig.outputs
            .iter()
            .any(|o| matches!(o, Output::Stanza(n) if n.get_attr("id") == Some("nobody")))
    );
    // An ack nobody waits for (the server's ack of a receipt we sent) goes nowhere.
    rig.outputs.clear();
    rig.deliver(
        &Node::new("ack")
            .attr("id", "receipt-1")
            .attr("class", "receipt")
            .attr("from", "1555@s.whatsapp.net"),
    );
    assert!(rig.outputs.is_empty(), "{:?}", rig.outputs);
    rig.advance(5_000);
    assert!(rig.outputs.iter().any(
        |o| matches!(o, Output::Reply { id, result: Err(ClientError::Timeout(5000)) } if *id == id3)
    ));
}

#[test]
fn keepalive_pings_and_declares_a_silent_link_lost() {
    let mut rig = Rig::new(logged_in_creds());
    rig.answer_pings = false;
    let interval = Config::default().keep_alive_interval.as_millis() as u64;
    assert_eq!(rig.core.poll_timeout(), Some(T0 + interval));
    rig.advance(interval);
    let ping = rig
        .sent
        .iter()
        .find(|n| n.get_attr("xmlns") == Some("w:p"))
        .expect("ping sent");
    assert!(ping.child("ping").is_some());
    let id = ping.get_attr("id").unwrap().to_owned();
    rig.deliver(&Node::new("iq").attr("id", id).attr("type", "result"));
    rig.advance(interval);
    assert!(rig.closed().is_none());
    // Silence from here on: the next check finds the last frame too old.
    rig.advance(interval);
    let d = rig.closed().expect("link declared lost");
    assert_eq!((d.status, d.message.as_str()), (408, "Connection was lost"));
}

#[test]
fn a_handshake_that_never_finishes_times_out() {
    let creds: SharedCreds = Arc::new(Mutex::new(AuthenticationCreds::generate()));
    let cfg = Config {
        connect_timeout: Duration::from_secs(20),
        ..Config::default()
    };
    let mut core = Core::new(cfg, creds, T0).unwrap();
    assert!(core.poll_transmit().is_some(), "client hello queued");
    assert_eq!(core.poll_timeout(), Some(T0 + 20_000));
    core.handle_timeout(T0 + 19_999);
    assert!(!core.is_closed());
    core.handle_timeout(T0 + 20_000);
    assert!(core.is_closed());
    let mut closed = None;
    while let Some(o) = core.poll_output() {
        if let Output::Closed(d) = o {
            closed = Some(d);
        }
    }
    assert_eq!(closed.unwrap().status, 408);
}

#[test]
fn offline_and_edge_routing_notifications() {
    let mut rig = Rig::new(logged_in_creds());
    rig.deliver(&Node::new("ib").children(vec![
        Node::new("edge_routing").children(vec![Node::new("routing_info").bytes(vec![1, 2, 3])]),
    ]));
    assert_eq!(
        rig.creds.lock().unwrap().routing_info.as_deref(),
        Some(&[1u8, 2, 3][..])
    );
    assert_eq!(
        rig.creds_updates().last().unwrap(),
        &vec![CredsChange::RoutingInfo(Some(vec![1, 2, 3]))]
    );
    rig.deliver(&Node::new("ib").children(vec![Node::new("offline").attr("count", "3")]));
    assert!(
        rig.connection_updates()
            .iter()
            .any(|u| u.received_pending_notifications == Some(true))
    );
    rig.deliver(&Node::new("success").attr("lid", "1@lid"));
    assert!(
        rig.outputs
            .iter()
            .any(|o| matches!(o, Output::LoggedIn(n) if n.get_attr("lid") == Some("1@lid")))
    );
    rig.deliver(&Node::new("message").attr("id", "m1"));
    assert!(
        rig.outputs
            .iter()
            .any(|o| matches!(o, Output::Stanza(n) if n.tag == "message"))
    );
    // A frame that does not decode is logged, not fatal.
    rig.server.noise.send(&[0, 0xf0]).unwrap();
    rig.pump();
    assert!(rig.closed().is_none());
}

#[test]
fn garbage_after_the_handshake_ends_the_connection_with_a_noise_code() {
    let mut rig = Rig::new(logged_in_creds());
    rig.core.handle_data(
        rig.now,
        &[
            0, 0, 20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
        ],
    );
    rig.pump();
    let d = rig.closed().unwrap();
    assert!(d.code.starts_with("ERR_WA_NOISE_"), "{}", d.code);
    assert!(rig.core.send_node(&Node::new("presence")).is_err());
}
