//! Retries both ways: a receiver that lost its session cannot decrypt, tells the app with a
//! CIPHERTEXT stub, asks for a retry; the sender starts a new session and sends again.

mod common;

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
