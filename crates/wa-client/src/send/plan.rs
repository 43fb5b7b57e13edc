//! Who gets which `<enc>` of a message, as pure functions: the fan-out over device lists, the
//! payload each device gets, and the stanza that carries them.

use prost::Message as _;
use wa_binary::{Jid, Node};
use wa_signal::Encrypted;
use wa_store::creds::AdvSignedDeviceIdentity as StoredAccount;

use crate::ctx::Own;
use crate::error::ClientError;

/// One device a message goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub jid: String,
    /// One of our own other devices: it gets the message wrapped as a `DeviceSentMessage`.
    pub mine: bool,
}

/// The devices of a send: every device of the recipient and of our account, except the device
/// sending.
pub fn fan_out(devices: &[String], own: &Own, sender: &Jid) -> Result<Vec<Recipient>, ClientError> {
    let mut out = Vec::with_capacity(devices.len());
    for d in devices {
        let j = Jid::parse(d).map_err(|e| ClientError::Protocol(format!("{d:?}: {e}")))?;
        if j.user == sender.user && j.device == sender.device {
            continue;
        }
        if out.iter().any(|r: &Recipient| &r.jid == d) {
            continue;
        }
        out.push(Recipient {
            jid: d.clone(),
            mine: own.is_me(&j),
        });
    }
    Ok(out)
}

/// The plaintext a device gets: the message itself, or for our own devices a
/// `DeviceSentMessage` naming the chat, so they show it as sent by us.
pub fn plaintext_for(mine: bool, chat: &str, message: &wa_proto::Message) -> Vec<u8> {
    plaintext_of(mine, chat, &message.encode_to_vec(), message)
}

/// [`plaintext_for`] from the message's bytes, encoded once for every device of a send: the
/// wrapper for our own devices takes the bytes as they are (field order and all), so the
/// message tree is neither copied nor encoded again.
pub fn plaintext_of(
    mine: bool,
    chat: &str,
    encoded: &[u8],
    message: &wa_proto::Message,
) -> Vec<u8> {
    use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint};
    if !mine {
        return encoded.to_vec();
    }
    // Message { deviceSentMessage (31) { destinationJid (1), message (2) },
    // messageContextInfo (35) }: in field order, as prost writes them. Our other devices read a
    // poll's or event's secret from the context info, as WhatsApp puts it.
    let field =
        |tag: u32, len: usize| prost::encoding::key_len(tag) + encoded_len_varint(len as u64) + len;
    let dsm_len = field(1, chat.len()) + field(2, encoded.len());
    let context = message.message_context_info.as_ref();
    let mut out =
        Vec::with_capacity(field(31, dsm_len) + context.map_or(0, |c| field(35, c.encoded_len())));
    encode_key(31, WireType::LengthDelimited, &mut out);
    encode_varint(dsm_len as u64, &mut out);
    encode_key(1, WireType::LengthDelimited, &mut out);
    encode_varint(chat.len() as u64, &mut out);
    out.extend_from_slice(chat.as_bytes());
    encode_key(2, WireType::LengthDelimited, &mut out);
    encode_varint(encoded.len() as u64, &mut out);
    out.extend_from_slice(encoded);
    if let Some(c) = context {
        prost::encoding::message::encode(35, c, &mut out);
    }
    out
}

/// `<enc v=2 type=pkmsg|msg>` with the ciphertext.
pub fn enc_node(enc: &Encrypted) -> Node {
    Node::new("enc")
        .attr("v", "2")
        .attr("type", enc.kind.as_str())
        .bytes(enc.body.clone())
}

/// Our signed device identity as sent with prekey messages, with the account signature key
/// included (Baileys' `encodeSignedDeviceIdentity(account, true)`).
pub fn device_identity_node(account: &StoredAccount) -> Node {
    Node::new("device-identity").bytes(crate::pairing::encode_account(account))
}

/// The `<message>` stanza of a fan-out.
pub fn message_stanza(
    id: &str,
    to: &str,
    kind: &str,
    participants: Vec<Node>,
    device_identity: Option<Node>,
    phash: String,
) -> Node {
    let mut content = vec![Node::new("participants").children(participants)];
    content.extend(device_identity);
    Node::new("message")
        .attr("id", id.to_owned())
        .attr("to", to.to_owned())
        .attr("type", kind.to_owned())
        .attr("phash", phash)
        .children(content)
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
    fn fan_out_skips_the_sender_and_marks_our_devices() {
        let devices = [
            "2000@s.whatsapp.net".to_owned(),
            "2000:1@s.whatsapp.net".to_owned(),
            "1000@s.whatsapp.net".to_owned(),
            "1000:3@s.whatsapp.net".to_owned(),
            "2000@s.whatsapp.net".to_owned(),
        ];
        let o = own();
        let r = fan_out(&devices, &o, &o.pn).unwrap();
        let jids: Vec<_> = r.iter().map(|r| (r.jid.as_str(), r.mine)).collect();
        assert_eq!(
            jids,
            [
                ("2000@s.whatsapp.net", false),
                ("2000:1@s.whatsapp.net", false),
                ("1000@s.whatsapp.net", true),
            ]
        );
        let lid_devices = ["900@lid".to_owned(), "900:3@lid".to_owned()];
        let r = fan_out(&lid_devices, &o, o.lid.as_ref().unwrap()).unwrap();
        assert_eq!(
            r,
            [Recipient {
                jid: "900@lid".into(),
                mine: true
            }]
        );
        assert!(fan_out(&["nonsense".to_owned()], &o, &o.pn).is_err());
    }

    #[test]
    fn own_devices_get_a_device_sent_message() {
        let m = wa_proto::Message {
            conversation: Some("hi".into()),
            ..Default::default()
        };
        let peer =
            wa_proto::Message::decode(plaintext_for(false, "c@s.whatsapp.net", &m).as_slice())
                .unwrap();
        assert_eq!(peer, m);
        let mine =
            wa_proto::Message::decode(plaintext_for(true, "c@s.whatsapp.net", &m).as_slice())
                .unwrap();
        let dsm = mine.device_sent_message.unwrap();
        assert_eq!(dsm.destination_jid.as_deref(), Some("c@s.whatsapp.net"));
        assert_eq!(*dsm.message.unwrap(), m);
    }

    /// The wrapper written from the message's bytes is, byte for byte, what prost writes for
    /// the same `DeviceSentMessage` built as a tree (with and without context info).
    #[test]
    fn the_wrapper_from_bytes_is_what_prost_writes() {
        let mut m = wa_proto::Message {
            conversation: Some("x".repeat(300)),
            ..Default::default()
        };
        for with_context in [false, true] {
            if with_context {
                m.message_context_info = Some(Box::new(wa_proto::MessageContextInfo {
                    message_secret: Some(vec![7; 32]),
                    ..Default::default()
                }));
            }
            let tree = wa_proto::Message {
                device_sent_message: Some(Box::new(wa_proto::message::DeviceSentMessage {
                    destination_jid: Some("c@s.whatsapp.net".into()),
                    message: Some(Box::new(m.clone())),
                    phash: None,
                })),
                message_context_info: m.message_context_info.clone(),
                ..Default::default()
            }
            .encode_to_vec();
            assert_eq!(
                plaintext_of(true, "c@s.whatsapp.net", &m.encode_to_vec(), &m),
                tree
            );
        }
    }
}
