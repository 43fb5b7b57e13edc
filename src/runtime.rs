//! The tokio runtime every socket of the process runs on.
//!
//! One worker thread unless `TOKIO_WORKER_THREADS` (tokio's own variable) asks for more; a
//! value that is not a positive number keeps the one.
//! napi-rs' default is one worker per core. A socket's work per message is short, and with
//! more workers a woken task also wakes an idle worker to look for work to steal: on the lean
//! bench's client (2 cores, three runs each, alternated) one worker took 2-3% less CPU per
//! text received and 9-11% less per text sent than two, with the same throughput. What needs
//! more than one core does not run on the workers: store I/O and a big group's encryption go
//! to tokio's blocking pool, and the app's own code runs on Node's thread.

/// Installs the runtime; napi-rs falls back to its default if building it fails.
#[napi_derive::module_init]
fn init() {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    // Read here rather than by tokio, which panics on a value that is not a positive number
    // (and a panic here would take Node down with it).
    let workers = std::env::var("TOKIO_WORKER_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(1);
    builder.worker_threads(workers);
    if let Ok(rt) = builder.build() {
        napi::bindgen_prelude::create_custom_tokio_runtime(rt);
    }
}
