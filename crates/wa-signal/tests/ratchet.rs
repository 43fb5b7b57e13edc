//! Ratchet edge cases between two of our own devices. (Interop with libsignal-node and Baileys
//! is in the JS tests; these pin down the behaviour of the record operations.)

mod common;

use common::*;
use wa_signal::protocol;
use wa_signal::session::{MAX_CLOSED_SESSIONS, MAX_RECEIVING_CHAINS};
use wa_signal::{Encrypted, ErrorKind, MessageKind};

fn code(r: Result<wa_signal::Decrypted, wa_signal::SignalError>) -> (String, &'static str) {
    let e = r.expect_err("should fail");
    (e.address.clone(), e.code())
}

#[test]
fn sessions_with_and_without_one_time_prekey() {
    for one_time in [true, false] {
        let p = pair(one_time);
        let m = encrypt(&p.alice, &p.b, b"hello");
        kind_is(&m, MessageKind::PreKey);
        assert!(p.bob.store.has_pre_key(1));
        decrypt_ok(&p.bob, &p.a, &m, b"hello");
        // The one-time prekey is consumed exactly when it was used.
        assert_eq!(p.bob.store.has_pre_key(1), !one_time);
        let r = encrypt(&p.bob, &p.a, b"hi");
        kind_is(&r, MessageKind::Whisper);
        decrypt_ok(&p.alice, &p.b, &r, b"hi");
        // Alice's pending prekey is gone after the first reply.
        let m2 = encrypt(&p.alice, &p.b, b"again");
        kind_is(&m2, MessageKind::Whisper);
        decrypt_ok(&p.bob, &p.a, &m2, b"again");
        // Identities were remembered on both sides.
        assert_eq!(
            p.bob.store.identity(&p.a).unwrap(),
            p.alice.identity.public_prefixed()
        );
        assert_eq!(
            p.alice.store.identity(&p.b).unwrap(),
            p.bob.identity.public_prefixed()
        );
        assert_forms_round_trip(&p.alice.store.session(&p.b).unwrap());
        assert_forms_round_trip(&p.bob.store.session(&p.a).unwrap());
    }
}

#[test]
fn repeated_prekey_messages_reuse_one_session() {
    let p = pair(true);
    let m1 = encrypt(&p.alice, &p.b, b"1");
    let m2 = encrypt(&p.alice, &p.b, b"2");
    kind_is(&m2, MessageKind::PreKey);
    // Delivered in reverse: the second sets the session up, the first finds it.
    decrypt_ok(&p.bob, &p.a, &m2, b"2");
    decrypt_ok(&p.bob, &p.a, &m1, b"1");
    let r = p.bob.store.session(&p.a).unwrap();
    assert_eq!(r.sessions.len(), 1);
    // Replaying the first again is a duplicate, not a new session.
    let (who, c) = code(decrypt(&p.bob, &p.a, &m1));
    assert_eq!((who.as_str(), c), ("alice.0", "ERR_WA_SIGNAL_DUPLICATE"));
}

#[test]
fn out_of_order_and_skipped_keys_across_ratchet_steps() {
    let p = pair(false);
    let first = encrypt(&p.alice, &p.b, b"a0");
    decrypt_ok(&p.bob, &p.a, &first, b"a0");
    let a: Vec<Encrypted> = (1..=5)
        .map(|i| encrypt(&p.alice, &p.b, format!("a{i}").as_bytes()))
        .collect();
    // Bob sees a3 only, answers; Alice steps her ratchet and sends a6.
    decrypt_ok(&p.bob, &p.a, &a[2], b"a3");
    let r = encrypt(&p.bob, &p.a, b"b");
    decrypt_ok(&p.alice, &p.b, &r, b"b");
    let a6 = encrypt(&p.alice, &p.b, b"a6");
    decrypt_ok(&p.bob, &p.a, &a6, b"a6");
    // The rest of the old chain still reads, in any order.
    for i in [4, 0, 3, 1] {
        decrypt_ok(&p.bob, &p.a, &a[i], format!("a{}", i + 1).as_bytes());
    }
    let rec = p.bob.store.session(&p.a).unwrap();
    assert_eq!(rec.message_key_count(), 0);
    assert_forms_round_trip(&rec);
}

