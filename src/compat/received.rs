//! A received text's batch as lines instead of JSON.
//!
//! Nearly every batch a bot gets is one `messages.upsert` of one text. As JSON it cost the
//! WebMessageInfo's encoding and schema walk here, and V8's `JSON.parse` there (the parse
//! alone about 5% of a received text's CPU, most of it interning the keys of the same few
//! objects every time). For a text that is nothing but its key, `conversation`, the
//! optional `messageContextInfo` phones attach, the timestamp, `broadcast` and the push
//! name, the batch goes as its parts, one per line, and lib/socket.js (`receivedBatch`)
//! makes the object the JSON would have given, key for key in the same order. Anything else
//! (a reply, media, a group's protocol message, a field with a line break) keeps the JSON.
//!
//! The lines, in order: `R` and the batch's ack number (nothing for none), the upsert type,
//! `remoteJid`, `fromMe` (`1` or `0`), `id`, `participant`, `remoteJidAlt`, `participantAlt`,
//! `addressingMode`, `messageTimestamp`, `broadcast` (`1`, `0`), `pushName`, the
//! `messageContextInfo` as JSON, then the text, which may itself hold line breaks. An empty
//! line is a field that is not there; a field that is there and empty keeps the JSON.

use std::sync::LazyLock;

use wa_client::{Event, MessageKey, WaMessage};
use wa_proto::WebMessageInfo;

use super::proto_json;

// What a message is compared with once the lines' fields are taken out: made once, not a
// default of each (with its drop) per message.
pub(super) static NO_INFO: LazyLock<WebMessageInfo> = LazyLock::new(WebMessageInfo::default);
static NO_MESSAGE: LazyLock<wa_proto::Message> = LazyLock::new(wa_proto::Message::default);

/// The first byte of a batch written here; a JSON batch starts with `{`.
pub const MARK: u8 = b'R';

/// Writes `e` as the lines above into `out` when it is one upsert of one plain text;
/// otherwise leaves `out` as it was and returns false.
pub fn write_batch(e: &mut Event, ack: Option<u32>, out: &mut Vec<u8>) -> bool {
    let Event::MessagesUpsert(u) = e else {
        return false;
    };
    let [m] = u.messages.as_mut_slice() else {
        return false;
    };
    let start = out.len();
    let done = write_message(m, ack, u.kind.as_str(), out);
    if !done {
        out.truncate(start);
    }
    done
}

fn write_message(m: &mut WaMessage, ack: Option<u32>, kind: &str, out: &mut Vec<u8>) -> bool {
    let k = &m.key;
    if k.server_id.is_some() || m.category.is_some() {
        return false;
    }
    // What the lines carry is taken out, the rest compared with an empty message (whatever
    // else a message holds keeps the JSON), and put back.
    let info = &mut m.info;
    let Some(mut message) = info.message.take() else {
        return false;
    };
    let timestamp = info.message_timestamp.take();
    let broadcast = info.broadcast.take();
    let push_name = info.push_name.take();
    let rest_empty = *info == *NO_INFO;
    let text = message.conversation.take();
    let context = message.message_context_info.take();
    let message_empty = message == *NO_MESSAGE;

    let ok = rest_empty && message_empty && text.is_some() && {
        head(out, MARK, ack);
        let mut fields = line(out, Some(kind)) && key_lines(out, k);
        let mut number = itoa::Buffer::new();
        fields = fields
            && line(out, timestamp.map(|t| number.format(t)))
            && line(out, broadcast.map(|b| if b { "1" } else { "0" }))
            && line(out, push_name.as_deref());
        fields && {
            out.push(b'\n');
            let ctx_ok = match &context {
                // JSON escapes line breaks, so the object stays on its line.
                Some(c) => proto_json::write_object("wa.MessageContextInfo", &**c, out).is_some(),
                None => true,
            };
            out.push(b'\n');
            out.extend_from_slice(text.as_deref().unwrap_or_default().as_bytes());
            ctx_ok
        }
    };

    message.conversation = text;
    message.message_context_info = context;
    info.message = Some(message);
    info.message_timestamp = timestamp;
    info.broadcast = broadcast;
    info.push_name = push_name;
    ok
}

/// A batch's first line: its mark and the ack number (nothing for none).
pub(super) fn head(out: &mut Vec<u8>, mark: u8, ack: Option<u32>) {
    out.push(mark);
    if let Some(a) = ack {
        out.extend_from_slice(itoa::Buffer::new().format(a).as_bytes());
    }
}

/// A message key's lines: `remoteJid`, `fromMe` (`1` or `0`), `id`, `participant`,
/// `remoteJidAlt`, `participantAlt`, `addressingMode` (false as [`line`]).
pub(super) fn key_lines(out: &mut Vec<u8>, k: &MessageKey) -> bool {
    [
        Some(k.remote_jid.as_str()),
        Some(if k.from_me { "1" } else { "0" }),
        Some(k.id.as_str()),
        k.participant.as_deref(),
        k.remote_jid_alt.as_deref(),
        k.participant_alt.as_deref(),
        k.addressing_mode.map(|a| a.as_str()),
    ]
    .into_iter()
    .all(|f| line(out, f))
}

/// A line break, then `value`: false for a value the lines cannot carry (one that would read
/// as absent, or that would break its line).
pub(super) fn line(out: &mut Vec<u8>, value: Option<&str>) -> bool {
    out.push(b'\n');
    match value {
        None => true,
        Some(v) => {
            out.extend_from_slice(v.as_bytes());
            !v.is_empty() && !v.contains('\n')
        }
    }
}
