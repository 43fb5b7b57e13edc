//! The Signal key store: Baileys' semantics, transactions that cost one read and one
//! write, the read cache, the pre-key bound, Baileys folders and migrations.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use wa_store::bufferjson::buffer;
use wa_store::keys::{DEFAULT_MAX_PREKEYS, bound_prekeys};
use wa_store::{
    AuthenticationCreds, BaileysFolder, BoxFuture, CachedKeyStore, Engine, EngineKeyStore,
    FileEngine, KeyChanges, KeyMap, KeyRequest, KeyStore, KeyTransaction, KeyType, KeyWrites,
    MemoryEngine, SqliteEngine, Store, TypedValue, migrate,
};

fn writes(items: &[(KeyType, &str, Option<Value>)]) -> KeyWrites {
    let mut w = KeyWrites::new();
    for (t, id, v) in items {
        w.entry(*t).or_default().insert((*id).to_owned(), v.clone());
    }
    w
}

fn ids(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// Counts calls into a store (as a JavaScript auth state would count round trips).
struct Counting {
    inner: Arc<dyn KeyStore>,
    gets: AtomicUsize,
    sets: AtomicUsize,
    fail_next_set: Mutex<bool>,
}

impl Counting {
    fn over(inner: Arc<dyn KeyStore>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            gets: AtomicUsize::new(0),
            sets: AtomicUsize::new(0),
            fail_next_set: Mutex::new(false),
        })
    }
}

impl KeyStore for Counting {
    fn get_many<'a>(&'a self, reqs: &'a [KeyRequest]) -> BoxFuture<'a, Vec<KeyMap>> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.inner.get_many(reqs)
    }

    fn set<'a>(&'a self, w: &'a KeyWrites) -> BoxFuture<'a, ()> {
        self.sets.fetch_add(1, Ordering::SeqCst);
        let fail = std::mem::take(&mut *self.fail_next_set.lock().unwrap());
        Box::pin(async move {
            if fail {
                return Err(wa_store::StoreError::Engine {
                    op: "set",
                    message: "disk on fire".into(),
                });
            }
            self.inner.set(w).await
        })
    }
}

fn session(n: u8) -> Value {
    json!({ "_sessions": { "base": { "registrationId": n, "currentRatchet": { "rootKey": "AAAA" } } }, "version": "v1" })
}

