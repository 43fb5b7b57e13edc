//! Stanzas the client builds and parses, as pure functions: prekey uploads, usync device
//! queries, prekey bundles, acks and receipts, message ids, phash and padding.

use base64::Engine as _;
use wa_binary::{Jid, Node, Server};
use wa_signal::PreKeyBundle;

use crate::error::ClientError;

pub const S_WHATSAPP_NET: &str = "s.whatsapp.net";

pub fn be(value: u32, len: usize) -> Vec<u8> {
    value.to_be_bytes()[4 - len..].to_vec()
}

fn uint_be(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() || bytes.len() > 4 {
        return None;
    }
    Some(bytes.iter().fold(0u32, |a, b| (a << 8) | u32::from(*b)))
}

pub fn iq(xmlns: &str, ty: &str, children: Vec<Node>) -> Node {
    Node::new("iq")
        .attr("to", S_WHATSAPP_NET)
        .attr("type", ty.to_owned())
        .attr("xmlns", xmlns.to_owned())
        .children(children)
}

/// `<key><id/><value/></key>` of one prekey.
pub fn prekey_node(id: u32, public: &[u8]) -> Node {
    Node::new("key").children(vec![
        Node::new("id").bytes(be(id, 3)),
        Node::new("value").bytes(public.to_vec()),
    ])
}

/// `<skey>` of the signed prekey.
pub fn signed_prekey_node(id: u32, public: &[u8], signature: &[u8]) -> Node {
    Node::new("skey").children(vec![
        Node::new("id").bytes(be(id, 3)),
        Node::new("value").bytes(public.to_vec()),
        Node::new("signature").bytes(signature.to_vec()),
    ])
}

/// The `encrypt`/`set` upload of prekeys.
pub fn prekey_upload(
    registration_id: u32,
    identity: &[u8],
    keys: &[(u32, Vec<u8>)],
    skey: Node,
) -> Node {
    iq(
        "encrypt",
        "set",
        vec![
            Node::new("registration").bytes(be(registration_id, 4)),
            Node::new("type").bytes(vec![5]),
            Node::new("identity").bytes(identity.to_vec()),
            Node::new("list").children(keys.iter().map(|(id, k)| prekey_node(*id, k)).collect()),
            skey,
        ],
    )
}

/// The usync query for device lists (and LIDs) of users.
pub fn usync_devices(users: &[String], sid: &str) -> Node {
    iq(
        "usync",
        "get",
        vec![
            Node::new("usync")
                .attr("context", "message")
                .attr("mode", "query")
                .attr("sid", sid.to_owned())
                .attr("last", "true")
                .attr("index", "0")
                .children(vec![
                    Node::new("query").children(vec![
                        Node::new("devices").attr("version", "2"),
                        Node::new("lid"),
                    ]),
                    Node::new("list").children(
                        users
                            .iter()
                            .map(|u| Node::new("user").attr("jid", u.clone()))
                            .collect(),
                    ),
                ]),
        ],
    )
}

/// One user of a usync device answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserDevices {
    pub jid: String,
    pub lid: Option<String>,
    /// `(device id, hosted)`, only devices Baileys accepts (device 0, or with a key index).
    pub devices: Vec<(u16, bool)>,
}

pub fn parse_usync_devices(result: &Node) -> Vec<UserDevices> {
    let Some(list) = result.child("usync").and_then(|u| u.child("list")) else {
        return Vec::new();
    };
    list.children_by_tag("user")
        .filter_map(|u| {
            let jid = u.get_attr("jid")?.to_owned();
            let lid = u
                .child("lid")
                .and_then(|l| l.get_attr("val"))
                .filter(|v| !v.is_empty())
                .map(str::to_owned);
            let devices = u
                .child("devices")
                .and_then(|d| d.child("device-list"))
                .map(|dl| {
                    dl.children_by_tag("device")
                        .filter_map(|d| {
                            let id: u16 = d.get_attr("id")?.parse().ok()?;
                            let has_key_index =
                                d.get_attr("key-index").is_some_and(|k| !k.is_empty());
                            (id == 0 || has_key_index)
                                .then_some((id, d.get_attr("is_hosted") == Some("true")))
                        })
                        .collect()
                })
                .unwrap_or_default();
            Some(UserDevices { jid, lid, devices })
        })
        .collect()
}

/// The `encrypt`/`get` fetch of prekey bundles for device JIDs.
pub fn bundle_query(jids: &[String]) -> Node {
    iq(
        "encrypt",
        "get",
        vec![
            Node::new("key").children(
                jids.iter()
                    .map(|j| Node::new("user").attr("jid", j.clone()))
                    .collect(),
            ),
        ],
    )
}

fn prefixed(key: &[u8]) -> Vec<u8> {
    if key.len() == 32 {
        let mut v = Vec::with_capacity(33);
        v.push(5);
        v.extend_from_slice(key);
        v
    } else {
        key.to_vec()
    }
}

