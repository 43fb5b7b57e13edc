//! The simulated phones as group members: they decrypt group and status messages (the
//! pairwise `<enc>` that carries the author's sender key, then the `skmsg`), confirm them as a
//! member does (`<receipt to=group participant=author>`) or ask again with a retry receipt,
//! send to groups with a sender key of their own, and answer retry receipts for what they
//! sent to a group.
//!
//! A phone sends to a group the way a companion does: it builds the client's stanza
//! (`<participants>` with the sender-key distribution pairwise-encrypted for each member device
//! that does not hold its current key yet, and one `skmsg` for everyone) and hands it to
//! `groups::route_message` as if its own device had sent it, so the fan-out, LID or phone
//! number addressing, offline queues and receipts are the ones companions get.
//!
//! Everything else a phone does stays in `phone_ops`; this module sits above it and passes on
//! what is not about groups.

use std::collections::BTreeSet;

use prost::Message as _;
use wa_binary::{Jid, Node};
use wa_signal::{Encrypted, MessageKind, ProtocolAddress, SenderKeyName};

use crate::account::normalize_number;
use crate::error::{Result, TestServerError};
use crate::nodes::attr;
use crate::phone::{PhoneSent, pad, unpad};
use crate::phone_ops::{
    self, MAX_RETRIES, bundle_from_retry, encrypt_for, is_group_chat, new_message_id,
    retry_receipt, signal_address, stanza_kind,
};
use crate::routing::relay_receipt;
use crate::state::{ConnId, DeviceAddr, State};

/// The connection a phone's own group stanza is acked on: no connection has this id, so the
/// server's ack goes nowhere (a phone waits for none).
const PHONE_CONN: ConnId = ConnId(u64::MAX);

/// A stanza routed to the phone `to`; the dispatcher runs this for each
/// `Effect::PhoneReceive`. Group and status messages are opened here, everything else in
/// `phone_ops`; a retry receipt for a group message is answered here after `phone_ops` has
/// recorded the receipt.
pub(crate) fn phone_receive(
    state: &mut State,
    to: &DeviceAddr,
    class: &str,
    node: &Node,
    now: u64,
) {
    let from_group = node.get_attr("from").is_some_and(is_group_chat);
    match class {
        "message" if from_group => receive_group_message(state, to, node, now),
        "receipt" if from_group => {
            phone_ops::phone_receive(state, to, class, node, now);
            if node.get_attr("type") == Some("retry") {
                resend(state, to, node, now);
            }
        }
        _ => phone_ops::phone_receive(state, to, class, node, now),
    }
}

/// The phone of `number` sends `message` to `to`: a group JID goes out with the phone's
/// sender key, anything else through `phone_ops::phone_send`. Returns the message id.
pub(crate) fn phone_send(
    state: &mut State,
    now: u64,
    number: &str,
    to: &str,
    message: wa_proto::Message,
) -> Result<String> {
    match Jid::parse(to)
        .ok()
        .filter(|j| to.contains('@') && j.is_group())
    {
        Some(group) => send_to_group(state, now, number, &group, message),
        None => phone_ops::phone_send(state, now, number, to, message),
    }
}

/// The phone's own sender key in a group. Its name is only a key in the phone's store (members
/// name it after the `participant` the server writes), so the phone number and device 0 do.
fn own_sender_key(chat: &str, number: &str) -> Option<SenderKeyName> {
    ProtocolAddress::new(number.to_owned(), 0)
        .ok()
        .map(|a| SenderKeyName::new(chat.to_owned(), a))
}

fn decode_padded(plain: &[u8]) -> Option<wa_proto::Message> {
    unpad(plain).and_then(|p| wa_proto::Message::decode(p).ok())
}

fn enc_node(e: &Encrypted, count: Option<u32>) -> Node {
    let mut n = Node::new("enc")
        .attr("v", "2")
        .attr("type", e.kind.as_str());
    if let Some(c) = count {
        n = n.attr("count", c.to_string());
    }
    n.bytes(e.body.clone())
}

