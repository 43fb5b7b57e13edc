//! The simulated phones as group members: a group of one companion (A) and two phones (B and
//! C). A phone sends with its own sender key and the other phone and the companion decrypt;
//! the companion sends with its sender key and both phones decrypt and confirm; a phone
//! without the key asks with a retry receipt and gets the message again with the key (and
//! answers a companion's retry receipt the same way); garbage neither panics nor breaks what
//! comes after; a member removed gets nothing more and the phone's key is made anew.

mod common;

use common::*;
use prost::Message as _;
use wa_binary::Node;
use wa_signal::SenderKeyName;
use wa_signal::protocol;
use wa_testserver::{ConnId, GroupAddressing};

const A: &str = "15558000";
const B: &str = "15558001";
const C: &str = "15558002";

struct World {
    h: Harness,
    a: Device,
    ca: ConnId,
    group: String,
    /// (pn, lid) user JIDs of A, B and C; phones are device 0, so these name them (A's phone
    /// is a member device too).
    a_user: (String, String),
    b: (String, String),
    c: (String, String),
}

impl World {
    /// The companion's device JID as the group names it.
    fn a_jid(&self, lid: bool) -> String {
        if lid {
            self.a.lid.clone().expect("lid")
        } else {
            self.a.jid.clone().expect("jid")
        }
    }

    fn inbox_texts(&self, number: &str) -> Vec<String> {
        self.h
            .server
            .inbox(number)
            .unwrap()
            .iter()
            .filter_map(|m| m.text().map(str::to_owned))
            .collect()
    }
}

/// B's phone makes a group with A and C.
fn world(addressing: GroupAddressing) -> World {
    let mut h = Harness::new();
    h.server.set_group_addressing(addressing);
    let (a, ca) = h.online_device(A);
    let a_user = h.server.account_jids(A).unwrap();
    let b = h.server.account_jids(B).unwrap();
    let c = h.server.account_jids(C).unwrap();
    let now = h.now;
    let group = h
        .server
        .phone_create_group(now, B, "Phones", &[A.to_owned(), C.to_owned()])
        .unwrap();
    h.step();
    h.drain(ca);
    World {
        h,
        a,
        ca,
        group,
        a_user,
        b,
        c,
    }
}

fn messages(h: &mut Harness, c: ConnId) -> Vec<Node> {
    h.drain(c)
        .into_iter()
        .filter(|n| n.tag == "message")
        .collect()
}

fn receipts(h: &mut Harness, c: ConnId) -> Vec<Node> {
    h.drain(c)
        .into_iter()
        .filter(|n| n.tag == "receipt")
        .collect()
}

/// Sessions from A to these devices, with bundles fetched as a client does.
fn ensure_sessions(h: &mut Harness, conn: ConnId, from: &Device, jids: &[String]) {
    let need: Vec<&String> = jids.iter().filter(|d| !from.has_session(d)).collect();
    if need.is_empty() {
        return;
    }
    h.send(
        conn,
        &iq("keys", "encrypt", "get").children(vec![
            Node::new("key").children(
                need.iter()
                    .map(|d| Node::new("user").attr("jid", (*d).clone()))
                    .collect(),
            ),
        ]),
    );
    let res = h.expect(conn, "iq");
    for u in res.child("list").unwrap().children_by_tag("user") {
        from.install(u.get_attr("jid").unwrap(), u);
    }
}

fn skdm_message(group: &str, distribution: Vec<u8>) -> wa_proto::Message {
    wa_proto::Message {
        sender_key_distribution_message: Some(Box::new(
            wa_proto::message::SenderKeyDistributionMessage {
                group_id: Some(group.to_owned()),
                axolotl_sender_key_distribution_message: Some(distribution),
            },
        )),
        ..Default::default()
    }
}

