//! Handing stanzas to devices. Every stanza for a companion waits in the device's queue until
//! the device acknowledges it (an `<ack>`, or a `<receipt>` for a message), so a dropped
//! connection loses nothing: it is sent at once to an active connection, and again, marked
//! offline, at the next login. A stanza for a simulated phone becomes an
//! [`Effect::PhoneReceive`], which the dispatcher hands to the phone (`phone_ops`) once the
//! current handler has returned.

use wa_binary::Node;
use wa_vocab::S_WHATSAPP_NET;

use crate::nodes::attr;
use crate::state::{ConnId, DeviceAddr, Effect, Pending, State};

/// Hands a stanza to a device: to the phone (as an effect), to a companion through its queue
/// (sent now if it is online and active, kept until it acks).
pub(crate) fn deliver(
    state: &mut State,
    to: &DeviceAddr,
    class: &'static str,
    node: Node,
    now: u64,
) {
    if class == "message" {
        state.stats.messages_routed += 1;
    } else if class == "receipt" {
        state.stats.receipts_relayed += 1;
    }
    if state.silent.contains(to) {
        // A seeded device without a connection: routed, counted, dropped.
        return;
    }
    if to.device == 0 {
        state.effects.push_back(Effect::PhoneReceive {
            phone: to.clone(),
            class,
            node,
        });
        return;
    }
    let online = state
        .online
        .get(to)
        .copied()
        .filter(|c| state.is_active(*c));
    let pending = Pending {
        class,
        id: attr(&node, "id").unwrap_or_default(),
        from: attr(&node, "from").unwrap_or_default(),
        node: node.clone(),
        sent_on: online,
    };
    state
        .queues
        .entry(to.clone())
        .or_default()
        .push_back(pending);
    if let Some(conn) = online {
        state.send(conn, &node, now);
    }
}

/// Sends a device everything it has not taken yet, marked offline, then the offline count
/// that tells clients the backlog is done.
pub(crate) fn flush_offline(state: &mut State, conn: ConnId, addr: &DeviceAddr, now: u64) {
    let mut batch = Vec::new();
    if let Some(q) = state.queues.get_mut(addr) {
        for p in q.iter_mut().filter(|p| p.sent_on != Some(conn)) {
            p.sent_on = Some(conn);
            batch.push(p.node.clone().attr("offline", "1"));
        }
    }
    state.stats.offline_delivered += batch.len() as u64;
    let count = batch.len();
    for node in batch {
        state.send(conn, &node, now);
    }
    let ib = Node::new("ib")
        .attr("from", S_WHATSAPP_NET)
        .children(vec![Node::new("offline").attr("count", count.to_string())]);
    state.send(conn, &ib, now);
}

/// Removes what a device acknowledged from its queue.
pub(crate) fn take_pending(
    state: &mut State,
    addr: &DeviceAddr,
    class: &str,
    id: &str,
    from: Option<&str>,
) {
    let Some(q) = state.queues.get_mut(addr) else {
        return;
    };
    let pos = q
        .iter()
        .position(|p| p.class == class && p.id == id && from.is_none_or(|f| f == p.from))
        .or_else(|| q.iter().position(|p| p.class == class && p.id == id));
    if let Some(i) = pos {
        q.remove(i);
    }
    if q.is_empty() {
        state.queues.remove(addr);
    }
}
