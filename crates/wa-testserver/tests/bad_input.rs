//! Hostile and broken clients: garbage instead of a handshake, a handshake that never ends,
//! undecodable frames, odd payloads, replays, unknown stanzas; and random bytes and random
//! stanzas never panic the server or disturb another connection.

mod common;

use common::*;
use proptest::prelude::*;
use wa_binary::{Node, encode_frame};
use wa_crypto::KeyPair;
use wa_noise::WA_HEADER;
use wa_testserver::{ConnId, Output};

/// A logged-in bystander whose pings must keep working.
fn bystander(h: &mut Harness) -> ConnId {
    let (_, c) = h.online_device("15555999");
    h.drain(c);
    c
}

fn still_serves(h: &mut Harness, c: ConnId) {
    h.drain(c);
    h.send(
        c,
        &iq("alive", "w:p", "get").children(vec![Node::new("ping")]),
    );
    let r = h.expect(c, "iq");
    assert_eq!(r.get_attr("id"), Some("alive"));
    assert_eq!(r.get_attr("type"), Some("result"));
    assert!(h.closed(c).is_none());
}

/// A raw connection: no client Noise session, bytes in by hand.
fn raw(h: &mut Harness) -> ConnId {
    let id = ConnId(10_000 + h.clients.len() as u64);
    h.server.connect(id, h.now);
    h.clients.insert(
        id,
        Client {
            noise: wa_noise::NoiseSession::client(wa_noise::ClientConfig::new(
                KeyPair::generate(),
                vec![],
            )),
            inbox: Default::default(),
            closed: None,
            failed: false,
            raw: Vec::new(),
        },
    );
    id
}