/// The bundles of a bundle fetch, by JID. A user with an `<error>` is skipped.
pub fn parse_bundles(result: &Node) -> Vec<(String, Result<PreKeyBundle, ClientError>)> {
    let Some(list) = result.child("list") else {
        return Vec::new();
    };
    list.children_by_tag("user")
        .filter_map(|u| {
            let jid = u.get_attr("jid")?.to_owned();
            Some((jid, parse_bundle(u)))
        })
        .collect()
}

/// The bundle a retry receipt carries in `<keys>` (registration id from the receipt).
pub fn bundle_from_retry(receipt: &Node, keys: &Node) -> Result<PreKeyBundle, ClientError> {
    let mut children = keys.child_nodes().to_vec();
    if let Some(r) = receipt.child("registration") {
        children.push(r.clone());
    }
    parse_bundle(&Node::new("user").children(children))
}

fn parse_bundle(u: &Node) -> Result<PreKeyBundle, ClientError> {
    let bad = |what: &str| ClientError::Protocol(format!("prekey bundle without {what}"));
    if let Some(e) = u.child("error") {
        return Err(ClientError::Server {
            code: e
                .get_attr("code")
                .and_then(|c| c.parse().ok())
                .unwrap_or(500),
            text: e.get_attr("text").unwrap_or_default().to_owned(),
        });
    }
    let bytes = |n: &Node, tag: &str| {
        n.child(tag)
            .and_then(Node::content_bytes)
            .map(<[u8]>::to_vec)
    };
    let registration_id = bytes(u, "registration")
        .and_then(|b| uint_be(&b))
        .ok_or_else(|| bad("registration"))?;
    let identity = bytes(u, "identity").ok_or_else(|| bad("identity"))?;
    let skey = u.child("skey").ok_or_else(|| bad("skey"))?;
    let pre_key = match u.child("key") {
        Some(k) => Some((
            bytes(k, "id")
                .and_then(|b| uint_be(&b))
                .ok_or_else(|| bad("key id"))?,
            prefixed(&bytes(k, "value").ok_or_else(|| bad("key value"))?),
        )),
        None => None,
    };
    Ok(PreKeyBundle {
        registration_id,
        identity_key: prefixed(&identity),
        signed_pre_key_id: bytes(skey, "id")
            .and_then(|b| uint_be(&b))
            .ok_or_else(|| bad("skey id"))?,
        signed_pre_key: prefixed(&bytes(skey, "value").ok_or_else(|| bad("skey value"))?),
        signed_pre_key_signature: bytes(skey, "signature").ok_or_else(|| bad("skey signature"))?,
        pre_key,
    })
}

/// The `ack` of a received stanza (Baileys' `buildAckStanza`).
pub fn ack(node: &Node, error: Option<u16>, me_id: Option<&str>) -> Node {
    let mut a = Node::new("ack")
        .attr("id", node.get_attr("id").unwrap_or_default().to_owned())
        .attr("to", node.get_attr("from").unwrap_or_default().to_owned())
        .attr("class", node.tag.to_string());
    if let Some(e) = error {
        a = a.attr("error", e.to_string());
    }
    for k in ["participant", "recipient", "type"] {
        if let Some(v) = node.get_attr(k) {
            a = a.attr(k, v.to_owned());
        }
    }
    if node.tag == "message"
        && let Some(me) = me_id
    {
        a = a.attr("from", me.to_owned());
    }
    a
}

/// Baileys' `generateMessageIDV2`: `3EB0` + 18 hex digits of sha256(time, user, random).
pub fn message_id(me_user: Option<&str>, now_secs: u64) -> String {
    let mut data = Vec::with_capacity(44);
    data.extend_from_slice(&now_secs.to_be_bytes());
    let mut user = [0u8; 20];
    if let Some(u) = me_user {
        let s = format!("{u}@c.us");
        let n = s.len().min(20);
        user[..n].copy_from_slice(&s.as_bytes()[..n]);
    }
    data.extend_from_slice(&user);
    data.extend_from_slice(&wa_crypto::random_bytes::<16>());
    let hash = wa_crypto::hash::sha256(&data);
    let hex: String = hash.iter().map(|b| format!("{b:02X}")).collect();
    format!("3EB0{}", &hex[..18])
}

/// The participant hash of a fan-out: `2:` + base64(sha256(sorted device JIDs joined))[..6].
pub fn phash(jids: &[String]) -> String {
    let mut sorted = jids.to_vec();
    sorted.sort();
    let digest = wa_crypto::hash::sha256(sorted.concat().as_bytes());
    let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
    format!("2:{}", &b64[..6])
}

