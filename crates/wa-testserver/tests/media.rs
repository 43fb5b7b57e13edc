//! The media host over real HTTPS: a reqwest client (rustls, ring) that trusts only the
//! server's own CA uploads and downloads as WhatsApp clients do.

mod common;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::ws::WsClient;
use common::*;
use reqwest::StatusCode;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use sha2::{Digest, Sha256};
use wa_binary::Node;
use wa_testserver::{ServerConfig, TestServer, TestServerError};

fn client(server: &TestServer) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    let ca = CertificateDer::from_pem_slice(server.media_ca_pem().as_bytes()).unwrap();
    roots.add(ca).unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn token(body: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(body))
}

async fn start(config: ServerConfig) -> TestServer {
    TestServer::start(config, 0).await.unwrap()
}

fn body(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + 3) as u8).collect()
}

/// Uploads as Baileys does: `POST https://host/mms/{kind}/{token}?auth=..&token=..`.
async fn upload(
    c: &reqwest::Client,
    host: &str,
    kind: &str,
    auth: Option<&str>,
    tok: &str,
    bytes: Vec<u8>,
) -> reqwest::Response {
    let mut url = format!("https://{host}/mms/{kind}/{tok}?token={tok}");
    if let Some(a) = auth {
        url.push_str(&format!("&auth={a}"));
    }
    c.post(url)
        .header("Content-Type", "application/octet-stream")
        .header("Origin", "https://web.whatsapp.com")
        .body(bytes)
        .send()
        .await
        .unwrap()
}

