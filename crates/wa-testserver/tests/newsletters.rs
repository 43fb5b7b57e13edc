//! Newsletters (channels): the `w:mex` GraphQL IQs (create, metadata by JID and invite,
//! update, follow, unfollow, mute, subscribers, admin count, change owner, demote, delete),
//! the `newsletter` IQs (live updates, message history), posts fanned out as plaintext with
//! offline delivery, reactions and views with their notifications, and bad input.

mod common;

use common::*;
use prost::Message as _;
use serde_json::{Value, json};
use wa_binary::Node;
use wa_testserver::{ConnId, NewsletterRole};

const Q_CREATE: &str = "8823471724422422";
const Q_METADATA: &str = "6563316087068696";
const Q_UPDATE: &str = "24250201037901610";
const Q_SUBSCRIBERS: &str = "9783111038412085";
const Q_FOLLOW: &str = "24404358912487870";
const Q_UNFOLLOW: &str = "9767147403369991";
const Q_MUTE: &str = "29766401636284406";
const Q_UNMUTE: &str = "9864994326891137";
const Q_ADMIN_COUNT: &str = "7130823597031706";
const Q_CHANGE_OWNER: &str = "7341777602580933";
const Q_DEMOTE: &str = "6551828931592903";
const Q_DELETE: &str = "30062808666639665";

/// Sends a stanza and returns the answer with the same id and tag; the rest stays queued.
fn ask_tag(h: &mut Harness, c: ConnId, node: Node, tag: &str) -> Node {
    let id = node.get_attr("id").unwrap().to_owned();
    h.send(c, &node);
    let inbox = &mut h.clients.get_mut(&c).expect("client").inbox;
    let at = inbox
        .iter()
        .position(|n| n.tag == tag && n.get_attr("id") == Some(id.as_str()))
        .unwrap_or_else(|| panic!("an <{tag}> for {id}"));
    inbox.remove(at).expect("found")
}

fn ask(h: &mut Harness, c: ConnId, iq: Node) -> Node {
    ask_tag(h, c, iq, "iq")
}

fn mex_iq(id: &str, query_id: &str, body: Vec<u8>) -> Node {
    iq(id, "w:mex", "get").children(vec![
        Node::new("query")
            .attr("query_id", query_id.to_owned())
            .bytes(body),
    ])
}

/// A GraphQL query; the JSON of its `<result>`.
fn mex(h: &mut Harness, c: ConnId, query_id: &str, variables: Value) -> Value {
    let body = json!({ "variables": variables }).to_string().into_bytes();
    let res = ask(h, c, mex_iq("mex", query_id, body));
    assert_eq!(res.get_attr("type"), Some("result"), "{res:?}");
    let bytes = res.child("result").unwrap().content_bytes().unwrap();
    serde_json::from_slice(bytes).unwrap()
}

/// The `data.<path>` of a successful answer.
fn data(v: &Value, path: &str) -> Value {
    assert!(v.get("errors").is_none(), "unexpected errors: {v}");
    v["data"][path].clone()
}

/// The `error_code` of a failed answer.
fn error(v: &Value) -> u64 {
    v["errors"][0]["extensions"]["error_code"]
        .as_u64()
        .unwrap_or_else(|| panic!("an error answer: {v}"))
}

fn iq_error_code(iq: &Node) -> Option<String> {
    (iq.get_attr("type") == Some("error"))
        .then(|| iq.child("error")?.get_attr("code").map(str::to_owned))
        .flatten()
}

/// Every `type=newsletter` notification waiting for `c`, acked as a client does.
fn notifications(h: &mut Harness, c: ConnId) -> Vec<Node> {
    let got: Vec<Node> = h
        .drain(c)
        .into_iter()
        .filter(|n| n.tag == "notification" && n.get_attr("type") == Some("newsletter"))
        .collect();
    for n in &got {
        let ack = Node::new("ack")
            .attr("id", n.get_attr("id").unwrap().to_owned())
            .attr("to", n.get_attr("from").unwrap().to_owned())
            .attr("class", "notification")
            .attr("type", "newsletter");
        h.send(c, &ack);
    }
    got
}

/// Every `<message>` waiting for `c`, acked as a client acks a newsletter message (no
/// receipt).
fn messages(h: &mut Harness, c: ConnId) -> Vec<Node> {
    let got: Vec<Node> = h
        .drain(c)
        .into_iter()
        .filter(|n| n.tag == "message")
        .collect();
    for m in &got {
        let ack = Node::new("ack")
            .attr("id", m.get_attr("id").unwrap().to_owned())
            .attr("to", m.get_attr("from").unwrap().to_owned())
            .attr("class", "message");
        h.send(c, &ack);
    }
    got
}

fn conversation(plain: &[u8]) -> Option<String> {
    wa_proto::Message::decode(plain).ok()?.conversation
}

/// A: owner with two companions; B: two companions; C and D one each.
struct World {
    h: Harness,
    a1: (Device, ConnId),
    a2: (Device, ConnId),
    b1: (Device, ConnId),
    b2: (Device, ConnId),
    c: (Device, ConnId),
    d: (Device, ConnId),
    /// (pn, lid) of A, B, C, D.
    users: [(String, String); 4],
}

fn world() -> World {
    let mut h = Harness::new();
    let a1 = h.online_device("15558000");
    let a2 = h.online_device("15558000");
    let b1 = h.online_device("15558001");
    let b2 = h.online_device("15558001");
    let c = h.online_device("15558002");
    let d = h.online_device("15558003");
    let users =
        ["15558000", "15558001", "15558002", "15558003"].map(|n| h.server.account_jids(n).unwrap());
    for conn in [a1.1, a2.1, b1.1, b2.1, c.1, d.1] {
        h.drain(conn);
    }
    World {
        h,
        a1,
        a2,
        b1,
        b2,
        c,
        d,
        users,
    }
}

impl World {
    fn conns(&self) -> [ConnId; 6] {
        [
            self.a1.1, self.a2.1, self.b1.1, self.b2.1, self.c.1, self.d.1,
        ]
    }

