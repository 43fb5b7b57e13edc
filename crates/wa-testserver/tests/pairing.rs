//! Registration, QR refs on WhatsApp's schedule, QR pairing, pairing by code, and the first
//! login, driven against the sans-IO core with a virtual clock.

mod common;

use common::*;
use wa_binary::Node;
use wa_crypto::KeyPair;
use wa_crypto::pairing::{unwrap_with_pairing_code, wrap_with_pairing_code};
use wa_testserver::{ServerEvent, TestServerError};

#[test]
fn registration_gets_six_refs_and_a_qr_pairs_the_device() {
    let mut h = Harness::new();
    let mut d = Device::new();
    let c = h.connect_device(&d);
    let pd = h.expect(c, "iq");
    assert_eq!(pd.get_attr("type"), Some("set"));
    assert_eq!(pd.get_attr("xmlns"), Some("md"));
    let rs = refs(&pd);
    assert_eq!(rs.len(), 6);
    assert_eq!(
        rs.iter().collect::<std::collections::HashSet<_>>().len(),
        6,
        "refs differ"
    );
    // The companion acks the IQ; nothing else happens until someone scans.
    h.send(
        c,
        &Node::new("iq")
            .attr("id", pd.get_attr("id").unwrap().to_owned())
            .attr("type", "result")
            .attr("to", "s.whatsapp.net"),
    );
    assert!(h.recv(c).is_none());
    let request = h
        .server
        .scan_qr(h.now, &d.qr(&rs[0]), "+1 555 0100", Some("Ann"))
        .unwrap();
    h.step();
    let ps = h.expect(c, "iq");
    let device = ps.child("pair-success").unwrap().child("device").unwrap();
    assert_eq!(device.get_attr("jid"), Some("15550100:1@s.whatsapp.net"));
    assert!(device.get_attr("lid").unwrap().ends_with(":1@lid"));
    let reply = d
        .on_pair_success(&ps)
        .expect("the companion accepts the ADV identity");
    h.send(c, &reply);
    assert!(h.events.contains(&ServerEvent::Paired {
        request,
        jid: "15550100:1@s.whatsapp.net".into()
    }));
    let se = h.expect(c, "stream:error");
    assert_eq!(se.get_attr("code"), Some("515"));
    assert_eq!(h.closed(c), Some(false), "closed after the stream error");
    assert_eq!(
        h.server.devices("15550100").unwrap(),
        ["15550100:1@s.whatsapp.net"]
    );

    // The companion reconnects and logs in: success names its LID device.
    let c2 = h.connect_device(&d);
    let success = h.expect(c2, "success");
    assert_eq!(success.get_attr("lid"), d.lid.as_deref());
    let routing = h.expect(c2, "ib");
    assert!(routing.child("edge_routing").is_some());
    assert!(h.server.is_online("15550100:1@s.whatsapp.net"));
}

#[test]
fn refs_rotate_on_whatsapps_schedule_and_the_connection_ends_when_they_run_out() {
    let mut h = Harness::new();
    let d = Device::new();
    let c = h.connect_device(&d);
    let rs = refs(&h.expect(c, "iq"));
    // ref 0 lives 60 s, each later ref 20 s more.
    h.advance(59_999);
    assert!(h.closed(c).is_none());
    h.advance(1);
    assert_eq!(
        h.server.scan_qr(h.now, &d.qr(&rs[0]), "15550101", None),
        Err(TestServerError::QrExpired)
    );
    h.advance(19_999);
    // ref 1 is still valid at 79.999 s; scanning it would pair, so only check the schedule
    // by the next expiry.
    h.advance(1);
    assert_eq!(
        h.server.scan_qr(h.now, &d.qr(&rs[1]), "15550101", None),
        Err(TestServerError::QrExpired)
    );
    // The last ref expires at 60 + 5 * 20 = 160 s; then the server closes.
    h.advance_to(T0 + 159_999);
    assert!(h.closed(c).is_none());
    h.advance_to(T0 + 160_000);
    assert_eq!(h.closed(c), Some(false));
    assert_eq!(
        h.server.scan_qr(h.now, &d.qr(&rs[5]), "15550101", None),
        Err(TestServerError::UnknownRef)
    );
}

