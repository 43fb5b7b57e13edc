//! Groups: the `w:g2` IQs (create, metadata, participating, leave, participants and roles,
//! subject, description, settings, invites and join requests, disappearing messages), the
//! `w:gp2` notifications that reach every member's devices, the fan-out of sender-key
//! messages, receipts with `participant`, LID and PN addressing, bad input, a big group.

mod common;

use common::*;
use wa_binary::Node;
use wa_testserver::{ConnId, GroupAddressing};

/// `<iq xmlns="w:g2" to type>` with one child.
fn g2(id: &str, to: &str, kind: &str, child: Node) -> Node {
    Node::new("iq")
        .attr("id", id.to_owned())
        .attr("xmlns", "w:g2")
        .attr("to", to.to_owned())
        .attr("type", kind.to_owned())
        .children(vec![child])
}

/// Sends an IQ and returns its answer; what else arrived stays in the inbox.
fn ask(h: &mut Harness, c: ConnId, iq: Node) -> Node {
    let id = iq.get_attr("id").unwrap().to_owned();
    h.send(c, &iq);
    let inbox = &mut h.clients.get_mut(&c).expect("client").inbox;
    let at = inbox
        .iter()
        .position(|n| n.tag == "iq" && n.get_attr("id") == Some(id.as_str()))
        .expect("an answer to the IQ");
    inbox.remove(at).expect("found")
}

fn error_code(iq: &Node) -> Option<String> {
    (iq.get_attr("type") == Some("error"))
        .then(|| iq.child("error")?.get_attr("code").map(str::to_owned))
        .flatten()
}

fn participant(jid: &str) -> Node {
    Node::new("participant").attr("jid", jid.to_owned())
}

/// Every `w:gp2` notification waiting for `c`, acked as a client does.
fn notifications(h: &mut Harness, c: ConnId) -> Vec<Node> {
    let got: Vec<Node> = h
        .drain(c)
        .into_iter()
        .filter(|n| n.tag == "notification" && n.get_attr("type") == Some("w:gp2"))
        .collect();
    for n in &got {
        let ack = Node::new("ack")
            .attr("id", n.get_attr("id").unwrap().to_owned())
            .attr("to", n.get_attr("from").unwrap().to_owned())
            .attr("class", "notification")
            .attr("type", "w:gp2");
        h.send(c, &ack);
    }
    got
}

/// The one notification child `tag` among what `c` got.
fn one_notification(h: &mut Harness, c: ConnId, tag: &str) -> (Node, Node) {
    let got = notifications(h, c);
    let found: Vec<_> = got
        .iter()
        .filter(|n| n.child_nodes().first().is_some_and(|k| k.tag == tag))
        .collect();
    assert_eq!(found.len(), 1, "one <{tag}> notification, got {got:?}");
    let n = found[0].clone();
    let child = n.child_nodes()[0].clone();
    (n, child)
}

fn jids(list: &Node) -> Vec<String> {
    list.children_by_tag("participant")
        .map(|p| p.get_attr("jid").unwrap().to_owned())
        .collect()
}

/// Three accounts: A with two companions (creator), B and C with one; D outside.
struct World {
    h: Harness,
    a1: (Device, ConnId),
    a2: (Device, ConnId),
    b: (Device, ConnId),
    c: (Device, ConnId),
    d: (Device, ConnId),
    /// (pn, lid) user JIDs of A, B, C, D.
    users: [(String, String); 4],
}

fn world(config: wa_testserver::ServerConfig) -> World {
    let mut h = Harness::with_config(config);
    let a1 = h.online_device("15557000");
    let a2 = h.online_device("15557000");
    let b = h.online_device("15557001");
    let c = h.online_device("15557002");
    let d = h.online_device("15557003");
    let users =
        ["15557000", "15557001", "15557002", "15557003"].map(|n| h.server.account_jids(n).unwrap());
    for conn in [a1.1, a2.1, b.1, c.1, d.1] {
        h.drain(conn);
    }
    World {
        h,
        a1,
        a2,
        b,
        c,
        d,
        users,
    }
}

/// A creates a group with B (named by LID) and C (by phone number).
fn create(w: &mut World, subject: &str) -> (String, Node) {
    let res = ask(
        &mut w.h,
        w.a1.1,
        g2(
            "create",
            "@g.us",
            "set",
            Node::new("create")
                .attr("subject", subject.to_owned())
                .attr("key", "KEY1")
                .children(vec![participant(&w.users[1].1), participant(&w.users[2].0)]),
        ),
    );
    assert_eq!(res.get_attr("type"), Some("result"), "{res:?}");
    let group = res.child("group").expect("<group>").clone();
    (format!("{}@g.us", group.get_attr("id").unwrap()), group)
}

