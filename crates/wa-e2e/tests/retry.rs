//! Retries both ways: a receiver that lost its session cannot decrypt, tells the app with a
//! CIPHERTEXT stub, asks for a retry; the sender starts a new session and sends again.

mod common;

use std::sync::Arc;

use common::*;
use wa_proto::web_message_info::StubType;
use wa_store::{KeyType, KeyWrites};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_session_is_recovered_through_a_retry_receipt() {
    let server = server("e2e-retry").await;
    let pa = pair(&server, "15554440001").await;
    let pb = pair(&server, "15554440002").await;
    let (a, mut ea) = login(&server, &pa).await;
    let (b, mut eb) = login(&server, &pb).await;
    a.send_text("15554440002@s.whatsapp.net", "first")
        .await
        .unwrap();
    assert_eq!(upsert_text(&upsert(&mut eb).await), "first");
    b.send_text("15554440001@s.whatsapp.net", "reply")
        .await
        .unwrap();
    assert_eq!(upsert_text(&upsert(&mut ea).await), "reply");

    // B loses its session with A's device.
    let address = b.address(&a.creds().me.unwrap().id).await.unwrap();
    let mut wipe = KeyWrites::new();
    wipe.entry(KeyType::Session)
        .or_default()
        .insert(address.to_string(), None);
    b.key_store().set(&wipe).await.unwrap();

    let sent = a
        .send_text("15554440002@s.whatsapp.net", "after the wipe")
        .await
        .unwrap();
    let stub = upsert(&mut eb).await;
    let m = &stub.messages[0];
    assert_eq!(m.key.id, sent.key.id);
    assert_eq!(m.info.message_stub_type, Some(StubType::Ciphertext as i32));
    assert!(m.info.message.is_none());
    // The retry receipt made A send it again with a fresh session; now it decrypts.
    let again = upsert(&mut eb).await;
    assert_eq!(again.messages[0].key.id, sent.key.id);
    assert_eq!(upsert_text(&again), "after the wipe");
    // And the new session works both ways.
    b.send_text("15554440001@s.whatsapp.net", "still here")
        .await
        .unwrap();
    assert_eq!(upsert_text(&upsert(&mut ea).await), "still here");
    server.stop().await;
}

/// The app's store, as a `MessageSource`: what it holds, and what it was asked.
struct Kept {
    messages: std::collections::HashMap<String, wa_proto::Message>,
    asked: std::sync::Mutex<Vec<(String, Option<String>, String)>>,
}

impl wa_client::retry::MessageSource for Kept {
    fn sent_message<'a>(
        &'a self,
        chat: &'a str,
        alt: Option<&'a str>,
        id: &'a str,
    ) -> wa_store::BoxFuture<'a, Option<wa_proto::Message>> {
        self.asked
            .lock()
            .unwrap()
            .push((chat.to_owned(), alt.map(str::to_owned), id.to_owned()));
        Box::pin(async move { Ok(self.messages.get(id).cloned()) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_for_a_message_sent_before_a_restart_is_answered_from_the_message_source() {
    let server = server("e2e-retry-source").await;
    let pa = pair(&server, "15554440011").await;
    let pb = pair(&server, "15554440012").await;
    let (a, _ea) = login(&server, &pa).await;
    let (b, mut eb) = login(&server, &pb).await;
    a.send_text("15554440012@s.whatsapp.net", "first")
        .await
        .unwrap();
    assert_eq!(upsert_text(&upsert(&mut eb).await), "first");
    let a_device = a.creds().me.unwrap().id;

    // B goes away and loses its session with A's device; A sends while B is away, then A's
    // process ends too.
    let address = b.address(&a_device).await.unwrap();
    b.end(None);
    closed(&mut eb).await;
    let mut wipe = KeyWrites::new();
    wipe.entry(KeyType::Session)
        .or_default()
        .insert(address.to_string(), None);
    pb.keys.set(&wipe).await.unwrap();
    let sent = a
        .send_text("15554440012@s.whatsapp.net", "kept by the app")
        .await
        .unwrap();
    a.end(None);

    // B is back: it cannot decrypt, and its retry receipt waits for A's device.
    // (Not `login`: the queued message may come before `open` is seen.)
    let (_b2, mut eb2) = wa_client::Client::connect(config(&server), b.creds(), pb.keys.clone());
    let stub = upsert(&mut eb2).await;
    assert_eq!(stub.messages[0].key.id, sent.key.id);
    assert_eq!(
        stub.messages[0].info.message_stub_type,
        Some(StubType::Ciphertext as i32)
    );

    // A new client for A (a restarted process: nothing in memory) with the app's store.
    let kept = Arc::new(Kept {
        messages: [(
            sent.key.id.clone(),
            sent.info.message.clone().expect("content"),
        )]
        .into(),
        asked: Default::default(),
    });
    let mut cfg = config(&server);
    cfg.message_source = Some(wa_client::retry::SharedSource(kept.clone()));
    let (_a2, mut ea2) = wa_client::Client::connect(cfg, a.creds(), pa.keys.clone());
    opened(&mut ea2).await;
    let again = upsert(&mut eb2).await;
    assert_eq!(again.messages[0].key.id, sent.key.id);
    assert_eq!(upsert_text(&again), "kept by the app");
    let asked = kept.asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 1);
    assert_eq!(
        asked[0].0, "15554440012@s.whatsapp.net",
        "the chat is the asker"
    );
    assert_eq!(asked[0].2, sent.key.id);
    server.stop().await;
}
