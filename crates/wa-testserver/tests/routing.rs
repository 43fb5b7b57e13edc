//! Message routing: fan-out, acks, queues that survive dropped connections, duplicates,
//! receipts and retry receipts, the simulated phones, LID addressing, bad recipients.

mod common;

use common::*;
use wa_binary::Node;

fn acked(h: &mut Harness, c: wa_testserver::ConnId, id: &str) -> Node {
    let ack = h.expect(c, "ack");
    assert_eq!(ack.get_attr("class"), Some("message"));
    assert_eq!(ack.get_attr("id"), Some(id));
    ack
}

fn decrypt(d: &Device, m: &Node) -> String {
    let enc = m.child("enc").expect("enc");
    let plain = d
        .decrypt(
            m.get_attr("from").unwrap(),
            enc.get_attr("type").unwrap(),
            enc.content_bytes().unwrap(),
        )
        .expect("decrypts");
    message_text(&plain).expect("a text message")
}

#[test]
fn fan_out_to_every_device_with_the_attributes_clients_need() {
    let mut h = Harness::new();
    let (a1, ca1) = h.online_device("15553000");
    let (a2, ca2) = h.online_device("15553000");
    let (b1, cb1) = h.online_device("15553001");
    let (b2, cb2) = h.online_device("15553001");
    let targets = [
        b1.jid.clone().unwrap(),
        b2.jid.clone().unwrap(),
        a2.jid.clone().unwrap(),
        "15553001@s.whatsapp.net".to_owned(),
    ];
    let m = encrypted_message(
        &mut h,
        ca1,
        &a1,
        "15553001@s.whatsapp.net",
        &targets,
        "F1",
        "to all of you",
    );
    h.send(ca1, &m);
    let ack = acked(&mut h, ca1, "F1");
    assert_eq!(ack.get_attr("from"), Some("15553001@s.whatsapp.net"));
    assert!(ack.get_attr("error").is_none());
    let lid_b = h.server.account_jids("15553001").unwrap().1;
    let lid_a = h.server.account_jids("15553000").unwrap().1;
    for (d, c) in [(&b1, cb1), (&b2, cb2)] {
        let got = h.expect(c, "message");
        assert_eq!(got.get_attr("from"), a1.jid.as_deref());
        assert_eq!(got.get_attr("id"), Some("F1"));
        assert_eq!(got.get_attr("type"), Some("text"));
        assert_eq!(got.get_attr("notify"), Some("Tester"));
        assert_eq!(got.get_attr("sender_lid"), Some(lid_a.as_str()));
        assert!(got.get_attr("t").is_some());
        assert!(got.get_attr("recipient").is_none());
        assert!(
            got.child("device-identity").is_some(),
            "pkmsg carries the sender's identity"
        );
        assert_eq!(decrypt(d, &got), "to all of you");
    }
    // The sender's other device gets its copy naming the chat.
    let own = h.expect(ca2, "message");
    assert_eq!(own.get_attr("recipient"), Some("15553001@s.whatsapp.net"));
    assert_eq!(own.get_attr("peer_recipient_lid"), Some(lid_b.as_str()));
    assert!(
        own.get_attr("sender_lid").is_none(),
        "Baileys would map the chat to our LID"
    );
    assert_eq!(decrypt(&a2, &own), "to all of you");
    // And B's phone decrypted its copy.
    let inbox = h.server.inbox("15553001").unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].text(), Some("to all of you"));
    assert_eq!(inbox[0].remote_jid, "15553000@s.whatsapp.net");
    assert!(!inbox[0].from_me);
    assert!(h.server.stats().messages_routed >= 4);
}

#[test]
fn lid_addressed_messages_travel_by_lid() {
    let mut h = Harness::new();
    let (a, ca) = h.online_device("15553010");
    let (b, cb) = h.online_device("15553011");
    let lid_b = h.server.account_jids("15553011").unwrap().1;
    let b_lid_device = b.lid.clone().unwrap();
    let m = encrypted_message(&mut h, ca, &a, &lid_b, &[b_lid_device], "L1", "by lid");
    h.send(ca, &m);
    acked(&mut h, ca, "L1");
    let got = h.expect(cb, "message");
    assert_eq!(got.get_attr("from"), a.lid.as_deref());
    assert_eq!(got.get_attr("sender_pn"), Some("15553010@s.whatsapp.net"));
    assert_eq!(decrypt(&b, &got), "by lid");
}