#[test]
fn create_then_metadata_then_participating() {
    let mut w = world(fast_config());
    let (c_a1, c_a2, c_b, c_c, c_d) = (w.a1.1, w.a2.1, w.b.1, w.c.1, w.d.1);
    let (gjid, group) = create(&mut w, "Team");
    let [a, b, c, _] = w.users.clone();
    assert!(gjid.starts_with("120363") && gjid.len() == "120363".len() + 12 + 5);
    assert_eq!(group.get_attr("subject"), Some("Team"));
    assert_eq!(group.get_attr("addressing_mode"), Some("lid"));
    assert_eq!(group.get_attr("creator"), Some(a.1.as_str()));
    assert_eq!(group.get_attr("creator_pn"), Some(a.0.as_str()));
    assert_eq!(group.get_attr("s_o"), Some(a.1.as_str()));
    assert_eq!(group.get_attr("size"), Some("3"));
    assert!(group.get_attr("s_t").is_some() && group.get_attr("creation").is_some());
    assert_eq!(
        group
            .child("member_add_mode")
            .and_then(Node::content_string)
            .as_deref(),
        Some("admin_add")
    );
    // LID-addressed: participant jids are LIDs, with the phone number beside them.
    let parts: Vec<&Node> = group.children_by_tag("participant").collect();
    assert_eq!(parts.len(), 3);
    for (user, role) in [(&a, Some("superadmin")), (&b, None), (&c, None)] {
        let p = parts
            .iter()
            .find(|p| p.get_attr("jid") == Some(user.1.as_str()))
            .expect("member listed by LID");
        assert_eq!(p.get_attr("phone_number"), Some(user.0.as_str()));
        assert_eq!(p.get_attr("type"), role);
    }

    // The members' devices hear of it; the device that asked has the answer instead.
    for conn in [c_a2, c_b, c_c] {
        let (n, create) = one_notification(&mut w.h, conn, "create");
        assert_eq!(n.get_attr("from"), Some(gjid.as_str()));
        assert_eq!(n.get_attr("participant"), Some(a.1.as_str()));
        assert_eq!(n.get_attr("participant_pn"), Some(a.0.as_str()));
        assert_eq!(create.get_attr("key"), Some("KEY1"));
        assert_eq!(
            create.child("group").unwrap().get_attr("id"),
            group.get_attr("id")
        );
    }
    assert!(notifications(&mut w.h, c_a1).is_empty());
    assert!(notifications(&mut w.h, c_d).is_empty());
    // Acked notifications leave the queues.
    assert_eq!(w.h.server.queued(w.b.0.jid.as_deref().unwrap()), 0);

    // The same create key again is the same group, not a second one.
    let (again, _) = create(&mut w, "Team");
    assert_eq!(again, gjid);
    assert_eq!(
        w.h.server.groups_of("15557000").unwrap(),
        vec![gjid.clone()]
    );

    // Metadata, as a member asks for it.
    let meta = ask(
        &mut w.h,
        c_b,
        g2(
            "m1",
            &gjid,
            "get",
            Node::new("query").attr("request", "interactive"),
        ),
    );
    assert_eq!(meta.get_attr("from"), Some(gjid.as_str()));
    assert_eq!(meta.child("group").unwrap(), &group);
    // Not a member: 403; no such group: 404.
    let q = || Node::new("query").attr("request", "interactive");
    let out = ask(&mut w.h, c_d, g2("m2", &gjid, "get", q()));
    assert_eq!(error_code(&out).as_deref(), Some("403"));
    let out = ask(
        &mut w.h,
        c_d,
        g2("m3", "120363999999999999@g.us", "get", q()),
    );
    assert_eq!(error_code(&out).as_deref(), Some("404"));

    // Participating, with participants and descriptions.
    let all = ask(
        &mut w.h,
        c_c,
        g2(
            "p1",
            "@g.us",
            "get",
            Node::new("participating")
                .children(vec![Node::new("participants"), Node::new("description")]),
        ),
    );
    let groups: Vec<&Node> = all
        .child("groups")
        .unwrap()
        .children_by_tag("group")
        .collect();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0], &group);
    let none = ask(
        &mut w.h,
        c_d,
        g2("p2", "@g.us", "get", Node::new("participating")),
    );
    assert_eq!(none.child("groups").unwrap().child_nodes().len(), 0);
}

