//! An engine that keeps everything in memory: tests, benchmarks, short-lived bots.
//!
//! Its size is an account's size: a pairing leaves 812 pre-keys in it, and a process may hold
//! hundreds of accounts. So it keeps one sorted map and no second index (a parent's children
//! are a range of it, see [`key`]), and values in the packed form of [`pack`]: the BufferJSON
//! objects that make up most of a key's JSON are kept as their bytes, not as base64.

use std::collections::BTreeSet;
use std::ops::Bound;
use std::sync::RwLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::engine::{BoxFuture, Engine, Write};
use crate::path;

/// An entry's map key: its parent, a NUL, its name. Paths hold no NUL, so the children of one
/// parent are exactly the keys that start with `parent\0`, already in name order.
fn key(path: &str) -> Vec<u8> {
    let (parent, name) = path::split(path);
    let mut k = Vec::with_capacity(path.len() + 1);
    k.extend_from_slice(parent.as_bytes());
    k.push(0);
    k.extend_from_slice(name.as_bytes());
    k
}

/// The path of a map key (the inverse of [`key`]).
fn path_of(key: &[u8]) -> String {
    let cut = key.iter().rposition(|&b| b == 0).unwrap_or(0);
    let parent = String::from_utf8_lossy(&key[..cut]);
    let name = String::from_utf8_lossy(key.get(cut + 1..).unwrap_or_default());
    path::join(&parent, &name)
}

/// A value kept as given.
const RAW: u8 = 0;
/// A UTF-8 value whose BufferJSON objects are packed (see [`pack`]).
const PACKED: u8 = 1;
/// Stands for one BufferJSON object in a packed value; never a byte of UTF-8 text.
const BUFFER: u8 = 0xFF;
const BUFFER_OPEN: &str = r#"{"type":"Buffer","data":""#;
const BUFFER_CLOSE: &str = r#""}"#;

/// The stored form of a value. Text holding `{"type":"Buffer","data":"<base64>"}` (how
/// BufferJSON writes bytes, so every Signal key) gets each such object replaced by
/// [`BUFFER`], the length as LEB128 and the bytes, about half the size. Only base64 that
/// encodes back to the same text is packed, so [`unpack`] returns exactly what was set.
fn pack_into(out: &mut Vec<u8>, value: &[u8]) {
    let text = match std::str::from_utf8(value) {
        Ok(t) if t.contains(BUFFER_OPEN) => t,
        _ => {
            out.push(RAW);
            out.extend_from_slice(value);
            return;
        }
    };
    out.push(PACKED);
    let mut rest = text;
    while let Some(at) = rest.find(BUFFER_OPEN) {
        out.extend_from_slice(&rest.as_bytes()[..at]);
        let body = &rest[at + BUFFER_OPEN.len()..];
        let packed = body.find('"').and_then(|end| {
            let b64 = &body[..end];
            let after = body[end..].strip_prefix(BUFFER_CLOSE)?;
            let bytes = STANDARD.decode(b64).ok()?;
            (STANDARD.encode(&bytes) == b64).then_some((bytes, after))
        });
        match packed {
            Some((bytes, after)) => {
                out.push(BUFFER);
                leb128(out, bytes.len());
                out.extend_from_slice(&bytes);
                rest = after;
            }
            None => {
                out.extend_from_slice(BUFFER_OPEN.as_bytes());
                rest = body;
            }
        }
    }
    out.extend_from_slice(rest.as_bytes());
}

/// The value [`pack_into`] was given.
fn unpack(stored: &[u8]) -> Vec<u8> {
    let Some((&tag, body)) = stored.split_first() else {
        return Vec::new();
    };
    if tag == RAW {
        return body.to_vec();
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 2);
    let mut rest = body;
    while let Some(at) = rest.iter().position(|&b| b == BUFFER) {
        out.extend_from_slice(&rest[..at]);
        let (len, used) = read_leb128(&rest[at + 1..]);
        let start = at + 1 + used;
        let bytes = &rest[start..start + len];
        out.extend_from_slice(BUFFER_OPEN.as_bytes());
        let at = out.len();
        out.resize(at + bytes.len().div_ceil(3) * 4, 0);
        let written = STANDARD
            .encode_slice(bytes, &mut out[at..])
            .unwrap_or_default();
        out.truncate(at + written);
        out.extend_from_slice(BUFFER_CLOSE.as_bytes());
        rest = &rest[start + len..];
    }
    out.extend_from_slice(rest);
    out
}

