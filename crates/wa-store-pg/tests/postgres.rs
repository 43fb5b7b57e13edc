//! The PostgreSQL engine against a real server (started by `__test__/store-servers.sh`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use wa_store::conformance::{CASES, Kit, TestServers, run};
use wa_store::{Engine, Value, ValueEngine};
use wa_store_pg::{PgOptions, PostgresEngine, SCHEMA_VERSION};

fn opts(prefix: String) -> PgOptions {
    PgOptions {
        prefix,
        ..PgOptions::default()
    }
}

static N: AtomicUsize = AtomicUsize::new(0);

fn unique(tag: &str) -> String {
    format!(
        "{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_engine_conforms_and_migrates() {
    let servers = TestServers::start("pg");
    let url = servers.pg_url().to_owned();
    let first = PostgresEngine::connect(&url, opts(unique("t")))
        .await
        .unwrap();
    assert_eq!(first.schema_version().await.unwrap(), SCHEMA_VERSION);
    let make =
        || Arc::new(PostgresEngine::new(&url, opts(unique("case"))).unwrap()) as Arc<dyn Engine>;
    let pair = || {
        let shared = unique("pair");
        (
            Arc::new(PostgresEngine::new(&url, opts(format!("{shared}/a"))).unwrap())
                as Arc<dyn Engine>,
            Arc::new(PostgresEngine::new(&url, opts(format!("{shared}/b"))).unwrap())
                as Arc<dyn Engine>,
        )
    };
    assert_eq!(run(&Kit::new(&make).with_pair(&pair)).await, CASES);

    // `list` is served by the primary key index, not a scan.
    let out = std::process::Command::new("psql")
        .arg(&url)
        .args(["-At", "-c", "SET enable_seqscan = off; EXPLAIN SELECT name FROM wa_store_entries WHERE prefix = 'p' AND parent = 'chat' ORDER BY name LIMIT 50"])
        .output()
        .expect("psql");
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(plan.contains("Index") && !plan.contains("Sort"), "{plan}");

    // A database from a newer build is refused.
    let c = PostgresEngine::connect(&url, opts(unique("t")))
        .await
        .unwrap();
    c.set("x/y", Some(b"1".to_vec())).await.unwrap();
    std::process::Command::new("psql")
        .arg(&url)
        .args([
            "-c",
            "INSERT INTO wa_store_migrations (version, name) VALUES (999, 'future')",
        ])
        .output()
        .expect("psql");
    let err = PostgresEngine::connect(&url, opts(unique("t")))
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), "ERR_WA_STORE_SCHEMA");
    std::process::Command::new("psql")
        .arg(&url)
        .args(["-c", "DELETE FROM wa_store_migrations WHERE version = 999"])
        .output()
        .expect("psql");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_options_and_unreachable_server_are_coded_errors() {
    let err = PostgresEngine::new("postgres://[::1", PgOptions::default())
        .err()
        .unwrap();
    assert_eq!(err.code(), "ERR_WA_STORE_BAD_OPTION");
    let err = PostgresEngine::new(
        "postgres://u@127.0.0.1:1/db",
        PgOptions {
            pool_max: 0,
            ..PgOptions::default()
        },
    )
    .err()
    .unwrap();
    assert_eq!(err.code(), "ERR_WA_STORE_BAD_OPTION");
    // Nothing listens on port 1: retried for the bound, then UNAVAILABLE.
    let e = PostgresEngine::new(
        "postgres://u@127.0.0.1:1/db",
        PgOptions {
            retry_for: Duration::from_millis(600),
            connect_timeout: Duration::from_millis(200),
            ..PgOptions::default()
        },
    )
    .unwrap();
    let t = std::time::Instant::now();
    let err = e.get("a/b").await.unwrap_err();
    assert_eq!(err.code(), "ERR_WA_STORE_UNAVAILABLE", "{err}");
    assert!(t.elapsed() < Duration::from_secs(5));
}

/// The server restarts while writers keep writing: every write resolves (retried across
/// the outage), and every value read afterwards is one of the writes, whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_ride_out_a_server_restart() {
    let servers = TestServers::start_own("pg");
    let url = servers.pg_url().to_owned();
    let e = Arc::new(
        PostgresEngine::connect(&url, opts(unique("restart")))
            .await
            .unwrap(),
    );
    let writer = {
        let e = e.clone();
        tokio::spawn(async move {
            for i in 0..300u32 {
                let big = "x".repeat(1000 + i as usize);
                e.set_values(vec![
                    (
                        format!("m/{i:04}"),
                        Some(Value::Json(serde_json::json!({"i": i, "pad": big}))),
                    ),
                    (
                        format!("m/{i:04}/content"),
                        Some(Value::Bytes(vec![i as u8; 2048])),
                    ),
                ])
                .await
                .unwrap_or_else(|err| panic!("write {i} failed: {err}"));
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let data = servers.get("WA_TEST_PG_DATA").to_owned();
    let bin = servers.get("WA_TEST_PG_BIN").to_owned();
    let ctl = format!("{bin}/pg_ctl");
    let mut cmd = if running_as_root() {
        let mut c = std::process::Command::new("runuser");
        c.args(["-u", "postgres", "--", &ctl]);
        c
    } else {
        std::process::Command::new(&ctl)
    };
    let st = cmd
        .args(["-D", &data, "-m", "fast", "-w", "restart"])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("pg_ctl restart");
    assert!(st.success());
    writer.await.unwrap();
    let all = e.list("m", 0, 1000).await.unwrap();
    assert_eq!(all.len(), 300);
    for i in 0..300u32 {
        let v = e.get_value(&format!("m/{i:04}")).await.unwrap().unwrap();
        assert_eq!(v.as_json().unwrap()["i"], i);
        assert_eq!(
            e.get_value(&format!("m/{i:04}/content")).await.unwrap(),
            Some(Value::Bytes(vec![i as u8; 2048]))
        );
    }
}

fn running_as_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}
