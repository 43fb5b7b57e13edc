//! Baileys' JavaScript shapes, made from the client's typed values. This is the only place
//! that knows Baileys' JSON: event names and payloads (`connection.update`, `creds.update`,
//! `messages.upsert`, ...), the WAMessage object, credential fields in `creds.json` form, and
//! BufferJSON for bytes (`{ type: 'Buffer', data: base64 }`, revived into Buffers by
//! lib/socket.js with Baileys' own reviver).

pub mod groups;
pub mod presence;
pub mod proto_json;
pub mod received;
pub mod status;

use serde_json::{Map, Value, json};
use wa_client::media::{MediaRetryOutcome, MediaRetryUpdate};
use wa_client::newsletter::NewsletterEvent;
use wa_client::{ConnectionState, CredsChange, Disconnect, Event, MessageKey, WaMessage};
use wa_store::bufferjson;

/// `{ name, data }` of one event, as `sock.ev` emits it.
pub fn event_json(e: &Event) -> Value {
    let (name, data) = match e {
        Event::Connection(u) => {
            let mut o = Map::new();
            if let Some(c) = u.connection {
                let s = match c {
                    ConnectionState::Connecting => "connecting",
                    ConnectionState::Open => "open",
                    ConnectionState::Close => "close",
                };
                o.insert("connection".into(), json!(s));
            }
            if let Some((d, at)) = &u.last_disconnect {
                o.insert(
                    "lastDisconnect".into(),
                    json!({ "error": disconnect_json(d), "date": at }),
                );
            }
            if let Some(qr) = &u.qr {
                // `null` becomes `undefined` on the JS side (Baileys clears the QR that way).
                o.insert("qr".into(), qr.as_ref().map_or(Value::Null, |q| json!(q)));
            }
            if let Some(v) = u.is_new_login {
                o.insert("isNewLogin".into(), json!(v));
            }
            if let Some(v) = u.received_pending_notifications {
                o.insert("receivedPendingNotifications".into(), json!(v));
            }
            if let Some(v) = u.is_online {
                o.insert("isOnline".into(), json!(v));
            }
            ("connection.update", Value::Object(o))
        }
        Event::Creds(changes) => (
            "creds.update",
            Value::Object(
                changes
                    .iter()
                    .map(|c| (c.field().key().to_owned(), creds_change_json(c)))
                    .collect(),
            ),
        ),
        // Messages have one writer, straight to text (`write_event`); this tree, for a caller
        // that wants one, is read back from it.
        Event::MessagesUpsert(_) | Event::MessagesUpdate(_) => {
            let mut out = Vec::new();
            write_event(e, &mut out);
            return serde_json::from_slice(&out).unwrap_or(Value::Null);
        }
        Event::MessageReceipts(r) => (
            "message-receipt.update",
            Value::Array(
                r.iter()
                    .map(|r| {
                        json!({
                            "key": key_json(&r.key),
                            "receipt": proto_json::to_json("wa.UserReceipt", &r.receipt),
                        })
                    })
                    .collect(),
            ),
        ),
        Event::Presence(u) => ("presence.update", presence::presence_update_json(u)),
        Event::MediaUpdate(updates) => (
            "messages.media-update",
            Value::Array(updates.iter().map(media_update_json).collect()),
        ),
        Event::GroupsUpsert(groups) => (
            "groups.upsert",
            Value::Array(groups.iter().map(groups::groups_upsert_json).collect()),
        ),
        Event::Newsletter(e) => newsletter_event_json(e),
    };
    json!({ "name": name, "data": data })
}

/// `lastDisconnect.error` before lib/socket.js makes it a Boom: message, status, our code and
/// the attributes of the node that ended the stream.
pub fn disconnect_json(d: &Disconnect) -> Value {
    let data: Map<String, Value> = d
        .data
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    json!({ "message": d.message, "statusCode": d.status, "code": d.code, "data": data })
}

/// One credential field as `creds.json` holds it.
pub fn creds_change_json(c: &CredsChange) -> Value {
    let v = match c {
        CredsChange::Me(v) => serde_json::to_value(v),
        CredsChange::Account(v) => serde_json::to_value(v),
        CredsChange::SignalIdentities(v) => serde_json::to_value(v),
        CredsChange::Platform(v) | CredsChange::PairingCode(v) => serde_json::to_value(v),
        CredsChange::Registered(v) => serde_json::to_value(v),
        CredsChange::NextPreKeyId(v) | CredsChange::FirstUnuploadedPreKeyId(v) => {
            serde_json::to_value(v)
        }
        CredsChange::AdvSecretKey(v) => serde_json::to_value(v),
        CredsChange::RoutingInfo(v) => {
            Ok(v.as_ref().map_or(Value::Null, |b| bufferjson::buffer(b)))
        }
    };
    // The values are plain data (strings, numbers, byte fields already in BufferJSON form);
    // serialising them cannot fail.
    v.unwrap_or(Value::Null)
}

