//! Message routing: fan-out of `<message>` to the addressed devices, per-device queues that
//! hold every stanza until the device acknowledges it (so nothing is lost to a dropped
//! connection), the server ack, receipts relayed to the sender's device, presence and chat
//! states, and device-list notifications.

use wa_binary::{Jid, Node};

use crate::nodes::{self, SERVER_JID, attr};
use crate::server::{ConnId, DeviceAddr, Pending, Phase, SentRecord, Server};

/// Attributes of a client's `<message>` that travel on to the recipients.
const PASSED_ATTRS: [&str; 5] = ["type", "edit", "category", "push_priority", "expiration"];

/// Negative ack for a message to a user the server does not know (smax-invalid, as the
/// server refuses stanzas it cannot address).
pub const NACK_UNKNOWN_RECIPIENT: &str = "479";
/// Negative ack for a stanza the test server does not route (groups, channels, statuses).
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

pub(crate) fn is_active(server: &Server, conn: ConnId) -> bool {
    matches!(server.phase(conn), Some(Phase::LoggedIn(s)) if s.active)
}

/// Hands a stanza to a device: to the phone at once, to a companion through its queue (sent
/// now if it is online and active, kept until it acks).
pub(crate) fn deliver(
    server: &mut Server,
    to: &DeviceAddr,
    class: &'static str,
    node: Node,
    now: u64,
) {
    if class == "message" {
        server.stats.messages_routed += 1;
    } else if class == "receipt" {
        server.stats.receipts_relayed += 1;
    }
    if to.device == 0 {
        crate::phone_ops::phone_receive(server, to, class, &node, now);
        return;
    }
    let online = server
        .online
        .get(to)
        .copied()
        .filter(|c| is_active(server, *c));
    let pending = Pending {
        class,
        id: attr(&node, "id").unwrap_or_default(),
        from: attr(&node, "from").unwrap_or_default(),
        node: node.clone(),
        sent_on: online,
    };
    server
        .queues
        .entry(to.clone())
        .or_default()
        .push_back(pending);
    if let Some(conn) = online {
        server.send(conn, &node, now);
    }
}

/// Sends a device everything it has not taken yet, marked offline, then the offline count
/// that tells clients the backlog is done.
pub(crate) fn flush_offline(server: &mut Server, conn: ConnId, addr: &DeviceAddr, now: u64) {
    let mut batch = Vec::new();
    if let Some(q) = server.queues.get_mut(addr) {
        for p in q.iter_mut().filter(|p| p.sent_on != Some(conn)) {
            p.sent_on = Some(conn);
            batch.push(p.node.clone().attr("offline", "1"));
        }
    }
    server.stats.offline_delivered += batch.len() as u64;
    let count = batch.len();
    for node in batch {
        server.send(conn, &node, now);
    }
    let ib = Node::new("ib")
        .attr("from", SERVER_JID)
        .children(vec![Node::new("offline").attr("count", count.to_string())]);
    server.send(conn, &ib, now);
}

/// Removes what a device acknowledged from its queue.
fn take_pending(server: &mut Server, addr: &DeviceAddr, class: &str, id: &str, from: Option<&str>) {
    let Some(q) = server.queues.get_mut(addr) else {
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
        server.queues.remove(addr);
    }
}

/// `<ack>` from a client: it took a stanza.
pub(crate) fn on_ack(server: &mut Server, addr: &DeviceAddr, node: &Node) {
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
    take_pending(server, addr, class, &id, to.as_deref());
}

