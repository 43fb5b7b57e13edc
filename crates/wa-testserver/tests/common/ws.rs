//! A websocket client for the tokio driver: Noise over tokio-tungstenite.

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use wa_binary::{Node, decode_frame, encode_frame};
use wa_crypto::KeyPair;
use wa_noise::{ClientConfig, Event, NoiseSession};

pub struct WsClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub noise: NoiseSession,
    pending: std::collections::VecDeque<Node>,
}

#[derive(Debug)]
pub enum Recv {
    Node(Node),
    /// The server closed (with a close frame or not).
    Closed,
    /// A frame that did not decrypt (a corrupt-frame fault).
    Broken,
}

impl WsClient {
    pub async fn connect(
        url: &str,
        root: [u8; 32],
        noise_key: &KeyPair,
        payload: Vec<u8>,
    ) -> WsClient {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connects");
        let mut config = ClientConfig::new(noise_key.clone(), payload);
        config.trust_root = root;
        let noise = NoiseSession::client(config);
        let mut c = WsClient {
            ws,
            noise,
            pending: Default::default(),
        };
        c.flush().await;
        c
    }

    async fn flush(&mut self) {
        while let Some(t) = self.noise.poll_transmit() {
            let _ = self.ws.send(Message::Binary(t.into())).await;
        }
    }

    pub async fn send(&mut self, node: &Node) {
        let frame = encode_frame(node).unwrap();
        let data = self.noise.send_now(&frame).expect("established");
        let _ = self.ws.send(Message::Binary(data.into())).await;
    }

    pub async fn send_raw(&mut self, data: Vec<u8>) {
        let _ = self.ws.send(Message::Binary(data.into())).await;
    }

    pub async fn recv(&mut self) -> Recv {
        loop {
            if let Some(n) = self.pending.pop_front() {
                return Recv::Node(n);
            }
            let msg = self.ws.next().await;
            match msg {
                Some(Ok(Message::Binary(b))) => {
                    if self.noise.handle_data(0, &b).is_err() {
                        return Recv::Broken;
                    }
                    while let Some(e) = self.noise.poll_event() {
                        if let Event::Frame(f) = e {
                            self.pending
                                .push_back(decode_frame(&f).expect("server frames decode"));
                        }
                    }
                    self.flush().await;
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Recv::Closed,
                Some(Ok(_)) => {}
            }
        }
    }

    /// The next stanza with this tag (others are skipped); panics on close.
    pub async fn expect(&mut self, tag: &str) -> Node {
        loop {
            match self.recv().await {
                Recv::Node(n) if n.tag == tag => return n,
                Recv::Node(_) => {}
                other => panic!("waiting for <{tag}>: {other:?}"),
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}