#[test]
fn participants_added_removed_promoted_with_notifications() {
    let mut w = world(fast_config());
    let (c_a1, c_a2, c_b, c_c, c_d) = (w.a1.1, w.a2.1, w.b.1, w.c.1, w.d.1);
    let (gjid, _) = create(&mut w, "Changes");
    for conn in [c_a2, c_b, c_c] {
        notifications(&mut w.h, conn);
    }
    let [a, b, c, d] = w.users.clone();
    let change = |h: &mut Harness, conn: ConnId, op: &str, who: &[&str]| {
        let list = who.iter().map(|j| participant(j)).collect();
        ask(
            h,
            conn,
            g2(op, &gjid, "set", Node::new(op.to_owned()).children(list)),
        )
    };
    // A member may not add in an admin_add group.
    let out = change(&mut w.h, c_b, "add", &[&d.0]);
    assert_eq!(error_code(&out).as_deref(), Some("403"));

    // The admin adds D (by phone number), someone already in, and someone unknown.
    let out = change(
        &mut w.h,
        c_a1,
        "add",
        &[&d.0, &b.1, "19990000000@s.whatsapp.net"],
    );
    let results: Vec<(String, Option<String>)> = out
        .child("add")
        .unwrap()
        .children_by_tag("participant")
        .map(|p| {
            (
                p.get_attr("jid").unwrap().to_owned(),
                p.get_attr("error").map(str::to_owned),
            )
        })
        .collect();
    assert_eq!(
        results,
        vec![
            (d.0.clone(), None),
            (b.1.clone(), Some("409".into())),
            ("19990000000@s.whatsapp.net".into(), Some("404".into())),
        ]
    );
    // Every member, the new one included, hears of it; the device that asked too.
    for conn in [c_a1, c_a2, c_b, c_c, c_d] {
        let (n, add) = one_notification(&mut w.h, conn, "add");
        assert_eq!(n.get_attr("participant"), Some(a.1.as_str()));
        assert_eq!(jids(&add), vec![d.1.clone()]);
        assert_eq!(
            add.child("participant").unwrap().get_attr("phone_number"),
            Some(d.0.as_str())
        );
    }

    // Promote B: now B may add and remove.
    let out = change(&mut w.h, c_a1, "promote", &[&b.1]);
    assert_eq!(out.get_attr("type"), Some("result"));
    for conn in [c_a1, c_b, c_c, c_d] {
        let (_, p) = one_notification(&mut w.h, conn, "promote");
        assert_eq!(jids(&p), vec![b.1.clone()]);
    }
    notifications(&mut w.h, c_a2);
    // An admin may not remove or demote the creator.
    let out = change(&mut w.h, c_b, "demote", &[&a.1]);
    let p = out
        .child("demote")
        .unwrap()
        .child("participant")
        .unwrap()
        .clone();
    assert_eq!(p.get_attr("error"), Some("403"));
    // B removes C: C hears of its own removal, then is out.
    let out = change(&mut w.h, c_b, "remove", &[&c.1]);
    assert!(
        out.child("remove")
            .unwrap()
            .child("participant")
            .unwrap()
            .get_attr("error")
            .is_none()
    );
    for conn in [c_a1, c_a2, c_b, c_c, c_d] {
        let (n, r) = one_notification(&mut w.h, conn, "remove");
        assert_eq!(n.get_attr("participant"), Some(b.1.as_str()));
        assert_eq!(jids(&r), vec![c.1.clone()]);
    }
    let out = ask(
        &mut w.h,
        c_c,
        g2(
            "m",
            &gjid,
            "get",
            Node::new("query").attr("request", "interactive"),
        ),
    );
    assert_eq!(error_code(&out).as_deref(), Some("403"));
    // Removing someone not in: 404. Demote B.
    let out = change(&mut w.h, c_a1, "remove", &[&c.0]);
    assert_eq!(
        out.child("remove")
            .unwrap()
            .child("participant")
            .unwrap()
            .get_attr("error"),
        Some("404")
    );
    change(&mut w.h, c_a1, "demote", &[&b.0]);
    let (_, dm) = one_notification(&mut w.h, c_d, "demote");
    assert_eq!(jids(&dm), vec![b.1.clone()]);
    let group = w.h.server.group(&gjid).unwrap();
    assert_eq!(group.members.len(), 3);
    assert!(!group.is_admin("15557001"));

    // D leaves: a removal of itself, by itself.
    let out = ask(
        &mut w.h,
        c_d,
        g2(
            "leave",
            "@g.us",
            "set",
            Node::new("leave").children(vec![
                Node::new("group").attr("id", gjid.clone()),
                Node::new("group").attr("id", "120363000000000001@g.us"),
            ]),
        ),
    );
    let left: Vec<Option<&str>> = out
        .child("leave")
        .unwrap()
        .children_by_tag("group")
        .map(|g| g.get_attr("error"))
        .collect();
    assert_eq!(left, vec![None, Some("404")]);
    for conn in [c_a1, c_b, c_d] {
        let (n, r) = one_notification(&mut w.h, conn, "remove");
        assert_eq!(n.get_attr("participant"), Some(d.1.as_str()));
        assert_eq!(jids(&r), vec![d.1.clone()]);
    }
    assert!(
        notifications(&mut w.h, c_c).is_empty(),
        "C is no longer a member"
    );
    assert_eq!(
        w.h.server.groups_of("15557003").unwrap(),
        Vec::<String>::new()
    );
}

