//! `usync` queries: device lists (with the signed key index list), LIDs, and contact lookups
//! (`onWhatsApp`).

use base64::Engine as _;
use wa_binary::{Jid, Node};
use wa_vocab::{S_WHATSAPP_NET, device_jid};

use crate::account::Account;
use crate::nodes::{self, content_text};
use crate::state::State;

/// A short hash of an account's device list (`device_hash` of device notifications).
pub fn device_hash(account: &Account) -> String {
    let mut list = String::new();
    for d in account.device_ids() {
        list.push_str(&device_jid(&account.number, d, S_WHATSAPP_NET));
    }
    let h = wa_crypto::hash::sha256(list.as_bytes());
    format!(
        "2:{}",
        base64::engine::general_purpose::STANDARD.encode(&h[..6])
    )
}

/// Answers `<usync>`: one `<user>` per queried user with each asked protocol.
pub(crate) fn answer(state: &State, id: &str, usync: &Node) -> Node {
    let protocols: Vec<String> = usync
        .child("query")
        .map(|q| q.child_nodes().iter().map(|p| p.tag.to_string()).collect())
        .unwrap_or_default();
    let users = usync
        .child("list")
        .map(|l| l.children_by_tag("user").collect::<Vec<_>>())
        .unwrap_or_default();
    let mut out = Vec::with_capacity(users.len());
    for user in users {
        let jid = user.get_attr("jid").map(str::to_owned).or_else(|| {
            user.child("contact").and_then(content_text).map(|phone| {
                let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
                device_jid(&digits, 0, S_WHATSAPP_NET)
            })
        });
        let Some(jid) = jid else {
            continue;
        };
        let parsed = Jid::parse(&jid).ok();
        let account = parsed.as_ref().and_then(|j| state.account_of(j));
        let mut children = Vec::new();
        for p in &protocols {
            match p.as_str() {
                "devices" => children.push(devices_node(account)),
                "contact" => children.push(
                    Node::new("contact").attr("type", if account.is_some() { "in" } else { "out" }),
                ),
                "lid" => {
                    let mut n = Node::new("lid");
                    if let (Some(a), Some(j)) = (account, &parsed)
                        && !j.is_lid()
                    {
                        n = n.attr("val", a.lid_jid());
                    }
                    children.push(n);
                }
                "status" if account.is_some() => {
                    children.push(Node::new("status").attr("t", "0"));
                }
                "disappearing_mode" if account.is_some() => children.push(
                    Node::new("disappearing_mode")
                        .attr("duration", "0")
                        .attr("t", "0"),
                ),
                _ => {}
            }
        }
        out.push(Node::new("user").attr("jid", jid).children(children));
    }
    let mut attrs = Node::new("usync");
    for k in ["sid", "mode", "context"] {
        if let Some(v) = usync.get_attr(k) {
            attrs = attrs.attr(k, v.to_owned());
        }
    }
    let result =
        Node::new("result").children(protocols.iter().map(|p| Node::new(p.clone())).collect());
    nodes::iq_result_with(
        id,
        vec![
            attrs
                .attr("index", "0")
                .attr("last", "true")
                .children(vec![result, Node::new("list").children(out)]),
        ],
    )
}

fn devices_node(account: Option<&Account>) -> Node {
    let Some(a) = account else {
        return Node::new("devices").children(vec![Node::new("device-list").children(vec![])]);
    };
    let mut list = vec![Node::new("device").attr("id", "0")];
    for c in a.companions.values() {
        list.push(
            Node::new("device")
                .attr("id", c.device.to_string())
                .attr("key-index", c.key_index.to_string()),
        );
    }
    let mut children = vec![Node::new("device-list").children(list)];
    if !a.companions.is_empty() {
        children.push(
            Node::new("key-index-list")
                .attr("ts", a.devices_changed.to_string())
                .bytes(a.key_index_list()),
        );
    }
    Node::new("devices").children(children)
}