#[test]
fn a_later_ref_pairs_while_it_is_current() {
    let mut h = Harness::new();
    let mut d = Device::new();
    let c = h.connect_device(&d);
    let rs = refs(&h.expect(c, "iq"));
    h.advance(70_000);
    h.server
        .scan_qr(h.now, &d.qr(&rs[1]), "15550102", None)
        .unwrap();
    h.step();
    let ps = h.expect(c, "iq");
    assert!(d.on_pair_success(&ps).is_ok());
}

#[test]
fn scanning_refuses_bad_qrs() {
    let mut h = Harness::new();
    let d = Device::new();
    let other = Device::new();
    let c = h.connect_device(&d);
    let rs = refs(&h.expect(c, "iq"));
    let err =
        |h: &mut Harness, qr: &str| h.server.scan_qr(h.now, qr, "15550103", None).unwrap_err();
    assert_eq!(err(&mut h, &d.qr("2@nope")), TestServerError::UnknownRef);
    assert_eq!(
        err(&mut h, &other.qr(&rs[0])),
        TestServerError::QrKeyMismatch
    );
    assert!(matches!(err(&mut h, "garbage"), TestServerError::BadQr(_)));
    assert!(matches!(
        h.server.scan_qr(h.now, &d.qr(&rs[0]), "12ab", None),
        Err(TestServerError::BadPhoneNumber(_))
    ));
    // A second scan while the first pairing waits for the companion is refused.
    h.server
        .scan_qr(h.now, &d.qr(&rs[0]), "15550103", None)
        .unwrap();
    assert!(matches!(
        h.server.scan_qr(h.now, &d.qr(&rs[0]), "15550103", None),
        Err(TestServerError::PairingFailed(_))
    ));
}

#[test]
fn a_bad_device_signature_fails_the_pairing_and_registers_nothing() {
    let mut h = Harness::new();
    let mut d = Device::new();
    let c = h.connect_device(&d);
    let rs = refs(&h.expect(c, "iq"));
    let request = h
        .server
        .scan_qr(h.now, &d.qr(&rs[0]), "15550104", None)
        .unwrap();
    h.step();
    let ps = h.expect(c, "iq");
    // The companion signs with another identity key than the one it registered.
    d.identity = KeyPair::generate();
    let reply = d.on_pair_success(&ps);
    assert!(
        reply.is_err(),
        "our companion checks the account signature too"
    );
    // A reply whose device identity is not a signed identity at all.
    let forged = Node::new("iq")
        .attr("type", "result")
        .attr("id", ps.get_attr("id").unwrap().to_owned())
        .children(vec![Node::new("pair-device-sign").children(vec![
            Node::new("device-identity").attr("key-index", "1").bytes(vec![1, 2, 3]),
        ])]);
    h.send(c, &forged);
    assert!(h.events.iter().any(|e| matches!(
        e,
        ServerEvent::PairingFailed { request: r, error: TestServerError::PairingFailed(_) } if *r == request
    )));
    assert_eq!(h.expect(c, "stream:error").get_attr("code"), Some("500"));
    assert!(h.server.devices("15550104").unwrap().is_empty());
}

#[test]
fn the_companion_refusing_pair_success_fails_the_request() {
    let mut h = Harness::new();
    let d = Device::new();
    let c = h.connect_device(&d);
    let rs = refs(&h.expect(c, "iq"));
    let request = h
        .server
        .scan_qr(h.now, &d.qr(&rs[0]), "15550105", None)
        .unwrap();
    h.step();
    let ps = h.expect(c, "iq");
    h.send(
        c,
        &Node::new("iq")
            .attr("type", "error")
            .attr("id", ps.get_attr("id").unwrap().to_owned())
            .children(vec![
                Node::new("error")
                    .attr("code", "401")
                    .attr("text", "hmac-mismatch"),
            ]),
    );
    assert!(h.events.iter().any(|e| matches!(
        e,
        ServerEvent::PairingFailed { request: r, error: TestServerError::PairingFailed(m) }
            if *r == request && m.contains("hmac-mismatch")
    )));
}