#[test]
fn garbage_instead_of_a_handshake_is_dropped() {
    let mut h = Harness::new();
    let by = bystander(&mut h);
    let c = raw(&mut h);
    h.send_raw(c, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(h.closed(c), Some(true), "closed without a word");
    assert_eq!(h.server.stats().handshake_failures, 1);
    // a right header and then junk where ClientHello should be
    let c = raw(&mut h);
    let mut bytes = WA_HEADER.to_vec();
    bytes.extend_from_slice(&[0, 0, 5, 1, 2, 3, 4, 5]);
    h.send_raw(c, &bytes);
    assert_eq!(h.closed(c), Some(true));
    still_serves(&mut h, by);
}

#[test]
fn a_handshake_that_never_finishes_is_closed_after_the_timeout() {
    let mut h = Harness::new();
    let by = bystander(&mut h);
    let c = raw(&mut h);
    h.send_raw(c, &WA_HEADER);
    h.advance(19_999);
    assert!(h.closed(c).is_none());
    still_serves(&mut h, by);
    h.advance(1);
    assert_eq!(h.closed(c), Some(true));
    // a client that stops after ClientHello (never sends ClientFinish)
    let mut config = wa_noise::ClientConfig::new(KeyPair::generate(), vec![]);
    config.trust_root = h.server.root_public_key();
    let mut half = wa_noise::NoiseSession::client(config);
    let c = raw(&mut h);
    let hello = half.poll_transmit().unwrap();
    h.send_raw(c, &hello);
    h.advance(20_000);
    assert_eq!(h.closed(c), Some(true));
    assert!(h.server.stats().handshake_failures >= 2);
}

#[test]
fn bytes_split_one_at_a_time_still_make_a_session() {
    let mut h = Harness::new();
    let d = Device::new();
    let id = ConnId(77);
    h.server.connect(id, h.now);
    let mut config = wa_noise::ClientConfig::new(d.noise.clone(), d.registration_payload());
    config.trust_root = h.server.root_public_key();
    let mut noise = wa_noise::NoiseSession::client(config);
    let first = noise.poll_transmit().unwrap();
    for b in &first {
        h.server.handle_data(id, h.now, &[*b]);
    }
    let mut server_hello = Vec::new();
    while let Some(Output::Transmit { data, .. }) = h.server.poll_output() {
        server_hello.extend(data);
    }
    noise.handle_data(h.now / 1000, &server_hello).unwrap();
    let finish = noise.poll_transmit().unwrap();
    for b in &finish {
        h.server.handle_data(id, h.now, &[*b]);
    }
    assert_eq!(h.server.stats().handshakes_completed, 1);
    assert_eq!(h.server.stats().registrations, 1);
}

#[test]
fn frames_that_are_not_nodes_end_the_stream_politely() {
    let mut h = Harness::new();
    let by = bystander(&mut h);
    let (_, c) = h.online_device("15555001");
    let data = h
        .clients
        .get_mut(&c)
        .unwrap()
        .noise
        .send_now(&[0, 0xff, 0xff, 0xff])
        .unwrap();
    h.send_raw(c, &data);
    let se = h.expect(c, "stream:error");
    assert!(se.child("xml-not-well-formed").is_some());
    assert_eq!(h.closed(c), Some(false));
    assert_eq!(h.server.stats().bad_frames, 1);
    still_serves(&mut h, by);
}

#[test]
fn a_replayed_or_tampered_frame_closes_that_connection_only() {
    let mut h = Harness::new();
    let by = bystander(&mut h);
    let (_, c) = h.online_device("15555002");
    let frame = encode_frame(&iq("r", "w:p", "get")).unwrap();
    let data = h
        .clients
        .get_mut(&c)
        .unwrap()
        .noise
        .send_now(&frame)
        .unwrap();
    h.send_raw(c, &data);
    h.expect(c, "iq");
    h.send_raw(c, &data);
    assert_eq!(h.closed(c), Some(true));
    still_serves(&mut h, by);
}

#[test]
fn payloads_that_are_neither_login_nor_registration_are_refused() {
    let mut h = Harness::new();
    let c = h.connect(&KeyPair::generate(), vec![]);
    assert_eq!(h.expect(c, "failure").get_attr("reason"), Some("400"));
    // registration with a signed prekey that does not verify
    let mut d = Device::new();
    d.signed.signature = [7; 64];
    let c = h.connect_device(&d);
    assert_eq!(h.expect(c, "failure").get_attr("reason"), Some("400"));
    // not a ClientPayload at all
    let c = h.connect(&KeyPair::generate(), vec![0xff; 9]);
    assert!(h.closed(c).is_some());
}

#[test]
fn unknown_stanzas_and_iqs_during_registration() {
    let mut h = Harness::new();
    let d = Device::new();
    let c = h.connect_device(&d);
    h.expect(c, "iq");
    h.send(
        c,
        &Node::new("message")
            .attr("id", "m")
            .attr("to", "1@s.whatsapp.net"),
    );
    h.send(c, &Node::new("bogus"));
    h.send(c, &iq("q", "usync", "get"));
    let e = h.expect(c, "iq");
    assert_eq!(e.get_attr("type"), Some("error"));
    assert_eq!(e.child("error").unwrap().get_attr("code"), Some("401"));
    h.send(c, &iq("p", "w:p", "get"));
    assert_eq!(h.expect(c, "iq").get_attr("type"), Some("result"));
    assert!(h.closed(c).is_none());
}

#[test]
fn unknown_stanzas_after_login_are_ignored() {
    let mut h = Harness::new();
    let (_, c) = h.online_device("15555003");
    for n in [
        Node::new("bogus").attr("id", "1"),
        Node::new("iq"),
        Node::new("message"),
        Node::new("receipt"),
        Node::new("ack").attr("id", "x").attr("class", "nope"),
        Node::new("presence")
            .attr("type", "subscribe")
            .attr("to", "junk"),
        Node::new("chatstate").attr("to", "19999@s.whatsapp.net"),
        Node::new("notification").attr("id", "n1"),
        iq("e", "encrypt", "get").children(vec![Node::new("key")]),
        iq("e2", "encrypt", "set")
            .children(vec![Node::new("list").children(vec![Node::new("key")])]),
        iq("u", "usync", "get").children(vec![Node::new("usync")]),
        iq("md", "md", "set").children(vec![
            Node::new("remove-companion-device").attr("jid", "1:1@s.whatsapp.net"),
        ]),
    ] {
        h.send(c, &n);
    }
    still_serves(&mut h, c);
}

fn arbitrary_node() -> impl Strategy<Value = Node> {
    let tags = prop::sample::select(vec![
        "iq",
        "message",
        "receipt",
        "ack",
        "presence",
        "chatstate",
        "ib",
        "notification",
        "x",
    ]);
    let keys = prop::sample::select(vec![
        "id",
        "to",
        "type",
        "xmlns",
        "class",
        "jid",
        "from",
        "recipient",
        "participant",
    ]);
    let values = prop::sample::select(vec![
        "get",
        "set",
        "result",
        "encrypt",
        "usync",
        "md",
        "w:p",
        "passive",
        "message",
        "retry",
        "sender",
        "read",
        "1@s.whatsapp.net",
        "15555004:1@s.whatsapp.net",
        "15555004@s.whatsapp.net",
        "1@lid",
        "x@g.us",
        "",
        "a:b:c@d",
    ]);
    let leaf = (
        tags.clone(),
        prop::collection::vec((keys.clone(), values.clone()), 0..4),
        prop::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(|(t, attrs, bytes)| {
            let mut n = Node::new(t);
            for (k, v) in attrs {
                n = n.attr(k, v);
            }
            if bytes.is_empty() { n } else { n.bytes(bytes) }
        });
    leaf.prop_recursive(3, 24, 4, move |inner| {
        (
            tags.clone(),
            prop::collection::vec((keys.clone(), values.clone()), 0..4),
            prop::collection::vec(inner, 0..4),
        )
            .prop_map(|(t, attrs, kids)| {
                let mut n = Node::new(t);
                for (k, v) in attrs {
                    n = n.attr(k, v);
                }
                n.children(kids)
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Random byte chunks into a fresh connection: no panic, the bystander keeps working.
    #[test]
    fn random_bytes_never_panic(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..6), header in any::<bool>()) {
        let mut h = Harness::new();
        let by = bystander(&mut h);
        let c = raw(&mut h);
        if header {
            h.send_raw(c, &WA_HEADER);
        }
        for chunk in chunks {
            h.send_raw(c, &chunk);
        }
        h.advance(30_000);
        still_serves(&mut h, by);
    }

    /// Random stanzas from a logged-in device: no panic, and the server still answers it and
    /// the bystander.
    #[test]
    fn random_stanzas_never_panic(nodes in prop::collection::vec(arbitrary_node(), 1..12)) {
        let mut h = Harness::new();
        let by = bystander(&mut h);
        let (_, c) = h.online_device("15555004");
        for n in &nodes {
            if h.closed(c).is_some() {
                break;
            }
            h.send(c, n);
        }
        if h.closed(c).is_none() {
            still_serves(&mut h, c);
        }
        still_serves(&mut h, by);
    }

    /// Random stanzas during registration.
    #[test]
    fn random_stanzas_while_registering_never_panic(nodes in prop::collection::vec(arbitrary_node(), 1..12)) {
        let mut h = Harness::new();
        let by = bystander(&mut h);
        let d = Device::new();
        let c = h.connect_device(&d);
        for n in &nodes {
            if h.closed(c).is_some() {
                break;
            }
            h.send(c, n);
        }
        still_serves(&mut h, by);
    }
}
