//! Retries, both ways. When we cannot decrypt a message we ask the sender to encrypt it again
//! (a retry receipt, with our keys from the second try so it can start a new session); when a
//! peer asks us, we start a fresh session with that device and send the message again to it
//! alone. Baileys gives up after 5 tries either way.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use wa_binary::{Jid, Node};
use wa_signal::MessageKind;
use wa_store::BoxFuture;
use wa_vocab::be_bytes;

use crate::ctx::{Client, lock, now_ms};
use crate::error::ClientError;
use crate::nodes;
use crate::send::{device_identity_node, enc_node, plaintext_for};
use crate::sessions;

/// Retry receipts per message before giving up (Baileys' `maxMsgRetryCount`).
pub const MAX_RETRIES: u32 = 5;
/// Sent messages kept for resending on a retry receipt.
const RECENT_CAP: usize = 512;

/// Finds a message we sent, for a retry receipt that names one this process no longer holds
/// (sent before a restart, or evicted from the recent window). Baileys asks the app's
/// `getMessage(key)`; the JavaScript binding asks that, or the socket's store.
pub trait MessageSource: Send + Sync {
    /// The message with `id` that we sent to `chat` (a user JID: device dropped). `alt` is
    /// the same user in the other addressing (LID for a phone number, or back), when known,
    /// since an app may have kept the message under either.
    fn sent_message<'a>(
        &'a self,
        chat: &'a str,
        alt: Option<&'a str>,
        id: &'a str,
    ) -> BoxFuture<'a, Option<wa_proto::Message>>;
}

/// A [`MessageSource`] in the client's [`Config`](crate::Config).
#[derive(Clone)]
pub struct SharedSource(pub Arc<dyn MessageSource>);

impl fmt::Debug for SharedSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MessageSource")
    }
}

/// A bounded map of the messages we sent lately, oldest evicted first.
#[derive(Default)]
struct Recent {
    /// The chat and the message's bytes: compact, and already made by the send (a message
    /// tree would cost a copy per send, for the rare retry).
    map: HashMap<String, (String, Vec<u8>)>,
    order: VecDeque<String>,
}

impl Recent {
    fn put(&mut self, id: String, chat: String, msg: Vec<u8>) {
        if self.map.insert(id.clone(), (chat, msg)).is_none() {
            self.order.push_back(id);
        }
        while self.order.len() > RECENT_CAP {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
    }
}

/// What retries remember: how often we asked for each message, and what we sent lately.
#[derive(Default)]
pub(crate) struct RetryState {
    asked: Mutex<HashMap<String, u32>>,
    recent: Mutex<Recent>,
}

impl RetryState {
    /// Counts one more retry request for a message (by id and author); returns the count.
    fn count_ask(&self, key: String) -> u32 {
        let mut m = self.asked.lock().unwrap_or_else(PoisonError::into_inner);
        let c = m.entry(key).or_insert(0);
        *c += 1;
        *c
    }

    /// Remembers a sent message (its encoded bytes) for the retry receipts that may follow.
    pub fn remember_sent(&self, id: String, chat: String, msg: Vec<u8>) {
        self.recent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .put(id, chat, msg);
    }

    fn sent(&self, id: &str) -> Option<(String, wa_proto::Message)> {
        let recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        let (chat, bytes) = recent.map.get(id)?;
        // Bytes this client encoded: a failure would be a bug, not input.
        let message = <wa_proto::Message as prost::Message>::decode(bytes.as_slice()).ok()?;
        Some((chat.clone(), message))
    }
}

/// A peer's retry receipt: which message, for which device, the how-manyth try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryRequest {
    pub id: String,
    pub device: String,
    pub count: u32,
}

impl RetryRequest {
    pub fn parse(receipt: &Node) -> Self {
        Self {
            id: receipt.get_attr("id").unwrap_or_default().to_owned(),
            device: receipt
                .get_attr("participant")
                .or(receipt.get_attr("from"))
                .unwrap_or_default()
                .to_owned(),
            count: receipt
                .child("retry")
                .and_then(|r| r.get_attr("count"))
                .and_then(|c| c.parse().ok())
                .unwrap_or(1),
        }
    }
}