#[test]
fn bad_recipients_get_a_negative_ack_and_the_connection_keeps_working() {
    let mut h = Harness::new();
    let (a, ca) = h.online_device("15553020");
    let (b, cb) = h.online_device("15553021");
    let send = |h: &mut Harness, to: &str, id: &str| {
        h.send(
            ca,
            &Node::new("message")
                .attr("id", id.to_owned())
                .attr("to", to.to_owned())
                .attr("type", "text")
                .children(vec![Node::new("participants")]),
        );
        acked(h, ca, id)
    };
    assert_eq!(
        send(&mut h, "19999999999@s.whatsapp.net", "U1").get_attr("error"),
        Some("479")
    );
    assert_eq!(
        send(&mut h, "120363000000000000@g.us", "U2").get_attr("error"),
        Some("404"),
        "no such group"
    );
    assert_eq!(
        send(&mut h, "not a jid", "U3").get_attr("error"),
        Some("400")
    );
    // then a good one still flows
    let m = encrypted_message(
        &mut h,
        ca,
        &a,
        "15553021@s.whatsapp.net",
        &[b.jid.clone().unwrap()],
        "U4",
        "fine",
    );
    h.send(ca, &m);
    assert!(acked(&mut h, ca, "U4").get_attr("error").is_none());
    assert_eq!(decrypt(&b, &h.expect(cb, "message")), "fine");
}

#[test]
fn an_unacked_message_comes_back_after_a_dropped_connection() {
    let mut h = Harness::new();
    let (a, ca) = h.online_device("15553030");
    let (mut b, cb) = h.online_device("15553031");
    let bj = b.jid.clone().unwrap();
    let m = encrypted_message(
        &mut h,
        ca,
        &a,
        "15553031@s.whatsapp.net",
        std::slice::from_ref(&bj),
        "D1",
        "keep me",
    );
    h.send(ca, &m);
    let first = h.expect(cb, "message");
    assert_eq!(first.get_attr("id"), Some("D1"));
    assert!(first.get_attr("offline").is_none(), "delivered live");
    // B's connection dies before it acknowledges.
    h.hang_up(cb);
    assert_eq!(h.server.queued(&bj), 1);
    let (cb2, got) = h.login(&mut b, 0);
    let again = got
        .iter()
        .find(|n| n.tag == "message")
        .expect("redelivered");
    assert_eq!(again.get_attr("id"), Some("D1"));
    assert_eq!(again.get_attr("offline"), Some("1"));
    assert_eq!(decrypt(&b, again), "keep me");
    let count = got
        .last()
        .unwrap()
        .child("offline")
        .unwrap()
        .get_attr("count")
        .map(str::to_owned);
    assert_eq!(count.as_deref(), Some("1"));
    h.send(
        cb2,
        &Node::new("ack")
            .attr("id", "D1")
            .attr("class", "message")
            .attr("to", a.jid.clone().unwrap()),
    );
    assert_eq!(h.server.queued(&bj), 0);
    // acked: the next login gets nothing
    h.hang_up(cb2);
    let (_, got) = h.login(&mut b, 0);
    assert!(got.iter().all(|n| n.tag != "message"));
}

