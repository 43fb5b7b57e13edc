//! The Signal core without the JS boundary: 1:1 encrypt+decrypt (with and without DH ratchet
//! steps), group encrypt and decrypt, and the record formats. The JS benchmark
//! (`benchmark/signal.bench.mjs`) compares the whole repository with Baileys'.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use wa_signal::keys::{PreKeyBundle, generate_signed_pre_key};
use wa_signal::session::{self, PreKeyMaterial};
use wa_signal::{KeyPair, LocalIdentity, SenderKeyRecord, SessionRecord, group, wire};

struct Pair {
    alice: LocalIdentity,
    bob: LocalIdentity,
    a: SessionRecord,
    b: SessionRecord,
}

fn pair() -> Pair {
    let alice = LocalIdentity::new(KeyPair::generate(), 1);
    let bob = LocalIdentity::new(KeyPair::generate(), 2);
    let spk = generate_signed_pre_key(&bob.key_pair, 1);
    let bundle = PreKeyBundle {
        registration_id: 2,
        identity_key: bob.public_prefixed().to_vec(),
        signed_pre_key_id: 1,
        signed_pre_key: spk.key_pair.public_prefixed().to_vec(),
        signed_pre_key_signature: spk.signature.to_vec(),
        pre_key: None,
    };
    let mut a = SessionRecord::new();
    session::init_outgoing(&mut a, &alice, &bundle, 0).unwrap();
    let m = session::encrypt(&mut a, &alice, b"hi").unwrap();
    let frame = wire::parse_pre_key(&m.body).unwrap();
    let mut b = SessionRecord::new();
    let keys = PreKeyMaterial {
        pre_key: None,
        signed_pre_key: Some(&spk.key_pair),
    };
    session::decrypt_pre_key(&mut b, &bob, &frame, keys, 0).unwrap();
    let r = session::encrypt(&mut b, &bob, b"hi").unwrap();
    session::decrypt_whisper(&mut a, &alice, &r.body, 0).unwrap();
    Pair { alice, bob, a, b }
}

fn one_to_one(c: &mut Criterion) {
    let payload = [7u8; 200];
    let mut p = pair();
    c.bench_function("1:1 encrypt+decrypt, one direction", |bench| {
        bench.iter(|| {
            let m = session::encrypt(&mut p.a, &p.alice, &payload).unwrap();
            black_box(session::decrypt_whisper(&mut p.b, &p.bob, &m.body, 0).unwrap());
        })
    });
    let mut p = pair();
    let mut turn = false;
    c.bench_function("1:1 encrypt+decrypt, alternating (DH step)", |bench| {
        bench.iter(|| {
            turn = !turn;
            if turn {
                let m = session::encrypt(&mut p.b, &p.bob, &payload).unwrap();
                black_box(session::decrypt_whisper(&mut p.a, &p.alice, &m.body, 0).unwrap());
            } else {
                let m = session::encrypt(&mut p.a, &p.alice, &payload).unwrap();
                black_box(session::decrypt_whisper(&mut p.b, &p.bob, &m.body, 0).unwrap());
            }
        })
    });
}

fn groups(c: &mut Criterion) {
    let payload = [7u8; 200];
    let mut own = SenderKeyRecord::new();
    let skdm = group::distribution_message(&mut own);
    let mut reader = SenderKeyRecord::new();
    group::process_distribution(&mut reader, &skdm).unwrap();
    c.bench_function("group encrypt", |bench| {
        bench.iter(|| black_box(group::encrypt(&mut own, &payload).unwrap()))
    });
    // Decrypt a fresh message each time: encrypt outside the timed part in batches.
    let mut sender = SenderKeyRecord::new();
    let skdm = group::distribution_message(&mut sender);
    let mut reader = SenderKeyRecord::new();
    group::process_distribution(&mut reader, &skdm).unwrap();
    c.bench_function("group decrypt", |bench| {
        bench.iter_batched(
            || group::encrypt(&mut sender, &payload).unwrap(),
            |m| black_box(group::decrypt(&mut reader, &m).unwrap()),
            criterion::BatchSize::SmallInput,
        )
    });
}

fn records(c: &mut Criterion) {
    let mut p = pair();
    for i in 0..20 {
        let (from, to, id_from, id_to) = if i % 2 == 0 {
            (&mut p.a, &mut p.b, &p.alice, &p.bob)
        } else {
            (&mut p.b, &mut p.a, &p.bob, &p.alice)
        };
        let m = session::encrypt(from, id_from, b"x").unwrap();
        session::decrypt_whisper(to, id_to, &m.body, 0).unwrap();
    }
    let json = p.a.to_json();
    let bin = p.a.to_binary();
    c.bench_function("session record from JSON", |b| {
        b.iter(|| black_box(SessionRecord::from_json(&json).unwrap()))
    });
    c.bench_function("session record to JSON", |b| {
        b.iter(|| black_box(p.a.to_json()))
    });
    c.bench_function("session record from binary", |b| {
        b.iter(|| black_box(SessionRecord::from_binary(&bin).unwrap()))
    });
}

criterion_group!(benches, one_to_one, groups, records);
criterion_main!(benches);