/// A's `<message to=group>` as a client builds it: its sender key, pairwise, for `give_key`,
/// and the `skmsg` of `text` (or `skmsg` as given).
fn a_group_message(
    w: &mut World,
    id: &str,
    text: &str,
    give_key: &[String],
    skmsg: Option<Vec<u8>>,
) -> Node {
    let me = w.a_jid(true);
    let name = SenderKeyName::from_jids(&w.group, &me).unwrap();
    let sealed = now_or_never(protocol::group_encrypt(
        &w.a.store,
        &name,
        &text_message(text),
    ))
    .unwrap();
    ensure_sessions(&mut w.h, w.ca, &w.a, give_key);
    let skdm = pad(skdm_message(&w.group, sealed.distribution).encode_to_vec());
    let tos: Vec<Node> = give_key
        .iter()
        .map(|d| {
            let (kind, body) = w.a.encrypt(d, &skdm);
            Node::new("to").attr("jid", d.clone()).children(vec![
                Node::new("enc")
                    .attr("v", "2")
                    .attr("type", kind)
                    .bytes(body),
            ])
        })
        .collect();
    let mut children = Vec::new();
    if !tos.is_empty() {
        children.push(Node::new("participants").children(tos));
        children.push(Node::new("device-identity").bytes(w.a.account.clone().unwrap()));
    }
    children.push(
        Node::new("enc")
            .attr("v", "2")
            .attr("type", "skmsg")
            .bytes(skmsg.unwrap_or(sealed.ciphertext)),
    );
    Node::new("message")
        .attr("id", id.to_owned())
        .attr("to", w.group.clone())
        .attr("type", "text")
        .attr("addressing_mode", "lid")
        .children(children)
}

/// What A makes of a group message from a phone: the pairwise `<enc>` (its sender key kept),
/// then the `skmsg`. The text, or the pairwise content when there is no `skmsg`.
fn a_open(w: &World, m: &Node) -> Option<String> {
    let author = m.get_attr("participant")?;
    let mut text = None;
    if let Some(enc) = m
        .children_by_tag("enc")
        .find(|e| e.get_attr("type") != Some("skmsg"))
    {
        let plain =
            w.a.decrypt(author, enc.get_attr("type")?, enc.content_bytes()?)
                .ok()?;
        let msg = wa_proto::Message::decode(unpad(&plain)).ok()?;
        let skdm = msg.sender_key_distribution_message.clone()?;
        assert_eq!(skdm.group_id.as_deref(), Some(w.group.as_str()));
        let name = SenderKeyName::from_jids(&w.group, author).unwrap();
        now_or_never(protocol::group_process_distribution(
            &w.a.store,
            &name,
            &skdm.axolotl_sender_key_distribution_message?,
        ))
        .ok()?;
        text = msg.conversation;
    }
    if let Some(sk) = m
        .children_by_tag("enc")
        .find(|e| e.get_attr("type") == Some("skmsg"))
    {
        let name = SenderKeyName::from_jids(&w.group, author).unwrap();
        let plain = now_or_never(protocol::group_decrypt(
            &w.a.store,
            &name,
            sk.content_bytes()?,
        ))
        .ok()?;
        text = message_text(&plain);
    }
    text
}

fn enc_kinds(m: &Node) -> Vec<String> {
    m.children_by_tag("enc")
        .map(|e| e.get_attr("type").unwrap_or("").to_owned())
        .collect()
}