#[test]
fn duplicate_ids_are_acked_once_more_and_not_delivered_twice() {
    let mut h = Harness::new();
    let (a, ca) = h.online_device("15553040");
    let (b, cb) = h.online_device("15553041");
    let bj = b.jid.clone().unwrap();
    let m = encrypted_message(
        &mut h,
        ca,
        &a,
        "15553041@s.whatsapp.net",
        std::slice::from_ref(&bj),
        "DUP",
        "once",
    );
    h.send(ca, &m);
    let first_t = acked(&mut h, ca, "DUP").get_attr("t").map(str::to_owned);
    h.advance(5_000);
    h.send(ca, &m);
    let second = acked(&mut h, ca, "DUP");
    assert_eq!(
        second.get_attr("t").map(str::to_owned),
        first_t,
        "the original ack again"
    );
    let got: Vec<Node> = h
        .drain(cb)
        .into_iter()
        .filter(|n| n.tag == "message")
        .collect();
    assert_eq!(got.len(), 1);
    assert_eq!(h.server.stats().duplicates, 1);
    // A retry resend of the same id, addressed to one device, is delivered.
    let (kind, body) = a.encrypt(&bj, &text_message("once"));
    h.send(
        ca,
        &Node::new("message")
            .attr("id", "DUP")
            .attr("to", bj.clone())
            .attr("type", "text")
            .children(vec![
                Node::new("enc")
                    .attr("v", "2")
                    .attr("type", kind)
                    .attr("count", "1")
                    .bytes(body),
            ]),
    );
    let resent = h.expect(cb, "message");
    assert_eq!(resent.child("enc").unwrap().get_attr("count"), Some("1"));
}

#[test]
fn receipts_travel_to_the_sending_device() {
    let mut h = Harness::new();
    let (a1, ca1) = h.online_device("15553050");
    let (a2, ca2) = h.online_device("15553050");
    let (b, cb) = h.online_device("15553051");
    let bj = b.jid.clone().unwrap();
    let a1j = a1.jid.clone().unwrap();
    let m = encrypted_message(
        &mut h,
        ca1,
        &a1,
        "15553051@s.whatsapp.net",
        &[bj.clone(), a2.jid.clone().unwrap()],
        "R1",
        "hi",
    );
    h.send(ca1, &m);
    h.drain(ca1);
    h.expect(cb, "message");
    h.expect(ca2, "message");
    // delivery (Baileys without a push name sends "inactive": a plain delivery receipt)
    h.send(
        cb,
        &Node::new("receipt")
            .attr("id", "R1")
            .attr("to", "15553050@s.whatsapp.net")
            .attr("type", "inactive"),
    );
    let r = h.expect(ca1, "receipt");
    assert_eq!(r.get_attr("id"), Some("R1"));
    assert_eq!(r.get_attr("from"), Some(bj.as_str()));
    assert!(r.get_attr("type").is_none());
    let ack_receipt = |h: &mut Harness, r: &Node| {
        let mut ack = Node::new("ack")
            .attr("id", "R1")
            .attr("class", "receipt")
            .attr("to", r.get_attr("from").unwrap().to_owned());
        if let Some(t) = r.get_attr("type") {
            ack = ack.attr("type", t.to_owned());
        }
        h.send(ca1, &ack);
    };
    ack_receipt(&mut h, &r);
    let ack = h.expect(cb, "ack");
    assert_eq!(ack.get_attr("class"), Some("receipt"));
    // read, with a list of more ids
    h.send(
        cb,
        &Node::new("receipt")
            .attr("id", "R1")
            .attr("to", "15553050@s.whatsapp.net")
            .attr("type", "read")
            .attr("t", "123")
            .children(vec![
                Node::new("list").children(vec![Node::new("item").attr("id", "R0")]),
            ]),
    );
    let r = h.expect(ca1, "receipt");
    assert_eq!(r.get_attr("type"), Some("read"));
    assert_eq!(r.get_attr("t"), Some("123"));
    assert!(r.child("list").is_some());
    ack_receipt(&mut h, &r);
    // the other own device confirms its copy with a "sender" receipt without `to`
    h.send(
        ca2,
        &Node::new("receipt")
            .attr("id", "R1")
            .attr("recipient", "15553051@s.whatsapp.net")
            .attr("type", "sender"),
    );
    let r = h.expect(ca1, "receipt");
    assert_eq!(r.get_attr("type"), Some("sender"));
    assert_eq!(r.get_attr("from"), a2.jid.as_deref());
    ack_receipt(&mut h, &r);
    assert_eq!(h.server.queued(&a1j), 0, "acked receipts are gone");
    // a receipt for an offline sender waits for it
    h.hang_up(ca1);
    h.send(
        cb,
        &Node::new("receipt")
            .attr("id", "R1")
            .attr("to", "15553050@s.whatsapp.net")
            .attr("type", "played"),
    );
    assert_eq!(h.server.queued(&a1j), 1);
    let mut a1 = a1;
    let (_, got) = h.login(&mut a1, 0);
    let r = got
        .iter()
        .find(|n| n.tag == "receipt")
        .expect("queued receipt");
    assert_eq!(r.get_attr("type"), Some("played"));
    assert_eq!(r.get_attr("offline"), Some("1"));
}

