//! The child process of the crash-safety test (tests/crash.rs): writes deterministic
//! batches to a store forever and prints the number of each batch once it is
//! acknowledged. The test kills it with SIGKILL at a random moment and checks the store.
//!
//! Batch `n` puts `b/{n}.{i}` for `i < keys(n)`, deletes the keys of batch `n - 3`, and
//! sets `meta/last` to `n`; so after any crash the store must hold exactly the keys of the
//! three batches up to `meta/last`, whole. In an auth folder the same batches are files:
//! `b-{n}.{i}.json` and `meta.json`.
//!
//! Usage: wa-store-crash-writer file|file-process|folder|sqlite <path> [checkpoint-bytes]
//! (a small checkpoint size makes checkpoints, and so kills during them, frequent).

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use wa_store::{BaileysFolder, Durability, Engine, FileEngine, FileOptions, SqliteEngine, Write};

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

/// The JSON an auth-folder batch writes for key `i` of batch `n`.
pub fn json_value(n: u64, i: u64) -> Vec<u8> {
    let pad: String = value(n, i)
        .iter()
        .map(|b| char::from(b'a' + b % 26))
        .collect();
    format!("{{\"n\":{n},\"i\":{i},\"pad\":\"{pad}\"}}").into_bytes()
}

pub fn file_name(n: u64, i: u64) -> String {
    format!("b-{n}.{i}.json")
}

/// The options the writer opens file stores with.
pub fn options(kind: &str, checkpoint_bytes: Option<u64>) -> FileOptions {
    let mut o = FileOptions::default();
    if kind == "file-process" {
        o = o.with_durability(Durability::Process);
    }
    if let Some(b) = checkpoint_bytes {
        o = o.with_checkpoint(b, 1024, Duration::from_millis(250));
    }
    o
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (kind, path, cp) = match args.as_slice() {
        [_, k, p] => (k.clone(), p.clone(), None),
        [_, k, p, c] => (k.clone(), p.clone(), c.parse().ok()),
        _ => {
            eprintln!(
                "usage: wa-store-crash-writer file|file-process|folder|sqlite <path> [checkpoint-bytes]"
            );
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let mut out = std::io::stdout().lock();
        if kind == "folder" {
            let f = BaileysFolder::open_with(&path, options(&kind, cp)).expect("open auth folder");
            let last = match f
                .read_files(vec!["meta.json".into()])
                .await
                .expect("read meta")[0]
                .take()
            {
                Some(b) => String::from_utf8(b)
                    .expect("utf-8")
                    .parse::<u64>()
                    .expect("a number"),
                None => 0,
            };
            writeln!(out, "ready {last}").ok();
            out.flush().ok();
            for n in last + 1.. {
                let mut batch = Vec::new();
                for i in 0..keys(n) {
                    batch.push((file_name(n, i), Some(json_value(n, i))));
                }
                if n > 3 {
                    for i in 0..keys(n - 3) {
                        batch.push((file_name(n - 3, i), None));
                    }
                }
                batch.push(("meta.json".to_owned(), Some(n.to_string().into_bytes())));
                f.write_files(batch).await.expect("batch");
                writeln!(out, "{n}").ok();
                out.flush().ok();
            }
            return;
        }
        let engine: Arc<dyn Engine> = match kind.as_str() {
            "file" | "file-process" => {
                Arc::new(FileEngine::open_with(&path, options(&kind, cp)).expect("open file store"))
            }
            "sqlite" => Arc::new(SqliteEngine::open(&path).expect("open sqlite store")),
            _ => std::process::exit(2),
        };
        let last = match engine.get("meta/last").await.expect("read meta/last") {
            Some(b) => u64::from_le_bytes(b.try_into().expect("8 bytes")),
            None => 0,
        };
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