#[test]
fn two_thousand_limit_and_no_corruption() {
    let p = pair(false);
    let hello = encrypt(&p.alice, &p.b, b"x");
    decrypt_ok(&p.bob, &p.a, &hello, b"x");
    let msgs: Vec<Encrypted> = (1..=2002).map(|_| encrypt(&p.alice, &p.b, b"m")).collect();
    // Chain is at 0; message 2001 is 2001 ahead: refused, and the session is unchanged.
    let before = p.bob.store.session(&p.a).unwrap();
    let e = decrypt(&p.bob, &p.a, &msgs[2000]).unwrap_err();
    assert_eq!(e.code(), "ERR_WA_SIGNAL_FUTURE_LIMIT");
    assert_eq!(e.address, "alice.0");
    assert!(matches!(
        e.kind,
        ErrorKind::TooFarInFuture { jump: 2001, .. }
    ));
    assert_eq!(p.bob.store.session(&p.a).unwrap(), before);
    // 2000 ahead (message 1,999 after the next one) is fine, and the gap reads afterwards.
    decrypt_ok(&p.bob, &p.a, &msgs[1999], b"m");
    assert_eq!(p.bob.store.session(&p.a).unwrap().message_key_count(), 1999);
    decrypt_ok(&p.bob, &p.a, &msgs[0], b"m");
    decrypt_ok(&p.bob, &p.a, &msgs[1998], b"m");
    decrypt_ok(&p.bob, &p.a, &msgs[2000], b"m");
}

#[test]
fn forged_and_broken_messages_leave_the_session_intact() {
    let p = pair(false);
    let hello = encrypt(&p.alice, &p.b, b"x");
    decrypt_ok(&p.bob, &p.a, &hello, b"x");
    let reply = encrypt(&p.bob, &p.a, b"y");
    decrypt_ok(&p.alice, &p.b, &reply, b"y");
    let good = encrypt(&p.alice, &p.b, b"good");
    kind_is(&good, MessageKind::Whisper);
    let before = p.bob.store.session(&p.a).unwrap();
    let commits = p.bob.store.commits();
    let variant = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = good.body.clone();
        f(&mut b);
        Encrypted {
            kind: good.kind,
            body: b,
        }
    };
    let cases: Vec<(Encrypted, &str)> = vec![
        (
            variant(&|b| *b.last_mut().unwrap() ^= 1),
            "ERR_WA_SIGNAL_BAD_MAC",
        ),
        (
            variant(&|b| {
                let n = b.len();
                b[n - 12] ^= 1
            }),
            "ERR_WA_SIGNAL_BAD_MAC",
        ),
        (variant(&|b| b[40] ^= 1), "ERR_WA_SIGNAL_INVALID_MESSAGE"),
        (variant(&|b| b.truncate(8)), "ERR_WA_SIGNAL_INVALID_MESSAGE"),
        (
            variant(&|b| b.truncate(30)),
            "ERR_WA_SIGNAL_INVALID_MESSAGE",
        ),
        (variant(&|b| b[0] = 0x43), "ERR_WA_SIGNAL_VERSION"),
        (variant(&|b| b[0] = 0x22), "ERR_WA_SIGNAL_VERSION"),
        (variant(&|b| b.clear()), "ERR_WA_SIGNAL_INVALID_MESSAGE"),
        (
            Encrypted {
                kind: MessageKind::PreKey,
                body: good.body.clone(),
            },
            "ERR_WA_SIGNAL_INVALID_MESSAGE",
        ),
    ];
    for (i, (m, want)) in cases.into_iter().enumerate() {
        let r = decrypt(&p.bob, &p.a, &m);
        assert!(r.is_err(), "case {i} decrypted");
        let (who, c) = code(r);
        assert_eq!((who.as_str(), c), ("alice.0", want), "case {i}");
    }
    assert_eq!(p.bob.store.commits(), commits, "failures commit nothing");
    assert_eq!(p.bob.store.session(&p.a).unwrap(), before);
    decrypt_ok(&p.bob, &p.a, &good, b"good");
    let (_, c) = code(decrypt(&p.bob, &p.a, &good));
    assert_eq!(c, "ERR_WA_SIGNAL_DUPLICATE");
    // A message from someone we have no session with.
    let (who, c) = code(decrypt(&p.bob, &addr("carol"), &good));
    assert_eq!((who.as_str(), c), ("carol.0", "ERR_WA_SIGNAL_NO_SESSION"));
}

