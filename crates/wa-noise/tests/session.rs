//! Our client against our responder, in memory: the handshake, transport frames of many sizes
//! cut into websocket messages every which way, and each way a peer can misbehave.
mod common;

use common::*;
use proptest::prelude::*;
use wa_crypto::KeyPair;
use wa_noise::cert::{mint_chain_with, sign_certificate};
use wa_noise::{
    CertError, ClientConfig, Event, MintOptions, NoiseError, NoiseSession, ResponderConfig,
    mint_chain,
};
use wa_proto::cert_chain::noise_certificate::Details;
use wa_proto::{ClientPayload, ProtoMessage};

/// Deterministic pseudo-random numbers for sizes and cut points (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Sizes spread over 1 B .. `max` on a log scale, so small and large frames both occur.
    fn size(&mut self, max: u64) -> usize {
        let bits = 64 - max.leading_zeros() as u64;
        let b = 1 + self.below(bits);
        (1 + self.below(1u64 << b)).min(max) as usize
    }
}

#[test]
fn handshake_reports_both_identities() {
    let f = Fixture::new();
    let (mut c, mut r) = f.pair();
    let hello = c.poll_transmit().unwrap();
    assert_eq!(
        &hello[..4],
        b"WA\x06\x03",
        "first message starts with the header"
    );
    r.handle_data(NOW, &hello).unwrap();
    assert!(r.poll_event().is_none());
    deliver(&mut r, &mut c).unwrap();
    match c.poll_event() {
        Some(Event::ServerVerified(id)) => {
            assert_eq!(id.server_static, f.server.public);
            assert_eq!(id.chain.leaf_serial, 2);
        }
        other => panic!("expected ServerVerified, got {other:?}"),
    }
    assert!(c.is_established());
    deliver(&mut c, &mut r).unwrap();
    match r.poll_event() {
        Some(Event::ClientFinished(id)) => {
            assert_eq!(id.client_static, f.client_static.public);
            assert_eq!(id.payload, f.payload);
            assert_eq!(id.payload_bytes, f.payload.encode_to_vec());
        }
        other => panic!("expected ClientFinished, got {other:?}"),
    }
    assert_eq!(r.intro().unwrap().routing_info, None);
}

#[test]
fn routing_info_preface_reaches_the_responder() {
    let f = Fixture::new();
    let mut cfg = f.client_config();
    cfg.routing_info = Some(vec![0xab; 300]);
    let mut c = NoiseSession::client(cfg);
    let mut r = NoiseSession::responder(f.responder_config());
    let first = c.poll_transmit().unwrap();
    assert_eq!(&first[..7], &[b'E', b'D', 0, 1, 0, 1, 44]);
    assert_eq!(&first[307..311], b"WA\x06\x03");
    // The intro itself arrives one byte at a time.
    for b in &first {
        r.handle_data(NOW, std::slice::from_ref(b)).unwrap();
    }
    deliver(&mut r, &mut c).unwrap();
    deliver(&mut c, &mut r).unwrap();
    assert!(r.is_established());
    assert_eq!(
        r.intro().unwrap().routing_info.as_deref(),
        Some(&[0xab; 300][..])
    );
}

#[test]
fn handshake_and_first_frames_in_one_message() {
    // A client may send ClientFinish and its first transport frames together; a server may
    // answer before the client reads. Both must be taken apart in order.
    let f = Fixture::new();
    let (mut c, mut r) = f.pair();
    deliver(&mut c, &mut r).unwrap();
    deliver(&mut r, &mut c).unwrap();
    c.send(b"one").unwrap();
    c.send(b"two").unwrap();
    let all: Vec<u8> = std::iter::from_fn(|| c.poll_transmit()).flatten().collect();
    r.handle_data(NOW, &all).unwrap();
    let ev = drain_events(&mut r);
    assert!(matches!(ev[0], Event::ClientFinished(_)));
    assert_eq!(ev[1], Event::Frame(b"one".to_vec()));
    assert_eq!(ev[2], Event::Frame(b"two".to_vec()));
}

