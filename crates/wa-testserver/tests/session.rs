//! A logged-in companion: success, passive/active, prekeys (count, upload, digest, fetch),
//! usync, ping, presence, media_conn, unknown IQs, logout, removal by the phone, conflicts.

mod common;

use common::*;
use wa_binary::Node;
use wa_crypto::KeyPair;

fn result(h: &mut Harness, c: wa_testserver::ConnId, node: Node) -> Node {
    h.send(c, &node);
    let r = h.expect(c, "iq");
    assert_eq!(r.get_attr("id"), node.get_attr("id"), "answer to {node}");
    r
}

#[test]
fn unknown_or_unlinked_devices_are_logged_out_with_401() {
    let mut h = Harness::new();
    let mut d = Device::new();
    d.jid = Some("15552000:1@s.whatsapp.net".into());
    let c = h.connect_device(&d);
    let f = h.expect(c, "failure");
    assert_eq!(f.get_attr("reason"), Some("401"));
    assert!(h.closed(c).is_some());
    // A paired device with someone else's Noise key is refused too.
    let mut real = Device::new();
    h.pair(&mut real, "15552000");
    let thief = KeyPair::generate();
    let c = h.connect(&thief, real.login_payload());
    assert_eq!(h.expect(c, "failure").get_attr("reason"), Some("401"));
    assert_eq!(h.server.stats().logins_refused, 2);
}

#[test]
fn passive_login_holds_the_queue_until_active() {
    let mut h = Harness::new();
    let (a, ca) = h.online_device("15552001");
    let mut b = Device::new();
    let b_jid = h.pair(&mut b, "15552002");
    // B is offline: A's message waits in B's queue.
    let m = encrypted_message(
        &mut h,
        ca,
        &a,
        "15552002@s.whatsapp.net",
        std::slice::from_ref(&b_jid),
        "Q1",
        "queued",
    );
    h.send(ca, &m);
    assert_eq!(h.server.queued(&b_jid), 1);
    // B logs in passive: success, but no message yet.
    let cb = h.connect_device(&b);
    h.expect(cb, "success");
    assert!(h.drain(cb).iter().all(|n| n.tag != "message"));
    // Active: the queued message arrives marked offline, then the offline count.
    h.send(
        cb,
        &iq("a", "passive", "set").children(vec![Node::new("active")]),
    );
    let got = h.drain(cb);
    let msg = got.iter().find(|n| n.tag == "message").expect("flushed");
    assert_eq!(msg.get_attr("offline"), Some("1"));
    assert_eq!(msg.get_attr("id"), Some("Q1"));
    let ib = got.iter().find(|n| n.tag == "ib").expect("offline count");
    assert_eq!(ib.child("offline").unwrap().get_attr("count"), Some("1"));
    // Still queued until B acknowledges it.
    assert_eq!(h.server.queued(&b_jid), 1);
    h.send(
        cb,
        &Node::new("receipt")
            .attr("id", "Q1")
            .attr("to", "15552001:1@s.whatsapp.net"),
    );
    assert_eq!(h.server.queued(&b_jid), 0);
}