#[test]
fn missing_prekeys_are_typed_and_change_nothing() {
    let p = pair(true);
    let m = encrypt(&p.alice, &p.b, b"x");
    let bob2 = Device::bare(22); // Bob reinstalled: none of the keys Alice used exist.
    let commits = bob2.store.commits();
    let e = decrypt(&bob2, &p.a, &m).unwrap_err();
    assert_eq!(e.code(), "ERR_WA_SIGNAL_NO_SIGNED_PREKEY");
    assert!(e.to_string().contains("alice.0"));
    assert_eq!(bob2.store.commits(), commits);
    // Signed prekey present, one-time prekey gone.
    let bob3 = Device::bare(22);
    bob3.store
        .add_signed_pre_key(1, p.bob.signed.key_pair.clone());
    let e = decrypt(&bob3, &p.a, &m).unwrap_err();
    assert_eq!(e.kind, ErrorKind::MissingPreKey(1));
    assert_eq!(e.code(), "ERR_WA_SIGNAL_NO_PREKEY");
    assert!(bob3.store.session(&p.a).is_none());
    // The real Bob still reads it.
    decrypt_ok(&p.bob, &p.a, &m, b"x");
}

#[test]
fn bundle_with_a_bad_signature_is_refused() {
    let alice = Device::new(1);
    let bob = Device::new(2);
    let mut bundle = bob.bundle(Some(0));
    bundle.signed_pre_key_signature[3] ^= 1;
    let e = now(protocol::process_bundle(
        &alice.store,
        &addr("bob"),
        &bundle,
        NOW,
    ))
    .unwrap_err();
    assert_eq!(e.code(), "ERR_WA_SIGNAL_BAD_SIGNATURE");
    bundle = bob.bundle(None);
    bundle.identity_key.truncate(20);
    let e = now(protocol::process_bundle(
        &alice.store,
        &addr("bob"),
        &bundle,
        NOW,
    ))
    .unwrap_err();
    assert_eq!(e.code(), "ERR_WA_SIGNAL_INVALID_KEY");
    assert!(alice.store.session(&addr("bob")).is_none());
}

#[test]
fn simultaneous_initiation_converges_by_promotion() {
    let alice = Device::new(1);
    let bob = Device::new(2);
    let (a, b) = (addr("alice"), addr("bob"));
    now(protocol::process_bundle(
        &alice.store,
        &b,
        &bob.bundle(Some(0)),
        NOW,
    ))
    .unwrap();
    now(protocol::process_bundle(
        &bob.store,
        &a,
        &alice.bundle(Some(0)),
        NOW,
    ))
    .unwrap();
    let from_a = encrypt(&alice, &b, b"a");
    let from_b = encrypt(&bob, &a, b"b");
    // Each side now holds two sessions; each receives the other's pkmsg.
    decrypt_ok(&bob, &a, &from_a, b"a");
    decrypt_ok(&alice, &b, &from_b, b"b");
    // Bob's open session is now the one Alice started; Alice's is the one Bob started.
    // Whatever each sends next, the other reads it, and they settle on one session.
    for i in 0..6 {
        let m = encrypt(&alice, &b, format!("a{i}").as_bytes());
        decrypt_ok(&bob, &a, &m, format!("a{i}").as_bytes());
        let m = encrypt(&bob, &a, format!("b{i}").as_bytes());
        decrypt_ok(&alice, &b, &m, format!("b{i}").as_bytes());
    }
    let ra = alice.store.session(&b).unwrap();
    let rb = bob.store.session(&a).unwrap();
    assert_eq!(ra.sessions.len(), 2);
    assert_eq!(
        ra.open_session().unwrap().index.base_key,
        rb.open_session().unwrap().index.base_key,
        "both sides send with the same session"
    );
}

#[test]
fn an_older_session_that_decrypts_is_promoted() {
    let p = pair(false);
    let m = encrypt(&p.alice, &p.b, b"x");
    decrypt_ok(&p.bob, &p.a, &m, b"x");
    let r = encrypt(&p.bob, &p.a, b"y");
    decrypt_ok(&p.alice, &p.b, &r, b"y");
    let late = encrypt(&p.alice, &p.b, b"late");
    // Alice starts over from Bob's bundle; her pkmsg gives Bob a second, open session.
    now(protocol::process_bundle(
        &p.alice.store,
        &p.b,
        &p.bob.bundle(Some(1)),
        NOW + 5,
    ))
    .unwrap();
    let fresh = encrypt(&p.alice, &p.b, b"fresh");
    decrypt_ok(&p.bob, &p.a, &fresh, b"fresh");
    let rec = p.bob.store.session(&p.a).unwrap();
    let old = rec.sessions.iter().position(|s| !s.is_open()).unwrap();
    // A late message on the old session decrypts and makes it the open one again.
    decrypt_ok(&p.bob, &p.a, &late, b"late");
    let rec = p.bob.store.session(&p.a).unwrap();
    assert!(rec.sessions[old].is_open());
    assert_eq!(rec.sessions.iter().filter(|s| s.is_open()).count(), 1);
    // Bob answers on it, and Alice (who holds it closed) reads it.
    let r = encrypt(&p.bob, &p.a, b"r");
    decrypt_ok(&p.alice, &p.b, &r, b"r");
}