#[test]
fn thousand_frames_each_way_split_and_coalesced() {
    let f = Fixture::new();
    let (mut c, mut r) = handshake(&f);
    drain_events(&mut c);
    drain_events(&mut r);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for dir in 0..2 {
        let (tx, rx) = if dir == 0 {
            (&mut c, &mut r)
        } else {
            (&mut r, &mut c)
        };
        let mut sent = Vec::new();
        let mut wire = Vec::new();
        for i in 0..1000u32 {
            let len = rng.size(1 << 20);
            let mut p = vec![0u8; len];
            for (j, b) in p.iter_mut().enumerate() {
                *b = (i as usize * 7 + j) as u8;
            }
            tx.send(&p).unwrap();
            wire.extend(tx.poll_transmit().unwrap());
            sent.push(p);
        }
        // Cut the stream at random points: some messages hold many frames, some a sliver.
        let mut got = Vec::new();
        let mut at = 0;
        while at < wire.len() {
            let cut = match rng.below(4) {
                0 => 1 + rng.below(5) as usize,
                1 => 1 + rng.below(4096) as usize,
                2 => 1 + rng.below(1 << 20) as usize,
                _ => 1 + rng.below(4 << 20) as usize,
            };
            let end = (at + cut).min(wire.len());
            rx.handle_data(NOW, &wire[at..end]).unwrap();
            got.extend(frames(rx));
            at = end;
        }
        assert_eq!(got.len(), sent.len(), "direction {dir}");
        assert!(got == sent, "direction {dir}: payloads differ");
        assert_eq!(rx.buffered(), 0);
    }
}

fn client_error_for_chain(f: &Fixture, chain: Vec<u8>, now: u64) -> NoiseError {
    let mut c = NoiseSession::client(f.client_config());
    let mut r = NoiseSession::responder(ResponderConfig::new(f.server.clone(), chain));
    deliver(&mut c, &mut r).unwrap();
    let reply = r.poll_transmit().unwrap();
    let err = c.handle_data(now, &reply).unwrap_err();
    // Sticky: the same error again, and nothing was sent.
    assert_eq!(c.handle_data(now, b"more").unwrap_err(), err);
    assert_eq!(c.send(b"x").unwrap_err(), err);
    assert!(
        c.poll_transmit().is_none(),
        "no ClientFinish after a refused chain"
    );
    assert!(!c.is_established());
    err
}

#[test]
fn refused_chains_each_with_their_own_error() {
    let f = Fixture::new();
    let int = KeyPair::generate();
    let opts = MintOptions::default();

    let other_root = KeyPair::generate();
    let e = client_error_for_chain(
        &f,
        mint_chain(&other_root, &f.server.public, &opts).encode(),
        NOW,
    );
    assert_eq!(e, NoiseError::Cert(CertError::UntrustedIntermediate));
    assert_eq!(e.code(), "ERR_WA_NOISE_CERT_UNTRUSTED_ROOT");

    // A valid leaf, but for another server key.
    let e = client_error_for_chain(
        &f,
        mint_chain_with(&f.root, &int, &KeyPair::generate().public, &opts).encode(),
        NOW,
    );
    assert_eq!(e, NoiseError::Cert(CertError::LeafKeyMismatch));
    assert_eq!(e.code(), "ERR_WA_NOISE_CERT_LEAF_KEY");

    // The leaf of another intermediate.
    let mut chain = mint_chain_with(&f.root, &int, &f.server.public, &opts).chain;
    chain.leaf = mint_chain(&f.root, &f.server.public, &opts).chain.leaf;
    let e = client_error_for_chain(&f, chain.encode_to_vec(), NOW);
    assert_eq!(e.code(), "ERR_WA_NOISE_CERT_LEAF_SIGNATURE");

    // Wrong issuer serial on the leaf.
    let mut chain = mint_chain_with(&f.root, &int, &f.server.public, &opts).chain;
    chain.leaf = Some(sign_certificate(
        &Details {
            serial: Some(2),
            issuer_serial: Some(opts.intermediate_serial + 1),
            key: Some(f.server.public.to_vec()),
            ..Default::default()
        },
        &int,
    ));
    let e = client_error_for_chain(&f, chain.encode_to_vec(), NOW);
    assert_eq!(e.code(), "ERR_WA_NOISE_CERT_ISSUER_SERIAL");

    // Outside its validity window.
    let timed = MintOptions {
        not_before: Some(NOW - 100),
        not_after: Some(NOW + 100),
        ..opts.clone()
    };
    let chain = mint_chain(&f.root, &f.server.public, &timed).encode();
    assert_eq!(
        client_error_for_chain(&f, chain.clone(), NOW + 101).code(),
        "ERR_WA_NOISE_CERT_EXPIRED"
    );
    assert_eq!(
        client_error_for_chain(&f, chain, NOW - 101).code(),
        "ERR_WA_NOISE_CERT_NOT_YET_VALID"
    );

    // Not a chain at all.
    assert_eq!(
        client_error_for_chain(&f, vec![0xff; 3], NOW).code(),
        "ERR_WA_NOISE_CERT_DECODE"
    );
}

