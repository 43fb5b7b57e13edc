//! The handshake parsers: a fresh responder (intro, ClientHello), a responder awaiting
//! ClientFinish, a client awaiting ServerHello, and the certificate chain verifier. The first
//! byte picks the target; the second how the rest arrives (raw stream, or wrapped as one
//! frame so the protobuf and crypto layers see arbitrary bytes).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wa_crypto::KeyPair;
use wa_noise::frame::write_frame;
use wa_noise::{
    ClientConfig, MintOptions, NoiseSession, ResponderConfig, WA_HEADER, mint_chain_with, verify_chain,
};

const NOW: u64 = 1_750_000_000;

struct States {
    fresh: NoiseSession,
    awaiting_finish: NoiseSession,
    client: NoiseSession,
    root: [u8; 32],
    server: [u8; 32],
}

fn states() -> &'static States {
    static S: OnceLock<States> = OnceLock::new();
    S.get_or_init(|| {
        let root = KeyPair::from_private([1; 32]);
        let server = KeyPair::from_private([2; 32]);
        let chain = mint_chain_with(
            &root,
            &KeyPair::from_private([3; 32]),
            &server.public,
            &MintOptions { not_before: Some(NOW - 10), not_after: Some(NOW + 10), ..Default::default() },
        );
        let mut cfg = ClientConfig::new(KeyPair::from_private([4; 32]), vec![0x08, 0x01]);
        cfg.trust_root = root.public;
        let mut client = NoiseSession::client_with_ephemeral(cfg, KeyPair::from_private([5; 32]));
        let fresh = NoiseSession::responder_with_ephemeral(
            ResponderConfig::new(server.clone(), chain.encode()),
            KeyPair::from_private([6; 32]),
        );
        let mut awaiting_finish = fresh.clone();
        let hello = client.poll_transmit().unwrap();
        awaiting_finish.handle_data(NOW, &hello).unwrap();
        States { fresh, awaiting_finish, client, root: root.public, server: server.public }
    })
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let s = states();
    let (which, how, body) = (data[0] % 4, data[1], &data[2..]);
    if which == 3 {
        let _ = verify_chain(body, &s.server, &s.root, NOW);
        return;
    }
    let mut target = match which {
        0 => s.fresh.clone(),
        1 => s.awaiting_finish.clone(),
        _ => s.client.clone(),
    };
    let mut input = Vec::new();
    if which == 0 && how & 1 == 1 {
        input.extend_from_slice(&WA_HEADER);
    }
    if how & 2 == 2 && body.len() <= wa_noise::MAX_FRAME_LEN {
        write_frame(body, &mut input);
    } else {
        input.extend_from_slice(body);
    }
    let cut = (how as usize * 3).min(input.len());
    for part in [&input[..cut], &input[cut..]] {
        if let Err(e) = target.handle_data(NOW, part) {
            assert!(e.is_fatal());
            assert_eq!(target.handle_data(NOW, part).unwrap_err(), e);
            return;
        }
    }
    while target.poll_event().is_some() {}
    while target.poll_transmit().is_some() {}
});
