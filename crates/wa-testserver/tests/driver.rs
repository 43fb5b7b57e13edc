//! The tokio driver over real websockets on loopback.

mod common;

use std::time::Duration;

use common::ws::{Recv, WsClient};
use common::*;
use wa_binary::Node;
use wa_testserver::{FaultTarget, ServerConfig, TestServer, TestServerError};

async fn start() -> TestServer {
    TestServer::start(fast_config(), 0).await.unwrap()
}

/// Registers over a websocket, scans the QR through the control API, answers pair-success.
async fn pair(server: &TestServer, d: &mut Device, number: &str) -> String {
    let root = server.root_public_key();
    let mut c = WsClient::connect(&server.url(), root, &d.noise, d.registration_payload()).await;
    let pd = c.expect("iq").await;
    let qr = d.qr(&first_ref(&pd));
    let s = server.clone();
    let number_owned = number.to_owned();
    let scan = tokio::spawn(async move { s.scan_qr(&qr, &number_owned, Some("Bot")).await });
    let ps = c.expect("iq").await;
    let reply = d.on_pair_success(&ps).unwrap();
    c.send(&reply).await;
    let jid = scan.await.unwrap().unwrap();
    let se = c.expect("stream:error").await;
    assert_eq!(se.get_attr("code"), Some("515"));
    assert!(matches!(c.recv().await, Recv::Closed));
    jid
}

