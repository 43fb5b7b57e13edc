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

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use wa_binary::Node;

use crate::ctx::Command;
use crate::event::Event;
use crate::inbox::Inbox;

/// What to do once the app has an event: answer the server, close the inbox entry.
#[must_use = "an unconfirmed delivery is replayed at the next login"]
pub struct Delivery {
    answers: Vec<Node>,
    cmd: mpsc::UnboundedSender<Box<Command>>,
    entry: Option<(Arc<Inbox>, u64)>,
}

impl Delivery {
    pub(crate) fn new(
        answers: Vec<Node>,
        cmd: mpsc::UnboundedSender<Box<Command>>,
        entry: Option<(Arc<Inbox>, u64)>,
    ) -> Self {
        Self {
            answers,
            cmd,
            entry,
        }
    }

    /// The app has the event: the answers go to the server (in order with everything else
    /// the connection writes) and the inbox entry is done. Dropping a `Delivery` instead
    /// leaves both for the next login, which emits the event again.
    pub fn confirm(self) {
        for node in self.answers {
            let (tx, _) = oneshot::channel();
            let _ = self.cmd.send(Box::new(Command::Send(node, tx)));
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
