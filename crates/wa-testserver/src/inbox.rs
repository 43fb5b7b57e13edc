//! What a simulated phone received, shaped like Baileys' `WAMessage`.

use base64::Engine as _;
use prost::Message as _;
use serde_json::{Map, Value, json};

/// One message the phone decrypted.
#[derive(Debug, Clone, PartialEq)]
pub struct InboxMessage {
    pub id: String,
    /// The chat: the sender's user JID, or for a copy of the account's own message (sent from
    /// one of its companions) the chat it was sent to.
    pub remote_jid: String,
    /// Sent by one of the account's own companions.
    pub from_me: bool,
    /// The device that sent it.
    pub participant: String,
    /// Server time, Unix seconds.
    pub timestamp: u64,
    pub push_name: Option<String>,
    /// The decoded `wa.Message` (a DeviceSentMessage unwrapped).
    pub message: wa_proto::Message,
}

impl InboxMessage {
    /// The text of a text message (`conversation` or `extendedTextMessage.text`).
    pub fn text(&self) -> Option<&str> {
        self.message.conversation.as_deref().or_else(|| {
            self.message
                .extended_text_message
                .as_ref()
                .and_then(|m| m.text.as_deref())
        })
    }

    /// The message as Baileys' `WAMessage` JSON: `key`, `message` (the common content
    /// fields), `messageTimestamp`, `pushName`, and `messageBytes` (the whole encoded
    /// `wa.Message`, base64) for anything the summary leaves out.
    pub fn to_json(&self) -> Value {
        let mut key = Map::new();
        key.insert("remoteJid".into(), json!(self.remote_jid));
        key.insert("fromMe".into(), json!(self.from_me));
        key.insert("id".into(), json!(self.id));
        key.insert("participant".into(), json!(self.participant));
        let mut out = Map::new();
        out.insert("key".into(), Value::Object(key));
        out.insert("message".into(), message_json(&self.message));
        out.insert("messageTimestamp".into(), json!(self.timestamp));
        if let Some(p) = &self.push_name {
            out.insert("pushName".into(), json!(p));
        }
        out.insert(
            "messageBytes".into(),
            json!(base64::engine::general_purpose::STANDARD.encode(self.message.encode_to_vec())),
        );
        Value::Object(out)
    }
}

fn key_json(k: &wa_proto::MessageKey) -> Value {
    json!({
        "remoteJid": k.remote_jid,
        "fromMe": k.from_me,
        "id": k.id,
        "participant": k.participant,
    })
}

/// The content fields bots read most, with protobufjs' names.
fn message_json(m: &wa_proto::Message) -> Value {
    let mut out = Map::new();
    if let Some(t) = &m.conversation {
        out.insert("conversation".into(), json!(t));
    }
    if let Some(e) = &m.extended_text_message {
        out.insert("extendedTextMessage".into(), json!({ "text": e.text }));
    }
    if let Some(r) = &m.reaction_message {
        out.insert(
            "reactionMessage".into(),
            json!({ "key": r.key.as_ref().map(key_json), "text": r.text }),
        );
    }
    if let Some(p) = &m.protocol_message {
        out.insert(
            "protocolMessage".into(),
            json!({ "type": p.r#type, "key": p.key.as_ref().map(key_json) }),
        );
    }
    if let Some(i) = &m.image_message {
        out.insert(
            "imageMessage".into(),
            json!({ "caption": i.caption, "mimetype": i.mimetype }),
        );
    }
    if let Some(v) = &m.video_message {
        out.insert(
            "videoMessage".into(),
            json!({ "caption": v.caption, "mimetype": v.mimetype }),
        );
    }
    if let Some(d) = &m.document_message {
        out.insert(
            "documentMessage".into(),
            json!({ "fileName": d.file_name, "mimetype": d.mimetype }),
        );
    }
    if let Some(a) = &m.audio_message {
        out.insert("audioMessage".into(), json!({ "mimetype": a.mimetype }));
    }
    if m.sticker_message.is_some() {
        out.insert("stickerMessage".into(), json!({}));
    }
    if m.sender_key_distribution_message.is_some() {
        out.insert("senderKeyDistributionMessage".into(), json!({}));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape() {
        let m = InboxMessage {
            id: "ABC".into(),
            remote_jid: "1@s.whatsapp.net".into(),
            from_me: false,
            participant: "1:2@s.whatsapp.net".into(),
            timestamp: 5,
            push_name: Some("Ann".into()),
            message: wa_proto::Message {
                conversation: Some("hi".into()),
                ..Default::default()
            },
        };
        assert_eq!(m.text(), Some("hi"));
        let v = m.to_json();
        assert_eq!(v["key"]["remoteJid"], "1@s.whatsapp.net");
        assert_eq!(v["key"]["fromMe"], false);
        assert_eq!(v["message"]["conversation"], "hi");
        assert_eq!(v["messageTimestamp"], 5);
        let raw = base64::engine::general_purpose::STANDARD
            .decode(v["messageBytes"].as_str().unwrap())
            .unwrap();
        assert_eq!(
            wa_proto::Message::decode(raw.as_slice()).unwrap(),
            m.message
        );
    }
}
