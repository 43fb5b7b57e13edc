//! Every fault control, against the sans-IO core with a virtual clock.

mod common;

use common::*;
use wa_binary::Node;
use wa_testserver::{FaultTarget, LoginRefusal, StreamErrorKind};

fn ping(h: &mut Harness, c: wa_testserver::ConnId, id: &str) {
    h.send(c, &iq(id, "w:p", "get").children(vec![Node::new("ping")]));
}

#[test]
fn drop_cuts_one_device_without_a_close_frame_and_keeps_its_queue() {
    let mut h = Harness::new();
    let (a, ca) = h.online_device("15554000");
    let (b, cb) = h.online_device("15554001");
    let bj = b.jid.clone().unwrap();
    assert_eq!(
        h.server
            .drop_connections(h.now, &FaultTarget::Device(bj.clone())),
        1
    );
    h.step();
    assert_eq!(h.closed(cb), Some(true), "aborted, no close frame");
    assert!(h.closed(ca).is_none());
    assert!(!h.server.is_online(&bj));
    // A's message waits for B
    let m = encrypted_message(
        &mut h,
        ca,
        &a,
        "15554001@s.whatsapp.net",
        std::slice::from_ref(&bj),
        "X1",
        "later",
    );
    h.send(ca, &m);
    assert_eq!(h.server.queued(&bj), 1);
    assert_eq!(h.server.stats().faults_injected, 1);
    assert_eq!(
        h.server.drop_connections(
            h.now,
            &FaultTarget::Device("15554009:1@s.whatsapp.net".into())
        ),
        0
    );
}

#[test]
fn delay_holds_each_frame_back_in_order() {
    let mut h = Harness::new();
    let (_, c) = h.online_device("15554010");
    assert_eq!(h.server.delay_frames(&FaultTarget::All, 500), 1);
    ping(&mut h, c, "d1");
    h.advance(100);
    ping(&mut h, c, "d2");
    assert!(h.recv(c).is_none(), "nothing before the delay");
    assert_eq!(h.server.poll_timeout(), Some(h.now + 400));
    h.advance(399);
    assert!(h.recv(c).is_none());
    h.advance(1);
    assert_eq!(h.recv(c).unwrap().get_attr("id"), Some("d1"));
    assert!(h.recv(c).is_none());
    h.advance(100);
    assert_eq!(h.recv(c).unwrap().get_attr("id"), Some("d2"));
    h.server.delay_frames(&FaultTarget::All, 0);
    ping(&mut h, c, "d3");
    assert_eq!(
        h.recv(c).unwrap().get_attr("id"),
        Some("d3"),
        "no delay once ended"
    );
}

#[test]
fn stall_sends_nothing_then_everything() {
    let mut h = Harness::new();
    let (_, c) = h.online_device("15554020");
    let (_, other) = h.online_device("15554021");
    let jid = h.server.devices("15554020").unwrap()[0].clone();
    h.drain(c);
    assert_eq!(h.server.stall(h.now, &FaultTarget::Device(jid), 2_000), 1);
    for i in 0..5 {
        ping(&mut h, c, &format!("s{i}"));
    }
    ping(&mut h, other, "unaffected");
    assert_eq!(h.recv(other).unwrap().get_attr("id"), Some("unaffected"));
    h.advance(1_999);
    assert!(h.recv(c).is_none());
    h.advance(1);
    let ids: Vec<String> = h
        .drain(c)
        .iter()
        .map(|n| n.get_attr("id").unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["s0", "s1", "s2", "s3", "s4"]);
}

#[test]
fn a_corrupt_frame_breaks_the_clients_session() {
    let mut h = Harness::new();
    let (_, c) = h.online_device("15554030");
    assert_eq!(h.server.corrupt_frame(h.now, &FaultTarget::All), 1);
    h.step();
    assert!(h.clients[&c].failed, "the client could not authenticate it");
    assert_eq!(h.server.stats().frames_corrupted, 1);
}

