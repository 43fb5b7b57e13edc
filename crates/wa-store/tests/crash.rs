//! Crash safety: a child process writes batches and is killed with SIGKILL at a random
//! moment, 100 times per engine; after each kill the store must open, hold every
//! acknowledged batch whole and no batch in part.

#![cfg(unix)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wa_store::{Engine, FileEngine, SqliteEngine};

#[path = "../src/bin/wa-store-crash-writer.rs"]
#[allow(dead_code)]
mod writer;

const ROUNDS: usize = 100;

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = writer::mix(self.0);
        self.0 % n
    }
}

async fn check(engine: &dyn Engine, acked: u64) -> u64 {
    let last = engine
        .get("meta/last")
        .await
        .unwrap()
        .map(|b| u64::from_le_bytes(b.try_into().expect("meta/last is 8 bytes")))
        .unwrap_or(0);
    assert!(
        last >= acked,
        "acknowledged batch {acked} lost (store is at {last})"
    );
    let mut want = BTreeSet::new();
    for n in last.saturating_sub(2).max(1)..=last {
        for i in 0..writer::keys(n) {
            want.insert(format!("b/{n}.{i}"));
        }
    }
    let have: BTreeSet<String> = engine
        .list("b", 0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(have, want, "store at batch {last} holds part of a batch");
    for key in &want {
        let (n, i) = key[2..].split_once('.').unwrap();
        let (n, i) = (n.parse().unwrap(), i.parse().unwrap());
        assert!(
            engine.get(key).await.unwrap().unwrap() == writer::value(n, i),
            "{key} corrupt"
        );
    }
    last
}

async fn torture(kind: &str, path: &std::path::Path, open: impl Fn() -> Arc<dyn Engine>) {
    let mut rng = Rng(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64);
    let started = Instant::now();
    let (mut kills_mid_run, mut acked_total) = (0, 0u64);
    for round in 0..ROUNDS {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wa-store-crash-writer"))
            .arg(kind)
            .arg(path)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut acked = 0u64;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Ok(n) = line.parse::<u64>() {
                    acked = n;
                }
            }
            acked
        });
        std::thread::sleep(Duration::from_millis(1 + rng.below(120)));
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        if status.code().is_none() {
            kills_mid_run += 1;
        }
        let acked = reader.join().unwrap();
        let engine = open();
        let last = check(&*engine, acked).await;
        assert!(last >= acked, "round {round}");
        // Batches are numbered across rounds: the store's last batch counts them all.
        acked_total = last;
    }
    eprintln!(
        "{kind}: {ROUNDS} SIGKILLs ({kills_mid_run} while running, {acked_total} batches committed in all) in {:?}; store checked after each",
        started.elapsed()
    );
    assert_eq!(kills_mid_run, ROUNDS, "every round killed a live writer");
    assert!(acked_total > 0, "the writer acknowledged batches");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_engine_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("store");
    torture("file", &p, || Arc::new(FileEngine::open(&p).unwrap())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_engine_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("store.db");
    torture("sqlite", &p, || Arc::new(SqliteEngine::open(&p).unwrap())).await;
}
