//! Texts between two of our clients and with the simulated phones: first contact (`pkmsg`),
//! ratchet steps both ways, bursts, delivery receipts, offline delivery, reconnects.

mod common;

use common::*;
use wa_client::{Event, UpsertType};
use wa_proto::web_message_info::Status;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_exchange_texts_both_ways_and_offline() {
    let server = server("e2e-messaging").await;
    let pa = pair(&server, "15552220001").await;
    let pb = pair(&server, "15552220002").await;
    let (a, mut ea) = login(&server, &pa).await;
    let (b, mut eb) = login(&server, &pb).await;

    // A -> B: the first message starts a session; B's receipt reaches A as a status update.
    let sent = a
        .send_text("15552220002@s.whatsapp.net", "hello B")
        .await
        .unwrap();
    assert!(sent.key.from_me);
    assert_eq!(sent.info.status, Some(Status::ServerAck as i32));
    let got = upsert(&mut eb).await;
    assert_eq!(got.kind, UpsertType::Notify);
    assert_eq!(upsert_text(&got), "hello B");
    let m = &got.messages[0];
    assert_eq!(m.key.id, sent.key.id);
    assert!(!m.key.from_me);
    assert!(
        m.key.remote_jid.starts_with("15552220001"),
        "{}",
        m.key.remote_jid
    );
    let status = next(&mut ea, |e| match e {
        Event::MessagesUpdate(u) if u[0].key.id == sent.key.id => u[0].update.status,
        _ => None,
    })
    .await;
    assert_eq!(status, Status::DeliveryAck as i32);

    // Alternating (a ratchet step each time), then a burst.
    for i in 0..10 {
        b.send_text("15552220001@s.whatsapp.net", &format!("b{i}"))
            .await
            .unwrap();
        assert_eq!(upsert_text(&upsert(&mut ea).await), format!("b{i}"));
        a.send_text("15552220002@s.whatsapp.net", &format!("a{i}"))
            .await
            .unwrap();
        assert_eq!(upsert_text(&upsert(&mut eb).await), format!("a{i}"));
    }
    for i in 0..100 {
        a.send_text("15552220002@s.whatsapp.net", &format!("burst {i}"))
            .await
            .unwrap();
    }
    for i in 0..100 {
        assert_eq!(upsert_text(&upsert(&mut eb).await), format!("burst {i}"));
    }

    // B goes away; A's message waits at the server and arrives as `append` when B logs in.
    let b_creds = b.creds();
    b.end(None);
    closed(&mut eb).await;
    let b_jid = b_creds.me.clone().unwrap().id;
    server.wait_for_online(&b_jid, false, 5_000).await.ok();
    a.send_text("15552220002@s.whatsapp.net", "while you were away")
        .await
        .unwrap();
    let back = Paired {
        creds: b_creds,
        keys: pb.keys.clone(),
    };
    let (b2, mut eb2) =
        wa_client::Client::connect(config(&server), back.creds.clone(), back.keys.clone());
    // `open` and the offline message come in either order (the queue is delivered once the
    // connection is active; `open` follows the post-login steps).
    let mut open = false;
    let got = next(&mut eb2, |e| match e {
        Event::Connection(u) if u.connection == Some(wa_client::ConnectionState::Open) => {
            open = true;
            None
        }
        Event::MessagesUpsert(u) if !u.messages[0].key.from_me => Some(u.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        got.kind,
        UpsertType::Append,
        "offline messages are appended"
    );
    assert_eq!(upsert_text(&got), "while you were away");
    if !open {
        opened(&mut eb2).await;
    }
    b2.send_text("15552220001@s.whatsapp.net", "back")
        .await
        .unwrap();
    assert_eq!(upsert_text(&upsert(&mut ea).await), "back");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn texts_with_the_phone_both_ways() {
    let server = server("e2e-phone").await;
    let pa = pair(&server, "15553330001").await;
    let (a, mut ea) = login(&server, &pa).await;
    let friend = server.phone("15553330002").unwrap();
    friend
        .send_text("15553330001@s.whatsapp.net", "from the phone")
        .unwrap();
    let got = upsert(&mut ea).await;
    assert_eq!(upsert_text(&got), "from the phone");
    a.send_text(friend.jid(), "to the phone").await.unwrap();
    let inbox = friend.wait_for_inbox(1, 10_000).await.unwrap();
    assert_eq!(inbox[0].text(), Some("to the phone"));
    // Our own phone sees what we sent, as sent by us.
    let own = server.phone("15553330001").unwrap();
    // (Its inbox also holds the friend's text: it went to every device of our account.)
    let inbox = own.wait_for_inbox(2, 10_000).await.unwrap();
    let copy = inbox
        .iter()
        .find(|m| m.from_me)
        .expect("our phone got a copy of what we sent");
    assert_eq!(copy.text(), Some("to the phone"));
    assert_eq!(copy.remote_jid, friend.jid());
    server.stop().await;
}

/// Counts the session records read through it (from its cache or its store), by address.
struct SessionReads {
    inner: std::sync::Arc<dyn wa_store::KeyStore>,
    reads: std::sync::Mutex<std::collections::HashMap<String, usize>>,
}

impl SessionReads {
    fn count(&self, ty: wa_store::KeyType, id: &str) {
        if ty == wa_store::KeyType::Session {
            *self.reads.lock().unwrap().entry(id.to_owned()).or_default() += 1;
        }
    }

    fn take(&self) -> std::collections::HashMap<String, usize> {
        std::mem::take(&mut *self.reads.lock().unwrap())
    }
}

impl wa_store::KeyStore for SessionReads {
    fn all_or_nothing(&self) -> bool {
        self.inner.all_or_nothing()
    }

    fn get_many<'a>(
        &'a self,
        reqs: &'a [wa_store::KeyRequest],
    ) -> wa_store::BoxFuture<'a, Vec<wa_store::KeyMap>> {
        for (ty, ids) in reqs {
            for id in ids {
                self.count(*ty, id);
            }
        }
        self.inner.get_many(reqs)
    }

    fn set<'a>(&'a self, writes: &'a wa_store::KeyWrites) -> wa_store::BoxFuture<'a, ()> {
        self.inner.set(writes)
    }

    fn set_owned(&self, writes: wa_store::KeyWrites) -> wa_store::BoxFuture<'_, ()> {
        self.inner.set_owned(writes)
    }

    fn peek(
        &self,
        ty: wa_store::KeyType,
        id: &str,
        f: &mut dyn FnMut(Option<&serde_json::Value>),
    ) -> bool {
        let held = self.inner.peek(ty, id, f);
        if held {
            self.count(ty, id);
        }
        held
    }
}