#[test]
fn prekeys_count_upload_digest_and_fetch() {
    let mut h = Harness::new();
    let mut d = Device::new();
    let jid = h.pair(&mut d, "15552003");
    let c = h.connect_device(&d);
    h.expect(c, "success");
    let count = |h: &mut Harness| {
        let r = result(
            h,
            c,
            iq("n", "encrypt", "get").children(vec![Node::new("count")]),
        );
        r.child("count")
            .unwrap()
            .get_attr("value")
            .unwrap()
            .to_owned()
    };
    assert_eq!(count(&mut h), "0", "a fresh device has none");
    let up = d.prekey_upload("up", 30);
    assert_eq!(result(&mut h, c, up).get_attr("type"), Some("result"));
    assert_eq!(count(&mut h), "30");
    // digest: the bundle the server holds, with a SHA-1 over it
    let dg = result(
        &mut h,
        c,
        iq("d", "encrypt", "get").children(vec![Node::new("digest")]),
    );
    let digest = dg.child("digest").unwrap();
    assert_eq!(
        digest.child("identity").unwrap().content_bytes(),
        Some(&d.identity.public[..])
    );
    assert_eq!(digest.child("list").unwrap().child_nodes().len(), 30);
    assert_eq!(
        digest.child("hash").unwrap().content_bytes().unwrap().len(),
        20
    );
    // another device fetches our bundle: one prekey is used up
    let (_, other) = h.online_device("15552004");
    let r = result(
        &mut h,
        other,
        iq("k", "encrypt", "get").children(vec![Node::new("key").children(vec![
            Node::new("user").attr("jid", jid.clone()),
            Node::new("user").attr("jid", "15552003@s.whatsapp.net"),
            Node::new("user").attr("jid", "15552003:9@s.whatsapp.net"),
        ])]),
    );
    let users: Vec<&Node> = r.child("list").unwrap().children_by_tag("user").collect();
    assert_eq!(users.len(), 3);
    let companion = users[0];
    assert_eq!(
        companion.child("identity").unwrap().content_bytes(),
        Some(&d.identity.public[..])
    );
    assert!(companion.child("key").is_some());
    assert!(
        companion.child("device-identity").is_some(),
        "companions carry their ADV identity"
    );
    let bundle = bundle_from_user(companion);
    assert_eq!(bundle.registration_id, d.registration_id);
    let phone = users[1];
    assert!(phone.child("device-identity").is_none());
    assert!(phone.child("key").is_some());
    assert_eq!(
        users[2].child("error").unwrap().get_attr("code"),
        Some("404")
    );
    assert_eq!(count(&mut h), "29");
    // a bad upload (prekey signed by another key) is refused and changes nothing
    let mut bad = d.prekey_upload("bad", 1);
    if let wa_binary::Content::Nodes(ch) = &mut bad.content {
        ch.retain(|n| n.tag != "skey");
        ch.push(Node::new("skey").children(vec![
            Node::new("id").bytes(vec![0, 0, 2]),
            Node::new("value").bytes(vec![1; 32]),
            Node::new("signature").bytes(vec![2; 64]),
        ]));
    }
    assert_eq!(result(&mut h, c, bad).get_attr("type"), Some("error"));
    assert_eq!(count(&mut h), "29");
    assert_eq!(h.server.stats().pre_keys_uploaded, 30 + 10);
}

#[test]
fn usync_devices_lids_and_contacts() {
    let mut h = Harness::new();
    let (_, c) = h.online_device("15552010");
    let mut second = Device::new();
    h.pair(&mut second, "15552011");
    let query = iq("u", "usync", "get").children(vec![
        Node::new("usync")
            .attr("sid", "s1")
            .attr("mode", "query")
            .attr("context", "message")
            .children(vec![
                Node::new("query").children(vec![
                    Node::new("devices").attr("version", "2"),
                    Node::new("lid"),
                    Node::new("contact"),
                ]),
                Node::new("list").children(vec![
                    Node::new("user").attr("jid", "15552011@s.whatsapp.net"),
                    Node::new("user").children(vec![Node::new("contact").text("+15552099")]),
                ]),
            ]),
    ]);
    let r = result(&mut h, c, query);
    let usync = r.child("usync").unwrap();
    assert_eq!(usync.get_attr("sid"), Some("s1"));
    let users: Vec<&Node> = usync
        .child("list")
        .unwrap()
        .children_by_tag("user")
        .collect();
    let known = users[0];
    let devices: Vec<(String, Option<String>)> = known
        .child("devices")
        .unwrap()
        .child("device-list")
        .unwrap()
        .children_by_tag("device")
        .map(|d| {
            (
                d.get_attr("id").unwrap().to_owned(),
                d.get_attr("key-index").map(str::to_owned),
            )
        })
        .collect();
    assert_eq!(
        devices,
        [
            ("0".to_owned(), None),
            ("1".to_owned(), Some("1".to_owned()))
        ]
    );
    assert!(
        known
            .child("devices")
            .unwrap()
            .child("key-index-list")
            .is_some()
    );
    assert!(
        known
            .child("lid")
            .unwrap()
            .get_attr("val")
            .unwrap()
            .ends_with("@lid")
    );
    assert_eq!(known.child("contact").unwrap().get_attr("type"), Some("in"));
    let unknown = users[1];
    assert_eq!(unknown.get_attr("jid"), Some("15552099@s.whatsapp.net"));
    assert_eq!(
        unknown.child("contact").unwrap().get_attr("type"),
        Some("out")
    );
    assert!(
        unknown
            .child("devices")
            .unwrap()
            .child("device-list")
            .unwrap()
            .child_nodes()
            .is_empty()
    );
    // the same user by LID
    let lid = known
        .child("lid")
        .unwrap()
        .get_attr("val")
        .unwrap()
        .to_owned();
    let by_lid = result(
        &mut h,
        c,
        iq("u2", "usync", "get").children(vec![Node::new("usync").children(vec![
            Node::new("query").children(vec![Node::new("devices").attr("version", "2")]),
            Node::new("list").children(vec![Node::new("user").attr("jid", lid.clone())]),
        ])]),
    );
    let u = by_lid
        .child("usync")
        .unwrap()
        .child("list")
        .unwrap()
        .child("user")
        .unwrap();
    assert_eq!(u.get_attr("jid"), Some(lid.as_str()));
    assert_eq!(
        u.child("devices")
            .unwrap()
            .child("device-list")
            .unwrap()
            .child_nodes()
            .len(),
        2
    );
}

