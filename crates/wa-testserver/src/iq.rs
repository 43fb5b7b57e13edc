//! IQs of a logged-in companion. Every IQ gets an answer: a result, or an error IQ (400 for a
//! malformed query, 404 for something that does not exist, 501 for what the test server does
//! not implement).

use sha1::{Digest, Sha1};
use wa_binary::Node;
use wa_crypto::curve;
use wa_vocab::{be_bytes, read_be};

use crate::account::SignedKey;
use crate::delivery::flush_offline;
use crate::devices::unlink;
use crate::nodes::{self, attr, child_array, child_bytes};
use crate::state::{ConnId, DeviceAddr, Phase, State};

/// Most one-time prekeys a device may have stored on the server.
pub const MAX_PRE_KEYS: usize = 2_000;

pub(crate) fn on_iq(state: &mut State, conn: ConnId, addr: &DeviceAddr, node: &Node, now: u64) {
    let id = attr(node, "id").unwrap_or_default();
    let kind = node.get_attr("type").unwrap_or("");
    if kind == "result" || kind == "error" {
        // Answers to server IQs: the server asks nothing of logged-in clients that it waits on.
        return;
    }
    let xmlns = node.get_attr("xmlns").unwrap_or("");
    let first = node.child_nodes().first();
    let first_tag = first.map(|c| c.tag.as_ref()).unwrap_or("");
    let to_group = node
        .get_attr("to")
        .and_then(|t| wa_binary::Jid::parse(t).ok())
        .is_some_and(|j| j.is_group());
    let to_newsletter = node
        .get_attr("to")
        .and_then(|t| wa_binary::Jid::parse(t).ok())
        .is_some_and(|j| j.is_newsletter());
    let reply = match (xmlns, kind, first_tag) {
        ("w:p", _, _) => nodes::iq_result(&id),
        ("passive", "set", "active" | "passive") => {
            let active = first_tag == "active";
            let mut flush = false;
            if let Some(Phase::LoggedIn(s)) = state.phase_mut(conn) {
                flush = active && !s.active;
                s.active = active;
            }
            state.send(conn, &nodes::iq_result(&id), now);
            if flush {
                flush_offline(state, conn, addr, now);
            }
            return;
        }
        ("encrypt", "get", "count") => count(state, addr, &id),
        ("encrypt", "set", _) if node.child("list").is_some() || node.child("skey").is_some() => {
            let (reply, uploaded) = upload(state, addr, &id, node);
            state.stats.pre_keys_uploaded += uploaded;
            reply
        }
        ("encrypt", "set", "rotate") => rotate(state, addr, &id, node),
        ("encrypt", "get", "key") => match first {
            Some(k) => key_fetch(state, &id, k),
            None => nodes::iq_error(&id, 400, "bad-request"),
        },
        ("encrypt", "get", "digest") => digest(state, addr, &id),
        ("usync", "get", "usync") => match first {
            Some(u) => crate::usync::answer(state, &id, u),
            None => nodes::iq_error(&id, 400, "bad-request"),
        },
        ("md", "set", "remove-companion-device") => {
            remove_companion(state, conn, addr, &id, first, now);
            return;
        }
        ("w:m", "set", "media_conn") => media_conn(state, &id, now),
        // Group IQs go to `@g.us` or a group; `w:g2` sent elsewhere is an unknown IQ.
        ("w:g2", "get" | "set", _) if to_group => crate::groups::on_iq(state, addr, node, now),
        // Channels: GraphQL to the server, and the plain IQs to a newsletter JID.
        ("w:mex", "get" | "set", _) => crate::newsletters::on_mex(state, addr, node, now),
        ("newsletter", "get" | "set", _) if to_newsletter => {
            crate::newsletters::on_iq(state, conn, node, now)
        }
        ("abt", "get", "props") => nodes::iq_result_with(
            &id,
            vec![Node::new("props").attr("protocol", "1").attr("hash", "0")],
        ),
        ("privacy", "get", "privacy") => privacy(&id),
        ("privacy", "set", _) => nodes::iq_result(&id),
        ("blocklist", "get", _) => nodes::iq_result_with(&id, vec![Node::new("list")]),
        ("w:stats", _, _) => nodes::iq_result(&id),
        ("urn:xmpp:whatsapp:dirty", "set", _) => nodes::iq_result(&id),
        ("w:profile:picture", "get", _) => nodes::iq_error(&id, 404, "item-not-found"),
        ("status", "get", _) => nodes::iq_error(&id, 404, "item-not-found"),
        _ => {
            state.stats.unknown_iqs += 1;
            tracing::debug!(xmlns, kind, first_tag, "unknown iq");
            nodes::iq_error(&id, 501, "feature-not-implemented")
        }
    };
    state.send(conn, &reply, now);
}

