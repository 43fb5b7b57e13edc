//! The tokio driver: a listener on `127.0.0.1`, one task per websocket at `/ws/chat`, and a
//! timer task, all feeding one [`Server`] core and routing what it outputs. Control calls
//! lock the core, act, and pump.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::config::ServerConfig;
use crate::control::{FaultTarget, StreamErrorKind};
use crate::error::{Result, TestServerError};
use crate::inbox::InboxMessage;
use crate::media::MediaStore;
use crate::media_http::{self, MediaTls};
use crate::phone::{MediaRetryAnswer, PhoneReceipt};
use crate::server::Server;
use crate::state::{ConnId, LoginRefusal, Output, RequestId, ServerEvent, Stats};

/// The websocket path clients connect to.
pub const WS_PATH: &str = "/ws/chat";

/// How long [`TestServer::enter_pairing_code`] waits for the companion's pairing code request
/// to arrive before it fails with `ERR_WA_TESTSERVER_NO_PAIRING_CODE_REQUEST`.
const CODE_REQUEST_GRACE_MS: u64 = 1_000;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

enum Cmd {
    Send(Vec<u8>),
    Close { abort: bool },
}

type Check = Box<dyn Fn(&Server) -> bool + Send>;

/// Pairing requests: who waits, and outcomes that arrived before anyone waited (a fast
/// companion can sign before the control call starts waiting).
#[derive(Default)]
struct Pairings {
    waiting: HashMap<RequestId, oneshot::Sender<Result<String>>>,
    finished: HashMap<RequestId, Result<String>>,
}

struct Waiter {
    check: Check,
    done: oneshot::Sender<()>,
}

struct Shared {
    core: Mutex<Server>,
    conns: Mutex<HashMap<ConnId, mpsc::UnboundedSender<Cmd>>>,
    pairings: Mutex<Pairings>,
    waiters: Mutex<Vec<Waiter>>,
    timer: Notify,
    shutdown: watch::Sender<bool>,
    stopped: AtomicBool,
    next_conn: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock cannot leave these maps half-changed in a way that
    // matters more than stopping the server would.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    fn core(&self) -> MutexGuard<'_, Server> {
        lock(&self.core)
    }

    /// Routes everything the core produced, completes requests and waiters, re-arms the timer.
    fn pump(&self) {
        let events = {
            let mut core = self.core();
            // Frames go to their connections' queues while the core is still locked: each is a
            // Noise frame whose nonce is its place in the stream, so two threads pumping at
            // once must not hand one connection's frames over in another order than the core
            // made them (they did, under a burst of deliveries: the client failed to decrypt).
            // The queues are unbounded, so nothing here waits.
            let mut conns = None;
            while let Some(o) = core.poll_output() {
                let conns = conns.get_or_insert_with(|| lock(&self.conns));
                match o {
                    Output::Transmit { conn, data } => {
                        if let Some(tx) = conns.get(&conn) {
                            let _ = tx.send(Cmd::Send(data));
                        }
                    }
                    Output::Close { conn, abort } => {
                        if let Some(tx) = conns.get(&conn) {
                            let _ = tx.send(Cmd::Close { abort });
                        }
                    }
                }
            }
            drop(conns);
            let mut events = Vec::new();
            while let Some(e) = core.poll_event() {
                events.push(e);
            }
            events
        };
        if !events.is_empty() {
            let mut pairings = lock(&self.pairings);
            for e in events {
                let (request, result) = match e {
                    ServerEvent::Paired { request, jid } => (request, Ok(jid)),
                    ServerEvent::PairingFailed { request, error } => (request, Err(error)),
                };
                match pairings.waiting.remove(&request) {
                    Some(tx) => {
                        let _ = tx.send(result);
                    }
                    None => {
                        pairings.finished.insert(request, result);
                    }
                }
            }
        }
        self.check_waiters();
        self.timer.notify_one();
    }

    fn check_waiters(&self) {
        let mut waiters = lock(&self.waiters);
        if waiters.is_empty() {
            return;
        }
        let core = self.core();
        let pending = std::mem::take(&mut *waiters);
        for w in pending {
            if w.done.is_closed() {
                continue;
            }
            if (w.check)(&core) {
                let _ = w.done.send(());
            } else {
                waiters.push(w);
            }
        }
    }

    /// Runs `f` on the core at the current time, then pumps.
    fn with_core<T>(&self, f: impl FnOnce(&mut Server, u64) -> T) -> T {
        let out = {
            let mut core = self.core();
            f(&mut core, now_ms())
        };
        self.pump();
        out
    }

    async fn wait_until(&self, what: &str, timeout_ms: u64, check: Check) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        lock(&self.waiters).push(Waiter { check, done: tx });
        self.check_waiters();
        match tokio::time::timeout(Duration::from_millis(timeout_ms), rx).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(TestServerError::Stopped),
            Err(_) => Err(TestServerError::Timeout(what.to_owned())),
        }
    }

    async fn await_pairing(&self, request: RequestId, timeout_ms: u64) -> Result<String> {
        let (tx, rx) = oneshot::channel();
        {
            let mut p = lock(&self.pairings);
            if let Some(done) = p.finished.remove(&request) {
                return done;
            }
            p.waiting.insert(request, tx);
        }
        // The outcome may still be queued in the core.
        self.pump();
        match tokio::time::timeout(Duration::from_millis(timeout_ms), rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(TestServerError::Stopped),
            Err(_) => {
                lock(&self.pairings).waiting.remove(&request);
                Err(TestServerError::PairingTimeout)
            }
        }
    }
}

