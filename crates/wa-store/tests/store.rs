//! The typed Store (timeline, batched writes), the key policy builder, and migrations
//! between engines (resumable, verified), on the engines that need no server.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;
use wa_store::keys::AccountKeys;
use wa_store::migrate::{self, CopyOptions};
use wa_store::{
    BatchedStore, BoxFuture, Engine, FolderEngine, KeyType, MemoryEngine, SqliteEngine, Store,
    StoreBatch, StoreError, Write,
};

/// An engine that counts `set_many` calls and can be told to fail after some.
struct Counting {
    inner: Arc<dyn Engine>,
    sets: AtomicUsize,
    /// Paths read with `get_many`.
    reads: AtomicUsize,
    fail_after: Option<usize>,
    /// A round trip's time per write (a server engine).
    delay: std::time::Duration,
}

impl Counting {
    fn new(inner: Arc<dyn Engine>, fail_after: Option<usize>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            sets: AtomicUsize::new(0),
            reads: AtomicUsize::new(0),
            fail_after,
            delay: std::time::Duration::ZERO,
        })
    }
}

impl Engine for Counting {
    fn get<'a>(&'a self, p: &'a str) -> BoxFuture<'a, Option<Vec<u8>>> {
        self.inner.get(p)
    }
    fn get_many<'a>(&'a self, paths: &'a [String]) -> BoxFuture<'a, Vec<Option<Vec<u8>>>> {
        self.reads.fetch_add(paths.len(), Ordering::SeqCst);
        self.inner.get_many(paths)
    }
    fn set_many<'a>(&'a self, writes: Vec<Write>) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let n = self.sets.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            if self.fail_after.is_some_and(|f| n >= f) {
                return Err(StoreError::Engine {
                    op: "set",
                    message: "injected failure".into(),
                });
            }
            self.inner.set_many(writes).await
        })
    }
    fn list<'a>(&'a self, p: &'a str, o: usize, l: usize) -> BoxFuture<'a, Vec<String>> {
        self.inner.list(p, o, l)
    }
    fn scan<'a>(&'a self, after: Option<&'a str>, limit: usize) -> BoxFuture<'a, Vec<String>> {
        self.inner.scan(after, limit)
    }
}

