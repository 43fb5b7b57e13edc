//! Message routing: fan-out of a client's `<message>` to the addressed devices (through
//! `delivery`), the server ack, duplicates, receipts relayed to the device that sent the
//! message, acks that take stanzas off a device's queue. Presence and chat states: `presence`.

use wa_binary::{Jid, Node};

use crate::delivery::{deliver, take_pending};
use crate::nodes::attr;
use crate::state::{ConnId, DeviceAddr, SentRecord, State};

/// Attributes of a client's `<message>` that travel on to the recipients.
const PASSED_ATTRS: [&str; 5] = ["type", "edit", "category", "push_priority", "expiration"];

/// Negative ack for a message to a user the server does not know (smax-invalid, as the
/// server refuses stanzas it cannot address).
pub const NACK_UNKNOWN_RECIPIENT: &str = "479";
/// Negative ack for a stanza the test server does not route (broadcast lists).
pub const NACK_UNSUPPORTED: &str = "501";
/// Negative ack for a malformed stanza.
pub const NACK_BAD_REQUEST: &str = "400";

fn message_ack(id: &str, from: &str, t: u64, error: Option<&str>) -> Node {
    let mut n = Node::new("ack")
        .attr("class", "message")
        .attr("id", id.to_owned())
        .attr("from", from.to_owned())
        .attr("t", t.to_string());
    if let Some(e) = error {
        n = n.attr("error", e.to_owned());
    }
    n
}

/// `<ack>` from a client: it took a stanza.
pub(crate) fn on_ack(state: &mut State, addr: &DeviceAddr, node: &Node) {
    let (Some(id), Some(class)) = (node.get_attr("id"), node.get_attr("class")) else {
        return;
    };
    let class = match class {
        "message" => "message",
        "receipt" => "receipt",
        "notification" => "notification",
        _ => return,
    };
    let id = id.to_owned();
    let to = attr(node, "to");
    take_pending(state, addr, class, &id, to.as_deref());
}

