//! What the simulated phones do on the wire: decrypt what is routed to them (and answer with
//! a delivery receipt, or a retry receipt carrying fresh keys when they cannot decrypt), send
//! encrypted messages to every device of a chat and to their own companions, encrypt again
//! for a device that asks with a retry receipt, and upload a file again for a device that asks
//! with a media retry request (`<receipt type="server-error">`).
//!
//! What is routed to a phone arrives here from the dispatcher (`Effect::PhoneReceive`, left by
//! `delivery`), so routing never calls up into this module; what a phone sends goes down
//! through `delivery` and `routing::relay_receipt` like any device's stanzas.

use prost::Message as _;
use wa_binary::{Jid, Node};
use wa_signal::{MessageKind, ProtocolAddress};
use wa_vocab::{be_bytes, read_be};

use crate::account::normalize_number;
use crate::delivery::deliver;
use crate::error::{Result, TestServerError};
use crate::nodes::{attr, child_array, child_bytes};
use crate::phone::{Bundle, MediaRetryAnswer, PhoneReceipt, PhoneSent, pad, unpad};
use crate::routing::relay_receipt;
use crate::state::{DeviceAddr, SentRecord, State};

/// Retry receipts the phone answers per message and device before giving up.
pub(crate) const MAX_RETRIES: u32 = 5;

pub(crate) fn signal_address(addr: &DeviceAddr) -> Option<ProtocolAddress> {
    ProtocolAddress::new(addr.number.clone(), u32::from(addr.device)).ok()
}

/// A stanza routed to the phone `to` (device 0 of its account); the dispatcher runs this for
/// each `Effect::PhoneReceive`.
pub(crate) fn phone_receive(
    state: &mut State,
    to: &DeviceAddr,
    class: &str,
    node: &Node,
    now: u64,
) {
    match class {
        "message" => receive_message(state, to, node, now),
        "receipt" => receive_receipt(state, to, node, now),
        _ => {}
    }
}

fn receive_message(state: &mut State, to: &DeviceAddr, node: &Node, now: u64) {
    let (Some(from), Some(id)) = (attr(node, "from"), attr(node, "id")) else {
        return;
    };
    let Some(sender) = state.device_of(&from) else {
        return;
    };
    let Some(enc) = node.child("enc") else {
        return;
    };
    let kind = match enc.get_attr("type") {
        Some("pkmsg") => MessageKind::PreKey,
        Some("msg") => MessageKind::Whisper,
        // Sender-key (group) messages are not routed by the test server.
        _ => return,
    };
    let (Some(body), Some(address), Some(account)) = (
        enc.content_bytes(),
        signal_address(&sender),
        state.accounts.get_mut(&to.number),
    ) else {
        return;
    };
    let lid_mode = from.ends_with("@lid");
    let decoded = account
        .phone
        .decrypt(&address, kind, body, now)
        .ok()
        .and_then(|plain| unpad(&plain).and_then(|p| wa_proto::Message::decode(p).ok()));
    let Some(mut message) = decoded else {
        account.phone.decrypt_failures += 1;
        state.stats.phone_decrypt_failures += 1;
        if let Some(receipt) = retry_receipt(state, to, node, &id) {
            let to_jid = state.jid_of(&sender, lid_mode);
            relay_receipt(state, to, &receipt, &id, Some("retry"), Some(&to_jid), now);
        }
        return;
    };
    // A sender key may come pairwise outside a group stanza too (whatsmeow takes it from any
    // message); the group it names is where it counts.
    account
        .phone
        .accept_distribution(&address, &mut message, None);
    let from_me = sender.number == to.number;
    let mut remote_jid = Jid::parse(&from)
        .map(|j| Jid::new(j.user, j.server).to_string())
        .unwrap_or_else(|_| from.clone());
    if let Some(dsm) = message.device_sent_message.take() {
        if let Some(dest) = dsm.destination_jid {
            remote_jid = dest;
        }
        if let Some(inner) = dsm.message {
            message = *inner;
        }
    } else if from_me && let Some(r) = attr(node, "recipient") {
        remote_jid = r;
    }
    // A message that only carried a sender key has nothing to show.
    if account
        .phone
        .keep(node, remote_jid, from_me, from.clone(), message, now)
    {
        state.stats.phone_received += 1;
    }
    // The phone is always online: it confirms delivery at once.
    let (kind, to_attr) = if from_me {
        (Some("sender"), None)
    } else {
        (None, Some(from.clone()))
    };
    let mut receipt = Node::new("receipt").attr("id", id.clone());
    if let Some(k) = kind {
        receipt = receipt.attr("type", k);
    }
    if let Some(r) = node.get_attr("recipient") {
        receipt = receipt.attr("recipient", r.to_owned());
    }
    relay_receipt(state, to, &receipt, &id, kind, to_attr.as_deref(), now);
}