#[test]
fn a_companion_that_never_signs_times_out() {
    let mut h = Harness::new();
    let d = Device::new();
    let c = h.connect_device(&d);
    let rs = refs(&h.expect(c, "iq"));
    let request = h
        .server
        .scan_qr(h.now, &d.qr(&rs[0]), "15550106", None)
        .unwrap();
    h.advance(30_000);
    assert!(h.events.contains(&ServerEvent::PairingFailed {
        request,
        error: TestServerError::PairingTimeout
    }));
    assert!(h.closed(c).is_some());
}

#[test]
fn a_companion_going_away_mid_pairing_fails_the_request() {
    let mut h = Harness::new();
    let d = Device::new();
    let c = h.connect_device(&d);
    let rs = refs(&h.expect(c, "iq"));
    let request = h
        .server
        .scan_qr(h.now, &d.qr(&rs[0]), "15550107", None)
        .unwrap();
    h.hang_up(c);
    assert!(h.events.iter().any(|e| matches!(
        e,
        ServerEvent::PairingFailed { request: r, .. } if *r == request
    )));
}

/// The companion's side of code pairing: `companion_hello`, then `companion_finish` once the
/// phone's `primary_hello` arrives.
fn code_pairing(
    h: &mut Harness,
    d: &mut Device,
    number: &str,
    typed: &str,
    code: &str,
) -> (wa_testserver::ConnId, Result<u64, TestServerError>) {
    let c = h.connect_device(d);
    h.expect(c, "iq");
    let companion_eph = KeyPair::generate();
    let wrapped = wrap_with_pairing_code(code, &[7; 32], &[8; 16], &companion_eph.public);
    h.send(
        c,
        &iq("hello", "md", "set").children(vec![
            Node::new("link_code_companion_reg")
                .attr("jid", format!("{number}@s.whatsapp.net"))
                .attr("stage", "companion_hello")
                .attr("should_show_push_notification", "true")
                .children(vec![
                    Node::new("link_code_pairing_wrapped_companion_ephemeral_pub")
                        .bytes(wrapped.to_vec()),
                    Node::new("companion_server_auth_key_pub").bytes(d.noise.public.to_vec()),
                    Node::new("companion_platform_id").text("1"),
                    Node::new("companion_platform_display").text("Chrome (Mac OS)"),
                    Node::new("link_code_pairing_nonce").text("0"),
                ]),
        ]),
    );
    let res = h.expect(c, "iq");
    assert_eq!(res.get_attr("type"), Some("result"));
    let pairing_ref = res
        .child("link_code_companion_reg")
        .and_then(|r| r.child("link_code_pairing_ref"))
        .and_then(Node::content_bytes)
        .unwrap()
        .to_vec();
    let request = h.server.enter_pairing_code(h.now, number, typed);
    let Ok(request) = request else {
        return (c, request);
    };
    h.step();
    let n = h.expect(c, "notification");
    assert_eq!(n.get_attr("type"), Some("link_code_companion_reg"));
    let reg = n.child("link_code_companion_reg").unwrap();
    let bytes = |t: &str| reg.child(t).and_then(Node::content_bytes).unwrap().to_vec();
    assert_eq!(bytes("link_code_pairing_ref"), pairing_ref);
    let primary_identity: [u8; 32] = bytes("primary_identity_pub").try_into().unwrap();
    // Baileys: unwrap the phone's key with our code, seal the key bundle, derive the secret.
    let primary_eph = unwrap_with_pairing_code(
        code,
        &bytes("link_code_pairing_wrapped_primary_ephemeral_pub"),
    )
    .unwrap();
    let shared = wa_crypto::curve::agree(&companion_eph.private, &primary_eph);
    let salt = [1u8; 32];
    let iv = [2u8; 12];
    let random = [3u8; 32];
    let mut key = [0u8; 32];
    wa_crypto::kdf::hkdf_sha256_into(
        &shared,
        &salt,
        b"link_code_pairing_key_bundle_encryption_key",
        &mut key,
    )
    .unwrap();
    let mut bundle = d.identity.public.to_vec();
    bundle.extend_from_slice(&primary_identity);
    bundle.extend_from_slice(&random);
    let mut sealed = salt.to_vec();
    sealed.extend_from_slice(&iv);
    sealed.extend_from_slice(&wa_crypto::cipher::gcm_encrypt(&key, &iv, &[], &bundle).unwrap());
    let identity_shared = wa_crypto::curve::agree(&d.identity.private, &primary_identity);
    let mut input = shared.to_vec();
    input.extend_from_slice(&identity_shared);
    input.extend_from_slice(&random);
    wa_crypto::kdf::hkdf_sha256_into(&input, &[], b"adv_secret", &mut d.adv_secret).unwrap();
    h.send(
        c,
        &iq("finish", "md", "set").children(vec![
            Node::new("link_code_companion_reg")
                .attr("jid", format!("{number}@s.whatsapp.net"))
                .attr("stage", "companion_finish")
                .children(vec![
                    Node::new("link_code_pairing_wrapped_key_bundle").bytes(sealed),
                    Node::new("companion_identity_public").bytes(d.identity.public.to_vec()),
                    Node::new("link_code_pairing_ref").bytes(pairing_ref),
                ]),
        ]),
    );
    (c, Ok(request))
}