#[test]
fn subject_description_and_settings() {
    let mut w = world(fast_config());
    let (c_a1, c_a2, c_b, c_c, _) = (w.a1.1, w.a2.1, w.b.1, w.c.1, w.d.1);
    let (gjid, _) = create(&mut w, "Settings");
    for conn in [c_a2, c_b, c_c] {
        notifications(&mut w.h, conn);
    }
    let a = w.users[0].clone();
    let set =
        |h: &mut Harness, conn: ConnId, child: Node| ask(h, conn, g2("s", &gjid, "set", child));

    // Any member may change the subject of an unlocked group.
    let out = set(
        &mut w.h,
        c_b,
        Node::new("subject").bytes(b"New name".to_vec()),
    );
    assert_eq!(out.get_attr("type"), Some("result"));
    let (_, s) = one_notification(&mut w.h, c_c, "subject");
    assert_eq!(s.get_attr("subject"), Some("New name"));
    assert_eq!(s.get_attr("s_o"), Some(w.users[1].1.as_str()));

    // Description: set, change with the right prev, a stale prev is 409, delete.
    let desc = |id: &str, prev: Option<&str>, body: &str| {
        let mut d = Node::new("description").attr("id", id.to_owned());
        if let Some(p) = prev {
            d = d.attr("prev", p.to_owned());
        }
        d.children(vec![Node::new("body").bytes(body.as_bytes().to_vec())])
    };
    assert_eq!(
        set(&mut w.h, c_a1, desc("D1", None, "first")).get_attr("type"),
        Some("result")
    );
    let (_, d) = one_notification(&mut w.h, c_b, "description");
    assert_eq!(d.get_attr("id"), Some("D1"));
    assert_eq!(
        d.child("body").unwrap().content_bytes(),
        Some(&b"first"[..])
    );
    let out = set(&mut w.h, c_a1, desc("D2", Some("D0"), "lost race"));
    assert_eq!(error_code(&out).as_deref(), Some("409"));
    assert_eq!(
        set(&mut w.h, c_a1, desc("D2", Some("D1"), "second")).get_attr("type"),
        Some("result")
    );
    let g = w.h.server.group(&gjid).unwrap();
    assert_eq!(
        g.description.as_ref().map(|d| d.body.as_str()),
        Some("second")
    );
    let meta = ask(&mut w.h, c_b, g2("m", &gjid, "get", Node::new("query")));
    let md = meta
        .child("group")
        .unwrap()
        .child("description")
        .unwrap()
        .clone();
    assert_eq!(md.get_attr("id"), Some("D2"));
    assert_eq!(md.get_attr("participant"), Some(a.1.as_str()));
    assert_eq!(md.get_attr("participant_pn"), Some(a.0.as_str()));
    let out = set(
        &mut w.h,
        c_a1,
        Node::new("description")
            .attr("delete", "true")
            .attr("prev", "D2"),
    );
    assert_eq!(out.get_attr("type"), Some("result"));
    notifications(&mut w.h, c_b);
    assert!(w.h.server.group(&gjid).unwrap().description.is_none());

    // Settings need an admin.
    for tag in ["announcement", "locked", "member_add_mode"] {
        let out = set(&mut w.h, c_b, Node::new(tag));
        assert_eq!(error_code(&out).as_deref(), Some("403"), "{tag}");
    }
    for tag in ["announcement", "locked"] {
        assert_eq!(
            set(&mut w.h, c_a1, Node::new(tag)).get_attr("type"),
            Some("result")
        );
        let (n, _) = one_notification(&mut w.h, c_c, tag);
        assert_eq!(n.get_attr("participant"), Some(a.1.as_str()));
    }
    // Locked: only admins change the subject now.
    let out = set(&mut w.h, c_b, Node::new("subject").bytes(b"x".to_vec()));
    assert_eq!(error_code(&out).as_deref(), Some("403"));
    set(
        &mut w.h,
        c_a1,
        Node::new("member_add_mode").text("all_member_add"),
    );
    let (_, m) = one_notification(&mut w.h, c_c, "member_add_mode");
    assert_eq!(m.content_string().as_deref(), Some("all_member_add"));
    set(
        &mut w.h,
        c_a1,
        Node::new("membership_approval_mode")
            .children(vec![Node::new("group_join").attr("state", "on")]),
    );
    let (_, m) = one_notification(&mut w.h, c_c, "membership_approval_mode");
    assert_eq!(m.child("group_join").unwrap().get_attr("state"), Some("on"));
    set(
        &mut w.h,
        c_a1,
        Node::new("ephemeral").attr("expiration", "86400"),
    );
    let (_, e) = one_notification(&mut w.h, c_c, "ephemeral");
    assert_eq!(e.get_attr("expiration"), Some("86400"));

    let meta = ask(&mut w.h, c_c, g2("m2", &gjid, "get", Node::new("query")));
    let g = meta.child("group").unwrap();
    assert!(g.child("announcement").is_some() && g.child("locked").is_some());
    assert!(g.child("membership_approval_mode").is_some());
    assert_eq!(
        g.child("ephemeral").unwrap().get_attr("expiration"),
        Some("86400")
    );
    assert_eq!(
        g.child("member_add_mode")
            .and_then(Node::content_string)
            .as_deref(),
        Some("all_member_add")
    );
    assert_eq!(
        set(&mut w.h, c_a1, Node::new("not_ephemeral")).get_attr("type"),
        Some("result")
    );
    assert_eq!(
        set(&mut w.h, c_a1, Node::new("not_announcement")).get_attr("type"),
        Some("result")
    );
    assert_eq!(
        set(&mut w.h, c_a1, Node::new("unlocked")).get_attr("type"),
        Some("result")
    );
    let g = w.h.server.group(&gjid).unwrap();
    assert!(!g.announce && !g.locked && g.ephemeral == 0 && g.all_member_add && g.approval);
}