#[test]
fn a_phone_sends_to_the_group_and_the_other_phone_and_the_companion_decrypt() {
    let mut w = world(GroupAddressing::Lid);
    let now = w.h.now;
    let group = w.group.clone();
    let id =
        w.h.server
            .phone_send_text(now, B, &group, "hi from B")
            .unwrap();
    w.h.step();

    let inbox = w.h.server.inbox(C).unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].id, id);
    assert_eq!(inbox[0].remote_jid, group);
    assert_eq!(
        inbox[0].participant, w.b.1,
        "the author by LID in a LID group"
    );
    assert!(!inbox[0].from_me);
    assert_eq!(inbox[0].text(), Some("hi from B"));

    let got = messages(&mut w.h, w.ca);
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!(m.get_attr("from"), Some(group.as_str()));
    assert_eq!(m.get_attr("participant"), Some(w.b.1.as_str()));
    assert_eq!(m.get_attr("participant_pn"), Some(w.b.0.as_str()));
    assert_eq!(m.get_attr("addressing_mode"), Some("lid"));
    assert_eq!(enc_kinds(m), vec!["pkmsg", "skmsg"]);
    assert_eq!(a_open(&w, m).as_deref(), Some("hi from B"));

    // A confirms as a member does; C's phone did already.
    w.h.send(
        w.ca,
        &Node::new("receipt")
            .attr("id", id.clone())
            .attr("to", group.clone())
            .attr("participant", w.b.1.clone())
            .attr("type", "read"),
    );
    let got = w.h.server.phone_receipts(B).unwrap();
    assert!(
        got.iter()
            .any(|r| r.id == id && r.from == w.c.1 && r.kind == "delivery"),
        "{got:?}"
    );
    assert!(
        got.iter()
            .any(|r| r.id == id && r.from == w.a_jid(true) && r.kind == "read"),
        "{got:?}"
    );

    // The second message: everyone holds B's key, the skmsg is all there is.
    let id2 = w.h.server.phone_send_text(now, B, &group, "again").unwrap();
    w.h.step();
    let got = messages(&mut w.h, w.ca);
    assert_eq!(enc_kinds(&got[0]), vec!["skmsg"]);
    assert_eq!(got[0].get_attr("id"), Some(id2.as_str()));
    assert_eq!(a_open(&w, &got[0]).as_deref(), Some("again"));
    assert_eq!(w.inbox_texts(C), vec!["hi from B", "again"]);
    assert!(w.h.server.inbox(B).unwrap().is_empty(), "no echo to itself");
}

#[test]
fn phone_number_groups_name_the_author_by_phone_number() {
    let mut w = world(GroupAddressing::Pn);
    let now = w.h.now;
    let group = w.group.clone();
    w.h.server
        .phone_send_text(now, C, &group, "pn group")
        .unwrap();
    w.h.step();
    let inbox = w.h.server.inbox(B).unwrap();
    assert_eq!(inbox[0].participant, w.c.0);
    assert_eq!(inbox[0].text(), Some("pn group"));
    let got = messages(&mut w.h, w.ca);
    assert_eq!(got[0].get_attr("participant"), Some(w.c.0.as_str()));
    assert_eq!(got[0].get_attr("participant_lid"), Some(w.c.1.as_str()));
    assert_eq!(got[0].get_attr("addressing_mode"), Some("pn"));
    assert_eq!(a_open(&w, &got[0]).as_deref(), Some("pn group"));
}

#[test]
fn the_companion_sends_with_its_sender_key_and_both_phones_decrypt() {
    let mut w = world(GroupAddressing::Lid);
    let group = w.group.clone();
    let phones = vec![w.a_user.1.clone(), w.b.1.clone(), w.c.1.clone()];
    let m = a_group_message(&mut w, "AG1", "from A", &phones, None);
    w.h.send(w.ca, &m);
    for n in [B, C] {
        let inbox = w.h.server.inbox(n).unwrap();
        assert_eq!(inbox.len(), 1, "{n}");
        assert_eq!(inbox[0].remote_jid, group);
        assert_eq!(inbox[0].participant, w.a_jid(true));
        assert_eq!(inbox[0].push_name.as_deref(), Some("Tester"));
        assert_eq!(inbox[0].text(), Some("from A"));
    }
    // Both phones confirm to A, each named as the receipt's participant.
    // A's own phone has its companion's message too, as its own.
    let own = w.h.server.inbox(A).unwrap();
    assert_eq!(own.len(), 1);
    assert!(own[0].from_me);
    assert_eq!(own[0].remote_jid, group);
    let got = receipts(&mut w.h, w.ca);
    let mut from: Vec<(&str, Option<&str>)> = got
        .iter()
        .filter(|r| r.get_attr("id") == Some("AG1"))
        .map(|r| {
            assert_eq!(r.get_attr("from"), Some(group.as_str()));
            (r.get_attr("participant").unwrap(), r.get_attr("type"))
        })
        .collect();
    from.sort();
    // Members confirm delivery; the account's own phone confirms as `sender`.
    let mut want = vec![
        (w.a_user.1.as_str(), Some("sender")),
        (w.b.1.as_str(), None),
        (w.c.1.as_str(), None),
    ];
    want.sort();
    assert_eq!(from, want);

    // Next time the skmsg alone does.
    let m = a_group_message(&mut w, "AG2", "second", &[], None);
    w.h.send(w.ca, &m);
    assert_eq!(w.inbox_texts(B), vec!["from A", "second"]);
    assert_eq!(w.inbox_texts(C), vec!["from A", "second"]);
    assert_eq!(w.h.server.stats().phone_decrypt_failures, 0);
}