/// Baileys' `WAMessageKey`.
pub fn key_json(k: &MessageKey) -> Value {
    let mut o = Map::new();
    o.insert("remoteJid".into(), json!(k.remote_jid));
    o.insert("fromMe".into(), json!(k.from_me));
    o.insert("id".into(), json!(k.id));
    if let Some(p) = &k.participant {
        o.insert("participant".into(), json!(p));
    }
    if let Some(a) = &k.remote_jid_alt {
        o.insert("remoteJidAlt".into(), json!(a));
    }
    if let Some(a) = &k.participant_alt {
        o.insert("participantAlt".into(), json!(a));
    }
    if let Some(m) = k.addressing_mode {
        o.insert("addressingMode".into(), json!(m.as_str()));
    }
    if let Some(s) = &k.server_id {
        o.insert("server_id".into(), json!(s));
    }
    Value::Object(o)
}

/// [`key_json`] printed straight into `out` (each message's key in each event: its tree was
/// 2% of a received text's CPU).
pub fn write_key(k: &MessageKey, out: &mut Vec<u8>) {
    out.extend_from_slice(br#"{"remoteJid":"#);
    write_str(out, &k.remote_jid);
    out.extend_from_slice(if k.from_me {
        br#","fromMe":true,"id":"#
    } else {
        br#","fromMe":false,"id":"#
    });
    write_str(out, &k.id);
    let optional = [
        ("participant", k.participant.as_deref()),
        ("remoteJidAlt", k.remote_jid_alt.as_deref()),
        ("participantAlt", k.participant_alt.as_deref()),
        ("addressingMode", k.addressing_mode.map(|m| m.as_str())),
        ("server_id", k.server_id.as_deref()),
    ];
    for (name, value) in optional {
        if let Some(v) = value {
            out.extend_from_slice(b",\"");
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"\":");
            write_str(out, v);
        }
    }
    out.push(b'}');
}

/// Baileys' newsletter events: name and payload.
fn newsletter_event_json(e: &NewsletterEvent) -> (&'static str, Value) {
    match e {
        NewsletterEvent::Reaction {
            id,
            server_id,
            code,
            count,
            removed,
        } => {
            let mut reaction = json!({ "count": count });
            if let Some(c) = code {
                reaction["code"] = json!(c);
            }
            if *removed {
                reaction["removed"] = json!(true);
            }
            (
                "newsletter.reaction",
                json!({ "id": id, "server_id": server_id, "reaction": reaction }),
            )
        }
        NewsletterEvent::View {
            id,
            server_id,
            count,
        } => (
            "newsletter.view",
            json!({ "id": id, "server_id": server_id, "count": count }),
        ),
        NewsletterEvent::Participants {
            id,
            author,
            user,
            action,
            new_role,
        } => {
            let mut o = json!({ "id": id, "user": user, "new_role": new_role, "action": action });
            // Baileys leaves `author` undefined when the notification names no one.
            if let Some(a) = author {
                o["author"] = json!(a);
            }
            ("newsletter-participants.update", o)
        }
        NewsletterEvent::Settings { id, update } => (
            "newsletter-settings.update",
            json!({ "id": id, "update": update }),
        ),
    }
}

