//! The engine conformance suite, for every engine of ours and for users' own: run it from
//! a test with a function that makes a fresh, empty engine (enable the `conformance`
//! feature). A case that fails panics with its name and what differed.
//!
//! ```ignore
//! #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
//! async fn my_engine_conforms() {
//!     let kit = wa_store::conformance::Kit::new(&|| std::sync::Arc::new(MyEngine::new()) as _);
//!     assert_eq!(wa_store::conformance::run(&kit).await, wa_store::conformance::CASES);
//! }
//! ```

use std::sync::Arc;

use serde_json::json;

use crate::bufferjson;
use crate::engine::{Engine, Write};
use crate::keys::TypedValue;
use crate::value::{Value, ValueEngine};

type Make<'a> = &'a dyn Fn() -> Arc<dyn Engine>;
type MakePair<'a> = &'a dyn Fn() -> (Arc<dyn Engine>, Arc<dyn Engine>);
type Case = fn(Arc<dyn Engine>) -> crate::BoxFuture<'static, ()>;

/// How the suite gets engines.
pub struct Kit<'a> {
    /// A fresh, empty engine for each case.
    pub make: Make<'a>,
    /// Two engines over the same backend under different prefixes (two accounts in one
    /// database or bucket); `None` where an engine has no prefix (one file, one directory).
    pub pair: Option<MakePair<'a>>,
}

impl<'a> Kit<'a> {
    pub fn new(make: Make<'a>) -> Self {
        Self { make, pair: None }
    }

    pub fn with_pair(mut self, pair: MakePair<'a>) -> Self {
        self.pair = Some(pair);
        self
    }
}

