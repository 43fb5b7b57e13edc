//! The S3 engine against a real S3-compatible server (moto, started by
//! `__test__/store-servers.sh`).

use std::io::{Read as _, Write as _};

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use wa_store::conformance::{CASES, Kit, TestServers, run};
use wa_store::{Engine, Value, ValueEngine};
use wa_store_s3::{Credentials, S3Engine, S3Options};

static N: AtomicUsize = AtomicUsize::new(0);

fn unique(tag: &str) -> String {
    format!(
        "{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Creates a bucket with a plain request (moto does not check signatures).
fn create_bucket(endpoint: &str, bucket: &str) {
    let hostport = endpoint.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(hostport).unwrap();
    write!(
        s,
        "PUT /{bucket} HTTP/1.1\r\nHost: {hostport}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
}

fn options(endpoint: &str, bucket: &str, prefix: String) -> S3Options {
    let mut o = S3Options::new(bucket);
    o.prefix = prefix;
    o.endpoint = Some(endpoint.to_owned());
    o.force_path_style = true;
    o.credentials = Some(Credentials {
        region: Some("us-east-1".into()),
        access_key_id: Some("testing".into()),
        secret_access_key: Some("testing".into()),
        session_token: None,
    });
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_engine_conforms() {
    let servers = TestServers::start("s3");
    let ep = servers.s3_endpoint().to_owned();
    create_bucket(&ep, "conformance");
    let make = || {
        Arc::new(S3Engine::new(options(&ep, "conformance", unique(".baileys/case"))).unwrap())
            as Arc<dyn Engine>
    };
    let pair = || {
        let shared = unique("pair");
        (
            Arc::new(S3Engine::new(options(&ep, "conformance", format!("{shared}/a"))).unwrap())
                as Arc<dyn Engine>,
            Arc::new(S3Engine::new(options(&ep, "conformance", format!("{shared}/b"))).unwrap())
                as Arc<dyn Engine>,
        )
    };
    assert_eq!(run(&Kit::new(&make).with_pair(&pair)).await, CASES);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_follow_the_seed_layout_and_credentials_come_from_the_environment() {
    let servers = TestServers::start("s3");
    let ep = servers.s3_endpoint().to_owned();
    create_bucket(&ep, "layout");
    let e = S3Engine::new(options(&ep, "layout", ".baileys/default".into())).unwrap();
    e.set_value(
        "chat/1@s.whatsapp.net/timestamp/8299999999999_ABC",
        Some(Value::Json(serde_json::json!(1700000000))),
    )
    .await
    .unwrap();
    e.set_value(
        "chat/1@s.whatsapp.net/message/ABC/content",
        Some(Value::Bytes(b"\x00raw".to_vec())),
    )
    .await
    .unwrap();
    // An engine on the bucket's root sees the objects under their full keys: the seed's
    // key names, `{prefix}/{path}`, content stored raw.
    let root = S3Engine::new(options(&ep, "layout", String::new())).unwrap();
    assert_eq!(
        root.get(".baileys/default/chat/1@s.whatsapp.net/message/ABC/content")
            .await
            .unwrap(),
        Some(b"\x00raw".to_vec())
    );
    assert_eq!(
        root.list(".baileys/default/chat/1@s.whatsapp.net/timestamp", 0, 10)
            .await
            .unwrap(),
        vec![".baileys/default/chat/1@s.whatsapp.net/timestamp/8299999999999_ABC"]
    );
    assert_eq!(
        root.scan(None, 10).await.unwrap(),
        vec![
            ".baileys/default/chat/1@s.whatsapp.net/message/ABC/content",
            ".baileys/default/chat/1@s.whatsapp.net/timestamp/8299999999999_ABC",
        ]
    );

    // No credentials option: the standard AWS environment variables are used.
    let mut o = options(&ep, "layout", ".baileys/default".into());
    o.credentials = None;
    o.endpoint = None;
    unsafe_env(&ep);
    let from_env = S3Engine::new(o).unwrap();
    assert_eq!(
        from_env
            .get_value("chat/1@s.whatsapp.net/message/ABC/content")
            .await
            .unwrap(),
        Some(Value::Bytes(b"\x00raw".to_vec()))
    );
}

// Sets the AWS variables for this process (edition 2024 makes set_var unsafe; the test
// threads here do not read the environment concurrently except through this test).
fn unsafe_env(ep: &str) {
    // SAFETY: only this test reads these variables, after they are set.
    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        std::env::set_var("AWS_REGION", "us-east-1");
        std::env::set_var("AWS_ENDPOINT_URL_S3", ep);
        std::env::set_var("AWS_ALLOW_HTTP", "true");
        std::env::set_var("AWS_VIRTUAL_HOSTED_STYLE_REQUEST", "false");
    }
}

/// The server stops answering for 10 s mid-stream: writes wait and succeed when it is
/// back (bound 30 s); with a 2 s bound they fail with ERR_WA_STORE_UNAVAILABLE, and no
/// record is half-written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_ridden_out_or_a_coded_error() {
    let servers = TestServers::start_own("s3");
    let ep = servers.s3_endpoint().to_owned();
    create_bucket(&ep, "faults");
    let pid = servers.get("WA_TEST_S3_PID").to_owned();
    let patient = Arc::new(S3Engine::new(options(&ep, "faults", "p".into())).unwrap());
    let mut hasty_opts = options(&ep, "faults", "h".into());
    hasty_opts.retry_for = Duration::from_secs(2);
    hasty_opts.request_timeout = Duration::from_secs(1);
    let hasty = S3Engine::new(hasty_opts).unwrap();
    patient
        .set_value("k/0", Some(Value::Json(serde_json::json!(0))))
        .await
        .unwrap();

    let signal = |sig: &str| {
        assert!(
            std::process::Command::new("kill")
                .args([sig, &pid])
                .status()
                .unwrap()
                .success()
        );
    };
    signal("-STOP");
    let stopped = Instant::now();
    let writer = {
        let e = patient.clone();
        tokio::spawn(async move {
            for i in 1..=5u32 {
                e.set_value(
                    &format!("k/{i}"),
                    Some(Value::Json(
                        serde_json::json!({"i": i, "pad": "y".repeat(4096)}),
                    )),
                )
                .await
                .unwrap_or_else(|err| panic!("write {i}: {err}"));
            }
        })
    };
    let err = hasty
        .set_value("k/x", Some(Value::Json(serde_json::json!(1))))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "ERR_WA_STORE_UNAVAILABLE", "{err}");
    tokio::time::sleep(Duration::from_secs(10).saturating_sub(stopped.elapsed())).await;
    signal("-CONT");
    writer.await.unwrap();
    for i in 1..=5u32 {
        let v = patient.get_value(&format!("k/{i}")).await.unwrap().unwrap();
        assert_eq!(v.as_json().unwrap()["i"], i);
    }
    assert_eq!(patient.list("k", 0, 10).await.unwrap().len(), 6);
}
