//! Kill points for crash tests: with `BAILEYS_NATIVE_TEST_CRASH_AT=<point>[:<n>]` in the
//! environment, the process aborts (as a SIGKILL would end it, without unwinding or
//! flushing anything) the `n`-th time (default the first) it reaches that point of the
//! receive path. Unset, every check is one relaxed atomic load.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Where in the receive path a test may kill the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// A message decrypted, nothing written yet.
    Decrypted,
    /// Its Signal state and inbox entry written, no event emitted.
    Committed,
    /// The event handed to the event channel, the app not reached yet.
    Emitted,
    /// Its receipt reached the socket (the app may not have the event yet).
    Receipted,
}

impl CrashPoint {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "after_decrypt" => Self::Decrypted,
            "after_commit" => Self::Committed,
            "after_emit" => Self::Emitted,
            "after_receipt" => Self::Receipted,
            _ => return None,
        })
    }
}

struct Armed {
    point: CrashPoint,
    at: u64,
    seen: AtomicU64,
}

fn armed_point() -> Option<&'static Armed> {
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let v = std::env::var("BAILEYS_NATIVE_TEST_CRASH_AT").ok()?;
            let (p, n) = match v.split_once(':') {
                Some((p, n)) => (p, n.parse().ok()?),
                None => (v.as_str(), 1),
            };
            Some(Armed {
                point: CrashPoint::parse(p)?,
                at: n,
                seen: AtomicU64::new(0),
            })
        })
        .as_ref()
}

/// Whether a kill is armed at `point` (so a caller can wait for the moment it means).
pub(crate) fn armed(point: CrashPoint) -> bool {
    armed_point().is_some_and(|a| a.point == point)
}

/// Marks that the receive path reached `point`; aborts when that is the armed kill.
pub(crate) fn reached(point: CrashPoint) {
    if let Some(a) = armed_point()
        && a.point == point
        && a.seen.fetch_add(1, Ordering::SeqCst) + 1 == a.at
    {
        eprintln!("baileys-native: test kill point {point:?} reached, aborting");
        std::process::abort();
    }
}
