//! Pure-Rust numbers for the realistic corpus (frames written by the real Baileys encoder,
//! `tests/corpus/`): decode (frame -> Node), decode into a no-op sink (the parse alone), and
//! encode (Node -> frame). Criterion prints time per corpus pass; the summary line printed first
//! gives nanoseconds per node, which `benchmark/binary.bench.mjs` compares with Baileys.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wa_binary::decode::{DecodeLimits, Sink, Str, decode_into};
use wa_binary::{Content, Node, decode_frame, encode_frame, unpack_frame};

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/corpus exists")
        .map(|e| e.expect("readable").path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .map(|p| {
            let name = p.file_stem().expect("named").to_string_lossy().into_owned();
            (name, std::fs::read(&p).expect("readable"))
        })
        .collect();
    out.sort();
    out
}

fn count(n: &Node) -> usize {
    1 + match &n.content {
        Content::Nodes(c) => c.iter().map(count).sum(),
        _ => 0,
    }
}

struct Nop;
impl<'a> Sink<'a> for Nop {
    fn open(&mut self, tag: Str<'a, '_>, _: usize) {
        black_box(tag);
    }
    fn attr(&mut self, k: Str<'a, '_>, v: Str<'a, '_>) {
        black_box((k, v));
    }
    fn no_content(&mut self) {}
    fn list(&mut self, _: usize, _: usize) {}
    fn bytes(&mut self, b: &'a [u8], _: usize) {
        black_box(b);
    }
    fn string(&mut self, s: Str<'a, '_>) {
        black_box(s);
    }
    fn close(&mut self) {}
}

fn per_node(label: &str, nodes: usize, mut f: impl FnMut()) {
    let start = Instant::now();
    let mut rounds = 0u32;
    while start.elapsed().as_millis() < 500 {
        f();
        rounds += 1;
    }
    let ns = start.elapsed().as_nanos() as f64 / f64::from(rounds) / nodes as f64;
    println!("wa-binary {label}: {ns:.1} ns/node");
}

fn bench(c: &mut Criterion) {
    let frames = corpus();
    let nodes: Vec<Node> = frames
        .iter()
        .map(|(_, f)| decode_frame(f).expect("corpus decodes"))
        .collect();
    let total: usize = nodes.iter().map(count).sum();
    let plain: Vec<Vec<u8>> = nodes
        .iter()
        .map(|n| encode_frame(n).expect("encodes"))
        .collect();
    let limits = DecodeLimits::default();

    println!("corpus: {} frames, {total} nodes", frames.len());
    per_node("decode (uncompressed frames -> Node)", total, || {
        for f in &plain {
            black_box(decode_frame(f).expect("decodes"));
        }
    });
    per_node("decode (corpus as sent, 2 compressed)", total, || {
        for (_, f) in &frames {
            black_box(decode_frame(f).expect("decodes"));
        }
    });
    per_node("parse only (no tree)", total, || {
        for f in &plain {
            let payload = unpack_frame(f, limits.max_inflated).expect("unpacks");
            decode_into(&payload, &limits, &mut Nop).expect("decodes");
        }
    });
    per_node("encode (Node -> frame)", total, || {
        for n in &nodes {
            black_box(encode_frame(n).expect("encodes"));
        }
    });

    let mut g = c.benchmark_group("corpus");
    g.throughput(Throughput::Elements(total as u64));
    g.bench_function("decode", |b| {
        b.iter(|| {
            for f in &plain {
                black_box(decode_frame(f).expect("decodes"));
            }
        })
    });
    g.bench_function("encode", |b| {
        b.iter(|| {
            for n in &nodes {
                black_box(encode_frame(n).expect("encodes"));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