/// A send to devices that all have a session reads each device's record once (it used to be
/// read twice: once to see whether a bundle was needed, once under the device's lock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_reads_each_devices_session_once() {
    let server = server("e2e-session-reads").await;
    let mut pa = pair(&server, "15553340001").await;
    let pb = pair(&server, "15553340002").await;
    let counting = std::sync::Arc::new(SessionReads {
        inner: pa.keys.clone(),
        reads: Default::default(),
    });
    pa.keys = counting.clone();
    let (a, _ea) = login(&server, &pa).await;
    let (_b, mut eb) = login(&server, &pb).await;

    // The first send starts the sessions (bundles fetched, records read before and after).
    a.send_text("15553340002@s.whatsapp.net", "first")
        .await
        .unwrap();
    assert_eq!(upsert_text(&upsert(&mut eb).await), "first");
    let first = counting.take();
    assert!(!first.is_empty(), "the first send read no session record");

    for i in 0..3 {
        a.send_text("15553340002@s.whatsapp.net", &format!("again {i}"))
            .await
            .unwrap();
        assert_eq!(upsert_text(&upsert(&mut eb).await), format!("again {i}"));
        let reads = counting.take();
        // B's phone and B's companion, and A's own phone for its copy.
        assert!(reads.len() >= 3, "devices read: {reads:?}");
        for (address, n) in &reads {
            assert_eq!(*n, 1, "{address} read {n} times in one send: {reads:?}");
        }
    }
    server.stop().await;
}
