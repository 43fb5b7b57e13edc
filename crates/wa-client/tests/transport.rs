//! The websocket transport: `wss://` URLs speak TLS (WhatsApp's servers), and a connection that
//! fails there ends with a coded close.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use wa_client::{Client, Config, ConnectionState, Event};
use wa_store::{AuthenticationCreds, EngineKeyStore, KeyStore, MemoryEngine};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_urls_speak_tls() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let keys: Arc<dyn KeyStore> = Arc::new(EngineKeyStore::new(Arc::new(MemoryEngine::new())));
    let (c, mut ev) = Client::connect(
        Config {
            url: format!("wss://localhost:{port}/ws/chat"),
            ..Config::default()
        },
        AuthenticationCreds::generate(),
        keys,
    );
    let (mut tcp, _) = listener.accept().await.unwrap();
    let mut first = [0u8; 3];
    tcp.read_exact(&mut first).await.unwrap();
    // A TLS handshake record (ClientHello), not an HTTP upgrade request.
    assert_eq!(first[0], 0x16, "TLS handshake record");
    assert_eq!(first[1], 0x03);
    drop(tcp);
    let closed = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(e) = ev.recv().await {
            if let Event::Connection(u) = e
                && u.connection == Some(ConnectionState::Close)
            {
                return u.last_disconnect.unwrap().0;
            }
        }
        panic!("events ended without a close");
    })
    .await
    .unwrap();
    assert_eq!(closed.code, "ERR_WA_CLIENT_WEBSOCKET");
    assert!(c.is_closed());
}