fn count(state: &State, addr: &DeviceAddr, id: &str) -> Node {
    let n = state
        .accounts
        .get(&addr.number)
        .and_then(|a| a.companions.get(&addr.device))
        .map_or(0, |c| c.pre_keys.len());
    nodes::iq_result_with(id, vec![Node::new("count").attr("value", n.to_string())])
}

fn parse_signed_key(skey: &Node) -> Option<SignedKey> {
    let signature = child_bytes(skey, "signature")?;
    (signature.len() == 64).then_some(())?;
    Some(SignedKey {
        id: read_be(child_bytes(skey, "id")?)?,
        public: child_array::<32>(skey, "value")?,
        signature: signature.to_vec(),
    })
}

/// `<iq xmlns=encrypt type=set>`: registration, type, identity, list of keys, signed key.
fn upload(state: &mut State, addr: &DeviceAddr, id: &str, node: &Node) -> (Node, u64) {
    let Some(c) = state
        .accounts
        .get_mut(&addr.number)
        .and_then(|a| a.companions.get_mut(&addr.device))
    else {
        return (nodes::iq_error(id, 404, "item-not-found"), 0);
    };
    let identity = child_array::<32>(node, "identity");
    let registration = child_bytes(node, "registration").and_then(read_be);
    let skey = node.child("skey").and_then(parse_signed_key);
    let mut keys = Vec::new();
    if let Some(list) = node.child("list") {
        for k in list.children_by_tag("key") {
            match (
                child_bytes(k, "id").and_then(read_be),
                child_array::<32>(k, "value"),
            ) {
                (Some(kid), Some(v)) => keys.push((kid, v)),
                _ => return (nodes::iq_error(id, 400, "bad-request"), 0),
            }
        }
    }
    // The identity must be the one the device paired with, and the signed prekey must be
    // signed by it.
    if identity != Some(c.identity) || child_bytes(node, "type") != Some(&[5u8][..]) {
        return (nodes::iq_error(id, 406, "not-acceptable"), 0);
    }
    let Some(skey) = skey else {
        return (nodes::iq_error(id, 400, "bad-request"), 0);
    };
    if !curve::verify(
        &c.identity,
        &curve::prefix_public(&skey.public),
        &skey.signature,
    ) {
        return (nodes::iq_error(id, 406, "not-acceptable"), 0);
    }
    if let Some(r) = registration {
        c.registration_id = r;
    }
    c.signed_pre_key = skey;
    let uploaded = keys.len() as u64;
    c.uploaded_total += uploaded;
    for (kid, v) in keys {
        c.pre_keys.insert(kid, v);
    }
    while c.pre_keys.len() > MAX_PRE_KEYS {
        let Some(first) = c.pre_keys.keys().next().copied() else {
            break;
        };
        c.pre_keys.remove(&first);
    }
    (nodes::iq_result(id), uploaded)
}

fn rotate(state: &mut State, addr: &DeviceAddr, id: &str, node: &Node) -> Node {
    let skey = node
        .child("rotate")
        .and_then(|r| r.child("skey"))
        .and_then(parse_signed_key);
    let Some(c) = state
        .accounts
        .get_mut(&addr.number)
        .and_then(|a| a.companions.get_mut(&addr.device))
    else {
        return nodes::iq_error(id, 404, "item-not-found");
    };
    match skey {
        Some(s) if curve::verify(&c.identity, &curve::prefix_public(&s.public), &s.signature) => {
            c.signed_pre_key = s;
            nodes::iq_result(id)
        }
        Some(_) => nodes::iq_error(id, 406, "not-acceptable"),
        None => nodes::iq_error(id, 400, "bad-request"),
    }
}

