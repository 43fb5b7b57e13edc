//! A received `<message>`: the sender's LID mapping remembered, each `<enc>` decrypted under
//! the sender's lock (`pkmsg`/`msg` by the author's Signal address, `skmsg` by sender key),
//! unpadded and decoded, wrappers unwrapped, sender keys processed; then the event, then the
//! receipt. The Signal state a message changed is committed before the app hears of it, and
//! the receipt goes after: a crash in between means redelivery, never a loss.

use prost::Message as _;
use wa_binary::{Jid, Node};
use wa_proto::web_message_info::StubType;
use wa_signal::{MessageKind, SenderKeyName};

use super::parse::ParsedMessage;
use crate::ctx::{Client, now_ms};
use crate::error::ClientError;
use crate::event::{Event, MessagesUpsert, UpsertType};
use crate::lid::lid_pn_pair;
use crate::nodes;

/// Baileys' text for a message node without anything to decrypt.
const NO_CONTENT: &str = "Message absent from node";

impl Client {
    pub(super) async fn handle_message(&self, node: &Node) -> Result<(), ClientError> {
        let own = self.me()?;
        let Some(parsed) = ParsedMessage::parse(node, &own) else {
            return self.send_ack(node, Some(487)).await;
        };
        // Remember the sender's LID mapping before decrypting, so the session is looked up
        // where Baileys keeps it.
        if let (Some(alt), Ok(author)) = (&parsed.sender_alt, Jid::parse(&parsed.author))
            && let Ok(alt) = Jid::parse(alt)
            && let Some((lid, pn)) = lid_pn_pair(&author, &alt)
        {
            self.store_lid_mapping(&lid.user, &pn.user).await?;
        }

        let mut content: Option<wa_proto::Message> = None;
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
            match self.decrypt_one(&parsed, enc, ct).await {
                // Several `enc` children (rare): later content completes earlier, as Baileys'
                // Object.assign does.
                Ok(m) => match &mut content {
                    Some(existing) => {
                        let _ = existing.merge(m.encode_to_vec().as_slice());
                    }
                    None => content = Some(m),
                },
                Err(e) => failure = Some(e),
            }
        }

        let mut msg = parsed.wa_message();
        msg.info.message = content;
        if let Some(e) = &failure {
            msg.info.message_stub_type = Some(StubType::Ciphertext as i32);
            msg.info.message_stub_parameters = vec![e.to_string()];
        } else if decryptables == 0 {
            msg.info.message_stub_type = Some(StubType::Ciphertext as i32);
            msg.info.message_stub_parameters = vec![NO_CONTENT.to_owned()];
        }
        let kind = if parsed.offline {
            UpsertType::Append
        } else {
            UpsertType::Notify
        };
        let upsert = Event::MessagesUpsert(MessagesUpsert {
            messages: vec![msg],
            kind,
        });
        match failure {
            // A message we already decrypted (the server delivered it again): Baileys acks it
            // with a parsing error instead of asking for a retry.
            Some(e) if e.is_duplicate() => self.send_ack(node, Some(487)).await,
            Some(_) => {
                self.send_retry(node).await?;
                self.send_ack(node, Some(500)).await?;
                self.emit(upsert);
                Ok(())
            }
            None => {
                self.emit(upsert);
                self.send_node(parsed.delivery_receipt()).await
            }
        }
    }

    /// Decrypts one `<enc>` (or reads a `<plaintext>`) into a `Message`.
    async fn decrypt_one(
        &self,
        parsed: &ParsedMessage,
        enc: &Node,
        ct: &[u8],
    ) -> Result<wa_proto::Message, ClientError> {
        let plain = match (enc.tag.as_ref(), enc.get_attr("type")) {
            ("plaintext", _) => ct.to_vec(),
            (_, Some(t @ ("pkmsg" | "msg"))) => {
                let kind = if t == "pkmsg" {
                    MessageKind::PreKey
                } else {
                    MessageKind::Whisper
                };
                let addr = self.address(&parsed.author).await?;
                let d = self
                    .inner
                    .signal
                    .decrypt(&addr, kind, ct, now_ms() as i64)
                    .await?;
                nodes::unpad(&d.plaintext)?.to_vec()
            }
            (_, Some("skmsg")) => {
                let name = SenderKeyName::from_jids(&parsed.chat, &parsed.author)
                    .map_err(|k| ClientError::from(k.at(&parsed.author)))?;
                let p = self.inner.signal.group_decrypt(&name, ct).await?;
                nodes::unpad(&p)?.to_vec()
            }
            (_, other) => {
                return Err(ClientError::Protocol(format!("unknown e2e type {other:?}")));
            }
        };
        let mut m = wa_proto::Message::decode(plain.as_slice())
            .map_err(|e| ClientError::Protocol(format!("message: {e}")))?;
        if let Some(dsm) = m.device_sent_message.take()
            && let Some(inner) = dsm.message
        {
            m = *inner;
        }
        if let Some(skdm) = &m.sender_key_distribution_message
            && let (Some(g), Some(d)) = (
                &skdm.group_id,
                &skdm.axolotl_sender_key_distribution_message,
            )
            && let Ok(name) = SenderKeyName::from_jids(g, &parsed.author)
            && let Err(e) = self.inner.signal.group_process_distribution(&name, d).await
        {
            tracing::warn!(code = e.code(), "sender key distribution failed");
        }
        Ok(m)
    }
}