/// A running test server. Cheap to clone; every clone controls the same server.
#[derive(Clone)]
pub struct TestServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    media: MediaStore,
    media_addr: SocketAddr,
    media_ca_pem: Arc<str>,
    tasks: Arc<Mutex<Option<JoinSet<()>>>>,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl TestServer {
    /// Starts a server on `127.0.0.1:port` (0 picks a free port) on the current tokio
    /// runtime.
    pub async fn start(mut config: ServerConfig, port: u16) -> Result<TestServer> {
        let io = |e: std::io::Error| TestServerError::Io(e.to_string());
        let listener = TcpListener::bind(("127.0.0.1", port)).await.map_err(io)?;
        let addr = listener.local_addr().map_err(io)?;
        // The media host: HTTPS on a port of its own, named by `media_conn`.
        let media_listener = TcpListener::bind(("127.0.0.1", 0)).await.map_err(io)?;
        let media_addr = media_listener.local_addr().map_err(io)?;
        let media_tls = MediaTls::generate()?;
        let media_ca_pem: Arc<str> = media_tls.ca_pem().into();
        config.media_host = media_addr.to_string();
        let core = Server::new(config);
        let media = core.media().clone();
        let shared = Arc::new(Shared {
            core: Mutex::new(core),
            conns: Mutex::new(HashMap::new()),
            pairings: Mutex::new(Pairings::default()),
            waiters: Mutex::new(Vec::new()),
            timer: Notify::new(),
            shutdown: watch::Sender::new(false),
            stopped: AtomicBool::new(false),
            next_conn: AtomicU64::new(1),
        });
        let mut tasks = JoinSet::new();
        tasks.spawn(accept_loop(shared.clone(), listener));
        tasks.spawn(timer_loop(shared.clone()));
        tasks.spawn(media_http::serve(
            media_listener,
            media_tls,
            media.clone(),
            media_addr.to_string(),
            shared.shutdown.subscribe(),
        ));
        Ok(TestServer {
            shared,
            addr,
            media,
            media_addr,
            media_ca_pem,
            tasks: Arc::new(Mutex::new(Some(tasks))),
        })
    }

    /// `ws://127.0.0.1:PORT/ws/chat`.
    pub fn url(&self) -> String {
        format!("ws://{}{WS_PATH}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The key clients must trust in place of WhatsApp's root.
    pub fn root_public_key(&self) -> [u8; 32] {
        self.shared.core().root_public_key()
    }

    pub fn stats(&self) -> Stats {
        self.shared.core().stats()
    }

    /// Runs a closure on the core (tests reach internals this way) and pumps.
    pub fn with_core<T>(&self, f: impl FnOnce(&mut Server, u64) -> T) -> T {
        self.shared.with_core(f)
    }

    /// The phone of `number` scans `qr`; resolves to the new companion's JID once it has
    /// signed its identity (before it reconnects to log in).
    pub async fn scan_qr(&self, qr: &str, number: &str, push_name: Option<&str>) -> Result<String> {
        let request = self
            .shared
            .with_core(|s, now| s.scan_qr(now, qr, number, push_name))?;
        let timeout = self.shared.core().config().pairing_timeout_ms + 5_000;
        self.shared.await_pairing(request, timeout).await
    }

    /// The user types `code` on the phone of `number`; resolves to the companion's JID once
    /// it is paired. A companion's request still on its way is waited for (up to 1 s).
    pub async fn enter_pairing_code(&self, number: &str, code: &str) -> Result<String> {
        let first = self.shared.core().pairing_code_request(number);
        let wrapped = match first {
            Err(TestServerError::NoPairingCodeRequest(_)) => {
                // Baileys' `requestPairingCode` resolves once its `companion_hello` is written
                // to the socket, not once the server has read it: give it a moment to arrive.
                let n = number.to_owned();
                match self
                    .shared
                    .wait_until(
                        "a pairing code request",
                        CODE_REQUEST_GRACE_MS,
                        Box::new(move |s| s.pairing_code_request(&n).is_ok()),
                    )
                    .await
                {
                    Ok(()) | Err(TestServerError::Timeout(_)) => {}
                    Err(e) => return Err(e),
                }
                self.shared.core().pairing_code_request(number)?
            }
            other => other?,
        };
        let code_owned = code.to_owned();
        let hello = tokio::task::spawn_blocking(move || {
            crate::linkcode::primary_hello(&code_owned, &wrapped)
        })
        .await
        .map_err(|e| TestServerError::PairingFailed(e.to_string()))?;
        let request = self
            .shared
            .with_core(|s, now| s.enter_pairing_code_prepared(now, number, hello))?;
        let timeout = self.shared.core().config().pairing_timeout_ms + 5_000;
        self.shared.await_pairing(request, timeout).await
    }

    /// The simulated phone of `number` (its account is created on first use).
    pub fn phone(&self, number: &str) -> Result<PhoneHandle> {
        let (jid, lid) = self.shared.with_core(|s, _| s.account_jids(number))?;
        Ok(PhoneHandle {
            shared: self.shared.clone(),
            number: crate::account::normalize_number(number)?,
            jid,
            lid,
        })
    }

    /// The phone unlinks a companion (`401 device_removed`).
    pub fn remove_device(&self, device_jid: &str) -> Result<()> {
        self.shared
            .with_core(|s, now| s.remove_device(now, device_jid))
    }

    /// Accounts made in bulk, each with its phone and `devices - 1` silent companions (see
    /// [`Server::seed_accounts`]); their phone-number JIDs.
    pub fn seed_accounts(&self, prefix: &str, count: usize, devices: u16) -> Result<Vec<String>> {
        self.shared
            .with_core(|s, now| s.seed_accounts(now, prefix, count, devices))
    }

    /// How groups created from now on address their members (see
    /// [`Server::set_group_addressing`]).
    pub fn set_group_addressing(&self, addressing: crate::GroupAddressing) {
        self.shared
            .with_core(|s, _| s.set_group_addressing(addressing));
    }

    /// The phone of `creator` makes a group (see [`Server::phone_create_group`]); its JID.
    pub fn phone_create_group(
        &self,
        creator: &str,
        subject: &str,
        members: &[String],
    ) -> Result<String> {
        self.shared
            .with_core(|s, now| s.phone_create_group(now, creator, subject, members))
    }

    /// The phone of `actor` adds or removes group members (see [`Server::phone_update_group`]).
    pub fn phone_update_group(
        &self,
        group: &str,
        actor: &str,
        add: bool,
        members: &[String],
    ) -> Result<()> {
        self.shared
            .with_core(|s, now| s.phone_update_group(now, group, actor, add, members))
    }

    /// A group as the server keeps it.
    pub fn group(&self, group: &str) -> Result<crate::group::Group> {
        self.shared.core().group(group)
    }

    /// A newsletter as the server keeps it (see [`Server::newsletter`]).
    pub fn newsletter(&self, jid: &str) -> Result<crate::Newsletter> {
        self.shared.core().newsletter(jid)
    }

    /// Makes an account an admin or a subscriber of a newsletter (see
    /// [`Server::newsletter_set_role`]).
    pub fn newsletter_set_role(
        &self,
        jid: &str,
        user: &str,
        role: crate::NewsletterRole,
    ) -> Result<()> {
        self.with_core(|s, _| s.newsletter_set_role(jid, user, role))
    }

    /// The owner's phone posts a text to a newsletter (see [`Server::phone_post_newsletter`]);
    /// its server id.
    pub fn phone_post_newsletter(&self, jid: &str, text: &str) -> Result<u64> {
        self.with_core(|s, now| s.phone_post_newsletter(now, jid, text))
    }

    /// The groups `number` is a member of.
    pub fn groups_of(&self, number: &str) -> Result<Vec<String>> {
        self.shared.core().groups_of(number)
    }

    /// Companion JIDs linked to `number`.
    pub fn devices(&self, number: &str) -> Result<Vec<String>> {
        self.shared.core().devices(number)
    }

    /// Stanzas waiting for a device.
    pub fn queued(&self, device_jid: &str) -> usize {
        self.shared.core().queued(device_jid)
    }

    /// Waits until at least `n` stanzas wait for a device.
    pub async fn wait_for_queued(&self, device_jid: &str, n: usize, timeout_ms: u64) -> Result<()> {
        let jid = device_jid.to_owned();
        self.shared
            .wait_until(
                "queued stanzas",
                timeout_ms,
                Box::new(move |s| s.queued(&jid) >= n),
            )
            .await
    }

    /// Whether a companion is logged in.
    pub fn is_online(&self, device_jid: &str) -> bool {
        self.shared.core().is_online(device_jid)
    }

    /// Waits until a companion is logged in (`online = true`) or not.
    pub async fn wait_for_online(
        &self,
        device_jid: &str,
        online: bool,
        timeout_ms: u64,
    ) -> Result<()> {
        let jid = device_jid.to_owned();
        self.shared
            .wait_until(
                "device online state",
                timeout_ms,
                Box::new(move |s| s.is_online(&jid) == online),
            )
            .await
    }

    // ---- media host ----

    /// `127.0.0.1:PORT` of the HTTPS media host (what `media_conn` names).
    pub fn media_host(&self) -> String {
        self.media_addr.to_string()
    }

    /// The CA certificate (PEM) the media host's certificate chains to; trust it to upload
    /// and download.
    pub fn media_ca_pem(&self) -> &str {
        &self.media_ca_pem
    }

    /// An upload `auth`, as a `media_conn` IQ would hand out now.
    pub fn issue_media_auth(&self) -> String {
        self.media.issue_auth(now_ms())
    }

    /// Expires the file at `direct_path` (its query is ignored): downloads get 410.
    pub fn expire_media(&self, direct_path: &str) -> Result<()> {
        self.media
            .expire(direct_path)
            .then_some(())
            .ok_or_else(|| TestServerError::UnknownMedia(direct_path.to_owned()))
    }

    /// Flips the bits of the stored byte at `offset` (to test MAC checks).
    pub fn corrupt_media(&self, direct_path: &str, offset: usize) -> Result<()> {
        self.media
            .corrupt(direct_path, offset)
            .then_some(())
            .ok_or_else(|| {
                TestServerError::UnknownMedia(format!("{direct_path} (offset {offset})"))
            })
    }

    /// The stored bytes of a file (as uploaded: encrypted).
    pub fn media_file(&self, direct_path: &str) -> Result<Vec<u8>> {
        self.media
            .file(direct_path)
            .ok_or_else(|| TestServerError::UnknownMedia(direct_path.to_owned()))
    }

    /// Puts an encrypted file on the media host (as a phone's upload): its direct path.
    pub fn put_media(&self, encrypted: Vec<u8>) -> String {
        self.media.put(encrypted, now_ms())
    }

    /// How many files the media host stores.
    pub fn media_file_count(&self) -> usize {
        self.media.file_count()
    }

    // ---- faults ----

    pub fn drop_connections(&self, target: &FaultTarget) -> usize {
        self.shared
            .with_core(|s, now| s.drop_connections(now, target))
    }

    pub fn delay_frames(&self, target: &FaultTarget, ms: u64) -> usize {
        self.shared.with_core(|s, _| s.delay_frames(target, ms))
    }

    pub fn stall(&self, target: &FaultTarget, ms: u64) -> usize {
        self.shared.with_core(|s, now| s.stall(now, target, ms))
    }

    pub fn corrupt_frame(&self, target: &FaultTarget) -> usize {
        self.shared.with_core(|s, now| s.corrupt_frame(now, target))
    }

    pub fn drop_frames(&self, target: &FaultTarget, n: u32) -> usize {
        self.shared.with_core(|s, _| s.drop_frames(target, n))
    }

    pub fn send_stream_error(&self, target: &FaultTarget, kind: StreamErrorKind) -> usize {
        self.shared
            .with_core(|s, now| s.send_stream_error(now, target, kind))
    }

    pub fn refuse_logins(&self, ms: u64, refusal: LoginRefusal) {
        self.shared
            .with_core(|s, now| s.refuse_logins(now, ms, refusal));
    }

    /// Stops accepting, closes every connection and ends every task.
    pub async fn stop(&self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        self.shared.shutdown.send_replace(true);
        self.shared.timer.notify_one();
        let conns: Vec<_> = lock(&self.shared.conns).drain().collect();
        for (_, tx) in conns {
            let _ = tx.send(Cmd::Close { abort: false });
        }
        let tasks = lock(&self.tasks).take();
        if let Some(mut tasks) = tasks {
            // Connections get a moment to send their close frames.
            let drain = async { while tasks.join_next().await.is_some() {} };
            if tokio::time::timeout(Duration::from_secs(2), drain)
                .await
                .is_err()
            {
                tasks.shutdown().await;
            }
        }
        {
            let mut p = lock(&self.shared.pairings);
            p.waiting.clear();
            p.finished.clear();
        }
        lock(&self.shared.waiters).clear();
    }
}

/// The simulated phone of one account.
#[derive(Clone)]
pub struct PhoneHandle {
    shared: Arc<Shared>,
    number: String,
    jid: String,
    lid: String,
}

impl PhoneHandle {
    /// `number@s.whatsapp.net`.
    pub fn jid(&self) -> &str {
        &self.jid
    }

    /// `lid@lid`.
    pub fn lid(&self) -> &str {
        &self.lid
    }

    pub fn number(&self) -> &str {
        &self.number
    }

    /// Sends a text message to `to` (a user JID by number or LID, or a number). Returns the
    /// message id.
    pub fn send_text(&self, to: &str, text: &str) -> Result<String> {
        self.shared
            .with_core(|s, now| s.phone_send_text(now, &self.number, to, text))
    }

    /// Sends any message.
    pub fn send_message(&self, to: &str, message: wa_proto::Message) -> Result<String> {
        self.shared
            .with_core(|s, now| s.phone_send_message(now, &self.number, to, message))
    }

    /// Sends a message given as encoded `proto.Message` bytes.
    pub fn send_message_bytes(&self, to: &str, message: &[u8]) -> Result<String> {
        let message = <wa_proto::Message as prost::Message>::decode(message)
            .map_err(|e| TestServerError::BadMessage(e.to_string()))?;
        self.send_message(to, message)
    }

    /// How the phone answers media retry requests for what it sent from now on.
    pub fn set_media_retry_answer(&self, answer: MediaRetryAnswer) -> Result<()> {
        self.shared
            .with_core(|s, _| s.set_media_retry_answer(&self.number, answer))
    }

    /// What the phone has received.
    pub fn inbox(&self) -> Vec<InboxMessage> {
        self.shared.core().inbox(&self.number).unwrap_or_default()
    }

    /// Receipts for what the phone sent.
    pub fn receipts(&self) -> Vec<PhoneReceipt> {
        self.shared
            .core()
            .phone_receipts(&self.number)
            .unwrap_or_default()
    }

    /// Waits until the inbox holds at least `n` messages, and returns it.
    pub async fn wait_for_inbox(&self, n: usize, timeout_ms: u64) -> Result<Vec<InboxMessage>> {
        let number = self.number.clone();
        self.shared
            .wait_until(
                "phone inbox",
                timeout_ms,
                Box::new(move |s| s.inbox_len(&number) >= n),
            )
            .await?;
        Ok(self.inbox())
    }

    /// Waits until the phone holds at least `n` receipts, and returns them.
    pub async fn wait_for_receipts(&self, n: usize, timeout_ms: u64) -> Result<Vec<PhoneReceipt>> {
        self.wait_for_receipts_from(0, n, timeout_ms).await
    }

    /// Waits until the phone holds at least `n` receipts, and returns those after the first
    /// `skip`.
    pub async fn wait_for_receipts_from(
        &self,
        skip: usize,
        n: usize,
        timeout_ms: u64,
    ) -> Result<Vec<PhoneReceipt>> {
        let number = self.number.clone();
        self.shared
            .wait_until(
                "phone receipts",
                timeout_ms,
                Box::new(move |s| s.phone_receipt_count(&number) >= n),
            )
            .await?;
        Ok(self
            .shared
            .core()
            .phone_receipts_from(&self.number, skip)
            .unwrap_or_default())
    }
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    let mut conns = JoinSet::new();
    let mut shutdown = shared.shutdown.subscribe();
    loop {
        if *shutdown.borrow_and_update() {
            break;
        }
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let id = ConnId(shared.next_conn.fetch_add(1, Ordering::Relaxed));
                conns.spawn(serve(shared.clone(), stream, id));
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            _ = shutdown.changed() => {}
        }
    }
    drop(listener);
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_millis(1500), drain)
        .await
        .is_err()
    {
        conns.shutdown().await;
    }
}

