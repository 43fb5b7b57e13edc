//! The shared context every feature works through: the handle ([`Client`]), the commands it
//! sends to the connection driver, events out, IQs, our own identity, and the stores. Feature
//! modules add `impl Client` blocks of their own on top of this one.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;
use wa_binary::{Jid, Node};
use wa_signal::SignalProtocol;
use wa_store::{AuthenticationCreds, KeyStore};

use crate::config::Config;
use crate::delivery::{Delivery, Envelope, Events, Outbox};
use crate::devices::DeviceCache;
use crate::error::{ClientError, Disconnect};
use crate::event::{CredsField, Event, creds_update};
use crate::inbox::Inbox;
use crate::lid::LidMappings;
use crate::retry::RetryState;
use crate::send::order::Lanes;
use crate::signal_store::KeyStoreSignal;
use crate::testhook::{self, CrashPoint};

/// Credentials shared by the state machine and the features.
pub type SharedCreds = Arc<Mutex<AuthenticationCreds>>;

/// Locks the credentials; a panic elsewhere never makes them unusable.
pub fn lock(creds: &SharedCreds) -> MutexGuard<'_, AuthenticationCreds> {
    creds.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Milliseconds since the Unix epoch (the one clock of the runtime layer).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Where the server's ack of a sent node arrives.
pub(crate) type AckWait = oneshot::Receiver<Result<Node, ClientError>>;

/// Where the outcome of writing a node arrives.
pub(crate) type SendWait = oneshot::Receiver<Result<(), ClientError>>;

/// What a handle asks of the connection driver.
pub(crate) enum Command {
    Send(Node, oneshot::Sender<Result<(), ClientError>>),
    Query(
        Node,
        Option<u64>,
        oneshot::Sender<Result<Node, ClientError>>,
    ),
    /// Sends a node whose id the server acks (a message) and waits for that ack.
    SendAwaitAck(Node, oneshot::Sender<Result<Node, ClientError>>),
    /// Closes, after writing a last node if given. One command, so that the server ending the
    /// stream in answer to that node cannot be seen before the close that explains it.
    Close(Disconnect, Option<Node>),
    /// Confirmed answers wait in the outbox and no timer will take them: write them now.
    Answers,
}

/// Our own account: the phone-number device JID and, once known, the LID device JID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Own {
    pub pn: Jid,
    pub lid: Option<Jid>,
}

impl Own {
    /// Whether `jid` is one of our account's addresses (any device, PN or LID).
    pub fn is_me(&self, jid: &Jid) -> bool {
        jid.user == self.pn.user || self.lid.as_ref().is_some_and(|l| l.user == jid.user)
    }

    /// Our own device in the addressing space of `chat` (LID chats see our LID device).
    pub fn device_for(&self, chat: &Jid) -> &Jid {
        match &self.lid {
            Some(l) if chat.is_lid() => l,
            _ => &self.pn,
        }
    }
}

/// `creds.me`'s id and LID, and what they parse to.
type ParsedMe = (String, Option<String>, Arc<Own>);

pub(crate) struct Shared {
    pub config: Config,
    pub creds: SharedCreds,
    pub keys: Arc<dyn KeyStore>,
    pub signal: SignalProtocol<KeyStoreSignal>,
    pub devices: DeviceCache,
    /// Group metadata for sends (bounded).
    pub groups: crate::groups::GroupCache,
    pub lids: LidMappings,
    /// Call order of sends, per chat.
    pub lanes: Lanes,
    pub retry: RetryState,
    /// The cached `media_conn`.
    pub media: crate::media::MediaState,
    /// What the presence feature remembers (the privacy settings).
    pub presence: crate::presence::Memory,
    /// Serialises prekey uploads (post-login and refills may overlap).
    pub prekeys: tokio::sync::Mutex<()>,
    /// This connection among every connection of the process (the inbox tells what it handed
    /// to whom).
    pub conn: u64,
    /// The account's inbox, once we know who we are.
    inbox: OnceLock<Arc<Inbox>>,
    /// `creds.me` parsed, with the id and LID it was parsed from ([`Client::me`], once per
    /// message each way).
    own: Mutex<Option<ParsedMe>>,
    // Channels carry boxes: a tokio channel allocates its first block of 32 slots up front,
    // and at these enums' sizes (80-170 bytes) the three blocks were ~13 KB per idle socket.
    cmd: mpsc::UnboundedSender<Box<Command>>,
    events: mpsc::UnboundedSender<Box<Envelope>>,
    /// Answers the app confirmed, written at the driver's next turn.
    pub outbox: Arc<Outbox>,
    closed: AtomicBool,
    span: tracing::Span,
}

/// A handle on one connection. Cheap to clone; every clone talks to the same connection.
/// One `Client` is one connection attempt, as one Baileys socket is: after it closes, make a
/// new one with the same credentials and keys.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Shared>,
}