/// "I could not decrypt this; here are fresh keys": registration id and a bundle with a new
/// one-time prekey, as WhatsApp clients send from the second try on. The caller addresses it
/// (`to` the sender, or `to` the group and `participant` the author) and relays it. `None`
/// once the message was retried often enough.
pub(crate) fn retry_receipt(
    state: &mut State,
    phone: &DeviceAddr,
    node: &Node,
    id: &str,
) -> Option<Node> {
    let count = node
        .children_by_tag("enc")
        .filter_map(|e| e.get_attr("count"))
        .filter_map(|c| c.parse::<u32>().ok())
        .max()
        .unwrap_or(0)
        // The count comes from the client: u32::MAX must stay over the limit, not wrap to 0.
        .saturating_add(1);
    if count > MAX_RETRIES {
        return None;
    }
    let account = state.accounts.get_mut(&phone.number)?;
    let identity = account.identity.public;
    let registration_id = account.phone.registration_id;
    let pre_key = account.phone.take_pre_key();
    let spk = account.phone.signed_pre_key().clone();
    let mut keys = vec![
        Node::new("type").bytes(vec![5u8]),
        Node::new("identity").bytes(identity.to_vec()),
    ];
    if let Some((kid, k)) = pre_key {
        keys.push(Node::new("key").children(vec![
            Node::new("id").bytes(be_bytes(kid, 3)),
            Node::new("value").bytes(k.to_vec()),
        ]));
    }
    keys.push(Node::new("skey").children(vec![
        Node::new("id").bytes(be_bytes(spk.id, 3)),
        Node::new("value").bytes(spk.key_pair.public.to_vec()),
        Node::new("signature").bytes(spk.signature.to_vec()),
    ]));
    Some(
        Node::new("receipt")
            .attr("id", id.to_owned())
            .attr("type", "retry")
            .children(vec![
                Node::new("retry")
                    .attr("count", count.to_string())
                    .attr("id", id.to_owned())
                    .attr("t", node.get_attr("t").unwrap_or("0").to_owned())
                    .attr("v", "1"),
                Node::new("registration").bytes(be_bytes(registration_id, 4)),
                Node::new("keys").children(keys),
            ]),
    )
}

/// Whether a JID names a group or the status broadcast (chats with sender keys).
pub(crate) fn is_group_chat(jid: &str) -> bool {
    Jid::parse(jid).is_ok_and(|j| j.is_group() || j.is_status_broadcast())
}

fn receive_receipt(state: &mut State, to: &DeviceAddr, node: &Node, now: u64) {
    let (Some(id), Some(mut from)) = (attr(node, "id"), attr(node, "from")) else {
        return;
    };
    // In a group the receipt comes from the group; the device is its `participant`.
    if is_group_chat(&from) {
        match attr(node, "participant") {
            Some(p) => from = p,
            None => return,
        }
    }
    let kind = attr(node, "type").unwrap_or_else(|| "delivery".to_owned());
    if let Some(a) = state.accounts.get_mut(&to.number) {
        a.phone.receipts.push(PhoneReceipt {
            id: id.clone(),
            from: from.clone(),
            kind: kind.clone(),
        });
    }
    if kind == "retry"
        && let Some(device) = state.device_of(&from)
    {
        resend(state, to, &device, &id, node, now);
    }
    if kind == "server-error"
        && let Some(device) = state.device_of(&from)
    {
        answer_media_retry(state, to, &device, &id, node, now);
    }
}

/// `MediaRetryNotification.ResultType` values (GENERAL_ERROR is 0).
const RETRY_SUCCESS: i32 = 1;
const RETRY_NOT_FOUND: i32 = 2;
const RETRY_DECRYPTION_ERROR: i32 = 3;

/// The media key and direct path of the media in a message (image, video, audio, document,
/// sticker).
fn media_of(m: &wa_proto::Message) -> Option<(Vec<u8>, Option<String>)> {
    let pick =
        |key: &Option<Vec<u8>>, path: &Option<String>| key.clone().map(|k| (k, path.clone()));
    if let Some(i) = &m.image_message {
        return pick(&i.media_key, &i.direct_path);
    }
    if let Some(v) = &m.video_message {
        return pick(&v.media_key, &v.direct_path);
    }
    if let Some(a) = &m.audio_message {
        return pick(&a.media_key, &a.direct_path);
    }
    if let Some(d) = &m.document_message {
        return pick(&d.media_key, &d.direct_path);
    }
    if let Some(s) = &m.sticker_message {
        return pick(&s.media_key, &s.direct_path);
    }
    None
}