#[test]
fn ping_media_conn_props_privacy_and_unknown_iqs() {
    let mut h = Harness::new();
    let (_, c) = h.online_device("15552020");
    let ping = result(
        &mut h,
        c,
        iq("p", "w:p", "get").children(vec![Node::new("ping")]),
    );
    assert_eq!(ping.get_attr("type"), Some("result"));
    let mc = result(
        &mut h,
        c,
        iq("m", "w:m", "set").children(vec![Node::new("media_conn")]),
    );
    let mc = mc.child("media_conn").unwrap();
    // The auth is one the media store accepts, for `auth_ttl` seconds from now.
    let auth = mc.get_attr("auth").unwrap();
    assert_eq!(mc.get_attr("auth_ttl"), Some("21600"));
    let media = h.server.media();
    assert!(media.auth_valid(auth, h.now));
    assert!(media.auth_valid(auth, h.now + 21_599_999));
    assert!(!media.auth_valid(auth, h.now + 21_600_000));
    assert!(!media.auth_valid("made-up", h.now));
    let host = mc.child("host").unwrap();
    assert_eq!(host.get_attr("hostname"), Some("mmg.localhost"));
    assert_eq!(host.get_attr("maxContentLengthBytes"), Some("104857600"));
    let props = result(
        &mut h,
        c,
        iq("a", "abt", "get").children(vec![Node::new("props").attr("protocol", "1")]),
    );
    assert!(props.child("props").is_some());
    let privacy = result(
        &mut h,
        c,
        iq("pr", "privacy", "get").children(vec![Node::new("privacy")]),
    );
    assert!(
        privacy
            .child("privacy")
            .unwrap()
            .children_by_tag("category")
            .any(|c| c.get_attr("name") == Some("readreceipts")
                && c.get_attr("value") == Some("all"))
    );
    // w:stats arrives without a type and still gets a result
    let stats = result(
        &mut h,
        c,
        Node::new("iq")
            .attr("id", "st")
            .attr("xmlns", "w:stats")
            .children(vec![Node::new("add").bytes(vec![1])]),
    );
    assert_eq!(stats.get_attr("type"), Some("result"));
    let unknown = result(
        &mut h,
        c,
        iq("x", "w:not-a-feature", "get").children(vec![Node::new("query")]),
    );
    assert_eq!(unknown.get_attr("type"), Some("error"));
    assert_eq!(
        unknown.child("error").unwrap().get_attr("code"),
        Some("501")
    );
    assert_eq!(h.server.stats().unknown_iqs, 1);
    // the connection keeps working after the error
    assert_eq!(
        result(&mut h, c, iq("p2", "w:p", "get")).get_attr("type"),
        Some("result")
    );
}

#[test]
fn presence_subscriptions_and_chat_states() {
    let mut h = Harness::new();
    let (_, ca) = h.online_device("15552030");
    let (_, cb) = h.online_device("15552031");
    h.send(
        ca,
        &Node::new("presence")
            .attr("type", "subscribe")
            .attr("to", "15552031@s.whatsapp.net"),
    );
    let p = h.expect(ca, "presence");
    assert_eq!(p.get_attr("from"), Some("15552031@s.whatsapp.net"));
    assert_eq!(p.get_attr("type"), Some("unavailable"));
    h.send(
        cb,
        &Node::new("presence")
            .attr("type", "available")
            .attr("name", "Bea"),
    );
    let p = h.expect(ca, "presence");
    assert_eq!(p.get_attr("type"), Some("available"));
    h.send(
        cb,
        &Node::new("chatstate")
            .attr("to", "15552030@s.whatsapp.net")
            .children(vec![Node::new("composing")]),
    );
    let cs = h.expect(ca, "chatstate");
    assert_eq!(cs.get_attr("from"), Some("15552031@s.whatsapp.net"));
    assert!(cs.child("composing").is_some());
    h.send(cb, &Node::new("presence").attr("type", "unavailable"));
    let p = h.expect(ca, "presence");
    assert_eq!(p.get_attr("type"), Some("unavailable"));
    assert!(p.get_attr("last").is_some());
}