#[test]
fn pairing_by_code_runs_the_primary_side_of_the_link_code_crypto() {
    let mut h = Harness::new();
    let mut d = Device::new();
    let (c, request) = code_pairing(&mut h, &mut d, "15550110", "ABCD-2345", "ABCD2345");
    let request = request.unwrap();
    let finish = h.expect(c, "iq");
    assert_eq!(finish.get_attr("type"), Some("result"));
    let ps = h.expect(c, "iq");
    // The HMAC is under the secret both sides derived from the code exchange.
    let reply = d.on_pair_success(&ps).expect("pair-success authenticates");
    h.send(c, &reply);
    assert!(h.events.contains(&ServerEvent::Paired {
        request,
        jid: "15550110:1@s.whatsapp.net".into()
    }));
    assert_eq!(h.expect(c, "stream:error").get_attr("code"), Some("515"));
}

#[test]
fn a_mistyped_pairing_code_fails() {
    let mut h = Harness::new();
    let mut d = Device::new();
    let (c, request) = code_pairing(&mut h, &mut d, "15550111", "ABCD2346", "ABCD2345");
    let request = request.unwrap();
    let finish = h.expect(c, "iq");
    assert_eq!(finish.get_attr("type"), Some("error"));
    assert!(h.events.contains(&ServerEvent::PairingFailed {
        request,
        error: TestServerError::PairingCodeMismatch
    }));
    assert!(h.server.devices("15550111").unwrap().is_empty());
}

#[test]
fn a_code_without_a_request_is_refused() {
    let mut h = Harness::new();
    assert!(matches!(
        h.server.enter_pairing_code(h.now, "15550112", "ABCD2345"),
        Err(TestServerError::NoPairingCodeRequest(_))
    ));
}

#[test]
fn pairing_twice_gives_a_second_device_number() {
    let mut h = Harness::new();
    let mut a = Device::new();
    let mut b = Device::new();
    assert_eq!(h.pair(&mut a, "15550120"), "15550120:1@s.whatsapp.net");
    assert_eq!(h.pair(&mut b, "15550120"), "15550120:2@s.whatsapp.net");
    assert_eq!(h.server.devices("15550120").unwrap().len(), 2);
}