#[test]
fn our_unanswered_session_is_not_demoted_by_a_late_message() {
    let p = pair(false);
    let m = encrypt(&p.alice, &p.b, b"x");
    decrypt_ok(&p.bob, &p.a, &m, b"x");
    let late = encrypt(&p.bob, &p.a, b"late");
    // Alice starts over and sends on the new session before the late message arrives.
    now(protocol::process_bundle(
        &p.alice.store,
        &p.b,
        &p.bob.bundle(Some(1)),
        NOW + 5,
    ))
    .unwrap();
    let fresh = encrypt(&p.alice, &p.b, b"fresh");
    decrypt_ok(&p.alice, &p.b, &late, b"late");
    let rec = p.alice.store.session(&p.b).unwrap();
    let open = rec.open_session().unwrap();
    assert!(
        open.pending_pre_key.is_some(),
        "still the new, pending session"
    );
    // Her next message is still a pkmsg on the new session, which Bob adopts.
    let next = encrypt(&p.alice, &p.b, b"next");
    kind_is(&next, MessageKind::PreKey);
    decrypt_ok(&p.bob, &p.a, &fresh, b"fresh");
    decrypt_ok(&p.bob, &p.a, &next, b"next");
    let r = encrypt(&p.bob, &p.a, b"r");
    decrypt_ok(&p.alice, &p.b, &r, b"r");
}

#[test]
fn records_stay_bounded() {
    let p = pair(false);
    let m = encrypt(&p.alice, &p.b, b"x");
    decrypt_ok(&p.bob, &p.a, &m, b"x");
    let mut sizes = Vec::new();
    for i in 0..300 {
        let m = encrypt(&p.alice, &p.b, b"ping");
        decrypt_ok(&p.bob, &p.a, &m, b"ping");
        let r = encrypt(&p.bob, &p.a, b"pong");
        decrypt_ok(&p.alice, &p.b, &r, b"pong");
        if i % 50 == 49 {
            sizes.push(p.bob.store.session(&p.a).unwrap().to_json().len());
        }
    }
    for rec in [
        p.alice.store.session(&p.b).unwrap(),
        p.bob.store.session(&p.a).unwrap(),
    ] {
        for s in &rec.sessions {
            let receiving = s
                .chains
                .iter()
                .filter(|c| c.chain_type == wa_signal::session::CHAIN_RECEIVING)
                .count();
            assert!(receiving <= MAX_RECEIVING_CHAINS);
        }
    }
    // Constant size after 300 direction changes (libsignal-node grows ~52 B per change).
    assert!(sizes.windows(2).all(|w| w[0] == w[1]), "{sizes:?}");
    // Closed sessions are capped too.
    for i in 0..(MAX_CLOSED_SESSIONS as i64 + 5) {
        now(protocol::process_bundle(
            &p.alice.store,
            &p.b,
            &p.bob.bundle(None),
            NOW + i,
        ))
        .unwrap();
    }
    let rec = p.alice.store.session(&p.b).unwrap();
    assert_eq!(rec.sessions.len(), MAX_CLOSED_SESSIONS + 1);
    assert_eq!(rec.sessions.iter().filter(|s| s.is_open()).count(), 1);
    assert_forms_round_trip(&rec);
}