/// An event as JSON text, as [`event_json`] would print it. A message upsert (every text
/// received) is written straight from the messages' wire form, without a tree in between.
pub fn write_event(e: &Event, out: &mut Vec<u8>) {
    match e {
        Event::MessagesUpsert(u) => {
            out.extend_from_slice(br#"{"name":"messages.upsert","data":{"messages":["#);
            for (i, m) in u.messages.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_wa_message(m, out);
            }
            out.extend_from_slice(br#"],"type":"#);
            write_str(out, u.kind.as_str());
            out.extend_from_slice(b"}}");
        }
        Event::MessagesUpdate(updates) => {
            out.extend_from_slice(br#"{"name":"messages.update","data":["#);
            for (i, u) in updates.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(br#"{"key":"#);
                write_key(&u.key, out);
                out.extend_from_slice(br#","update":"#);
                if proto_json::write_object("wa.WebMessageInfo", &u.update, out).is_none() {
                    write_json(out, &proto_json::to_json("wa.WebMessageInfo", &u.update));
                }
                out.push(b'}');
            }
            out.extend_from_slice(b"]}");
        }
        e => write_json(out, &event_json(e)),
    }
}

/// A message as JSON text, as [`wa_message_json`] would print it.
pub fn write_wa_message(m: &WaMessage, out: &mut Vec<u8>) {
    let start = out.len();
    out.push(b'{');
    // The stored key wins over ours when it is there; it is field 1, so it comes first either way.
    let mut any = m.info.key.is_none();
    if any {
        out.extend_from_slice(br#""key":"#);
        write_key(&m.key, out);
    }
    match proto_json::write_fields("wa.WebMessageInfo", &m.info, out, !any) {
        Some(wrote) => any |= wrote,
        None => {
            // Not reached for a message prost encoded; the reflected form is the same object.
            out.truncate(start);
            write_json(out, &wa_message_json(m));
            return;
        }
    }
    if let Some(c) = &m.category {
        if any {
            out.push(b',');
        }
        out.extend_from_slice(br#""category":"#);
        write_str(out, c);
    }
    out.push(b'}');
}

// Writing into a Vec cannot fail, and a JSON value or a string always serializes.
fn write_json(out: &mut Vec<u8>, v: &Value) {
    let _ = serde_json::to_writer(&mut *out, v);
}

/// A message as a JSON string (what `sendMessage` resolves to).
pub fn wa_message_text(m: &WaMessage) -> String {
    let mut out = Vec::with_capacity(256);
    write_wa_message(m, &mut out);
    // Every piece is UTF-8 (JSON printed from Rust strings).
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// A sent 1:1 text's parts, `remoteJid`, `id`, `messageTimestamp`, `status` and the message
/// secret in base64, one per line, when the message is nothing but those and its text: the
/// object [`write_wa_message`] would print is then
/// `{"key":{"remoteJid","fromMe":true,"id"},"message":{"extendedTextMessage":{"text"},
/// "messageContextInfo":{"messageSecret"}},"messageTimestamp","status"}`. `None` for any other
/// message (a group's participant, a newsletter's server id, anything more).
pub fn brief_text(m: &WaMessage) -> Option<String> {
    use base64::Engine as _;
    use wa_proto::{Message, MessageContextInfo, WebMessageInfo, message::ExtendedTextMessage};
    let k = &m.key;
    let plain_key = k.from_me
        && k.participant.is_none()
        && k.remote_jid_alt.is_none()
        && k.participant_alt.is_none()
        && k.addressing_mode.is_none()
        && k.server_id.is_none();
    if !plain_key || m.category.is_some() || m.info.key.is_some() {
        return None;
    }
    let message = m.info.message.as_ref()?;
    let text = message.extended_text_message.as_ref()?.text.clone()?;
    let secret = message
        .message_context_info
        .as_ref()?
        .message_secret
        .clone()?;
    let timestamp = m.info.message_timestamp?;
    let status = m.info.status?;
    let expected = WebMessageInfo {
        message: Some(Message {
            extended_text_message: Some(Box::new(ExtendedTextMessage {
                text: Some(text),
                ..Default::default()
            })),
            message_context_info: Some(Box::new(MessageContextInfo {
                message_secret: Some(secret),
                ..Default::default()
            })),
            ..Default::default()
        }),
        message_timestamp: Some(timestamp),
        status: Some(status),
        ..Default::default()
    };
    if m.info != expected || k.remote_jid.contains('\n') || k.id.contains('\n') {
        return None;
    }
    let secret = expected
        .message
        .and_then(|m| m.message_context_info)
        .and_then(|c| c.message_secret)
        .unwrap_or_default();
    Some(format!(
        "{}\n{}\n{timestamp}\n{status}\n{}",
        k.remote_jid,
        k.id,
        base64::engine::general_purpose::STANDARD.encode(secret)
    ))
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Baileys' `WAMessage`: `proto.WebMessageInfo`'s fields in protobufjs' names, with the key
/// (Baileys' extras included) first. The tree form, for what reads a message as a value; the
/// event path writes the same object as text ([`write_wa_message`]).
pub fn wa_message_json(m: &WaMessage) -> Value {
    let mut o = Map::new();
    o.insert("key".into(), key_json(&m.key));
    if let Value::Object(info) = proto_json::to_json("wa.WebMessageInfo", &m.info) {
        o.extend(info);
    }
    if let Some(c) = &m.category {
        o.insert("category".into(), json!(c));
    }
    Value::Object(o)
}

/// One entry of Baileys' `messages.media-update`: `{ key, media: { ciphertext, iv } }`, or
/// `{ key, error }` with the error's message, status and data (lib/socket.js makes it a Boom).
pub fn media_update_json(u: &MediaRetryUpdate) -> Value {
    match &u.outcome {
        MediaRetryOutcome::Media { ciphertext, iv } => json!({
            "key": key_json(&u.key),
            "media": { "ciphertext": bufferjson::buffer(ciphertext), "iv": bufferjson::buffer(iv) },
        }),
        MediaRetryOutcome::Error(e) => {
            let data: Map<String, Value> = e
                .data
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            let mut err = json!({ "message": e.message, "statusCode": e.status });
            if !data.is_empty() {
                err["data"] = Value::Object(data);
            }
            json!({ "key": key_json(&u.key), "error": err })
        }
    }
}
