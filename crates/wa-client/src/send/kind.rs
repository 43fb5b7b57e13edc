//! What kind of message a stanza carries, as the server and the receiving apps read it: the
//! `<message type>` (`text`, `media`, `reaction`, `poll`, `event`) and the `<enc mediatype>`
//! of the encrypted payload. Both follow from the message's content once its wrappers
//! (ephemeral, view-once, edited, ...) are taken off, as WhatsApp Web and Baileys do.

use wa_proto::Message;
use wa_proto::message::FutureProofMessage;

/// Wrappers are unwrapped at most this deep (Baileys' `normalizeMessageContent` limit).
const MAX_WRAPPING: usize = 5;

fn wrapper(m: &Message) -> Option<&FutureProofMessage> {
    [
        &m.ephemeral_message,
        &m.view_once_message,
        &m.document_with_caption_message,
        &m.view_once_message_v2,
        &m.view_once_message_v2_extension,
        &m.edited_message,
        &m.associated_child_message,
        &m.group_status_message,
        &m.group_status_message_v2,
    ]
    .into_iter()
    .find_map(|w| w.as_deref())
}

/// The content inside the message's wrappers.
pub fn normalized(m: &Message) -> &Message {
    let mut m = m;
    for _ in 0..MAX_WRAPPING {
        match wrapper(m).and_then(|w| w.message.as_deref()) {
            Some(inner) => m = inner,
            None => break,
        }
    }
    m
}

/// The `<enc mediatype>` of a message's payload, if it has one.
pub fn media_type(m: &Message) -> Option<&'static str> {
    let m = normalized(m);
    Some(if m.image_message.is_some() {
        "image"
    } else if let Some(v) = &m.video_message {
        if v.gif_playback == Some(true) {
            "gif"
        } else {
            "video"
        }
    } else if let Some(a) = &m.audio_message {
        if a.ptt == Some(true) { "ptt" } else { "audio" }
    } else if m.contact_message.is_some() {
        "vcard"
    } else if m.document_message.is_some() {
        "document"
    } else if m.contacts_array_message.is_some() {
        "contact_array"
    } else if m.live_location_message.is_some() {
        "livelocation"
    } else if m.sticker_message.is_some() {
        "sticker"
    } else if m.list_message.is_some() {
        "list"
    } else if m.list_response_message.is_some() {
        "list_response"
    } else if m.buttons_response_message.is_some() {
        "buttons_response"
    } else if m.order_message.is_some() {
        "order"
    } else if m.product_message.is_some() {
        "product"
    } else if m.interactive_response_message.is_some() {
        "native_flow_response"
    } else if m.group_invite_message.is_some() {
        "url"
    } else {
        return None;
    })
}

/// The `<message type>` of a stanza carrying `m`.
pub fn stanza_type(m: &Message) -> &'static str {
    let n = normalized(m);
    if n.reaction_message.is_some() || n.enc_reaction_message.is_some() {
        "reaction"
    } else if n.poll_creation_message.is_some()
        || n.poll_creation_message_v2.is_some()
        || n.poll_creation_message_v3.is_some()
        || n.poll_update_message.is_some()
    {
        "poll"
    } else if n.event_message.is_some() {
        "event"
    } else if media_type(n).is_some() {
        "media"
    } else {
        "text"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wa_proto::message::{
        AudioMessage, ExtendedTextMessage, LocationMessage, PollCreationMessage, ReactionMessage,
        VideoMessage,
    };

    fn wrap(m: Message, depth: usize) -> Message {
        (0..depth).fold(m, |inner, _| Message {
            ephemeral_message: Some(Box::new(FutureProofMessage {
                message: Some(Box::new(inner)),
            })),
            ..Default::default()
        })
    }

    #[test]
    fn kinds_follow_the_content() {
        let text = Message {
            extended_text_message: Some(Box::new(ExtendedTextMessage::default())),
            ..Default::default()
        };
        assert_eq!((stanza_type(&text), media_type(&text)), ("text", None));
        let reaction = Message {
            reaction_message: Some(Box::new(ReactionMessage::default())),
            ..Default::default()
        };
        assert_eq!(stanza_type(&reaction), "reaction");
        let poll = Message {
            poll_creation_message_v3: Some(Box::new(PollCreationMessage::default())),
            ..Default::default()
        };
        assert_eq!(stanza_type(&poll), "poll");
        let gif = Message {
            video_message: Some(Box::new(VideoMessage {
                gif_playback: Some(true),
                ..Default::default()
            })),
            ..Default::default()
        };
        assert_eq!(
            (stanza_type(&gif), media_type(&gif)),
            ("media", Some("gif"))
        );
        let ptt = Message {
            audio_message: Some(Box::new(AudioMessage {
                ptt: Some(true),
                ..Default::default()
            })),
            ..Default::default()
        };
        assert_eq!(media_type(&ptt), Some("ptt"));
        // A plain location is text to the server; a live one is media.
        let loc = Message {
            location_message: Some(Box::new(LocationMessage::default())),
            ..Default::default()
        };
        assert_eq!(stanza_type(&loc), "text");
    }

    #[test]
    fn wrappers_are_looked_through_five_deep_and_no_further() {
        let reaction = Message {
            reaction_message: Some(Box::new(ReactionMessage::default())),
            ..Default::default()
        };
        assert_eq!(stanza_type(&wrap(reaction.clone(), 5)), "reaction");
        assert_eq!(stanza_type(&wrap(reaction, 6)), "text");
    }
}