/// A device asks the phone to upload the media of message `id` again (WhatsApp routes the
/// `server-error` receipt to the sender). The phone opens the request with the retry key of
/// the message's `mediaKey`, uploads the file again (a new direct path on the media host) and
/// answers with `<notification type="mediaretry">`: the encrypted
/// `MediaRetryNotification { stanzaId, directPath, result }` and the request's `<rmr>`. What it
/// answers instead is set per phone ([`MediaRetryAnswer`]).
fn answer_media_retry(
    state: &mut State,
    phone: &DeviceAddr,
    requester: &DeviceAddr,
    id: &str,
    receipt: &Node,
    now: u64,
) {
    let Some(account) = state.accounts.get(&phone.number) else {
        return;
    };
    let answer = account.phone.media_retry;
    let media = account
        .phone
        .sent
        .get(id)
        .and_then(|s| unpad(&s.plaintext).and_then(|p| wa_proto::Message::decode(p).ok()))
        .and_then(|m| media_of(&m));
    let Some((media_key, direct_path)) = media else {
        tracing::debug!("media retry for a message the phone did not send with media");
        return;
    };
    // The request must open under the message's retry key and name the message.
    let request_ok = receipt
        .child("encrypt")
        .and_then(|e| Some((child_bytes(e, "enc_p")?, child_bytes(e, "enc_iv")?)))
        .and_then(|(p, iv)| wa_crypto::media_retry::media_retry_open(&media_key, id, iv, p).ok())
        .and_then(|plain| wa_proto::ServerErrorReceipt::decode(plain.as_slice()).ok())
        .is_some_and(|r| r.stanza_id.as_deref() == Some(id));
    let rmr = receipt.child("rmr").cloned();
    let mut children = Vec::new();
    match answer {
        MediaRetryAnswer::Garbled => {}
        MediaRetryAnswer::ErrorNode(code) => {
            children.push(Node::new("error").attr("code", code.to_string()));
        }
        MediaRetryAnswer::Forged => {
            children.push(Node::new("encrypt").children(vec![
                Node::new("enc_p").bytes(wa_crypto::random_bytes::<48>().to_vec()),
                Node::new("enc_iv").bytes(wa_crypto::random_bytes::<12>().to_vec()),
            ]));
        }
        MediaRetryAnswer::Reupload | MediaRetryAnswer::Result(_) => {
            let (result, new_path) = if !request_ok {
                (RETRY_DECRYPTION_ERROR, None)
            } else if let MediaRetryAnswer::Result(r) = answer {
                (r, None)
            } else {
                match direct_path.and_then(|p| state.media.reupload(&p, now)) {
                    Some(p) => (RETRY_SUCCESS, Some(p)),
                    None => (RETRY_NOT_FOUND, None),
                }
            };
            let note = wa_proto::MediaRetryNotification {
                stanza_id: Some(id.to_owned()),
                direct_path: new_path,
                result: Some(result),
                message_secret: None,
            };
            let iv: [u8; 12] = wa_crypto::random_bytes();
            let sealed = wa_crypto::media_retry::media_retry_seal(
                &media_key,
                id,
                &iv,
                &note.encode_to_vec(),
            );
            children.push(Node::new("encrypt").children(vec![
                Node::new("enc_p").bytes(sealed),
                Node::new("enc_iv").bytes(iv.to_vec()),
            ]));
        }
    }
    if answer != MediaRetryAnswer::Garbled
        && let Some(r) = rmr
    {
        children.push(r);
    }
    let n = Node::new("notification")
        .attr("from", wa_vocab::S_WHATSAPP_NET)
        .attr("id", id.to_owned())
        .attr("type", "mediaretry")
        .attr("t", (now / 1000).to_string())
        .children(children);
    state.stats.phone_media_retries += 1;
    deliver(state, requester, "notification", n, now);
}