/// `<message from=group participant=author>`: the pairwise `<enc>` first (its sender-key
/// distribution is kept before the `skmsg` needs it), then the `skmsg`. A resend after a retry
/// receipt has the content in the pairwise `<enc>` and no `skmsg`.
fn receive_group_message(state: &mut State, phone: &DeviceAddr, node: &Node, now: u64) {
    let (Some(chat), Some(id), Some(author_jid)) = (
        attr(node, "from"),
        attr(node, "id"),
        attr(node, "participant"),
    ) else {
        return;
    };
    let Some(author) = state.device_of(&author_jid) else {
        return;
    };
    // The phone keys all its Signal state by phone number and device (as its 1:1 sessions),
    // whichever way the group names the author.
    let Some(address) = signal_address(&author) else {
        return;
    };
    let pairwise_enc = node
        .children_by_tag("enc")
        .find(|e| matches!(e.get_attr("type"), Some("pkmsg" | "msg")));
    let sk_enc = node
        .children_by_tag("enc")
        .find(|e| e.get_attr("type") == Some("skmsg"));
    if pairwise_enc.is_none() && sk_enc.is_none() {
        return;
    }
    let Some(account) = state.accounts.get_mut(&phone.number) else {
        return;
    };
    let p = &account.phone;
    let pairwise = pairwise_enc.and_then(|enc| {
        let kind = if enc.get_attr("type") == Some("pkmsg") {
            MessageKind::PreKey
        } else {
            MessageKind::Whisper
        };
        let plain = p.decrypt(&address, kind, enc.content_bytes()?, now).ok()?;
        let mut m = decode_padded(&plain)?;
        p.accept_distribution(&address, &mut m, Some(&chat));
        Some(m)
    });
    let opened = match sk_enc {
        Some(enc) => {
            let name = SenderKeyName::new(chat.clone(), address.clone());
            enc.content_bytes()
                .and_then(|ct| p.group_decrypt(&name, ct).ok())
                .and_then(|plain| decode_padded(&plain))
        }
        // A resend: the content came pairwise, with the sender key beside it.
        None => pairwise,
    };
    let Some(mut message) = opened else {
        // No sender key (or a broken message): ask the author to send it again, with the key.
        account.phone.decrypt_failures += 1;
        state.stats.phone_decrypt_failures += 1;
        if let Some(r) = retry_receipt(state, phone, node, &id) {
            let r = r
                .attr("to", chat.clone())
                .attr("participant", author_jid.clone());
            relay_receipt(state, phone, &r, &id, Some("retry"), Some(&chat), now);
        }
        return;
    };
    // Content never carries a key of its own, but what the author put there is not content.
    account
        .phone
        .accept_distribution(&address, &mut message, Some(&chat));
    let from_me = author.number == phone.number;
    if account.phone.keep(
        node,
        chat.clone(),
        from_me,
        author_jid.clone(),
        message,
        now,
    ) {
        state.stats.phone_received += 1;
    }
    // A member confirms to the group, naming the author; a copy from the account's own
    // companion is confirmed as `sender`, as Baileys does.
    let kind = from_me.then_some("sender");
    let mut receipt = Node::new("receipt")
        .attr("id", id.clone())
        .attr("to", chat.clone())
        .attr("participant", author_jid);
    if let Some(k) = kind {
        receipt = receipt.attr("type", k);
    }
    relay_receipt(state, phone, &receipt, &id, kind, Some(&chat), now);
}

/// Every device of the group's members except the phone itself.
fn member_devices(state: &State, numbers: &[String], phone: &DeviceAddr) -> Vec<DeviceAddr> {
    let mut out = Vec::new();
    for n in numbers {
        let Some(a) = state.accounts.get(n) else {
            continue;
        };
        for device in a.device_ids() {
            let d = DeviceAddr {
                number: n.clone(),
                device,
            };
            if d != *phone {
                out.push(d);
            }
        }
    }
    out
}

