//! A received `<message>`: the sender's LID mapping remembered, each `<enc>` decrypted under
//! the sender's lock (`pkmsg`/`msg` by the author's Signal address, `skmsg` by sender key),
//! unpadded and decoded, wrappers unwrapped, sender keys processed.
//!
//! Every Signal change of the message is staged and written in **one** `set` together with
//! the message's inbox entry, the locks held until then; only then is the event emitted and
//! its delivery receipt sent (the entry, replayed at the next login until the app confirmed
//! it, is what keeps it from being lost: see `delivery`). A redelivered message (its keys
//! used already) is answered from the inbox: emitted again while the app has not confirmed
//! it, and receipted.

use std::sync::Arc;

use prost::Message as _;
use wa_binary::{Jid, Node};
use wa_proto::web_message_info::StubType;
use wa_signal::protocol::{self, LockGuard};
use wa_signal::{MessageKind, SenderKeyName};

use super::parse::ParsedMessage;
use crate::ctx::{Client, Own, now_ms};
use crate::error::ClientError;
use crate::event::{Event, MessagesUpsert, UpsertType};
use crate::inbox::{Entry, Envelope, Known};
use crate::lid::lid_pn_pair;
use crate::nodes;
use crate::signal_store::Staged;
use crate::testhook::{self, CrashPoint};

/// Baileys' text for a message node without anything to decrypt.
const NO_CONTENT: &str = "Message absent from node";

/// The event of a message's inbox entry and the receipt that answers it.
fn upsert_from(parsed: &ParsedMessage, entry: Entry, kind: UpsertType) -> (Event, Node) {
    let mut msg = parsed.wa_message();
    msg.info.message = entry.message;
    if let Some((ty, params)) = entry.stub {
        msg.info.message_stub_type = Some(ty);
        msg.info.message_stub_parameters = params;
    }
    let upsert = Event::MessagesUpsert(MessagesUpsert {
        messages: vec![msg],
        kind,
    });
    (upsert, parsed.delivery_receipt())
}

/// [`upsert_from`] for a stored entry; `None` when its envelope no longer parses (it could
/// not have been written).
fn upsert_of(entry: Entry, own: &Own, kind: UpsertType) -> Option<(Event, Node)> {
    let envelope = entry.envelope.node()?;
    let parsed = ParsedMessage::parse(&envelope, own)?;
    Some(upsert_from(&parsed, entry, kind))
}

