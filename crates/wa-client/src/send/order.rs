//! Call order per chat: messages to one chat go on the wire in the order `send_message` was
//! called, whether or not the caller awaited each send; different chats do not wait for each
//! other.
//!
//! A send takes a ticket for its chat when it is called (synchronously, before any await),
//! waits for its turn, encrypts and hands its stanza to the connection driver (whose command
//! channel keeps order), then lets the next ticket go. The server's ack is awaited after the
//! turn is over, so sends to one chat still pipeline.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

#[derive(Default)]
struct LaneState {
    /// The ticket whose turn it is.
    serving: u64,
    /// The next ticket to hand out.
    next: u64,
    /// Tickets waiting for their turn.
    waiters: BTreeMap<u64, oneshot::Sender<()>>,
    /// Tickets given up before their turn (a dropped send).
    abandoned: BTreeSet<u64>,
}

#[derive(Default)]
struct Lane {
    state: Mutex<LaneState>,
}

impl Lane {
    fn lock(&self) -> MutexGuard<'_, LaneState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The lanes of a connection, one per chat with a send in progress.
#[derive(Default, Clone)]
pub(crate) struct Lanes {
    map: Arc<Mutex<HashMap<String, Arc<Lane>>>>,
}

impl Lanes {
    /// Takes the next ticket of `chat`'s lane.
    pub fn ticket(&self, chat: &str) -> Ticket {
        let lane = self
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(chat.to_owned())
            .or_default()
            .clone();
        let n = {
            let mut s = lane.lock();
            let n = s.next;
            s.next += 1;
            n
        };
        Ticket {
            lanes: self.clone(),
            chat: chat.to_owned(),
            lane: Some(lane),
            n,
        }
    }

    /// Moves `lane` past the current ticket (and any given up after it), wakes the next one,
    /// and forgets the lane once nothing is queued on it.
    fn advance(&self, chat: &str, lane: &Arc<Lane>) {
        let idle = {
            let mut s = lane.lock();
            loop {
                s.serving += 1;
                let serving = s.serving;
                if s.abandoned.remove(&serving) {
                    continue;
                }
                match s.waiters.remove(&serving) {
                    // The waiter left meanwhile: its turn passes too.
                    Some(tx) => {
                        if tx.send(()).is_err() {
                            continue;
                        }
                        break;
                    }
                    None => break,
                }
            }
            s.serving == s.next
        };
        if idle {
            let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
            // Recheck under the map lock: a new ticket may have been taken since.
            if map.get(chat).is_some_and(|l| Arc::ptr_eq(l, lane)) && {
                let s = lane.lock();
                s.serving == s.next
            } {
                map.remove(chat);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// A place in a chat's order.
pub(crate) struct Ticket {
    lanes: Lanes,
    chat: String,
    lane: Option<Arc<Lane>>,
    n: u64,
}

impl Ticket {
    /// Waits for this ticket's turn.
    pub async fn turn(mut self) -> Turn {
        let Some(lane) = self.lane.take() else {
            unreachable!("a ticket's lane is taken only here")
        };
        let chat = std::mem::take(&mut self.chat);
        let wait = {
            let mut s = lane.lock();
            if s.serving == self.n {
                None
            } else {
                let (tx, rx) = oneshot::channel();
                s.waiters.insert(self.n, tx);
                Some(rx)
            }
        };
        if let Some(rx) = wait {
            // Cancelled while waiting, the guard gives the place up (or passes the turn on if
            // it had just been handed to us).
            let guard = Place {
                lanes: self.lanes.clone(),
                chat: chat.clone(),
                lane: lane.clone(),
                n: self.n,
            };
            // The sender is only dropped by `advance` handing us the turn.
            let _ = rx.await;
            std::mem::forget(guard);
        }
        Turn {
            lanes: self.lanes.clone(),
            chat,
            lane,
        }
    }
}

/// Leaves a lane whose turn was waited for but never taken.
fn leave(lanes: &Lanes, chat: &str, lane: &Arc<Lane>, n: u64) {
    let current = {
        let mut s = lane.lock();
        s.waiters.remove(&n);
        if s.serving == n {
            true
        } else {
            s.abandoned.insert(n);
            false
        }
    };
    if current {
        lanes.advance(chat, lane);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        // A ticket dropped before waiting (its send was cancelled): let the lane skip it.
        if let Some(lane) = self.lane.take() {
            leave(&self.lanes, &self.chat, &lane, self.n);
        }
    }
}

/// A ticket waiting for its turn.
struct Place {
    lanes: Lanes,
    chat: String,
    lane: Arc<Lane>,
    n: u64,
}

impl Drop for Place {
    fn drop(&mut self) {
        leave(&self.lanes, &self.chat, &self.lane, self.n);
    }
}

/// The turn of a send: the next send to the chat starts when it is dropped.
pub(crate) struct Turn {
    lanes: Lanes,
    chat: String,
    lane: Arc<Lane>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.lanes.advance(&self.chat, &self.lane);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn turns_follow_ticket_order_whatever_the_polling_order() {
        let lanes = Lanes::default();
        let log = Arc::new(Mutex::new(Vec::new()));
        let tickets: Vec<Ticket> = (0..50).map(|_| lanes.ticket("chat")).collect();
        let mut tasks = Vec::new();
        // Spawned in reverse: the last ticket is polled first.
        for (i, t) in tickets.into_iter().enumerate().rev() {
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                let turn = t.turn().await;
                log.lock().unwrap().push(i);
                tokio::task::yield_now().await;
                drop(turn);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*log.lock().unwrap(), (0..50).collect::<Vec<_>>());
        assert_eq!(lanes.len(), 0, "an idle lane is forgotten");
    }

    #[tokio::test]
    async fn chats_do_not_wait_for_each_other_and_dropped_tickets_are_skipped() {
        let lanes = Lanes::default();
        let a0 = lanes.ticket("a");
        let _a1 = lanes.ticket("a");
        let a2 = lanes.ticket("a");
        // Chat b goes at once although a's first send holds its turn.
        let held = a0.turn().await;
        let b = tokio::time::timeout(std::time::Duration::from_secs(1), lanes.ticket("b").turn());
        assert!(b.await.is_ok());
        // a1 is dropped without waiting: a2 gets the turn after a0.
        drop(_a1);
        drop(held);
        let a2 = tokio::time::timeout(std::time::Duration::from_secs(1), a2.turn());
        let a2 = a2.await.expect("a2's turn");
        // A send cancelled while it waits gives its place up.
        let a3 = lanes.ticket("a");
        let a4 = lanes.ticket("a");
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(20), a3.turn());
        assert!(waiting.await.is_err(), "a3 waits while a2 holds the turn");
        drop(a2);
        let a4 = tokio::time::timeout(std::time::Duration::from_secs(1), a4.turn());
        assert!(a4.await.is_ok(), "the cancelled a3 does not block a4");
    }
}
