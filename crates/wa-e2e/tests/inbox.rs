//! The durable inbox against the real test server: a message's receipt goes once its entry
//! is stored, what the app never confirmed is emitted again at the next login (also by a
//! "new process": a fresh key store over the same storage, nothing in memory), and the
//! server's redelivery of it is answered instead of being dropped as a duplicate.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use wa_client::{Client, Delivery, Event, MessagesUpsert, UpsertType};
use wa_store::{CachedKeyStore, EngineKeyStore, KeyStore, KeyType, MemoryEngine};

/// The next message upsert and its delivery, taken without confirming it.
async fn pending_upsert(events: &mut wa_client::Events) -> (MessagesUpsert, Delivery) {
    let wait = async {
        loop {
            match events.recv_pending().await {
                Some((Event::MessagesUpsert(u), Some(d))) => return (u, d),
                Some((_, d)) => {
                    if let Some(d) = d {
                        d.confirm();
                    }
                }
                None => panic!("the event stream ended"),
            }
        }
    };
    tokio::time::timeout(WAIT, wait).await.expect("an upsert")
}

/// A key store as a bot's: a cache in front of `engine` (the "disk").
fn store_over(engine: &Arc<MemoryEngine>) -> Arc<dyn KeyStore> {
    Arc::new(CachedKeyStore::new(
        Arc::new(EngineKeyStore::new(engine.clone())),
        4096,
        None,
    ))
}