/// A client's `<message>`: fan out, queue, ack.
pub(crate) fn on_message(
    server: &mut Server,
    conn: ConnId,
    sender: &DeviceAddr,
    node: &Node,
    now: u64,
) {
    server.stats.messages_received += 1;
    let t = now / 1000;
    let Some(id) = attr(node, "id") else {
        return;
    };
    let to = attr(node, "to").unwrap_or_default();
    let Ok(to_jid) = Jid::parse(&to) else {
        server.send(conn, &message_ack(&id, &to, t, Some(NACK_BAD_REQUEST)), now);
        return;
    };
    if to_jid.is_group() || to_jid.is_broadcast() || to_jid.is_newsletter() {
        server.send(conn, &message_ack(&id, &to, t, Some(NACK_UNSUPPORTED)), now);
        return;
    }
    let Some(chat) = server.account_of(&to_jid).map(|a| a.number.clone()) else {
        server.send(
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
    if !direct && let Some(prev) = server.sent.get(&key) {
        // The same message again (a client resending after a lost ack): WhatsApp acks it
        // and does not deliver it twice.
        server.stats.duplicates += 1;
        let t = prev.t;
        server.send(conn, &message_ack(&id, &to, t, None), now);
        return;
    }
    let lid_mode = to_jid.is_lid();
    let device_identity = node.child("device-identity").cloned();
    let sender_account = server.accounts.get(&sender.number);
    let push_name = sender_account.map(|a| a.push_name.clone());
    let sender_lid = sender_account.map(|a| a.lid_jid());
    let sender_pn = sender_account.map(|a| a.pn_jid());
    let chat_alt = server
        .accounts
        .get(&chat)
        .map(|a| if lid_mode { a.pn_jid() } else { a.lid_jid() });
    let chat_user = Jid::new(to_jid.user.clone(), to_jid.server.clone()).to_string();
    let from = server.jid_of(sender, lid_mode);
    for (jid, enc) in targets {
        let Some(device) = server.device_of(&jid) else {
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
        deliver(server, &device, "message", m.children(children), now);
    }
    server.sent.entry(key).or_insert(SentRecord {
        sender: sender.clone(),
        t,
    });
    server.send(conn, &message_ack(&id, &to, t, None), now);
}

/// A client's `<receipt>`: it acknowledges what was delivered to it, and travels on to the
/// device that sent the message.
pub(crate) fn on_receipt(
    server: &mut Server,
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
    let mut ids = vec![id.clone()];
    if let Some(list) = node.child("list") {
        ids.extend(list.children_by_tag("item").filter_map(|i| attr(i, "id")));
    }
    for i in &ids {
        take_pending(server, addr, "message", i, None);
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
    server.send(conn, &ack, now);
    relay_receipt(server, addr, node, &id, kind.as_deref(), to.as_deref(), now);
}

/// Routes a receipt from device `addr` (a companion or a phone) to the device it concerns.
pub(crate) fn relay_receipt(
    server: &mut Server,
    addr: &DeviceAddr,
    node: &Node,
    id: &str,
    kind: Option<&str>,
    to: Option<&str>,
    now: u64,
) {
    let to_jid = to.and_then(|t| Jid::parse(t).ok());
    let lid_mode = to_jid.as_ref().is_some_and(Jid::is_lid);
    let target = match kind {
        Some("retry") | Some("enc_rekey_retry") => to.and_then(|t| server.device_of(t)),
        // The sender's own other device tells it the copy arrived; Baileys sends these
        // without `to`, so the device is found by the message id.
        Some("sender") => server
            .sent
            .get(&(addr.number.clone(), id.to_owned()))
            .map(|s| s.sender.clone()),
        Some("peer_msg") | Some("hist_sync") | Some("read-self") | Some("played-self")
        | Some("server-error") => None,
        _ => to_jid
            .as_ref()
            .and_then(|j| server.account_of(j))
            .map(|a| a.number.clone())
            .and_then(|n| server.sent.get(&(n, id.to_owned())))
            .map(|s| s.sender.clone()),
    };
    let Some(target) = target.filter(|t| t != addr) else {
        return;
    };
    let mut r = Node::new("receipt")
        .attr("from", server.jid_of(addr, lid_mode))
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
    deliver(server, &target, "receipt", r, now);
}

/// `<presence>`: availability, or a subscription to someone's.
pub(crate) fn on_presence(server: &mut Server, addr: &DeviceAddr, node: &Node, now: u64) {
    match node.get_attr("type") {
        Some("subscribe") => {
            let Some(to) = node.get_attr("to").and_then(|t| Jid::parse(t).ok()) else {
                return;
            };
            let Some(target) = server.account_of(&to).map(|a| a.number.clone()) else {
                return;
            };
            server
                .subscribers
                .entry(target.clone())
                .or_default()
                .insert(addr.clone());
            let presence = presence_of(server, &target, to.is_lid());
            if let Some(conn) = server.online.get(addr).copied() {
                server.send(conn, &presence, now);
            }
        }
        Some(t @ ("available" | "unavailable")) => {
            let available = t == "available";
            let changed = server.presence.get(addr).copied() != Some(available);
            server.presence.insert(addr.clone(), available);
            if available
                && let Some(name) = node.get_attr("name")
                && !name.is_empty()
                && let Some(a) = server.accounts.get_mut(&addr.number)
            {
                a.push_name = name.to_owned();
            }
            if changed {
                server.last_seen.insert(addr.number.clone(), now / 1000);
                publish_presence(server, &addr.number, now);
            }
        }
        _ => {}
    }
}

/// An account is available while one of its online companions says so.
fn presence_of(server: &Server, number: &str, lid: bool) -> Node {
    let available = server
        .presence
        .iter()
        .any(|(d, a)| *a && d.number == number && server.online.contains_key(d));
    let user = server
        .accounts
        .get(number)
        .map(|a| if lid { a.lid_jid() } else { a.pn_jid() })
        .unwrap_or_default();
    let mut n = Node::new("presence").attr("from", user);
    if available {
        n = n.attr("type", "available");
    } else {
        n = n.attr("type", "unavailable");
        if let Some(last) = server.last_seen.get(number) {
            n = n.attr("last", last.to_string());
        }
    }
    n
}

fn publish_presence(server: &mut Server, number: &str, now: u64) {
    let subs: Vec<DeviceAddr> = server
        .subscribers
        .get(number)
        .map(|s| s.iter().cloned().collect())
        .unwrap_or_default();
    let node = presence_of(server, number, false);
    for s in subs {
        if let Some(conn) = server.online.get(&s).copied() {
            server.send(conn, &node, now);
        }
    }
}

/// `<chatstate to>`: typing and recording, passed to the other user's online devices.
pub(crate) fn on_chatstate(server: &mut Server, addr: &DeviceAddr, node: &Node, now: u64) {
    let Some(to) = node.get_attr("to").and_then(|t| Jid::parse(t).ok()) else {
        return;
    };
    let Some(target) = server.account_of(&to).map(|a| a.number.clone()) else {
        return;
    };
    let from = if to.is_lid() {
        server.accounts.get(&addr.number).map(|a| a.lid_jid())
    } else {
        server.accounts.get(&addr.number).map(|a| a.pn_jid())
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
    let conns: Vec<ConnId> = server
        .online
        .iter()
        .filter(|(d, c)| d.number == target && **d != *addr && is_active(server, **c))
        .map(|(_, c)| *c)
        .collect();
    for c in conns {
        server.send(c, &out, now);
    }
}

/// Tells every online client that an account's device list changed (`add` / `remove`).
pub(crate) fn notify_devices(
    server: &mut Server,
    number: &str,
    change: &str,
    device: u16,
    now: u64,
) {
    let Some(account) = server.accounts.get(number) else {
        return;
    };
    let mut dev = Node::new("device").attr(
        "jid",
        nodes::device_jid(&account.number, device, SERVER_JID),
    );
    if let Some(c) = account.companions.get(&device) {
        dev = dev.attr("key-index", c.key_index.to_string());
    }
    let hash = crate::usync::device_hash(account);
    let body = Node::new(change.to_owned())
        .attr("device_hash", hash)
        .children(vec![
            dev,
            Node::new("key-index-list")
                .attr("ts", account.devices_changed.to_string())
                .bytes(account.key_index_list()),
        ]);
    let from = account.pn_jid();
    let conns: Vec<ConnId> = server
        .online
        .iter()
        .filter(|(d, c)| !(d.number == number && d.device == device) && is_active(server, **c))
        .map(|(_, c)| *c)
        .collect();
    for c in conns {
        let id = server.next_stanza_id();
        let n = Node::new("notification")
            .attr("from", from.clone())
            .attr("id", id)
            .attr("type", "devices")
            .attr("t", (now / 1000).to_string())
            .children(vec![body.clone()]);
        server.send(c, &n, now);
    }
}