fn msg(jid: &str, id: &str, ts: u64, text: &str) -> serde_json::Value {
    json!({"key": {"remoteJid": jid, "id": id, "fromMe": false}, "messageTimestamp": ts, "message": {"conversation": text}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_list_newest_first_by_timestamp_whatever_the_write_order() {
    let e: Arc<dyn Engine> = Arc::new(MemoryEngine::new());
    let s = Store::new(e.clone());
    let jid = "123@s.whatsapp.net";
    // History arrives out of order; a protobufjs Long and a string timestamp too.
    s.set_message(jid, "B", Some(&msg(jid, "B", 1_700_000_200, "b")))
        .await
        .unwrap();
    s.set_message(jid, "A", Some(&msg(jid, "A", 1_700_000_100, "a")))
        .await
        .unwrap();
    let mut c = msg(jid, "C", 0, "c");
    c["messageTimestamp"] = json!({"low": 1_700_000_300u32, "high": 0, "unsigned": true});
    s.put_message_with_content(jid, "C", &c, b"\x00media".to_vec())
        .await
        .unwrap();
    let mut d = msg(jid, "D", 0, "d");
    d["messageTimestamp"] = json!("1700000050");
    s.set_message(jid, "D", Some(&d)).await.unwrap();
    let ids =
        |v: Vec<(String, serde_json::Value)>| v.into_iter().map(|(i, _)| i).collect::<Vec<_>>();
    assert_eq!(
        ids(s.messages(jid, 0, 10).await.unwrap()),
        ["C", "B", "A", "D"]
    );
    assert_eq!(ids(s.messages(jid, 1, 2).await.unwrap()), ["B", "A"]);
    // The seed's key for C: 9999999999999 - 1700000300000 ms.
    assert!(
        e.get("chat/123@s.whatsapp.net/timestamp/8299999699999_C")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(s.content(jid, "C").await.unwrap().unwrap(), b"\x00media");
    // An edit that moves a message moves it in the timeline (no duplicate).
    s.set_message(jid, "A", Some(&msg(jid, "A", 1_700_000_400, "a2")))
        .await
        .unwrap();
    assert_eq!(
        ids(s.messages(jid, 0, 10).await.unwrap()),
        ["A", "C", "B", "D"]
    );
    // Deleting takes the message, its content and its timeline entry.
    s.set_message(jid, "C", None).await.unwrap();
    assert_eq!(ids(s.messages(jid, 0, 10).await.unwrap()), ["A", "B", "D"]);
    assert_eq!(s.content(jid, "C").await.unwrap(), None);
    assert_eq!(
        e.list("chat/123@s.whatsapp.net/timestamp", 0, 10)
            .await
            .unwrap()
            .len(),
        3
    );
    // One batch writing a message twice keeps one timeline entry.
    let mut b = StoreBatch::default();
    b.message(jid, "E", msg(jid, "E", 10, "e1"), None)
        .message(jid, "E", msg(jid, "E", 20, "e2"), None)
        .contact(
            "123@s.whatsapp.net",
            Some(json!({"id": "123@s.whatsapp.net", "name": "Ann"})),
        )
        .chat(jid, Some(json!({"id": jid})));
    s.write(b).await.unwrap();
    assert_eq!(
        e.list("chat/123@s.whatsapp.net/timestamp", 0, 10)
            .await
            .unwrap()
            .len(),
        4
    );
    assert_eq!(
        s.contact("123@s.whatsapp.net").await.unwrap().unwrap()["name"],
        "Ann"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_1000_messages_is_a_few_engine_writes() {
    // Each engine write takes 2 ms, as a round trip to a server does.
    let counting = Arc::new(Counting {
        inner: Arc::new(MemoryEngine::new()),
        sets: AtomicUsize::new(0),
        reads: AtomicUsize::new(0),
        fail_after: None,
        delay: std::time::Duration::from_millis(2),
    });
    let store = Store::new(counting.clone());
    let batched = BatchedStore::new(store.clone(), 1000);
    let jid = "g@g.us";
    let mut tasks = Vec::new();
    for i in 0..1000u64 {
        let b = batched.clone();
        tasks.push(tokio::spawn(async move {
            let mut batch = StoreBatch::default();
            batch.message(
                jid,
                format!("M{i:04}"),
                msg(jid, "x", 1_700_000_000 + i, "t"),
                None,
            );
            b.write(batch).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let writes = counting.sets.load(Ordering::SeqCst);
    assert!(writes <= 20, "1000 messages took {writes} engine writes");
    let all = store.messages(jid, 0, 2000).await.unwrap();
    assert_eq!(all.len(), 1000);
    assert_eq!(all[0].0, "M0999");
    assert_eq!(all[999].0, "M0000");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_messages_are_written_without_reading_and_later_versions_still_move() {
    let counting = Counting::new(Arc::new(MemoryEngine::new()), None);
    let store = Store::new(counting.clone());
    let jid = "123@s.whatsapp.net";
    let mut first = StoreBatch::default();
    for (id, ts) in [("A", 100), ("B", 200)] {
        first.fresh_message(jid, id, msg(jid, id, 1_700_000_000 + ts, "t"), None);
    }
    store.write(first).await.unwrap();
    assert_eq!(counting.reads.load(Ordering::SeqCst), 0, "nothing read");
    // A later version of A (an edit moves it to the newest place) is read, and moves once;
    // a fresh C in the same batch is not read.
    let mut later = StoreBatch::default();
    later.message(jid, "A", msg(jid, "A", 1_700_000_300, "edited"), None);
    later.fresh_message(jid, "C", msg(jid, "C", 1_700_000_250, "c"), None);
    store.write(later).await.unwrap();
    assert_eq!(counting.reads.load(Ordering::SeqCst), 1, "only A was read");
    let ids: Vec<String> = store
        .messages(jid, 0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(ids, ["A", "C", "B"], "A moved, once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merged_write_that_fails_fails_only_the_bad_batch() {
    let store = Store::new(Arc::new(MemoryEngine::new()));
    let batched = BatchedStore::new(store.clone(), 1000);
    let mut tasks = Vec::new();
    for i in 0..50u64 {
        let b = batched.clone();
        tasks.push(tokio::spawn(async move {
            let mut batch = StoreBatch::default();
            // One hostile JID among good ones.
            let jid = if i == 25 {
                "../etc@s.whatsapp.net".to_owned()
            } else {
                format!("{i}@s.whatsapp.net")
            };
            batch.contact(jid, Some(json!({"i": i})));
            b.write(batch).await
        }));
    }
    let mut failed = 0;
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.unwrap() {
            Ok(()) => assert_ne!(i, 25),
            Err(e) => {
                assert_eq!(i, 25);
                assert_eq!(e.code(), "ERR_WA_STORE_BAD_JID");
                failed += 1;
            }
        }
    }
    assert_eq!(failed, 1);
    assert_eq!(store.contacts(0, 100).await.unwrap().len(), 49);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_keys_applies_the_policy_it_is_given() {
    let e: Arc<dyn Engine> = Arc::new(MemoryEngine::new());
    let keys = AccountKeys::over_engine(e.clone())
        .max_prekeys(Some(5))
        .cache(16)
        .build();
    let prekeys = |ids: std::ops::RangeInclusive<u32>| {
        let mut w = BTreeMap::new();
        w.insert(
            KeyType::PreKey,
            ids.map(|i| (i.to_string(), Some(json!({"i": i}))))
                .collect(),
        );
        w
    };
    keys.set(&prekeys(1..=5)).await.unwrap();
    keys.set(&prekeys(6..=8)).await.unwrap();
    // Only the 5 newest pre-keys stay, in the engine itself.
    assert_eq!(
        e.list("session/signal/pre-key", 0, 100)
            .await
            .unwrap()
            .len(),
        5
    );
    assert!(e.get("session/signal/pre-key/3").await.unwrap().is_none());
    assert!(e.get("session/signal/pre-key/4").await.unwrap().is_some());
    let unbounded = AccountKeys::over_engine(Arc::new(MemoryEngine::new()))
        .max_prekeys(None)
        .build();
    unbounded.set(&prekeys(1..=5)).await.unwrap();
    unbounded.set(&prekeys(6..=8)).await.unwrap();
    assert_eq!(
        unbounded
            .get(KeyType::PreKey, &["1".into()])
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn fill(e: Arc<dyn Engine>, sessions: usize, messages: usize) {
    let mut w = vec![Write::put(
        "session/creds",
        br#"{"me":{"id":"1@s.whatsapp.net"}}"#.to_vec(),
    )];
    for i in 0..sessions {
        w.push(Write::put(
            format!("session/signal/session/{i}.0"),
            format!(r#"{{"s":{i}}}"#).into_bytes(),
        ));
    }
    e.set_many(w).await.unwrap();
    let s = Store::new(e);
    let mut b = StoreBatch::default();
    for i in 0..messages {
        let jid = format!("{}@s.whatsapp.net", i % 7);
        let content = (i % 5 == 0).then(|| vec![i as u8; 64]);
        b.message(
            jid.clone(),
            format!("ID{i}"),
            msg(&jid, "x", 1_700_000_000 + i as u64, "t"),
            content,
        );
        b.chat(jid.clone(), Some(json!({"id": jid})));
    }
    s.write(b).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_is_verified_and_an_interrupted_copy_resumes() {
    let src: Arc<dyn Engine> = Arc::new(MemoryEngine::new());
    fill(src.clone(), 300, 500).await;
    let (n, sum) = migrate::checksum(&*src).await.unwrap();
    // creds + 300 sessions + 500 messages + 100 contents + 500 timeline + 7 chats
    assert_eq!(n, 1 + 300 + 500 + 100 + 500 + 7);

    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let sqlite: Arc<dyn Engine> = Arc::new(SqliteEngine::open(dir.path().join("dst.db")).unwrap());
    // The destination fails on its 3rd batch: the copy stops with that error.
    let flaky = Counting::new(sqlite.clone(), Some(2));
    let opts = CopyOptions {
        batch: 100,
        state: Some(state.clone()),
    };
    let err = migrate::copy(&*src, &*flaky, &opts).await.unwrap_err();
    assert_eq!(err.code(), "ERR_WA_STORE_ENGINE");
    assert!(state.exists(), "progress recorded");
    // Resumed: only what was missing is copied; verified by count and checksum.
    let r = migrate::copy(&*src, &*sqlite, &opts).await.unwrap();
    assert!(r.resumed);
    assert_eq!(r.copied, n - 200);
    assert_eq!(
        (r.destination_count, r.destination_checksum.clone()),
        (n, sum.clone())
    );
    assert!(!state.exists(), "state removed once verified");
    // The source was only read.
    assert_eq!(migrate::checksum(&*src).await.unwrap(), (n, sum));

    // A destination holding something else is not verified.
    let other: Arc<dyn Engine> = Arc::new(MemoryEngine::new());
    other
        .set("contact/stranger@s.whatsapp.net", Some(b"{}".to_vec()))
        .await
        .unwrap();
    let err = migrate::copy(&*src, &*other, &CopyOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "ERR_WA_STORE_MIGRATION_MISMATCH");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_baileys_folder_goes_through_any_engine_and_back_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    std::fs::create_dir_all(&a).unwrap();
    std::fs::write(
        a.join("creds.json"),
        br#"{"registrationId":7,"noiseKey":{"private":{"type":"Buffer","data":"AQI="}}}"#,
    )
    .unwrap();
    std::fs::write(a.join("session-123.0.json"), br#"{"_sessions":{}}"#).unwrap();
    std::fs::write(
        a.join("pre-key-5.json"),
        br#"{"public":{"type":"Buffer","data":"BQ=="}}"#,
    )
    .unwrap();
    std::fs::write(
        a.join("sender-key-123@g.us--456--0.json"),
        br#"{"type":"Buffer","data":"W10="}"#,
    )
    .unwrap();
    std::fs::write(
        a.join("app-state-sync-key-AAAA.json"),
        br#"{"keyData":"x"}"#,
    )
    .unwrap();
    let folder: Arc<dyn Engine> = Arc::new(FolderEngine::open(&a).unwrap());
    // Only messages: the folder already has its creds.
    let s = Store::new(folder.clone());
    let mut batch = StoreBatch::default();
    for i in 0..20 {
        let jid = format!("{}@s.whatsapp.net", i % 7);
        batch.message(
            jid.clone(),
            format!("ID{i}"),
            msg(&jid, "x", 1_700_000_000 + i as u64, "t"),
            None,
        );
    }
    s.write(batch).await.unwrap();
    let sqlite: Arc<dyn Engine> = Arc::new(SqliteEngine::open(dir.path().join("x.db")).unwrap());
    let r1 = migrate::copy(&*folder, &*sqlite, &CopyOptions::default())
        .await
        .unwrap();
    let b = dir.path().join("b");
    let back: Arc<dyn Engine> = Arc::new(FolderEngine::open(&b).unwrap());
    let r2 = migrate::copy(&*sqlite, &*back, &CopyOptions::default())
        .await
        .unwrap();
    assert_eq!(r1.source_checksum, r2.destination_checksum);
    for f in [
        "creds.json",
        "session-123.0.json",
        "pre-key-5.json",
        "sender-key-123@g.us--456--0.json",
        "app-state-sync-key-AAAA.json",
    ] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f}"
        );
    }
    assert_eq!(
        sqlite
            .get("session/signal/sender-key/123@g.us::456::0")
            .await
            .unwrap()
            .unwrap(),
        br#"{"type":"Buffer","data":"W10="}"#
    );
    // Messages travelled too, in the folder's own store.
    assert_eq!(
        Store::new(back.clone())
            .messages("0@s.whatsapp.net", 0, 100)
            .await
            .unwrap()
            .len(),
        3
    );
}
