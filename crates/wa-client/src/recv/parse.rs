//! The addressing of a received `<message>` (Baileys' `decodeMessageNode`): which chat, which
//! author, whether we sent it, and the alternate addresses the envelope names. Pure.

use wa_binary::{Jid, Node, Server};
use wa_proto::WebMessageInfo;
use wa_proto::web_message_info::Status;

use crate::ctx::Own;
use crate::event::{AddressingMode, MessageKey, WaMessage};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedMessage {
    pub id: String,
    pub chat: String,
    pub author: String,
    pub participant: Option<String>,
    pub from_me: bool,
    pub category_peer: bool,
    pub sender_alt: Option<String>,
    pub addressing_mode: AddressingMode,
    pub timestamp: u64,
    pub push_name: Option<String>,
    /// Delivered from the offline queue.
    pub offline: bool,
    /// A newsletter post's number in its channel.
    pub server_id: Option<String>,
    /// The stanza's `type` (text, media, ...), repeated in the ack of a newsletter post.
    pub stanza_type: Option<String>,
}

impl ParsedMessage {
    /// `None` for an envelope Baileys would refuse (no id or sender, a `recipient` on a
    /// message that is not from us).
    pub fn parse(node: &Node, own: &Own) -> Option<Self> {
        let id = node.get_attr("id")?.to_owned();
        let from = node.get_attr("from")?.to_owned();
        let from_jid = Jid::parse(&from).ok()?;
        let participant = node.get_attr("participant").map(str::to_owned);
        let recipient = node.get_attr("recipient").map(str::to_owned);
        let sender = participant.as_deref().unwrap_or(&from);
        let addressing_mode = match node.get_attr("addressing_mode") {
            Some("lid") => AddressingMode::Lid,
            Some(_) => AddressingMode::Pn,
            None if sender.ends_with("lid") => AddressingMode::Lid,
            None => AddressingMode::Pn,
        };
        let sender_alt = if addressing_mode == AddressingMode::Lid {
            node.get_attr("participant_pn")
                .or(node.get_attr("sender_pn"))
                .or(node.get_attr("peer_recipient_pn"))
        } else {
            node.get_attr("participant_lid")
                .or(node.get_attr("sender_lid"))
                .or(node.get_attr("peer_recipient_lid"))
        }
        .map(str::to_owned);
        let (chat, author, from_me) = if from_jid.is_newsletter() {
            // A channel's post: the channel is both chat and author (Baileys' `newsletter`
            // message type); none of ours reach us this way.
            (from.clone(), from.clone(), false)
        } else if from_jid.is_group() || from_jid.is_broadcast() {
            let p = participant.clone()?;
            let pj = Jid::parse(&p).ok()?;
            (from.clone(), p, own.is_me(&pj))
        } else if let Some(r) = recipient {
            if !own.is_me(&from_jid) {
                return None;
            }
            (r, from.clone(), true)
        } else {
            (from.clone(), from.clone(), own.is_me(&from_jid))
        };
        Some(Self {
            id,
            chat,
            author,
            participant,
            from_me,
            category_peer: node.get_attr("category") == Some("peer"),
            sender_alt,
            addressing_mode,
            timestamp: node.get_attr("t").and_then(|t| t.parse().ok()).unwrap_or(0),
            push_name: node.get_attr("notify").map(str::to_owned),
            offline: node.get_attr("offline").is_some(),
            server_id: from_jid
                .is_newsletter()
                .then(|| node.get_attr("server_id").map(str::to_owned))
                .flatten(),
            stanza_type: node.get_attr("type").map(str::to_owned),
        })
    }

    /// What tells this message apart from every other: chat, id and author.
    pub fn uid(&self) -> String {
        [self.chat.as_str(), "|", &self.id, "|", &self.author].concat()
    }

    pub fn is_group(&self) -> bool {
        self.chat.ends_with("@g.us")
    }

    pub fn key(&self) -> MessageKey {
        let alt = self.sender_alt.clone();
        let group = self.is_group();
        MessageKey {
            remote_jid: user_of(&self.chat),
            from_me: self.from_me,
            id: self.id.clone(),
            participant: self.participant.as_deref().map(user_of),
            remote_jid_alt: if group { None } else { alt.clone() },
            participant_alt: if group { alt } else { None },
            addressing_mode: Some(self.addressing_mode),
            server_id: self.server_id.clone(),
        }
    }

    pub fn is_newsletter(&self) -> bool {
        self.chat.ends_with("@newsletter")
    }

    /// The WAMessage of this envelope, before its content is known.
    pub fn wa_message(&self) -> WaMessage {
        WaMessage {
            key: self.key(),
            info: WebMessageInfo {
                message_timestamp: Some(self.timestamp),
                broadcast: Some(self.chat.ends_with("@broadcast")),
                push_name: self.push_name.clone(),
                status: self.from_me.then_some(Status::ServerAck as i32),
                ..WebMessageInfo::default()
            },
            category: self.category_peer.then(|| "peer".to_owned()),
        }
    }

    /// The receipt that tells the server (and the sender) we have the message: `peer_msg` for
    /// protocol messages from our own devices, `sender` for what our other devices sent,
    /// plain delivery otherwise.
    ///
    /// A newsletter post gets no receipt (WhatsApp counts views, not deliveries); its ack
    /// takes the receipt's place.
    pub fn delivery_receipt(&self) -> Node {
        if self.is_newsletter() {
            let mut ack = Node::new("ack")
                .attr("id", self.id.clone())
                .attr("to", self.chat.clone())
                .attr("class", "message");
            if let Some(t) = &self.stanza_type {
                ack = ack.attr("type", t.clone());
            }
            return ack;
        }
        let receipt = Node::new("receipt").attr("id", self.id.clone());
        if self.category_peer {
            receipt
                .attr("to", self.chat.clone())
                .attr("type", "peer_msg")
        } else if self.from_me {
            receipt
                .attr("recipient", self.chat.clone())
                .attr("to", self.author.clone())
                .attr("type", "sender")
        } else {
            let mut r = receipt.attr("to", self.chat.clone());
            if let Some(p) = &self.participant {
                r = r.attr("participant", p.clone());
            }
            r
        }
    }
}

