//! Receipts for messages we sent: delivery, read and played become `messages.update` status
//! changes in chats with one person, `message-receipt.update` per participant in groups and
//! status broadcasts (as Baileys' `handleReceipt`); a `retry` receipt is answered (see
//! `retry`). Acked once the app has the update.

use wa_binary::{Jid, Node};
use wa_proto::web_message_info::Status;

use crate::ctx::{Client, Own};
use crate::error::ClientError;
use crate::event::{Event, MessageKey, MessageReceipt, MessageUpdate};
use crate::nodes;

/// The status a receipt type means; `None` for receipts that change no status (`retry`,
/// `inactive`, ...).
pub fn receipt_status(ty: Option<&str>) -> Option<Status> {
    match ty {
        None => Some(Status::DeliveryAck),
        Some("read" | "read-self") => Some(Status::Read),
        Some("played") => Some(Status::Played),
        Some("sender") => Some(Status::ServerAck),
        _ => None,
    }
}

/// What a receipt tells the app: `messages.update` statuses, or in groups and status
/// broadcasts `message-receipt.update` entries (one per id, for the participant).
#[derive(Debug, Clone, PartialEq)]
pub enum ReceiptNews {
    Statuses(Vec<MessageUpdate>),
    PerParticipant(Vec<MessageReceipt>),
}

/// Baileys' split: receipts in a group or status broadcast name a participant and update
/// that participant's receipt (`receiptTimestamp` for deliveries, `readTimestamp` for reads
/// and plays); a group receipt without a participant says nothing. Other chats' receipts
/// update the message's status.
pub fn receipt_news(node: &Node, own: &Own) -> Option<ReceiptNews> {
    let updates = receipt_updates(node, own);
    if updates.is_empty() {
        return None;
    }
    let chat = Jid::parse(&updates[0].key.remote_jid).ok();
    if !chat.is_some_and(|c| c.is_group() || c.is_status_broadcast()) {
        return Some(ReceiptNews::Statuses(updates));
    }
    let participant = Jid::parse(node.get_attr("participant")?).ok()?;
    let user_jid = participant.normalized_user().to_string();
    let delivery = receipt_status(node.get_attr("type")) == Some(Status::DeliveryAck);
    Some(ReceiptNews::PerParticipant(
        updates
            .into_iter()
            .map(|u| {
                let t = u.update.message_timestamp.unwrap_or(0) as i64;
                let mut receipt = wa_proto::UserReceipt {
                    user_jid: Some(user_jid.clone()),
                    ..Default::default()
                };
                if delivery {
                    receipt.receipt_timestamp = Some(t);
                } else {
                    receipt.read_timestamp = Some(t);
                }
                MessageReceipt {
                    key: u.key,
                    receipt,
                }
            })
            .collect(),
    ))
}

/// The status updates a receipt stands for (its `id` and every `<list><item id>`), or none.
pub fn receipt_updates(node: &Node, own: &Own) -> Vec<MessageUpdate> {
    let Some(status) = receipt_status(node.get_attr("type")) else {
        return Vec::new();
    };
    let from = node.get_attr("from").unwrap_or_default();
    let from_me_node = Jid::parse(from).is_ok_and(|f| own.is_me(&f));
    // Baileys' rule: from our own devices only read and played are news.
    if from_me_node && (status as i32) <= (Status::DeliveryAck as i32) {
        return Vec::new();
    }
    let remote = if from_me_node {
        node.get_attr("recipient").unwrap_or(from)
    } else {
        from
    };
    let mut ids = vec![node.get_attr("id").unwrap_or_default().to_owned()];
    if let Some(list) = node.child("list") {
        ids.extend(
            list.children_by_tag("item")
                .filter_map(|i| i.get_attr("id").map(str::to_owned)),
        );
    }
    let t: u64 = node.get_attr("t").and_then(|t| t.parse().ok()).unwrap_or(0);
    let from_me = node.get_attr("recipient").is_none() || from_me_node;
    ids.into_iter()
        .map(|id| {
            let key = MessageKey {
                remote_jid: remote.to_owned(),
                from_me,
                id,
                participant: node.get_attr("participant").map(str::to_owned),
                ..MessageKey::default()
            };
            MessageUpdate::status(key, status, t)
        })
        .collect()
}

