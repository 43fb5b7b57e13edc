//! Our one-time prekeys: generated, stored, uploaded (812 when the server has none, refills
//! of 5 when it runs low), and the signed prekey and identity nodes that go with them.

use std::collections::HashMap;

use serde_json::json;
use wa_binary::Node;
use wa_store::{KeyType, KeyWrites};
use wa_vocab::be_bytes;

use crate::config::{INITIAL_PREKEY_COUNT, MIN_PREKEY_COUNT};
use crate::ctx::{Client, lock};
use crate::error::ClientError;
use crate::event::CredsField;
use crate::nodes;

/// `<key><id/><value/></key>` of one prekey.
pub fn prekey_node(id: u32, public: &[u8]) -> Node {
    Node::new("key").children(vec![
        Node::new("id").bytes(be_bytes(id, 3)),
        Node::new("value").bytes(public.to_vec()),
    ])
}

/// `<skey>` of the signed prekey.
pub fn signed_prekey_node(id: u32, public: &[u8], signature: &[u8]) -> Node {
    Node::new("skey").children(vec![
        Node::new("id").bytes(be_bytes(id, 3)),
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
    nodes::iq(
        "encrypt",
        "set",
        vec![
            Node::new("registration").bytes(be_bytes(registration_id, 4)),
            Node::new("type").bytes(vec![5]),
            Node::new("identity").bytes(identity.to_vec()),
            Node::new("list").children(keys.iter().map(|(id, k)| prekey_node(*id, k)).collect()),
            skey,
        ],
    )
}

/// The prekey value Baileys stores (`{ private, public }` as BufferJSON).
pub(crate) fn prekey_value(kp: &wa_crypto::KeyPair) -> serde_json::Value {
    json!({
        "private": wa_store::bufferjson::buffer(&kp.private),
        "public": wa_store::bufferjson::buffer(&kp.public),
    })
}

/// How many prekeys to upload after login, given the server's count and whether our newest
/// prekey is missing from the store (then the server may hand out keys we no longer have).
pub fn prekeys_wanted(on_server: u32, newest_missing: bool) -> Option<u32> {
    let want = if on_server == 0 {
        INITIAL_PREKEY_COUNT
    } else {
        MIN_PREKEY_COUNT
    };
    (on_server <= want || newest_missing).then_some(want)
}

impl Client {
    /// The `<skey>` of our signed prekey.
    pub(crate) fn signed_prekey_node(&self) -> Node {
        let c = lock(&self.inner.creds);
        signed_prekey_node(
            c.signed_pre_key.key_id,
            &c.signed_pre_key.key_pair.public,
            &c.signed_pre_key.signature,
        )
    }

    /// Makes one fresh prekey, stores it and moves the counters past it (a retry receipt hands
    /// it to a sender that needs a new session).
    pub(crate) async fn fresh_prekey(&self) -> Result<(u32, wa_crypto::KeyPair), ClientError> {
        let kp = wa_crypto::KeyPair::generate();
        let id = {
            let mut c = lock(&self.inner.creds);
            let id = c.next_pre_key_id;
            c.next_pre_key_id += 1;
            c.first_unuploaded_pre_key_id = c.first_unuploaded_pre_key_id.max(id + 1);
            id
        };
        let mut w = KeyWrites::new();
        w.entry(KeyType::PreKey)
            .or_default()
            .insert(id.to_string(), Some(prekey_value(&kp)));
        self.inner.keys.set(&w).await?;
        self.update_creds(
            &[
                CredsField::NextPreKeyId,
                CredsField::FirstUnuploadedPreKeyId,
            ],
            |_| {},
        );
        Ok((id, kp))
    }

    /// Uploads `count` prekeys: generates what is missing, stores them, then sends them.
    pub(crate) async fn upload_prekeys(&self, count: u32) -> Result<(), ClientError> {
        let _g = self.inner.prekeys.lock().await;
        let (first, next, reg_id, identity) = {
            let c = lock(&self.inner.creds);
            (
                c.first_unuploaded_pre_key_id,
                c.next_pre_key_id,
                c.registration_id,
                c.signed_identity_key.public.clone(),
            )
        };
        let available = next.saturating_sub(first);
        let remaining = count.saturating_sub(available);
        let last = next + remaining;
        let mut writes = KeyWrites::new();
        let mut fresh: HashMap<u32, Vec<u8>> = HashMap::new();
        for id in next..last {
            let kp = wa_crypto::KeyPair::generate();
            fresh.insert(id, kp.public.to_vec());
            writes
                .entry(KeyType::PreKey)
                .or_default()
                .insert(id.to_string(), Some(prekey_value(&kp)));
        }
        if !writes.is_empty() {
            self.inner.keys.set(&writes).await?;
        }
        // Only keys made earlier but never uploaded are read back: the fresh ones are at hand
        // (reading 812 back cost a new account ~1 MB of parsed values for nothing).
        let ids: Vec<String> = (first..first + count)
            .filter(|i| !fresh.contains_key(i))
            .map(|i| i.to_string())
            .collect();
        let stored = if ids.is_empty() {
            Default::default()
        } else {
            self.inner.keys.get(KeyType::PreKey, &ids).await?
        };
        let mut upload: Vec<(u32, Vec<u8>)> = Vec::with_capacity(count as usize);
        for id in first..first + count {
            if let Some(p) = fresh.remove(&id) {
                upload.push((id, p));
            } else if let Some(v) = stored.get(&id.to_string())
                && let Some(p) = v.get("public").and_then(wa_store::bufferjson::bytes)
            {
                upload.push((id, p));
            }
        }
        self.update_creds(
            &[
                CredsField::NextPreKeyId,
                CredsField::FirstUnuploadedPreKeyId,
            ],
            |c| {
                c.next_pre_key_id = c.next_pre_key_id.max(last);
                c.first_unuploaded_pre_key_id = c.first_unuploaded_pre_key_id.max(first + count);
            },
        );
        let node = prekey_upload(reg_id, &identity, &upload, self.signed_prekey_node());
        self.query(node, None).await?;
        tracing::info!(count = upload.len(), "uploaded pre-keys");
        Ok(())
    }

    /// The post-login prekey check: asks the server how many it has and tops them up.
    pub(crate) async fn check_prekeys(&self) -> Result<(), ClientError> {
        let count = self
            .query(nodes::iq("encrypt", "get", vec![Node::new("count")]), None)
            .await?;
        let on_server: u32 = count
            .child("count")
            .and_then(|c| c.get_attr("value"))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let newest = lock(&self.inner.creds).next_pre_key_id.saturating_sub(1);
        let newest_missing = newest > 0
            && self
                .inner
                .keys
                .get(KeyType::PreKey, &[newest.to_string()])
                .await?
                .is_empty();
        if let Some(want) = prekeys_wanted(on_server, newest_missing) {
            self.upload_prekeys(want).await?;
        }
        Ok(())
    }

    /// An `encrypt` notification: the server's count of our prekeys fell; refill in the
    /// background (the notification is acked at once).
    pub(crate) fn on_prekey_count(&self, node: &Node) {
        let low = node.child("count").is_some_and(|c| {
            c.get_attr("value")
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(0)
                < MIN_PREKEY_COUNT
        });
        if low {
            let me = self.clone();
            self.spawn(async move {
                if let Err(e) = me.upload_prekeys(MIN_PREKEY_COUNT).await {
                    tracing::warn!(code = e.code(), "prekey refill failed");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prekeys_wanted_follows_baileys() {
        assert_eq!(prekeys_wanted(0, false), Some(INITIAL_PREKEY_COUNT));
        assert_eq!(prekeys_wanted(3, false), Some(MIN_PREKEY_COUNT));
        assert_eq!(prekeys_wanted(5, false), Some(MIN_PREKEY_COUNT));
        assert_eq!(prekeys_wanted(50, false), None);
        assert_eq!(prekeys_wanted(50, true), Some(MIN_PREKEY_COUNT));
    }

    #[test]
    fn upload_node_has_baileys_shape() {
        let n = prekey_upload(
            0x0102,
            &[7; 32],
            &[(812, vec![6; 32])],
            signed_prekey_node(1, &[8; 32], &[9; 64]),
        );
        assert_eq!(n.get_attr("xmlns"), Some("encrypt"));
        let reg = n
            .child("registration")
            .and_then(Node::content_bytes)
            .unwrap();
        assert_eq!(reg, [0, 0, 1, 2]);
        let key = n.child("list").unwrap().child("key").unwrap();
        assert_eq!(
            key.child("id").and_then(Node::content_bytes).unwrap(),
            [0, 3, 0x2c]
        );
        assert!(n.child("skey").unwrap().child("signature").is_some());
    }
}
