//! Soak: 200 companions on 200 concurrent websocket connections exchange messages while random
//! faults (dropped connections, corrupt frames, stream errors, stalls, delays, lost frames,
//! refused logins) hit them. Clients behave as real ones do: reconnect, resend what the server
//! has not acked, ack what they receive. At the end every message the server acked reached its
//! recipient (at least once: a stanza whose ack was cut is delivered again, as WhatsApp does;
//! a sender's resend of the same id is deduplicated by the server), and the server still pairs
//! and logs in a new device.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::ws::{Recv, WsClient};
use common::*;
use wa_binary::Node;
use wa_testserver::{FaultTarget, LoginRefusal, StreamErrorKind, TestServer};

const CLIENTS: usize = 200;
const MESSAGES_EACH: usize = 5;

/// xorshift64*: deterministic randomness without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn number(i: usize) -> String {
    format!("1777{:07}", i)
}

async fn pair(server: &TestServer, i: usize) -> Device {
    let mut d = Device::new();
    let mut c = WsClient::connect(
        &server.url(),
        server.root_public_key(),
        &d.noise,
        d.registration_payload(),
    )
    .await;
    let pd = c.expect("iq").await;
    let qr = d.qr(&first_ref(&pd));
    let s = server.clone();
    let scan = tokio::spawn(async move { s.scan_qr(&qr, &number(i), None).await });
    let ps = c.expect("iq").await;
    let reply = d.on_pair_success(&ps).unwrap();
    c.send(&reply).await;
    scan.await.unwrap().unwrap();
    d
}

#[derive(Default)]
struct Ledger {
    /// message id -> (recipient index)
    acked: HashMap<String, usize>,
    /// recipient index -> ids received (with duplicates counted)
    received: HashMap<usize, Vec<String>>,
}

