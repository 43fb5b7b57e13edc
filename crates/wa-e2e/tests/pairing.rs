//! Pairing and login of the Rust client through the test server, typed events only.

mod common;

use common::*;
use wa_client::{Client, CredsChange, Event};
use wa_store::AuthenticationCreds;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qr_pairing_then_login_uploads_prekeys_and_opens() {
    let server = server("e2e-pairing-qr").await;
    let account = pair(&server, "15551110001").await;
    let me = account.creds.me.clone().expect("paired: creds.me");
    assert!(me.id.starts_with("15551110001:"), "{}", me.id);
    assert!(account.creds.account.is_some());
    assert!(account.creds.registered);

    let (client, mut ev) =
        Client::connect(config(&server), account.creds.clone(), account.keys.clone());
    // On the first login the server has none of our prekeys: 812 are uploaded before open.
    let mut saw_prekeys = false;
    next(&mut ev, |e| match e {
        Event::Creds(u) => {
            saw_prekeys |= u.contains(&CredsChange::NextPreKeyId(813));
            None
        }
        Event::Connection(u) if u.connection == Some(wa_client::ConnectionState::Open) => Some(()),
        _ => None,
    })
    .await;
    assert!(saw_prekeys, "812 prekeys uploaded on the first login");
    assert_eq!(client.creds().next_pre_key_id, 813);
    // `success` carries our LID; it is stored in creds.me.
    let lid = client
        .creds()
        .me
        .unwrap()
        .lid
        .expect("LID learned at login");
    assert!(lid.ends_with("@lid"));
    assert!(server.is_online(&me.id));

    // A second login with the saved credentials uploads nothing new.
    client.end(None);
    closed(&mut ev).await;
    let saved = Paired {
        creds: client.creds(),
        keys: account.keys.clone(),
    };
    let (again, mut ev2) = login(&server, &saved).await;
    assert_eq!(again.creds().next_pre_key_id, 813);
    again.logout().await.unwrap();
    let d = closed(&mut ev2).await;
    assert_eq!(d.status, 401);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_by_code_through_the_phone() {
    let server = server("e2e-pairing-code").await;
    let (client, mut ev) = Client::connect(
        config(&server),
        AuthenticationCreds::generate(),
        key_store(),
    );
    // Wait for the first QR: the registration stream is up.
    next(&mut ev, |e| match e {
        Event::Connection(u) => u.qr.clone().flatten(),
        _ => None,
    })
    .await;
    let code = client
        .request_pairing_code("+1 555 111 0002", None)
        .await
        .expect("pairing code");
    assert_eq!(code.len(), 8);
    let jid = server
        .enter_pairing_code("15551110002", &code)
        .await
        .expect("the phone accepts the code");
    let d = closed(&mut ev).await;
    assert_eq!(d.status, 515);
    let creds = client.creds();
    assert_eq!(creds.me.unwrap().id, jid);
    assert!(creds.registered);
    server.stop().await;
}

/// The connection's timer fires again and again: unpaired, each QR code lives `qr_timeout`
/// and the next follows, until the server's refs run out and the attempt ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qr_codes_rotate_on_the_timer_until_the_refs_run_out() {
    let server = server("e2e-qr-rotation").await;
    let mut cfg = config(&server);
    cfg.qr_timeout = Some(std::time::Duration::from_millis(150));
    let (_client, mut ev) =
        Client::connect(cfg, AuthenticationCreds::generate(), common::key_store());
    let started = std::time::Instant::now();
    let mut qrs: Vec<String> = Vec::new();
    let end = next(&mut ev, |e| match e {
        Event::Connection(u) => {
            if let Some(Some(qr)) = &u.qr {
                qrs.push(qr.clone());
            }
            u.last_disconnect.as_ref().map(|(d, _)| d.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!(end.code, wa_client::error::code::QR_EXPIRED, "{end:?}");
    assert!(qrs.len() >= 3, "QR codes before the end: {qrs:?}");
    let distinct: std::collections::HashSet<&String> = qrs.iter().collect();
    assert_eq!(distinct.len(), qrs.len(), "each rotation shows a new ref");
    // Each code lived its 150 ms: the timer did not fire early (nor all at once).
    let min = std::time::Duration::from_millis(150 * (qrs.len() as u64 - 1));
    assert!(
        started.elapsed() >= min,
        "{:?} for {} codes",
        started.elapsed(),
        qrs.len()
    );
    server.stop().await;
}

/// A server that takes the WebSocket and then says nothing: the handshake's deadline closes the
/// connection, as Baileys' `connectTimeoutMs` does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_times_the_handshake_out() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let silent = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        // Held open, never answered.
        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
        drop(ws);
    });
    let cfg = wa_client::Config {
        url,
        connect_timeout: std::time::Duration::from_millis(300),
        ..wa_client::Config::default()
    };
    let started = std::time::Instant::now();
    let (_client, mut ev) =
        Client::connect(cfg, AuthenticationCreds::generate(), common::key_store());
    let d = closed(&mut ev).await;
    assert_eq!(
        (d.status, d.code),
        (408, wa_client::error::code::TIMEOUT),
        "{d:?}"
    );
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    silent.abort();
}