#[test]
fn retry_receipts_are_relayed_with_their_keys() {
    let mut h = Harness::new();
    let (a, ca) = h.online_device("15553060");
    let (b, cb) = h.online_device("15553061");
    let aj = a.jid.clone().unwrap();
    let m = encrypted_message(
        &mut h,
        ca,
        &a,
        "15553061@s.whatsapp.net",
        &[b.jid.clone().unwrap()],
        "RT",
        "x",
    );
    h.send(ca, &m);
    h.drain(ca);
    h.expect(cb, "message");
    h.send(
        cb,
        &Node::new("receipt")
            .attr("id", "RT")
            .attr("to", aj.clone())
            .attr("type", "retry")
            .children(vec![
                Node::new("retry")
                    .attr("count", "2")
                    .attr("id", "RT")
                    .attr("t", "1")
                    .attr("v", "1"),
                Node::new("registration").bytes(vec![0, 0, 1, 2]),
                Node::new("keys").children(vec![Node::new("type").bytes(vec![5])]),
            ]),
    );
    let r = h.expect(ca, "receipt");
    assert_eq!(r.get_attr("type"), Some("retry"));
    assert_eq!(r.get_attr("from"), b.jid.as_deref());
    assert_eq!(r.child("retry").unwrap().get_attr("count"), Some("2"));
    assert!(r.child("keys").is_some());
    assert!(r.child("registration").is_some());
}

#[test]
fn the_phone_decrypts_and_confirms_what_companions_send_it() {
    let mut h = Harness::new();
    let (a, ca) = h.online_device("15553070");
    let (a2, _) = h.online_device("15553070");
    let _ = a2;
    // To another account's phone, and a copy to our own phone.
    let mut bphone = Device::new();
    h.pair(&mut bphone, "15553071");
    let m = encrypted_message(
        &mut h,
        ca,
        &a,
        "15553071@s.whatsapp.net",
        &[
            "15553071@s.whatsapp.net".into(),
            "15553070@s.whatsapp.net".into(),
        ],
        "P1",
        "hello phones",
    );
    h.send(ca, &m);
    let got = h.drain(ca);
    assert!(got.iter().any(|n| n.tag == "ack"));
    let receipts: Vec<&Node> = got.iter().filter(|n| n.tag == "receipt").collect();
    assert_eq!(
        receipts.len(),
        2,
        "delivery from B's phone, sender receipt from our phone"
    );
    assert!(
        receipts
            .iter()
            .any(|r| r.get_attr("from") == Some("15553071@s.whatsapp.net")
                && r.get_attr("type").is_none())
    );
    assert!(
        receipts
            .iter()
            .any(|r| r.get_attr("from") == Some("15553070@s.whatsapp.net")
                && r.get_attr("type") == Some("sender"))
    );
    let theirs = h.server.inbox("15553071").unwrap();
    assert_eq!(theirs[0].text(), Some("hello phones"));
    assert_eq!(theirs[0].participant, a.jid.clone().unwrap());
    let ours = h.server.inbox("15553070").unwrap();
    assert_eq!(ours[0].text(), Some("hello phones"));
    assert!(ours[0].from_me);
    assert_eq!(ours[0].remote_jid, "15553071@s.whatsapp.net");
    assert_eq!(h.server.stats().phone_received, 2);
}