/// The retry receipt asking the sender of `message` to encrypt it again. `keys` (from the
/// second try) lets the sender start a new session with us.
pub fn retry_receipt(message: &Node, count: u32, registration_id: u32, keys: Option<Node>) -> Node {
    let id = message.get_attr("id").unwrap_or_default().to_owned();
    let mut retry = Node::new("retry")
        .attr("count", count.to_string())
        .attr("id", id.clone())
        .attr("v", "1")
        .attr("error", "0");
    if let Some(t) = message.get_attr("t") {
        retry = retry.attr("t", t.to_owned());
    }
    let mut content = vec![
        retry,
        Node::new("registration").bytes(be_bytes(registration_id, 4)),
    ];
    content.extend(keys);
    let mut receipt = Node::new("receipt")
        .attr("id", id)
        .attr("type", "retry")
        .attr(
            "to",
            message.get_attr("from").unwrap_or_default().to_owned(),
        );
    for k in ["recipient", "participant"] {
        if let Some(v) = message.get_attr(k) {
            receipt = receipt.attr(k, v.to_owned());
        }
    }
    receipt.children(content)
}

impl Client {
    /// Asks the sender of `node` to encrypt it again; from the second try the receipt carries
    /// a fresh prekey, our signed prekey, identity and device identity.
    pub(crate) async fn send_retry(&self, node: &Node) -> Result<(), ClientError> {
        let key = format!(
            "{}:{}",
            node.get_attr("id").unwrap_or_default(),
            node.get_attr("participant").unwrap_or_default()
        );
        let count = self.inner.retry.count_ask(key);
        if count > MAX_RETRIES {
            tracing::debug!("reached the retry limit for a message");
            return Ok(());
        }
        let keys = if count > 1 {
            let (id, kp) = self.fresh_prekey().await?;
            let identity = lock(&self.inner.creds).signed_identity_key.public.clone();
            let mut keys = vec![
                Node::new("type").bytes(vec![5]),
                Node::new("identity").bytes(identity),
                crate::prekeys::prekey_node(id, &kp.public),
                self.signed_prekey_node(),
            ];
            keys.extend(self.device_identity());
            Some(Node::new("keys").children(keys))
        } else {
            None
        };
        let registration = lock(&self.inner.creds).registration_id;
        self.send_node(retry_receipt(node, count, registration, keys))
            .await
    }

    /// Answers a peer's retry receipt: a fresh session for the device that failed (from the
    /// bundle in the receipt, or fetched), then the message again, for that device only.
    pub(crate) async fn resend(&self, receipt: &Node) -> Result<(), ClientError> {
        let req = RetryRequest::parse(receipt);
        if req.count > MAX_RETRIES {
            return Ok(());
        }
        let found = match self.inner.retry.sent(&req.id) {
            Some(hit) => Some(hit),
            None => self.sent_elsewhere(receipt, &req).await,
        };
        let Some((chat, message)) = found else {
            tracing::debug!("retry receipt for a message neither in memory nor in the app's store");
            return Ok(());
        };
        let address = self.address(&req.device).await?;
        let bundle = receipt
            .child("keys")
            .map(|k| sessions::bundle_from_retry(receipt, k))
            .transpose()?;
        match bundle {
            Some(b) => {
                self.inner
                    .signal
                    .process_bundle(&address, &b, now_ms() as i64)
                    .await?
            }
            None => {
                self.fetch_sessions(std::slice::from_ref(&req.device))
                    .await?
            }
        }
        let own = self.me()?;
        let device = Jid::parse(&req.device).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let mine = own.is_me(&device);
        let group = Jid::parse(&chat).is_ok_and(|j| j.is_group());
        // A device that could not decrypt a group message may lack our sender key: it comes
        // along, inside the pairwise message.
        let message = if group {
            self.with_sender_key(&chat, &own, message).await?
        } else {
            message
        };
        let plain = plaintext_for(mine, &chat, &message);
        let enc = self
            .inner
            .signal
            .encrypt(&address, &nodes::pad(plain))
            .await?;
        let pkmsg = enc.kind == MessageKind::PreKey;
        let mut enc = enc_node(&enc).attr("count", req.count.to_string());
        if let Some(m) = crate::send::kind::media_type(&message) {
            enc = enc.attr("mediatype", m);
        }
        let mut content = vec![enc];
        if pkmsg {
            content.extend(self.device_identity());
        }
        let stanza = Node::new("message")
            .attr("id", req.id)
            .attr("type", crate::send::kind::stanza_type(&message));
        let stanza = if group {
            stanza.attr("to", chat).attr("participant", req.device)
        } else if mine {
            stanza.attr("to", req.device).attr("recipient", chat)
        } else {
            stanza.attr("to", req.device).attr("device_fanout", "false")
        };
        tracing::debug!(count = req.count, "resending a message on a retry receipt");
        self.send_await_ack(stanza.children(content)).await?;
        Ok(())
    }