async fn login(server: &TestServer, d: &mut Device) -> WsClient {
    let mut c = WsClient::connect(
        &server.url(),
        server.root_public_key(),
        &d.noise,
        d.login_payload(),
    )
    .await;
    c.expect("success").await;
    c.send(&d.prekey_upload("up", 5)).await;
    c.send(&iq("act", "passive", "set").children(vec![Node::new("active")]))
        .await;
    loop {
        let n = c.expect("ib").await;
        if n.child("offline").is_some() {
            break;
        }
    }
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairs_logs_in_and_routes_over_websockets() {
    let server = start().await;
    assert!(server.url().starts_with("ws://127.0.0.1:"));
    assert!(server.url().ends_with("/ws/chat"));
    let mut a = Device::new();
    let mut b = Device::new();
    assert_eq!(
        pair(&server, &mut a, "15551000").await,
        "15551000:1@s.whatsapp.net"
    );
    assert_eq!(
        pair(&server, &mut b, "15551001").await,
        "15551001:1@s.whatsapp.net"
    );
    let mut ca = login(&server, &mut a).await;
    let mut cb = login(&server, &mut b).await;
    // A fetches B's companion bundle and sends it a pkmsg.
    ca.send(
        &iq("k", "encrypt", "get").children(vec![Node::new("key").children(vec![
            Node::new("user").attr("jid", "15551001:1@s.whatsapp.net"),
        ])]),
    )
    .await;
    let res = ca.expect("iq").await;
    let user = res.child("list").unwrap().child("user").unwrap().clone();
    a.install("15551001:1@s.whatsapp.net", &user);
    let (kind, body) = a.encrypt("15551001:1@s.whatsapp.net", &text_message("over the wire"));
    ca.send(
        &Node::new("message")
            .attr("id", "M1")
            .attr("to", "15551001@s.whatsapp.net")
            .attr("type", "text")
            .children(vec![Node::new("participants").children(
                vec![Node::new("to").attr("jid", "15551001:1@s.whatsapp.net").children(vec![
            Node::new("enc").attr("v", "2").attr("type", kind).bytes(body),
        ])],
            )]),
    )
    .await;
    let ack = ca.expect("ack").await;
    assert_eq!(ack.get_attr("id"), Some("M1"));
    let m = cb.expect("message").await;
    let enc = m.child("enc").unwrap();
    let plain = b
        .decrypt(
            m.get_attr("from").unwrap(),
            enc.get_attr("type").unwrap(),
            enc.content_bytes().unwrap(),
        )
        .unwrap();
    assert_eq!(message_text(&plain).as_deref(), Some("over the wire"));
    // The phone of B writes to A's companion.
    let phone_b = server.phone("15551001").unwrap();
    phone_b
        .send_text("15551000@s.whatsapp.net", "from the phone")
        .unwrap();
    let m = ca.expect("message").await;
    let enc = m.child("enc").unwrap();
    assert_eq!(enc.get_attr("type"), Some("pkmsg"));
    let plain = a
        .decrypt(
            m.get_attr("from").unwrap(),
            "pkmsg",
            enc.content_bytes().unwrap(),
        )
        .unwrap();
    assert_eq!(message_text(&plain).as_deref(), Some("from the phone"));
    let stats = server.stats();
    assert_eq!(stats.pairings, 2);
    assert!(stats.messages_routed >= 2);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_path_is_404_and_stop_closes_everything() {
    let server = start().await;
    let bad = format!("ws://{}/other", server.addr());
    assert!(tokio_tungstenite::connect_async(&bad).await.is_err());
    let d = Device::new();
    let mut c = WsClient::connect(
        &server.url(),
        server.root_public_key(),
        &d.noise,
        d.registration_payload(),
    )
    .await;
    c.expect("iq").await;
    server.stop().await;
    assert!(matches!(c.recv().await, Recv::Closed));
    assert!(
        tokio::time::timeout(
            Duration::from_secs(2),
            tokio::net::TcpStream::connect(server.addr())
        )
        .await
        .map(|r| r.is_err())
        .unwrap_or(true)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seed_fixes_the_root_key() {
    let a = TestServer::start(ServerConfig::seeded("same"), 0)
        .await
        .unwrap();
    let b = TestServer::start(ServerConfig::seeded("same"), 0)
        .await
        .unwrap();
    assert_eq!(a.root_public_key(), b.root_public_key());
    assert_ne!(a.addr(), b.addr());
    assert_eq!(a.drop_connections(&FaultTarget::All), 0);
    a.stop().await;
    b.stop().await;
}

/// Baileys' `requestPairingCode` resolves once its `companion_hello` is written, so a test may
/// type the code before the server has read the request: the driver waits for it (up to 1 s),
/// and only then refuses a code nobody asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_typed_before_the_request_arrives_waits_for_it() {
    let server = start().await;
    let code = "ABCD2345";
    // The companion's key derivation first: unoptimized it takes about a second, which would
    // eat the server's whole grace period.
    let companion_eph = wa_crypto::KeyPair::generate();
    let wrapped =
        wa_crypto::pairing::wrap_with_pairing_code(code, &[7; 32], &[8; 16], &companion_eph.public);
    let s = server.clone();
    let entered = tokio::spawn(async move { s.enter_pairing_code("15550777", code).await });
    let d = Device::new();
    let mut c = WsClient::connect(
        &server.url(),
        server.root_public_key(),
        &d.noise,
        d.registration_payload(),
    )
    .await;
    c.expect("iq").await;
    c.send(&iq("hello", "md", "set").children(vec![
            Node::new("link_code_companion_reg")
                .attr("jid", "15550777@s.whatsapp.net")
                .attr("stage", "companion_hello")
                .children(vec![
                    Node::new("link_code_pairing_wrapped_companion_ephemeral_pub")
                        .bytes(wrapped.to_vec()),
                    Node::new("companion_server_auth_key_pub").bytes(d.noise.public.to_vec()),
                ]),
        ]))
    .await;
    let result = c.expect("iq").await;
    assert_eq!(result.get_attr("type"), Some("result"));
    // The code typed earlier reached the companion: the phone's primary_hello.
    let hello = c.expect("notification").await;
    let stage = hello
        .child("link_code_companion_reg")
        .and_then(|r| r.get_attr("stage"));
    assert_eq!(stage, Some("primary_hello"));
    c.close().await;
    let outcome = entered.await.unwrap();
    assert!(
        matches!(outcome, Err(TestServerError::PairingFailed(_))),
        "{outcome:?}"
    );

    // Nobody asks for a code for this number: refused once the wait is over.
    let started = std::time::Instant::now();
    let refused = server.enter_pairing_code("15550778", code).await;
    assert_eq!(
        refused,
        Err(TestServerError::NoPairingCodeRequest("15550778".into()))
    );
    assert!(started.elapsed() >= Duration::from_millis(900));
    server.stop().await;
}
