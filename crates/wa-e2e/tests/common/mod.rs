//! A test server, accounts paired through it, and waiting for typed events.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use wa_client::{
    Client, Config, ConnectionState, Disconnect, Event, Events, MessagesUpsert, UpsertType,
};
use wa_store::{AuthenticationCreds, CachedKeyStore, EngineKeyStore, KeyStore, MemoryEngine};
use wa_testserver::{ServerConfig, TestServer};

pub const WAIT: Duration = Duration::from_secs(20);

pub async fn server(seed: &str) -> TestServer {
    TestServer::start(ServerConfig::seeded(seed), 0)
        .await
        .expect("test server starts")
}

pub fn config(server: &TestServer) -> Config {
    Config {
        url: server.url(),
        trust_root: server.root_public_key(),
        ..Config::default()
    }
}

/// A fresh key store as a bot would have (a cache in front of an engine).
pub fn key_store() -> Arc<dyn KeyStore> {
    Arc::new(CachedKeyStore::new(
        Arc::new(EngineKeyStore::new(Arc::new(MemoryEngine::new()))),
        4096,
        None,
    ))
}

/// Waits for the first event `pick` accepts; on a timeout, names the caller and the events
/// that went by.
#[track_caller]
pub fn next<'a, T>(
    events: &'a mut Events,
    mut pick: impl FnMut(&Event) -> Option<T> + 'a,
) -> impl std::future::Future<Output = T> + 'a {
    let caller = std::panic::Location::caller();
    async move {
        let mut seen = Vec::new();
        let wait = async {
            while let Some(e) = events.recv().await {
                if let Some(t) = pick(&e) {
                    return Some(t);
                }
                seen.push(format!("{e:?}").chars().take(300).collect::<String>());
            }
            None
        };
        match tokio::time::timeout(WAIT, wait).await {
            Ok(Some(t)) => t,
            Ok(None) => panic!("{caller}: the event stream ended first; saw {seen:#?}"),
            Err(_) => panic!("{caller}: no awaited event in time; saw {seen:#?}"),
        }
    }
}

#[track_caller]
pub fn opened(events: &mut Events) -> impl std::future::Future<Output = ()> + '_ {
    next(events, |e| match e {
        Event::Connection(u) if u.connection == Some(ConnectionState::Open) => Some(()),
        Event::Connection(u) if u.connection == Some(ConnectionState::Close) => {
            panic!("closed before open: {:?}", u.last_disconnect)
        }
        _ => None,
    })
}

#[track_caller]
pub fn closed(events: &mut Events) -> impl std::future::Future<Output = Disconnect> + '_ {
    next(events, |e| match e {
        Event::Connection(u) if u.connection == Some(ConnectionState::Close) => {
            u.last_disconnect.as_ref().map(|(d, _)| d.clone())
        }
        _ => None,
    })
}

/// The next upsert that is not the echo of our own send (`append` of messages from us).
#[track_caller]
pub fn upsert(events: &mut Events) -> impl std::future::Future<Output = MessagesUpsert> + '_ {
    next(events, |e| match e {
        Event::MessagesUpsert(u)
            if !(u.kind == UpsertType::Append && u.messages.iter().all(|m| m.key.from_me)) =>
        {
            Some(u.clone())
        }
        _ => None,
    })
}

/// The text of a message's content (`conversation` or `extendedTextMessage.text`).
pub fn text(m: &wa_proto::Message) -> Option<&str> {
    m.conversation.as_deref().or_else(|| {
        m.extended_text_message
            .as_ref()
            .and_then(|t| t.text.as_deref())
    })
}

pub fn upsert_text(u: &MessagesUpsert) -> String {
    u.messages[0]
        .info
        .message
        .as_ref()
        .and_then(text)
        .unwrap_or_default()
        .to_owned()
}

/// An account paired by QR through the server's phone for `number`: its credentials and
/// keys, ready to log in.
pub struct Paired {
    pub creds: AuthenticationCreds,
    pub keys: Arc<dyn KeyStore>,
}

pub async fn pair(server: &TestServer, number: &str) -> Paired {
    let keys = key_store();
    let (client, mut ev) = Client::connect(
        config(server),
        AuthenticationCreds::generate(),
        keys.clone(),
    );
    let qr = next(&mut ev, |e| match e {
        Event::Connection(u) => u.qr.clone().flatten(),
        _ => None,
    })
    .await;
    server
        .scan_qr(&qr, number, Some("E2E"))
        .await
        .expect("the phone scans the QR");
    let d = closed(&mut ev).await;
    assert_eq!(
        d.status, 515,
        "the server restarts the stream after pairing"
    );
    Paired {
        creds: client.creds(),
        keys,
    }
}

/// Logs an account in and waits for `open`.
pub async fn login(server: &TestServer, account: &Paired) -> (Client, Events) {
    let (c, mut ev) = Client::connect(config(server), account.creds.clone(), account.keys.clone());
    opened(&mut ev).await;
    (c, ev)
}