#[test]
fn the_phone_sends_to_every_device_and_collects_receipts() {
    let mut h = Harness::new();
    let (a, ca) = h.online_device("15553080");
    let (own, cown) = h.online_device("15553081");
    let id = h
        .server
        .phone_send_text(h.now, "15553081", "15553080@s.whatsapp.net", "from a phone")
        .unwrap();
    h.step();
    let got = h.expect(ca, "message");
    assert_eq!(got.get_attr("from"), Some("15553081@s.whatsapp.net"));
    assert_eq!(got.get_attr("id"), Some(id.as_str()));
    assert_eq!(got.get_attr("notify"), Some("Tester"));
    assert_eq!(got.child("enc").unwrap().get_attr("type"), Some("pkmsg"));
    assert_eq!(decrypt(&a, &got), "from a phone");
    // the account's own companion gets the DeviceSentMessage copy
    let copy = h.expect(cown, "message");
    assert_eq!(copy.get_attr("recipient"), Some("15553080@s.whatsapp.net"));
    assert_eq!(decrypt(&own, &copy), "from a phone");
    // A's phone (device 0) decrypted its copy too
    assert_eq!(
        h.server.inbox("15553080").unwrap()[0].text(),
        Some("from a phone")
    );
    // A confirms; the phone records it
    h.send(
        ca,
        &Node::new("receipt")
            .attr("id", id.clone())
            .attr("to", "15553081@s.whatsapp.net"),
    );
    let receipts = h.server.phone_receipts("15553081").unwrap();
    assert!(
        receipts
            .iter()
            .any(|r| r.id == id && r.kind == "delivery" && r.from == a.jid.clone().unwrap())
    );
    // Until A writes back, the phone's session stays a prekey session (Signal's rule).
    h.server
        .phone_send_text(h.now, "15553081", "15553080", "still pkmsg")
        .unwrap();
    h.step();
    let got = h.expect(ca, "message");
    assert_eq!(got.child("enc").unwrap().get_attr("type"), Some("pkmsg"));
    assert_eq!(decrypt(&a, &got), "still pkmsg");
    let (kind, body) = a.encrypt("15553081@s.whatsapp.net", &text_message("reply"));
    assert_eq!(kind, "msg");
    h.send(
        ca,
        &Node::new("message")
            .attr("id", "REPLY")
            .attr("to", "15553081@s.whatsapp.net")
            .attr("type", "text")
            .children(vec![Node::new("participants").children(
                vec![Node::new("to").attr("jid", "15553081@s.whatsapp.net").children(vec![
                Node::new("enc").attr("v", "2").attr("type", kind).bytes(body),
            ])],
            )]),
    );
    assert_eq!(
        h.server.inbox("15553081").unwrap().last().unwrap().text(),
        Some("reply")
    );
    // now the phone's messages ride the ratchet: msg
    h.server
        .phone_send_text(h.now, "15553081", "15553080", "again")
        .unwrap();
    h.step();
    let got = h.expect(ca, "message");
    assert_eq!(got.child("enc").unwrap().get_attr("type"), Some("msg"));
    assert_eq!(decrypt(&a, &got), "again");
}

#[test]
fn the_phone_answers_undecryptable_messages_with_a_retry_receipt_and_keys() {
    let mut h = Harness::new();
    let (a, ca) = h.online_device("15553090");
    h.server.account_jids("15553091").unwrap();
    // A claims a session it does not have: garbage as a msg.
    h.send(
        ca,
        &Node::new("message")
            .attr("id", "G1")
            .attr("to", "15553091@s.whatsapp.net")
            .attr("type", "text")
            .attr("t", "5")
            .children(vec![Node::new("participants").children(
                vec![Node::new("to").attr("jid", "15553091@s.whatsapp.net").children(vec![
                Node::new("enc").attr("v", "2").attr("type", "msg").bytes(vec![0x33; 40]),
            ])],
            )]),
    );
    let got = h.drain(ca);
    let retry = got
        .iter()
        .find(|n| n.tag == "receipt")
        .expect("retry receipt");
    assert_eq!(retry.get_attr("type"), Some("retry"));
    assert_eq!(retry.get_attr("from"), Some("15553091@s.whatsapp.net"));
    assert_eq!(retry.child("retry").unwrap().get_attr("count"), Some("1"));
    let keys = retry.child("keys").unwrap();
    assert!(keys.child("key").is_some() && keys.child("skey").is_some());
    assert_eq!(h.server.stats().phone_decrypt_failures, 1);
    // With the keys from the receipt, A starts a session and the phone decrypts.
    let mut user = Node::new("user").children(keys.child_nodes().to_vec());
    if let wa_binary::Content::Nodes(ch) = &mut user.content {
        ch.push(retry.child("registration").unwrap().clone());
    }
    a.install("15553091@s.whatsapp.net", &user);
    let (kind, body) = a.encrypt("15553091@s.whatsapp.net", &text_message("second try"));
    assert_eq!(kind, "pkmsg");
    h.send(
        ca,
        &Node::new("message")
            .attr("id", "G1")
            .attr("to", "15553091@s.whatsapp.net")
            .attr("type", "text")
            .children(vec![
                Node::new("enc")
                    .attr("v", "2")
                    .attr("type", kind)
                    .attr("count", "1")
                    .bytes(body),
            ]),
    );
    assert_eq!(
        h.server.inbox("15553091").unwrap()[0].text(),
        Some("second try")
    );
}