#[test]
fn invites_and_join_requests() {
    let mut w = world(fast_config());
    let (c_a1, c_a2, c_b, c_c, c_d) = (w.a1.1, w.a2.1, w.b.1, w.c.1, w.d.1);
    let (gjid, _) = create(&mut w, "Invites");
    let d = w.users[3].clone();
    let code_of = |h: &mut Harness, conn: ConnId| {
        let out = ask(h, conn, g2("i", &gjid, "get", Node::new("invite")));
        out.child("invite")
            .map(|i| i.get_attr("code").unwrap().to_owned())
    };
    assert!(
        code_of(&mut w.h, c_b).is_none(),
        "members who are not admins get no link"
    );
    let code = code_of(&mut w.h, c_a1).unwrap();
    assert_eq!(code.len(), 22);
    // Invite info, then reset: the old code is gone (410), a made-up one unknown (406).
    let info = ask(
        &mut w.h,
        c_d,
        g2(
            "ii",
            "@g.us",
            "get",
            Node::new("invite").attr("code", code.clone()),
        ),
    );
    assert_eq!(
        info.child("group").unwrap().get_attr("subject"),
        Some("Invites")
    );
    let reset = ask(&mut w.h, c_a1, g2("r", &gjid, "set", Node::new("invite")));
    let new_code = reset
        .child("invite")
        .unwrap()
        .get_attr("code")
        .unwrap()
        .to_owned();
    assert_ne!(new_code, code);
    let join = |h: &mut Harness, code: &str| {
        ask(
            h,
            c_d,
            g2(
                "j",
                "@g.us",
                "set",
                Node::new("invite").attr("code", code.to_owned()),
            ),
        )
    };
    assert_eq!(error_code(&join(&mut w.h, &code)).as_deref(), Some("410"));
    assert_eq!(error_code(&join(&mut w.h, "nope")).as_deref(), Some("406"));
    for conn in [c_a1, c_a2, c_b, c_c] {
        notifications(&mut w.h, conn);
    }
    // Join by link.
    let out = join(&mut w.h, &new_code);
    assert_eq!(
        out.child("group").unwrap().get_attr("jid"),
        Some(gjid.as_str())
    );
    let (n, add) = one_notification(&mut w.h, c_b, "add");
    assert_eq!(add.get_attr("reason"), Some("invite"));
    assert_eq!(n.get_attr("participant"), Some(d.1.as_str()));
    assert!(w.h.server.group(&gjid).unwrap().is_member("15557003"));

    // With approval on, joining is a request the admins see and approve.
    ask(
        &mut w.h,
        c_d,
        g2(
            "l",
            "@g.us",
            "set",
            Node::new("leave").children(vec![Node::new("group").attr("id", gjid.clone())]),
        ),
    );
    notifications(&mut w.h, c_d);
    ask(
        &mut w.h,
        c_a1,
        g2(
            "ap",
            &gjid,
            "set",
            Node::new("membership_approval_mode")
                .children(vec![Node::new("group_join").attr("state", "on")]),
        ),
    );
    notifications(&mut w.h, c_a1);
    notifications(&mut w.h, c_b);
    let out = join(&mut w.h, &new_code);
    assert_eq!(
        out.child("membership_approval_request")
            .unwrap()
            .get_attr("jid"),
        Some(gjid.as_str())
    );
    assert!(!w.h.server.group(&gjid).unwrap().is_member("15557003"));
    let (n, req) = one_notification(&mut w.h, c_a1, "created_membership_requests");
    assert_eq!(n.get_attr("participant"), Some(d.1.as_str()));
    assert_eq!(jids(&req), vec![d.1.clone()]);
    assert!(
        notifications(&mut w.h, c_b).is_empty(),
        "only admins hear of requests"
    );
    let list = ask(
        &mut w.h,
        c_a1,
        g2(
            "rl",
            &gjid,
            "get",
            Node::new("membership_approval_requests"),
        ),
    );
    let reqs: Vec<&str> = list
        .child("membership_approval_requests")
        .unwrap()
        .children_by_tag("membership_approval_request")
        .map(|r| r.get_attr("jid").unwrap())
        .collect();
    assert_eq!(reqs, vec![d.1.as_str()]);
    let act = ask(
        &mut w.h,
        c_a1,
        g2(
            "ra",
            &gjid,
            "set",
            Node::new("membership_requests_action").children(vec![
                Node::new("approve").children(vec![participant(&d.0), participant(&w.users[2].0)]),
            ]),
        ),
    );
    let res: Vec<Option<&str>> = act
        .child("membership_requests_action")
        .unwrap()
        .child("approve")
        .unwrap()
        .children_by_tag("participant")
        .map(|p| p.get_attr("error"))
        .collect();
    assert_eq!(res, vec![None, Some("404")]);
    assert!(w.h.server.group(&gjid).unwrap().is_member("15557003"));
    let (_, add) = one_notification(&mut w.h, c_d, "add");
    assert_eq!(jids(&add), vec![d.1.clone()]);
}

/// A `<message to=group>` as Baileys' group branch builds it: `<participants>` with an `<enc>`
/// (the sender-key distribution carrier) for the devices named, then the `skmsg`.
fn group_message(to: &str, id: &str, with_enc: &[(&str, &str)], identity: bool) -> Node {
    let tos = with_enc
        .iter()
        .map(|(jid, kind)| {
            Node::new("to")
                .attr("jid", (*jid).to_owned())
                .children(vec![
                    Node::new("enc")
                        .attr("v", "2")
                        .attr("type", (*kind).to_owned())
                        .bytes(format!("skdm for {jid}").into_bytes()),
                ])
        })
        .collect();
    let mut children = vec![
        Node::new("participants").children(tos),
        Node::new("enc")
            .attr("v", "2")
            .attr("type", "skmsg")
            .bytes(b"sender key ciphertext".to_vec()),
    ];
    if identity {
        children.push(Node::new("device-identity").bytes(b"identity".to_vec()));
    }
    Node::new("message")
        .attr("id", id.to_owned())
        .attr("to", to.to_owned())
        .attr("type", "text")
        .attr("addressing_mode", "lid")
        .children(children)
}

fn messages(h: &mut Harness, c: ConnId) -> Vec<Node> {
    h.drain(c)
        .into_iter()
        .filter(|n| n.tag == "message")
        .collect()
}

fn acks(h: &mut Harness, c: ConnId) -> Vec<Node> {
    h.drain(c)
        .into_iter()
        .filter(|n| n.tag == "ack" && n.get_attr("class") == Some("message"))
        .collect()
}