#[test]
fn identity_change_starts_over_cleanly() {
    let p = pair(false);
    let m = encrypt(&p.alice, &p.b, b"x");
    decrypt_ok(&p.bob, &p.a, &m, b"x");
    // Alice reinstalls: new identity, same address. Her pkmsg replaces Bob's old sessions.
    let alice2 = Device::new(33);
    now(protocol::process_bundle(
        &alice2.store,
        &p.b,
        &p.bob.bundle(Some(1)),
        NOW,
    ))
    .unwrap();
    let m = encrypt(&alice2, &p.b, b"new me");
    let d = decrypt(&p.bob, &p.a, &m).unwrap();
    assert!(d.identity_changed);
    assert_eq!(d.plaintext, b"new me");
    let rec = p.bob.store.session(&p.a).unwrap();
    assert_eq!(rec.sessions.len(), 1);
    assert_eq!(
        p.bob.store.identity(&p.a).unwrap(),
        alice2.identity.public_prefixed()
    );
    let r = encrypt(&p.bob, &p.a, b"welcome back");
    decrypt_ok(&alice2, &p.b, &r, b"welcome back");
    // The other direction: Bob reinstalls and Alice fetches his new bundle.
    let bob2 = Device::new(44);
    now(protocol::process_bundle(
        &alice2.store,
        &p.b,
        &bob2.bundle(None),
        NOW,
    ))
    .unwrap();
    assert_eq!(alice2.store.session(&p.b).unwrap().sessions.len(), 1);
    let m = encrypt(&alice2, &p.b, b"hi bob2");
    let d = decrypt(&bob2, &p.a, &m).unwrap();
    assert!(!d.identity_changed);
    assert_eq!(d.plaintext, b"hi bob2");
}

#[test]
fn responder_cannot_send_before_the_first_message() {
    let p = pair(false);
    let e = now(protocol::encrypt(&p.bob.store, &p.a, b"x")).unwrap_err();
    assert_eq!(e.code(), "ERR_WA_SIGNAL_NO_SESSION");
    assert_eq!(e.address, "alice.0");
}

/// The fan-out pieces (read, pure work, one batch) give what process_bundle + encrypt give:
/// new sessions from bundles, existing sessions used as they are, a changed identity starting
/// afresh, everything written in one commit.
#[test]
fn fan_out_starts_sessions_encrypts_and_commits_once() {
    let alice = Device::new(11);
    let bob = Device::new(22);
    let carol = Device::new(33);
    let (a, b, c) = (addr("alice"), addr("bob"), addr("carol"));
    // Alice already talks to Carol.
    now(protocol::process_bundle(
        &alice.store,
        &c,
        &carol.bundle(Some(0)),
        NOW,
    ))
    .unwrap();
    let first = encrypt(&alice, &c, b"earlier");
    decrypt_ok(&carol, &a, &first, b"earlier");
    let commits = alice.store.commits();

    let local = now(wa_signal::store::IdentityKeyStore::local_identity(
        &alice.store,
    ))
    .unwrap();
    let devices = vec![
        now(protocol::fan_out_device(
            &alice.store,
            b.clone(),
            Some(bob.bundle(Some(1))),
        ))
        .unwrap(),
        now(protocol::fan_out_device(&alice.store, c.clone(), None)).unwrap(),
    ];
    let results: Vec<_> = devices
        .into_iter()
        .map(|d| protocol::fan_out_one(&local, d, b"to everyone", NOW).unwrap())
        .collect();
    assert_eq!(
        results[0].identity.as_deref(),
        Some(&bob.identity.public_prefixed()[..])
    );
    assert_eq!(
        results[1].identity, None,
        "Carol's identity is known already"
    );
    let batch = protocol::fan_out_batch(&results);
    assert_eq!((batch.sessions.len(), batch.identities.len()), (2, 1));
    now(wa_signal::store::StoreCommit::commit(&alice.store, batch)).unwrap();
    assert_eq!(
        alice.store.commits(),
        commits + 1,
        "one write for the whole fan-out"
    );

    kind_is(&results[0].encrypted, MessageKind::PreKey);
    decrypt_ok(&bob, &a, &results[0].encrypted, b"to everyone");
    decrypt_ok(&carol, &a, &results[1].encrypted, b"to everyone");
    // The sessions as stored go on.
    let next = encrypt(&alice, &b, b"next");
    decrypt_ok(&bob, &a, &next, b"next");

    // Bob reinstalled: a bundle with another identity starts a new record.
    let bob2 = Device::new(23);
    let d = now(protocol::fan_out_device(
        &alice.store,
        b.clone(),
        Some(bob2.bundle(Some(0))),
    ))
    .unwrap();
    let r = protocol::fan_out_one(&local, d, b"after reinstall", NOW).unwrap();
    assert_eq!(
        r.identity.as_deref(),
        Some(&bob2.identity.public_prefixed()[..])
    );
    assert_eq!(r.record.sessions.len(), 1, "the old sessions are not kept");
    decrypt_ok(&bob2, &a, &r.encrypted, b"after reinstall");

    // No session and no bundle: the error names the device.
    let d = now(protocol::fan_out_device(&alice.store, addr("dave"), None)).unwrap();
    let e = protocol::fan_out_one(&local, d, b"x", NOW).unwrap_err();
    assert_eq!(e.address, addr("dave").to_string());
}