/// A client's `<message>`: fan out, queue, ack.
pub(crate) fn on_message(
    state: &mut State,
    conn: ConnId,
    sender: &DeviceAddr,
    node: &Node,
    now: u64,
) {
    state.stats.messages_received += 1;
    let t = now / 1000;
    let Some(id) = attr(node, "id") else {
        return;
    };
    let to = attr(node, "to").unwrap_or_default();
    let Ok(to_jid) = Jid::parse(&to) else {
        state.send(conn, &message_ack(&id, &to, t, Some(NACK_BAD_REQUEST)), now);
        return;
    };
    if to_jid.is_group() || to_jid.is_status_broadcast() {
        if let Err(code) = crate::groups::route_message(state, conn, sender, node, &to_jid, now) {
            state.send(conn, &message_ack(&id, &to, t, Some(code)), now);
        }
        return;
    }
    if to_jid.is_newsletter() {
        if let Err(code) =
            crate::newsletters::route_message(state, conn, sender, node, &to_jid, now)
        {
            state.send(conn, &message_ack(&id, &to, t, Some(code)), now);
        }
        return;
    }
    if to_jid.is_broadcast() {
        state.send(conn, &message_ack(&id, &to, t, Some(NACK_UNSUPPORTED)), now);
        return;
    }
    let Some(chat) = state.account_of(&to_jid).map(|a| a.number.clone()) else {
        state.send(
            conn,
            &message_ack(&id, &to, t, Some(NACK_UNKNOWN_RECIPIENT)),
            now,
        );
        return;
    };
    // Fan-out (`<participants><to jid>`) or one direct `<enc>` for the device `to` names (a
    // retry resend or a peer message).
    let mut targets: Vec<(String, Node)> = Vec::new();
    let direct = node.child("participants").is_none();
    if let Some(parts) = node.child("participants") {
        for p in parts.children_by_tag("to") {
            if let (Some(jid), Some(enc)) = (p.get_attr("jid"), p.child("enc")) {
                targets.push((jid.to_owned(), enc.clone()));
            }
        }
    } else if let Some(enc) = node.child("enc") {
        targets.push((to.clone(), enc.clone()));
    }
    let key = (sender.number.clone(), id.clone());
    if !direct && let Some(prev) = state.sent.get(&key) {
        // The same message again (a client resending after a lost ack): WhatsApp acks it
        // and does not deliver it twice.
        state.stats.duplicates += 1;
        let t = prev.t;
        state.send(conn, &message_ack(&id, &to, t, None), now);
        return;
    }
    // Recorded before the fan-out: a phone answers with its receipt at once.
    state.sent.entry(key).or_insert(SentRecord {
        sender: sender.clone(),
        t,
    });
    state.send(conn, &message_ack(&id, &to, t, None), now);
    let lid_mode = to_jid.is_lid();
    let device_identity = node.child("device-identity").cloned();
    let sender_account = state.accounts.get(&sender.number);
    let push_name = sender_account.map(|a| a.push_name.clone());
    let sender_lid = sender_account.map(|a| a.lid_jid());
    let sender_pn = sender_account.map(|a| a.pn_jid());
    let chat_alt = state
        .accounts
        .get(&chat)
        .map(|a| if lid_mode { a.pn_jid() } else { a.lid_jid() });
    let chat_user = Jid::new(to_jid.user.clone(), to_jid.server.clone()).to_string();
    let from = state.jid_of(sender, lid_mode);
    for (jid, enc) in targets {
        let Some(device) = state.device_of(&jid) else {
            continue;
        };
        if device == *sender || (device.number != chat && device.number != sender.number) {
            continue;
        }
        let own = device.number == sender.number;
        let mut m = Node::new("message")
            .attr("from", from.clone())
            .attr("id", id.clone());
        for a in PASSED_ATTRS {
            if let Some(v) = node.get_attr(a) {
                m = m.attr(a, v.to_owned());
            }
        }
        if node.get_attr("type").is_none() {
            m = m.attr("type", "text");
        }
        m = m.attr("t", t.to_string());
        if own {
            // A copy for one of the sender's own devices: it names the chat it went to.
            let recipient = if direct {
                attr(node, "recipient")
            } else if chat != sender.number {
                Some(chat_user.clone())
            } else {
                None
            };
            if let Some(r) = recipient {
                m = m.attr("recipient", r);
                if chat != sender.number
                    && let Some(alt) = &chat_alt
                {
                    let key = if lid_mode {
                        "peer_recipient_pn"
                    } else {
                        "peer_recipient_lid"
                    };
                    m = m.attr(key, alt.clone());
                }
            }
        } else {
            if let Some(p) = &push_name {
                m = m.attr("notify", p.clone());
            }
            let alt = if lid_mode {
                sender_pn.clone().map(|v| ("sender_pn", v))
            } else {
                sender_lid.clone().map(|v| ("sender_lid", v))
            };
            if let Some((k, v)) = alt {
                m = m.attr(k, v);
            }
        }
        let pkmsg = enc.get_attr("type") == Some("pkmsg");
        let mut children = vec![enc];
        if pkmsg && let Some(d) = &device_identity {
            children.push(d.clone());
        }
        deliver(state, &device, "message", m.children(children), now);
    }
}

/// A client's `<receipt>`: it acknowledges what was delivered to it, and travels on to the
/// device that sent the message.
pub(crate) fn on_receipt(
    state: &mut State,
    conn: ConnId,
    addr: &DeviceAddr,
    node: &Node,
    now: u64,
) {
    let Some(id) = attr(node, "id") else {
        return;
    };
    let kind = attr(node, "type");
    let to = attr(node, "to");
    if to
        .as_deref()
        .and_then(|t| Jid::parse(t).ok())
        .is_some_and(|j| j.is_newsletter())
    {
        // Views of channel posts: counted, never relayed (posts have no sending device to
        // tell).
        crate::newsletters::on_receipt(state, conn, addr, node, now);
        return;
    }
    let mut ids = vec![id.clone()];
    if let Some(list) = node.child("list") {
        ids.extend(list.children_by_tag("item").filter_map(|i| attr(i, "id")));
    }
    for i in &ids {
        take_pending(state, addr, "message", i, None);
    }
    let mut ack = Node::new("ack")
        .attr("class", "receipt")
        .attr("id", id.clone());
    if let Some(to) = &to {
        ack = ack.attr("from", to.clone());
    }
    if let Some(k) = &kind {
        ack = ack.attr("type", k.clone());
    }
    state.send(conn, &ack, now);
    relay_receipt(state, addr, node, &id, kind.as_deref(), to.as_deref(), now);
}

