//! Two of our clients exchange messages through a small relay written in this test (a real
//! websocket on loopback and the Noise responder; usync, prekey bundles, fan-out, acks,
//! receipts, an offline queue). The relay knows nothing of Signal: every byte a client reads
//! was encrypted by the other client.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use wa_binary::{Jid, Node};
use wa_client::{Client, Config, Events};
use wa_crypto::KeyPair;
use wa_noise::{Event as NoiseEvent, MintOptions, NoiseSession, ResponderConfig, mint_chain};
use wa_store::{AuthenticationCreds, CachedKeyStore, EngineKeyStore, KeyStore, MemoryEngine};

#[derive(Default)]
struct Device {
    registration: Vec<u8>,
    identity: Vec<u8>,
    skey: Option<Node>,
    prekeys: Vec<Node>,
}

#[derive(Default)]
struct State {
    online: HashMap<String, mpsc::UnboundedSender<Node>>,
    devices: HashMap<String, Device>,
    queued: HashMap<String, Vec<Node>>,
    /// message id -> sender device, to route receipts.
    senders: HashMap<String, String>,
    lids: HashMap<String, String>,
    /// Every stanza clients sent, in order.
    seen: Vec<Node>,
}

struct Relay {
    url: String,
    root: KeyPair,
    state: Arc<Mutex<State>>,
}

fn lid_of(state: &State, jid: &Jid) -> Option<String> {
    state.lids.get(&jid.user).cloned()
}

/// The device key a JID names, whether it is written with the phone number or the LID.
fn device_key(state: &State, jid: &str) -> String {
    let j = Jid::parse(jid).unwrap();
    let user = if j.server == wa_binary::Server::Lid {
        state
            .lids
            .iter()
            .find(|(_, l)| **l == j.user)
            .map(|(p, _)| p.clone())
            .unwrap_or(j.user.clone())
    } else {
        j.user.clone()
    };
    format!("{user}:{}", j.device)
}

impl Relay {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/ws/chat", listener.local_addr().unwrap());
        let root = KeyPair::generate();
        let stat = KeyPair::generate();
        let chain = mint_chain(&root, &stat.public, &MintOptions::default()).encode();
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
                tokio::spawn(serve(ws, stat.clone(), chain.clone(), st.clone()));
            }
        });
        Self { url, root, state }
    }
}

async fn serve(
    ws: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    stat: KeyPair,
    chain: Vec<u8>,
    state: Arc<Mutex<State>>,
) {
    let (mut sink, mut stream) = ws.split();
    let mut noise = NoiseSession::responder(ResponderConfig::new(stat, chain));
    let (tx, mut rx) = mpsc::unbounded_channel::<Node>();
    let mut me: Option<String> = None;
    loop {
        tokio::select! {
            msg = stream.next() => {
                let Some(Ok(WsMessage::Binary(b))) = msg else { break };
                if noise.handle_data(1_750_000_000, &b).is_err() { break; }
                let mut nodes = Vec::new();
                while let Some(ev) = noise.poll_event() {
                    match ev {
                        NoiseEvent::ClientFinished(id) => {
                            let user = id.payload.username.unwrap().to_string();
                            let key = format!("{user}:{}", id.payload.device.unwrap_or(0));
                            let queued = {
                                let mut s = state.lock().unwrap();
                                s.online.insert(key.clone(), tx.clone());
                                s.queued.remove(&key).unwrap_or_default()
                            };
                            let lid = state.lock().unwrap().lids.get(&user).cloned().unwrap();
                            tx.send(Node::new("success").attr("lid", format!("{lid}:{}", id.payload.device.unwrap_or(0)))).unwrap();
                            for q in queued {
                                tx.send(q).unwrap();
                            }
                            tx.send(Node::new("ib").children(vec![Node::new("offline").attr("count", "0")])).unwrap();
                            me = Some(key);
                        }
                        NoiseEvent::Frame(f) => nodes.push(wa_binary::decode_frame(&f).unwrap()),
                        NoiseEvent::ServerVerified(_) => {}
                    }
                }
                while let Some(t) = noise.poll_transmit() {
                    if sink.send(WsMessage::Binary(t.into())).await.is_err() { break; }
                }
                for n in nodes {
                    if let Some(me) = &me {
                        handle(&state, me, &tx, n);
                    }
                }
            }
            Some(out) = rx.recv() => {
                let frame = wa_binary::encode_frame(&out).unwrap();
                noise.send(&frame).unwrap();
                while let Some(t) = noise.poll_transmit() {
                    if sink.send(WsMessage::Binary(t.into())).await.is_err() { break; }
                }
            }
        }
    }
    if let Some(me) = me {
        state.lock().unwrap().online.remove(&me);
    }
}