fn leb128(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let byte = (n & 0x7F) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Reads what [`leb128`] wrote (only our own packed values are read back).
fn read_leb128(b: &[u8]) -> (usize, usize) {
    let mut n = 0usize;
    for (i, &byte) in b.iter().enumerate() {
        n |= usize::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return (n, i + 1);
        }
    }
    (n, b.len())
}

/// One entry in one allocation: the length of its [`key`] (two bytes, little-endian), the
/// key, then the value as [`pack_into`] stores it. Ordered and looked up by the key alone.
struct Entry(Box<[u8]>);

impl Entry {
    fn new(key: &[u8], value: &[u8]) -> Self {
        let mut b = Vec::with_capacity(2 + key.len() + 1 + value.len());
        // Paths are at most path::MAX_PATH (4096) bytes: the length fits two bytes.
        b.extend_from_slice(&(key.len() as u16).to_le_bytes());
        b.extend_from_slice(key);
        pack_into(&mut b, value);
        Entry(b.into_boxed_slice())
    }

    fn split(&self) -> (&[u8], &[u8]) {
        let len = usize::from(u16::from_le_bytes([self.0[0], self.0[1]]));
        self.0[2..].split_at(len)
    }

    fn key(&self) -> &[u8] {
        self.split().0
    }

    fn value(&self) -> Vec<u8> {
        unpack(self.split().1)
    }
}

impl std::borrow::Borrow<[u8]> for Entry {
    fn borrow(&self) -> &[u8] {
        self.key()
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(other.key())
    }
}

#[derive(Default)]
struct Inner {
    /// Every entry, ordered by [`key`]. A set of single allocations rather than a map of key
    /// and value: an account's 812 pre-keys cost 146 KB in a map and about 90 in this.
    entries: BTreeSet<Entry>,
}

impl Inner {
    fn get(&self, p: &str) -> Option<Vec<u8>> {
        self.entries.get(key(p).as_slice()).map(Entry::value)
    }

    /// Applies a batch. Its entries are all made before the writer's buffers are freed: made
    /// one by one, each would land in the hole the previous write's larger buffer left, and
    /// the remainders would stay as small gaps between long-lived entries (a pairing's 812
    /// pre-keys left ~70 KB of them).
    fn apply(&mut self, writes: Vec<Write>) {
        let made: Vec<(Vec<u8>, Option<Entry>)> = writes
            .iter()
            .map(|w| {
                let k = key(&w.path);
                let e = w.value.as_deref().map(|v| Entry::new(&k, v));
                (k, e)
            })
            .collect();
        drop(writes);
        for (k, e) in made {
            match e {
                Some(e) => {
                    self.entries.replace(e);
                }
                None => {
                    self.entries.remove(k.as_slice());
                }
            }
        }
    }
}

/// The in-memory engine. Values are copied out on `get`, so readers are independent of writers.
#[derive(Default)]
pub struct MemoryEngine {
    inner: RwLock<Inner>,
}

impl MemoryEngine {
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }
}

