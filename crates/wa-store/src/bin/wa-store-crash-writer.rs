//! The child process of the crash-safety test (tests/crash.rs): writes deterministic
//! batches to a file or SQLite store forever and prints the number of each batch once it
//! is acknowledged. The test kills it with SIGKILL at a random moment and checks the store.
//!
//! Batch `n` puts `b/{n}.{i}` for `i < keys(n)`, deletes the keys of batch `n - 3`, and
//! sets `meta/last` to `n`; so after any crash the store must hold exactly the keys of the
//! three batches up to `meta/last`, whole.
//!
//! Usage: wa-store-crash-writer file|sqlite <path>

use std::io::Write as _;
use std::sync::Arc;

use wa_store::{Engine, FileEngine, SqliteEngine, Write};

/// A fixed mix of the batch number (splitmix64).
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

pub fn keys(n: u64) -> u64 {
    1 + mix(n) % 12
}

pub fn value(n: u64, i: u64) -> Vec<u8> {
    let len = (mix(n * 64 + i) % 40_000) as usize;
    (0..len)
        .map(|j| ((n * 31 + i * 7 + j as u64) % 251) as u8)
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (kind, path) = match args.as_slice() {
        [_, k, p] => (k.clone(), p.clone()),
        _ => {
            eprintln!("usage: wa-store-crash-writer file|sqlite <path>");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let engine: Arc<dyn Engine> = match kind.as_str() {
            "file" => Arc::new(FileEngine::open(&path).expect("open file store")),
            "sqlite" => Arc::new(SqliteEngine::open(&path).expect("open sqlite store")),
            _ => std::process::exit(2),
        };
        let last = match engine.get("meta/last").await.expect("read meta/last") {
            Some(b) => u64::from_le_bytes(b.try_into().expect("8 bytes")),
            None => 0,
        };
        let mut out = std::io::stdout().lock();
        writeln!(out, "ready {last}").ok();
        out.flush().ok();
        let mut n = last + 1;
        loop {
            let mut batch = Vec::new();
            for i in 0..keys(n) {
                batch.push(Write::put(format!("b/{n}.{i}"), value(n, i)));
            }
            if n > 3 {
                for i in 0..keys(n - 3) {
                    batch.push(Write::delete(format!("b/{}.{i}", n - 3)));
                }
            }
            batch.push(Write::put("meta/last", n.to_le_bytes().to_vec()));
            engine.set_many(batch).await.expect("batch");
            writeln!(out, "{n}").ok();
            out.flush().ok();
            n += 1;
        }
    });
}