/// Prekey bundles for the asked devices; each fetch consumes a one-time prekey.
fn key_fetch(state: &mut State, id: &str, key: &Node) -> Node {
    let mut users = Vec::new();
    for u in key.children_by_tag("user") {
        let Some(jid) = attr(u, "jid") else {
            continue;
        };
        let Some(device) = state.device_of(&jid) else {
            users.push(Node::new("user").attr("jid", jid).children(vec![
                    Node::new("error")
                        .attr("code", "404")
                        .attr("text", "item-not-found"),
                ]));
            continue;
        };
        let adv = (device.device != 0)
            .then(|| {
                state
                    .accounts
                    .get(&device.number)
                    .and_then(|a| a.companions.get(&device.device))
                    .map(|c| c.adv.clone())
            })
            .flatten();
        let Ok(b) = state.take_bundle(&device) else {
            continue;
        };
        let mut children = vec![
            Node::new("registration").bytes(be_bytes(b.registration_id, 4)),
            Node::new("type").bytes(vec![5u8]),
            Node::new("identity").bytes(b.identity.to_vec()),
            Node::new("skey").children(vec![
                Node::new("id").bytes(be_bytes(b.signed_pre_key_id, 3)),
                Node::new("value").bytes(b.signed_pre_key.to_vec()),
                Node::new("signature").bytes(b.signed_pre_key_signature.clone()),
            ]),
        ];
        if let Some((kid, k)) = b.pre_key {
            children.push(Node::new("key").children(vec![
                Node::new("id").bytes(be_bytes(kid, 3)),
                Node::new("value").bytes(k.to_vec()),
            ]));
        }
        if let Some(adv) = adv {
            children.push(Node::new("device-identity").bytes(adv));
        }
        users.push(Node::new("user").attr("jid", jid).children(children));
    }
    nodes::iq_result_with(id, vec![Node::new("list").children(users)])
}

/// What the server holds of the device's key bundle, with a SHA-1 over it so the client can
/// compare it with its own keys.
fn digest(state: &State, addr: &DeviceAddr, id: &str) -> Node {
    let Some(c) = state
        .accounts
        .get(&addr.number)
        .and_then(|a| a.companions.get(&addr.device))
    else {
        return nodes::iq_error(id, 404, "item-not-found");
    };
    let mut h = Sha1::new();
    h.update(c.identity);
    h.update(c.signed_pre_key.public);
    h.update(&c.signed_pre_key.signature);
    for k in c.pre_keys.values() {
        h.update(k);
    }
    let hash = h.finalize().to_vec();
    nodes::iq_result_with(
        id,
        vec![Node::new("digest").children(vec![
            Node::new("registration").bytes(be_bytes(c.registration_id, 4)),
            Node::new("type").bytes(vec![5u8]),
            Node::new("identity").bytes(c.identity.to_vec()),
            Node::new("skey").children(vec![
                Node::new("id").bytes(be_bytes(c.signed_pre_key.id, 3)),
                Node::new("value").bytes(c.signed_pre_key.public.to_vec()),
                Node::new("signature").bytes(c.signed_pre_key.signature.clone()),
            ]),
            Node::new("list").children(
                c.pre_keys
                    .keys()
                    .map(|k| Node::new("id").bytes(be_bytes(*k, 3)))
                    .collect(),
            ),
            Node::new("hash").bytes(hash),
        ])],
    )
}

/// `remove-companion-device`: the companion logs itself (or another of the account's
/// companions) out.
fn remove_companion(
    state: &mut State,
    conn: ConnId,
    addr: &DeviceAddr,
    id: &str,
    child: Option<&Node>,
    now: u64,
) {
    let target = child
        .and_then(|c| c.get_attr("jid"))
        .and_then(|j| state.device_of(j));
    match target {
        Some(t) if t.number == addr.number && t.device != 0 => {
            state.send(conn, &nodes::iq_result(id), now);
            unlink(state, &t, t != *addr, now);
            if t == *addr {
                state.close(conn, false, now);
            }
        }
        _ => state.send(conn, &nodes::iq_error(id, 404, "item-not-found"), now),
    }
}

fn media_conn(state: &State, id: &str, now: u64) -> Node {
    let auth = state.media.issue_auth(now);
    // Whole seconds, rounded up: a client never thinks its auth lives longer than it does.
    let auth_ttl = state.config.media_auth_ttl_ms.div_ceil(1_000);
    nodes::iq_result_with(
        id,
        vec![
            Node::new("media_conn")
                .attr("auth", auth)
                .attr("ttl", "300")
                .attr("auth_ttl", auth_ttl.to_string())
                .attr("max_buckets", "12")
                .children(vec![
                    Node::new("host")
                        .attr("hostname", state.config.media_host.clone())
                        .attr(
                            "maxContentLengthBytes",
                            state.config.media_max_bytes.to_string(),
                        ),
                ]),
        ],
    )
}

fn privacy(id: &str) -> Node {
    let categories = [
        ("last", "all"),
        ("online", "all"),
        ("profile", "all"),
        ("status", "all"),
        ("groupadd", "all"),
        ("readreceipts", "all"),
        ("calladd", "all"),
        ("messages", "all"),
    ];
    nodes::iq_result_with(
        id,
        vec![
            Node::new("privacy").children(
                categories
                    .iter()
                    .map(|(n, v)| Node::new("category").attr("name", *n).attr("value", *v))
                    .collect(),
            ),
        ],
    )
}