#[test]
fn tampered_replayed_and_oversized_frames() {
    let f = Fixture::new();

    // Tampered ciphertext.
    let (mut c, mut r) = handshake(&f);
    c.send(b"hello").unwrap();
    let mut m = c.poll_transmit().unwrap();
    m[5] ^= 0x01;
    let e = r.handle_data(NOW, &m).unwrap_err();
    assert_eq!(e, NoiseError::Decrypt { counter: 0 });
    assert_eq!(e.code(), "ERR_WA_NOISE_DECRYPT");
    assert_eq!(r.handle_data(NOW, b"").unwrap_err(), e, "sticky");
    assert_eq!(r.send(b"x").unwrap_err(), e, "sticky on send too");

    // Replayed frame.
    let (mut c, mut r) = handshake(&f);
    c.send(b"first").unwrap();
    let first = c.poll_transmit().unwrap();
    r.handle_data(NOW, &first).unwrap();
    let e = r.handle_data(NOW, &first).unwrap_err();
    assert_eq!(
        e,
        NoiseError::Replay {
            counter: 1,
            original: 0
        }
    );
    assert_eq!(e.code(), "ERR_WA_NOISE_REPLAY");

    // Oversized length: refused on the 3-byte prefix alone.
    let mut small = f.responder_config();
    small.max_frame_len = 1 << 16;
    let mut c = NoiseSession::client(f.client_config());
    let mut r = NoiseSession::responder(small);
    deliver(&mut c, &mut r).unwrap();
    deliver(&mut r, &mut c).unwrap();
    deliver(&mut c, &mut r).unwrap();
    let e = r.handle_data(NOW, &[0x01, 0x00, 0x01]).unwrap_err();
    assert_eq!(
        e,
        NoiseError::FrameTooLarge {
            len: 65537,
            max: 65536
        }
    );
    assert_eq!(e.code(), "ERR_WA_NOISE_FRAME_TOO_LARGE");

    // The same limit during the handshake, and on the client.
    let mut r = NoiseSession::responder(ResponderConfig {
        max_frame_len: 100,
        ..f.responder_config()
    });
    assert_eq!(
        r.handle_data(NOW, b"WA\x06\x03\x00\x00\x65")
            .unwrap_err()
            .code(),
        "ERR_WA_NOISE_FRAME_TOO_LARGE"
    );
    let mut c = NoiseSession::client(ClientConfig {
        max_frame_len: 100,
        ..f.client_config()
    });
    assert_eq!(
        c.handle_data(NOW, b"\xff\xff\xff").unwrap_err().code(),
        "ERR_WA_NOISE_FRAME_TOO_LARGE"
    );
}

#[test]
fn local_misuse_is_not_fatal() {
    let f = Fixture::new();
    let mut cfg = f.client_config();
    cfg.max_frame_len = 1000;
    let mut c = NoiseSession::client(cfg);
    let mut r = NoiseSession::responder(f.responder_config());
    assert_eq!(
        c.send(b"early").unwrap_err().code(),
        "ERR_WA_NOISE_NOT_ESTABLISHED"
    );
    deliver(&mut c, &mut r).unwrap();
    deliver(&mut r, &mut c).unwrap();
    deliver(&mut c, &mut r).unwrap();
    let e = c.send(&[0u8; 985]).unwrap_err();
    assert_eq!(e, NoiseError::PayloadTooLarge { len: 985, max: 984 });
    c.send(&[1u8; 984]).unwrap();
    deliver(&mut c, &mut r).unwrap();
    assert_eq!(frames(&mut r), vec![vec![1u8; 984]]);
}