#[test]
fn group_messages_fan_out_with_each_devices_own_enc_and_receipts_come_back() {
    let mut w = world(fast_config());
    let (c_a1, c_a2, c_b, c_c, c_d) = (w.a1.1, w.a2.1, w.b.1, w.c.1, w.d.1);
    let (gjid, _) = create(&mut w, "Chat");
    for conn in [c_a1, c_a2, c_b, c_c, c_d] {
        w.h.drain(conn);
    }
    let [a, b, _, d] = w.users.clone();
    let a1_lid = w.a1.0.lid.clone().unwrap();
    let a2_lid = w.a2.0.lid.clone().unwrap();
    let b_lid = w.b.0.lid.clone().unwrap();
    let c_lid = w.c.0.lid.clone().unwrap();
    let d_lid = w.d.0.lid.clone().unwrap();
    // B gets a pkmsg carrier, A's other device a msg, D (not a member) is skipped, C gets
    // no carrier (it has our key already).
    let m = group_message(
        &gjid,
        "G1",
        &[(&b_lid, "pkmsg"), (&a2_lid, "msg"), (&d_lid, "pkmsg")],
        true,
    );
    w.h.send(c_a1, &m);
    let ack = acks(&mut w.h, c_a1);
    assert_eq!(ack.len(), 1);
    assert_eq!(ack[0].get_attr("from"), Some(gjid.as_str()));
    assert!(ack[0].get_attr("error").is_none());

    let got_b = messages(&mut w.h, c_b);
    assert_eq!(got_b.len(), 1);
    let mb = &got_b[0];
    assert_eq!(mb.get_attr("from"), Some(gjid.as_str()));
    assert_eq!(mb.get_attr("participant"), Some(a1_lid.as_str()));
    assert_eq!(mb.get_attr("participant_pn"), Some(a.0.as_str()));
    assert_eq!(mb.get_attr("addressing_mode"), Some("lid"));
    assert_eq!(mb.get_attr("notify"), Some("Tester"));
    assert_eq!(mb.get_attr("type"), Some("text"));
    let kinds: Vec<(&str, Option<&str>)> = mb
        .child_nodes()
        .iter()
        .map(|n| (n.tag.as_ref(), n.get_attr("type")))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("enc", Some("pkmsg")),
            ("enc", Some("skmsg")),
            ("device-identity", None)
        ]
    );
    assert_eq!(
        mb.child_nodes()[0].content_bytes(),
        Some(format!("skdm for {b_lid}").as_bytes())
    );

    let got_c = messages(&mut w.h, c_c);
    let kinds: Vec<Option<&str>> = got_c[0]
        .child_nodes()
        .iter()
        .map(|n| n.get_attr("type"))
        .collect();
    assert_eq!(kinds, vec![Some("skmsg")], "no carrier, no identity");

    let got_a2 = messages(&mut w.h, c_a2);
    assert_eq!(got_a2.len(), 1, "the sender's other device gets it");
    assert_eq!(got_a2[0].get_attr("participant"), Some(a1_lid.as_str()));
    let kinds: Vec<Option<&str>> = got_a2[0]
        .child_nodes()
        .iter()
        .map(|n| n.get_attr("type"))
        .collect();
    assert_eq!(kinds, vec![Some("msg"), Some("skmsg")]);
    assert!(messages(&mut w.h, c_a1).is_empty());
    assert!(messages(&mut w.h, c_d).is_empty(), "not a member");

    // The same id again: acked with the first t, not delivered twice.
    w.h.advance(5_000);
    w.h.send(c_a1, &m);
    let again = acks(&mut w.h, c_a1);
    assert_eq!(again[0].get_attr("t"), ack[0].get_attr("t"));
    assert!(again[0].get_attr("error").is_none());
    assert!(messages(&mut w.h, c_b).is_empty());

    // A read receipt from B reaches A's sending device, naming B's device.
    w.h.send(
        c_b,
        &Node::new("receipt")
            .attr("id", "G1")
            .attr("to", gjid.clone())
            .attr("participant", a1_lid.clone())
            .attr("type", "read")
            .attr("t", "1700000001"),
    );
    let r = w.h.expect(c_a1, "receipt");
    assert_eq!(r.get_attr("from"), Some(gjid.as_str()));
    assert_eq!(r.get_attr("participant"), Some(b_lid.as_str()));
    assert_eq!(r.get_attr("type"), Some("read"));
    assert_eq!(r.get_attr("id"), Some("G1"));
    assert_eq!(r.get_attr("t"), Some("1700000001"));
    // A plain delivery receipt from C (naming the sender by phone number) arrives untyped.
    w.h.send(
        c_c,
        &Node::new("receipt")
            .attr("id", "G1")
            .attr("to", gjid.clone())
            .attr("participant", a.0.clone()),
    );
    let r = w.h.expect(c_a1, "receipt");
    assert_eq!(r.get_attr("participant"), Some(c_lid.as_str()));
    assert!(r.get_attr("type").is_none());

    // C cannot decrypt: its retry receipt, keys included, goes to the sender's device...
    let retry = Node::new("receipt")
        .attr("id", "G1")
        .attr("to", gjid.clone())
        .attr("participant", a1_lid.clone())
        .attr("type", "retry")
        .children(vec![
            Node::new("retry")
                .attr("count", "1")
                .attr("id", "G1")
                .attr("v", "1"),
            Node::new("registration").bytes(vec![0, 0, 1, 2]),
        ]);
    w.h.send(c_c, &retry);
    let r = w.h.expect(c_a1, "receipt");
    assert_eq!(r.get_attr("type"), Some("retry"));
    assert_eq!(r.get_attr("participant"), Some(c_lid.as_str()));
    assert!(r.child("retry").is_some() && r.child("registration").is_some());
    // ... which resends to C alone, with a direct <enc>.
    let resend = Node::new("message")
        .attr("id", "G1")
        .attr("to", gjid.clone())
        .attr("participant", c_lid.clone())
        .attr("type", "text")
        .children(vec![
            Node::new("enc")
                .attr("v", "2")
                .attr("type", "pkmsg")
                .attr("count", "1")
                .bytes(b"again".to_vec()),
            Node::new("device-identity").bytes(b"identity".to_vec()),
        ]);
    w.h.send(c_a1, &resend);
    let got = messages(&mut w.h, c_c);
    assert_eq!(got.len(), 1);
    let kinds: Vec<&str> = got[0]
        .child_nodes()
        .iter()
        .map(|n| n.tag.as_ref())
        .collect();
    assert_eq!(kinds, vec!["enc", "device-identity"]);
    assert_eq!(got[0].child("enc").unwrap().get_attr("count"), Some("1"));
    assert!(messages(&mut w.h, c_b).is_empty());

    // Someone outside: 403; a group nobody made: 404.
    w.h.send(
        c_d,
        &group_message(&gjid, "X1", &[(&b_lid, "pkmsg")], false),
    );
    assert_eq!(acks(&mut w.h, c_d)[0].get_attr("error"), Some("403"));
    assert!(messages(&mut w.h, c_b).is_empty());
    w.h.send(
        c_d,
        &group_message("120363000000000002@g.us", "X2", &[], false),
    );
    assert_eq!(acks(&mut w.h, c_d)[0].get_attr("error"), Some("404"));
    let _ = (b, d);

    // Announcement group: members who are not admins may not send.
    ask(
        &mut w.h,
        c_a1,
        g2("an", &gjid, "set", Node::new("announcement")),
    );
    w.h.send(c_b, &group_message(&gjid, "X3", &[], false));
    assert_eq!(acks(&mut w.h, c_b)[0].get_attr("error"), Some("403"));
}