fn result(id: &str, children: Vec<Node>) -> Node {
    Node::new("iq")
        .attr("from", "s.whatsapp.net")
        .attr("type", "result")
        .attr("id", id.to_owned())
        .children(children)
}

fn handle(state: &Mutex<State>, me: &str, tx: &mpsc::UnboundedSender<Node>, n: Node) {
    let id = n.get_attr("id").unwrap_or_default().to_owned();
    let first = n.child_nodes().first().map(|c| c.tag.to_string());
    let mut s = state.lock().unwrap();
    s.seen.push(n.clone());
    match (n.tag.as_ref(), n.get_attr("xmlns"), first.as_deref()) {
        ("iq", Some("encrypt"), Some("count")) => {
            let count = s.devices.get(me).map_or(0, |d| d.prekeys.len());
            tx.send(result(
                &id,
                vec![Node::new("count").attr("value", count.to_string())],
            ))
            .unwrap();
        }
        ("iq", Some("encrypt"), Some("registration")) => {
            let d = s.devices.entry(me.to_owned()).or_default();
            d.registration = n
                .child("registration")
                .unwrap()
                .content_bytes()
                .unwrap()
                .to_vec();
            d.identity = n
                .child("identity")
                .unwrap()
                .content_bytes()
                .unwrap()
                .to_vec();
            d.skey = n.child("skey").cloned();
            d.prekeys
                .extend(n.child("list").unwrap().child_nodes().iter().cloned());
            tx.send(result(&id, vec![])).unwrap();
        }
        ("iq", Some("encrypt"), Some("key")) => {
            let mut users = Vec::new();
            for u in n.child("key").unwrap().child_nodes() {
                let jid = u.get_attr("jid").unwrap().to_owned();
                let key = device_key(&s, &jid);
                let d = s.devices.get_mut(&key).expect("device uploaded keys");
                let mut c = vec![
                    Node::new("registration").bytes(d.registration.clone()),
                    Node::new("type").bytes(vec![5]),
                    Node::new("identity").bytes(d.identity.clone()),
                    d.skey.clone().unwrap(),
                ];
                if !d.prekeys.is_empty() {
                    c.push(d.prekeys.remove(0));
                }
                users.push(Node::new("user").attr("jid", jid).children(c));
            }
            tx.send(result(&id, vec![Node::new("list").children(users)]))
                .unwrap();
        }
        ("iq", Some("usync"), _) => {
            let list = n.child("usync").unwrap().child("list").unwrap();
            let mut users = Vec::new();
            for u in list.child_nodes() {
                let jid = u.get_attr("jid").unwrap().to_owned();
                let j = Jid::parse(&jid).unwrap();
                let devices: Vec<Node> = s
                    .devices
                    .keys()
                    .filter_map(|k| k.split_once(':'))
                    .filter(|(user, _)| *user == j.user)
                    .map(|(_, d)| {
                        Node::new("device")
                            .attr("id", d.to_owned())
                            .attr("key-index", "1")
                    })
                    .collect();
                let mut c = vec![
                    Node::new("devices").children(vec![Node::new("device-list").children(devices)]),
                ];
                if let Some(l) = lid_of(&s, &j) {
                    c.push(Node::new("lid").attr("val", format!("{l}@lid")));
                }
                users.push(Node::new("user").attr("jid", jid).children(c));
            }
            tx.send(result(
                &id,
                vec![Node::new("usync").children(vec![Node::new("list").children(users)])],
            ))
            .unwrap();
        }
        ("iq", _, _) => tx.send(result(&id, vec![])).unwrap(),
        ("message", _, _) => {
            let (user, dev) = me.split_once(':').unwrap();
            let from = format!("{user}:{dev}@s.whatsapp.net");
            let lid = s.lids.get(user).cloned().unwrap();
            let identity = n.child("device-identity").cloned();
            // A fan-out (`<participants>`) or a resend to one device (`<enc>` directly).
            let targets: Vec<(String, Vec<Node>)> = match n.child("participants") {
                Some(p) => p
                    .child_nodes()
                    .iter()
                    .map(|to| {
                        (
                            to.get_attr("jid").unwrap().to_owned(),
                            to.child_nodes().to_vec(),
                        )
                    })
                    .collect(),
                None => vec![(
                    n.get_attr("to").unwrap().to_owned(),
                    n.children_by_tag("enc").cloned().collect(),
                )],
            };
            for (to, children) in targets {
                let target = device_key(&s, &to);
                let mut c = children;
                if let Some(i) = &identity {
                    c.push(i.clone());
                }
                let mut out = Node::new("message")
                    .attr("from", from.clone())
                    .attr("id", id.clone())
                    .attr("type", "text")
                    .attr("t", "1750000000")
                    .attr("sender_lid", format!("{lid}:{dev}@lid"))
                    .attr("notify", "Relay Tester");
                match s.online.get(&target) {
                    Some(o) => {
                        o.send(out.children(c)).unwrap();
                    }
                    None => {
                        out = out.attr("offline", "1");
                        s.queued.entry(target).or_default().push(out.children(c));
                    }
                }
            }
            s.senders.insert(id.clone(), me.to_owned());
            tx.send(
                Node::new("ack")
                    .attr("class", "message")
                    .attr("id", id)
                    .attr("from", n.get_attr("to").unwrap().to_owned())
                    .attr("t", "1750000000"),
            )
            .unwrap();
        }
        ("receipt", _, _) => {
            if let Some(sender) = s.senders.get(&id).cloned()
                && let Some(o) = s.online.get(&sender)
            {
                let (user, dev) = me.split_once(':').unwrap();
                let mut r = Node::new("receipt")
                    .attr("from", format!("{user}:{dev}@s.whatsapp.net"))
                    .attr("id", id.clone())
                    .attr("t", "1750000001");
                if let Some(t) = n.get_attr("type") {
                    r = r.attr("type", t.to_owned());
                }
                o.send(r.children(n.child_nodes().to_vec())).unwrap();
            }
            tx.send(Node::new("ack").attr("class", "receipt").attr("id", id))
                .unwrap();
        }
        _ => {}
    }
}