#[test]
fn a_phone_without_the_key_asks_again_and_gets_it() {
    let mut w = world(GroupAddressing::Lid);
    let group = w.group.clone();
    // A gives its key to its own phone and B only; C gets an skmsg it has no key for.
    let only_b = [w.a_user.1.clone(), w.b.1.clone()];
    let m = a_group_message(&mut w, "AK1", "who has the key", &only_b, None);
    w.h.send(w.ca, &m);
    assert_eq!(w.inbox_texts(B), vec!["who has the key"]);
    assert!(w.inbox_texts(C).is_empty());
    assert_eq!(w.h.server.stats().phone_decrypt_failures, 1);
    let retry = receipts(&mut w.h, w.ca)
        .into_iter()
        .find(|r| r.get_attr("type") == Some("retry"))
        .expect("C asks again");
    assert_eq!(retry.get_attr("from"), Some(group.as_str()));
    assert_eq!(retry.get_attr("participant"), Some(w.c.1.as_str()));
    assert_eq!(retry.get_attr("id"), Some("AK1"));
    let r = retry.child("retry").unwrap();
    assert_eq!(r.get_attr("count"), Some("1"));
    assert!(retry.child("registration").is_some());
    assert!(retry.child("keys").and_then(|k| k.child("skey")).is_some());

    // A sends it again to C alone, pairwise, with its key beside the content (as our client
    // does); C takes it, and the next skmsg too.
    let me = w.a_jid(true);
    let name = SenderKeyName::from_jids(&group, &me).unwrap();
    let distribution = now_or_never(protocol::group_distribution(&w.a.store, &name)).unwrap();
    let mut again = skdm_message(&group, distribution);
    again.conversation = Some("who has the key".into());
    ensure_sessions(&mut w.h, w.ca, &w.a, std::slice::from_ref(&w.c.1));
    let (kind, body) = w.a.encrypt(&w.c.1, &pad(again.encode_to_vec()));
    w.h.send(
        w.ca,
        &Node::new("message")
            .attr("id", "AK1")
            .attr("to", group.clone())
            .attr("participant", w.c.1.clone())
            .attr("type", "text")
            .children(vec![
                Node::new("enc")
                    .attr("v", "2")
                    .attr("type", kind)
                    .attr("count", "1")
                    .bytes(body),
            ]),
    );
    assert_eq!(w.inbox_texts(C), vec!["who has the key"]);
    assert_eq!(w.inbox_texts(B), vec!["who has the key"], "B got it once");
    let m = a_group_message(&mut w, "AK2", "now both", &[], None);
    w.h.send(w.ca, &m);
    assert_eq!(w.inbox_texts(C), vec!["who has the key", "now both"]);
    assert_eq!(w.inbox_texts(B), vec!["who has the key", "now both"]);
}

