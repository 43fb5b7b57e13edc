//! Transport throughput (seal + frame + reassemble + open, one frame at a time) and full
//! handshakes (client and responder in one process). The JS side, with Baileys next to it,
//! is benchmark/noise.bench.mjs.
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wa_crypto::KeyPair;
use wa_noise::{ClientConfig, MintOptions, NoiseSession, ResponderConfig, mint_chain};

const NOW: u64 = 1_750_000_000;

struct Setup {
    root: KeyPair,
    server: KeyPair,
    chain: Vec<u8>,
    client_static: KeyPair,
}

fn setup() -> Setup {
    let root = KeyPair::generate();
    let server = KeyPair::generate();
    let chain = mint_chain(&root, &server.public, &MintOptions::default()).encode();
    Setup {
        root,
        server,
        chain,
        client_static: KeyPair::generate(),
    }
}

fn handshake(s: &Setup) -> (NoiseSession, NoiseSession) {
    let mut cfg = ClientConfig::new(s.client_static.clone(), vec![0x08, 0x01]);
    cfg.trust_root = s.root.public;
    let mut c = NoiseSession::client(cfg);
    let mut r = NoiseSession::responder(ResponderConfig::new(s.server.clone(), s.chain.clone()));
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
}

fn transport(c: &mut Criterion) {
    let s = setup();
    for size in [1024usize, 64 * 1024] {
        let (mut tx, mut rx) = handshake(&s);
        let payload = vec![0x5a; size];
        let mut g = c.benchmark_group("transport");
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(format!("encrypt+decrypt {} KiB", size / 1024), |b| {
            b.iter(|| {
                let wire = tx.send_now(black_box(&payload)).unwrap();
                rx.handle_data(NOW, &wire).unwrap();
                black_box(rx.poll_event())
            })
        });
        g.finish();
    }
}

fn handshakes(c: &mut Criterion) {
    let s = setup();
    c.bench_function("handshake (client + responder)", |b| {
        b.iter(|| black_box(handshake(&s)))
    });
}

criterion_group!(benches, transport, handshakes);
criterion_main!(benches);
