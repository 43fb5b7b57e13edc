//! The websocket: the only code that touches the socket. A small driver feeds websocket
//! messages, the timer and commands from handles into the sans-IO [`Core`], writes what it
//! transmits, and routes its outputs (events to the app, replies to waiters, stanzas to the
//! receive worker).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use wa_binary::Node;

use crate::config::ORIGIN;
use crate::core::{Core, Output};
use crate::ctx::{Client, Command, now_ms};
use crate::error::{ClientError, Disconnect, code, reason};
use crate::event::{ConnectionState, ConnectionUpdate, Event};
use crate::recv::Work;

type Waiters = HashMap<String, oneshot::Sender<Result<Node, ClientError>>>;

fn closed_event(d: &Disconnect) -> Event {
    Event::Connection(ConnectionUpdate {
        connection: Some(ConnectionState::Close),
        last_disconnect: Some((d.clone(), now_ms())),
        ..ConnectionUpdate::default()
    })
}

/// TLS for `wss://` (WhatsApp's servers): rustls with the ring provider and Mozilla's roots,
/// built once per process.
fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: std::sync::OnceLock<Arc<rustls::ClientConfig>> = std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map(|b| b.with_root_certificates(roots).with_no_client_auth());
            // The ring provider supports the default versions; should a future rustls refuse,
            // fall back to its own default builder rather than fail every connection.
            Arc::new(config.unwrap_or_else(|_| {
                rustls::ClientConfig::builder()
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth()
            }))
        })
        .clone()
}

fn ws_error_status(e: &tokio_tungstenite::tungstenite::Error) -> u16 {
    use tokio_tungstenite::tungstenite::Error as E;
    match e {
        E::Http(resp) if resp.status().as_u16() >= 400 => resp.status().as_u16(),
        E::Io(_) => reason::TIMED_OUT,
        _ => 500,
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<crate::runner::BoxStream>>;

/// Where to open the TCP connection for `uri`: an IPv6 literal without its brackets (the URI
/// keeps them; name resolution does not take them), the scheme's port when none is given.
fn host_port(uri: &tokio_tungstenite::tungstenite::http::Uri, tls: bool) -> (String, u16) {
    let host = uri.host().unwrap_or_default();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    (host.to_owned(), port)
}

/// The websocket's settings. tungstenite allocates its read buffer up front (128 KiB by
/// default) and zero-fills all of it before every read: a bot's stanzas are small, one process
/// may hold hundreds of sockets, and at 16 KiB the zeroing was 6% of a received text's
/// instructions. A larger frame grows the buffer to its size and arrives whole.
fn ws_config() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(4 * 1024)
}

/// Opens the websocket with WhatsApp Web's `Origin`, within the connect timeout.
async fn connect(client: &Client) -> Result<Ws, Disconnect> {
    let config = client.config();
    let mut req = config
        .url
        .as_str()
        .into_client_request()
        .map_err(|e| Disconnect::new(400, code::WEBSOCKET, e.to_string()))?;
    req.headers_mut()
        .insert("Origin", HeaderValue::from_static(ORIGIN));
    let tls = config.url.starts_with("wss:");
    let connector = tls.then(|| tokio_tungstenite::Connector::Rustls(tls_config()));
    let (host, port) = host_port(req.uri(), tls);
    let ws_config = ws_config();
    let open = async {
        let stream = crate::runner::connect(config.runner.as_ref(), &host, port)
            .await
            .map_err(tokio_tungstenite::tungstenite::Error::Io)?;
        tokio_tungstenite::client_async_tls_with_config(req, stream, Some(ws_config), connector)
            .await
    };
    match tokio::time::timeout(config.connect_timeout, open).await {
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(e)) => Err(Disconnect::new(
            ws_error_status(&e),
            code::WEBSOCKET,
            format!("WebSocket Error ({e})"),
        )),
        Err(_) => Err(Disconnect::new(
            reason::TIMED_OUT,
            code::TIMEOUT,
            "WebSocket Error (timed out)",
        )),
    }
}