#[test]
fn a_phone_answers_a_companions_retry_receipt_with_its_key() {
    let mut w = world(GroupAddressing::Lid);
    let now = w.h.now;
    let group = w.group.clone();
    let id = w.h.server.phone_send_text(now, B, &group, "lost").unwrap();
    w.h.step();
    let first = messages(&mut w.h, w.ca);
    assert_eq!(first.len(), 1);
    // A drops it (as if it had lost its session) and asks again with fresh keys of its own.
    let retry = Node::new("receipt")
        .attr("id", id.clone())
        .attr("to", group.clone())
        .attr("participant", w.b.1.clone())
        .attr("type", "retry")
        .children(vec![
            Node::new("retry")
                .attr("count", "1")
                .attr("id", id.clone())
                .attr("t", "0")
                .attr("v", "1"),
        ]);
    w.h.send(w.ca, &retry);
    let got = messages(&mut w.h, w.ca);
    assert_eq!(got.len(), 1, "the message again");
    let m = &got[0];
    assert_eq!(m.get_attr("id"), Some(id.as_str()));
    assert_eq!(m.get_attr("from"), Some(group.as_str()));
    assert_eq!(m.get_attr("participant"), Some(w.b.1.as_str()));
    let enc = m.child("enc").unwrap();
    assert_eq!(enc.get_attr("count"), Some("1"));
    assert_eq!(enc_kinds(m).len(), 1, "pairwise only");
    // The first pkmsg was never opened, so this is still one; it carries content and key.
    let plain =
        w.a.decrypt(
            &w.b.1,
            enc.get_attr("type").unwrap(),
            enc.content_bytes().unwrap(),
        )
        .unwrap();
    let msg = wa_proto::Message::decode(unpad(&plain)).unwrap();
    assert_eq!(msg.conversation.as_deref(), Some("lost"));
    let skdm = msg.sender_key_distribution_message.unwrap();
    assert_eq!(skdm.group_id.as_deref(), Some(group.as_str()));
    now_or_never(protocol::group_process_distribution(
        &w.a.store,
        &SenderKeyName::from_jids(&group, &w.b.1).unwrap(),
        &skdm.axolotl_sender_key_distribution_message.unwrap(),
    ))
    .unwrap();
    // With the key, B's next message opens; C never had trouble.
    let id2 = w.h.server.phone_send_text(now, B, &group, "next").unwrap();
    w.h.step();
    let got = messages(&mut w.h, w.ca);
    assert_eq!(got[0].get_attr("id"), Some(id2.as_str()));
    assert_eq!(enc_kinds(&got[0]), vec!["skmsg"]);
    assert_eq!(a_open(&w, &got[0]).as_deref(), Some("next"));
    assert_eq!(w.inbox_texts(C), vec!["lost", "next"]);
}