impl Engine for MemoryEngine {
    fn get<'a>(&'a self, p: &'a str) -> BoxFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            path::check(p)?;
            Ok(self.read().get(p))
        })
    }

    fn get_many<'a>(&'a self, paths: &'a [String]) -> BoxFuture<'a, Vec<Option<Vec<u8>>>> {
        Box::pin(async move {
            for p in paths {
                path::check(p)?;
            }
            let inner = self.read();
            Ok(paths.iter().map(|p| inner.get(p)).collect())
        })
    }

    fn set_many<'a>(&'a self, writes: Vec<Write>) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            // Validate everything first so a bad path leaves the batch unapplied.
            for w in &writes {
                path::check(&w.path)?;
            }
            let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
            inner.apply(writes);
            Ok(())
        })
    }

    fn list<'a>(
        &'a self,
        prefix: &'a str,
        offset: usize,
        limit: usize,
    ) -> BoxFuture<'a, Vec<String>> {
        Box::pin(async move {
            let prefix = path::check_prefix(prefix)?;
            let mut from = prefix.as_bytes().to_vec();
            from.push(0);
            let mut to = prefix.as_bytes().to_vec();
            to.push(1);
            let inner = self.read();
            Ok(inner
                .entries
                .range::<[u8], _>((Bound::Included(&from[..]), Bound::Excluded(&to[..])))
                .skip(offset)
                .take(limit)
                .map(|e| path_of(e.key()))
                .collect())
        })
    }

    /// Scan order is the map's: parent by parent, each one's children in name order.
    fn scan<'a>(&'a self, after: Option<&'a str>, limit: usize) -> BoxFuture<'a, Vec<String>> {
        Box::pin(async move {
            let from = after.map(key);
            let lower = match &from {
                Some(k) => Bound::Excluded(&k[..]),
                None => Bound::Unbounded,
            };
            let inner = self.read();
            Ok(inner
                .entries
                .range::<[u8], _>((lower, Bound::Unbounded))
                .take(limit)
                .map(|e| path_of(e.key()))
                .collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buffer_json(bytes: &[u8]) -> String {
        format!(r#"{{"type":"Buffer","data":"{}"}}"#, STANDARD.encode(bytes))
    }

    #[test]
    fn packing_returns_every_value_exactly() {
        let key_pair = format!(
            r#"{{"private":{},"public":{}}}"#,
            buffer_json(&[7; 32]),
            buffer_json(&[9; 33])
        );
        let cases: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"{}".to_vec(),
            key_pair.clone().into_bytes(),
            // Not canonical base64 (trailing bits set): kept as text.
            br#"{"type":"Buffer","data":"AB=="}"#.to_vec(),
            // Unclosed, or not followed by `"}`: kept as text.
            br#"{"type":"Buffer","data":"AAAA"#.to_vec(),
            br#"[{"type":"Buffer","data":"AAAA","x":1}]"#.to_vec(),
            // Empty and long buffers (a two-byte length), next to each other.
            format!("[{},{}]", buffer_json(&[]), buffer_json(&[1; 300])).into_bytes(),
            // Binary content, including the marker byte.
            vec![0xFF, 0x00, 0x01, 0xFE],
            "héllo {\"type\":\"Buffer\"}".as_bytes().to_vec(),
        ];
        for v in cases {
            let mut stored = Vec::new();
            pack_into(&mut stored, &v);
            assert_eq!(
                unpack(&stored),
                v,
                "round trip of {:?}",
                String::from_utf8_lossy(&v)
            );
        }
        let mut stored = Vec::new();
        pack_into(&mut stored, key_pair.as_bytes());
        assert_eq!(stored[0], PACKED);
        assert!(
            stored.len() < key_pair.len() * 2 / 3,
            "a key pair packs to {} of {} bytes",
            stored.len(),
            key_pair.len()
        );
    }

    #[test]
    fn keys_map_back_to_paths() {
        for p in [
            "creds",
            "session/creds",
            "session/signal/pre-key/12",
            "a-b/c",
        ] {
            assert_eq!(path_of(&key(p)), p);
        }
    }

    #[tokio::test]
    async fn lists_direct_children_only_and_scans_everything() {
        let e = MemoryEngine::new();
        let w = |p: &str| Write {
            path: p.to_owned(),
            value: Some(p.as_bytes().to_vec()),
        };
        e.set_many(vec![
            w("a/x"),
            w("a/y"),
            w("a/y/z"),
            w("a-b/c"),
            w("a"),
            w("b"),
        ])
        .await
        .unwrap();
        assert_eq!(e.list("a", 0, 10).await.unwrap(), ["a/x", "a/y"]);
        assert_eq!(e.list("a/", 1, 10).await.unwrap(), ["a/y"]);
        assert_eq!(e.list("", 0, 10).await.unwrap(), ["a", "b"]);
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = e.scan(after.as_deref(), 2).await.unwrap();
            if page.is_empty() {
                break;
            }
            after = page.last().cloned();
            seen.extend(page);
        }
        seen.sort();
        assert_eq!(seen, ["a", "a-b/c", "a/x", "a/y", "a/y/z", "b"]);
        e.set("a/y", None).await.unwrap();
        assert_eq!(e.list("a", 0, 10).await.unwrap(), ["a/x"]);
        assert_eq!(
            e.get("a/y/z").await.unwrap().as_deref(),
            Some(&b"a/y/z"[..])
        );
    }
}