impl Client {
    /// Starts connecting. Events (starting with `connection: Connecting`) arrive on the
    /// returned receiver. The connection's tasks run inside the caller's current `tracing`
    /// span, so a caller can tell the logs of several connections apart.
    pub fn connect(
        config: Config,
        creds: AuthenticationCreds,
        keys: Arc<dyn KeyStore>,
    ) -> (Client, Events) {
        let creds: SharedCreds = Arc::new(Mutex::new(creds));
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let span = tracing::info_span!("wa_client");
        let inner = Arc::new(Shared {
            signal: SignalProtocol::new(KeyStoreSignal::new(keys.clone(), creds.clone())),
            lids: LidMappings::new(keys.clone(), None),
            config,
            creds,
            keys,
            devices: DeviceCache::default(),
            groups: crate::groups::GroupCache::default(),
            lanes: Lanes::default(),
            retry: RetryState::default(),
            media: Default::default(),
            presence: crate::presence::Memory::default(),
            prekeys: tokio::sync::Mutex::new(()),
            conn: {
                static NEXT: AtomicU64 = AtomicU64::new(1);
                NEXT.fetch_add(1, Ordering::Relaxed)
            },
            inbox: OnceLock::new(),
            own: Mutex::new(None),
            cmd: cmd_tx,
            events: ev_tx,
            outbox: Arc::default(),
            closed: AtomicBool::new(false),
            span: span.clone(),
        });
        let client = Client { inner };
        let (work_tx, work_rx) = mpsc::unbounded_channel();
        let runner = client.inner.config.runner.as_ref();
        crate::runner::spawn(
            runner,
            crate::transport::drive(client.clone(), cmd_rx, work_tx).instrument(span.clone()),
        );
        crate::runner::spawn(
            runner,
            crate::recv::work(client.clone(), work_rx).instrument(span),
        );
        (client, Events::new(ev_rx))
    }

    /// Runs `fut` as a task of this connection (inside its span).
    pub(crate) fn spawn<F>(&self, fut: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        crate::runner::spawn(
            self.inner.config.runner.as_ref(),
            fut.instrument(self.inner.span.clone()),
        );
    }

    /// A copy of the current credentials.
    pub fn creds(&self) -> AuthenticationCreds {
        lock(&self.inner.creds).clone()
    }

