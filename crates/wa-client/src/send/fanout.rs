//! Encrypting one message for many devices (a chat's devices, or a group's sender key for
//! every member device): every device's lock taken and its record read (once, in the usual
//! case where every device has a session; else the locks are let go while the bundles of the
//! devices without one are fetched in one query, and taken again), then the Signal work (a
//! session setup is five curve agreements and a signature check, about half a millisecond)
//! spread over the machine's cores, and everything written back in **one** store commit.
//!
//! Profiled on the first send to a 3,000-device group, over 70% of the client's time was those
//! agreements, all on one thread, and each device's session was written on its own.

use std::collections::HashMap;
use std::sync::Arc;

use wa_signal::protocol::{FanOutDevice, FanOutResult, fan_out_batch, fan_out_device, fan_out_one};
use wa_signal::store::{IdentityKeyStore, StoreCommit};
use wa_signal::{Encrypted, LocalIdentity, PreKeyBundle, SignalError};

use crate::ctx::{Client, now_ms};
use crate::error::ClientError;
use crate::sessions::{bundle_query, parse_bundles};

/// Below this many devices the work stays on the calling task: a thread hand-off costs more
/// than it saves.
const PARALLEL_FROM: usize = 32;

/// At most this many threads work on one fan-out (the runtime's blocking pool runs them).
const MAX_THREADS: usize = 4;

/// The cores this process may use, asked once.
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

type Job = (usize, FanOutDevice, Arc<Vec<u8>>);

fn store_err(e: wa_signal::StoreError, what: &str) -> ClientError {
    wa_signal::ErrorKind::Store(e.to_string()).at(what).into()
}

fn run_jobs(
    local: &LocalIdentity,
    jobs: Vec<Job>,
    now: i64,
) -> Vec<(usize, Result<FanOutResult, SignalError>)> {
    jobs.into_iter()
        .map(|(i, device, plain)| (i, fan_out_one(local, device, &plain, now)))
        .collect()
}

impl Client {
    /// Encrypts for each `(device JID, plaintext index)` the plaintext it names, starting the
    /// sessions that are missing; the results come in the order of `targets`.
    pub(crate) async fn encrypt_for_devices(
        &self,
        targets: &[(String, usize)],
        plaintexts: &[Vec<u8>],
    ) -> Result<Vec<(String, Encrypted)>, ClientError> {
        let store = self.inner.signal.store();
        let mut addresses = Vec::with_capacity(targets.len());
        for (jid, _) in targets {
            addresses.push(self.address(jid).await?);
        }
        // Every device's lock, in one order, so two fan-outs never wait on each other in a
        // circle; held until the writes are in.
        let mut keys: Vec<String> = addresses.iter().map(ToString::to_string).collect();
        keys.sort_unstable();
        keys.dedup();

        // Most sends go to devices with a session: their records are read once, under the
        // locks. A device without one needs its bundle first, and the network round trip must
        // come before any lock is taken (a receive for that device would wait on it): then the
        // locks are let go and everything is read again once the bundles are in.
        let mut bundles: HashMap<String, PreKeyBundle> = HashMap::new();
        let mut fetched = false;
        let (guards, devices) = loop {
            let mut guards = Vec::with_capacity(keys.len());
            for k in &keys {
                guards.push(self.inner.signal.lock(k.clone()).await);
            }
            let mut devices = Vec::with_capacity(targets.len());
            let mut need = Vec::new();
            for ((jid, _), addr) in targets.iter().zip(&addresses) {
                let device = fan_out_device(store, addr.clone(), bundles.remove(jid)).await?;
                if device.bundle.is_none() && !device.record.has_open_session() {
                    need.push(jid.clone());
                }
                devices.push(device);
            }
            if need.is_empty() || fetched {
                break (guards, devices);
            }
            drop(devices);
            drop(guards);
            let result = self.query(bundle_query(&need), None).await?;
            for (jid, bundle) in parse_bundles(&result) {
                match bundle {
                    Ok(b) => {
                        bundles.insert(jid, b);
                    }
                    Err(e) => tracing::warn!(code = e.code(), "no prekey bundle for a device"),
                }
            }
            fetched = true;
        };

        let local = store
            .local_identity()
            .await
            .map_err(|e| store_err(e, "our identity"))?;
        let plaintexts: Vec<Arc<Vec<u8>>> = plaintexts.iter().cloned().map(Arc::new).collect();
        let mut jobs = Vec::with_capacity(targets.len());
        for (i, ((jid, which), device)) in targets.iter().zip(devices).enumerate() {
            let plain = plaintexts
                .get(*which)
                .cloned()
                .ok_or_else(|| ClientError::Argument(format!("no plaintext {which} for {jid}")))?;
            jobs.push((i, device, plain));
        }

        let now = now_ms() as i64;
        // Only a big fan-out asks how many cores there are: std reads the cgroup's quota from
        // /proc and /sys on every call (five syscalls; 8.5% of a 1:1 send's CPU when asked
        // per message).
        let threads = if jobs.len() < PARALLEL_FROM {
            1
        } else {
            cores().min(MAX_THREADS)
        };
        let mut done =
            if threads < 2 {
                run_jobs(&local, jobs, now)
            } else {
                let per = jobs.len().div_ceil(threads);
                let mut handles = Vec::with_capacity(threads);
                let mut rest = jobs;
                while !rest.is_empty() {
                    let tail = rest.split_off(per.min(rest.len()));
                    let chunk = std::mem::replace(&mut rest, tail);
                    let local = local.clone();
                    handles.push(tokio::task::spawn_blocking(move || {
                        run_jobs(&local, chunk, now)
                    }));
                }
                let mut all = Vec::with_capacity(targets.len());
                for h in handles {
                    all.extend(h.await.map_err(|e| {
                        ClientError::Protocol(format!("a fan-out worker failed: {e}"))
                    })?);
                }
                all
            };
        done.sort_unstable_by_key(|(i, _)| *i);
        let mut results = Vec::with_capacity(done.len());
        for (_, r) in done {
            results.push(r?);
        }
        store
            .commit(fan_out_batch(&results))
            .await
            .map_err(|e| store_err(e, "fan-out"))?;
        drop(guards);
        Ok(targets
            .iter()
            .zip(results)
            .map(|((jid, _), r)| (jid.clone(), r.encrypted))
            .collect())
    }
}