impl Client {
    pub(super) async fn handle_receipt(&self, node: &Node) -> Result<(), ClientError> {
        let own = self.me()?;
        let news = receipt_news(node, &own);
        if node.get_attr("type") == Some("retry")
            && let Err(e) = self.resend(node).await
        {
            tracing::warn!(code = e.code(), "could not resend on a retry receipt");
        }
        let event = match news {
            None => {
                // Nothing for the app: acked with the next write rather than on its own.
                self.answer_soon(nodes::ack(node, None, Some(&own.pn.to_string())));
                return Ok(());
            }
            Some(ReceiptNews::Statuses(u)) => Event::MessagesUpdate(u),
            Some(ReceiptNews::PerParticipant(r)) => Event::MessageReceipts(r),
        };
        // The server keeps the receipt until acked: the ack waits for the app to have it.
        let ack = nodes::ack(node, None, Some(&own.pn.to_string()));
        self.emit_then(event, vec![ack]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own() -> Own {
        Own {
            pn: Jid::parse("1000:3@s.whatsapp.net").unwrap(),
            lid: None,
        }
    }

    #[test]
    fn read_receipts_cover_every_listed_id() {
        let r = Node::new("receipt")
            .attr("id", "A")
            .attr("from", "2000@s.whatsapp.net")
            .attr("type", "read")
            .attr("t", "9")
            .children(vec![
                Node::new("list").children(vec![Node::new("item").attr("id", "B")]),
            ]);
        let u = receipt_updates(&r, &own());
        assert_eq!(u.len(), 2);
        assert_eq!(u[1].key.id, "B");
        assert!(u[0].key.from_me);
        assert_eq!(u[0].update.status, Some(Status::Read as i32));
        assert_eq!(u[0].update.message_timestamp, Some(9));
    }

    #[test]
    fn group_receipts_update_the_participant_s_receipt() {
        let read = Node::new("receipt")
            .attr("id", "A")
            .attr("from", "120363@g.us")
            .attr("participant", "2000:4@s.whatsapp.net")
            .attr("type", "read")
            .attr("t", "9")
            .children(vec![
                Node::new("list").children(vec![Node::new("item").attr("id", "B")]),
            ]);
        let Some(ReceiptNews::PerParticipant(r)) = receipt_news(&read, &own()) else {
            panic!("a group read receipt updates the participant's receipt");
        };
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].key.id, "B");
        assert_eq!(r[0].key.remote_jid, "120363@g.us");
        assert_eq!(
            r[0].key.participant.as_deref(),
            Some("2000:4@s.whatsapp.net")
        );
        assert_eq!(
            r[0].receipt.user_jid.as_deref(),
            Some("2000@s.whatsapp.net")
        );
        assert_eq!(r[0].receipt.read_timestamp, Some(9));
        assert_eq!(r[0].receipt.receipt_timestamp, None);
        let delivered = Node::new("receipt")
            .attr("id", "A")
            .attr("from", "status@broadcast")
            .attr("participant", "2000@s.whatsapp.net")
            .attr("t", "7");
        let Some(ReceiptNews::PerParticipant(d)) = receipt_news(&delivered, &own()) else {
            panic!("a status delivery receipt updates the participant's receipt");
        };
        assert_eq!(d[0].receipt.receipt_timestamp, Some(7));
        assert_eq!(d[0].receipt.read_timestamp, None);
        // Without a participant a group receipt says nothing; a chat's receipt is a status.
        let bare = Node::new("receipt")
            .attr("id", "A")
            .attr("from", "120363@g.us")
            .attr("type", "read");
        assert_eq!(receipt_news(&bare, &own()), None);
        let chat = Node::new("receipt")
            .attr("id", "A")
            .attr("from", "2000@s.whatsapp.net")
            .attr("type", "read");
        assert!(matches!(
            receipt_news(&chat, &own()),
            Some(ReceiptNews::Statuses(_))
        ));
    }

    #[test]
    fn own_sender_receipts_and_retries_change_nothing() {
        let sender = Node::new("receipt")
            .attr("id", "A")
            .attr("from", "1000:4@s.whatsapp.net")
            .attr("type", "sender");
        assert!(receipt_updates(&sender, &own()).is_empty());
        let retry = Node::new("receipt")
            .attr("id", "A")
            .attr("from", "2@s.whatsapp.net")
            .attr("type", "retry");
        assert!(receipt_updates(&retry, &own()).is_empty());
        let own_delivered = Node::new("receipt")
            .attr("id", "A")
            .attr("from", "1000:4@s.whatsapp.net");
        assert!(receipt_updates(&own_delivered, &own()).is_empty());
        let delivered = Node::new("receipt")
            .attr("id", "A")
            .attr("from", "2@s.whatsapp.net");
        assert_eq!(
            receipt_updates(&delivered, &own())[0].update.status,
            Some(Status::DeliveryAck as i32)
        );
    }
}