impl Client {
    pub(super) async fn handle_message(&self, node: &Arc<Node>) -> Result<(), ClientError> {
        let own = self.me()?;
        let Some(parsed) = ParsedMessage::parse(node, &own) else {
            return self.send_ack(node, Some(487)).await;
        };
        let inbox = self.inbox()?;
        let uid = parsed.uid();
        let mut unsettled = None;
        match inbox.known(&uid, self.inner.conn) {
            Known::Unknown => {}
            // Emitted by this connection already, and receipted: the receipt again (the
            // server asking again had not taken the first).
            Known::InFlight => return self.send_node(parsed.delivery_receipt()).await,
            Known::Pending(seq) => {
                return self.hand_over(inbox, seq, &own, UpsertType::Append).await;
            }
            // Its entry is written, the keys its decryption changed maybe only in part: it is
            // decrypted again below to write them, then handed over from the entry.
            Known::Unsettled(seq) => unsettled = Some(seq),
            Known::Delivered => return self.send_node(parsed.delivery_receipt()).await,
        }
        // Remember the sender's LID mapping before decrypting, so the session is looked up
        // where Baileys keeps it.
        if let (Some(alt), Ok(author)) = (&parsed.sender_alt, Jid::parse(&parsed.author))
            && let Ok(alt) = Jid::parse(alt)
            && let Some((lid, pn)) = lid_pn_pair(&author, &alt)
        {
            self.store_lid_mapping(&lid.user, &pn.user).await?;
        }

        let staged = Staged::new(self.inner.signal.store());
        let mut held = Vec::new();
        let mut content: Option<wa_proto::Message> = None;
        let mut wire: Option<Vec<u8>> = None;
        let mut failure: Option<ClientError> = None;
        let mut decryptables = 0;
        for enc in node.child_nodes() {
            if enc.tag != "enc" && enc.tag != "plaintext" {
                continue;
            }
            let Some(ct) = enc.content_bytes() else {
                continue;
            };
            decryptables += 1;
            match self.decrypt_one(&parsed, enc, ct, &staged, &mut held).await {
                // Several `enc` children (rare): later content completes earlier, as Baileys'
                // Object.assign does.
                Ok((m, bytes)) => match &mut content {
                    Some(existing) => {
                        let _ = existing.merge(m.encode_to_vec().as_slice());
                        wire = None;
                    }
                    None => {
                        content = Some(m);
                        wire = bytes;
                    }
                },
                Err(e) => failure = Some(e),
            }
        }
        testhook::reached(CrashPoint::Decrypted);

        if let Some(e) = failure {
            // The store did not answer (a read of a session or key): not the message's fault.
            // Nothing is written or answered; the worker handles it again.
            if e.is_store_failure() {
                return Err(e);
            }
            // Whatever did decrypt is kept; a message we cannot read is not journaled (the
            // sender is asked to send it again).
            if !staged.is_empty() {
                self.inner
                    .keys
                    .set_changes_owned(staged.into_changes())
                    .await?;
            }
            drop(held);
            // The entry holds what the first decryption gave: a failure now (its keys found
            // used up, as they are when the first attempt wrote them) changes nothing of it.
            if let Some(seq) = unsettled {
                inbox.settle(seq, &Default::default()).await?;
                return self.hand_over(inbox, seq, &own, upsert_kind(&parsed)).await;
            }
            // Our keys for it are used (the server delivered it again) and the inbox does not
            // have it: Baileys acks it with a parsing error instead of asking for a retry.
            if e.is_duplicate() {
                return self.send_ack(node, Some(487)).await;
            }
            self.send_retry(node).await?;
            self.send_ack(node, Some(500)).await?;
            let mut msg = parsed.wa_message();
            msg.info.message = content;
            msg.info.message_stub_type = Some(StubType::Ciphertext as i32);
            msg.info.message_stub_parameters = vec![e.to_string()];
            self.emit(Event::MessagesUpsert(MessagesUpsert {
                messages: vec![msg],
                kind: upsert_kind(&parsed),
            }));
            return Ok(());
        }

        let entry = Entry {
            uid,
            envelope: Envelope::Stanza(Arc::clone(node)),
            message: content,
            wire,
            stub: (decryptables == 0)
                .then(|| (StubType::Ciphertext as i32, vec![NO_CONTENT.to_owned()])),
        };
        let writes = staged.into_changes();
        if let Some(seq) = unsettled {
            inbox.settle(seq, &writes).await?;
            drop(held);
            return self.hand_over(inbox, seq, &own, upsert_kind(&parsed)).await;
        }
        let seq = inbox.append(writes, &entry, self.inner.conn).await?;
        drop(held);
        testhook::reached(CrashPoint::Committed);
        let (event, receipt) = upsert_from(&parsed, entry, upsert_kind(&parsed));
        self.emit_received(event, receipt, inbox, seq);
        testhook::reached(CrashPoint::Emitted);
        Ok(())
    }

    /// Emits stored entry `seq` (not handed to this connection) and answers it.
    async fn hand_over(
        &self,
        inbox: std::sync::Arc<crate::inbox::Inbox>,
        seq: u64,
        own: &Own,
        kind: UpsertType,
    ) -> Result<(), ClientError> {
        if let Some(entry) = inbox.take(seq, self.inner.conn).await?
            && let Some((event, receipt)) = upsert_of(entry, own, kind)
        {
            self.emit_received(event, receipt, inbox, seq);
        }
        Ok(())
    }