/// A chat or author as the app keys it: the user, without device or agent, hosted servers as
/// their plain ones (Baileys' `cleanMessage`). A message from a companion device belongs to its
/// user's chat, not to a chat of its own.
fn user_of(jid: &str) -> String {
    match Jid::parse(jid) {
        Ok(j) => {
            let mut u = j.normalized_user();
            u.server = match u.server {
                Server::Hosted => Server::Pn,
                Server::HostedLid => Server::Lid,
                other => other,
            };
            u.to_string()
        }
        Err(_) => jid.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own() -> Own {
        Own {
            pn: Jid::parse("1000:3@s.whatsapp.net").unwrap(),
            lid: Some(Jid::parse("900:3@lid").unwrap()),
        }
    }

    #[test]
    fn peer_message_addressing() {
        let n = Node::new("message")
            .attr("id", "A")
            .attr("from", "2000:1@s.whatsapp.net")
            .attr("sender_lid", "800:1@lid")
            .attr("t", "5")
            .attr("notify", "Bob");
        let p = ParsedMessage::parse(&n, &own()).unwrap();
        assert_eq!(
            (p.chat.as_str(), p.from_me),
            ("2000:1@s.whatsapp.net", false)
        );
        let k = p.key();
        // The chat is the user's, whichever of its devices wrote.
        assert_eq!(k.remote_jid, "2000@s.whatsapp.net");
        assert_eq!(k.remote_jid_alt.as_deref(), Some("800:1@lid"));
        assert_eq!(k.addressing_mode, Some(AddressingMode::Pn));
        let m = p.wa_message();
        assert_eq!(m.info.push_name.as_deref(), Some("Bob"));
        assert_eq!(m.info.message_timestamp, Some(5));
        let r = p.delivery_receipt();
        assert_eq!(r.get_attr("to"), Some("2000:1@s.whatsapp.net"));
        assert_eq!(r.get_attr("type"), None);
    }

    #[test]
    fn a_newsletter_post_is_keyed_by_its_channel_and_acked_not_receipted() {
        let n = Node::new("message")
            .attr("id", "P1")
            .attr("from", "120363001@newsletter")
            .attr("server_id", "104")
            .attr("type", "text")
            .attr("t", "9");
        let p = ParsedMessage::parse(&n, &own()).unwrap();
        assert_eq!(
            (p.chat.as_str(), p.author.as_str()),
            ("120363001@newsletter", "120363001@newsletter")
        );
        assert!(!p.from_me);
        let k = p.key();
        assert_eq!(k.server_id.as_deref(), Some("104"));
        assert_eq!(k.participant, None);
        let ack = p.delivery_receipt();
        assert_eq!(ack.tag, "ack");
        assert_eq!(ack.get_attr("class"), Some("message"));
        assert_eq!(ack.get_attr("to"), Some("120363001@newsletter"));
        assert_eq!(ack.get_attr("type"), Some("text"));
        // A `server_id` elsewhere means nothing.
        let dm = Node::new("message")
            .attr("id", "D")
            .attr("from", "2000@s.whatsapp.net")
            .attr("server_id", "5");
        assert_eq!(
            ParsedMessage::parse(&dm, &own()).unwrap().key().server_id,
            None
        );
    }

    #[test]
    fn own_device_and_group_addressing() {
        let sent = Node::new("message")
            .attr("id", "B")
            .attr("from", "1000:5@s.whatsapp.net")
            .attr("recipient", "2000@s.whatsapp.net");
        let p = ParsedMessage::parse(&sent, &own()).unwrap();
        assert!(p.from_me);
        assert_eq!(p.chat, "2000@s.whatsapp.net");
        assert_eq!(p.delivery_receipt().get_attr("type"), Some("sender"));
        let forged = Node::new("message")
            .attr("id", "C")
            .attr("from", "2000@s.whatsapp.net")
            .attr("recipient", "3000@s.whatsapp.net");
        assert!(ParsedMessage::parse(&forged, &own()).is_none());
        let group = Node::new("message")
            .attr("id", "D")
            .attr("from", "123@g.us")
            .attr("participant", "800:2@lid")
            .attr("participant_pn", "2000:2@s.whatsapp.net");
        let p = ParsedMessage::parse(&group, &own()).unwrap();
        let k = p.key();
        assert_eq!(
            (k.remote_jid.as_str(), k.participant.as_deref()),
            ("123@g.us", Some("800@lid"))
        );
        assert_eq!(k.participant_alt.as_deref(), Some("2000:2@s.whatsapp.net"));
        assert_eq!(k.addressing_mode, Some(AddressingMode::Lid));
        assert_eq!(
            p.delivery_receipt().get_attr("participant"),
            Some("800:2@lid")
        );
        let hosted = Node::new("message")
            .attr("id", "F")
            .attr("from", "3000:99@hosted");
        let k = ParsedMessage::parse(&hosted, &own()).unwrap().key();
        assert_eq!(k.remote_jid, "3000@s.whatsapp.net");
        let no_author = Node::new("message")
            .attr("id", "E")
            .attr("from", "123@g.us");
        assert!(ParsedMessage::parse(&no_author, &own()).is_none());
    }
}