#[test]
fn a_hostile_retry_count_does_not_wrap_past_the_retry_limit() {
    let mut h = Harness::new();
    let (_a, ca) = h.online_device("15553094");
    h.server.account_jids("15553095").unwrap();
    for (id, count) in [("H1", "4294967295"), ("H2", "99999999999"), ("H3", "-1")] {
        h.send(
            ca,
            &Node::new("message")
                .attr("id", id)
                .attr("to", "15553095@s.whatsapp.net")
                .attr("type", "text")
                .children(vec![
                    Node::new("enc")
                        .attr("v", "2")
                        .attr("type", "msg")
                        .attr("count", count)
                        .bytes(vec![0x44; 40]),
                ]),
        );
        let got = h.drain(ca);
        let retry = got
            .iter()
            .find(|n| n.tag == "receipt" && n.get_attr("type") == Some("retry"));
        match count {
            // Past the limit: the phone gives up instead of asking again.
            "4294967295" => assert!(retry.is_none(), "count {count} wrapped: {retry:?}"),
            // Not a u32: read as no count, so this is the first retry.
            _ => assert_eq!(
                retry
                    .expect("retry receipt")
                    .child("retry")
                    .unwrap()
                    .get_attr("count"),
                Some("1")
            ),
        }
    }
}

#[test]
fn the_phone_sends_again_when_a_device_asks_with_a_retry_receipt() {
    let mut h = Harness::new();
    let (a, ca) = h.online_device("15553100");
    let id = h
        .server
        .phone_send_text(h.now, "15553101", "15553100@s.whatsapp.net", "lost")
        .unwrap();
    h.step();
    let first = h.expect(ca, "message");
    assert_eq!(first.get_attr("id"), Some(id.as_str()));
    // A cannot decrypt (pretend) and asks again with fresh keys.
    let mut fresh = Device::new();
    let mut up = fresh.prekey_upload("x", 1);
    let keys = Node::new("keys").children(vec![
        Node::new("type").bytes(vec![5]),
        Node::new("identity").bytes(fresh.identity.public.to_vec()),
        up_child(&mut up, "list").child("key").unwrap().clone(),
        up_child(&mut up, "skey").clone(),
    ]);
    h.send(
        ca,
        &Node::new("receipt")
            .attr("id", id.clone())
            .attr("to", "15553101@s.whatsapp.net")
            .attr("type", "retry")
            .children(vec![
                Node::new("retry")
                    .attr("count", "1")
                    .attr("id", id.clone())
                    .attr("t", "1")
                    .attr("v", "1"),
                Node::new("registration").bytes(fresh.registration_id.to_be_bytes().to_vec()),
                keys,
            ]),
    );
    let again = h.expect(ca, "message");
    assert_eq!(again.get_attr("id"), Some(id.as_str()));
    let enc = again.child("enc").unwrap();
    assert_eq!(enc.get_attr("count"), Some("1"));
    assert_eq!(
        enc.get_attr("type"),
        Some("pkmsg"),
        "a new session from the receipt's keys"
    );
    // Only the holder of the fresh keys can read it.
    assert_eq!(decrypt(&fresh, &again), "lost");
    let _ = a;
}

fn up_child<'a>(n: &'a mut Node, tag: &str) -> &'a Node {
    n.child(tag).unwrap()
}
