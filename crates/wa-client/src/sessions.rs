//! Signal sessions with other devices: prekey bundles fetched (one query for every device
//! that lacks a session) and sessions started from them, from a fetch or from the keys a retry
//! receipt carries.

use wa_binary::Node;
use wa_signal::PreKeyBundle;
use wa_vocab::read_be;

use crate::ctx::{Client, now_ms};
use crate::error::ClientError;
use crate::nodes;

/// The `encrypt`/`get` fetch of prekey bundles for device JIDs.
pub fn bundle_query(jids: &[String]) -> Node {
    nodes::iq(
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
        .and_then(|b| read_be(&b))
        .ok_or_else(|| bad("registration"))?;
    let identity = bytes(u, "identity").ok_or_else(|| bad("identity"))?;
    let skey = u.child("skey").ok_or_else(|| bad("skey"))?;
    let pre_key = match u.child("key") {
        Some(k) => Some((
            bytes(k, "id")
                .and_then(|b| read_be(&b))
                .ok_or_else(|| bad("key id"))?,
            prefixed(&bytes(k, "value").ok_or_else(|| bad("key value"))?),
        )),
        None => None,
    };
    Ok(PreKeyBundle {
        registration_id,
        identity_key: prefixed(&identity),
        signed_pre_key_id: bytes(skey, "id")
            .and_then(|b| read_be(&b))
            .ok_or_else(|| bad("skey id"))?,
        signed_pre_key: prefixed(&bytes(skey, "value").ok_or_else(|| bad("skey value"))?),
        signed_pre_key_signature: bytes(skey, "signature").ok_or_else(|| bad("skey signature"))?,
        pre_key,
    })
}

impl Client {
    /// Fetches bundles for devices (one query) and starts a session with each.
    pub(crate) async fn fetch_sessions(&self, need: &[String]) -> Result<(), ClientError> {
        let result = self.query(bundle_query(need), None).await?;
        let now = now_ms() as i64;
        for (jid, bundle) in parse_bundles(&result) {
            match bundle {
                Ok(b) => {
                    let addr = self.address(&jid).await?;
                    self.inner.signal.process_bundle(&addr, &b, now).await?;
                }
                Err(e) => tracing::warn!(code = e.code(), "no prekey bundle for a device"),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_parsing() {
        let bundle = Node::new("iq").children(vec![Node::new("list").children(vec![
            Node::new("user").attr("jid", "99:3@lid").children(vec![
                Node::new("registration").bytes(vec![0, 0, 1, 2]),
                Node::new("type").bytes(vec![5]),
                Node::new("identity").bytes(vec![7; 32]),
                crate::prekeys::signed_prekey_node(9, &[8; 32], &[1; 64]),
                crate::prekeys::prekey_node(70_000, &[6; 32]),
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
}