#[test]
fn pn_addressed_groups_name_members_by_phone_number() {
    let mut w = world(fast_config());
    let (c_a1, _, c_b, c_c, _) = (w.a1.1, w.a2.1, w.b.1, w.c.1, w.d.1);
    w.h.server.set_group_addressing(GroupAddressing::Pn);
    let (gjid, group) = create(&mut w, "Old style");
    let [a, b, ..] = w.users.clone();
    assert_eq!(group.get_attr("addressing_mode"), Some("pn"));
    assert_eq!(group.get_attr("creator"), Some(a.0.as_str()));
    let pb = group
        .children_by_tag("participant")
        .find(|p| p.get_attr("jid") == Some(b.0.as_str()))
        .expect("B by phone number");
    assert_eq!(pb.get_attr("lid"), Some(b.1.as_str()));
    assert!(pb.get_attr("phone_number").is_none());
    let (n, _) = one_notification(&mut w.h, c_b, "create");
    assert_eq!(n.get_attr("participant"), Some(a.0.as_str()));
    assert_eq!(n.get_attr("participant_lid"), Some(a.1.as_str()));
    assert_eq!(n.get_attr("addressing_mode"), Some("pn"));
    w.h.drain(c_c);

    let b_pn = w.b.0.jid.clone().unwrap();
    w.h.send(c_a1, &group_message(&gjid, "P1", &[(&b_pn, "pkmsg")], true));
    let got = messages(&mut w.h, c_b);
    assert_eq!(got[0].get_attr("participant"), w.a1.0.jid.as_deref());
    assert_eq!(got[0].get_attr("participant_lid"), Some(a.1.as_str()));
    assert_eq!(got[0].get_attr("addressing_mode"), Some("pn"));
    assert_eq!(got[0].child_nodes().len(), 3);
    // Receipts name the receipting device by phone number too.
    w.h.send(
        c_b,
        &Node::new("receipt")
            .attr("id", "P1")
            .attr("to", gjid.clone())
            .attr("participant", a.0.clone())
            .attr("type", "read"),
    );
    // (The members' phones answered the made-up skmsg with retry receipts before.)
    let r =
        w.h.drain(c_a1)
            .into_iter()
            .find(|n| n.tag == "receipt" && n.get_attr("type") == Some("read"))
            .expect("the read receipt");
    assert_eq!(r.get_attr("participant"), Some(b_pn.as_str()));
    // Groups made before the switch keep their mode.
    w.h.server.set_group_addressing(GroupAddressing::Lid);
    assert_eq!(
        w.h.server.group(&gjid).unwrap().addressing,
        GroupAddressing::Pn
    );
}

#[test]
fn phones_make_groups_and_change_members() {
    let mut w = world(fast_config());
    let (c_a1, c_a2, c_b, c_c, c_d) = (w.a1.1, w.a2.1, w.b.1, w.c.1, w.d.1);
    let b_pn = w.users[1].0.clone();
    let c_lid = w.users[2].1.clone();
    let gjid =
        w.h.server
            .phone_create_group(w.h.now, "15557000", "By phone", &[b_pn, c_lid])
            .unwrap();
    w.h.step();
    // Every companion of every member hears of it, A's included.
    for conn in [c_a1, c_a2, c_b, c_c] {
        let (n, _) = one_notification(&mut w.h, conn, "create");
        assert_eq!(n.get_attr("from"), Some(gjid.as_str()));
    }
    let d = w.users[3].0.clone();
    w.h.server
        .phone_update_group(w.h.now, &gjid, "15557000", true, std::slice::from_ref(&d))
        .unwrap();
    w.h.step();
    let (_, add) = one_notification(&mut w.h, c_d, "add");
    assert_eq!(jids(&add), vec![w.users[3].1.clone()]);
    assert!(
        w.h.server
            .phone_update_group(w.h.now, "nope@g.us", "15557000", true, &[d])
            .is_err()
    );
    assert!(w.h.server.group("120363000000000003@g.us").is_err());
}