fn account(phone: &str, lid: &str) -> (AuthenticationCreds, Arc<dyn KeyStore>) {
    let mut c = AuthenticationCreds::generate();
    c.me =
        Some(json!({ "id": format!("{phone}:1@s.whatsapp.net"), "lid": format!("{lid}:1@lid") }));
    c.registered = true;
    c.account = Some(wa_store::creds::AdvSignedDeviceIdentity {
        details: Some(vec![8, 1]),
        account_signature_key: Some(vec![1; 32]),
        account_signature: Some(vec![2; 64]),
        device_signature: Some(vec![3; 64]),
        extra: Default::default(),
    });
    let keys: Arc<dyn KeyStore> = Arc::new(CachedKeyStore::new(
        Arc::new(EngineKeyStore::new(Arc::new(MemoryEngine::new()))),
        4096,
        None,
    ));
    (c, keys)
}

async fn next(events: &mut Events, name: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let wait = async {
        while let Some(e) = events.recv().await {
            if e.name == name && pred(&e.data) {
                return e.data;
            }
        }
        panic!("event stream ended before {name}");
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .unwrap_or_else(|_| panic!("no {name} in time"))
}

async fn open(
    relay: &Relay,
    creds: AuthenticationCreds,
    keys: Arc<dyn KeyStore>,
) -> (Client, Events) {
    let cfg = Config {
        url: relay.url.clone(),
        trust_root: relay.root.public,
        ..Config::default()
    };
    let (c, mut ev) = Client::connect(cfg, creds, keys);
    next(&mut ev, "connection.update", |d| d["connection"] == "open").await;
    (c, ev)
}

fn text_of(upsert: &Value) -> String {
    let m = &upsert["messages"][0]["message"];
    m["extendedTextMessage"]["text"]
        .as_str()
        .or(m["conversation"].as_str())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_exchange_texts_both_ways_and_offline() {
    let relay = Relay::start().await;
    {
        let mut s = relay.state.lock().unwrap();
        s.lids.insert("15550001".into(), "900001".into());
        s.lids.insert("15550002".into(), "900002".into());
    }
    let (ca, ka) = account("15550001", "900001");
    let (cb, kb) = account("15550002", "900002");
    let (a, mut ea) = open(&relay, ca, ka.clone()).await;
    let (b, mut eb) = open(&relay, cb.clone(), kb.clone()).await;
    assert_eq!(
        a.creds().next_pre_key_id,
        813,
        "812 prekeys uploaded on first login"
    );

    // A -> B: a prekey message; B's receipt reaches A as a delivery update.
    let sent = a
        .send_text("15550002@s.whatsapp.net", "hello B")
        .await
        .unwrap();
    assert_eq!(sent["key"]["fromMe"], true);
    assert_eq!(sent["status"], 2);
    assert_eq!(sent["message"]["extendedTextMessage"]["text"], "hello B");
    let got = next(&mut eb, "messages.upsert", |d| d["type"] == "notify").await;
    assert_eq!(text_of(&got), "hello B");
    let key = &got["messages"][0]["key"];
    assert_eq!(key["remoteJid"], "15550001:1@s.whatsapp.net");
    assert_eq!(key["remoteJidAlt"], "900001:1@lid");
    assert_eq!(key["fromMe"], false);
    assert_eq!(key["id"], sent["key"]["id"]);
    assert_eq!(got["messages"][0]["pushName"], "Relay Tester");
    let upd = next(&mut ea, "messages.update", |d| {
        d[0]["update"]["status"] == 3
    })
    .await;
    assert_eq!(upd[0]["key"]["id"], sent["key"]["id"]);

    // Both ways, alternating (a ratchet step each time) and in bursts.
    for i in 0..10 {
        b.send_text("15550001@s.whatsapp.net", &format!("b{i}"))
            .await
            .unwrap();
        let got = next(&mut ea, "messages.upsert", |d| d["type"] == "notify").await;
        assert_eq!(text_of(&got), format!("b{i}"));
        a.send_text("15550002@s.whatsapp.net", &format!("a{i}"))
            .await
            .unwrap();
        let got = next(&mut eb, "messages.upsert", |d| d["type"] == "notify").await;
        assert_eq!(text_of(&got), format!("a{i}"));
    }
    let started = std::time::Instant::now();
    let n = 100;
    for i in 0..n {
        a.send_text("15550002@s.whatsapp.net", &format!("burst {i}"))
            .await
            .unwrap();
    }
    for i in 0..n {
        let got = next(&mut eb, "messages.upsert", |d| d["type"] == "notify").await;
        assert_eq!(text_of(&got), format!("burst {i}"));
    }
    eprintln!(
        "relay: {n} messages sent, decrypted and delivered in {:?} ({:.0} msg/s)",
        started.elapsed(),
        f64::from(n) / started.elapsed().as_secs_f64()
    );

    // B goes offline; A's message waits at the relay and arrives when B (a new client over
    // the same credentials and keys) logs in again.
    b.end(None);
    next(&mut eb, "connection.update", |d| d["connection"] == "close").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    a.send_text("15550002@s.whatsapp.net", "while you were away")
        .await
        .unwrap();
    let cfg = Config {
        url: relay.url.clone(),
        trust_root: relay.root.public,
        ..Config::default()
    };
    // This relay delivers the queue right after `success` (before `open`).
    let (b2, mut eb2) = Client::connect(cfg, b.creds(), kb);
    let got = next(&mut eb2, "messages.upsert", |_| true).await;
    assert_eq!(got["type"], "append", "offline messages are appended");
    assert_eq!(text_of(&got), "while you were away");
    b2.send_text("15550001@s.whatsapp.net", "back")
        .await
        .unwrap();
    let got = next(&mut ea, "messages.upsert", |d| d["type"] == "notify").await;
    assert_eq!(text_of(&got), "back");
    let _ = cb;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecryptable_messages_get_a_retry_receipt_and_a_stub() {
    let relay = Relay::start().await;
    {
        let mut s = relay.state.lock().unwrap();
        s.lids.insert("15550003".into(), "900003".into());
        s.lids.insert("15550004".into(), "900004".into());
    }
    let (ca, ka) = account("15550003", "900003");
    let (a, mut ea) = open(&relay, ca, ka).await;
    // A `msg` from a device A has no session with.
    let bogus = Node::new("message")
        .attr("from", "15550004:1@s.whatsapp.net")
        .attr("id", "BOGUS1")
        .attr("t", "1750000000")
        .children(vec![
            Node::new("enc")
                .attr("v", "2")
                .attr("type", "msg")
                .bytes(vec![0x33; 60]),
        ]);
    let tx = relay
        .state
        .lock()
        .unwrap()
        .online
        .get("15550003:1")
        .cloned()
        .unwrap();
    tx.send(bogus).unwrap();
    let got = next(&mut ea, "messages.upsert", |_| true).await;
    let m = &got["messages"][0];
    assert_eq!(m["messageStubType"], 2, "CIPHERTEXT stub");
    assert!(
        m["messageStubParameters"][0]
            .as_str()
            .unwrap()
            .contains("session")
    );
    // The sender is asked to retry (count 1, our registration id), and the server gets a
    // negative ack.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let s = relay.state.lock().unwrap();
    let retry = s
        .seen
        .iter()
        .find(|n| n.tag == "receipt" && n.get_attr("type") == Some("retry"))
        .expect("retry receipt");
    assert_eq!(retry.get_attr("id"), Some("BOGUS1"));
    assert_eq!(retry.get_attr("to"), Some("15550004:1@s.whatsapp.net"));
    let r = retry.child("retry").unwrap();
    assert_eq!(
        (r.get_attr("count"), r.get_attr("v")),
        (Some("1"), Some("1"))
    );
    let reg = retry
        .child("registration")
        .unwrap()
        .content_bytes()
        .unwrap();
    assert_eq!(
        u32::from_be_bytes(reg.try_into().unwrap()),
        a.creds().registration_id
    );
    assert!(
        retry.child("keys").is_none(),
        "keys only from the second try"
    );
    let nack = s
        .seen
        .iter()
        .find(|n| n.tag == "ack" && n.get_attr("id") == Some("BOGUS1"))
        .expect("ack");
    assert_eq!(
        (nack.get_attr("class"), nack.get_attr("error")),
        (Some("message"), Some("500"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_urls_speak_tls() {
    use tokio::io::AsyncReadExt;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (c, mut ev) = Client::connect(
        Config {
            url: format!("wss://localhost:{port}/ws/chat"),
            ..Config::default()
        },
        AuthenticationCreds::generate(),
        account("1", "2").1,
    );
    let (mut tcp, _) = listener.accept().await.unwrap();
    let mut first = [0u8; 3];
    tcp.read_exact(&mut first).await.unwrap();
    // A TLS handshake record (ClientHello), not an HTTP upgrade request.
    assert_eq!(first[0], 0x16, "TLS handshake record");
    assert_eq!(first[1], 0x03);
    drop(tcp);
    let closed = next(&mut ev, "connection.update", |d| d["connection"] == "close").await;
    assert_eq!(
        closed["lastDisconnect"]["error"]["code"],
        "ERR_WA_CLIENT_WEBSOCKET"
    );
    assert!(c.is_closed());
}
