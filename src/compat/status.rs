//! A message's status update (a delivery or read receipt of a message we sent) as lines
//! instead of JSON.
//!
//! Every text a bot sends comes back as one `messages.update` of one status when the phone's
//! receipt arrives; as JSON it was the one JSON a sent text still cost (V8's `JSON.parse` of
//! it about 2% of a sent text's CPU). When the batch is that event and the update holds
//! nothing but `status` and `messageTimestamp`, it goes as its parts, one per line, and
//! lib/socket.js (`statusBatch`) makes the object the JSON would have given, key for key in
//! the same order. Anything else (several updates, a key with a newsletter's server id, a
//! value with a line break) keeps the JSON.
//!
//! The lines, in order: `S` and the batch's ack number (nothing for none), the key's
//! `remoteJid`, `fromMe` (`1` or `0`), `id`, `participant`, `remoteJidAlt`,
//! `participantAlt` and `addressingMode`, then `messageTimestamp` and `status`. An empty line
//! is a field that is not there; a field that is there and empty keeps the JSON.

use wa_client::Event;

use super::received::{NO_INFO, head, key_lines, line};

/// The first byte of a batch written here.
pub const MARK: u8 = b'S';

/// Writes `e` as the lines above into `out` when it is one status update; otherwise leaves
/// `out` as it was and returns false.
pub fn write_batch(e: &mut Event, ack: Option<u32>, out: &mut Vec<u8>) -> bool {
    let Event::MessagesUpdate(updates) = e else {
        return false;
    };
    let [u] = updates.as_mut_slice() else {
        return false;
    };
    let k = &u.key;
    if k.server_id.is_some() {
        return false;
    }
    // What the lines carry is taken out, the rest compared with an empty update, and put back.
    let Some(status) = u.update.status.take() else {
        return false;
    };
    let timestamp = u.update.message_timestamp.take();
    let rest_empty = u.update == *NO_INFO;
    u.update.status = Some(status);
    u.update.message_timestamp = timestamp;
    if !rest_empty {
        return false;
    }
    let start = out.len();
    head(out, MARK, ack);
    let mut number = itoa::Buffer::new();
    let mut status_number = itoa::Buffer::new();
    let ok = key_lines(out, k)
        && line(out, timestamp.map(|t| number.format(t)))
        && line(out, Some(status_number.format(status)));
    if !ok {
        out.truncate(start);
    }
    ok
}