/// Encrypts `plaintext` for `device` with the phone's session, first starting one from
/// `fresh_bundle` (a retry receipt's keys) or, when there is no session, from a bundle the
/// server's key store hands out.
pub(crate) fn encrypt_for(
    state: &mut State,
    phone: &DeviceAddr,
    device: &DeviceAddr,
    plaintext: &[u8],
    fresh_bundle: Option<Bundle>,
    now: u64,
) -> Result<wa_signal::Encrypted> {
    let address =
        signal_address(device).ok_or_else(|| TestServerError::BadJid(device.number.clone()))?;
    let needs_bundle =
        fresh_bundle.is_some() || !state.accounts[&phone.number].phone.has_session(&address);
    if needs_bundle {
        let bundle = match fresh_bundle {
            Some(b) => b,
            None => state.take_bundle(device)?,
        };
        state.accounts[&phone.number]
            .phone
            .install_bundle(&address, &bundle.to_signal(), now)
            .map_err(TestServerError::PhoneCrypto)?;
    }
    state.accounts[&phone.number]
        .phone
        .encrypt(&address, plaintext)
        .map_err(TestServerError::PhoneCrypto)
}

/// Encrypts `plaintext` for `device` (starting a session from its bundle when there is none)
/// and routes it from the phone.
#[allow(clippy::too_many_arguments)]
fn send_encrypted(
    state: &mut State,
    phone: &DeviceAddr,
    device: &DeviceAddr,
    stanza: Node,
    plaintext: &[u8],
    count: Option<u32>,
    fresh_bundle: Option<Bundle>,
    now: u64,
) -> Result<()> {
    let e = encrypt_for(state, phone, device, plaintext, fresh_bundle, now)?;
    let mut enc = Node::new("enc")
        .attr("v", "2")
        .attr("type", e.kind.as_str());
    if let Some(c) = count {
        enc = enc.attr("count", c.to_string());
    }
    deliver(
        state,
        device,
        "message",
        stanza.children(vec![enc.bytes(e.body)]),
        now,
    );
    Ok(())
}

/// The stanza `type` of a message: `media` when it carries a file, `text` otherwise.
pub(crate) fn stanza_kind(m: &wa_proto::Message) -> &'static str {
    if media_of(m).is_some() {
        "media"
    } else {
        "text"
    }
}

/// A new message id in the shape phones use.
pub(crate) fn new_message_id() -> String {
    let r: [u8; 8] = wa_crypto::random_bytes();
    let mut s = String::from("3EB0");
    for b in r {
        s.push_str(&format!("{b:02X}"));
    }
    s
}

/// The phone of `number` sends `message` to `to` (a user JID by phone number or LID, or a
/// bare number): encrypted for every device of the chat and, as a DeviceSentMessage, for its
/// own companions. Returns the message id.
pub(crate) fn phone_send(
    state: &mut State,
    now: u64,
    number: &str,
    to: &str,
    message: wa_proto::Message,
) -> Result<String> {
    let number = normalize_number(number)?;
    state.ensure_account(&number, None)?;
    let to_jid = if to.contains('@') {
        Jid::parse(to).map_err(|_| TestServerError::BadJid(to.to_owned()))?
    } else {
        Jid::new(normalize_number(to)?, wa_binary::Server::Pn)
    };
    if !(to_jid.is_pn() || to_jid.is_lid()) {
        return Err(TestServerError::BadJid(to.to_owned()));
    }
    let chat = state
        .account_of(&to_jid)
        .map(|a| a.number.clone())
        .ok_or_else(|| TestServerError::UnknownAccount(to.to_owned()))?;
    let lid_mode = to_jid.is_lid();
    let chat_user = Jid::new(to_jid.user.clone(), to_jid.server.clone()).to_string();
    let phone = DeviceAddr {
        number: number.clone(),
        device: 0,
    };
    let id = new_message_id();
    let t = now / 1000;
    let kind = stanza_kind(&message);
    let plaintext = pad(message.encode_to_vec());
    let dsm = wa_proto::Message {
        device_sent_message: Some(Box::new(wa_proto::message::DeviceSentMessage {
            destination_jid: Some(chat_user.clone()),
            message: Some(Box::new(message)),
            phash: None,
        })),
        ..Default::default()
    };
    let dsm_plaintext = pad(dsm.encode_to_vec());
    let mut targets: Vec<DeviceAddr> = state.accounts[&chat]
        .device_ids()
        .into_iter()
        .map(|device| DeviceAddr {
            number: chat.clone(),
            device,
        })
        .collect();
    if chat != number {
        targets.extend(
            state.accounts[&number]
                .companions
                .keys()
                .map(|d| DeviceAddr {
                    number: number.clone(),
                    device: *d,
                }),
        );
    }
    targets.retain(|d| *d != phone);
    if let Some(a) = state.accounts.get_mut(&number) {
        a.phone.sent.insert(
            id.clone(),
            PhoneSent {
                chat: chat_user.clone(),
                plaintext: plaintext.clone(),
                dsm_plaintext: dsm_plaintext.clone(),
                timestamp: t,
                retries: Default::default(),
            },
        );
    }
    state.sent.insert(
        (number.clone(), id.clone()),
        SentRecord {
            sender: phone.clone(),
            t,
        },
    );
    for device in targets {
        let stanza = phone_stanza(state, &phone, &device, &id, &chat, &chat_user, lid_mode, t)
            .attr("type", kind);
        let own = device.number == number && chat != number;
        let body = if own { &dsm_plaintext } else { &plaintext };
        send_encrypted(state, &phone, &device, stanza, body, None, None, now)?;
    }
    state.stats.phone_sent += 1;
    Ok(id)
}