fn memory_key(d: &DeviceAddr) -> (String, u16) {
    (d.number.clone(), d.device)
}

fn not_member(group: &str, number: &str) -> TestServerError {
    TestServerError::BadJid(format!("{group} (the phone of {number} is not a member)"))
}

/// The phone sends to a group it is a member of: one `skmsg` under its sender key for every
/// member device, and the key itself, pairwise-encrypted, for the devices that do not hold it
/// yet. When a device that held the key is gone (a member removed, a companion unlinked) the
/// key is made anew first, so that device cannot read on.
fn send_to_group(
    state: &mut State,
    now: u64,
    number: &str,
    group: &Jid,
    message: wa_proto::Message,
) -> Result<String> {
    let number = normalize_number(number)?;
    let g = state
        .groups
        .get(&group.user)
        .cloned()
        .ok_or_else(|| TestServerError::BadJid(group.to_string()))?;
    if !g.is_member(&number) {
        return Err(not_member(&g.jid(), &number));
    }
    let (chat, lid) = (g.jid(), g.lid());
    let phone = DeviceAddr {
        number: number.clone(),
        device: 0,
    };
    let name =
        own_sender_key(&chat, &number).ok_or_else(|| TestServerError::BadJid(number.clone()))?;
    let devices = member_devices(state, &g.numbers(), &phone);
    let current: BTreeSet<(String, u16)> = devices.iter().map(memory_key).collect();
    let account = state
        .accounts
        .get_mut(&number)
        .ok_or_else(|| TestServerError::UnknownAccount(number.clone()))?;
    let mut memory = account
        .phone
        .sender_key_memory
        .remove(&chat)
        .unwrap_or_default();
    if !memory.is_subset(&current) {
        memory.clear();
        account.phone.drop_sender_key(&name);
    }
    // Silent (seeded) devices drop what they get: they are routed the skmsg but need no key.
    let need: Vec<DeviceAddr> = devices
        .into_iter()
        .filter(|d| !memory.contains(&memory_key(d)) && !state.silent.contains(d))
        .collect();

    let kind = stanza_kind(&message);
    let plaintext = pad(message.encode_to_vec());
    let sealed = account
        .phone
        .group_encrypt(&name, &plaintext)
        .map_err(TestServerError::PhoneCrypto)?;
    let skdm = pad(wa_proto::Message {
        sender_key_distribution_message: Some(Box::new(
            wa_proto::message::SenderKeyDistributionMessage {
                group_id: Some(chat.clone()),
                axolotl_sender_key_distribution_message: Some(sealed.distribution),
            },
        )),
        ..Default::default()
    }
    .encode_to_vec());
    let mut tos = Vec::with_capacity(need.len());
    let mut given = Vec::with_capacity(need.len());
    for d in need {
        match encrypt_for(state, &phone, &d, &skdm, None, now) {
            Ok(e) => {
                tos.push(
                    Node::new("to")
                        .attr("jid", state.jid_of(&d, lid))
                        .children(vec![enc_node(&e, None)]),
                );
                given.push(memory_key(&d));
            }
            // That device asks with a retry receipt once it cannot decrypt.
            Err(e) => tracing::debug!(error = %e, "phone could not give its sender key"),
        }
    }
    let id = new_message_id();
    let mut content = Vec::with_capacity(2);
    if !tos.is_empty() {
        content.push(Node::new("participants").children(tos));
    }
    content.push(
        Node::new("enc")
            .attr("v", "2")
            .attr("type", "skmsg")
            .bytes(sealed.ciphertext),
    );
    let stanza = Node::new("message")
        .attr("id", id.clone())
        .attr("to", chat.clone())
        .attr("type", kind)
        .attr("addressing_mode", if lid { "lid" } else { "pn" })
        .children(content);
    crate::groups::route_message(state, PHONE_CONN, &phone, &stanza, group, now).map_err(
        |code| {
            TestServerError::BadJid(format!(
                "{chat} (the server refused the phone's message: {code})"
            ))
        },
    )?;
    memory.extend(given);
    if let Some(a) = state.accounts.get_mut(&number) {
        a.phone.sender_key_memory.insert(chat.clone(), memory);
        a.phone.sent.insert(
            id.clone(),
            PhoneSent {
                chat,
                plaintext: plaintext.clone(),
                dsm_plaintext: plaintext,
                timestamp: now / 1000,
                retries: Default::default(),
            },
        );
    }
    state.stats.phone_sent += 1;
    Ok(id)
}

