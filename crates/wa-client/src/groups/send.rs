//! Sending to a group: one sender-key encryption (`skmsg`) for everyone, and our sender key's
//! distribution message (inside a pairwise `pkmsg`/`msg`) only to the member devices that do not
//! hold it yet. Who holds it is Baileys' `sender-key-memory` (per group: device JID -> true), kept
//! in the key store so a restart does not send the key to every device again. A member who
//! leaves or is removed makes us drop both our key and the memory ([`Client::rotate_sender_key`]):
//! the next send starts a new key that the one who left never gets, and every remaining device
//! gets it, so no one is left "waiting for this message".

use std::sync::Arc;

use prost::Message as _;
use serde_json::{Map, Value};
use wa_binary::{Jid, Node};
use wa_signal::{MessageKind, SenderKeyName};
use wa_store::{KeyType, KeyWrites};

use super::{GroupMetadata, SendTarget};
use crate::ctx::{Client, Own, now_ms};
use crate::error::ClientError;
use crate::event::{AddressingMode, MessageKey, WaMessage};
use crate::nodes;
use crate::send::{SendOptions, enc_node, kind, order};

/// Devices that never get a sender key: hosted (business API) devices and the bot device.
fn takes_sender_key(device: &Jid) -> bool {
    !device.is_hosted_pn() && !device.is_hosted_lid() && device.device != 99
}

/// Our sender identity in a group: our LID device in LID groups (when we know it), else our
/// phone-number device.
pub(crate) fn sender_identity(own: &Own, mode: AddressingMode) -> &Jid {
    match (&own.lid, mode) {
        (Some(l), AddressingMode::Lid) => l,
        _ => &own.pn,
    }
}

/// Where statuses go.
pub const STATUS_BROADCAST: &str = "status@broadcast";

/// A status's audience as a group: the listed users, LID-addressed as Baileys sends statuses
/// (our sender identity is our LID when we have one).
fn status_audience(list: &[String]) -> Result<GroupMetadata, ClientError> {
    let mut participants = Vec::with_capacity(list.len());
    for j in list {
        match Jid::parse(j) {
            Ok(u) if u.is_pn() || u.is_lid() => participants.push(super::GroupParticipant {
                id: u.normalized_user().to_string(),
                ..super::GroupParticipant::default()
            }),
            _ => {
                return Err(ClientError::Argument(format!(
                    "statusJidList: {j:?} is not a user JID"
                )));
            }
        }
    }
    Ok(GroupMetadata {
        id: STATUS_BROADCAST.to_owned(),
        addressing_mode: Some(AddressingMode::Lid),
        size: participants.len(),
        participants,
        ..GroupMetadata::default()
    })
}

