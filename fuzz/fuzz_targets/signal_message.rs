//! Hostile bytes through every Signal entry point that reads them: the four wire decoders,
//! decryption against a real session and sender key (so inputs that get past parsing reach the
//! ratchet, the counters and the MAC), and the stored record formats. Nothing may panic, and a
//! failed decryption must leave the record as it was.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wa_signal::keys::{generate_signed_pre_key, PreKeyBundle};
use wa_signal::session::{self, PreKeyMaterial};
use wa_signal::{group, wire, KeyPair, LocalIdentity, SenderKeyRecord, SessionRecord};

struct Fixture {
    bob: LocalIdentity,
    signed: KeyPair,
    pre: KeyPair,
    /// Bob's record after reading Alice's first message and answering.
    session: SessionRecord,
    /// A reader's sender-key record for Alice, after one message.
    sender_key: SenderKeyRecord,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let alice = LocalIdentity::new(KeyPair::from_private([1; 32]), 1);
        let bob = LocalIdentity::new(KeyPair::from_private([2; 32]), 2);
        let spk = generate_signed_pre_key(&bob.key_pair, 1);
        let pre = KeyPair::from_private([3; 32]);
        let bundle = PreKeyBundle {
            registration_id: 2,
            identity_key: bob.public_prefixed().to_vec(),
            signed_pre_key_id: 1,
            signed_pre_key: spk.key_pair.public_prefixed().to_vec(),
            signed_pre_key_signature: spk.signature.to_vec(),
            pre_key: Some((7, pre.public_prefixed().to_vec())),
        };
        let mut a = SessionRecord::new();
        session::init_outgoing(&mut a, &alice, &bundle, 0).unwrap();
        let first = session::encrypt(&mut a, &alice, b"hi").unwrap();
        let frame = wire::parse_pre_key(&first.body).unwrap();
        let mut b = SessionRecord::new();
        let keys = PreKeyMaterial { pre_key: Some(&pre), signed_pre_key: Some(&spk.key_pair) };
        session::decrypt_pre_key(&mut b, &bob, &frame, keys, 0).unwrap();
        session::encrypt(&mut b, &bob, b"yo").unwrap();
        let mut own = SenderKeyRecord::new();
        let skdm = group::distribution_message(&mut own);
        let mut reader = SenderKeyRecord::new();
        group::process_distribution(&mut reader, &skdm).unwrap();
        let m = group::encrypt(&mut own, b"g").unwrap();
        group::decrypt(&mut reader, &m).unwrap();
        Fixture { bob, signed: spk.key_pair, pre, session: b, sender_key: reader }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, input)) = data.split_first() else {
        return;
    };
    let f = fixture();
    match mode % 6 {
        0 => {
            let _ = wire::parse_whisper(input);
            let _ = wire::parse_pre_key(input);
            let _ = wire::parse_sender_key_message(input);
            let _ = wire::parse_distribution(input);
        }
        1 => {
            let mut r = f.session.clone();
            if session::decrypt_whisper(&mut r, &f.bob, input, 1).is_err() {
                assert!(r == f.session, "a failed decryption changed the record");
            }
        }
        2 => {
            if let Ok(frame) = wire::parse_pre_key(input) {
                let mut r = f.session.clone();
                let keys = PreKeyMaterial { pre_key: Some(&f.pre), signed_pre_key: Some(&f.signed) };
                if session::decrypt_pre_key(&mut r, &f.bob, &frame, keys, 1).is_err() {
                    assert!(r == f.session, "a failed prekey message changed the record");
                }
            }
        }
        3 => {
            let mut r = f.sender_key.clone();
            if group::decrypt(&mut r, input).is_err() {
                assert!(r == f.sender_key, "a failed group decryption changed the record");
            }
        }
        4 => {
            let mut r = f.sender_key.clone();
            if group::process_distribution(&mut r, input).is_err() {
                assert!(r == f.sender_key);
            }
        }
        _ => {
            if let Ok(r) = SessionRecord::from_stored(input) {
                let _ = SessionRecord::from_json(&r.to_json()).expect("our JSON reads back");
                let _ = SessionRecord::from_binary(&r.to_binary()).expect("our binary reads back");
            }
            if let Ok(r) = SenderKeyRecord::from_stored(input) {
                let _ = SenderKeyRecord::from_json(&r.to_json()).expect("our JSON reads back");
            }
        }
    }
});