/// The driver: the websocket, the timer and commands in; the state machine in between.
pub(crate) async fn drive(
    client: Client,
    mut cmd_rx: mpsc::UnboundedReceiver<Box<Command>>,
    work_tx: mpsc::UnboundedSender<Box<Work>>,
) {
    let mut core = match Core::new(
        client.config().clone(),
        client.inner.creds.clone(),
        now_ms(),
    ) {
        Ok(c) => c,
        Err(e) => {
            let d = Disconnect::new(e.status(), e.code(), e.to_string());
            client.emit(closed_event(&d));
            client.mark_closed();
            return;
        }
    };
    let mut waiters = Waiters::new();
    // Outputs queued before the socket exists (the `connecting` update).
    forward(&mut core, &client, &work_tx, &mut waiters);

    // Boxed: the TLS and WebSocket handshakes' state would otherwise stay in this task's
    // allocation for the connection's whole life.
    let ws = tokio::select! {
        r = Box::pin(connect(&client)) => r,
        Some(d) = close_asked(&mut cmd_rx) => Err(d),
    };
    let mut ws = match ws {
        Ok(ws) => ws,
        Err(d) => {
            core.close(d);
            forward(&mut core, &client, &work_tx, &mut waiters);
            client.mark_closed();
            return;
        }
    };

    // One timer for the connection's life, moved only when the next deadline changes: a new
    // one per turn of the loop (each frame in, each command) was a timer registered and
    // dropped per message.
    let mut timer = std::pin::pin!(tokio::time::sleep(Duration::ZERO));
    let mut armed: Option<u64> = None;
    loop {
        write_answers(&mut core, &client);
        if let Err(e) = write_all(&mut ws, std::iter::from_fn(|| core.poll_transmit())).await {
            core.close(Disconnect::new(
                reason::CONNECTION_CLOSED,
                code::WEBSOCKET,
                format!("WebSocket Error ({e})"),
            ));
        }
        if forward(&mut core, &client, &work_tx, &mut waiters) || core.is_closed() {
            break;
        }
        let deadline = core.poll_timeout();
        if deadline != armed {
            if let Some(d) = deadline {
                let wait = Duration::from_millis(d.saturating_sub(now_ms()));
                timer.as_mut().reset(tokio::time::Instant::now() + wait);
            }
            armed = deadline;
        }
        tokio::select! {
            msg = ws.next() => match msg {
                Some(Ok(WsMessage::Binary(b))) => core.handle_data(now_ms(), &b),
                Some(Ok(WsMessage::Close(_))) | None => core.close(Disconnect::new(
                    reason::CONNECTION_CLOSED,
                    code::CLOSED,
                    "Connection Terminated",
                )),
                Some(Ok(_)) => {}
                Some(Err(e)) => core.close(Disconnect::new(
                    ws_error_status(&e),
                    code::WEBSOCKET,
                    format!("WebSocket Error ({e})"),
                )),
            },
            cmd = cmd_rx.recv() => run_command(&mut core, &client, &mut waiters, cmd.map(|c| *c)),
            () = &mut timer, if armed.is_some() => {
                // Fired: whatever the next deadline is, it arms the timer again.
                armed = None;
                core.handle_timeout(now_ms());
            }
        }
    }
    client.mark_closed();
    while let Some(t) = core.poll_transmit() {
        let _ = write(&mut ws, t).await;
    }
    let _ = ws.close(None).await;
    forward(&mut core, &client, &work_tx, &mut waiters);
    for (_, tx) in waiters.drain() {
        let _ = tx.send(Err(ClientError::closed()));
    }
}

/// The largest WebSocket frame we write. tungstenite serializes each frame into one buffer it
/// never shrinks, so a socket that once sent the 812-key pre-key upload (~40 KB) would keep that
/// much for its whole life; a larger message goes out as a fragmented WebSocket message (RFC
/// 6455 section 5.4), which the server reassembles. WhatsApp's own clients fragment too:
/// whatsmeow writes through gorilla/websocket, whose client splits at its 4 KiB write buffer.
const MAX_FRAME: usize = 4096;

/// Writes every queued transmit. Small frames are buffered and flushed together, up to
/// [`MAX_FRAME`] bytes at a time: the acks the outbox hands over and the message that woke the
/// driver go out in one system call, not one each (a sent text took three `sendto`s), while
/// tungstenite's buffer, which never shrinks, still holds at most about two frames' worth.
async fn write_all<S>(
    ws: &mut S,
    transmits: impl Iterator<Item = Vec<u8>>,
) -> Result<(), tokio_tungstenite::tungstenite::Error>
where
    S: futures_util::Sink<WsMessage, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
{
    let mut buffered = 0;
    for t in transmits {
        if buffered > 0 && buffered + t.len() > MAX_FRAME {
            ws.flush().await?;
            buffered = 0;
        }
        if t.len() > MAX_FRAME {
            write(ws, t).await?;
            continue;
        }
        buffered += t.len();
        ws.feed(WsMessage::Binary(t.into())).await?;
    }
    if buffered > 0 {
        ws.flush().await?;
    }
    Ok(())
}