    /// The key store this connection uses.
    pub fn key_store(&self) -> &Arc<dyn KeyStore> {
        &self.inner.keys
    }

    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::SeqCst)
    }

    pub(crate) fn mark_closed(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
    }

    pub(crate) fn config(&self) -> &Config {
        &self.inner.config
    }

    pub(crate) fn emit(&self, e: Event) {
        let _ = self.inner.events.send(Box::new(Envelope {
            event: e,
            delivery: None,
        }));
    }

    /// Emits an event whose `answers` go to the server only once the app confirmed it (see
    /// `delivery`): for stanzas nothing but the server keeps (a receipt's ack).
    pub(crate) fn emit_then(&self, e: Event, answers: Vec<Node>) {
        let outbox = self.armed_outbox();
        let delivery = Delivery::answering(answers, outbox, self.inner.cmd.clone());
        let _ = self.inner.events.send(Box::new(Envelope {
            event: e,
            delivery: Some(delivery),
        }));
    }

    /// Answers a stanza the app has no event for (a receipt with no news for it, such as the
    /// `sender` receipt our own phone sends for every message we send) through the outbox:
    /// written with the driver's next write, or by the outbox's deadline. Written at once,
    /// it was a system call of its own per message sent, a moment before the next message
    /// went out.
    pub(crate) fn answer_soon(&self, answer: Node) {
        let outbox = self.armed_outbox();
        Delivery::answering(vec![answer], outbox, self.inner.cmd.clone()).confirm();
    }

    /// The outbox, its timer started if none runs: the deadline by which a confirmed answer
    /// is written even if the driver has nothing else to do (see `delivery`).
    fn armed_outbox(&self) -> Arc<Outbox> {
        let outbox = self.inner.outbox.clone();
        if outbox.arm() {
            let (outbox, cmd) = (outbox.clone(), self.inner.cmd.clone());
            let delay = self.config().answer_delay;
            self.spawn(async move {
                tokio::time::sleep(delay).await;
                if outbox.expire() {
                    let _ = cmd.send(Box::new(Command::Answers));
                }
            });
        }
        outbox
    }

    /// Emits the event of inbox entry `seq` and answers the server at once with `receipt`.
    ///
    /// The entry is stored, so the receipt need not wait for the app: a crash before the app
    /// confirmed is covered by the next login replaying the entry, and the server may forget
    /// the stanza now (Baileys receipts before it emits, too). Not waiting saves the worker
    /// a wake-up per message: the app's confirmation only closes the entry.
    pub(crate) fn emit_received(&self, e: Event, receipt: Node, inbox: Arc<Inbox>, seq: u64) {
        // The receipt is queued first: the driver then writes it before the app's listeners
        // run (on Node's loop both are tasks of one thread, polled in the order woken), so the
        // server hears back without waiting for the app.
        let written = self.enqueue_send(receipt);
        let delivery = Delivery::closing(inbox, seq);
        let _ = self.inner.events.send(Box::new(Envelope {
            event: e,
            delivery: Some(delivery),
        }));
        let Ok(written) = written else {
            // Closed: the server delivers the message again to the next connection, which
            // answers it from the inbox.
            return;
        };
        if testhook::armed(CrashPoint::Receipted) {
            // The kill point "after the receipt" means after it reached the socket.
            std::thread::spawn(move || {
                if let Ok(Ok(())) = written.blocking_recv() {
                    testhook::reached(CrashPoint::Receipted);
                }
            });
        }
    }

    /// The account's inbox; an error before pairing.
    pub(crate) fn inbox(&self) -> Result<Arc<Inbox>, ClientError> {
        if let Some(i) = self.inner.inbox.get() {
            return Ok(i.clone());
        }
        let account = self.me()?.pn.to_string();
        let i = Inbox::for_account(&account, &self.inner.keys);
        Ok(self.inner.inbox.get_or_init(|| i).clone())
    }

    /// Applies `change` to the credentials and tells the app which fields changed.
    pub(crate) fn update_creds(
        &self,
        fields: &[CredsField],
        change: impl FnOnce(&mut AuthenticationCreds),
    ) {
        let update = {
            let mut c = lock(&self.inner.creds);
            change(&mut c);
            creds_update(&c, fields)
        };
        self.emit(Event::Creds(update));
    }

    fn command(&self, c: Command) -> Result<(), ClientError> {
        self.inner
            .cmd
            .send(Box::new(c))
            .map_err(|_| ClientError::closed())
    }

    /// Sends a node without waiting for an answer (Baileys' `sendNode`).
    pub async fn send_node(&self, node: Node) -> Result<(), ClientError> {
        let (tx, rx) = oneshot::channel();
        self.command(Command::Send(node, tx))?;
        rx.await.unwrap_or_else(|_| Err(ClientError::closed()))
    }

    /// Hands a node to the driver now (in call order with every other command) and returns
    /// where the outcome of writing it arrives: for sends whose order the caller fixes
    /// synchronously (chat states, receipts).
    pub(crate) fn enqueue_send(&self, node: Node) -> Result<SendWait, ClientError> {
        let (tx, rx) = oneshot::channel();
        self.command(Command::Send(node, tx))?;
        Ok(rx)
    }

    /// Sends an IQ and waits for its result (Baileys' `query`); an `<error>` answer is an error.
    pub async fn query(&self, node: Node, timeout: Option<Duration>) -> Result<Node, ClientError> {
        let (tx, rx) = oneshot::channel();
        let ms = timeout.map(|d| d.as_millis() as u64);
        self.command(Command::Query(node, ms, tx))?;
        rx.await.unwrap_or_else(|_| Err(ClientError::closed()))
    }

    /// Sends a node the server acknowledges by id (a message) and waits for the `<ack>`; an ack
    /// carrying an `error` is an error.
    pub(crate) async fn send_await_ack(&self, node: Node) -> Result<Node, ClientError> {
        let ack = self.enqueue_await_ack(node)?;
        Self::ack(ack).await
    }

    /// Hands a node to the driver (in order with every other command) and returns where its
    /// `<ack>` will arrive.
    pub(crate) fn enqueue_await_ack(&self, node: Node) -> Result<AckWait, ClientError> {
        let (tx, rx) = oneshot::channel();
        self.command(Command::SendAwaitAck(node, tx))?;
        Ok(rx)
    }

    /// The server's `<ack>` of a node sent with [`Client::enqueue_await_ack`]; an ack carrying
    /// an `error` is an error.
    pub(crate) async fn ack(rx: AckWait) -> Result<Node, ClientError> {
        let ack = rx.await.unwrap_or_else(|_| Err(ClientError::closed()))?;
        match ack.get_attr("error") {
            Some(e) => Err(ClientError::Server {
                code: e.parse().unwrap_or(500),
                text: format!("refused by the server ({e})"),
            }),
            None => Ok(ack),
        }
    }

    /// Closes, writing `farewell` first if given.
    pub(crate) fn close_with(&self, why: Disconnect, farewell: Option<Node>) {
        let _ = self.command(Command::Close(why, farewell));
    }

    /// Closes the connection (Baileys' `end`).
    pub fn end(&self, why: Option<Disconnect>) {
        self.close_with(why.unwrap_or_else(Disconnect::closed), None);
    }

    /// Our own account's addresses; an error before pairing.
    pub fn me(&self) -> Result<Arc<Own>, ClientError> {
        let c = lock(&self.inner.creds);
        let me = c.me.as_ref().ok_or(ClientError::NotLoggedIn)?;
        let mut cached = self
            .inner
            .own
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((id, lid, own)) = &*cached
            && *id == me.id
            && *lid == me.lid
        {
            return Ok(own.clone());
        }
        let pn =
            Jid::parse(&me.id).map_err(|e| ClientError::Protocol(format!("creds.me.id: {e}")))?;
        let lid = me.lid.as_deref().and_then(|l| Jid::parse(l).ok());
        let own = Arc::new(Own { pn, lid });
        *cached = Some((me.id.clone(), me.lid.clone(), own.clone()));
        Ok(own)
    }
}
