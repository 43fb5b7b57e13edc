//! The frame decoder and transport cipher of an established Noise session. The input is a
//! script: valid frames from the peer (so decryption goes deep), raw bytes, replays, flipped
//! bits, all cut into websocket messages at fuzzer-chosen points.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wa_crypto::KeyPair;
use wa_noise::{ClientConfig, MintOptions, NoiseSession, ResponderConfig, mint_chain_with};

const NOW: u64 = 1_750_000_000;

fn pair() -> &'static (NoiseSession, NoiseSession) {
    static PAIR: OnceLock<(NoiseSession, NoiseSession)> = OnceLock::new();
    PAIR.get_or_init(|| {
        let root = KeyPair::from_private([1; 32]);
        let server = KeyPair::from_private([2; 32]);
        let chain =
            mint_chain_with(&root, &KeyPair::from_private([3; 32]), &server.public, &MintOptions::default());
        let mut cfg = ClientConfig::new(KeyPair::from_private([4; 32]), vec![0x08, 0x01]);
        cfg.trust_root = root.public;
        cfg.max_frame_len = 1 << 16;
        let mut c = NoiseSession::client_with_ephemeral(cfg, KeyPair::from_private([5; 32]));
        let mut rc = ResponderConfig::new(server, chain.encode());
        rc.max_frame_len = 1 << 16;
        let mut r = NoiseSession::responder_with_ephemeral(rc, KeyPair::from_private([6; 32]));
        for _ in 0..2 {
            while let Some(m) = c.poll_transmit() {
                r.handle_data(NOW, &m).unwrap();
            }
            while let Some(m) = r.poll_transmit() {
                c.handle_data(NOW, &m).unwrap();
            }
        }
        assert!(c.is_established() && r.is_established());
        while c.poll_event().is_some() {}
        while r.poll_event().is_some() {}
        (c, r)
    })
}

fuzz_target!(|data: &[u8]| {
    let (c, r) = pair();
    let (mut tx, mut rx) = (c.clone(), r.clone());
    let mut stream: Vec<u8> = Vec::new();
    let mut sent: Vec<Vec<u8>> = Vec::new();
    let mut i = 0;
    while i + 1 < data.len() {
        let (op, arg) = (data[i], data[i + 1] as usize);
        i += 2;
        match op % 5 {
            // a valid frame of `arg * 7` bytes
            0 => {
                let m = tx.send_now(&vec![op; arg * 7]).unwrap();
                sent.push(m.clone());
                stream.extend(m);
            }
            // raw bytes from the input
            1 => {
                let end = (i + arg).min(data.len());
                stream.extend_from_slice(&data[i..end]);
                i = end;
            }
            // replay an earlier frame
            2 if !sent.is_empty() => stream.extend(sent[arg % sent.len()].clone()),
            // flip a bit somewhere in what is queued
            3 if !stream.is_empty() => {
                let at = arg * 131 % stream.len();
                stream[at] ^= 1 << (op % 8);
            }
            // deliver what is queued, cut at `arg`
            _ => {
                let cut = arg.min(stream.len());
                for part in [&stream[..cut], &stream[cut..]] {
                    if let Err(e) = rx.handle_data(NOW, part) {
                        assert!(e.is_fatal());
                        assert_eq!(rx.handle_data(NOW, b"x").unwrap_err(), e);
                        return;
                    }
                    while rx.poll_event().is_some() {}
                }
                stream.clear();
            }
        }
    }
    let _ = rx.handle_data(NOW, &stream);
});
