//! Where a connection's tasks run and how its socket is opened.
//!
//! By default both are tokio's: the driver, the receive worker and the connection's smaller
//! tasks are spawned on the current runtime and the socket is a tokio `TcpStream`. An embedder
//! whose own thread should run the connection (the Node binding runs it on Node's event loop,
//! so a message costs that thread one wake-up instead of a hand-off between two threads)
//! passes a [`Runner`] in `Config::runner`. The tasks still expect tokio's context (timers,
//! `spawn_blocking`, tokio's channels): a runner polls them with the runtime entered.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};

/// A task of the connection.
pub type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A connected byte stream: what the WebSocket (and TLS, for `wss://`) runs over.
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

pub type BoxStream = Box<dyn Stream>;

/// Runs a connection's tasks and opens its socket.
pub trait Runner: Send + Sync {
    fn spawn(&self, task: Task);

    /// A TCP connection to `host:port`, Nagle's algorithm off.
    fn connect<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> Pin<Box<dyn Future<Output = io::Result<BoxStream>> + Send + 'a>>;
}

/// `Config::runner`'s value.
#[derive(Clone)]
pub struct SharedRunner(pub Arc<dyn Runner>);

impl fmt::Debug for SharedRunner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedRunner")
    }
}

/// Spawns on the runner if there is one, else on the current tokio runtime.
pub(crate) fn spawn(
    runner: Option<&SharedRunner>,
    task: impl Future<Output = ()> + Send + 'static,
) {
    match runner {
        Some(r) => r.0.spawn(Box::pin(task)),
        None => {
            tokio::spawn(task);
        }
    }
}

/// Opens the TCP connection through the runner if there is one, else with tokio.
pub(crate) async fn connect(
    runner: Option<&SharedRunner>,
    host: &str,
    port: u16,
) -> io::Result<BoxStream> {
    if let Some(r) = runner {
        return r.0.connect(host, port).await;
    }
    let tcp = tokio::net::TcpStream::connect((host, port)).await?;
    // Nagle off (as Node's `ws` does): a send that waits for the server's ack would otherwise
    // sit behind the peer's delayed ACK, ~40 ms per message.
    tcp.set_nodelay(true)?;
    Ok(Box::new(tcp))
}