#[test]
fn a_device_that_goes_offline_stops_being_available() {
    let mut h = Harness::new();
    let (_, ca) = h.online_device("15552032");
    let (_, cb) = h.online_device("15552033");
    h.send(
        ca,
        &Node::new("presence")
            .attr("type", "subscribe")
            .attr("to", "15552033@s.whatsapp.net"),
    );
    assert_eq!(
        h.expect(ca, "presence").get_attr("type"),
        Some("unavailable")
    );
    h.send(
        cb,
        &Node::new("presence")
            .attr("type", "available")
            .attr("name", "Bo"),
    );
    assert_eq!(h.expect(ca, "presence").get_attr("type"), Some("available"));
    // Saying available again changes nothing: subscribers hear only changes.
    h.send(
        cb,
        &Node::new("presence")
            .attr("type", "available")
            .attr("name", "Bo"),
    );
    assert!(h.drain(ca).iter().all(|n| n.tag != "presence"));
    h.hang_up(cb);
    let p = h.expect(ca, "presence");
    assert_eq!(p.get_attr("from"), Some("15552033@s.whatsapp.net"));
    assert_eq!(p.get_attr("type"), Some("unavailable"));
    assert!(p.get_attr("last").is_some());
}

#[test]
fn logout_removes_the_companion() {
    let mut h = Harness::new();
    let (d, c) = h.online_device("15552040");
    let (_, watcher) = h.online_device("15552041");
    let jid = d.jid.clone().unwrap();
    let r = result(
        &mut h,
        c,
        iq("bye", "md", "set").children(vec![
            Node::new("remove-companion-device")
                .attr("jid", jid.clone())
                .attr("reason", "user_initiated"),
        ]),
    );
    assert_eq!(r.get_attr("type"), Some("result"));
    assert!(h.closed(c).is_some());
    assert!(h.server.devices("15552040").unwrap().is_empty());
    let n = h.expect(watcher, "notification");
    assert_eq!(n.get_attr("type"), Some("devices"));
    assert!(n.child("remove").is_some());
    // The old credentials no longer log in.
    let again = h.connect_device(&d);
    assert_eq!(h.expect(again, "failure").get_attr("reason"), Some("401"));
}

#[test]
fn the_phone_removing_a_device_sends_401_device_removed() {
    let mut h = Harness::new();
    let (d, c) = h.online_device("15552050");
    let jid = d.jid.clone().unwrap();
    h.server.remove_device(h.now, &jid).unwrap();
    h.step();
    let se = h.expect(c, "stream:error");
    assert_eq!(se.get_attr("code"), Some("401"));
    assert_eq!(
        se.child("conflict").unwrap().get_attr("type"),
        Some("device_removed")
    );
    assert!(h.closed(c).is_some());
    let again = h.connect_device(&d);
    assert_eq!(h.expect(again, "failure").get_attr("reason"), Some("401"));
    assert!(h.server.remove_device(h.now, &jid).is_err());
}

#[test]
fn a_second_login_of_the_same_device_replaces_the_first() {
    let mut h = Harness::new();
    let (d, c1) = h.online_device("15552060");
    let c2 = h.connect_device(&d);
    h.expect(c2, "success");
    let se = h.expect(c1, "stream:error");
    assert_eq!(
        se.child("conflict").unwrap().get_attr("type"),
        Some("replaced")
    );
    assert!(h.closed(c1).is_some());
    assert!(h.closed(c2).is_none());
    assert!(h.server.is_online(d.jid.as_deref().unwrap()));
}

#[test]
fn pairing_a_device_notifies_online_clients() {
    let mut h = Harness::new();
    let (_, watcher) = h.online_device("15552070");
    let mut d = Device::new();
    h.pair(&mut d, "15552071");
    let n = h.expect(watcher, "notification");
    assert_eq!(n.get_attr("from"), Some("15552071@s.whatsapp.net"));
    let add = n.child("add").unwrap();
    assert_eq!(
        add.child("device").unwrap().get_attr("jid"),
        Some("15552071:1@s.whatsapp.net")
    );
    assert!(add.child("key-index-list").is_some());
}