    /// Emits what the inbox holds and the app has not confirmed (a crash came between),
    /// before any new traffic of this connection.
    pub(super) async fn replay_inbox(&self) -> Result<(), ClientError> {
        let own = self.me()?;
        let inbox = self.inbox()?;
        let entries = inbox.unconfirmed(self.inner.conn).await?;
        if !entries.is_empty() {
            tracing::info!(count = entries.len(), "replaying unconfirmed messages");
        }
        for (seq, entry) in entries {
            match upsert_of(entry, &own, UpsertType::Append) {
                Some((event, receipt)) => self.emit_received(event, receipt, inbox.clone(), seq),
                None => tracing::warn!(seq, "an inbox entry without a readable envelope"),
            }
        }
        Ok(())
    }

    /// Decrypts one `<enc>` (or reads a `<plaintext>`) into a `Message`, staging its Signal
    /// changes and keeping the lock of every key it touched in `held`. With it, the bytes it
    /// was decoded from, unless it was unwrapped from a `deviceSentMessage`.
    async fn decrypt_one<'a>(
        &'a self,
        parsed: &ParsedMessage,
        enc: &Node,
        ct: &[u8],
        staged: &Staged<'_>,
        held: &mut Vec<(String, LockGuard<'a>)>,
    ) -> Result<(wa_proto::Message, Option<Vec<u8>>), ClientError> {
        let plain = match (enc.tag.as_ref(), enc.get_attr("type")) {
            ("plaintext", _) => ct.to_vec(),
            (_, Some(t @ ("pkmsg" | "msg"))) => {
                let kind = if t == "pkmsg" {
                    MessageKind::PreKey
                } else {
                    MessageKind::Whisper
                };
                let addr = self.address(&parsed.author).await?;
                self.hold(addr.id(), held).await;
                let d = protocol::decrypt(staged, &addr, kind, ct, now_ms() as i64).await?;
                unpadded(d.plaintext)?
            }
            (_, Some("skmsg")) => {
                let name = SenderKeyName::from_jids(&parsed.chat, &parsed.author)
                    .map_err(|k| ClientError::from(k.at(&parsed.author)))?;
                self.hold(name.to_string(), held).await;
                let p = protocol::group_decrypt(staged, &name, ct).await?;
                unpadded(p)?
            }
            (_, other) => {
                return Err(ClientError::Protocol(format!("unknown e2e type {other:?}")));
            }
        };
        let mut m = wa_proto::Message::decode(plain.as_slice())
            .map_err(|e| ClientError::Protocol(format!("message: {e}")))?;
        let mut wire = Some(plain);
        if let Some(dsm) = m.device_sent_message.take()
            && let Some(inner) = dsm.message
        {
            m = *inner;
            wire = None;
        }
        if let Some(skdm) = &m.sender_key_distribution_message
            && let (Some(g), Some(d)) = (
                &skdm.group_id,
                &skdm.axolotl_sender_key_distribution_message,
            )
            && let Ok(name) = SenderKeyName::from_jids(g, &parsed.author)
        {
            self.hold(name.to_string(), held).await;
            if let Err(e) = protocol::group_process_distribution(staged, &name, d).await {
                tracing::warn!(code = e.code(), "sender key distribution failed");
            }
        }
        Ok((m, wire))
    }

    /// Takes the protocol lock of `key` unless this message holds it already.
    async fn hold<'a>(&'a self, key: String, held: &mut Vec<(String, LockGuard<'a>)>) {
        if held.iter().any(|(k, _)| *k == key) {
            return;
        }
        let g = self.inner.signal.lock(key.clone()).await;
        held.push((key, g));
    }
}

/// `plain` without its padding, in place.
fn unpadded(mut plain: Vec<u8>) -> Result<Vec<u8>, ClientError> {
    let len = nodes::unpad(&plain)?.len();
    plain.truncate(len);
    Ok(plain)
}

/// Baileys' type for a new message: `append` for the offline queue, else `notify`.
fn upsert_kind(parsed: &ParsedMessage) -> UpsertType {
    if parsed.offline {
        UpsertType::Append
    } else {
        UpsertType::Notify
    }
}