impl Client {
    /// A group send whose turn has come (see `send_in_turn`).
    pub(crate) async fn send_group(
        &self,
        chat: String,
        message: wa_proto::Message,
        mut options: SendOptions,
        turn: Option<order::Turn>,
        own: Arc<Own>,
    ) -> Result<WaMessage, ClientError> {
        let no_own_event = options.no_own_event;
        // A status goes to the contacts the app lists, with a sender key as in a group; Baileys
        // keeps no memory for it (every send carries the key to every listed device).
        let status = chat == STATUS_BROADCAST;
        let meta = if status {
            let list = options.status_jid_list.take().unwrap_or_default();
            if list.is_empty() {
                return Err(ClientError::Argument(
                    "a status needs statusJidList: the contacts who may see it".into(),
                ));
            }
            Arc::new(SendTarget::of(&status_audience(&list)?))
        } else {
            match options.group.take() {
                Some(m) => Arc::new(SendTarget::of(&m)),
                None => self.cached_group(&chat).await?,
            }
        };
        // Baileys lets `additionalAttributes.addressing_mode` override the group's.
        let mode = match options.attrs.iter().find(|(k, _)| k == "addressing_mode") {
            Some((_, v)) if v == "lid" => AddressingMode::Lid,
            Some((_, v)) if v == "pn" => AddressingMode::Pn,
            _ => meta.mode,
        };
        let me = sender_identity(&own, mode).clone();
        let now = now_ms();
        let id = match options.id.take() {
            Some(id) => id,
            None => nodes::message_id(Some(&own.pn.user), now / 1000),
        };
        let users: Vec<String> = meta.users.iter().map(|u| u.to_string()).collect();
        let devices = self.devices(&users).await?;
        let name = SenderKeyName::from_jids(&chat, &me.to_string())
            .map_err(|k| ClientError::from(k.at(me.to_string())))?;
        let mut memory = if status {
            Map::new()
        } else {
            self.sender_key_memory(&chat).await?
        };

        let encoded = message.encode_to_vec();
        let plain = nodes::pad(encoded.clone());
        let group = self.inner.signal.group_encrypt(&name, &plain).await?;

        let mut need = Vec::new();
        // A set beside `need`: a linear `contains` was quadratic, ~4.5 M string compares for a
        // 3,000-device group.
        let mut needed = std::collections::HashSet::new();
        let mut all = Vec::with_capacity(devices.len());
        for d in &devices {
            let Ok(j) = Jid::parse(d) else { continue };
            if j.user == me.user && j.device == me.device {
                continue;
            }
            // Our own device in the other addressing space is still us.
            if own.is_me(&j) && j.device == me.device {
                continue;
            }
            all.push(d.clone());
            if takes_sender_key(&j) && !memory.contains_key(d) && needed.insert(d.as_str()) {
                need.push(d.clone());
            }
        }

        let media = kind::media_type(&message);
        let mut participants = Vec::with_capacity(need.len());
        let mut any_pkmsg = false;
        if !need.is_empty() {
            let skdm = wa_proto::Message {
                sender_key_distribution_message: Some(Box::new(
                    wa_proto::message::SenderKeyDistributionMessage {
                        group_id: Some(chat.clone()),
                        axolotl_sender_key_distribution_message: Some(group.distribution.clone()),
                    },
                )),
                ..Default::default()
            }
            .encode_to_vec();
            let targets: Vec<(String, usize)> = need.iter().map(|d| (d.clone(), 0)).collect();
            for (d, enc) in self
                .encrypt_for_devices(&targets, &[nodes::pad(skdm)])
                .await?
            {
                any_pkmsg |= enc.kind == MessageKind::PreKey;
                participants.push(
                    Node::new("to")
                        .attr("jid", d)
                        .children(vec![with_media(enc_node(&enc), media)]),
                );
            }
        }

        let mut content = Vec::with_capacity(3);
        if !participants.is_empty() {
            content.push(Node::new("participants").children(participants));
        }
        content.push(with_media(
            Node::new("enc")
                .attr("v", "2")
                .attr("type", "skmsg")
                .bytes(group.ciphertext),
            media,
        ));
        if any_pkmsg && let Some(identity) = self.device_identity() {
            content.push(identity);
        }
        let mut stanza = Node::new("message")
            .attr("id", id.clone())
            .attr("to", chat.clone())
            .attr("type", kind::stanza_type(&message));
        if !status {
            stanza = stanza.attr("addressing_mode", mode.as_str());
        }
        stanza = stanza.attr("phash", nodes::phash(&all));
        if let Some(e) = meta.ephemeral.filter(|e| *e > 0)
            && !options.attrs.iter().any(|(k, _)| k == "expiration")
        {
            stanza = stanza.attr("expiration", e.to_string());
        }
        for (k, v) in std::mem::take(&mut options.attrs) {
            if k != "addressing_mode" {
                stanza = stanza.attr(k, v);
            }
        }
        content.extend(std::mem::take(&mut options.nodes));
        stanza = stanza.children(content);

        self.inner
            .retry
            .remember_sent(id.clone(), chat.clone(), encoded);
        let ack = self.enqueue_await_ack(stanza);
        drop(turn);
        Self::ack(ack?).await?;
        // Remembered once the server took the message: a send that failed delivered no key.
        if !need.is_empty() && !status {
            for d in need {
                memory.insert(d, Value::Bool(true));
            }
            self.save_sender_key_memory(&chat, memory).await?;
        }
        let key = MessageKey {
            remote_jid: chat,
            from_me: true,
            id,
            addressing_mode: (!status).then_some(mode),
            ..MessageKey::default()
        };
        Ok(self.sent(key, message, now, no_own_event))
    }