async fn every_type_round_trips(store: &dyn KeyStore) {
    let values = [
        (
            KeyType::PreKey,
            "1",
            json!({ "private": buffer(&[1; 32]), "public": buffer(&[2; 32]) }),
        ),
        (KeyType::Session, "5511999999999.0", session(7)),
        (
            KeyType::SenderKey,
            "120363000000000001@g.us::5511999999999::0",
            buffer(b"[{\"senderKeyId\":1}]"),
        ),
        (
            KeyType::SenderKeyMemory,
            "120363000000000001@g.us",
            json!({ "5511999999999:1@s.whatsapp.net": true }),
        ),
        (
            KeyType::AppStateSyncKey,
            "AAAAAB/x",
            json!({ "keyData": buffer(&[3; 32]), "timestamp": "1700000000000" }),
        ),
        (
            KeyType::AppStateSyncVersion,
            "regular_high",
            json!({ "version": 3, "hash": buffer(&[0; 128]), "indexValueMap": {} }),
        ),
        (
            KeyType::LidMapping,
            "5511999999999",
            json!("100000000000001"),
        ),
        (
            KeyType::DeviceList,
            "5511999999999",
            json!(["0", "1", "23"]),
        ),
        (
            KeyType::Tctoken,
            "5511999999999@s.whatsapp.net",
            json!({ "token": buffer(&[9; 16]), "timestamp": "1700000000" }),
        ),
        (KeyType::IdentityKey, "5511999999999.0", buffer(&[5; 33])),
    ];
    let w = writes(
        &values
            .iter()
            .map(|(t, i, v)| (*t, *i, Some(v.clone())))
            .collect::<Vec<_>>(),
    );
    store.set(&w).await.unwrap();
    for (t, id, v) in &values {
        let got = store.get(*t, &ids(&[id, "absent"])).await.unwrap();
        assert_eq!(got.len(), 1, "{t}");
        assert_eq!(&got[*id], v, "{t}");
    }
    store
        .set(&writes(&[(KeyType::Session, "5511999999999.0", None)]))
        .await
        .unwrap();
    assert!(
        store
            .get(KeyType::Session, &ids(&["5511999999999.0"]))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn every_signal_type_round_trips_in_every_store() {
    let dir = tempfile::tempdir().unwrap();
    every_type_round_trips(&EngineKeyStore::new(Arc::new(MemoryEngine::new()))).await;
    every_type_round_trips(&EngineKeyStore::new(Arc::new(
        FileEngine::open(dir.path().join("f")).unwrap(),
    )))
    .await;
    every_type_round_trips(&EngineKeyStore::new(Arc::new(
        SqliteEngine::open(dir.path().join("s.db")).unwrap(),
    )))
    .await;
    every_type_round_trips(&BaileysFolder::open(dir.path().join("baileys")).unwrap()).await;
    let cached = CachedKeyStore::new(
        Arc::new(EngineKeyStore::new(Arc::new(MemoryEngine::new()))),
        100,
        None,
    );
    every_type_round_trips(&cached).await;
    assert_eq!(
        KeyType::parse("nope").unwrap_err().code(),
        "ERR_WA_STORE_BAD_KEY_TYPE"
    );
}

#[tokio::test]
async fn one_message_costs_one_read_and_one_write() {
    let backend = Arc::new(EngineKeyStore::new(Arc::new(MemoryEngine::new())));
    backend
        .set(&writes(&[
            (KeyType::Session, "a.0", Some(session(1))),
            (
                KeyType::PreKey,
                "7",
                Some(json!({ "private": buffer(&[1]), "public": buffer(&[2]) })),
            ),
        ]))
        .await
        .unwrap();
    let counting = Counting::over(backend.clone());
    let cached: Arc<dyn KeyStore> = Arc::new(CachedKeyStore::new(
        counting.clone(),
        1000,
        Some(DEFAULT_MAX_PREKEYS),
    ));

    // A pkmsg: session, identity and the pre-key it names, read; then session and
    // identity written and the pre-key consumed.
    let mut tx = KeyTransaction::new(cached.clone());
    tx.prefetch(&[
        (KeyType::Session, ids(&["a.0"])),
        (KeyType::IdentityKey, ids(&["a.0"])),
        (KeyType::PreKey, ids(&["7"])),
    ])
    .await
    .unwrap();
    assert_eq!(
        tx.get(KeyType::Session, &ids(&["a.0"])).await.unwrap()["a.0"],
        session(1)
    );
    assert!(
        tx.get(KeyType::IdentityKey, &ids(&["a.0"]))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        tx.get(KeyType::PreKey, &ids(&["7"])).await.unwrap().len(),
        1
    );
    tx.set(writes(&[
        (KeyType::Session, "a.0", Some(session(2))),
        (KeyType::IdentityKey, "a.0", Some(buffer(&[5; 33]))),
    ]));
    tx.set(writes(&[(KeyType::PreKey, "7", None)]));
    assert_eq!(
        tx.get(KeyType::Session, &ids(&["a.0"])).await.unwrap()["a.0"],
        session(2),
        "reads see staged writes"
    );
    tx.commit().await.unwrap();
    assert_eq!(
        (
            counting.gets.load(Ordering::SeqCst),
            counting.sets.load(Ordering::SeqCst)
        ),
        (1, 1)
    );
    assert!(
        backend
            .get(KeyType::PreKey, &ids(&["7"]))
            .await
            .unwrap()
            .is_empty(),
        "the consumed pre-key is deleted"
    );

    // The next message from the same sender: served by the cache, one write.
    let mut tx = KeyTransaction::new(cached.clone());
    tx.prefetch(&[
        (KeyType::Session, ids(&["a.0"])),
        (KeyType::IdentityKey, ids(&["a.0"])),
    ])
    .await
    .unwrap();
    tx.set(writes(&[(KeyType::Session, "a.0", Some(session(3)))]));
    tx.commit().await.unwrap();
    assert_eq!(
        (
            counting.gets.load(Ordering::SeqCst),
            counting.sets.load(Ordering::SeqCst)
        ),
        (1, 2)
    );

    // A failed write drops what it touched from the cache: the next read asks the store.
    *counting.fail_next_set.lock().unwrap() = true;
    let mut tx = KeyTransaction::new(cached.clone());
    tx.set(writes(&[(KeyType::Session, "a.0", Some(session(4)))]));
    assert_eq!(tx.commit().await.unwrap_err().code(), "ERR_WA_STORE_ENGINE");
    assert_eq!(
        cached.get(KeyType::Session, &ids(&["a.0"])).await.unwrap()["a.0"],
        session(3)
    );
    assert_eq!(counting.gets.load(Ordering::SeqCst), 2);

    // Pre-keys are not kept in the cache, written or read (each is read once, when a peer
    // uses it, then deleted; an upload writes hundreds): every read asks the store.
    cached
        .set(&writes(&[(KeyType::PreKey, "9", Some(buffer(&[1; 32])))]))
        .await
        .unwrap();
    for _ in 0..2 {
        assert_eq!(
            cached
                .get(KeyType::PreKey, &ids(&["9"]))
                .await
                .unwrap()
                .len(),
            1
        );
    }
    assert_eq!(counting.gets.load(Ordering::SeqCst), 4);
}

/// What `peek` shows after a value is written (as a copy or as itself), deleted, read, never
/// seen, or touched by a failed write; and that `set_owned` writes what `set` writes.
#[tokio::test]
async fn the_cache_shows_what_it_holds_in_place() {
    let backend = Arc::new(EngineKeyStore::new(Arc::new(MemoryEngine::new())));
    let counting = Counting::over(backend.clone());
    let cached = CachedKeyStore::new(counting.clone(), 1000, Some(DEFAULT_MAX_PREKEYS));
    let peek = |store: &dyn KeyStore, ty: KeyType, id: &str| {
        let mut seen = None;
        let held = store.peek(ty, id, &mut |v| seen = Some(v.cloned()));
        assert_eq!(
            held,
            seen.is_some(),
            "f runs exactly when the store answers"
        );
        seen
    };
    assert_eq!(
        peek(backend.as_ref(), KeyType::Session, "a.0"),
        None,
        "not a cache"
    );
    assert_eq!(peek(&cached, KeyType::Session, "a.0"), None, "never seen");

    cached
        .set_owned(writes(&[
            (KeyType::Session, "a.0", Some(session(1))),
            (KeyType::Session, "b.0", Some(session(2))),
            (KeyType::PreKey, "3", Some(buffer(&[3; 32]))),
        ]))
        .await
        .unwrap();
    assert_eq!(
        peek(&cached, KeyType::Session, "a.0"),
        Some(Some(session(1)))
    );
    assert_eq!(
        peek(&cached, KeyType::PreKey, "3"),
        None,
        "pre-keys are not kept"
    );
    let stored = backend
        .get(KeyType::Session, &ids(&["a.0", "b.0"]))
        .await
        .unwrap();
    assert_eq!((&stored["a.0"], &stored["b.0"]), (&session(1), &session(2)));
    assert_eq!(
        backend
            .get(KeyType::PreKey, &ids(&["3"]))
            .await
            .unwrap()
            .len(),
        1
    );

    cached
        .set(&writes(&[(KeyType::Session, "a.0", None)]))
        .await
        .unwrap();
    assert_eq!(
        peek(&cached, KeyType::Session, "a.0"),
        Some(None),
        "known absent"
    );

    // A read fills the cache; a failed write, owned or not, empties it for what it touched.
    backend
        .set(&writes(&[(KeyType::Session, "c.0", Some(session(4)))]))
        .await
        .unwrap();
    cached.get(KeyType::Session, &ids(&["c.0"])).await.unwrap();
    assert_eq!(
        peek(&cached, KeyType::Session, "c.0"),
        Some(Some(session(4)))
    );
    *counting.fail_next_set.lock().unwrap() = true;
    let failed = cached
        .set_owned(writes(&[(KeyType::Session, "c.0", Some(session(5)))]))
        .await;
    assert_eq!(failed.unwrap_err().code(), "ERR_WA_STORE_ENGINE");
    assert_eq!(peek(&cached, KeyType::Session, "c.0"), None);
    assert_eq!(
        peek(&cached, KeyType::Session, "b.0"),
        Some(Some(session(2)))
    );
    assert_eq!(
        cached.get(KeyType::Session, &ids(&["c.0"])).await.unwrap()["c.0"],
        session(4),
        "the store still has what the failed write did not replace"
    );
}

/// A typed value that counts how often it was asked for its tree.
struct Rec {
    n: u8,
    trees: AtomicUsize,
}

impl TypedValue for Rec {
    fn json_text(&self) -> String {
        session(self.n).to_string()
    }

    fn json_value(&self) -> Value {
        self.trees.fetch_add(1, Ordering::SeqCst);
        session(self.n)
    }
}

fn typed(items: &[(&str, &Arc<Rec>)]) -> KeyChanges {
    KeyChanges {
        values: KeyWrites::new(),
        typed: items
            .iter()
            .map(|(id, r)| {
                (
                    KeyType::Session,
                    (*id).to_owned(),
                    Arc::clone(*r) as Arc<dyn TypedValue>,
                )
            })
            .collect(),
    }
}

fn rec(n: u8) -> Arc<Rec> {
    Arc::new(Rec {
        n,
        trees: AtomicUsize::new(0),
    })
}

#[tokio::test]
async fn typed_values_are_stored_as_text_and_cached_as_themselves() {
    let backend = Arc::new(EngineKeyStore::new(Arc::new(MemoryEngine::new())));
    let cached = CachedKeyStore::new(backend.clone(), 1000, Some(DEFAULT_MAX_PREKEYS));
    let same = |got: Option<Arc<dyn TypedValue>>, want: &Arc<Rec>| {
        let want: Arc<dyn TypedValue> = want.clone();
        got.is_some_and(|g| Arc::ptr_eq(&g, &want))
    };

    // Written with a JSON value in the same set: both land, the typed one as its text.
    let one = rec(1);
    let mut changes = typed(&[("a.0", &one)]);
    changes.values = writes(&[(KeyType::IdentityKey, "a.0", Some(buffer(&[5; 33])))]);
    cached.set_changes_owned(changes).await.unwrap();
    let stored = backend.get(KeyType::Session, &ids(&["a.0"])).await.unwrap();
    assert_eq!(stored["a.0"], session(1));
    assert_eq!(
        backend
            .get(KeyType::IdentityKey, &ids(&["a.0"]))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        one.trees.load(Ordering::SeqCst),
        0,
        "no tree on the way to the engine"
    );
    assert!(
        same(cached.peek_typed(KeyType::Session, "a.0"), &one),
        "the value itself"
    );
    assert!(
        backend.peek_typed(KeyType::Session, "a.0").is_none(),
        "not a cache"
    );

    // A reader that wants JSON gets the tree, from the value, without a read.
    assert_eq!(
        cached.get(KeyType::Session, &ids(&["a.0"])).await.unwrap()["a.0"],
        session(1)
    );
    let mut seen = None;
    assert!(cached.peek(KeyType::Session, "a.0", &mut |v| seen = v.cloned()));
    assert_eq!(seen, Some(session(1)));
    assert_eq!(one.trees.load(Ordering::SeqCst), 2);

    // A later write of the key as JSON, or its delete, replaces the typed value.
    cached
        .set(&writes(&[(KeyType::Session, "a.0", Some(session(2)))]))
        .await
        .unwrap();
    assert!(cached.peek_typed(KeyType::Session, "a.0").is_none());
    let two = rec(3);
    cached.set_changes(&typed(&[("a.0", &two)])).await.unwrap();
    assert!(
        same(cached.peek_typed(KeyType::Session, "a.0"), &two),
        "the borrowed path caches it too"
    );
    cached
        .set_changes_owned(writes(&[(KeyType::Session, "a.0", None)]).into())
        .await
        .unwrap();
    assert!(cached.peek_typed(KeyType::Session, "a.0").is_none());
    assert!(
        backend
            .get(KeyType::Session, &ids(&["a.0"]))
            .await
            .unwrap()
            .is_empty()
    );

    // A store without a typed form (a JavaScript auth state) is given the tree; a failed
    // typed write leaves nothing cached for its keys.
    let counting = Counting::over(backend.clone());
    let over_js = CachedKeyStore::new(counting.clone(), 1000, None);
    let four = rec(4);
    over_js
        .set_changes_owned(typed(&[("b.0", &four)]))
        .await
        .unwrap();
    assert_eq!(counting.sets.load(Ordering::SeqCst), 1);
    assert_eq!(four.trees.load(Ordering::SeqCst), 1);
    assert_eq!(
        backend.get(KeyType::Session, &ids(&["b.0"])).await.unwrap()["b.0"],
        session(4)
    );
    assert!(same(over_js.peek_typed(KeyType::Session, "b.0"), &four));
    *counting.fail_next_set.lock().unwrap() = true;
    let failed = over_js.set_changes_owned(typed(&[("b.0", &rec(5))])).await;
    assert_eq!(failed.unwrap_err().code(), "ERR_WA_STORE_ENGINE");
    assert!(over_js.peek_typed(KeyType::Session, "b.0").is_none());
    assert!(
        !over_js.peek(KeyType::Session, "b.0", &mut |_| {}),
        "forgotten, read again"
    );
    assert_eq!(
        over_js.get(KeyType::Session, &ids(&["b.0"])).await.unwrap()["b.0"],
        session(4),
        "the store still has what the failed write did not replace"
    );
}

#[tokio::test]
async fn prekeys_stay_bounded() {
    let engine = Arc::new(MemoryEngine::new());
    let keys = EngineKeyStore::new(engine.clone());
    let store = CachedKeyStore::new(Arc::new(keys.clone()), 100, Some(DEFAULT_MAX_PREKEYS));
    let mut next = 1u32;
    // Ten uploads of 812, as Baileys does on a fresh device and on each refill.
    for _ in 0..10 {
        let mut w = KeyWrites::new();
        for id in next..next + 812 {
            w.entry(KeyType::PreKey).or_default().insert(
                id.to_string(),
                Some(json!({ "public": buffer(&[1]), "private": buffer(&[2]) })),
            );
        }
        next += 812;
        store.set(&w).await.unwrap();
        // A contact consumes the newest pre-key.
        store
            .set(&writes(&[(KeyType::PreKey, &(next - 1).to_string(), None)]))
            .await
            .unwrap();
    }
    let mut left: Vec<u32> = keys
        .ids(KeyType::PreKey)
        .await
        .unwrap()
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    left.sort();
    assert_eq!(
        left.len() as u32,
        DEFAULT_MAX_PREKEYS - 2,
        "window minus the two consumed in it"
    );
    assert_eq!(*left.first().unwrap(), next - DEFAULT_MAX_PREKEYS);
    assert!(!left.contains(&(next - 1)));

    let mut w = writes(&[(KeyType::PreKey, "5", Some(json!(1)))]);
    bound_prekeys(&mut w, 10);
    assert_eq!(
        w[&KeyType::PreKey].len(),
        1,
        "nothing to drop below the window"
    );
}

#[tokio::test]
async fn creds_round_trip_losslessly_and_generate_like_baileys() {
    let c = AuthenticationCreds::generate();
    assert_eq!(c.signed_pre_key.key_id, 1);
    assert!(c.registration_id > 0 && c.registration_id < 16384);
    assert_eq!(c.noise_key.public.len(), 32);
    let mut pre = [0u8; 32];
    pre.copy_from_slice(&c.signed_pre_key.key_pair.public);
    let mut ident = [0u8; 32];
    ident.copy_from_slice(&c.signed_identity_key.public);
    assert!(wa_crypto::curve::verify(
        &ident,
        &wa_crypto::curve::prefix_public(&pre),
        &c.signed_pre_key.signature
    ));
    let json: Value = serde_json::from_slice(&c.to_json()).unwrap();
    assert_eq!(json["signedPreKey"]["keyPair"]["public"]["type"], "Buffer");
    assert_eq!(json["accountSettings"], json!({ "unarchiveChats": false }));
    assert!(
        json.get("pairingCode").is_none(),
        "undefined fields are omitted as JSON.stringify does"
    );

    // A paired account's creds with fields we do not model survive a round trip.
    let mut paired = json.clone();
    paired["me"] = json!({ "id": "5511999999999:12@s.whatsapp.net", "lid": "100000000000001:12@lid", "name": "Bot" });
    paired["account"] = json!({ "details": buffer(b"d"), "accountSignatureKey": buffer(&[1; 32]), "accountSignature": buffer(&[2; 64]), "deviceSignature": buffer(&[3; 64]) });
    paired["signalIdentities"] = json!([{ "identifier": { "name": "5511999999999:12@s.whatsapp.net", "deviceId": 0 }, "identifierKey": buffer(&[5; 33]) }]);
    paired["myAppStateKeyId"] = json!("AAAAAB/x");
    paired["lastAccountSyncTimestamp"] = json!(1_700_000_000);
    paired["platform"] = json!("smba");
    paired["processedHistoryMessages"] =
        json!([{ "key": { "remoteJid": "x", "id": "y" }, "messageTimestamp": 1 }]);
    paired["routingInfo"] = buffer(&[8, 8]);
    paired["lastPropHash"] = json!("abc");
    paired["additionalData"] = json!({ "anything": [1, 2] });
    paired["someFutureField"] = json!({ "x": 1 });
    paired["registered"] = json!(true);
    let parsed = AuthenticationCreds::from_json(&serde_json::to_vec(&paired).unwrap()).unwrap();
    assert_eq!(parsed.platform.as_deref(), Some("smba"));
    assert_eq!(
        parsed
            .account
            .as_ref()
            .unwrap()
            .account_signature
            .as_ref()
            .unwrap()
            .len(),
        64
    );
    let back: Value = serde_json::from_slice(&parsed.to_json()).unwrap();
    assert_eq!(back, paired);

    let store = Store::new(Arc::new(MemoryEngine::new()));
    store.set_creds(&parsed).await.unwrap();
    assert_eq!(store.creds().await.unwrap().unwrap(), parsed);
    assert_eq!(
        AuthenticationCreds::from_json(b"{\"noiseKey\":")
            .unwrap_err()
            .code(),
        "ERR_WA_STORE_CORRUPT"
    );
}

#[tokio::test]
async fn folder_migrates_to_sqlite_and_back_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("auth");
    std::fs::create_dir(&src).unwrap();
    let creds = AuthenticationCreds::generate().to_json();
    std::fs::write(src.join("creds.json"), &creds).unwrap();
    let files = [
        ("session-5511999999999.0.json", serde_json::to_vec(&session(1)).unwrap()),
        ("pre-key-1.json", br#"{"private":{"type":"Buffer","data":"AQ=="},"public":{"type":"Buffer","data":"Ag=="}}"#.to_vec()),
        ("sender-key-120363000000000001@g.us--5511999999999--0.json", br#"{"type":"Buffer","data":"W10="}"#.to_vec()),
        ("app-state-sync-key-AAAAAB__x.json", br#"{"keyData":{"type":"Buffer","data":"AQ=="}}"#.to_vec()),
        ("lid-mapping-5511999999999.json", br#""100000000000001""#.to_vec()),
    ];
    for (n, b) in &files {
        std::fs::write(src.join(n), b).unwrap();
    }
    std::fs::write(src.join("notes.txt"), b"not ours").unwrap();
    let folder = BaileysFolder::open(&src).unwrap();
    let db = Arc::new(SqliteEngine::open(dir.path().join("a.db")).unwrap());
    let report = migrate::folder_to_engine(&folder, &*db).await.unwrap();
    assert!(report.creds);
    assert_eq!(report.total_keys(), files.len());
    assert_eq!(report.skipped, vec!["notes.txt"]);
    let keys = EngineKeyStore::new(db.clone());
    let got = keys
        .get(
            KeyType::SenderKey,
            &ids(&["120363000000000001@g.us::5511999999999::0"]),
        )
        .await
        .unwrap();
    assert_eq!(got.len(), 1, "sender-key names come back with their '::'");
    assert_eq!(
        keys.get(KeyType::AppStateSyncKey, &ids(&["AAAAAB/x"]))
            .await
            .unwrap()
            .len(),
        1
    );

    let out = BaileysFolder::open(dir.path().join("back")).unwrap();
    let report = migrate::engine_to_folder(db.clone(), &out).await.unwrap();
    assert_eq!(report.total_keys(), files.len());
    assert_eq!(
        std::fs::read(dir.path().join("back/creds.json")).unwrap(),
        creds
    );
    for (n, b) in &files {
        assert_eq!(
            &std::fs::read(dir.path().join("back").join(n)).unwrap(),
            b,
            "{n}"
        );
    }
}

#[tokio::test]
async fn bad_input_gives_typed_errors_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // A corrupt JSON file in a Baileys folder.
    let src = dir.path().join("auth");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("session-1.0.json"), b"{\"_sessions\": {").unwrap();
    std::fs::write(src.join("pre-key-1.json"), b"{}").unwrap();
    let folder = BaileysFolder::open(&src).unwrap();
    let err = folder
        .get(KeyType::Session, &ids(&["1.0"]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "ERR_WA_STORE_CORRUPT");
    assert!(err.to_string().contains("session-1.0.json"), "{err}");
    let db = SqliteEngine::open(dir.path().join("m.db")).unwrap();
    assert_eq!(
        migrate::folder_to_engine(&folder, &db)
            .await
            .unwrap_err()
            .code(),
        "ERR_WA_STORE_CORRUPT"
    );
    assert!(
        db.list("session/signal/pre-key", 0, 10)
            .await
            .unwrap()
            .is_empty(),
        "a failed migration writes nothing"
    );

    // A truncated SQLite file.
    let good = dir.path().join("good.db");
    {
        let e = SqliteEngine::open(&good).unwrap();
        let big = vec![7u8; 200_000];
        for i in 0..20 {
            e.set(&format!("k/{i}"), Some(big.clone())).await.unwrap();
        }
    }
    let bytes = std::fs::read(&good).unwrap();
    for cut in [10usize, 100, 50] {
        let p = dir.path().join(format!("trunc{cut}.db"));
        std::fs::write(&p, &bytes[..cut]).unwrap();
        let err = SqliteEngine::open(&p)
            .err()
            .expect("a truncated database does not open");
        assert_eq!(err.code(), "ERR_WA_STORE_CORRUPT", "{err}");
    }
    let p = dir.path().join("trunc-half.db");
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let res = async {
        let e = SqliteEngine::open(&p)?;
        for i in 0..20 {
            e.get(&format!("k/{i}")).await?;
        }
        Ok::<_, wa_store::StoreError>(())
    }
    .await;
    assert_eq!(res.unwrap_err().code(), "ERR_WA_STORE_CORRUPT");

    // Paths and JIDs that try to leave the base.
    let base = dir.path().join("base");
    let e: Arc<dyn Engine> = Arc::new(FileEngine::open(&base).unwrap());
    assert_eq!(
        e.set("../outside", Some(vec![1])).await.unwrap_err().code(),
        "ERR_WA_STORE_BAD_PATH"
    );
    assert_eq!(
        e.set("chat/../../outside", Some(vec![1]))
            .await
            .unwrap_err()
            .code(),
        "ERR_WA_STORE_BAD_PATH"
    );
    let store = Store::new(e.clone());
    assert_eq!(
        store
            .set_contact("../../x", Some(&json!({})))
            .await
            .unwrap_err()
            .code(),
        "ERR_WA_STORE_BAD_JID"
    );
    assert_eq!(
        store
            .set_chat("a/b@s.whatsapp.net", Some(&json!({})))
            .await
            .unwrap_err()
            .code(),
        "ERR_WA_STORE_BAD_JID"
    );
    assert_eq!(
        store
            .set_message("a@g.us", "../x", Some(&json!({})))
            .await
            .unwrap_err()
            .code(),
        "ERR_WA_STORE_BAD_ID"
    );
    // Key ids with '/' or '..' are escaped into one segment, not refused.
    EngineKeyStore::new(e.clone())
        .set(&writes(&[(
            KeyType::Session,
            "../../outside",
            Some(json!(1)),
        )]))
        .await
        .unwrap();
    let outside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        !outside
            .iter()
            .any(|n| n.to_string_lossy().contains("outside")),
        "{outside:?}"
    );
    assert_eq!(
        EngineKeyStore::new(e.clone())
            .get(KeyType::Session, &ids(&["../../outside"]))
            .await
            .unwrap()["../../outside"],
        json!(1)
    );
}

#[tokio::test]
async fn typed_store_lists_messages_newest_first_with_content() {
    let store = Store::new(Arc::new(MemoryEngine::new()));
    let jid = "120363000000000001@g.us";
    for i in 0..5 {
        store
            .put_message_with_content(
                jid,
                &format!("M{i}"),
                &json!({ "n": i, "messageTimestamp": 1_700_000_000 + u64::from(i) }),
                vec![i],
            )
            .await
            .unwrap();
    }
    store
        .set_contact(
            "5511999999999@s.whatsapp.net",
            Some(&json!({ "notify": "A" })),
        )
        .await
        .unwrap();
    store
        .set_chat(jid, Some(&json!({ "name": "G" })))
        .await
        .unwrap();
    let msgs = store.messages(jid, 1, 2).await.unwrap();
    assert_eq!(
        msgs,
        vec![
            (
                "M3".to_owned(),
                json!({ "n": 3, "messageTimestamp": 1_700_000_003u64 })
            ),
            (
                "M2".to_owned(),
                json!({ "n": 2, "messageTimestamp": 1_700_000_002u64 })
            )
        ]
    );
    assert_eq!(store.content(jid, "M2").await.unwrap().unwrap(), vec![2]);
    store.set_message(jid, "M2", None).await.unwrap();
    assert_eq!(
        store.content(jid, "M2").await.unwrap(),
        None,
        "deleting a message deletes its content"
    );
    assert_eq!(
        store.chats(0, 10).await.unwrap(),
        vec![(jid.to_owned(), json!({ "name": "G" }))]
    );
    assert_eq!(store.contacts(0, 10).await.unwrap().len(), 1);
}