/// One client's life: log in, go active, send its messages (resending what is not acked after
/// each reconnect), ack everything received; reconnect after any close until told to stop.
async fn run_client(
    server: TestServer,
    me: usize,
    device: Arc<Device>,
    plan: Vec<(String, usize)>,
    ledger: Arc<Mutex<Ledger>>,
    stop: Arc<AtomicBool>,
) -> usize {
    let mut unacked: Vec<(String, usize)> = plan;
    let mut connections = 0;
    while !stop.load(Ordering::SeqCst) {
        connections += 1;
        let mut c = WsClient::connect(
            &server.url(),
            server.root_public_key(),
            &device.noise,
            device.login_payload(),
        )
        .await;
        // wait for success (a refused login closes: try again)
        let mut ok = false;
        loop {
            match tokio::time::timeout(Duration::from_secs(5), c.recv()).await {
                Ok(Recv::Node(n)) if n.tag == "success" => {
                    ok = true;
                    break;
                }
                Ok(Recv::Node(_)) => {}
                _ => break,
            }
        }
        if !ok {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        c.send(&iq("act", "passive", "set").children(vec![Node::new("active")]))
            .await;
        for (id, to) in &unacked {
            let to_jid = format!("{}:1@s.whatsapp.net", number(*to));
            c.send(
                &Node::new("message")
                    .attr("id", id.clone())
                    .attr("to", format!("{}@s.whatsapp.net", number(*to)))
                    .attr("type", "text")
                    .children(vec![Node::new("participants").children(vec![
                        Node::new("to").attr("jid", to_jid).children(vec![
                                Node::new("enc")
                                    .attr("v", "2")
                                    .attr("type", "msg")
                                    .bytes(id.as_bytes().to_vec()),
                            ]),
                    ])]),
            )
            .await;
        }
        loop {
            let r = tokio::time::timeout(Duration::from_millis(300), c.recv()).await;
            let n = match r {
                Ok(Recv::Node(n)) => n,
                Ok(_) => break,
                Err(_) => {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    continue;
                }
            };
            match n.tag.as_ref() {
                "message" => {
                    let id = n.get_attr("id").unwrap_or_default().to_owned();
                    let from = n.get_attr("from").unwrap_or_default().to_owned();
                    ledger
                        .lock()
                        .unwrap()
                        .received
                        .entry(me)
                        .or_default()
                        .push(id.clone());
                    c.send(
                        &Node::new("ack")
                            .attr("id", id)
                            .attr("class", "message")
                            .attr("to", from),
                    )
                    .await;
                }
                "ack" if n.get_attr("class") == Some("message") => {
                    let id = n.get_attr("id").unwrap_or_default();
                    if let Some(pos) = unacked.iter().position(|(u, _)| u == id) {
                        let (id, to) = unacked.remove(pos);
                        ledger.lock().unwrap().acked.insert(id, to);
                    }
                }
                "notification" => {
                    let id = n.get_attr("id").unwrap_or_default().to_owned();
                    c.send(
                        &Node::new("ack")
                            .attr("id", id)
                            .attr("class", "notification"),
                    )
                    .await;
                }
                "stream:error" => break,
                _ => {}
            }
        }
        c.close().await;
    }
    connections
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_connections_with_random_faults_lose_nothing() {
    let started = Instant::now();
    let server = TestServer::start(fast_config(), 0).await.unwrap();
    let mut devices = Vec::new();
    for chunk in (0..CLIENTS).collect::<Vec<_>>().chunks(20) {
        let mut set = tokio::task::JoinSet::new();
        for &i in chunk {
            let s = server.clone();
            set.spawn(async move { (i, pair(&s, i).await) });
        }
        let mut got: Vec<(usize, Device)> = set.join_all().await;
        got.sort_by_key(|(i, _)| *i);
        devices.extend(got.into_iter().map(|(_, d)| Arc::new(d)));
    }
    let paired = started.elapsed();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut expected: HashMap<usize, BTreeSet<String>> = HashMap::new();
    let mut tasks = tokio::task::JoinSet::new();
    for (me, d) in devices.iter().enumerate() {
        let plan: Vec<(String, usize)> = (0..MESSAGES_EACH)
            .map(|k| {
                let mut to = rng.below(CLIENTS);
                if to == me {
                    to = (to + 1) % CLIENTS;
                }
                (format!("S{me:03}-{k}"), to)
            })
            .collect();
        for (id, to) in &plan {
            expected.entry(*to).or_default().insert(id.clone());
        }
        tasks.spawn(run_client(
            server.clone(),
            me,
            d.clone(),
            plan,
            ledger.clone(),
            stop.clone(),
        ));
    }
    // Random faults while the traffic flows.
    let mut hit = 0;
    let faults = 150;
    for _ in 0..faults {
        tokio::time::sleep(Duration::from_millis(8)).await;
        let jid = format!("{}:1@s.whatsapp.net", number(rng.below(CLIENTS)));
        let t = FaultTarget::Device(jid);
        hit += match rng.below(9) {
            0 => server.drop_connections(&t),
            1 => server.corrupt_frame(&t),
            2 => server.send_stream_error(
                &t,
                StreamErrorKind::from_code([440, 500, 503, 515][rng.below(4)]),
            ),
            3 => server.stall(&t, 150),
            4 => server.delay_frames(&t, 30),
            5 => server.drop_frames(&t, 2),
            6 => {
                server.refuse_logins(40, LoginRefusal::StreamError(503));
                1
            }
            7 => server.stall(&FaultTarget::All, 20),
            _ => server.send_stream_error(&t, StreamErrorKind::Code(503)),
        };
    }
    // Faults over: every client reconnects once more, which flushes whatever a lost frame or
    // a corrupt one kept in its queue.
    server.drop_connections(&FaultTarget::All);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let done = {
            let l = ledger.lock().unwrap();
            l.acked.len() == CLIENTS * MESSAGES_EACH
                && expected.iter().all(|(to, ids)| {
                    let got: BTreeSet<String> = l
                        .received
                        .get(to)
                        .map(|v| v.iter().cloned().collect())
                        .unwrap_or_default();
                    ids.is_subset(&got)
                })
        };
        if done || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::SeqCst);
    let connections: usize = tasks.join_all().await.iter().sum();
    let stats = server.stats();
    let l = std::mem::take(&mut *ledger.lock().unwrap());
    assert_eq!(
        l.acked.len(),
        CLIENTS * MESSAGES_EACH,
        "every message was acked by the server"
    );
    let mut received_total = 0;
    for (to, ids) in &expected {
        let got = l.received.get(to).cloned().unwrap_or_default();
        received_total += got.len();
        let set: BTreeSet<String> = got.iter().cloned().collect();
        assert!(
            ids.is_subset(&set),
            "client {to} missed {:?}",
            ids.difference(&set).collect::<Vec<_>>()
        );
        assert!(
            set.is_subset(ids),
            "client {to} got messages meant for others"
        );
    }
    // Redelivery of an unacked stanza after a cut is expected (at-least-once); the same id is
    // never routed twice by the server (it dedupes resends), so copies come only from resends.
    assert!(received_total >= CLIENTS * MESSAGES_EACH);
    assert!(
        stats.messages_routed as usize == CLIENTS * MESSAGES_EACH,
        "each message routed once"
    );
    assert!(connections > CLIENTS, "faults forced reconnects");
    // The server still serves a newcomer.
    let newcomer = pair(&server, CLIENTS + 1).await;
    let mut c = WsClient::connect(
        &server.url(),
        server.root_public_key(),
        &newcomer.noise,
        newcomer.login_payload(),
    )
    .await;
    c.expect("success").await;
    eprintln!(
        "soak: {CLIENTS} clients, {} messages, {} deliveries received, {faults} faults hitting {hit} connections, {connections} connections by clients \
         ({} opened in all), {} routed, {} duplicates deduped, {} offline deliveries, {} dropped / {} corrupted frames, \
         {} logins refused; paired in {paired:?}, total {:?}",
        CLIENTS * MESSAGES_EACH,
        received_total,
        stats.connections_opened,
        stats.messages_routed,
        stats.duplicates,
        stats.offline_delivered,
        stats.frames_dropped,
        stats.frames_corrupted,
        stats.logins_refused,
        started.elapsed(),
    );
    server.stop().await;
}