#[allow(clippy::too_many_arguments)]
fn phone_stanza(
    state: &State,
    phone: &DeviceAddr,
    device: &DeviceAddr,
    id: &str,
    chat: &str,
    chat_user: &str,
    lid_mode: bool,
    t: u64,
) -> Node {
    let account = &state.accounts[&phone.number];
    let mut m = Node::new("message")
        .attr("from", state.jid_of(phone, lid_mode))
        .attr("id", id.to_owned())
        .attr("t", t.to_string());
    if device.number == phone.number && chat != phone.number {
        m = m.attr("recipient", chat_user.to_owned());
        if let Some(c) = state.accounts.get(chat) {
            m = if lid_mode {
                m.attr("peer_recipient_pn", c.pn_jid())
            } else {
                m.attr("peer_recipient_lid", c.lid_jid())
            };
        }
    } else {
        m = m.attr("notify", account.push_name.clone());
        m = if lid_mode {
            m.attr("sender_pn", account.pn_jid())
        } else {
            m.attr("sender_lid", account.lid_jid())
        };
    }
    m
}

/// A device could not decrypt what the phone sent: encrypt it again for that device, with the
/// keys the retry receipt carries (a new session) or the session the phone has.
fn resend(
    state: &mut State,
    phone: &DeviceAddr,
    device: &DeviceAddr,
    id: &str,
    receipt: &Node,
    now: u64,
) {
    let Some(account) = state.accounts.get_mut(&phone.number) else {
        return;
    };
    let dev_key = format!("{}:{}", device.number, device.device);
    let Some(sent) = account.phone.sent.get_mut(id) else {
        return;
    };
    if is_group_chat(&sent.chat) {
        // Group messages are sent again with the phone's sender key (`phone_groups`).
        return;
    }
    let n = sent.retries.entry(dev_key).or_insert(0);
    *n += 1;
    if *n > MAX_RETRIES {
        return;
    }
    let sent = sent.clone();
    let count = receipt
        .child("retry")
        .and_then(|r| r.get_attr("count"))
        .and_then(|c| c.parse().ok())
        .unwrap_or(1);
    let bundle = bundle_from_retry(receipt);
    let lid_mode = sent.chat.ends_with("@lid");
    let chat = Jid::parse(&sent.chat)
        .ok()
        .and_then(|j| state.account_of(&j).map(|a| a.number.clone()))
        .unwrap_or_default();
    let kind = unpad(&sent.plaintext)
        .and_then(|p| wa_proto::Message::decode(p).ok())
        .map_or("text", |m| stanza_kind(&m));
    let stanza = phone_stanza(
        state,
        phone,
        device,
        id,
        &chat,
        &sent.chat,
        lid_mode,
        sent.timestamp,
    )
    .attr("type", kind);
    let own = device.number == phone.number;
    let body = if own {
        &sent.dsm_plaintext
    } else {
        &sent.plaintext
    };
    if let Err(e) = send_encrypted(state, phone, device, stanza, body, Some(count), bundle, now) {
        tracing::debug!(error = %e, "phone could not answer a retry receipt");
    }
}

/// The bundle in a retry receipt's `<keys>` (with its `<registration>`), if complete.
pub(crate) fn bundle_from_retry(receipt: &Node) -> Option<Bundle> {
    let keys = receipt.child("keys")?;
    if child_bytes(keys, "type") != Some(&[5u8][..]) {
        return None;
    }
    let identity = child_array::<32>(keys, "identity")?;
    let registration_id = read_be(child_bytes(receipt, "registration")?)?;
    let skey = keys.child("skey")?;
    let pre_key = keys.child("key").and_then(|k| {
        Some((
            read_be(child_bytes(k, "id")?)?,
            child_array::<32>(k, "value")?,
        ))
    });
    Some(Bundle {
        registration_id,
        identity,
        signed_pre_key_id: read_be(child_bytes(skey, "id")?)?,
        signed_pre_key: child_array::<32>(skey, "value")?,
        signed_pre_key_signature: child_bytes(skey, "signature")?.to_vec(),
        pre_key,
    })
}