async fn wait_queue_empty(server: &wa_testserver::TestServer, jid: &str) {
    for _ in 0..200 {
        if server.queued(jid) == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{} stanzas still queued for {jid}", server.queued(jid));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_receipt_goes_once_stored_and_an_unconfirmed_message_is_replayed() {
    let server = server("e2e-inbox-replay").await;
    let pa = pair(&server, "15554440001").await;
    let me = pa.creds.me.clone().unwrap().id;
    let (a, mut ea) = login(&server, &pa).await;
    let friend = server.phone("15554440002").unwrap();

    let id = friend
        .send_text("15554440001@s.whatsapp.net", "hold me")
        .unwrap();
    let (got, delivery) = pending_upsert(&mut ea).await;
    assert_eq!(got.messages[0].key.id, id);
    assert_eq!(upsert_text(&got), "hold me");
    // Not confirmed, but stored: the receipt went, the server forgot the message.
    wait_queue_empty(&server, &me).await;
    let ours = |receipts: &[wa_testserver::PhoneReceipt]| {
        receipts
            .iter()
            .filter(|r| r.id == id && r.kind == "delivery" && r.from == me)
            .count()
    };
    // (The account's phone got it too and answers for itself: only our device counts.)
    let receipts = friend.wait_for_receipts(2, 10_000).await.unwrap();
    assert_eq!(ours(&receipts), 1, "{receipts:?}");

    // The app goes away without confirming (as a crash would).
    drop(delivery);
    let creds = a.creds();
    a.end(None);
    closed(&mut ea).await;
    drop((a, ea));

    // The server has nothing more for us: only the inbox can bring it back. The next login
    // emits it again, as `append`, with the same id, before new traffic.
    assert_eq!(server.queued(&me), 0);
    let (b, mut eb) = Client::connect(config(&server), creds, pa.keys.clone());
    let again = upsert(&mut eb).await;
    assert_eq!(again.kind, UpsertType::Append);
    assert_eq!(again.messages[0].key.id, id);
    assert_eq!(upsert_text(&again), "hold me");
    opened(&mut eb).await;

    // Nothing else arrives for it; the session keeps working both ways.
    let id2 = friend
        .send_text("15554440001@s.whatsapp.net", "and then")
        .unwrap();
    let next_one = upsert(&mut eb).await;
    assert_eq!(next_one.messages[0].key.id, id2, "no second copy of {id}");
    b.send_text(friend.jid(), "back to you").await.unwrap();
    let inbox = friend.wait_for_inbox(1, 10_000).await.unwrap();
    assert_eq!(inbox[0].text(), Some("back to you"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_process_replays_what_the_app_never_confirmed_from_storage() {
    let server = server("e2e-inbox-restart").await;
    // The account's storage outlives the "process" (its key store and every client).
    let disk = Arc::new(MemoryEngine::new());
    let paired = {
        let keys = store_over(&disk);
        let (client, mut ev) = Client::connect(
            config(&server),
            wa_store::AuthenticationCreds::generate(),
            keys,
        );
        let qr = next(&mut ev, |e| match e {
            Event::Connection(u) => u.qr.clone().flatten(),
            _ => None,
        })
        .await;
        server.scan_qr(&qr, "15554440011", None).await.unwrap();
        closed(&mut ev).await;
        client.creds()
    };
    let me = paired.me.clone().unwrap().id;
    let friend = server.phone("15554440012").unwrap();

    let ids = {
        let (a, mut ea) = Client::connect(config(&server), paired.clone(), store_over(&disk));
        opened(&mut ea).await;
        let mut ids = Vec::new();
        for i in 0..3 {
            ids.push(
                friend
                    .send_text("15554440011@s.whatsapp.net", &format!("m{i}"))
                    .unwrap(),
            );
        }
        // The first is confirmed; the other two reach the "app" and die with the process.
        let (first, d) = pending_upsert(&mut ea).await;
        assert_eq!(first.messages[0].key.id, ids[0]);
        d.confirm();
        let mut lost = Vec::new();
        for _ in 1..3 {
            lost.push(pending_upsert(&mut ea).await);
        }
        // Their Signal state is stored (a redelivery cannot decrypt again) and so are they.
        let stored = disk_inbox_entries(&disk).await;
        assert!(stored >= 2, "{stored} inbox entries on disk");
        a.end(None);
        closed(&mut ea).await;
        drop(lost);
        ids
    };
    // Let the confirmed entry's delete land and every task of the old "process" end.
    tokio::time::sleep(Duration::from_millis(600)).await;

    let (b, mut eb) = Client::connect(config(&server), paired, store_over(&disk));
    let mut replayed = Vec::new();
    while replayed.len() < 2 {
        let u = upsert(&mut eb).await;
        replayed.push((u.messages[0].key.id.clone(), upsert_text(&u), u.kind));
    }
    assert_eq!(
        replayed,
        vec![
            (ids[1].clone(), "m1".to_owned(), UpsertType::Append),
            (ids[2].clone(), "m2".to_owned(), UpsertType::Append),
        ]
    );
    opened(&mut eb).await;
    wait_queue_empty(&server, &me).await;
    let receipts = friend.wait_for_receipts(6, 10_000).await.unwrap();
    for id in &ids {
        assert!(
            receipts.iter().any(|r| &r.id == id && r.from == me),
            "a receipt from our device for {id}: {receipts:?}"
        );
    }
    // Confirmed entries are pruned from storage.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(disk_inbox_entries(&disk).await, 0);
    b.send_text(friend.jid(), "still talking").await.unwrap();
    friend.wait_for_inbox(1, 10_000).await.unwrap();
    server.stop().await;
}

/// Inbox entries (not `meta`) in the account's storage.
async fn disk_inbox_entries(disk: &Arc<MemoryEngine>) -> usize {
    let keys = EngineKeyStore::new(disk.clone());
    keys.ids(KeyType::Inbox)
        .await
        .unwrap()
        .iter()
        .filter(|id| id.starts_with('e'))
        .count()
}

/// The phone's delivery receipt of a text `a` sent, as the status update the app holds.
async fn held_receipt(a: &Client, ea: &mut wa_client::Events, to: &str) -> Delivery {
    let sent = a.send_text(to, "read me").await.unwrap();
    loop {
        match tokio::time::timeout(WAIT, ea.recv_pending()).await.unwrap() {
            Some((Event::MessagesUpdate(u), Some(d))) if u[0].key.id == sent.key.id => break d,
            Some((_, d)) => {
                if let Some(d) = d {
                    d.confirm();
                }
            }
            None => panic!("the event stream ended"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_is_acked_only_after_the_app_had_the_update() {
    let server = server("e2e-inbox-receipt").await;
    let pa = pair(&server, "15554440021").await;
    let me = pa.creds.me.clone().unwrap().id;
    let (a, mut ea) = login(&server, &pa).await;
    let friend = server.phone("15554440022").unwrap();
    // The phone's delivery receipt comes back as a status update, held by the app.
    let held = held_receipt(&a, &mut ea, friend.jid()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.queued(&me), 1, "the receipt waits for its ack");
    held.confirm();
    wait_queue_empty(&server, &me).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_ack_waits_for_the_next_write_not_for_a_wake_up_of_its_own() {
    let server = server("e2e-inbox-lazy-ack").await;
    let pa = pair(&server, "15554440031").await;
    let me = pa.creds.me.clone().unwrap().id;
    // The timer that would write it on its own is far away: only the driver's next turn can.
    let config = wa_client::Config {
        answer_delay: Duration::from_secs(600),
        ..config(&server)
    };
    let (a, mut ea) = Client::connect(config, pa.creds.clone(), pa.keys.clone());
    opened(&mut ea).await;
    let friend = server.phone("15554440032").unwrap();
    // Two receipts: the friend's delivery receipt (an update for the app, held by it), and
    // our own phone's `sender` receipt (nothing for the app: its ack waits in the outbox
    // for the driver's next turn). Which comes first, and whether they come in one read, is
    // the server's timing: when the friend's receipt comes in a turn of its own after our
    // phone's, that turn takes the `sender` ack along. So the count is read once both are in.
    let held = held_receipt(&a, &mut ea, friend.jid()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let waiting = server.queued(&me);
    assert!(waiting >= 1, "the held receipt waits for the app");
    held.confirm();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        server.queued(&me),
        waiting,
        "a confirmed ack waits for the next write, not for a wake-up of its own"
    );
    // Any write takes it along: a ping, which the server answers.
    let ping = wa_binary::Node::new("iq")
        .attr("to", "s.whatsapp.net")
        .attr("type", "get")
        .attr("xmlns", "w:p")
        .children(vec![wa_binary::Node::new("ping")]);
    a.query(ping, None).await.unwrap();
    wait_queue_empty(&server, &me).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_ack_is_written_by_its_deadline_when_nothing_else_is() {
    let server = server("e2e-inbox-ack-deadline").await;
    let pa = pair(&server, "15554440041").await;
    let me = pa.creds.me.clone().unwrap().id;
    let (a, mut ea) = login(&server, &pa).await;
    let friend = server.phone("15554440042").unwrap();
    // Confirmed at once, before the outbox's timer fired: nothing but the timer writes it.
    let held = held_receipt(&a, &mut ea, friend.jid()).await;
    held.confirm();
    wait_queue_empty(&server, &me).await;
    // Confirmed after the timer fired (the app was slow): the confirmation wakes the
    // connection itself.
    let held = held_receipt(&a, &mut ea, friend.jid()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    held.confirm();
    wait_queue_empty(&server, &me).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_with_nothing_for_the_app_is_acked_by_the_deadline_when_nothing_is_written() {
    let server = server("e2e-inbox-sender-deadline").await;
    let pa = pair(&server, "15554440061").await;
    let me = pa.creds.me.clone().unwrap().id;
    let (a, mut ea) = login(&server, &pa).await;
    let friend = server.phone("15554440062").unwrap();
    // The delivery receipt's update is held (never confirmed): only the sender receipt can
    // leave the queue, by the outbox's timer.
    let held = held_receipt(&a, &mut ea, friend.jid()).await;
    server.wait_for_queued(&me, 1, 10_000).await.unwrap();
    let mut left = server.queued(&me);
    for _ in 0..200 {
        left = server.queued(&me);
        if left == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(left, 1, "the sender receipt's ack went by the deadline");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        server.queued(&me),
        1,
        "the held update's receipt waits for the app"
    );
    held.confirm();
    wait_queue_empty(&server, &me).await;
    server.stop().await;
}

/// What a store engine reports when its server does not answer.
fn unavailable(message: &str) -> wa_store::StoreError {
    wa_store::StoreError::Unavailable {
        engine: "test",
        ms: 0,
        message: message.into(),
    }
}

/// A key store whose server can be taken down: every call fails while it is down, as an S3 or
/// PostgreSQL engine reports a server it cannot reach.
struct Outage {
    inner: Arc<dyn KeyStore>,
    down: std::sync::atomic::AtomicBool,
}

impl Outage {
    fn check(&self) -> wa_store::Result<()> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(unavailable("taken down by the test"));
        }
        Ok(())
    }
}

impl KeyStore for Outage {
    fn get_many<'a>(
        &'a self,
        reqs: &'a [wa_store::KeyRequest],
    ) -> wa_store::BoxFuture<'a, Vec<wa_store::KeyMap>> {
        Box::pin(async move {
            self.check()?;
            self.inner.get_many(reqs).await
        })
    }

    fn set<'a>(&'a self, writes: &'a wa_store::KeyWrites) -> wa_store::BoxFuture<'a, ()> {
        Box::pin(async move {
            self.check()?;
            self.inner.set(writes).await
        })
    }
}

/// A message that arrives while the key store is down is neither dropped nor left unanswered
/// (the server sends nothing again to a live connection): it is handled again once the store
/// is back, and the app gets it then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_arrives_during_a_store_outage_reaches_the_app_when_it_is_back() {
    let server = server("e2e-store-outage").await;
    let mut pa = pair(&server, "15553350001").await;
    let pb = pair(&server, "15553350002").await;
    let outage = Arc::new(Outage {
        inner: pa.keys.clone(),
        down: false.into(),
    });
    pa.keys = outage.clone();
    let (_a, mut ea) = login(&server, &pa).await;
    let (b, _eb) = login(&server, &pb).await;
    b.send_text("15553350001@s.whatsapp.net", "before")
        .await
        .unwrap();
    assert_eq!(
        next(&mut ea, |e| match e {
            Event::MessagesUpsert(u) => Some(upsert_text(u)),
            _ => None,
        })
        .await,
        "before"
    );

    outage.down.store(true, std::sync::atomic::Ordering::SeqCst);
    b.send_text("15553350001@s.whatsapp.net", "during the outage")
        .await
        .unwrap();
    // The store stays down across a few attempts.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    outage
        .down
        .store(false, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        next(&mut ea, |e| match e {
            Event::MessagesUpsert(u) => Some(upsert_text(u)),
            _ => None,
        })
        .await,
        "during the outage"
    );
}

/// How [`PartlyApplied`] fails while armed: as S3 does, where a batch is many puts and some of
/// them land before the outage answers the rest with errors.
const WHOLE: u8 = 0;
/// Every write but the inbox's lands, then the batch fails.
const ENTRY_LOST: u8 = 1;
/// A batch without inbox writes lands, then fails (its answer lost in the outage).
const KEYS_WRITTEN_UNANSWERED: u8 = 2;

/// A key store that applies part of a failed batch (it does not claim all-or-nothing).
struct PartlyApplied {
    inner: Arc<dyn KeyStore>,
    mode: std::sync::atomic::AtomicU8,
    failed: std::sync::atomic::AtomicUsize,
}

impl KeyStore for PartlyApplied {
    fn get_many<'a>(
        &'a self,
        reqs: &'a [wa_store::KeyRequest],
    ) -> wa_store::BoxFuture<'a, Vec<wa_store::KeyMap>> {
        self.inner.get_many(reqs)
    }

    fn set<'a>(&'a self, writes: &'a wa_store::KeyWrites) -> wa_store::BoxFuture<'a, ()> {
        use std::sync::atomic::Ordering::SeqCst;
        Box::pin(async move {
            let landed: wa_store::KeyWrites = match self.mode.load(SeqCst) {
                ENTRY_LOST => writes
                    .iter()
                    .filter(|(ty, _)| **ty != KeyType::Inbox)
                    .map(|(ty, w)| (*ty, w.clone()))
                    .collect(),
                KEYS_WRITTEN_UNANSWERED if !writes.contains_key(&KeyType::Inbox) => writes.clone(),
                _ => return self.inner.set(writes).await,
            };
            self.inner.set(&landed).await?;
            self.failed.fetch_add(1, SeqCst);
            Err(unavailable("the batch failed part-way"))
        })
    }
}

/// A store that may apply part of a failed write (S3) loses no message whichever part lands:
/// the entry is written before the keys its decryption used up, and a message whose keys were
/// only partly written is decrypted again (or found used) and handed over from its entry. The
/// sessions work both ways afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_applies_part_of_a_failed_write_loses_no_message() {
    use std::sync::atomic::Ordering::SeqCst;
    let server = server("e2e-store-partial").await;
    let mut pa = pair(&server, "15553360001").await;
    let pb = pair(&server, "15553360002").await;
    let store = Arc::new(PartlyApplied {
        inner: pa.keys.clone(),
        mode: WHOLE.into(),
        failed: 0.into(),
    });
    pa.keys = store.clone();
    let (a, mut ea) = login(&server, &pa).await;
    let (b, mut eb) = login(&server, &pb).await;
    let text_of = |e: &Event| match e {
        Event::MessagesUpsert(u) if u.kind == UpsertType::Notify => Some(upsert_text(u)),
        _ => None,
    };
    b.send_text("15553360001@s.whatsapp.net", "before")
        .await
        .unwrap();
    assert_eq!(next(&mut ea, text_of).await, "before");

    for (mode, text) in [
        (ENTRY_LOST, "the entry lost"),
        (KEYS_WRITTEN_UNANSWERED, "the keys written, the answer lost"),
    ] {
        let failed = store.failed.load(SeqCst);
        store.mode.store(mode, SeqCst);
        b.send_text("15553360001@s.whatsapp.net", text)
            .await
            .unwrap();
        for _ in 0..100 {
            if store.failed.load(SeqCst) > failed {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            store.failed.load(SeqCst) > failed,
            "{text}: a write failed part-way"
        );
        tokio::time::sleep(Duration::from_millis(600)).await;
        store.mode.store(WHOLE, SeqCst);
        assert_eq!(next(&mut ea, text_of).await, text);
    }

    b.send_text("15553360001@s.whatsapp.net", "after")
        .await
        .unwrap();
    assert_eq!(next(&mut ea, text_of).await, "after");
    a.send_text("15553360002@s.whatsapp.net", "and back")
        .await
        .unwrap();
    assert_eq!(next(&mut eb, text_of).await, "and back");
}