async fn upload_ok(c: &reqwest::Client, server: &TestServer, bytes: &[u8]) -> serde_json::Value {
    let auth = server.issue_media_auth();
    let t = token(bytes);
    let res = upload(
        c,
        &server.media_host(),
        "image",
        Some(&auth),
        &t,
        bytes.to_vec(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_and_downloads_over_https() {
    let server = start(fast_config()).await;
    let host = server.media_host();
    assert!(host.starts_with("127.0.0.1:"), "{host}");
    assert!(
        server
            .media_ca_pem()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    let c = client(&server);
    let bytes = body(5_000);
    let json = upload_ok(&c, &server, &bytes).await;
    let direct_path = json["direct_path"].as_str().unwrap().to_owned();
    let url = json["url"].as_str().unwrap();
    assert!(direct_path.starts_with("/v/t62.7118-24/"), "{direct_path}");
    assert!(direct_path.contains(".enc?"), "{direct_path}");
    assert_eq!(url, format!("https://{host}{direct_path}"));
    assert!(json["handle"].as_str().is_some_and(|h| !h.is_empty()));
    assert!(json["object_id"].as_str().is_some());
    assert!(json["ts"].as_u64().is_some_and(|t| t > 1_700_000_000));
    assert_eq!(server.media_file_count(), 1);
    assert_eq!(server.media_file(&direct_path).unwrap(), bytes);

    // Download by URL, by direct path with another query, and through `localhost` (the
    // certificate names both).
    let got = c.get(url).send().await.unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.bytes().await.unwrap().as_ref(), bytes.as_slice());
    let bare = direct_path.split('?').next().unwrap();
    let port = host.rsplit(':').next().unwrap();
    let got = c
        .get(format!("https://localhost:{port}{bare}?other=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.bytes().await.unwrap().as_ref(), bytes.as_slice());

    // HEAD tells the length without the bytes.
    let head = c.head(url).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["content-length"].to_str().unwrap(), "5000");
    assert!(head.bytes().await.unwrap().is_empty());

    // Each kind uploads to its own path; the download path names its type.
    let auth = server.issue_media_auth();
    let doc = body(33);
    let res = upload(
        &c,
        &host,
        "document",
        Some(&auth),
        &token(&doc),
        doc.clone(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let json: serde_json::Value = res.json().await.unwrap();
    assert!(
        json["direct_path"]
            .as_str()
            .unwrap()
            .starts_with("/v/t62.7119-24/")
    );
    // App state uploads go to `/{token}` (Baileys' `md-app-state` has no path prefix).
    let t = token(&doc);
    let res = c
        .post(format!("https://{host}/{t}?auth={auth}&token={t}"))
        .body(doc.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(server.media_file_count(), 3);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_uploads_without_a_live_auth() {
    let server = start(ServerConfig {
        media_auth_ttl_ms: 300,
        ..fast_config()
    })
    .await;
    let c = client(&server);
    let host = server.media_host();
    let bytes = body(100);
    let t = token(&bytes);
    let res = upload(&c, &host, "image", None, &t, bytes.clone()).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = upload(&c, &host, "image", Some("not-issued"), &t, bytes.clone()).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let auth = server.issue_media_auth();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let res = upload(&c, &host, "image", Some(&auth), &t, bytes.clone()).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "expired auth");
    let auth = server.issue_media_auth();
    let res = upload(&c, &host, "image", Some(&auth), &t, bytes).await;
    assert_eq!(res.status(), StatusCode::OK, "a fresh auth works");
    assert_eq!(server.media_file_count(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_oversize_bodies_and_wrong_tokens() {
    let server = start(ServerConfig {
        media_max_bytes: 1_024,
        ..fast_config()
    })
    .await;
    let c = client(&server);
    let host = server.media_host();
    let auth = server.issue_media_auth();
    let big = body(1_025);
    let res = upload(&c, &host, "video", Some(&auth), &token(&big), big).await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // A streamed body without Content-Length is cut at the limit too.
    let big = body(4_000);
    let t = token(&big);
    let stream = futures_util::stream::iter(
        big.chunks(500)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let res = c
        .post(format!(
            "https://{host}/mms/video/{t}?auth={auth}&token={t}"
        ))
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let exact = body(1_024);
    let res = upload(
        &c,
        &host,
        "video",
        Some(&auth),
        &token(b"else"),
        exact.clone(),
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::BAD_REQUEST,
        "token of other bytes"
    );
    // The token in the path must be the hash too.
    let t = token(&exact);
    let res = c
        .post(format!(
            "https://{host}/mms/video/AAAA?auth={auth}&token={t}"
        ))
        .body(exact.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = c
        .post(format!("https://{host}/mms/video/{t}?auth={auth}"))
        .body(exact.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "no token");
    let res = upload(&c, &host, "video", Some(&auth), &t, exact).await;
    assert_eq!(res.status(), StatusCode::OK, "exactly the limit is fine");
    assert_eq!(server.media_file_count(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_ranges_expiry_and_corruption() {
    let server = start(fast_config()).await;
    let c = client(&server);
    let bytes = body(1_000);
    let json = upload_ok(&c, &server, &bytes).await;
    let url = json["url"].as_str().unwrap().to_owned();
    let direct_path = json["direct_path"].as_str().unwrap().to_owned();

    let part = c
        .get(&url)
        .header("Range", "bytes=16-47")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        part.headers()["content-range"].to_str().unwrap(),
        "bytes 16-47/1000"
    );
    assert_eq!(part.bytes().await.unwrap().as_ref(), &bytes[16..48]);
    // Open-ended, as Baileys asks when it has a start byte and no end.
    let part = c
        .get(&url)
        .header("Range", "bytes=992-")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.bytes().await.unwrap().as_ref(), &bytes[992..]);
    let past = c
        .get(&url)
        .header("Range", "bytes=1000-")
        .send()
        .await
        .unwrap();
    assert_eq!(past.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        past.headers()["content-range"].to_str().unwrap(),
        "bytes */1000"
    );

    // Corrupt one byte: the download differs there and nowhere else.
    server.corrupt_media(&direct_path, 500).unwrap();
    let got = c.get(&url).send().await.unwrap().bytes().await.unwrap();
    let diff: Vec<usize> = (0..bytes.len()).filter(|i| got[*i] != bytes[*i]).collect();
    assert_eq!(diff, vec![500]);
    assert_eq!(got[500], bytes[500] ^ 0xff);
    assert_eq!(
        server.corrupt_media(&direct_path, 1_000),
        Err(TestServerError::UnknownMedia(format!(
            "{direct_path} (offset 1000)"
        )))
    );

    // Unknown paths are 404, expired files 410.
    let host = server.media_host();
    let res = c
        .get(format!("https://{host}/v/t62.7118-24/nothing.enc"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    server.expire_media(&direct_path).unwrap();
    let res = c.get(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::GONE);
    let err = server
        .expire_media("/v/t62.7118-24/nothing.enc")
        .unwrap_err();
    assert_eq!(err.code(), "ERR_WA_TESTSERVER_UNKNOWN_MEDIA");
    assert!(server.media_file("/v/t62.7118-24/nothing.enc").is_err());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_conn_names_the_host_and_an_auth_it_accepts() {
    let server = start(ServerConfig {
        media_max_bytes: 2_048,
        media_auth_ttl_ms: 7_200_500,
        ..fast_config()
    })
    .await;
    let mut d = Device::new();
    let root = server.root_public_key();
    let mut ws = WsClient::connect(&server.url(), root, &d.noise, d.registration_payload()).await;
    let pd = ws.expect("iq").await;
    let qr = d.qr(&first_ref(&pd));
    let s = server.clone();
    let scan = tokio::spawn(async move { s.scan_qr(&qr, "15552000", None).await });
    let ps = ws.expect("iq").await;
    let reply = d.on_pair_success(&ps).unwrap();
    ws.send(&reply).await;
    scan.await.unwrap().unwrap();
    ws.expect("stream:error").await;
    let mut ws = WsClient::connect(&server.url(), root, &d.noise, d.login_payload()).await;
    ws.expect("success").await;
    ws.send(&iq("mc", "w:m", "set").children(vec![Node::new("media_conn")]))
        .await;
    let res = loop {
        let n = ws.expect("iq").await;
        if n.get_attr("id") == Some("mc") {
            break n;
        }
    };
    assert_eq!(res.get_attr("type"), Some("result"));
    let mc = res.child("media_conn").unwrap();
    assert_eq!(mc.get_attr("auth_ttl"), Some("7201"));
    let auth = mc.get_attr("auth").unwrap().to_owned();
    let host = mc.child("host").unwrap();
    assert_eq!(
        host.get_attr("hostname"),
        Some(server.media_host().as_str())
    );
    assert_eq!(host.get_attr("maxContentLengthBytes"), Some("2048"));

    let c = client(&server);
    let bytes = body(2_048);
    let t = token(&bytes);
    let auth_q: String = form_urlencoded::byte_serialize(auth.as_bytes()).collect();
    let res = upload(&c, &server.media_host(), "audio", Some(&auth_q), &t, bytes).await;
    assert_eq!(res.status(), StatusCode::OK);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stops_with_the_server_and_trusts_no_other_ca() {
    let server = start(fast_config()).await;
    let other = start(fast_config()).await;
    assert_ne!(
        server.media_ca_pem(),
        other.media_ca_pem(),
        "a CA per server"
    );
    // A client trusting another server's CA refuses this host.
    let wrong = client(&other);
    let err = wrong
        .get(format!("https://{}/v/x.enc", server.media_host()))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect() || err.is_request(), "{err:?}");
    let c = client(&server);
    let url = format!("https://{}/v/x.enc", server.media_host());
    assert_eq!(
        c.get(&url).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    server.stop().await;
    other.stop().await;
    let fresh = client(&server);
    assert!(fresh.get(&url).send().await.is_err(), "the host is gone");
}
