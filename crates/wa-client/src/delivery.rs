//! Events out, and what waits for the app to have them.
//!
//! Some events stand for a stanza the server keeps until we answer it: a message (its
//! delivery receipt), a receipt (its ack). The answer is what makes the server forget the
//! stanza, so it must not go before the event is safe from a crash. A message is safe once
//! its inbox entry is stored (a crash before the app confirmed replays the entry at the next
//! login), so its receipt goes as it is emitted and its [`Delivery`] only closes the entry; a
//! receipt is kept nowhere else, so its ack travels in its `Delivery` and goes once the app
//! confirms. [`Events::recv`] confirms as it hands an event out (a Rust user has it once it is
//! taken); the binding takes [`Events::recv_pending`] and confirms after the JavaScript
//! listeners ran.
//!
//! A confirmed answer does not wake the connection's driver by itself: it waits in the
//! [`Outbox`] for the driver's next turn (the next frame in or command, which under traffic
//! comes within a fraction of a millisecond), or for the outbox's timer, started when the
//! first event with answers goes out and fired `Config::answer_delay` later. Waking the driver per
//! confirmation cost a thread wake-up per sent message (the phone's delivery receipt is
//! acked after the app had the status update), about a tenth of a sent text's CPU. Once the
//! timer has fired, confirmations wake the driver again until the next event with answers
//! restarts it, so a slow app's answer is not held.
//!
//! An answer the app need not see (the ack of a receipt with no news, see
//! `Client::answer_soon`) takes the same way, confirmed as it is queued.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use wa_binary::Node;

use crate::ctx::Command;
use crate::event::Event;
use crate::inbox::Inbox;

/// How long a confirmed answer may wait for the driver's next turn by default
/// (`Config::answer_delay`). The server forgets the stanza later by at most this much; a crash
/// in between leaves it to be delivered again, as a crash before the app confirmed does.
pub(crate) const ANSWER_DELAY: Duration = Duration::from_millis(25);

/// Answers the app confirmed, on their way to the socket.
#[derive(Debug)]
pub(crate) struct Outbox {
    state: Mutex<OutboxState>,
}

#[derive(Debug)]
struct OutboxState {
    nodes: Vec<Node>,
    /// A timer will take the nodes at the latest by its deadline.
    armed: bool,
    /// No timer covers a confirmation: it must wake the driver.
    eager: bool,
}

impl Default for Outbox {
    fn default() -> Self {
        Self {
            state: Mutex::new(OutboxState {
                nodes: Vec::new(),
                armed: false,
                eager: true,
            }),
        }
    }
}

impl Outbox {
    fn state(&self) -> std::sync::MutexGuard<'_, OutboxState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An event with answers goes out: true when the caller must start the timer (then
    /// calling [`Outbox::expire`] at its deadline).
    pub(crate) fn arm(&self) -> bool {
        let mut s = self.state();
        if s.armed {
            return false;
        }
        s.armed = true;
        s.eager = false;
        true
    }

    /// The timer's deadline: later confirmations wake the driver. True when nodes wait, so
    /// the driver must be woken now.
    pub(crate) fn expire(&self) -> bool {
        let mut s = self.state();
        s.armed = false;
        s.eager = true;
        !s.nodes.is_empty()
    }

    /// Queues confirmed answers; true when no timer will take them, so the driver must be
    /// woken.
    fn push(&self, nodes: Vec<Node>) -> bool {
        let mut s = self.state();
        s.nodes.extend(nodes);
        s.eager
    }

    /// What waits, for the driver to write.
    pub(crate) fn take(&self) -> Vec<Node> {
        let mut s = self.state();
        if s.nodes.is_empty() {
            return Vec::new();
        }
        std::mem::take(&mut s.nodes)
    }
}

/// What to do once the app has an event: answer the server, close the inbox entry.
#[must_use = "an unconfirmed delivery is replayed at the next login"]
pub struct Delivery {
    answers: Vec<Node>,
    outbox: Option<(Arc<Outbox>, mpsc::UnboundedSender<Box<Command>>)>,
    entry: Option<(Arc<Inbox>, u64)>,
}

impl Delivery {
    /// A delivery that answers the server through `outbox` once confirmed.
    pub(crate) fn answering(
        answers: Vec<Node>,
        outbox: Arc<Outbox>,
        cmd: mpsc::UnboundedSender<Box<Command>>,
    ) -> Self {
        Self {
            answers,
            outbox: Some((outbox, cmd)),
            entry: None,
        }
    }

    /// A delivery that closes inbox entry `seq` once confirmed.
    pub(crate) fn closing(inbox: Arc<Inbox>, seq: u64) -> Self {
        Self {
            answers: Vec::new(),
            outbox: None,
            entry: Some((inbox, seq)),
        }
    }

    /// The app has the event: the answers go to the server (at the driver's next turn, see
    /// the module's doc) and the inbox entry is done. Dropping a `Delivery` instead leaves
    /// both for the next login, which emits the event again.
    pub fn confirm(self) {
        if let Some((outbox, cmd)) = self.outbox
            && !self.answers.is_empty()
            && outbox.push(self.answers)
        {
            let _ = cmd.send(Box::new(Command::Answers));
        }
        if let Some((inbox, seq)) = self.entry {
            inbox.done(seq);
        }
    }
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("answers", &self.answers.len())
            .field("entry", &self.entry.as_ref().map(|(_, s)| *s))
            .finish()
    }
}

/// One event on its way out, with what waits for it.
pub(crate) struct Envelope {
    pub event: Event,
    pub delivery: Option<Delivery>,
}

/// The events of a connection; ends after the close event.
pub struct Events {
    rx: mpsc::UnboundedReceiver<Box<Envelope>>,
}

/// Why [`Events::try_recv`] returned nothing.
pub use tokio::sync::mpsc::error::TryRecvError;

impl Events {
    pub(crate) fn new(rx: mpsc::UnboundedReceiver<Box<Envelope>>) -> Self {
        Self { rx }
    }

    /// The next event; taking it confirms its delivery.
    pub async fn recv(&mut self) -> Option<Event> {
        let e = self.rx.recv().await?;
        Some(confirmed(*e))
    }

    /// The next event if one is waiting; taking it confirms its delivery.
    pub fn try_recv(&mut self) -> Result<Event, TryRecvError> {
        self.rx.try_recv().map(|e| confirmed(*e))
    }

    /// The next event and, when something waits for it, the [`Delivery`] to confirm once the
    /// app has really handled it.
    pub async fn recv_pending(&mut self) -> Option<(Event, Option<Delivery>)> {
        let e = self.rx.recv().await?;
        Some((e.event, e.delivery))
    }

    /// [`Events::recv_pending`] without waiting.
    pub fn try_recv_pending(&mut self) -> Result<(Event, Option<Delivery>), TryRecvError> {
        self.rx.try_recv().map(|e| (e.event, e.delivery))
    }
}

fn confirmed(e: Envelope) -> Event {
    if let Some(d) = e.delivery {
        d.confirm();
    }
    e.event
}
