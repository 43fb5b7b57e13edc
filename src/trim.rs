//! Hands memory freed after a burst of work back to the operating system.
//!
//! A pairing generates, signs, stores and uploads 812 pre-keys; that leaves about 120 KB per
//! socket of freed allocator memory between the few allocations that stay, which glibc's
//! `malloc` keeps mapped (measured in docs/performance.md, "A lean socket"). The same holds for
//! an ended socket's memory. `malloc_trim` returns the free pages inside the heap, so after
//! such a burst (and not more than about once a second, however many sockets are busy) the
//! binding asks for it on a blocking thread, after the events that end such a burst
//! ([`wa_client::Event::ends_burst`]). Other allocators and platforms are left alone.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long after the first burst the trim runs: later bursts within it share the trim.
const DELAY: Duration = Duration::from_secs(1);

static SCHEDULED: AtomicBool = AtomicBool::new(false);

/// Schedules a trim unless one is already due. Must be called within the tokio runtime.
pub fn soon() {
    if !cfg!(all(target_os = "linux", target_env = "gnu")) || SCHEDULED.swap(true, Ordering::AcqRel)
    {
        return;
    }
    tokio::spawn(async {
        tokio::time::sleep(DELAY).await;
        SCHEDULED.store(false, Ordering::Release);
        let _ = tokio::task::spawn_blocking(trim).await;
    });
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: malloc_trim takes no pointers and only walks glibc's own arenas under their locks;
    // it is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}
