//! Presence as WhatsApp routes it: `<presence type=subscribe to>` records a subscription and
//! answers with the contact's current availability; `<presence type=available|unavailable>`
//! changes a device's availability (an account is available while one of its online devices
//! says so) and tells every subscriber when the account's availability changes, with `last`
//! (seconds) once it went away; a device that disconnects stops counting as available.
//! `<chatstate to>` (typing, recording, paused) goes to the other account's active devices,
//! `from` its user JID in the addressing the sender used.

use wa_binary::{Jid, Node};

use crate::state::{ConnId, DeviceAddr, State};

/// `<presence>`: availability, or a subscription to someone's.
pub(crate) fn on_presence(state: &mut State, addr: &DeviceAddr, node: &Node, now: u64) {
    match node.get_attr("type") {
        Some("subscribe") => {
            let Some(to) = node.get_attr("to").and_then(|t| Jid::parse(t).ok()) else {
                return;
            };
            let Some(target) = state.account_of(&to).map(|a| a.number.clone()) else {
                return;
            };
            state
                .subscribers
                .entry(target.clone())
                .or_default()
                .insert(addr.clone());
            let presence = presence_of(state, &target, to.is_lid());
            if let Some(conn) = state.online.get(addr).copied() {
                state.send(conn, &presence, now);
            }
        }
        Some(t @ ("available" | "unavailable")) => {
            let available = t == "available";
            let before = is_available(state, &addr.number);
            state.presence.insert(addr.clone(), available);
            if available
                && let Some(name) = node.get_attr("name")
                && !name.is_empty()
                && let Some(a) = state.accounts.get_mut(&addr.number)
            {
                a.push_name = name.to_owned();
            }
            changed(state, &addr.number, before, now);
        }
        _ => {}
    }
}

/// A logged-in device went offline: it no longer counts as available, and subscribers hear
/// when that made the account unavailable.
pub(crate) fn on_device_gone(state: &mut State, addr: &DeviceAddr, now: u64) {
    if state.online.contains_key(addr) {
        // Logged in again meanwhile.
        return;
    }
    let Some(was) = state.presence.remove(addr) else {
        return;
    };
    // Availability counts online devices only: the account was available before this device
    // went if it said so, or if another online device still does.
    let before = was || is_available(state, &addr.number);
    changed(state, &addr.number, before, now);
}

/// Tells the subscribers when the account's availability changed (`before` -> now).
fn changed(state: &mut State, number: &str, before: bool, now: u64) {
    let after = is_available(state, number);
    if before == after {
        return;
    }
    if !after {
        state.last_seen.insert(number.to_owned(), now / 1000);
    }
    publish_presence(state, number, now);
}

fn is_available(state: &State, number: &str) -> bool {
    state
        .presence
        .iter()
        .any(|(d, a)| *a && d.number == number && state.online.contains_key(d))
}

/// An account is available while one of its online companions says so.
fn presence_of(state: &State, number: &str, lid: bool) -> Node {
    let available = is_available(state, number);
    let user = state
        .accounts
        .get(number)
        .map(|a| if lid { a.lid_jid() } else { a.pn_jid() })
        .unwrap_or_default();
    let mut n = Node::new("presence").attr("from", user);
    if available {
        n = n.attr("type", "available");
    } else {
        n = n.attr("type", "unavailable");
        if let Some(last) = state.last_seen.get(number) {
            n = n.attr("last", last.to_string());
        }
    }
    n
}

fn publish_presence(state: &mut State, number: &str, now: u64) {
    let subs: Vec<DeviceAddr> = state
        .subscribers
        .get(number)
        .map(|s| s.iter().cloned().collect())
        .unwrap_or_default();
    let node = presence_of(state, number, false);
    for s in subs {
        if let Some(conn) = state.online.get(&s).copied() {
            state.send(conn, &node, now);
        }
    }
}

/// `<chatstate to>`: typing and recording, passed to the other user's online devices.
pub(crate) fn on_chatstate(state: &mut State, addr: &DeviceAddr, node: &Node, now: u64) {
    let Some(to) = node.get_attr("to").and_then(|t| Jid::parse(t).ok()) else {
        return;
    };
    let Some(target) = state.account_of(&to).map(|a| a.number.clone()) else {
        return;
    };
    let from = if to.is_lid() {
        state.accounts.get(&addr.number).map(|a| a.lid_jid())
    } else {
        state.accounts.get(&addr.number).map(|a| a.pn_jid())
    };
    let Some(from) = from else {
        return;
    };
    let out = Node::new("chatstate").attr("from", from).children(
        node.child_nodes()
            .iter()
            .map(|c| Node {
                tag: c.tag.clone(),
                attrs: c.attrs.clone(),
                content: wa_binary::Content::None,
            })
            .collect(),
    );
    let conns: Vec<ConnId> = state
        .online
        .iter()
        .filter(|(d, c)| d.number == target && **d != *addr && state.is_active(**c))
        .map(|(_, c)| *c)
        .collect();
    for c in conns {
        state.send(c, &out, now);
    }
}