#[test]
fn handshake_protocol_errors() {
    let f = Fixture::new();
    // Wrong header.
    let mut r = NoiseSession::responder(f.responder_config());
    assert_eq!(
        r.handle_data(NOW, b"HTTP").unwrap_err().code(),
        "ERR_WA_NOISE_BAD_INTRO"
    );
    // A ClientFinish where a ClientHello belongs.
    let mut r = NoiseSession::responder(f.responder_config());
    let mut msg = b"WA\x06\x03".to_vec();
    let finish = wa_proto::HandshakeMessage {
        client_finish: Some(Default::default()),
        ..Default::default()
    }
    .encode_to_vec();
    wa_noise::frame::write_frame(&finish, &mut msg);
    assert_eq!(
        r.handle_data(NOW, &msg).unwrap_err().code(),
        "ERR_WA_NOISE_UNEXPECTED_MESSAGE"
    );
    // A low-order ephemeral key (all zeros) is refused.
    let mut r = NoiseSession::responder(f.responder_config());
    let hello = wa_proto::HandshakeMessage {
        client_hello: Some(wa_proto::handshake_message::ClientHello {
            ephemeral: Some(vec![0; 32]),
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec();
    let mut msg = b"WA\x06\x03".to_vec();
    wa_noise::frame::write_frame(&hello, &mut msg);
    assert_eq!(r.handle_data(NOW, &msg).unwrap_err(), NoiseError::WeakKey);
    // A short key.
    let mut r = NoiseSession::responder(f.responder_config());
    let hello = wa_proto::HandshakeMessage {
        client_hello: Some(wa_proto::handshake_message::ClientHello {
            ephemeral: Some(vec![9; 31]),
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec();
    let mut msg = b"WA\x06\x03".to_vec();
    wa_noise::frame::write_frame(&hello, &mut msg);
    assert_eq!(
        r.handle_data(NOW, &msg).unwrap_err().code(),
        "ERR_WA_NOISE_KEY_LENGTH"
    );
    // A ClientFinish whose payload is not a ClientPayload.
    let mut cfg = f.client_config();
    cfg.payload = vec![0xff, 0xff];
    let mut c = NoiseSession::client(cfg);
    let mut r = NoiseSession::responder(f.responder_config());
    deliver(&mut c, &mut r).unwrap();
    deliver(&mut r, &mut c).unwrap();
    assert_eq!(
        deliver(&mut c, &mut r).unwrap_err().code(),
        "ERR_WA_NOISE_CLIENT_PAYLOAD"
    );
    // A tampered ServerHello.
    let (mut c, mut r) = f.pair();
    deliver(&mut c, &mut r).unwrap();
    let mut reply = r.poll_transmit().unwrap();
    let n = reply.len();
    reply[n - 1] ^= 1;
    assert_eq!(
        c.handle_data(NOW, &reply).unwrap_err().code(),
        "ERR_WA_NOISE_HANDSHAKE_DECRYPT"
    );
}

#[test]
fn every_error_code_is_distinct() {
    let errs = [
        NoiseError::BadIntro("x"),
        NoiseError::FrameTooLarge { len: 0, max: 0 },
        NoiseError::HandshakeDecode,
        NoiseError::UnexpectedMessage("x"),
        NoiseError::MissingField("x"),
        NoiseError::KeyLength { field: "x", got: 0 },
        NoiseError::WeakKey,
        NoiseError::HandshakeDecrypt,
        NoiseError::ClientPayloadDecode,
        NoiseError::Decrypt { counter: 0 },
        NoiseError::Replay {
            counter: 0,
            original: 0,
        },
        NoiseError::CounterExhausted,
        NoiseError::NotEstablished,
        NoiseError::PayloadTooLarge { len: 0, max: 0 },
        CertError::ChainDecode.into(),
        CertError::Missing("x").into(),
        CertError::SignatureLength { which: "x", got: 0 }.into(),
        CertError::UntrustedIntermediate.into(),
        CertError::DetailsDecode("x").into(),
        CertError::IntermediateIssuer {
            got: 0,
            expected: 0,
        }
        .into(),
        CertError::IntermediateKeyLength(0).into(),
        CertError::LeafSignature.into(),
        CertError::IssuerSerialMismatch {
            got: 0,
            expected: 0,
        }
        .into(),
        CertError::LeafKeyMismatch.into(),
        CertError::NotYetValid {
            which: "x",
            not_before: 0,
            now: 0,
        }
        .into(),
        CertError::Expired {
            which: "x",
            not_after: 0,
            now: 0,
        }
        .into(),
    ];
    let mut codes: Vec<&str> = errs.iter().map(NoiseError::code).collect();
    assert!(codes.iter().all(|c| c.starts_with("ERR_WA_NOISE_")));
    codes.sort();
    codes.dedup();
    assert_eq!(codes.len(), errs.len());
}

/// Sessions at each point where hostile bytes can arrive.
fn victims() -> Vec<NoiseSession> {
    static F: std::sync::OnceLock<(Fixture, Vec<u8>, Vec<u8>)> = std::sync::OnceLock::new();
    let (f, hello, _) = F.get_or_init(|| {
        let f = Fixture::new();
        let (mut c, mut r) = f.pair();
        let hello = c.poll_transmit().unwrap();
        r.handle_data(NOW, &hello).unwrap();
        let reply = r.poll_transmit().unwrap();
        (f, hello, reply)
    });
    let fresh_responder = NoiseSession::responder(f.responder_config());
    let mut after_hello = NoiseSession::responder(f.responder_config());
    after_hello.handle_data(NOW, hello).unwrap();
    let client = NoiseSession::client(f.client_config());
    let (c, r) = handshake(f);
    vec![fresh_responder, after_hello, client, c, r]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..6)) {
        for mut s in victims() {
            for c in &chunks {
                let first = s.handle_data(NOW, c);
                if let Err(e) = first {
                    prop_assert!(e.is_fatal());
                    prop_assert_eq!(s.handle_data(NOW, c).unwrap_err(), e);
                    break;
                }
            }
        }
    }

    #[test]
    fn prefixed_random_frames_never_panic(body in proptest::collection::vec(any::<u8>(), 0..400)) {
        // Well-framed garbage reaches the handshake parsers and the transport cipher.
        let mut framed = Vec::new();
        wa_noise::frame::write_frame(&body, &mut framed);
        for (i, mut s) in victims().into_iter().enumerate() {
            let input = if i == 0 { [b"WA\x06\x03".as_slice(), &framed].concat() } else { framed.clone() };
            let _ = s.handle_data(NOW, &input);
        }
    }
}

#[test]
fn client_payload_decodes_as_sent() {
    // A registration payload with nested messages survives the trip intact.
    let f = Fixture::new();
    let payload = ClientPayload {
        passive: Some(false),
        pull: Some(false),
        user_agent: Some(wa_proto::client_payload::UserAgent {
            platform: Some(wa_proto::client_payload::user_agent::Platform::Web as i32),
            app_version: Some(wa_proto::client_payload::user_agent::AppVersion {
                primary: Some(2),
                secondary: Some(3000),
                tertiary: Some(1_029_496_320),
                ..Default::default()
            }),
            ..Default::default()
        }),
        device_pairing_data: Some(wa_proto::client_payload::DevicePairingRegistrationData {
            e_regid: Some(vec![0, 0, 1, 2]),
            e_keytype: Some(vec![5]),
            e_ident: Some(vec![7; 32]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut cfg = f.client_config();
    cfg.payload = payload.encode_to_vec();
    let mut c = NoiseSession::client(cfg);
    let mut r = NoiseSession::responder(f.responder_config());
    deliver(&mut c, &mut r).unwrap();
    deliver(&mut r, &mut c).unwrap();
    deliver(&mut c, &mut r).unwrap();
    match r.poll_event() {
        Some(Event::ClientFinished(id)) => assert_eq!(id.payload, payload),
        other => panic!("{other:?}"),
    }
}