/// A member device could not decrypt what the phone sent to a group: the message again for
/// that device alone, pairwise (a new session from the receipt's keys when it has them), with
/// the phone's sender key beside it, as `<message to=group participant=device>`.
fn resend(state: &mut State, phone: &DeviceAddr, receipt: &Node, now: u64) {
    let (Some(id), Some(chat), Some(device_jid)) = (
        attr(receipt, "id"),
        attr(receipt, "from"),
        attr(receipt, "participant"),
    ) else {
        return;
    };
    let Some(device) = state.device_of(&device_jid) else {
        return;
    };
    let Ok(chat_jid) = Jid::parse(&chat) else {
        return;
    };
    let Some(account) = state.accounts.get_mut(&phone.number) else {
        return;
    };
    let Some(sent) = account.phone.sent.get_mut(&id).filter(|s| s.chat == chat) else {
        return;
    };
    let n = sent
        .retries
        .entry(format!("{}:{}", device.number, device.device))
        .or_insert(0);
    *n += 1;
    if *n > MAX_RETRIES {
        return;
    }
    let Some(mut message) = decode_padded(&sent.plaintext) else {
        return;
    };
    let Some(name) = own_sender_key(&chat, &phone.number) else {
        return;
    };
    let distribution = match account.phone.group_distribution(&name) {
        Ok(d) => d,
        Err(e) => {
            tracing::debug!(error = %e, "phone has no sender key to resend with");
            return;
        }
    };
    let kind = stanza_kind(&message);
    message.sender_key_distribution_message =
        Some(Box::new(wa_proto::message::SenderKeyDistributionMessage {
            group_id: Some(chat.clone()),
            axolotl_sender_key_distribution_message: Some(distribution),
        }));
    let plaintext = pad(message.encode_to_vec());
    let count = receipt
        .child("retry")
        .and_then(|r| r.get_attr("count"))
        .and_then(|c| c.parse().ok())
        .unwrap_or(1);
    let e = match encrypt_for(
        state,
        phone,
        &device,
        &plaintext,
        bundle_from_retry(receipt),
        now,
    ) {
        Ok(e) => e,
        Err(e) => {
            tracing::debug!(error = %e, "phone could not answer a group retry receipt");
            return;
        }
    };
    // Status messages are addressed by LID, as `groups::route_message` sends them.
    let lid = state
        .groups
        .get(&chat_jid.user)
        .is_none_or(crate::group::Group::lid);
    let stanza = Node::new("message")
        .attr("id", id)
        .attr("to", chat.clone())
        .attr("participant", state.jid_of(&device, lid))
        .attr("type", kind)
        .children(vec![enc_node(&e, Some(count))]);
    if let Err(code) =
        crate::groups::route_message(state, PHONE_CONN, phone, &stanza, &chat_jid, now)
    {
        tracing::debug!(code, "the server refused the phone's group resend");
        return;
    }
    if let Some(a) = state.accounts.get_mut(&phone.number) {
        a.phone
            .sender_key_memory
            .entry(chat)
            .or_default()
            .insert(memory_key(&device));
    }
}