/// Random padding of 1..=16 bytes, each equal to the pad length (Baileys' `writeRandomPadMax16`).
pub fn pad(mut msg: Vec<u8>) -> Vec<u8> {
    let r: [u8; 1] = wa_crypto::random_bytes();
    let n = (r[0] & 0x0f) + 1;
    msg.extend(std::iter::repeat_n(n, usize::from(n)));
    msg
}

pub fn unpad(msg: &[u8]) -> Result<&[u8], ClientError> {
    let n = usize::from(
        *msg.last()
            .ok_or_else(|| ClientError::Protocol("empty plaintext".into()))?,
    );
    if n == 0 || n > msg.len() {
        return Err(ClientError::Protocol(format!(
            "unpad given {} bytes, but pad is {n}",
            msg.len()
        )));
    }
    Ok(&msg[..msg.len() - n])
}

/// A device JID: `user:device@server` (device 0 written without `:0`).
pub fn device_jid(user: &str, server: &Server, device: u16) -> String {
    let j = Jid {
        device,
        ..Jid::new(user.to_owned(), server.clone())
    };
    j.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_round_trips_and_bounds() {
        for _ in 0..200 {
            let p = pad(vec![1, 2, 3]);
            assert!((4..=19).contains(&p.len()));
            assert_eq!(unpad(&p).unwrap(), &[1, 2, 3]);
        }
        assert!(unpad(&[]).is_err());
        assert!(unpad(&[1, 9]).is_err());
    }

    #[test]
    fn phash_matches_definition() {
        let jids = vec!["b@s.whatsapp.net".to_owned(), "a@s.whatsapp.net".to_owned()];
        let digest = wa_crypto::hash::sha256(b"a@s.whatsapp.netb@s.whatsapp.net");
        let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
        assert_eq!(phash(&jids), format!("2:{}", &b64[..6]));
    }

    #[test]
    fn message_ids_look_like_baileys() {
        let id = message_id(Some("15551234567"), 1_700_000_000);
        assert_eq!(id.len(), 22);
        assert!(id.starts_with("3EB0"));
        assert!(
            id[4..]
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
        );
        assert_ne!(id, message_id(Some("15551234567"), 1_700_000_000));
    }

    #[test]
    fn usync_and_bundle_parsing() {
        let result =
            Node::new("iq")
                .attr("type", "result")
                .children(vec![Node::new("usync").children(vec![
                    Node::new("list").children(vec![Node::new("user")
                .attr("jid", "1555@s.whatsapp.net")
                .children(vec![
                    Node::new("devices").children(vec![Node::new("device-list").children(vec![
                        Node::new("device").attr("id", "0"),
                        Node::new("device").attr("id", "3").attr("key-index", "1"),
                        Node::new("device").attr("id", "4"),
                    ])]),
                    Node::new("lid").attr("val", "99@lid"),
                ])]),
                ])]);
        let users = parse_usync_devices(&result);
        assert_eq!(
            users,
            vec![UserDevices {
                jid: "1555@s.whatsapp.net".into(),
                lid: Some("99@lid".into()),
                devices: vec![(0, false), (3, false)],
            }]
        );
        let bundle = Node::new("iq").children(vec![Node::new("list").children(vec![
            Node::new("user").attr("jid", "99:3@lid").children(vec![
                Node::new("registration").bytes(vec![0, 0, 1, 2]),
                Node::new("type").bytes(vec![5]),
                Node::new("identity").bytes(vec![7; 32]),
                signed_prekey_node(9, &[8; 32], &[1; 64]),
                prekey_node(70_000, &[6; 32]),
            ]),
            Node::new("user").attr("jid", "1@lid").children(vec![
                Node::new("error").attr("code", "404").attr("text", "item-not-found"),
            ]),
        ])]);
        let parsed = parse_bundles(&bundle);
        let b = parsed[0].1.as_ref().unwrap();
        assert_eq!(b.registration_id, 258);
        assert_eq!(b.identity_key.len(), 33);
        assert_eq!(b.signed_pre_key_id, 9);
        assert_eq!(b.pre_key.as_ref().unwrap().0, 70_000);
        assert!(matches!(
            parsed[1].1,
            Err(ClientError::Server { code: 404, .. })
        ));
    }

    #[test]
    fn acks_copy_baileys_attributes() {
        let msg = Node::new("message")
            .attr("id", "X")
            .attr("from", "1@s.whatsapp.net")
            .attr("participant", "2@s.whatsapp.net")
            .attr("type", "text");
        let a = ack(&msg, Some(500), Some("3:1@s.whatsapp.net"));
        assert_eq!(a.get_attr("class"), Some("message"));
        assert_eq!(a.get_attr("to"), Some("1@s.whatsapp.net"));
        assert_eq!(a.get_attr("error"), Some("500"));
        assert_eq!(a.get_attr("participant"), Some("2@s.whatsapp.net"));
        assert_eq!(a.get_attr("from"), Some("3:1@s.whatsapp.net"));
    }
}
