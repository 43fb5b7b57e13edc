//! The LID store's cache of mappings: entries expire after their last use, the least
//! recently used are evicted beyond a bound.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use wa_signal::ProtocolAddress;

/// How long a mapping stays cached after its last use (Baileys: 3 days).
const TTL: Duration = Duration::from_secs(3 * 24 * 60 * 60);
/// Cached mappings at most (Baileys' cache has no bound; a bot that sees many numbers should
/// not grow without end).
const CACHE_CAP: usize = 100_000;
/// Resolved session addresses kept at most (see [`Cache::address`]).
const ADDRESSES_CAP: usize = 4096;

/// A map whose entries expire `TTL` after their last use, evicting the least recently used
/// beyond `CACHE_CAP`.
#[derive(Default)]
pub(super) struct Cache {
    map: foldhash::HashMap<String, (String, Instant, u64)>,
    order: VecDeque<(String, u64)>,
    tick: u64,
    /// Phone-number device addresses whose session lives under a LID, and that LID address:
    /// every message to or from a known contact resolves its address, and doing it through the
    /// mappings (the address printed, split, joined as a JID, looked up, parsed back) was 3% of
    /// a text's CPU. Emptied whenever a mapping is set, so it never outlives what it came from.
    addresses: foldhash::HashMap<ProtocolAddress, ProtocolAddress>,
}

impl Cache {
    pub(super) fn get(&mut self, key: &str) -> Option<String> {
        let now = Instant::now();
        let (value, used, stamp) = self.map.get_mut(key)?;
        if now.duration_since(*used) > TTL {
            self.map.remove(key);
            return None;
        }
        *used = now;
        self.tick += 1;
        *stamp = self.tick;
        let v = value.clone();
        self.order.push_back((key.to_owned(), self.tick));
        self.trim();
        Some(v)
    }

    /// Whether `key` maps to `value`. A hit is a use: its expiry moves, and it goes to the back
    /// of the eviction order once it has drifted into the older half of the map, so that
    /// every message of a known contact does not queue a copy of its key as [`Cache::get`]
    /// does.
    pub(super) fn holds(&mut self, key: &str, value: &str) -> bool {
        let now = Instant::now();
        let half = (self.map.len() / 2) as u64;
        let Some((v, used, stamp)) = self.map.get_mut(key) else {
            return false;
        };
        if now.duration_since(*used) > TTL {
            self.map.remove(key);
            return false;
        }
        if v != value {
            return false;
        }
        *used = now;
        if self.tick - *stamp > half {
            self.tick += 1;
            *stamp = self.tick;
            self.order.push_back((key.to_owned(), self.tick));
            self.trim();
        }
        true
    }

    pub(super) fn set(&mut self, key: String, value: String) {
        self.addresses.clear();
        self.tick += 1;
        self.order.push_back((key.clone(), self.tick));
        self.map.insert(key, (value, Instant::now(), self.tick));
        self.trim();
    }

    fn trim(&mut self) {
        // Stale order entries (a key touched again later) are skipped, and dropped once they
        // make up most of the queue.
        while self.map.len() > CACHE_CAP
            || self.order.len() > 2 * self.map.len().max(CACHE_CAP / 64)
        {
            let Some((k, stamp)) = self.order.pop_front() else {
                break;
            };
            if self.map.len() > CACHE_CAP && self.map.get(&k).is_some_and(|e| e.2 == stamp) {
                self.map.remove(&k);
            }
        }
    }

    pub(super) fn clear(&mut self) {
        self.map.clear();
        self.order.clear();
        self.addresses.clear();
    }

    /// Where the session with phone-number address `a` lives, when resolved since the last
    /// change of a mapping.
    pub(super) fn address(&self, a: &ProtocolAddress) -> Option<ProtocolAddress> {
        self.addresses.get(a).cloned()
    }

    pub(super) fn keep_address(&mut self, a: ProtocolAddress, at: ProtocolAddress) {
        if self.addresses.len() >= ADDRESSES_CAP {
            self.addresses.clear();
        }
        self.addresses.insert(a, at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_is_bounded() {
        let mut c = Cache::default();
        for i in 0..(CACHE_CAP + 50) {
            c.set(format!("k{i}"), "v".into());
        }
        assert!(c.map.len() <= CACHE_CAP);
        assert!(c.get("k0").is_none());
        assert!(c.get(&format!("k{}", CACHE_CAP + 49)).is_some());
        assert!(c.order.len() <= 2 * CACHE_CAP);
    }

    #[test]
    fn a_hit_that_holds_moves_back_in_the_eviction_order_only_once_it_is_old() {
        let mut c = Cache::default();
        for i in 0..10 {
            c.set(format!("pn:{i}"), format!("{i}{i}"));
        }
        let queued = c.order.len();
        for _ in 0..100 {
            assert!(c.holds("pn:9", "99"));
        }
        assert_eq!(c.order.len(), queued, "a recent entry is not queued again");
        assert!(c.holds("pn:0", "00"));
        assert_eq!(c.order.len(), queued + 1, "an old one is");
        assert_eq!(c.order.back().unwrap().0, "pn:0");
        assert!(c.holds("pn:0", "00"));
        assert_eq!(c.order.len(), queued + 1, "and then is recent");
        assert!(!c.holds("pn:1", "12"), "another value");
        assert!(!c.holds("pn:10", "11"), "another key");
        // Eviction still bounds the map when hits do not queue.
        let mut c = Cache::default();
        for i in 0..(CACHE_CAP + 50) {
            c.set(format!("k{i}"), "v".into());
            assert!(c.holds(&format!("k{i}"), "v"));
        }
        assert!(c.map.len() <= CACHE_CAP);
    }

    #[test]
    fn resolved_addresses_go_when_any_mapping_is_set_and_stay_bounded() {
        let pn = |d| ProtocolAddress::new("5511", d).unwrap();
        let lid = |d| ProtocolAddress::new("77_1", d).unwrap();
        let mut c = Cache::default();
        c.keep_address(pn(1), lid(1));
        assert_eq!(c.address(&pn(1)), Some(lid(1)));
        assert_eq!(c.address(&pn(2)), None);
        c.set("pn:5599".into(), "88".into());
        assert_eq!(c.address(&pn(1)), None, "a mapping changed");
        c.keep_address(pn(1), lid(1));
        c.clear();
        assert_eq!(c.address(&pn(1)), None);
        for d in 0..(ADDRESSES_CAP as u32 + 10) {
            c.keep_address(pn(d), lid(d));
        }
        assert!(c.addresses.len() <= ADDRESSES_CAP);
        assert_eq!(
            c.address(&pn(ADDRESSES_CAP as u32 + 9)),
            Some(lid(ADDRESSES_CAP as u32 + 9))
        );
    }
}