#[test]
fn malformed_group_iqs_get_400_and_the_server_keeps_serving() {
    let mut w = world(fast_config());
    let c_a1 = w.a1.1;
    let (gjid, _) = create(&mut w, "Robust");
    let c = c_a1;
    let cases: Vec<(Node, &str)> = vec![
        (
            Node::new("iq")
                .attr("id", "e1")
                .attr("xmlns", "w:g2")
                .attr("type", "get")
                .attr("to", "@g.us"),
            "400",
        ),
        // `w:g2` not sent to a group is an unknown IQ, as the server answers any other.
        (g2("e2", "not a jid", "get", Node::new("query")), "501"),
        (
            g2("e3", "15557001@s.whatsapp.net", "get", Node::new("query")),
            "501",
        ),
        (g2("e4", "@g.us", "set", Node::new("create")), "400"),
        (
            g2(
                "e5",
                "@g.us",
                "set",
                Node::new("create").attr("subject", "x".repeat(101)),
            ),
            "406",
        ),
        (g2("e6", "@g.us", "set", Node::new("leave")), "400"),
        (g2("e7", "@g.us", "set", Node::new("invite")), "400"),
        (g2("e8", "@g.us", "get", Node::new("invite")), "400"),
        (g2("e9", "@g.us", "get", Node::new("frobnicate")), "501"),
        (g2("e10", &gjid, "set", Node::new("add")), "400"),
        (
            g2(
                "e11",
                &gjid,
                "set",
                Node::new("remove").children(vec![Node::new("participant")]),
            ),
            "400",
        ),
        (
            g2(
                "e12",
                &gjid,
                "set",
                Node::new("member_add_mode").text("everyone"),
            ),
            "400",
        ),
        (
            g2("e13", &gjid, "set", Node::new("membership_approval_mode")),
            "400",
        ),
        (
            g2(
                "e14",
                &gjid,
                "set",
                Node::new("ephemeral").attr("expiration", "soon"),
            ),
            "400",
        ),
        (
            g2(
                "e15",
                &gjid,
                "set",
                Node::new("ephemeral").attr("expiration", "-1"),
            ),
            "400",
        ),
        (g2("e16", &gjid, "set", Node::new("subject")), "400"),
        (
            g2(
                "e17",
                &gjid,
                "set",
                Node::new("subject").bytes(vec![0xff, 0xfe]),
            ),
            "400",
        ),
        (
            g2(
                "e18",
                &gjid,
                "set",
                Node::new("description").attr("id", "x"),
            ),
            "400",
        ),
        (
            g2("e19", &gjid, "set", Node::new("membership_requests_action")),
            "400",
        ),
        (
            g2(
                "e20",
                &gjid,
                "set",
                Node::new("membership_requests_action").children(vec![Node::new("maybe")]),
            ),
            "400",
        ),
        (g2("e21", &gjid, "set", Node::new("accept")), "400"),
        (g2("e22", &gjid, "set", Node::new("links")), "400"),
        (g2("e23", &gjid, "get", Node::new("frobnicate")), "501"),
        (g2("e24", "120363@g.us", "get", Node::new("query")), "404"),
        (
            g2("e25", "@g.us", "set", Node::new("invite").attr("code", "")),
            "406",
        ),
        (
            g2(
                "e26",
                &gjid,
                "set",
                Node::new("description").bytes(b"raw".to_vec()),
            ),
            "400",
        ),
        (
            g2("e27", &gjid, "set", Node::new("subject").text("")),
            "400",
        ),
    ];
    for (iq, code) in cases {
        let id = iq.get_attr("id").unwrap().to_owned();
        let out = ask(&mut w.h, c, iq);
        assert_eq!(error_code(&out).as_deref(), Some(code), "{id}: {out:?}");
    }
    // Messages with nothing useful in them are acked or refused, never a panic.
    for (i, m) in [
        Node::new("message")
            .attr("id", "b1")
            .attr("to", gjid.clone()),
        Node::new("message")
            .attr("id", "b2")
            .attr("to", gjid.clone())
            .bytes(vec![1, 2, 3]),
        Node::new("message")
            .attr("id", "b3")
            .attr("to", gjid.clone())
            .attr("participant", "garbage")
            .children(vec![
                Node::new("participants").children(vec![Node::new("to")]),
            ]),
        Node::new("receipt")
            .attr("id", "b4")
            .attr("to", gjid.clone()),
        Node::new("receipt")
            .attr("id", "b5")
            .attr("to", gjid.clone())
            .attr("participant", "x@y"),
        Node::new("receipt")
            .attr("id", "b6")
            .attr("to", "120363@g.us")
            .attr("participant", w.users[0].0.clone()),
    ]
    .into_iter()
    .enumerate()
    {
        w.h.send(c, &m);
        assert!(w.h.closed(c).is_none(), "case {i}");
    }
    // And it still answers.
    let meta = ask(&mut w.h, c, g2("ok", &gjid, "get", Node::new("query")));
    assert_eq!(meta.get_attr("type"), Some("result"));
}

#[test]
fn a_group_of_five_thousand_answers_its_metadata() {
    let config = wa_testserver::ServerConfig {
        phone_pre_keys: 1,
        ..fast_config()
    };
    let mut h = Harness::with_config(config);
    let (_, ca) = h.online_device("15558000");
    let members = h.server.seed_accounts(h.now, "1666", 4_999, 1).unwrap();
    let mut create = Node::new("create")
        .attr("subject", "Big")
        .attr("key", "BIG");
    create = create.children(members.iter().map(|m| participant(m)).collect());
    h.drain(ca);
    let out = ask(&mut h, ca, g2("big", "@g.us", "set", create));
    let group = out.child("group").expect("created");
    assert_eq!(group.get_attr("size"), Some("5000"));
    let gjid = format!("{}@g.us", group.get_attr("id").unwrap());
    let meta = ask(
        &mut h,
        ca,
        g2(
            "meta",
            &gjid,
            "get",
            Node::new("query").attr("request", "interactive"),
        ),
    );
    let g = meta.child("group").unwrap();
    let parts: Vec<&Node> = g.children_by_tag("participant").collect();
    assert_eq!(parts.len(), 5_000);
    assert!(parts.iter().all(|p| {
        p.get_attr("jid").is_some_and(|j| j.ends_with("@lid"))
            && p.get_attr("phone_number")
                .is_some_and(|j| j.ends_with("@s.whatsapp.net"))
    }));
    assert_eq!(
        parts
            .iter()
            .filter(|p| p.get_attr("type") == Some("superadmin"))
            .count(),
        1
    );
}