#[test]
fn garbage_neither_panics_nor_breaks_what_follows() {
    let mut w = world(GroupAddressing::Lid);
    let group = w.group.clone();
    let phones = vec![w.a_user.1.clone(), w.b.1.clone(), w.c.1.clone()];
    // A real key, a garbage skmsg: the phones keep the key, fail the skmsg and ask again.
    let m = a_group_message(
        &mut w,
        "BAD1",
        "unused",
        &phones,
        Some(b"not a sender key message".to_vec()),
    );
    w.h.send(w.ca, &m);
    assert_eq!(w.h.server.stats().phone_decrypt_failures, 3);
    let retries = receipts(&mut w.h, w.ca)
        .into_iter()
        .filter(|r| r.get_attr("type") == Some("retry"))
        .count();
    assert_eq!(retries, 3);

    // Stanzas that do not add up.
    let a_lid = w.a_jid(true);
    let junk = |id: &str, children: Vec<Node>| {
        Node::new("message")
            .attr("id", id.to_owned())
            .attr("to", group.clone())
            .attr("type", "text")
            .children(children)
    };
    let enc = |kind: &str, body: &[u8]| {
        Node::new("enc")
            .attr("v", "2")
            .attr("type", kind.to_owned())
            .bytes(body.to_vec())
    };
    let to = |jid: &str, e: Node| {
        Node::new("participants").children(vec![
            Node::new("to")
                .attr("jid", jid.to_owned())
                .children(vec![e]),
        ])
    };
    let cases = vec![
        junk("J1", vec![enc("skmsg", b"")]),
        junk(
            "J2",
            vec![
                to(&w.b.1, enc("pkmsg", b"\x33garbage")),
                enc("skmsg", &[0u8; 64]),
            ],
        ),
        junk("J3", vec![to(&w.b.1, enc("msg", b"")), enc("skmsg", b"x")]),
        junk(
            "J4",
            vec![
                to(&w.c.1, Node::new("enc").attr("type", "pkmsg")),
                enc("skmsg", b"\x33"),
            ],
        ),
        junk("J5", vec![enc("weird", b"1234")]),
        junk(
            "J6",
            vec![
                Node::new("enc")
                    .attr("type", "skmsg")
                    .attr("count", "4294967295"),
            ],
        ),
    ];
    for m in cases {
        w.h.send(w.ca, &m);
    }
    // Sender-key distributions that lie: another group's id, bytes that are no key.
    let wrong = [
        skdm_message("120363000000000000@g.us", vec![1, 2, 3]),
        skdm_message(&group, b"not a distribution".to_vec()),
        skdm_message("15558001@s.whatsapp.net", vec![]),
    ];
    for (i, s) in wrong.into_iter().enumerate() {
        let (kind, body) = w.a.encrypt(&w.b.1, &pad(s.encode_to_vec()));
        w.h.send(
            w.ca,
            &junk(
                &format!("W{i}"),
                vec![to(&w.b.1, enc(&kind, &body)), enc("skmsg", b"nope")],
            ),
        );
    }
    assert!(w.inbox_texts(B).is_empty());
    assert!(w.inbox_texts(C).is_empty());

    // A's key still works for both phones, and the phones still send.
    let m = a_group_message(&mut w, "GOOD", "still fine", &[], None);
    w.h.send(w.ca, &m);
    assert_eq!(w.inbox_texts(B), vec!["still fine"]);
    assert_eq!(w.inbox_texts(C), vec!["still fine"]);
    let now = w.h.now;
    w.h.server
        .phone_send_text(now, C, &group, "and back")
        .unwrap();
    w.h.step();
    assert_eq!(w.inbox_texts(B), vec!["still fine", "and back"]);
    let got = messages(&mut w.h, w.ca);
    let from_c = got
        .iter()
        .find(|m| m.get_attr("participant") == Some(w.c.1.as_str()))
        .unwrap();
    assert_eq!(a_open(&w, from_c).as_deref(), Some("and back"));
    let _ = a_lid;
}

#[test]
fn only_members_send_and_a_removed_member_gets_nothing_more() {
    let mut w = world(GroupAddressing::Lid);
    let now = w.h.now;
    let group = w.group.clone();
    let outsider = "15558009";
    w.h.server.account_jids(outsider).unwrap();
    let err =
        w.h.server
            .phone_send_text(now, outsider, &group, "let me in")
            .unwrap_err();
    assert_eq!(err.code(), "ERR_WA_TESTSERVER_BAD_JID");
    assert!(
        w.h.server
            .phone_send_text(now, B, "120363999999999999@g.us", "nowhere")
            .is_err()
    );

    w.h.server
        .phone_send_text(now, B, &group, "all of us")
        .unwrap();
    w.h.step();
    let got = messages(&mut w.h, w.ca);
    assert_eq!(a_open(&w, &got[0]).as_deref(), Some("all of us"));
    w.h.server
        .phone_update_group(now, &group, B, false, &[C.to_owned()])
        .unwrap();
    w.h.step();
    w.h.drain(w.ca);
    w.h.server
        .phone_send_text(now, B, &group, "without C")
        .unwrap();
    w.h.step();
    assert_eq!(w.inbox_texts(C), vec!["all of us"], "C is out");
    // B made a new key: A gets it again with the message (still a pkmsg: A never wrote to
    // B's phone, so B's session is not confirmed yet).
    let got = messages(&mut w.h, w.ca);
    assert_eq!(enc_kinds(&got[0]), vec!["pkmsg", "skmsg"]);
    assert_eq!(a_open(&w, &got[0]).as_deref(), Some("without C"));
    // C is not a member any more: its phone cannot send there.
    assert!(
        w.h.server
            .phone_send_text(now, C, &group, "hello?")
            .is_err()
    );
}