async fn timer_loop(shared: Arc<Shared>) {
    loop {
        if shared.stopped.load(Ordering::SeqCst) {
            break;
        }
        let next = shared.core().poll_timeout();
        let notified = shared.timer.notified();
        match next {
            Some(t) => {
                let wait = t.saturating_sub(now_ms());
                if wait > 0 {
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(wait)) => {}
                        () = notified => continue,
                    }
                }
            }
            None => {
                notified.await;
                continue;
            }
        }
        {
            shared.core().handle_timeout(now_ms());
        }
        shared.pump();
    }
}

// The signature is tungstenite's callback type.
#[allow(clippy::result_large_err)]
fn check_path(req: &Request, resp: Response) -> std::result::Result<Response, ErrorResponse> {
    if req.uri().path() == WS_PATH {
        Ok(resp)
    } else {
        let mut r = ErrorResponse::new(Some("not found".to_owned()));
        *r.status_mut() = StatusCode::NOT_FOUND;
        Err(r)
    }
}

async fn serve(shared: Arc<Shared>, stream: TcpStream, id: ConnId) {
    let config = WebSocketConfig::default()
        .max_message_size(Some(32 << 20))
        .max_frame_size(Some(32 << 20));
    let accepted = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::accept_hdr_async_with_config(stream, check_path, Some(config)),
    )
    .await;
    let Ok(Ok(ws)) = accepted else {
        return;
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    lock(&shared.conns).insert(id, tx);
    shared.with_core(|s, now| s.connect(id, now));
    let (mut sink, mut stream) = ws.split();
    loop {
        tokio::select! {
            msg = stream.next() => match msg {
                Some(Ok(Message::Binary(b))) => {
                    shared.with_core(|s, now| s.handle_data(id, now, &b));
                }
                Some(Ok(Message::Text(t))) => {
                    // WhatsApp speaks binary only; text is bytes the Noise layer will refuse.
                    shared.with_core(|s, now| s.handle_data(id, now, t.as_bytes()));
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
            },
            cmd = rx.recv() => match cmd {
                Some(Cmd::Send(data)) => {
                    if sink.send(Message::Binary(data.into())).await.is_err() {
                        break;
                    }
                }
                Some(Cmd::Close { abort }) => {
                    if !abort {
                        let _ = sink.send(Message::Close(None)).await;
                    }
                    break;
                }
                None => break,
            },
        }
    }
    lock(&shared.conns).remove(&id);
    shared.with_core(|s, now| s.disconnect(id, now));
}