/// Writes one transmit: a single binary frame, or fragments of at most [`MAX_FRAME`] bytes,
/// each flushed so tungstenite's buffer never holds more than one.
async fn write<S>(ws: &mut S, t: Vec<u8>) -> Result<(), tokio_tungstenite::tungstenite::Error>
where
    S: futures_util::Sink<WsMessage, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
{
    if t.len() <= MAX_FRAME {
        return ws.send(WsMessage::Binary(t.into())).await;
    }
    let all = tokio_tungstenite::tungstenite::Bytes::from(t);
    let mut at = 0;
    while at < all.len() {
        let end = (at + MAX_FRAME).min(all.len());
        let opcode = if at == 0 {
            Data::Binary
        } else {
            Data::Continue
        };
        let frame = Frame::message(all.slice(at..end), OpCode::Data(opcode), end == all.len());
        ws.send(WsMessage::Frame(frame)).await?;
        at = end;
    }
    Ok(())
}

/// The next command, if it is a close: what ends a connection attempt before it is up.
async fn close_asked(cmd_rx: &mut mpsc::UnboundedReceiver<Box<Command>>) -> Option<Disconnect> {
    match *cmd_rx.recv().await? {
        Command::Close(d, _) => Some(d),
        _ => None,
    }
}

fn run_command(core: &mut Core, client: &Client, waiters: &mut Waiters, cmd: Option<Command>) {
    match cmd {
        Some(Command::Send(node, tx)) => {
            let _ = tx.send(core.send_node(&node));
        }
        Some(Command::Query(mut node, timeout, tx)) => {
            match core.send_query(&mut node, timeout, now_ms()) {
                Ok(id) => {
                    waiters.insert(id, tx);
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        }
        Some(Command::SendAwaitAck(node, tx)) => {
            let id = node.get_attr("id").unwrap_or_default().to_owned();
            match core.send_node(&node) {
                Ok(()) => {
                    let timeout = client.config().default_query_timeout.as_millis() as u64;
                    core.expect_reply(id.clone(), timeout, now_ms());
                    waiters.insert(id, tx);
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        }
        Some(Command::Close(d, farewell)) => {
            // What the app confirmed goes before the close, or the server delivers it again.
            write_answers(core, client);
            if let Some(node) = farewell {
                let _ = core.send_node(&node);
            }
            core.close(d);
        }
        // Written at the top of the loop's next turn, as every turn does.
        Some(Command::Answers) => {}
        // Every handle is gone: nobody can use this connection any more.
        None => core.close(Disconnect::closed()),
    }
}

/// Queues the answers the app confirmed since the last turn (see `delivery`).
fn write_answers(core: &mut Core, client: &Client) {
    for node in client.inner.outbox.take() {
        if let Err(e) = core.send_node(&node) {
            tracing::debug!(code = e.code(), "could not write a confirmed answer");
        }
    }
}

/// Routes the state machine's outputs; true once the connection has closed.
fn forward(
    core: &mut Core,
    client: &Client,
    work_tx: &mpsc::UnboundedSender<Box<Work>>,
    waiters: &mut Waiters,
) -> bool {
    let mut closed = false;
    while let Some(o) = core.poll_output() {
        match o {
            Output::Event(e) => client.emit(e),
            Output::Reply { id, result } => {
                if let Some(tx) = waiters.remove(&id) {
                    let _ = tx.send(result);
                }
            }
            Output::Stanza(n) => {
                let _ = work_tx.send(Box::new(Work::Stanza(n)));
            }
            Output::LoggedIn(n) => {
                let _ = work_tx.send(Box::new(Work::LoggedIn(n)));
            }
            Output::Closed(d) => {
                client.mark_closed();
                client.emit(closed_event(&d));
                closed = true;
            }
        }
    }
    closed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tcp_address_of_a_url() {
        let at = |u: &str, tls| host_port(&u.parse().unwrap(), tls);
        assert_eq!(
            at("wss://web.whatsapp.com/ws/chat", true),
            ("web.whatsapp.com".to_owned(), 443)
        );
        assert_eq!(
            at("ws://127.0.0.1:5222/ws/chat", false),
            ("127.0.0.1".to_owned(), 5222)
        );
        assert_eq!(
            at("ws://[::1]:8080/ws/chat", false),
            ("::1".to_owned(), 8080)
        );
        assert_eq!(
            at("ws://localhost/ws/chat", false),
            ("localhost".to_owned(), 80)
        );
    }
    use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

    /// A server that refuses any frame over [`MAX_FRAME`] bytes and reports each message.
    async fn strict_server() -> (String, mpsc::UnboundedReceiver<Result<Vec<u8>, String>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}", listener.local_addr().unwrap());
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let config = WebSocketConfig::default()
                .max_frame_size(Some(MAX_FRAME))
                .max_message_size(Some(1 << 20));
            let mut ws = tokio_tungstenite::accept_async_with_config(tcp, Some(config))
                .await
                .unwrap();
            while let Some(m) = ws.next().await {
                match m {
                    Ok(WsMessage::Binary(b)) => tx.send(Ok(b.to_vec())).unwrap(),
                    Ok(_) => {}
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                        break;
                    }
                }
            }
        });
        (url, rx)
    }

    #[tokio::test]
    async fn messages_larger_than_the_read_buffer_arrive_whole() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}", listener.local_addr().unwrap());
        let sizes = [0, 1, 4095, 4096, 4097, 9000, 100_003, 1 << 20];
        let body =
            |i: usize, n: usize| -> Vec<u8> { (0..n).map(|j| (i * 13 + j * 7) as u8).collect() };
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
            for (i, n) in sizes.into_iter().enumerate() {
                ws.send(WsMessage::Binary(body(i, n).into())).await.unwrap();
            }
        });
        let (mut ws, _) =
            tokio_tungstenite::connect_async_with_config(url, Some(ws_config()), false)
                .await
                .unwrap();
        for (i, n) in sizes.into_iter().enumerate() {
            match ws.next().await {
                Some(Ok(WsMessage::Binary(b))) => assert_eq!(b.to_vec(), body(i, n), "{n} bytes"),
                other => panic!("{n} bytes: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_large_message_goes_out_in_frames_no_larger_than_the_limit() {
        let (url, mut got) = strict_server().await;
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let sizes = [0, 1, MAX_FRAME, MAX_FRAME + 1, 3 * MAX_FRAME, 100_003];
        for (i, n) in sizes.into_iter().enumerate() {
            let body: Vec<u8> = (0..n).map(|j| (i * 31 + j * 7) as u8).collect();
            write(&mut ws, body.clone()).await.unwrap();
            assert_eq!(got.recv().await.unwrap(), Ok(body), "{n} bytes");
        }
    }

    /// A sink that records what it is fed, marking each flush.
    #[derive(Default)]
    struct Recorder(Vec<Option<usize>>);

    impl futures_util::Sink<WsMessage> for Recorder {
        type Error = tokio_tungstenite::tungstenite::Error;
        fn poll_ready(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), Self::Error>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn start_send(mut self: std::pin::Pin<&mut Self>, m: WsMessage) -> Result<(), Self::Error> {
            let n = match m {
                WsMessage::Binary(b) => b.len(),
                WsMessage::Frame(f) => f.payload().len(),
                _ => 0,
            };
            self.0.push(Some(n));
            Ok(())
        }
        fn poll_flush(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), Self::Error>> {
            self.0.push(None);
            std::task::Poll::Ready(Ok(()))
        }
        fn poll_close(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), Self::Error>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn small_transmits_are_flushed_together_up_to_the_frame_limit() {
        let mut ws = Recorder::default();
        let sizes = [100, 200, 300, MAX_FRAME - 600, 1, MAX_FRAME + 1, 50];
        write_all(&mut ws, sizes.iter().map(|n| vec![0u8; *n]))
            .await
            .unwrap();
        let expected = vec![
            // Exactly MAX_FRAME bytes in four frames: one flush.
            Some(100),
            Some(200),
            Some(300),
            Some(MAX_FRAME - 600),
            None,
            // The large one cannot join: what is buffered goes first, then its fragments,
            // each flushed.
            Some(1),
            None,
            Some(MAX_FRAME),
            None,
            Some(1),
            None,
            Some(50),
            None,
        ];
        assert_eq!(ws.0, expected);
    }

    #[tokio::test]
    async fn batched_transmits_reach_the_server_whole_and_in_order() {
        let (url, mut got) = strict_server().await;
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let sizes = [10, 2_000, 3_000, 5, MAX_FRAME + 7, 0, 40];
        let bodies: Vec<Vec<u8>> = sizes
            .iter()
            .enumerate()
            .map(|(i, n)| (0..*n).map(|j| (i * 13 + j) as u8).collect())
            .collect();
        write_all(&mut ws, bodies.clone().into_iter())
            .await
            .unwrap();
        for body in bodies {
            assert_eq!(got.recv().await.unwrap(), Ok(body));
        }
    }

    #[tokio::test]
    async fn the_strict_server_refuses_a_large_single_frame() {
        // The control for the test above: without fragmenting, the same server fails the frame.
        let (url, mut got) = strict_server().await;
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        ws.send(WsMessage::Binary(vec![7u8; MAX_FRAME + 1].into()))
            .await
            .unwrap();
        let refused = got.recv().await.unwrap().unwrap_err();
        assert!(
            refused.contains(&format!("{} > {MAX_FRAME}", MAX_FRAME + 1)),
            "{refused}"
        );
    }
}
