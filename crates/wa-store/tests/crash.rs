//! Crash safety: a child process writes batches and is killed with SIGKILL at a random
//! moment, 100 times per store; after each kill the store must open, hold every
//! acknowledged batch whole, no batch in part, and (for engines) list them in creation
//! order. File stores run half of the rounds with a tiny checkpoint size, so kills also
//! land between a log append and its files, and in the middle of checkpoints.

#![cfg(unix)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wa_store::{BaileysFolder, Engine, FileEngine, SqliteEngine};

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

/// The batches a store at batch `last` must hold.
fn live(last: u64) -> std::ops::RangeInclusive<u64> {
    last.saturating_sub(2).max(1)..=last
}

async fn check_engine(engine: &dyn Engine, acked: u64) -> u64 {
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
    // Key order (byte order of the paths).
    let mut want = Vec::new();
    for n in live(last) {
        for i in 0..writer::keys(n) {
            want.push(format!("b/{n}.{i}"));
        }
    }
    want.sort_unstable();
    let have = engine.list("b", 0, 10_000).await.unwrap();
    assert_eq!(
        have.iter().collect::<BTreeSet<_>>(),
        want.iter().collect::<BTreeSet<_>>(),
        "store at batch {last} holds part of a batch"
    );
    assert_eq!(have, want, "store at batch {last} lists out of key order");
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

async fn check_folder(f: &BaileysFolder, acked: u64) -> u64 {
    let meta = f.read_files(vec!["meta.json".into()]).await.unwrap()[0].take();
    let last = meta.map_or(0, |b| String::from_utf8(b).unwrap().parse::<u64>().unwrap());
    assert!(
        last >= acked,
        "acknowledged batch {acked} lost (folder is at {last})"
    );
    let mut want = BTreeSet::new();
    for n in live(last) {
        for i in 0..writer::keys(n) {
            want.insert(writer::file_name(n, i));
        }
    }
    let have: BTreeSet<String> = f
        .entries()
        .await
        .unwrap()
        .into_iter()
        .map(|(name, _)| name)
        .filter(|n| n.starts_with("b-"))
        .collect();
    assert_eq!(have, want, "folder at batch {last} holds part of a batch");
    let names: Vec<String> = want.iter().cloned().collect();
    for (name, bytes) in names.iter().zip(f.read_files(names.clone()).await.unwrap()) {
        let (n, i) = name[2..name.len() - 5].split_once('.').unwrap();
        let (n, i) = (n.parse().unwrap(), i.parse().unwrap());
        assert!(bytes.unwrap() == writer::json_value(n, i), "{name} corrupt");
    }
    last
}

async fn reopen_and_check(kind: &str, path: &Path, acked: u64) -> u64 {
    match kind {
        "file" | "file-process" => check_engine(&FileEngine::open(path).unwrap(), acked).await,
        "sqlite" => check_engine(&SqliteEngine::open(path).unwrap(), acked).await,
        "folder" => check_folder(&BaileysFolder::open(path).unwrap(), acked).await,
        _ => unreachable!("unknown kind {kind}"),
    }
}

async fn torture(kind: &str, path: &Path) {
    let mut rng = Rng(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64);
    let started = Instant::now();
    let (mut kills_mid_run, mut acked_total, mut small_checkpoints) = (0, 0u64, 0);
    for round in 0..ROUNDS {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wa-store-crash-writer"));
        cmd.arg(kind).arg(path);
        if kind != "sqlite" && rng.below(2) == 0 {
            cmd.arg((1024 + rng.below(256 * 1024)).to_string());
            small_checkpoints += 1;
        }
        let mut child = cmd
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
        let last = reopen_and_check(kind, path, acked).await;
        assert!(last >= acked, "round {round}");
        // Batches are numbered across rounds: the store's last batch counts them all.
        acked_total = last;
    }
    eprintln!(
        "{kind}: {ROUNDS} SIGKILLs ({kills_mid_run} while running, {small_checkpoints} with tiny checkpoints, {acked_total} batches committed in all) in {:?}; store checked after each",
        started.elapsed()
    );
    assert_eq!(kills_mid_run, ROUNDS, "every round killed a live writer");
    assert!(acked_total > 0, "the writer acknowledged batches");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_engine_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    torture("file", &dir.path().join("store")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_engine_with_process_durability_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    torture("file-process", &dir.path().join("store")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_folder_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    torture("folder", &dir.path().join("auth")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_engine_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    torture("sqlite", &dir.path().join("store.db")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_cannot_open_a_store_in_use() {
    let dir = tempfile::tempdir().unwrap();
    for (kind, path) in [
        ("file", dir.path().join("store")),
        ("folder", dir.path().join("auth")),
    ] {
        let hold: Box<dyn std::any::Any> = if kind == "file" {
            Box::new(FileEngine::open(&path).unwrap())
        } else {
            Box::new(BaileysFolder::open(&path).unwrap())
        };
        let out = Command::new(env!("CARGO_BIN_EXE_wa-store-crash-writer"))
            .arg(kind)
            .arg(&path)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{kind}: a second writer was let in");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("open in another process"), "{kind}: {err}");
        // Once we close it, the other process can open it.
        drop(hold);
        let mut child = Command::new(env!("CARGO_BIN_EXE_wa-store-crash-writer"))
            .arg(kind)
            .arg(&path)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(first.starts_with("ready"), "{kind}: {first:?}");
    }
}
