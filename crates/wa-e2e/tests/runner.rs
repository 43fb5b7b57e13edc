//! A connection run by an embedder's `Runner` (as the Node binding runs it on Node's thread):
//! every task of the connection goes to the runner, the socket is opened by it, messages flow
//! both ways, and once the client ends every task it was given has finished.

mod common;

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use wa_client::Client;
use wa_client::runner::{BoxStream, Runner, SharedRunner, Task};

/// Runs the tasks on a runtime of its own, on one named thread, and counts them.
struct ThreadRunner {
    rt: tokio::runtime::Handle,
    spawned: AtomicUsize,
    live: Arc<AtomicUsize>,
    connects: AtomicUsize,
    off_thread: Arc<AtomicUsize>,
    _thread: std::thread::JoinHandle<()>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

const THREAD: &str = "e2e-runner";

impl ThreadRunner {
    fn new() -> Arc<Self> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let handle = rt.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(THREAD.into())
            .spawn(move || {
                rt.block_on(async {
                    let _ = stopped.await;
                });
            })
            .unwrap();
        Arc::new(Self {
            rt: handle,
            spawned: AtomicUsize::new(0),
            live: Arc::new(AtomicUsize::new(0)),
            connects: AtomicUsize::new(0),
            off_thread: Arc::default(),
            _thread: thread,
            _stop: stop,
        })
    }
}

/// Counts a task as live until it finishes or is dropped.
struct Live(Arc<AtomicUsize>);
impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Runner for ThreadRunner {
    fn spawn(&self, task: Task) {
        self.spawned.fetch_add(1, Ordering::SeqCst);
        self.live.fetch_add(1, Ordering::SeqCst);
        let live = Live(self.live.clone());
        let off = self.off_thread.clone();
        self.rt.spawn(async move {
            let _live = live;
            if std::thread::current().name() != Some(THREAD) {
                off.fetch_add(1, Ordering::SeqCst);
            }
            task.await;
        });
    }

    fn connect<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> Pin<Box<dyn Future<Output = io::Result<BoxStream>> + Send + 'a>> {
        self.connects.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            let tcp = tokio::net::TcpStream::connect((host, port)).await?;
            tcp.set_nodelay(true)?;
            Ok(Box::new(tcp) as BoxStream)
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_runs_on_the_embedders_runner() {
    let server = server("e2e-runner").await;
    let pa = pair(&server, "15552230001").await;
    let pb = pair(&server, "15552230002").await;
    let runner = ThreadRunner::new();
    let mut cfg = config(&server);
    cfg.runner = Some(SharedRunner(runner.clone()));
    let (a, mut ea) = Client::connect(cfg, pa.creds.clone(), pa.keys.clone());
    opened(&mut ea).await;
    let (b, mut eb) = login(&server, &pb).await;
    assert_eq!(
        runner.connects.load(Ordering::SeqCst),
        1,
        "one socket opened"
    );
    assert!(
        runner.spawned.load(Ordering::SeqCst) >= 2,
        "the driver and the receive worker at least went to the runner"
    );

    for i in 0..20 {
        a.send_text("15552230002@s.whatsapp.net", &format!("a{i}"))
            .await
            .unwrap();
        assert_eq!(upsert_text(&upsert(&mut eb).await), format!("a{i}"));
        b.send_text("15552230001@s.whatsapp.net", &format!("b{i}"))
            .await
            .unwrap();
        assert_eq!(upsert_text(&upsert(&mut ea).await), format!("b{i}"));
    }

    a.end(None);
    closed(&mut ea).await;
    // Every task the runner was given finishes once the client has ended: none is left
    // waiting on a channel or timer nobody will fire.
    let deadline = tokio::time::Instant::now() + WAIT;
    while runner.live.load(Ordering::SeqCst) != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {} runner tasks still live after the client ended",
            runner.live.load(Ordering::SeqCst),
            runner.spawned.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        runner.off_thread.load(Ordering::SeqCst),
        0,
        "a task ran off the runner's thread"
    );
    drop(a);
    b.end(None);
}