/// Routes a receipt from device `addr` (a companion or a phone) to the device it concerns.
pub(crate) fn relay_receipt(
    state: &mut State,
    addr: &DeviceAddr,
    node: &Node,
    id: &str,
    kind: Option<&str>,
    to: Option<&str>,
    now: u64,
) {
    let to_jid = to.and_then(|t| Jid::parse(t).ok());
    let lid_mode = to_jid.as_ref().is_some_and(Jid::is_lid);
    let chat = to_jid
        .as_ref()
        .filter(|j| j.is_group() || j.is_status_broadcast());
    let local = matches!(
        kind,
        Some(
            "server-error" | "peer_msg" | "hist_sync" | "read-self" | "played-self" | "state-error"
        )
    );
    if let Some(chat) = chat
        && !local
    {
        // In a group or a status the receipt names the chat as `to` and the message's sender
        // as `participant`; it reaches the sender from the chat.
        crate::groups::relay_receipt(state, addr, node, id, kind, chat, now);
        return;
    }
    let target = match kind {
        Some("retry") | Some("enc_rekey_retry") => to.and_then(|t| state.device_of(t)),
        // The sender's own other device tells it the copy arrived; Baileys sends these
        // without `to`, so the device is found by the message id.
        Some("sender") => state
            .sent
            .get(&(addr.number.clone(), id.to_owned()))
            .map(|s| s.sender.clone()),
        // A media retry request goes to the device that sent the message, found from the
        // chat (or group participant) its `<rmr>` names; the request itself is addressed to
        // the requester's own account.
        Some("server-error") => media_retry_target(state, addr, node, id),
        Some("peer_msg") | Some("hist_sync") | Some("read-self") | Some("played-self")
        | Some("state-error") => None,
        _ => to_jid
            .as_ref()
            .and_then(|j| state.account_of(j))
            .map(|a| a.number.clone())
            .and_then(|n| state.sent.get(&(n, id.to_owned())))
            .map(|s| s.sender.clone()),
    };
    let Some(target) = target.filter(|t| t != addr) else {
        return;
    };
    let mut r = Node::new("receipt")
        .attr("from", state.jid_of(addr, lid_mode))
        .attr("id", id.to_owned());
    match kind {
        // Delivered (plain, or by an inactive client): the sender sees a delivery receipt.
        None | Some("inactive") | Some("delivery") => {}
        Some(k) => r = r.attr("type", k.to_owned()),
    }
    if let Some(rec) = node.get_attr("recipient") {
        r = r.attr("recipient", rec.to_owned());
    }
    if let Some(p) = node.get_attr("participant") {
        r = r.attr("participant", p.to_owned());
    }
    r = r.attr(
        "t",
        node.get_attr("t")
            .map_or_else(|| (now / 1000).to_string(), str::to_owned),
    );
    if let wa_binary::Content::Nodes(children) = &node.content {
        r = r.children(children.clone());
    }
    deliver(state, &target, "receipt", r, now);
}

/// The device that sent message `id`, as a media retry request from `addr` names it: its own
/// account when `from_me`, otherwise the account of `rmr`'s `participant` or `jid`.
fn media_retry_target(
    state: &State,
    addr: &DeviceAddr,
    node: &Node,
    id: &str,
) -> Option<DeviceAddr> {
    let rmr = node.child("rmr")?;
    let number = if rmr.get_attr("from_me") == Some("true") {
        addr.number.clone()
    } else {
        let who = rmr
            .get_attr("participant")
            .or_else(|| rmr.get_attr("jid"))?;
        let jid = Jid::parse(who).ok()?;
        state.account_of(&jid)?.number.clone()
    };
    state
        .sent
        .get(&(number, id.to_owned()))
        .map(|s| s.sender.clone())
}