    /// A message sent before this process's recent window, from the configured source. The
    /// chat of a 1:1 retry is the user who asks; for a group it is the receipt's `from`.
    async fn sent_elsewhere(
        &self,
        receipt: &Node,
        req: &RetryRequest,
    ) -> Option<(String, wa_proto::Message)> {
        let source = self.config().message_source.clone()?;
        // A retry from one of our own devices names the chat as `recipient`.
        let from = Jid::parse(receipt.get_attr("recipient").or(receipt.get_attr("from"))?).ok()?;
        let chat = from.normalized_user().to_string();
        let alt = if crate::lid::is_lid_user(&chat) {
            self.inner.lids.pn_for_lid(&chat).await.ok().flatten()
        } else {
            self.inner.lids.lid_for_pn(&chat).await.ok().flatten()
        };
        match source.0.sent_message(&chat, alt.as_deref(), &req.id).await {
            Ok(Some(message)) => Some((chat, message)),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(code = e.code(), error = %e, "the message source failed for a retry receipt");
                None
            }
        }
    }

    /// Our `device-identity` node, as sent with prekey messages (none before pairing).
    pub(crate) fn device_identity(&self) -> Option<Node> {
        lock(&self.inner.creds)
            .account
            .as_ref()
            .map(device_identity_node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_receipt_copies_the_envelope() {
        let msg = Node::new("message")
            .attr("id", "M1")
            .attr("from", "g@g.us")
            .attr("participant", "1:2@s.whatsapp.net")
            .attr("t", "17");
        let r = retry_receipt(&msg, 2, 0x01020304, Some(Node::new("keys")));
        assert_eq!(r.get_attr("type"), Some("retry"));
        assert_eq!(r.get_attr("to"), Some("g@g.us"));
        assert_eq!(r.get_attr("participant"), Some("1:2@s.whatsapp.net"));
        let retry = r.child("retry").unwrap();
        assert_eq!(retry.get_attr("count"), Some("2"));
        assert_eq!(retry.get_attr("t"), Some("17"));
        assert_eq!(
            r.child("registration")
                .and_then(Node::content_bytes)
                .unwrap(),
            [1, 2, 3, 4]
        );
        assert!(r.child("keys").is_some());
        assert!(retry_receipt(&msg, 1, 1, None).child("keys").is_none());
    }

    #[test]
    fn retry_requests_name_the_device() {
        let r = Node::new("receipt")
            .attr("id", "M")
            .attr("from", "1@s.whatsapp.net")
            .attr("participant", "1:4@s.whatsapp.net")
            .children(vec![Node::new("retry").attr("count", "3")]);
        assert_eq!(
            RetryRequest::parse(&r),
            RetryRequest {
                id: "M".into(),
                device: "1:4@s.whatsapp.net".into(),
                count: 3
            }
        );
    }

    #[test]
    fn recent_is_bounded() {
        let s = RetryState::default();
        for i in 0..(RECENT_CAP + 10) {
            s.remember_sent(i.to_string(), "c".into(), Vec::new());
        }
        assert!(s.sent("0").is_none());
        assert!(s.sent(&(RECENT_CAP + 9).to_string()).is_some());
    }
}