    /// Which devices hold our sender key in `group`.
    async fn sender_key_memory(&self, group: &str) -> Result<Map<String, Value>, ClientError> {
        let mut got = self
            .inner
            .keys
            .get(KeyType::SenderKeyMemory, &[group.to_owned()])
            .await?;
        // Taken, not cloned: a 3,000-device group's memory is a map of 3,000 entries.
        Ok(match got.remove(group) {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        })
    }

    async fn save_sender_key_memory(
        &self,
        group: &str,
        memory: Map<String, Value>,
    ) -> Result<(), ClientError> {
        let mut w = KeyWrites::new();
        w.entry(KeyType::SenderKeyMemory)
            .or_default()
            .insert(group.to_owned(), Some(Value::Object(memory)));
        self.inner.keys.set(&w).await?;
        Ok(())
    }

    /// `message` with our sender key's distribution message for `group` added (a retry's
    /// resend), under whichever of our identities holds a key there; unchanged if none does.
    pub(crate) async fn with_sender_key(
        &self,
        group: &str,
        own: &Own,
        mut message: wa_proto::Message,
    ) -> Result<wa_proto::Message, ClientError> {
        for me in [own.lid.as_ref(), Some(&own.pn)].into_iter().flatten() {
            let Ok(name) = SenderKeyName::from_jids(group, &me.to_string()) else {
                continue;
            };
            let held =
                wa_signal::store::SenderKeyStore::load_sender_key(self.inner.signal.store(), &name)
                    .await
                    .ok()
                    .flatten()
                    .is_some_and(|r| !r.is_empty());
            if held {
                let skdm = self.inner.signal.group_distribution(&name).await?;
                message.sender_key_distribution_message =
                    Some(Box::new(wa_proto::message::SenderKeyDistributionMessage {
                        group_id: Some(group.to_owned()),
                        axolotl_sender_key_distribution_message: Some(skdm),
                    }));
                break;
            }
        }
        Ok(message)
    }

    /// Drops our sender keys in `group` (under both our identities) and the memory of who holds
    /// them: the next send makes a new key and gives it to every member device then.
    pub(crate) async fn rotate_sender_key(&self, group: &str) -> Result<(), ClientError> {
        let own = self.me()?;
        let mut names = Vec::with_capacity(2);
        for me in [Some(&own.pn), own.lid.as_ref()].into_iter().flatten() {
            if let Ok(n) = SenderKeyName::from_jids(group, &me.to_string()) {
                names.push(n.to_string());
            }
        }
        let mut guards = Vec::with_capacity(names.len());
        for n in &names {
            guards.push(self.inner.signal.lock(n.clone()).await);
        }
        let mut w = KeyWrites::new();
        let keys = w.entry(KeyType::SenderKey).or_default();
        for n in names {
            keys.insert(n, None);
        }
        w.entry(KeyType::SenderKeyMemory)
            .or_default()
            .insert(group.to_owned(), None);
        self.inner.keys.set(&w).await?;
        drop(guards);
        Ok(())
    }
}

fn with_media(enc: Node, media: Option<&'static str>) -> Node {
    match media {
        Some(m) => enc.attr("mediatype", m),
        None => enc,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::groups::GroupParticipant;

    #[test]
    fn identities_and_members() {
        let own = Own {
            pn: Jid::parse("1000:3@s.whatsapp.net").unwrap(),
            lid: Some(Jid::parse("900:3@lid").unwrap()),
        };
        assert_eq!(
            sender_identity(&own, AddressingMode::Lid).to_string(),
            "900:3@lid"
        );
        assert_eq!(
            sender_identity(&own, AddressingMode::Pn).to_string(),
            "1000:3@s.whatsapp.net"
        );
        let meta = GroupMetadata {
            participants: ["5@lid", "6:2@lid", "5@lid", "bad"]
                .iter()
                .map(|id| GroupParticipant {
                    id: (*id).to_owned(),
                    ..GroupParticipant::default()
                })
                .collect(),
            ..GroupMetadata::default()
        };
        assert_eq!(
            SendTarget::of(&meta).users,
            ["5@lid".into(), "6@lid".into()]
        );
        assert!(takes_sender_key(&Jid::parse("5:2@lid").unwrap()));
        assert!(!takes_sender_key(&Jid::parse("5:99@lid").unwrap()));
    }
}