/// A typed value that prints as the text it holds.
struct Printed(&'static str);

impl TypedValue for Printed {
    fn json_text(&self) -> String {
        self.0.to_owned()
    }

    fn json_value(&self) -> serde_json::Value {
        serde_json::from_str(self.0).unwrap_or(serde_json::Value::Null)
    }
}

async fn bytes(e: &dyn Engine, p: &str) -> Option<Vec<u8>> {
    e.get(p).await.unwrap()
}

/// Runs every case against fresh engines from the kit; returns how many ran (a failing case
/// panics).
pub async fn run(kit: &Kit<'_>) -> usize {
    let make = kit.make;
    let cases: Vec<(&str, Case)> = vec![
        ("get of a missing path", |e| {
            Box::pin(async move {
                assert_eq!(bytes(&*e, "contact/nobody@s.whatsapp.net").await, None);
                Ok(())
            })
        }),
        ("set, get, overwrite, delete", |e| {
            Box::pin(async move {
                e.set("session/creds", Some(b"one".to_vec())).await?;
                assert_eq!(bytes(&*e, "session/creds").await.unwrap(), b"one");
                e.set("session/creds", Some(b"two".to_vec())).await?;
                assert_eq!(bytes(&*e, "session/creds").await.unwrap(), b"two");
                e.set("session/creds", None).await?;
                assert_eq!(bytes(&*e, "session/creds").await, None);
                // Deleting what is not there is not an error.
                e.set("session/creds", None).await?;
                Ok(())
            })
        }),
        ("typed writes are read and listed as their text", |e| {
            Box::pin(async move {
                let held: Arc<dyn TypedValue> = Arc::new(Printed(r#"{"a":1}"#));
                e.set_typed(
                    vec![Write::put("t/plain", b"p".to_vec())],
                    vec![
                        ("t/held".to_owned(), held.clone()),
                        ("t/free".to_owned(), Arc::new(Printed("[2]"))),
                    ],
                )
                .await?;
                assert_eq!(bytes(&*e, "t/held").await.unwrap(), br#"{"a":1}"#);
                assert_eq!(bytes(&*e, "t/free").await.unwrap(), b"[2]");
                assert_eq!(
                    e.list("t", 0, 10).await?,
                    vec!["t/free", "t/held", "t/plain"]
                );
                // Replaced by a typed write, by a plain one, deleted; typed over plain.
                e.set_typed(
                    Vec::new(),
                    vec![("t/held".to_owned(), Arc::new(Printed("3")))],
                )
                .await?;
                assert_eq!(bytes(&*e, "t/held").await.unwrap(), b"3");
                e.set("t/held", Some(b"4".to_vec())).await?;
                assert_eq!(bytes(&*e, "t/held").await.unwrap(), b"4");
                e.set("t/free", None).await?;
                assert_eq!(bytes(&*e, "t/free").await, None);
                e.set_typed(
                    Vec::new(),
                    vec![("t/plain".to_owned(), Arc::new(Printed("5")))],
                )
                .await?;
                assert_eq!(bytes(&*e, "t/plain").await.unwrap(), b"5");
                assert_eq!(e.list("t", 0, 10).await?, vec!["t/held", "t/plain"]);
                // A bad path leaves the whole batch unapplied.
                let bad = e
                    .set_typed(
                        vec![Write::put("t/ok", b"1".to_vec())],
                        vec![("../escape".to_owned(), held)],
                    )
                    .await;
                assert!(bad.is_err());
                assert_eq!(bytes(&*e, "t/ok").await, None);
                Ok(())
            })
        }),
        ("empty value is a value", |e| {
            Box::pin(async move {
                e.set("a/b", Some(Vec::new())).await?;
                assert_eq!(bytes(&*e, "a/b").await, Some(Vec::new()));
                assert_eq!(e.list("a", 0, 10).await?, vec!["a/b"]);
                Ok(())
            })
        }),
        ("list: key order, overwrite and re-create keep it", |e| {
            Box::pin(async move {
                for i in [3u8, 0, 4, 1, 2] {
                    e.set(&format!("chat/c@g.us/message/M{i}"), Some(vec![i]))
                        .await?;
                }
                let want = |ids: &[u8]| {
                    ids.iter()
                        .map(|i| format!("chat/c@g.us/message/M{i}"))
                        .collect::<Vec<_>>()
                };
                assert_eq!(
                    e.list("chat/c@g.us/message", 0, 100).await?,
                    want(&[0, 1, 2, 3, 4])
                );
                e.set("chat/c@g.us/message/M1", Some(vec![9])).await?;
                e.set("chat/c@g.us/message/M3", None).await?;
                assert_eq!(
                    e.list("chat/c@g.us/message", 0, 100).await?,
                    want(&[0, 1, 2, 4])
                );
                e.set("chat/c@g.us/message/M3", Some(vec![3])).await?;
                assert_eq!(
                    e.list("chat/c@g.us/message", 0, 100).await?,
                    want(&[0, 1, 2, 3, 4])
                );
                // Byte order, not locale order: upper case before lower case, '~' last.
                for n in ["b", "B", "a~", "a", "ä"] {
                    e.set(&format!("o/{n}"), Some(vec![1])).await?;
                }
                assert_eq!(
                    e.list("o", 0, 10).await?,
                    vec!["o/B", "o/a", "o/a~", "o/b", "o/ä"]
                );
                Ok(())
            })
        }),
        ("list paging", |e| {
            Box::pin(async move {
                for i in 0..25u8 {
                    e.set(&format!("contact/{i:02}@s.whatsapp.net"), Some(vec![i]))
                        .await?;
                }
                let mut all = Vec::new();
                let mut off = 0;
                loop {
                    let page = e.list("contact", off, 7).await?;
                    assert!(page.len() <= 7);
                    off += page.len();
                    let n = page.len();
                    all.extend(page);
                    if n < 7 {
                        break;
                    }
                }
                let want: Vec<String> = (0..25u8)
                    .map(|i| format!("contact/{i:02}@s.whatsapp.net"))
                    .collect();
                assert_eq!(all, want);
                assert!(e.list("contact", 25, 10).await?.is_empty());
                assert!(e.list("contact", 3, 0).await?.is_empty());
                assert!(e.list("nothing/here", 0, 10).await?.is_empty());
                Ok(())
            })
        }),
        (
            "list: direct children with a value only, trailing slash, root",
            |e| {
                Box::pin(async move {
                    e.set("chat/a@s.whatsapp.net", Some(b"{}".to_vec())).await?;
                    e.set("chat/b@s.whatsapp.net/message/X", Some(b"{}".to_vec()))
                        .await?;
                    e.set("chat/a@s.whatsapp.net/message/Y", Some(b"{}".to_vec()))
                        .await?;
                    e.set(
                        "chat/a@s.whatsapp.net/message/Y/content",
                        Some(b"raw".to_vec()),
                    )
                    .await?;
                    assert_eq!(e.list("chat", 0, 10).await?, vec!["chat/a@s.whatsapp.net"]);
                    assert_eq!(e.list("chat/", 0, 10).await?, vec!["chat/a@s.whatsapp.net"]);
                    assert_eq!(
                        e.list("chat/a@s.whatsapp.net/message", 0, 10).await?,
                        vec!["chat/a@s.whatsapp.net/message/Y"]
                    );
                    assert_eq!(
                        e.list("chat/a@s.whatsapp.net/message/Y", 0, 10).await?,
                        vec!["chat/a@s.whatsapp.net/message/Y/content"]
                    );
                    assert_eq!(
                        bytes(&*e, "chat/a@s.whatsapp.net/message/Y/content")
                            .await
                            .unwrap(),
                        b"raw"
                    );
                    e.set("top", Some(b"t".to_vec())).await?;
                    assert_eq!(e.list("", 0, 10).await?, vec!["top"]);
                    Ok(())
                })
            },
        ),
        ("batch applies in order, later write to a path wins", |e| {
            Box::pin(async move {
                e.set("x/gone", Some(b"old".to_vec())).await?;
                e.set("x/re", Some(b"old".to_vec())).await?;
                e.set_many(vec![
                    Write::delete("x/re"),
                    Write::put("x/re", b"new".to_vec()),
                    Write::put("x/a", b"1".to_vec()),
                    Write::put("x/b", b"2".to_vec()),
                    Write::put("x/a", b"3".to_vec()),
                    Write::delete("x/gone"),
                    Write::put("x/c", b"4".to_vec()),
                    Write::delete("x/c"),
                ])
                .await?;
                assert_eq!(bytes(&*e, "x/a").await.unwrap(), b"3");
                assert_eq!(bytes(&*e, "x/b").await.unwrap(), b"2");
                assert_eq!(bytes(&*e, "x/gone").await, None);
                assert_eq!(bytes(&*e, "x/c").await, None);
                assert_eq!(bytes(&*e, "x/re").await.unwrap(), b"new");
                let got = e
                    .get_many(&["x/a".into(), "x/missing".into(), "x/b".into()])
                    .await?;
                assert_eq!(got, vec![Some(b"3".to_vec()), None, Some(b"2".to_vec())]);
                e.set_many(Vec::new()).await?;
                Ok(())
            })
        }),
        ("a batch with a bad path writes nothing", |e| {
            Box::pin(async move {
                let err = e
                    .set_many(vec![
                        Write::put("y/a", b"1".to_vec()),
                        Write::put("../escape", b"2".to_vec()),
                    ])
                    .await
                    .unwrap_err();
                assert_eq!(err.code(), "ERR_WA_STORE_BAD_PATH");
                assert_eq!(bytes(&*e, "y/a").await, None);
                Ok(())
            })
        }),
        ("hostile paths are refused with a coded error", |e| {
            Box::pin(async move {
                let long = "a/".repeat(5 * 1024) + "z";
                let long_segment = format!("a/{}", "x".repeat(10 * 1024));
                for p in [
                    "",
                    "../x",
                    "a/../../x",
                    "/abs",
                    "a//b",
                    "a/./b",
                    "a/\0b",
                    "trailing/",
                    "./x",
                    "..",
                    &long,
                    &long_segment,
                ] {
                    assert_eq!(
                        e.get(p).await.unwrap_err().code(),
                        "ERR_WA_STORE_BAD_PATH",
                        "get {p:?}"
                    );
                    assert_eq!(
                        e.set(p, Some(vec![1])).await.unwrap_err().code(),
                        "ERR_WA_STORE_BAD_PATH",
                        "set {p:?}"
                    );
                }
                assert_eq!(
                    e.list("../x", 0, 1).await.unwrap_err().code(),
                    "ERR_WA_STORE_BAD_PATH"
                );
                Ok(())
            })
        }),
        ("concurrent writers on one path", |e| {
            Box::pin(async move {
                let vals: Vec<Vec<u8>> = (0..16u8).map(|i| vec![i; 1000 + i as usize]).collect();
                let mut tasks = Vec::new();
                for v in vals.clone() {
                    let e = e.clone();
                    tasks.push(tokio::spawn(async move {
                        e.set("chat/race@g.us", Some(v)).await
                    }));
                }
                for t in tasks {
                    t.await.unwrap()?;
                }
                let got = bytes(&*e, "chat/race@g.us").await.unwrap();
                assert!(vals.contains(&got), "a whole value of one writer");
                assert_eq!(e.list("chat", 0, 10).await?, vec!["chat/race@g.us"]);
                Ok(())
            })
        }),
        ("large content (5 MB)", |e| {
            Box::pin(async move {
                let big: Vec<u8> = (0..5 * 1024 * 1024)
                    .map(|i: usize| (i * 31 % 251) as u8)
                    .collect();
                e.set("chat/big@g.us/message/BIG/content", Some(big.clone()))
                    .await?;
                assert!(
                    bytes(&*e, "chat/big@g.us/message/BIG/content")
                        .await
                        .unwrap()
                        == big
                );
                Ok(())
            })
        }),
        ("odd JIDs, path characters and unicode", |e| {
            Box::pin(async move {
                let segs = [
                    "123456789:12@s.whatsapp.net",
                    "100000000000001:3@lid",
                    "120363000000000001@g.us",
                    "status@broadcast",
                    "ñandú😀 中文",
                    "index",
                    "content",
                    ".hidden",
                    "...",
                    "100%25 ~!*'();&=+$,?#[]",
                    "back\\slash",
                    "CON",
                    "tab\tnew\nline",
                ];
                for (i, s) in segs.iter().enumerate() {
                    e.set(&format!("contact/{s}"), Some(vec![i as u8])).await?;
                    e.set(&format!("contact/{s}/nested"), Some(vec![100 + i as u8]))
                        .await?;
                }
                for (i, s) in segs.iter().enumerate() {
                    assert_eq!(
                        bytes(&*e, &format!("contact/{s}")).await.unwrap(),
                        vec![i as u8],
                        "{s:?}"
                    );
                    assert_eq!(
                        bytes(&*e, &format!("contact/{s}/nested")).await.unwrap(),
                        vec![100 + i as u8],
                        "{s:?}"
                    );
                }
                let listed = e.list("contact", 0, 100).await?;
                let mut want: Vec<String> = segs.iter().map(|s| format!("contact/{s}")).collect();
                want.sort_unstable();
                assert_eq!(listed, want);
                Ok(())
            })
        }),
    ];
    let mut n = 0;
    for (name, case) in cases.into_iter().chain(value_cases()) {
        let e = make();
        if let Err(err) = case(e).await {
            panic!("case {name:?} failed: {err}");
        }
        n += 1;
    }
    match kit.pair {
        Some(pair) => {
            let (a, b) = pair();
            prefix_isolation(a, b)
                .await
                .unwrap_or_else(|e| panic!("case \"prefix isolation\" failed: {e}"));
            n += 1;
        }
        None => n += 1,
    }
    n
}

/// How many cases [`run`] counts (prefix isolation counts as passed for engines without a
/// prefix: each is its own directory or file).
pub const CASES: usize = 19;

/// The seed's value contract on top of the bytes (`get` gives back what `set` stored).
fn value_cases() -> Vec<(&'static str, Case)> {
    vec![
        (
            "values: JSON as itself, Buffers as Buffers, also nested",
            |e| {
                Box::pin(async move {
                    let contact = json!({"id": "1@s.whatsapp.net", "name": "Zoë 🦊 中文", "n": 3, "ok": true, "none": null});
                    let nested = json!({"keyPair": {"public": bufferjson::buffer(&[5; 32]), "private": bufferjson::buffer(&[0, 255])}, "list": [bufferjson::buffer(b"x")]});
                    let cases = [
                        ("contact/1@s.whatsapp.net", Value::Json(contact)),
                        ("session/creds", Value::Json(nested)),
                        ("x/string", Value::Json(json!("plain \u{0} text"))),
                        ("x/number", Value::Json(json!(1234567.25))),
                        ("x/false", Value::Json(json!(false))),
                        ("x/array", Value::Json(json!([1, [2, [3]], {"a": []}]))),
                        ("x/buffer", Value::Bytes(vec![0, 1, 2, 254, 255])),
                        (
                            "chat/c@g.us/message/M/content",
                            Value::Bytes((0..=255).collect()),
                        ),
                    ];
                    for (p, v) in &cases {
                        assert!(e.set_value(p, Some(v.clone())).await?, "set resolves true");
                    }
                    for (p, v) in &cases {
                        assert_eq!(e.get_value(p).await?.as_ref(), Some(v), "{p}");
                    }
                    // Content is stored raw: the engine's bytes are the Buffer's bytes.
                    assert_eq!(
                        bytes(&*e, "chat/c@g.us/message/M/content").await.unwrap(),
                        (0..=255).collect::<Vec<u8>>()
                    );
                    assert!(e.set_value("x/string", None).await?);
                    assert_eq!(e.get_value("x/string").await?, None);
                    let err = e
                        .set_value("a/content", Some(Value::Json(json!({}))))
                        .await
                        .unwrap_err();
                    assert_eq!(err.code(), "ERR_WA_STORE_BAD_VALUE");
                    Ok(())
                })
            },
        ),
        ("values: a batch of values is all or nothing", |e| {
            Box::pin(async move {
                e.set_values(vec![
                    ("b/1".into(), Some(Value::Json(json!(1)))),
                    ("b/2/content".into(), Some(Value::Bytes(vec![2]))),
                ])
                .await?;
                let err = e
                    .set_values(vec![
                        ("b/3".into(), Some(Value::Json(json!(3)))),
                        ("b/../x".into(), Some(Value::Json(json!(4)))),
                    ])
                    .await
                    .unwrap_err();
                assert_eq!(err.code(), "ERR_WA_STORE_BAD_PATH");
                assert_eq!(e.get_value("b/3").await?, None);
                // `b/2` holds no value of its own (only its content below it), so it is not listed.
                assert_eq!(e.list("b", 0, 10).await?, vec!["b/1"]);
                Ok(())
            })
        }),
        ("concurrent writers on many paths", |e| {
            Box::pin(async move {
                let mut tasks = Vec::new();
                for w in 0..8u32 {
                    let e = e.clone();
                    tasks.push(tokio::spawn(async move {
                        for i in 0..10u32 {
                            e.set_value(
                                &format!("w/{w:02}-{i:02}"),
                                Some(Value::Json(json!({"w": w, "i": i}))),
                            )
                            .await?;
                        }
                        Ok::<_, crate::StoreError>(())
                    }));
                }
                for t in tasks {
                    t.await.expect("writer task")?;
                }
                let all = e.list("w", 0, 1000).await?;
                assert_eq!(all.len(), 80);
                assert!(all.windows(2).all(|p| p[0] < p[1]), "key order");
                for w in 0..8u32 {
                    for i in 0..10u32 {
                        assert_eq!(
                            e.get_value(&format!("w/{w:02}-{i:02}")).await?,
                            Some(Value::Json(json!({"w": w, "i": i})))
                        );
                    }
                }
                Ok(())
            })
        }),
        (
            "scan pages through every entry once, resuming after any path",
            |e| {
                Box::pin(async move {
                    let mut want = vec![
                        "session/creds".to_owned(),
                        "session/signal/pre-key/1".to_owned(),
                        "session/signal/session/a.0".to_owned(),
                        "contact/1@s.whatsapp.net".to_owned(),
                        "chat/c@g.us".to_owned(),
                        "chat/c@g.us/message/M1".to_owned(),
                        "chat/c@g.us/message/M1/content".to_owned(),
                        "chat/c@g.us/timestamp/8299999999999_M1".to_owned(),
                        "chat/d@g.us/message/M2".to_owned(),
                        "chat/d@g.us/timestamp/8299999999998_M2".to_owned(),
                    ];
                    for p in &want {
                        let v = if p.ends_with("/content") {
                            Value::Bytes(vec![1])
                        } else {
                            Value::Json(json!({"p": p}))
                        };
                        e.set_value(p, Some(v)).await?;
                    }
                    want.sort_unstable();
                    for page in [1, 3, 100] {
                        let mut got = Vec::new();
                        let mut after: Option<String> = None;
                        loop {
                            let batch = e.scan(after.as_deref(), page).await?;
                            assert!(batch.len() <= page);
                            if batch.is_empty() {
                                break;
                            }
                            after = batch.last().cloned();
                            got.extend(batch);
                        }
                        let n = got.len();
                        got.sort_unstable();
                        got.dedup();
                        assert_eq!(got.len(), n, "no entry twice (page {page})");
                        // Engines without an index of their own find chats through `chat/{jid}`
                        // entries (the convention walk): `chat/d@g.us` has none here, so its two
                        // entries may be missed there; never anything else.
                        let missing: Vec<&String> =
                            want.iter().filter(|p| !got.contains(p)).collect();
                        assert!(
                            missing.is_empty()
                                || missing.iter().all(|p| p.starts_with("chat/d@g.us/")),
                            "page {page}: scan missed {missing:?}"
                        );
                        assert!(got.iter().all(|p| want.contains(p)), "page {page}: {got:?}");
                    }
                    Ok(())
                })
            },
        ),
        (
            "list: bounds (offset past the end, limit 0, huge limit)",
            |e| {
                Box::pin(async move {
                    for i in 0..3u8 {
                        e.set(&format!("p/{i}"), Some(b"1".to_vec())).await?;
                    }
                    assert_eq!(e.list("p", 0, usize::MAX).await?.len(), 3);
                    assert_eq!(e.list("p", 2, usize::MAX).await?, vec!["p/2"]);
                    assert!(e.list("p", usize::MAX, 5).await?.is_empty());
                    assert!(e.list("p", 0, 0).await?.is_empty());
                    assert_eq!(e.list("p/", 1, 1).await?, vec!["p/1"]);
                    Ok(())
                })
            },
        ),
    ]
}

async fn prefix_isolation(a: Arc<dyn Engine>, b: Arc<dyn Engine>) -> crate::Result<()> {
    a.set_value("session/creds", Some(Value::Json(json!({"me": "a"}))))
        .await?;
    a.set_value(
        "session/signal/session/x.0",
        Some(Value::Json(json!({"k": "a"}))),
    )
    .await?;
    assert_eq!(
        b.get_value("session/creds").await?,
        None,
        "b reads a's creds"
    );
    assert!(
        b.list("session/signal/session", 0, 10).await?.is_empty(),
        "b lists a's keys"
    );
    b.set_value("session/creds", Some(Value::Json(json!({"me": "b"}))))
        .await?;
    assert_eq!(
        a.get_value("session/creds").await?,
        Some(Value::Json(json!({"me": "a"})))
    );
    b.set_value("session/signal/session/x.0", None).await?;
    assert!(
        a.get_value("session/signal/session/x.0").await?.is_some(),
        "b deleted a's key"
    );
    Ok(())
}

/// Real servers for this repository's tests: PostgreSQL and moto's S3 server on
/// 127.0.0.1, started by `__test__/store-servers.sh` unless the environment already names
/// them (`.ci/run` starts them once for the whole run). Stopped on drop. Starting fails
/// loudly when a server is not installed: no test skips itself.
pub struct TestServers {
    dir: Option<std::path::PathBuf>,
    env: std::collections::HashMap<String, String>,
}

impl TestServers {
    /// `which`: `"pg"`, `"s3"` or `"all"`. Uses the servers the environment names, if any.
    pub fn start(which: &str) -> Self {
        Self::start_with(which, true)
    }

    /// Servers of this test's own, never shared: for tests that restart or stop them.
    pub fn start_own(which: &str) -> Self {
        Self::start_with(which, false)
    }

    fn start_with(which: &str, shared: bool) -> Self {
        let want_pg = which != "s3";
        let want_s3 = which != "pg";
        let have = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if shared
            && (!want_pg || have("WA_TEST_PG_URL").is_some())
            && (!want_s3 || have("WA_TEST_S3_ENDPOINT").is_some())
        {
            let env = std::env::vars()
                .filter(|(k, _)| k.starts_with("WA_TEST_"))
                .collect();
            return Self { dir: None, env };
        }
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../__test__/store-servers.sh");
        let dir = std::env::temp_dir().join(format!(
            "wa-store-servers-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        let out = std::process::Command::new("bash")
            .arg(&script)
            .arg("start")
            .arg(&dir)
            .arg(which)
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("run __test__/store-servers.sh");
        assert!(
            out.status.success(),
            "could not start the test servers ({which}); install them with `bash __test__/store-servers.sh install`"
        );
        let env = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Self {
            dir: Some(dir),
            env,
        }
    }

    pub fn get(&self, key: &str) -> &str {
        self.env
            .get(key)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("{key} not set by the test servers"))
    }

    pub fn pg_url(&self) -> &str {
        self.get("WA_TEST_PG_URL")
    }

    pub fn s3_endpoint(&self) -> &str {
        self.get("WA_TEST_S3_ENDPOINT")
    }
}

impl Drop for TestServers {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../__test__/store-servers.sh");
            let _ = std::process::Command::new("bash")
                .arg(script)
                .arg("stop")
                .arg(dir)
                .status();
        }
    }
}
