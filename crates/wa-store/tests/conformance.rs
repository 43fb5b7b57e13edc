//! The same conformance suite against every native engine.

use std::sync::Arc;

use wa_store::conformance::{CASES, Kit, run};
use wa_store::{Engine, FileEngine, MemoryEngine, SqliteEngine};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_engine_conforms() {
    assert_eq!(
        run(&Kit::new(
            &|| Arc::new(MemoryEngine::new()) as Arc<dyn Engine>
        ))
        .await,
        CASES
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_engine_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let n = std::sync::atomic::AtomicUsize::new(0);
    let make = || {
        let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Arc::new(FileEngine::open(dir.path().join(format!("s{i}"))).unwrap()) as Arc<dyn Engine>
    };
    assert_eq!(run(&Kit::new(&make)).await, CASES);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_engine_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let n = std::sync::atomic::AtomicUsize::new(0);
    let make = || {
        let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Arc::new(SqliteEngine::open(dir.path().join(format!("s{i}.db"))).unwrap())
            as Arc<dyn Engine>
    };
    assert_eq!(run(&Kit::new(&make)).await, CASES);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_engine_reopens_with_the_same_data_and_order() {
    let dir = tempfile::tempdir().unwrap();
    {
        let e = FileEngine::open(dir.path()).unwrap();
        for i in 0..5 {
            e.set(&format!("chat/x@g.us/message/{i}"), Some(vec![i]))
                .await
                .unwrap();
        }
    }
    let e = FileEngine::open(dir.path()).unwrap();
    let l = e.list("chat/x@g.us/message", 0, 10).await.unwrap();
    assert_eq!(
        l,
        (0..5)
            .map(|i| format!("chat/x@g.us/message/{i}"))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        e.get("chat/x@g.us/message/3").await.unwrap().unwrap(),
        vec![3]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_engine_layout_matches_the_design() {
    let dir = tempfile::tempdir().unwrap();
    let e = FileEngine::open(dir.path()).unwrap();
    e.set("session/creds", Some(b"{}".to_vec())).await.unwrap();
    e.set("chat/1:2@s.whatsapp.net/message/ABC", Some(b"{}".to_vec()))
        .await
        .unwrap();
    e.set(
        "chat/1:2@s.whatsapp.net/message/ABC/content",
        Some(b"raw".to_vec()),
    )
    .await
    .unwrap();
    let b = dir.path();
    assert_eq!(std::fs::read(b.join("session/creds/index")).unwrap(), b"{}");
    let m = b.join("chat/1%3A2@s.whatsapp.net/message/ABC");
    assert_eq!(std::fs::read(m.join("index")).unwrap(), b"{}");
    assert_eq!(std::fs::read(m.join("content")).unwrap(), b"raw");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(m.join("index"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(&m).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }
    // While open: the write-ahead log, and spare files only in the temporary directory.
    let names = |d: &str| -> Vec<String> {
        std::fs::read_dir(b.join(d))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(names(".journal"), vec!["wal"]);
    assert!(names(".tmp").iter().all(|n| n.ends_with(".spare")));
    // A clean close leaves nothing behind in the temporary or journal directories.
    drop(e);
    assert_eq!(std::fs::read_dir(b.join(".tmp")).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(b.join(".journal")).unwrap().count(), 0);
    // And the data is all there on the next open.
    let e = FileEngine::open(b).unwrap();
    assert_eq!(e.get("session/creds").await.unwrap().unwrap(), b"{}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_engine_has_wal_and_a_migrations_table() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.db");
    {
        let e = SqliteEngine::open(&p).unwrap();
        e.set("a/b", Some(vec![1])).await.unwrap();
    }
    let c = rusqlite_check(&p);
    assert_eq!(c.0, "wal");
    assert_eq!(
        c.1,
        vec![
            (1, "entries".to_owned()),
            (2, "list in key order".to_owned())
        ]
    );
    // Reopening applies nothing twice and keeps the data.
    let e = SqliteEngine::open(&p).unwrap();
    assert_eq!(e.get("a/b").await.unwrap().unwrap(), vec![1]);
}

fn rusqlite_check(p: &std::path::Path) -> (String, Vec<(i64, String)>) {
    // Read through a second, plain connection: what any sqlite3 tool would see.
    let c = rusqlite::Connection::open(p).unwrap();
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    let mut st = c
        .prepare("SELECT version, name FROM migrations ORDER BY version")
        .unwrap();
    let rows = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    (mode, rows)
}

/// A database written by the first schema (creation-order index) is migrated to version 2
/// and keeps its data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_migrates_a_version_1_database() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.db");
    {
        let c = rusqlite::Connection::open(&p).unwrap();
        c.execute_batch(
            "CREATE TABLE migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL);
             CREATE TABLE entries (parent TEXT NOT NULL, name TEXT NOT NULL, value BLOB NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (parent, name));
             CREATE INDEX entries_by_order ON entries (parent, seq);
             INSERT INTO migrations VALUES (1, 'entries', 0);
             INSERT INTO entries VALUES ('a', 'z', x'01', 1), ('a', 'b', x'02', 2);",
        )
        .unwrap();
    }
    let e = SqliteEngine::open(&p).unwrap();
    assert_eq!(e.list("a", 0, 10).await.unwrap(), vec!["a/b", "a/z"]);
    assert_eq!(e.get("a/z").await.unwrap().unwrap(), vec![1]);
    drop(e);
    assert_eq!(rusqlite_check(&p).1.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_refuses_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.db");
    drop(SqliteEngine::open(&p).unwrap());
    rusqlite::Connection::open(&p)
        .unwrap()
        .execute(
            "INSERT INTO migrations (version, name, applied_at) VALUES (99, 'future', 0)",
            [],
        )
        .unwrap();
    let err = SqliteEngine::open(&p)
        .err()
        .expect("a newer schema is refused");
    assert_eq!(err.code(), "ERR_WA_STORE_SCHEMA");
    assert!(err.to_string().contains("99"), "{err}");
}