#[test]
fn dropped_frames_are_lost_on_the_wire_but_not_from_the_queue() {
    let mut h = Harness::new();
    let (a, ca) = h.online_device("15554040");
    let (mut b, cb) = h.online_device("15554041");
    let bj = b.jid.clone().unwrap();
    assert_eq!(h.server.drop_frames(&FaultTarget::Device(bj.clone()), 1), 1);
    let m = encrypted_message(
        &mut h,
        ca,
        &a,
        "15554041@s.whatsapp.net",
        std::slice::from_ref(&bj),
        "LOST",
        "lost in transit",
    );
    h.send(ca, &m);
    assert!(
        h.drain(cb).iter().all(|n| n.tag != "message"),
        "the stanza never arrived"
    );
    assert_eq!(h.server.stats().frames_dropped, 1);
    assert_eq!(h.server.queued(&bj), 1);
    h.hang_up(cb);
    let (_, got) = h.login(&mut b, 0);
    assert!(
        got.iter().any(|n| n.get_attr("id") == Some("LOST")),
        "delivered after reconnecting"
    );
}

#[test]
fn stream_errors_of_every_kind() {
    let mut h = Harness::new();
    for (code, check) in [
        (440u16, "replaced"),
        (401, "device_removed"),
        (500, "500"),
        (503, "503"),
        (515, "515"),
    ] {
        let (d, c) = h.online_device("15554050");
        let jid = d.jid.clone().unwrap();
        assert_eq!(
            h.server.send_stream_error(
                h.now,
                &FaultTarget::Device(jid.clone()),
                StreamErrorKind::from_code(code)
            ),
            1
        );
        h.step();
        let se = h.expect(c, "stream:error");
        match code {
            440 => assert_eq!(se.child("conflict").unwrap().get_attr("type"), Some(check)),
            401 => {
                assert_eq!(se.get_attr("code"), Some("401"));
                assert_eq!(se.child("conflict").unwrap().get_attr("type"), Some(check));
            }
            _ => assert_eq!(se.get_attr("code"), Some(check)),
        }
        assert_eq!(h.closed(c), Some(false));
        // As a fault, even 401 leaves the device linked: it can log in again.
        let again = h.connect_device(&d);
        h.expect(again, "success");
    }
}

#[test]
fn refused_logins_for_a_while() {
    let mut h = Harness::new();
    let (mut d, c) = h.online_device("15554060");
    h.hang_up(c);
    h.server
        .refuse_logins(h.now, 10_000, LoginRefusal::StreamError(503));
    let c = h.connect_device(&d);
    assert_eq!(h.expect(c, "stream:error").get_attr("code"), Some("503"));
    assert!(h.closed(c).is_some());
    h.advance(5_000);
    h.server
        .refuse_logins(h.now, 5_000, LoginRefusal::Failure(403));
    let c = h.connect_device(&d);
    assert_eq!(h.expect(c, "failure").get_attr("reason"), Some("403"));
    h.advance(5_000);
    let (c, _) = h.login(&mut d, 0);
    assert!(h.closed(c).is_none());
    assert_eq!(h.server.stats().logins_refused, 2);
    // Registrations are not logins: pairing still works while logins are refused.
    h.server
        .refuse_logins(h.now, 60_000, LoginRefusal::StreamError(503));
    let mut other = Device::new();
    h.pair(&mut other, "15554061");
}

#[test]
fn all_targets_every_open_connection_including_registering_ones() {
    let mut h = Harness::new();
    let (_, c1) = h.online_device("15554070");
    let registering = Device::new();
    let c2 = h.connect_device(&registering);
    h.expect(c2, "iq");
    assert_eq!(h.server.drop_connections(h.now, &FaultTarget::All), 2);
    h.step();
    assert_eq!(h.closed(c1), Some(true));
    assert_eq!(h.closed(c2), Some(true));
    assert_eq!(h.server.stats().connections_open, 0);
}