    fn drain_all(&mut self) {
        for c in self.conns() {
            notifications(&mut self.h, c);
            messages(&mut self.h, c);
            self.h.drain(c);
        }
    }

    /// A (device 1) makes a newsletter; its JID.
    fn create(&mut self, name: &str) -> String {
        let v = mex(
            &mut self.h,
            self.a1.1,
            Q_CREATE,
            json!({ "input": { "name": name, "description": "about" } }),
        );
        data(&v, "xwa2_newsletter_create")["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn follow(&mut self, c: ConnId, jid: &str) {
        let v = mex(&mut self.h, c, Q_FOLLOW, json!({ "newsletter_id": jid }));
        assert_eq!(data(&v, "xwa2_newsletter_join_v2"), json!({ "id": jid }));
    }

    fn metadata(&mut self, c: ConnId, key: &str, kind: &str) -> Value {
        mex(
            &mut self.h,
            c,
            Q_METADATA,
            json!({ "input": { "key": key, "type": kind, "view_role": "GUEST" },
                    "fetch_viewer_metadata": true, "fetch_full_image": true,
                    "fetch_creation_time": true }),
        )
    }

    /// A post from `c`; its ack.
    fn post(&mut self, c: ConnId, jid: &str, id: &str, text: &str) -> Node {
        let m = Node::new("message")
            .attr("to", jid.to_owned())
            .attr("id", id.to_owned())
            .attr("type", "text")
            .children(vec![
                Node::new("plaintext").bytes(
                    wa_proto::Message {
                        conversation: Some(text.to_owned()),
                        ..Default::default()
                    }
                    .encode_to_vec(),
                ),
            ]);
        ask_tag(&mut self.h, c, m, "ack")
    }

    fn react(
        &mut self,
        c: ConnId,
        jid: &str,
        id: &str,
        server_id: u64,
        code: Option<&str>,
    ) -> Node {
        let mut r = Node::new("reaction");
        if let Some(code) = code {
            r = r.attr("code", code.to_owned());
        }
        let m = Node::new("message")
            .attr("to", jid.to_owned())
            .attr("id", id.to_owned())
            .attr("type", "reaction")
            .attr("server_id", server_id.to_string())
            .children(vec![r]);
        ask_tag(&mut self.h, c, m, "ack")
    }

    fn live(&mut self, c: ConnId, jid: &str) -> Node {
        let q = Node::new("iq")
            .attr("id", "live")
            .attr("xmlns", "newsletter")
            .attr("to", jid.to_owned())
            .attr("type", "set")
            .children(vec![Node::new("live_updates")]);
        ask(&mut self.h, c, q)
    }
}

fn server_id(ack: &Node) -> u64 {
    ack.get_attr("server_id")
        .unwrap_or_else(|| panic!("a server_id in {ack:?}"))
        .parse()
        .unwrap()
}

#[test]
fn create_then_metadata_by_jid_and_by_invite() {
    let mut w = world();
    let v = mex(
        &mut w.h,
        w.a1.1,
        Q_CREATE,
        json!({ "input": { "name": "Daily news", "description": null } }),
    );
    let created = data(&v, "xwa2_newsletter_create");
    let jid = created["id"].as_str().unwrap().to_owned();
    assert!(
        jid.starts_with("120363") && jid.ends_with("@newsletter"),
        "{jid}"
    );
    assert_eq!(created["state"]["type"], "ACTIVE");
    let meta = &created["thread_metadata"];
    assert_eq!(meta["name"]["text"], "Daily news");
    assert_eq!(meta["description"]["text"], "");
    assert_eq!(meta["subscribers_count"], "0");
    assert_eq!(meta["verification"], "UNVERIFIED");
    assert_eq!(meta["creation_time"], (T0 / 1000).to_string());
    assert_eq!(meta["name"]["update_time"], (T0 / 1000).to_string());
    assert!(meta["name"]["id"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(meta["picture"]["type"], "IMAGE");
    assert_eq!(meta["preview"]["type"], "PREVIEW");
    assert_eq!(meta["handle"], Value::Null);
    assert_eq!(meta["settings"]["reaction_codes"]["value"], "ALL");
    let invite = meta["invite"].as_str().unwrap().to_owned();
    assert_eq!(invite.len(), 22);
    assert!(
        invite
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    );
    assert_eq!(
        created["viewer_metadata"],
        json!({ "mute": "OFF", "role": "OWNER" })
    );

    // Somebody else, by JID and by invite (code, or the channel link): a guest.
    let by_jid = data(&w.metadata(w.b1.1, &jid, "JID"), "xwa2_newsletter");
    assert_eq!(by_jid["id"], jid.as_str());
    assert_eq!(by_jid["viewer_metadata"]["role"], "GUEST");
    assert_eq!(by_jid["thread_metadata"]["invite"], invite.as_str());
    let by_invite = data(&w.metadata(w.b1.1, &invite, "INVITE"), "xwa2_newsletter");
    assert_eq!(by_invite["id"], jid.as_str());
    let link = format!("https://whatsapp.com/channel/{invite}");
    let v = mex(
        &mut w.h,
        w.c.1,
        Q_METADATA,
        json!({ "input": { "key": link } }),
    );
    assert_eq!(data(&v, "xwa2_newsletter")["id"], jid.as_str());

    // Unknown ones: 404; a nameless create or missing input: 400.
    assert_eq!(
        error(&w.metadata(w.b1.1, "120363000000000001@newsletter", "JID")),
        404
    );
    assert_eq!(
        error(&w.metadata(w.b1.1, "NoSuchInviteCode000000", "INVITE")),
        404
    );
    let v = mex(
        &mut w.h,
        w.a1.1,
        Q_CREATE,
        json!({ "input": { "name": "  " } }),
    );
    assert_eq!(error(&v), 400);
    assert_eq!(error(&mex(&mut w.h, w.a1.1, Q_CREATE, json!({}))), 400);

    // The control sees what the wire said.
    let snap = w.h.server.newsletter(&jid).unwrap();
    assert_eq!(snap.name, "Daily news");
    assert_eq!(snap.owner, w.users[0].0);
    assert_eq!(snap.invite, invite);
    assert!(snap.followers.is_empty() && !snap.deleted);
    assert!(w.h.server.newsletter("1@g.us").is_err());
}

#[test]
fn update_name_description_picture_and_the_settings_notification() {
    let mut w = world();
    let jid = w.create("Old");
    w.follow(w.b1.1, &jid);
    w.drain_all();
    w.h.advance(5_000);
    let v = mex(
        &mut w.h,
        w.a1.1,
        Q_UPDATE,
        json!({ "newsletter_id": jid, "updates": { "name": "New", "description": "Fresh", "settings": null } }),
    );
    let n = data(&v, "xwa2_newsletter_update");
    assert_eq!(n["thread_metadata"]["name"]["text"], "New");
    assert_eq!(n["thread_metadata"]["description"]["text"], "Fresh");
    let t = ((T0 + 5_000) / 1000).to_string();
    assert_eq!(n["thread_metadata"]["name"]["update_time"], t.as_str());

    // Followers and the owner's other device hear of it; the asking device does not; a
    // guest does not.
    for c in [w.b1.1, w.b2.1, w.a2.1] {
        let got = notifications(&mut w.h, c);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].get_attr("from"), Some(jid.as_str()));
        let settings = got[0].child("update").unwrap().child("settings").unwrap();
        assert_eq!(
            settings
                .child("name")
                .and_then(Node::content_string)
                .as_deref(),
            Some("New")
        );
        assert_eq!(
            settings
                .child("description")
                .and_then(Node::content_string)
                .as_deref(),
            Some("Fresh")
        );
    }
    assert!(notifications(&mut w.h, w.a1.1).is_empty());
    assert!(notifications(&mut w.h, w.d.1).is_empty());
    assert_eq!(w.h.server.queued(w.b1.0.jid.as_deref().unwrap()), 0);

    // Only the changed field travels; an unchanged one sends nothing.
    mex(
        &mut w.h,
        w.a1.1,
        Q_UPDATE,
        json!({ "newsletter_id": jid, "updates": { "description": "Other" } }),
    );
    let got = notifications(&mut w.h, w.b1.1);
    let settings = got[0].child("update").unwrap().child("settings").unwrap();
    assert!(settings.child("name").is_none() && settings.child("description").is_some());
    mex(
        &mut w.h,
        w.a1.1,
        Q_UPDATE,
        json!({ "newsletter_id": jid, "updates": { "name": "New" } }),
    );
    assert!(notifications(&mut w.h, w.b1.1).is_empty());

    // A picture gets an id and a path; "" removes it.
    let v = mex(
        &mut w.h,
        w.a1.1,
        Q_UPDATE,
        json!({ "newsletter_id": jid, "updates": { "picture": "/9j/4AAQSkZJRg==" } }),
    );
    let pic = data(&v, "xwa2_newsletter_update")["thread_metadata"]["picture"].clone();
    let pic_id = pic["id"].as_str().unwrap().to_owned();
    assert!(!pic_id.is_empty());
    assert_eq!(pic["direct_path"], format!("/v/t61.24694-24/{pic_id}"));
    assert_eq!(
        w.h.server.newsletter(&jid).unwrap().picture_id.as_deref(),
        Some(pic_id.as_str())
    );
    let v = mex(
        &mut w.h,
        w.a1.1,
        Q_UPDATE,
        json!({ "newsletter_id": jid, "updates": { "picture": "" } }),
    );
    assert_eq!(
        data(&v, "xwa2_newsletter_update")["thread_metadata"]["picture"]["id"],
        ""
    );
    assert_eq!(w.h.server.newsletter(&jid).unwrap().picture_id, None);

    // A subscriber may not; bad values are 400 and change nothing.
    let v = mex(
        &mut w.h,
        w.b1.1,
        Q_UPDATE,
        json!({ "newsletter_id": jid, "updates": { "name": "Mine" } }),
    );
    assert_eq!(error(&v), 403);
    for updates in [
        json!({ "name": "" }),
        json!({ "name": 5 }),
        json!({ "picture": "not base64 !!" }),
        json!(null),
    ] {
        let v = mex(
            &mut w.h,
            w.a1.1,
            Q_UPDATE,
            json!({ "newsletter_id": jid, "updates": updates }),
        );
        assert_eq!(error(&v), 400, "{updates}");
    }
    assert_eq!(w.h.server.newsletter(&jid).unwrap().name, "New");
}

#[test]
fn follow_unfollow_mute_and_the_counts() {
    let mut w = world();
    let jid = w.create("N");
    let [a1, a2, _, b2, c, d] = w.conns();
    let count = |w: &mut World, c: ConnId| {
        let v = mex(&mut w.h, c, Q_SUBSCRIBERS, json!({ "newsletter_id": jid }));
        let s = data(&v, "xwa2_newsletter_subscribers");
        assert_eq!(s["id"], jid.as_str());
        s["subscribers"].as_u64().expect("a number")
    };
    let role = |w: &mut World, c: ConnId| {
        data(&w.metadata(c, &jid, "JID"), "xwa2_newsletter")["viewer_metadata"].clone()
    };
    assert_eq!(count(&mut w, d), 0);
    w.follow(w.b1.1, &jid);
    w.follow(w.b2.1, &jid);
    w.follow(w.c.1, &jid);
    w.follow(w.a1.1, &jid);
    assert_eq!(count(&mut w, d), 2, "B once, C; the owner not counted");
    assert_eq!(
        role(&mut w, b2),
        json!({ "mute": "OFF", "role": "SUBSCRIBER" })
    );
    assert_eq!(role(&mut w, a2)["role"], "OWNER");
    assert_eq!(
        data(&w.metadata(w.d.1, &jid, "JID"), "xwa2_newsletter")["thread_metadata"]["subscribers_count"],
        "2"
    );

    let v = mex(&mut w.h, w.b1.1, Q_MUTE, json!({ "newsletter_id": jid }));
    assert_eq!(
        data(&v, "xwa2_newsletter_mute_v2"),
        json!({ "id": jid, "mute": "ON" })
    );
    assert_eq!(role(&mut w, b2)["mute"], "ON", "per account");
    assert_eq!(role(&mut w, c)["mute"], "OFF");
    assert_eq!(
        w.h.server.newsletter(&jid).unwrap().muted,
        vec![w.users[1].0.clone()]
    );
    let v = mex(&mut w.h, w.b1.1, Q_UNMUTE, json!({ "newsletter_id": jid }));
    assert_eq!(
        data(&v, "xwa2_newsletter_unmute_v2"),
        json!({ "id": jid, "mute": "OFF" })
    );
    assert_eq!(role(&mut w, b2)["mute"], "OFF");
    // A guest may not mute; the owner may.
    assert_eq!(
        error(&mex(
            &mut w.h,
            w.d.1,
            Q_MUTE,
            json!({ "newsletter_id": jid })
        )),
        403
    );
    mex(&mut w.h, w.a1.1, Q_MUTE, json!({ "newsletter_id": jid }));
    assert_eq!(role(&mut w, a1), json!({ "mute": "ON", "role": "OWNER" }));

    // The owner cannot leave; a subscriber can.
    let v = mex(
        &mut w.h,
        w.a1.1,
        Q_UNFOLLOW,
        json!({ "newsletter_id": jid }),
    );
    assert_eq!(error(&v), 403);
    let v = mex(&mut w.h, w.c.1, Q_UNFOLLOW, json!({ "newsletter_id": jid }));
    assert_eq!(data(&v, "xwa2_newsletter_leave_v2"), json!({ "id": jid }));
    assert_eq!(role(&mut w, c)["role"], "GUEST");
    assert_eq!(count(&mut w, c), 1);

    // Admins: the owner plus those the control made.
    let admins = |w: &mut World| {
        let v = mex(
            &mut w.h,
            w.d.1,
            Q_ADMIN_COUNT,
            json!({ "newsletter_id": jid }),
        );
        data(&v, "xwa2_newsletter_admin")["admin_count"]
            .as_u64()
            .expect("a number")
    };
    assert_eq!(admins(&mut w), 1);
    w.h.server
        .newsletter_set_role(&jid, &w.users[2].1, NewsletterRole::Admin)
        .unwrap();
    assert_eq!(admins(&mut w), 2);
    assert_eq!(role(&mut w, c)["role"], "ADMIN");
    assert_eq!(count(&mut w, d), 2, "an admin follows");
    w.follow(w.c.1, &jid);
    assert_eq!(
        role(&mut w, c)["role"],
        "ADMIN",
        "following again keeps the role"
    );
    assert!(
        w.h.server
            .newsletter_set_role(&jid, "15558000", NewsletterRole::Subscriber)
            .is_err()
    );
    assert!(
        w.h.server
            .newsletter_set_role(&jid, "15558001", NewsletterRole::Owner)
            .is_err()
    );
    assert!(
        w.h.server
            .newsletter_set_role(&jid, "19999999", NewsletterRole::Admin)
            .is_err()
    );
}

#[test]
fn change_owner_and_demote_with_participant_notifications() {
    let mut w = world();
    let jid = w.create("N");
    w.follow(w.b1.1, &jid);
    w.follow(w.c.1, &jid);
    w.h.server
        .newsletter_set_role(&jid, "15558002", NewsletterRole::Admin)
        .unwrap();
    w.drain_all();
    let [a, b, c, _] = w.users.clone();

    // Only the owner; only to an admin.
    let v = mex(
        &mut w.h,
        w.c.1,
        Q_CHANGE_OWNER,
        json!({ "newsletter_id": jid, "user_id": c.0 }),
    );
    assert_eq!(error(&v), 403);
    let v = mex(
        &mut w.h,
        w.a1.1,
        Q_CHANGE_OWNER,
        json!({ "newsletter_id": jid, "user_id": b.0 }),
    );
    assert_eq!(error(&v), 400);
    let v = mex(
        &mut w.h,
        w.a1.1,
        Q_CHANGE_OWNER,
        json!({ "newsletter_id": jid, "user_id": "nobody" }),
    );
    assert_eq!(error(&v), 400);

    // To C, named by LID.
    let v = mex(
        &mut w.h,
        w.a1.1,
        Q_CHANGE_OWNER,
        json!({ "newsletter_id": jid, "user_id": c.1 }),
    );
    assert_eq!(
        data(&v, "xwa2_newsletter_change_owner"),
        json!({ "id": jid })
    );
    let snap = w.h.server.newsletter(&jid).unwrap();
    assert_eq!(snap.owner, c.0);
    assert_eq!(snap.admins, vec![a.0.clone()]);
    let participants = |got: &[Node]| -> Vec<(String, String, String, String)> {
        got.iter()
            .map(|n| {
                let p = n.child("participant").unwrap();
                (
                    n.get_attr("participant").unwrap().to_owned(),
                    p.get_attr("jid").unwrap().to_owned(),
                    p.get_attr("action").unwrap().to_owned(),
                    p.get_attr("role").unwrap().to_owned(),
                )
            })
            .collect()
    };
    let both = vec![
        (a.0.clone(), c.0.clone(), "promote".into(), "OWNER".into()),
        (a.0.clone(), a.0.clone(), "demote".into(), "ADMIN".into()),
    ];
    assert_eq!(participants(&notifications(&mut w.h, w.c.1)), both);
    assert_eq!(participants(&notifications(&mut w.h, w.a2.1)), both);
    assert!(
        notifications(&mut w.h, w.a1.1).is_empty(),
        "the asking device"
    );
    assert!(notifications(&mut w.h, w.b1.1).is_empty(), "a subscriber");
    let meta = data(&w.metadata(w.a1.1, &jid, "JID"), "xwa2_newsletter");
    assert_eq!(meta["viewer_metadata"]["role"], "ADMIN");

    // The new owner demotes the old one; an admin may not demote.
    let v = mex(
        &mut w.h,
        w.a1.1,
        Q_DEMOTE,
        json!({ "newsletter_id": jid, "user_id": a.0 }),
    );
    assert_eq!(error(&v), 403);
    let v = mex(
        &mut w.h,
        w.c.1,
        Q_DEMOTE,
        json!({ "newsletter_id": jid, "user_id": b.0 }),
    );
    assert_eq!(error(&v), 400, "not an admin");
    let v = mex(
        &mut w.h,
        w.c.1,
        Q_DEMOTE,
        json!({ "newsletter_id": jid, "user_id": a.1 }),
    );
    assert_eq!(data(&v, "xwa2_newsletter_demote"), json!({ "id": jid }));
    let demoted = vec![(
        c.0.clone(),
        a.0.clone(),
        "demote".into(),
        "SUBSCRIBER".into(),
    )];
    assert_eq!(participants(&notifications(&mut w.h, w.a1.1)), demoted);
    assert_eq!(participants(&notifications(&mut w.h, w.a2.1)), demoted);
    assert!(notifications(&mut w.h, w.c.1).is_empty());
    let snap = w.h.server.newsletter(&jid).unwrap();
    assert!(snap.admins.is_empty());
    assert!(snap.followers.contains(&a.0));
}

#[test]
fn delete_makes_it_gone() {
    let mut w = world();
    let jid = w.create("N");
    w.follow(w.b1.1, &jid);
    let v = mex(&mut w.h, w.b1.1, Q_DELETE, json!({ "newsletter_id": jid }));
    assert_eq!(error(&v), 403);
    let v = mex(&mut w.h, w.a1.1, Q_DELETE, json!({ "newsletter_id": jid }));
    assert_eq!(
        data(&v, "xwa2_newsletter_delete_v2"),
        json!({ "id": jid, "state": { "type": "DELETED" } })
    );
    assert_eq!(error(&w.metadata(w.b1.1, &jid, "JID")), 404);
    let invite = w.h.server.newsletter(&jid).unwrap().invite;
    assert_eq!(error(&w.metadata(w.b1.1, &invite, "INVITE")), 404);
    for q in [Q_FOLLOW, Q_SUBSCRIBERS, Q_DELETE, Q_MUTE] {
        let v = mex(&mut w.h, w.a1.1, q, json!({ "newsletter_id": jid }));
        assert_eq!(error(&v), 404, "{q}");
    }
    let ack = w.post(w.a1.1, &jid, "P1", "hello?");
    assert_eq!(ack.get_attr("error"), Some("404"));
    assert_eq!(iq_error_code(&w.live(w.b1.1, &jid)).as_deref(), Some("404"));
    assert!(w.h.server.newsletter(&jid).unwrap().deleted);
    assert!(
        w.h.server
            .phone_post_newsletter(w.h.now, &jid, "x")
            .is_err()
    );
}

#[test]
fn posts_reach_every_follower_device_and_offline_followers() {
    let mut w = world();
    let jid = w.create("N");
    w.follow(w.b1.1, &jid);
    w.follow(w.d.1, &jid);
    w.drain_all();
    // D goes offline.
    w.h.hang_up(w.d.1);

    let ack = w.post(w.a1.1, &jid, "POST1", "first");
    assert_eq!(ack.get_attr("class"), Some("message"));
    assert_eq!(ack.get_attr("from"), Some(jid.as_str()));
    assert_eq!(ack.get_attr("error"), None);
    assert_eq!(server_id(&ack), 100);
    let t = (w.h.now / 1000).to_string();
    assert_eq!(ack.get_attr("t"), Some(t.as_str()));
    for c in [w.a2.1, w.b1.1, w.b2.1] {
        let got = messages(&mut w.h, c);
        assert_eq!(got.len(), 1, "{got:?}");
        let m = &got[0];
        assert_eq!(m.get_attr("from"), Some(jid.as_str()));
        assert_eq!(m.get_attr("id"), Some("POST1"));
        assert_eq!(m.get_attr("server_id"), Some("100"));
        assert_eq!(m.get_attr("type"), Some("text"));
        assert_eq!(m.get_attr("t"), Some(t.as_str()));
        let plain = m.child("plaintext").unwrap().content_bytes().unwrap();
        assert_eq!(conversation(plain).as_deref(), Some("first"));
    }
    assert!(
        messages(&mut w.h, w.a1.1).is_empty(),
        "not the sending device"
    );
    assert!(messages(&mut w.h, w.c.1).is_empty(), "not a guest");
    // The ack took the post off the queue.
    assert_eq!(w.h.server.queued(w.b1.0.jid.as_deref().unwrap()), 0);

    // The same id again: the same server id, not delivered twice.
    let again = w.post(w.a1.1, &jid, "POST1", "first");
    assert_eq!(server_id(&again), 100);
    assert!(messages(&mut w.h, w.b1.1).is_empty());

    // A subscriber and a guest may not post; an unknown channel is 404.
    assert_eq!(
        w.post(w.b1.1, &jid, "X1", "mine").get_attr("error"),
        Some("403")
    );
    assert_eq!(
        w.post(w.c.1, &jid, "X2", "mine").get_attr("error"),
        Some("403")
    );
    let ack = w.post(w.a1.1, "120363999999999999@newsletter", "X3", "?");
    assert_eq!(ack.get_attr("error"), Some("404"));

    // An admin may; the owner's phone too (a device that is no companion).
    w.h.server
        .newsletter_set_role(&jid, "15558002", NewsletterRole::Admin)
        .unwrap();
    assert_eq!(server_id(&w.post(w.c.1, &jid, "POST2", "by admin")), 101);
    let phone_sid =
        w.h.server
            .phone_post_newsletter(w.h.now, &jid, "from the phone")
            .unwrap();
    w.h.step();
    assert_eq!(phone_sid, 102);
    for c in [w.a1.1, w.a2.1, w.b1.1, w.b2.1] {
        let got = messages(&mut w.h, c);
        let texts: Vec<String> = got
            .iter()
            .filter_map(|m| conversation(m.child("plaintext")?.content_bytes()?))
            .collect();
        assert_eq!(texts, vec!["by admin", "from the phone"], "{c:?}");
    }
    assert_eq!(
        messages(&mut w.h, w.c.1)
            .iter()
            .filter_map(|m| m.get_attr("server_id").map(str::to_owned))
            .collect::<Vec<_>>(),
        vec!["102".to_owned()],
        "the admin gets the phone's post, not its own"
    );

    // D logs in again and gets all three, marked offline.
    let (conn, got) = w.h.login(&mut w.d.0, 0);
    let posts: Vec<&Node> = got.iter().filter(|n| n.tag == "message").collect();
    assert_eq!(
        posts
            .iter()
            .map(|m| m.get_attr("server_id").unwrap())
            .collect::<Vec<_>>(),
        vec!["100", "101", "102"]
    );
    assert!(posts.iter().all(|m| m.get_attr("offline") == Some("1")));
    for m in posts {
        let ack = Node::new("ack")
            .attr("id", m.get_attr("id").unwrap().to_owned())
            .attr("to", jid.clone())
            .attr("class", "message");
        w.h.send(conn, &ack);
    }
    assert_eq!(w.h.server.queued(w.d.0.jid.as_deref().unwrap()), 0);

    let snap = w.h.server.newsletter(&jid).unwrap();
    assert_eq!(snap.messages.len(), 3);
    assert_eq!(snap.messages[0].id, "POST1");
    assert_eq!(
        conversation(&snap.messages[2].plaintext).as_deref(),
        Some("from the phone")
    );
}

#[test]
fn reactions_replace_and_remove_with_notifications_to_live_subscribers() {
    let mut w = world();
    let jid = w.create("N");
    for c in [w.b1.1, w.c.1] {
        w.follow(c, &jid);
    }
    let sid = server_id(&w.post(w.a1.1, &jid, "P", "post"));
    let live = w.live(w.b1.1, &jid);
    assert_eq!(live.get_attr("type"), Some("result"));
    assert_eq!(live.get_attr("from"), Some(jid.as_str()));
    assert_eq!(
        live.child("live_updates").unwrap().get_attr("duration"),
        Some("300")
    );
    w.drain_all();

    let reaction_of = |n: &Node| {
        let r = n.child("reaction").unwrap();
        (
            r.get_attr("message_id").unwrap().to_owned(),
            r.child("reaction")
                .and_then(Node::content_string)
                .unwrap()
                .into_owned(),
            r.get_attr("removed").is_some(),
        )
    };
    let ack = w.react(w.c.1, &jid, "R1", sid, Some("👍"));
    assert_eq!(ack.get_attr("error"), None);
    assert_eq!(ack.get_attr("from"), Some(jid.as_str()));
    let thumbs = (sid.to_string(), "👍".to_owned(), false);
    for c in [w.b1.1, w.a1.1, w.a2.1] {
        let got = notifications(&mut w.h, c);
        assert_eq!(got.len(), 1, "{c:?}: {got:?}");
        assert_eq!(got[0].get_attr("from"), Some(jid.as_str()));
        assert_eq!(reaction_of(&got[0]), thumbs);
    }
    // Not a follower's connection that did not subscribe, not the reacting one, not a guest.
    for c in [w.b2.1, w.c.1, w.d.1] {
        assert!(notifications(&mut w.h, c).is_empty(), "{c:?}");
    }

    // Another emoji replaces it; a reaction without a code removes it.
    w.react(w.c.1, &jid, "R2", sid, Some("❤"));
    assert_eq!(
        reaction_of(&notifications(&mut w.h, w.b1.1)[0]),
        (sid.to_string(), "❤".to_owned(), false)
    );
    let counts = |w: &World| {
        w.h.server.newsletter(&jid).unwrap().messages[0]
            .reactions
            .clone()
    };
    assert_eq!(counts(&w), [("❤".to_owned(), 1)].into_iter().collect());
    w.react(w.b2.1, &jid, "R3", sid, Some("❤"));
    assert_eq!(counts(&w), [("❤".to_owned(), 2)].into_iter().collect());
    w.drain_all();
    w.react(w.c.1, &jid, "R4", sid, None);
    let got = notifications(&mut w.h, w.a1.1);
    assert_eq!(
        reaction_of(&got[0]),
        (sid.to_string(), "❤".to_owned(), true)
    );
    assert_eq!(counts(&w), [("❤".to_owned(), 1)].into_iter().collect());
    // edit=7 removes too; removing nothing notifies nobody.
    let m = Node::new("message")
        .attr("to", jid.clone())
        .attr("id", "R5")
        .attr("type", "reaction")
        .attr("server_id", sid.to_string())
        .attr("edit", "7")
        .children(vec![Node::new("reaction").attr("code", "❤")]);
    ask_tag(&mut w.h, w.b1.1, m, "ack");
    assert!(counts(&w).is_empty());
    w.drain_all();
    w.react(w.c.1, &jid, "R6", sid, None);
    assert!(notifications(&mut w.h, w.a1.1).is_empty());

    // A guest may not react; an unknown post is 404.
    assert_eq!(
        w.react(w.d.1, &jid, "R7", sid, Some("👍"))
            .get_attr("error"),
        Some("403")
    );
    assert_eq!(
        w.react(w.c.1, &jid, "R8", 999, Some("👍"))
            .get_attr("error"),
        Some("404")
    );

    // Live updates end with the connection.
    let mut b1 = std::mem::take(&mut w.b1.0);
    w.h.hang_up(w.b1.1);
    let (conn, _) = w.h.login(&mut b1, 0);
    w.h.drain(conn);
    w.react(w.c.1, &jid, "R9", sid, Some("🔥"));
    assert!(notifications(&mut w.h, conn).is_empty());
    assert_eq!(notifications(&mut w.h, w.a2.1).len(), 1);
}

#[test]
fn views_count_once_per_account() {
    let mut w = world();
    let jid = w.create("N");
    w.follow(w.b1.1, &jid);
    let s1 = server_id(&w.post(w.a1.1, &jid, "P1", "one"));
    let s2 = server_id(&w.post(w.a1.1, &jid, "P2", "two"));
    w.live(w.d.1, &jid);
    w.drain_all();
    let [_, _, b1, b2, c, _] = w.conns();
    let view = |w: &mut World, c: ConnId, id: &str, items: &[u64], single: Option<u64>| {
        let mut r = Node::new("receipt")
            .attr("to", jid.clone())
            .attr("id", id.to_owned())
            .attr("type", "view");
        if let Some(s) = single {
            r = r.attr("server_id", s.to_string());
        }
        if !items.is_empty() {
            r = r.children(vec![
                Node::new("list").children(
                    items
                        .iter()
                        .map(|s| Node::new("item").attr("server_id", s.to_string()))
                        .collect(),
                ),
            ]);
        }
        let ack = ask_tag(&mut w.h, c, r, "ack");
        assert_eq!(ack.get_attr("class"), Some("receipt"));
        assert_eq!(ack.get_attr("type"), Some("view"));
    };
    let views_of = |got: &[Node]| -> Vec<(String, String)> {
        got.iter()
            .map(|n| {
                let v = n.child("view").unwrap();
                (
                    v.get_attr("message_id").unwrap().to_owned(),
                    v.content_string().unwrap().into_owned(),
                )
            })
            .collect()
    };
    view(&mut w, b1, "V1", &[s1, s2], None);
    let expect = vec![
        (s1.to_string(), "1".to_owned()),
        (s2.to_string(), "1".to_owned()),
    ];
    assert_eq!(
        views_of(&notifications(&mut w.h, w.d.1)),
        expect,
        "live subscriber"
    );
    assert_eq!(views_of(&notifications(&mut w.h, w.a1.1)), expect, "owner");
    assert_eq!(views_of(&notifications(&mut w.h, w.a2.1)), expect, "owner");
    assert!(notifications(&mut w.h, w.b2.1).is_empty());

    // The account's other device viewing again counts nothing.
    view(&mut w, b2, "V2", &[s1], None);
    assert!(notifications(&mut w.h, w.a1.1).is_empty());
    // Another account, with the single-attribute form.
    view(&mut w, c, "V3", &[], Some(s1));
    for conn in [w.a1.1, w.a2.1, w.d.1] {
        assert_eq!(
            views_of(&notifications(&mut w.h, conn)),
            vec![(s1.to_string(), "2".to_owned())]
        );
    }
    // Unknown posts and other receipt types change nothing.
    view(&mut w, c, "V4", &[12345], None);
    let read = Node::new("receipt")
        .attr("to", jid.clone())
        .attr("id", "V5")
        .attr("type", "read")
        .attr("server_id", s2.to_string());
    ask_tag(&mut w.h, w.c.1, read, "ack");
    let snap = w.h.server.newsletter(&jid).unwrap();
    assert_eq!(snap.messages[0].views, 2);
    assert_eq!(snap.messages[1].views, 1);
    assert!(notifications(&mut w.h, w.a1.1).is_empty());
}

#[test]
fn message_updates_with_count_since_and_after() {
    let mut w = world();
    let jid = w.create("N");
    w.follow(w.b1.1, &jid);
    let mut sids = Vec::new();
    let mut times = Vec::new();
    for i in 0..5 {
        w.h.advance(10_000);
        times.push(w.h.now / 1000);
        sids.push(server_id(&w.post(
            w.a1.1,
            &jid,
            &format!("P{i}"),
            &format!("post {i}"),
        )));
    }
    w.react(w.b1.1, &jid, "R", sids[4], Some("👍"));
    let view = Node::new("receipt")
        .attr("to", jid.clone())
        .attr("id", "V")
        .attr("type", "view")
        .attr("server_id", sids[4].to_string());
    ask_tag(&mut w.h, w.b1.1, view, "ack");

    let fetch = |w: &mut World, attrs: &[(&'static str, String)]| -> Result<Vec<Node>, String> {
        let mut q = Node::new("message_updates");
        for (k, v) in attrs {
            q = q.attr(*k, v.clone());
        }
        let iq = Node::new("iq")
            .attr("id", "upd")
            .attr("xmlns", "newsletter")
            .attr("to", jid.clone())
            .attr("type", "get")
            .children(vec![q]);
        let res = ask(&mut w.h, w.d.1, iq);
        if let Some(code) = iq_error_code(&res) {
            return Err(code);
        }
        assert_eq!(res.get_attr("from"), Some(jid.as_str()));
        let list = res
            .child("message_updates")
            .unwrap()
            .child("messages")
            .unwrap();
        assert_eq!(list.get_attr("jid"), Some(jid.as_str()));
        Ok(list.children_by_tag("message").cloned().collect())
    };
    let ids = |ms: &[Node]| -> Vec<u64> {
        ms.iter()
            .map(|m| m.get_attr("server_id").unwrap().parse().unwrap())
            .collect()
    };
    let newest = fetch(&mut w, &[("count", "2".into())]).unwrap();
    assert_eq!(ids(&newest), vec![sids[3], sids[4]]);
    let last = &newest[1];
    assert_eq!(last.get_attr("id"), Some("P4"));
    assert_eq!(last.get_attr("type"), Some("text"));
    assert_eq!(last.get_attr("t"), Some(times[4].to_string().as_str()));
    assert_eq!(
        conversation(last.child("plaintext").unwrap().content_bytes().unwrap()).as_deref(),
        Some("post 4")
    );
    assert_eq!(
        last.child("views_count").unwrap().get_attr("count"),
        Some("1")
    );
    let r = last.child("reactions").unwrap().child("reaction").unwrap();
    assert_eq!(
        (r.get_attr("code"), r.get_attr("count")),
        (Some("👍"), Some("1"))
    );
    assert_eq!(
        newest[0].child("views_count").unwrap().get_attr("count"),
        Some("0")
    );

    let since = fetch(
        &mut w,
        &[("count", "100".into()), ("since", times[2].to_string())],
    )
    .unwrap();
    assert_eq!(ids(&since), sids[2..].to_vec());
    let after = fetch(
        &mut w,
        &[("count", "100".into()), ("after", sids[1].to_string())],
    )
    .unwrap();
    assert_eq!(ids(&after), sids[2..].to_vec());
    let both = fetch(
        &mut w,
        &[
            ("count", "1".into()),
            ("after", sids[0].to_string()),
            ("since", times[3].to_string()),
        ],
    )
    .unwrap();
    assert_eq!(ids(&both), vec![sids[4]]);
    assert_eq!(
        ids(&fetch(&mut w, &[("count", "100000".into())]).unwrap()),
        sids
    );
    assert_eq!(fetch(&mut w, &[("count", "x".into())]), Err("400".into()));
    assert_eq!(
        fetch(&mut w, &[("count", "2".into()), ("after", "-1".into())]),
        Err("400".into())
    );
}

#[test]
fn bad_input_is_answered_without_panicking() {
    let mut w = world();
    let jid = w.create("N");
    let a = w.a1.1;
    // Not JSON, not an object, no <query>, no query_id: IQ errors 400.
    for body in [
        b"{not json".to_vec(),
        b"[1,2]".to_vec(),
        b"".to_vec(),
        vec![0xff, 0xfe],
    ] {
        let res = ask(&mut w.h, a, mex_iq("bad", Q_METADATA, body));
        assert_eq!(iq_error_code(&res).as_deref(), Some("400"));
    }
    let res = ask(&mut w.h, a, iq("bad", "w:mex", "get"));
    assert_eq!(iq_error_code(&res).as_deref(), Some("400"));
    let res = ask(
        &mut w.h,
        a,
        iq("bad", "w:mex", "get").children(vec![Node::new("query").bytes(b"{}".to_vec())]),
    );
    assert_eq!(iq_error_code(&res).as_deref(), Some("400"));
    // An unknown query: a GraphQL error 501.
    assert_eq!(error(&mex(&mut w.h, a, "123", json!({}))), 501);
    // Variables of the wrong shape: 400.
    for vars in [
        json!({ "newsletter_id": 5 }),
        json!({ "newsletter_id": "not a jid" }),
        json!({ "newsletter_id": "1@g.us" }),
        json!({}),
    ] {
        for q in [
            Q_FOLLOW,
            Q_SUBSCRIBERS,
            Q_UPDATE,
            Q_DEMOTE,
            Q_ADMIN_COUNT,
            Q_UNMUTE,
        ] {
            assert_eq!(error(&mex(&mut w.h, a, q, vars.clone())), 400, "{q} {vars}");
        }
    }
    let body = br#"{"variables":"x"}"#.to_vec();
    let res = ask(&mut w.h, a, mex_iq("bad", Q_FOLLOW, body));
    let v: Value =
        serde_json::from_slice(res.child("result").unwrap().content_bytes().unwrap()).unwrap();
    assert_eq!(error(&v), 400);
    for input in [
        json!({ "key": 5 }),
        json!({ "key": "x", "type": "PHONE" }),
        json!("x"),
    ] {
        let v = mex(&mut w.h, a, Q_METADATA, json!({ "input": input }));
        assert_eq!(error(&v), 400, "{input}");
    }
    for vars in [
        json!({ "newsletter_id": jid, "user_id": 7 }),
        json!({ "newsletter_id": jid, "user_id": "x@y@z" }),
    ] {
        assert_eq!(error(&mex(&mut w.h, a, Q_CHANGE_OWNER, vars)), 400);
    }

    // Plain IQs: no child, an unknown child, a newsletter that does not exist.
    let plain = |child: Option<Node>, to: &str, ty: &str| {
        let q = Node::new("iq")
            .attr("id", "p")
            .attr("xmlns", "newsletter")
            .attr("to", to.to_owned())
            .attr("type", ty.to_owned());
        match child {
            Some(c) => q.children(vec![c]),
            None => q,
        }
    };
    let res = ask(&mut w.h, a, plain(None, &jid, "get"));
    assert_eq!(iq_error_code(&res).as_deref(), Some("400"));
    let res = ask(&mut w.h, a, plain(Some(Node::new("nonsense")), &jid, "get"));
    assert_eq!(iq_error_code(&res).as_deref(), Some("501"));
    let res = ask(
        &mut w.h,
        a,
        plain(
            Some(Node::new("live_updates")),
            "120363000000000009@newsletter",
            "set",
        ),
    );
    assert_eq!(iq_error_code(&res).as_deref(), Some("404"));

    // Messages without what they need, receipts with garbage: answered, nothing changes.
    let bare = Node::new("message")
        .attr("to", jid.clone())
        .attr("id", "M1")
        .attr("type", "text");
    assert_eq!(
        ask_tag(&mut w.h, a, bare, "ack").get_attr("error"),
        Some("400")
    );
    let no_sid = Node::new("message")
        .attr("to", jid.clone())
        .attr("id", "M2")
        .attr("type", "reaction")
        .attr("server_id", "abc")
        .children(vec![Node::new("reaction").attr("code", "x")]);
    assert_eq!(
        ask_tag(&mut w.h, a, no_sid, "ack").get_attr("error"),
        Some("400")
    );
    let r = Node::new("receipt")
        .attr("to", jid.clone())
        .attr("id", "V")
        .attr("type", "view")
        .attr("server_id", "-3")
        .children(vec![Node::new("list").children(vec![
            Node::new("item"),
            Node::new("item").attr("server_id", "99999999999999999999999"),
        ])]);
    ask_tag(&mut w.h, a, r, "ack");
    let snap = w.h.server.newsletter(&jid).unwrap();
    assert!(snap.messages.is_empty());
    // The server is still serving.
    let v = w.metadata(a, &jid, "JID");
    assert_eq!(data(&v, "xwa2_newsletter")["id"], jid.as_str());
}
