//! The engine conformance suite: every engine must pass every case.
#![allow(dead_code)]

use std::sync::Arc;

use wa_store::{Engine, Write};

pub struct Suite {
    pub passed: usize,
}

type Make<'a> = &'a dyn Fn() -> Arc<dyn Engine>;
type Case = fn(Arc<dyn Engine>) -> wa_store::BoxFuture<'static, ()>;

async fn bytes(e: &dyn Engine, p: &str) -> Option<Vec<u8>> {
    e.get(p).await.unwrap()
}

/// Runs every case against fresh engines from `make`; returns how many ran.
pub async fn conformance(make: Make<'_>) -> usize {
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
        ("empty value is a value", |e| {
            Box::pin(async move {
                e.set("a/b", Some(Vec::new())).await?;
                assert_eq!(bytes(&*e, "a/b").await, Some(Vec::new()));
                assert_eq!(e.list("a", 0, 10).await?, vec!["a/b"]);
                Ok(())
            })
        }),
        (
            "list: newest created first, overwrite keeps place, re-create moves to front",
            |e| {
                Box::pin(async move {
                    for i in 0..5 {
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
                        want(&[4, 3, 2, 1, 0])
                    );
                    e.set("chat/c@g.us/message/M1", Some(vec![9])).await?;
                    assert_eq!(
                        e.list("chat/c@g.us/message", 0, 100).await?,
                        want(&[4, 3, 2, 1, 0])
                    );
                    e.set("chat/c@g.us/message/M1", None).await?;
                    assert_eq!(
                        e.list("chat/c@g.us/message", 0, 100).await?,
                        want(&[4, 3, 2, 0])
                    );
                    e.set("chat/c@g.us/message/M1", Some(vec![1])).await?;
                    assert_eq!(
                        e.list("chat/c@g.us/message", 0, 100).await?,
                        want(&[1, 4, 3, 2, 0])
                    );
                    Ok(())
                })
            },
        ),
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
                    .rev()
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
        ("bad paths are refused everywhere", |e| {
            Box::pin(async move {
                for p in [
                    "",
                    "../x",
                    "a/../../x",
                    "/abs",
                    "a//b",
                    "a/./b",
                    "a/\0b",
                    "trailing/",
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
        ("large value (10 MB)", |e| {
            Box::pin(async move {
                let big: Vec<u8> = (0..10 * 1024 * 1024)
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
                let want: Vec<String> = segs.iter().rev().map(|s| format!("contact/{s}")).collect();
                assert_eq!(listed, want);
                Ok(())
            })
        }),
    ];
    let mut n = 0;
    for (name, case) in cases {
        let e = make();
        if let Err(err) = case(e).await {
            panic!("case {name:?} failed: {err}");
        }
        n += 1;
    }
    n
}

pub const CASES: usize = 12;
