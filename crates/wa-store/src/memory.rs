//! An engine that keeps everything in memory: tests, benchmarks, short-lived bots.
//!
//! Its size is an account's size: a pairing leaves 812 pre-keys in it, and a process may hold
//! hundreds of accounts. So each parent path is kept once, its children by name in one sorted
//! set (the parent's entries are its listing), the entries of one write in one slab, and values
//! in the packed form of [`pack_into`]: the BufferJSON objects that make up most of a key's
//! JSON are kept as their bytes, not as base64, and common JSON keys as one-byte words.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::{Arc, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::engine::{BoxFuture, Engine, Write};
use crate::error::StoreError;
use crate::keys::TypedValue;
use crate::path;

/// A value kept as given.
const RAW: u8 = 0;
/// A UTF-8 value whose BufferJSON objects and common JSON keys are packed (see [`pack_into`]).
const PACKED: u8 = 1;
/// A Curve25519 key pair as a pre-key is stored (`{"private":…,"public":…}` in BufferJSON),
/// kept as its 32 private bytes: the public key is derived again when it is read. A pairing
/// stores 812 of them per account, and the public halves were 29 KB of every idle socket.
const KEY_PAIR: u8 = 2;
/// Stands for one BufferJSON object in a packed value; never a byte of UTF-8 text.
const BUFFER: u8 = 0xFF;
/// Followed by an index into [`WORDS`], stands for that word; never a byte of UTF-8 text.
const WORD: u8 = 0xFE;
const BUFFER_OPEN: &str = r#"{"type":"Buffer","data":""#;
const BUFFER_CLOSE: &str = r#""}"#;

/// The object keys of the JSON that Signal keys are stored as (Baileys' key pairs, libsignal's
/// session and sender-key records), each as it appears before its value. A key pair that is
/// not a pre-key's exact text ([`KEY_PAIR`]) still packs its two keys as two bytes each.
const WORDS: [&str; 37] = [
    "\"private\":",
    "\"public\":",
    "\"keyPair\":",
    "\"signature\":",
    "\"keyId\":",
    "\"registrationId\":",
    "\"_sessions\":",
    "\"currentRatchet\":",
    "\"ephemeralKeyPair\":",
    "\"pubKey\":",
    "\"privKey\":",
    "\"lastRemoteEphemeralKey\":",
    "\"previousCounter\":",
    "\"rootKey\":",
    "\"indexInfo\":",
    "\"baseKey\":",
    "\"baseKeyType\":",
    "\"closed\":",
    "\"used\":",
    "\"created\":",
    "\"remoteIdentityKey\":",
    "\"_chains\":",
    "\"chainKey\":",
    "\"counter\":",
    "\"key\":",
    "\"chainType\":",
    "\"messageKeys\":",
    "\"pendingPreKey\":",
    "\"signedKeyId\":",
    "\"preKeyId\":",
    "\"version\":",
    "\"senderKeyId\":",
    "\"senderChainKey\":",
    "\"iteration\":",
    "\"seed\":",
    "\"senderSigningKey\":",
    "\"senderMessageKeys\":",
];

/// Where each of [`WORDS`] is found by its name (the text between its quotes): a word's slot
/// is a hash of the name's length and three of its bytes, and no two words share one (checked
/// when this is compiled). Trying all 37 words at each quoted string was most of the packing
/// time of a session (about fifty strings a record, written per message).
const WORD_SLOTS: usize = 128;

const fn word_slot(name: &[u8]) -> usize {
    let n = name.len();
    if n == 0 {
        return 0;
    }
    (n * 6 + name[0] as usize * 3 + name[n / 2] as usize * 7 + name[n - 1] as usize) % WORD_SLOTS
}

/// The name of a word: without its quotes and colon.
const fn word_name(word: &str) -> &[u8] {
    let (_, rest) = word.as_bytes().split_at(1);
    rest.split_at(rest.len() - 2).0
}

const NO_WORD: u8 = u8::MAX;

const WORD_TABLE: [u8; WORD_SLOTS] = {
    let mut table = [NO_WORD; WORD_SLOTS];
    let mut i = 0;
    while i < WORDS.len() {
        let slot = word_slot(word_name(WORDS[i]));
        assert!(
            table[slot] == NO_WORD,
            "two words share a slot: change word_slot"
        );
        table[slot] = i as u8;
        i += 1;
    }
    table
};

/// The index of the word named `name`, if it is one.
fn word_index(name: &[u8]) -> Option<u8> {
    let i = WORD_TABLE[word_slot(name)];
    (i != NO_WORD && word_name(WORDS[usize::from(i)]) == name).then_some(i)
}

/// Copies JSON text, each of [`WORDS`] replaced by [`WORD`] and its index.
fn put_text(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    let mut copied = 0;
    // A word is a quote, a name without quotes, a quote and a colon: at each quote, only the
    // text up to the next quote can be one.
    let mut quotes = memchr::memchr_iter(b'"', bytes).peekable();
    while let Some(start) = quotes.next() {
        let Some(&close) = quotes.peek() else {
            break;
        };
        if bytes.get(close + 1) != Some(&b':') {
            continue;
        }
        let Some(i) = word_index(&bytes[start + 1..close]) else {
            continue;
        };
        out.extend_from_slice(&bytes[copied..start]);
        out.push(WORD);
        out.push(i);
        // The closing quote is the word's: the next one starts after its colon.
        quotes.next();
        copied = close + 2;
    }
    out.extend_from_slice(&bytes[copied..]);
}

/// The stored form of a value. UTF-8 text has its common keys replaced ([`put_text`]), and
/// each `{"type":"Buffer","data":"<base64>"}` in it (how BufferJSON writes bytes, so every
/// Signal key) replaced by [`BUFFER`], the length as LEB128 and the bytes: about half the
/// size. Only base64 that encodes back to the same text is packed, so [`unpack`] returns
/// exactly what was set.
fn pack_into(out: &mut Vec<u8>, value: &[u8]) {
    if let Some(private) = key_pair_private(value) {
        out.push(KEY_PAIR);
        out.extend_from_slice(&private);
        return;
    }
    let Ok(text) = std::str::from_utf8(value) else {
        out.push(RAW);
        out.extend_from_slice(value);
        return;
    };
    out.push(PACKED);
    let mut rest = text;
    while let Some(at) = memchr::memmem::find(rest.as_bytes(), BUFFER_OPEN.as_bytes()) {
        put_text(out, &rest[..at]);
        let body = &rest[at + BUFFER_OPEN.len()..];
        let packed = memchr::memchr(b'"', body.as_bytes()).and_then(|end| {
            let after = body[end..].strip_prefix(BUFFER_CLOSE)?;
            put_buffer(out, &body.as_bytes()[..end]).then_some(after)
        });
        match packed {
            Some(after) => rest = after,
            None => {
                put_text(out, BUFFER_OPEN);
                rest = body;
            }
        }
    }
    put_text(out, rest);
}

/// Appends [`BUFFER`], the length and the bytes of `b64` when it is canonical base64 (so that
/// [`unpack`] gives the same text back); appends nothing and returns false otherwise. The
/// engine's decoder accepts only the canonical form (padding as encoding writes it, no stray
/// bits in the last character), so a successful decode is the check.
fn put_buffer(out: &mut Vec<u8>, b64: &[u8]) -> bool {
    if !b64.len().is_multiple_of(4) {
        return false;
    }
    let pad = b64.iter().rev().take(2).filter(|&&b| b == b'=').count();
    let len = b64.len() / 4 * 3 - pad;
    let mark = out.len();
    out.push(BUFFER);
    leb128(out, len);
    let at = out.len();
    out.resize(at + len, 0);
    match STANDARD.decode_slice(b64, &mut out[at..]) {
        Ok(n) if n == len => true,
        _ => {
            out.truncate(mark);
            false
        }
    }
}

const KEY_PAIR_OPEN: &str = r#"{"private":{"type":"Buffer","data":""#;
const KEY_PAIR_MIDDLE: &str = r#""},"public":{"type":"Buffer","data":""#;
const KEY_PAIR_CLOSE: &str = r#""}}"#;

/// The text of a key pair as BufferJSON writes it, its public key derived from `private`.
fn key_pair_text(private: [u8; 32]) -> Vec<u8> {
    let pair = wa_crypto::KeyPair::from_private(private);
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(KEY_PAIR_OPEN.as_bytes());
    out.extend_from_slice(STANDARD.encode(pair.private).as_bytes());
    out.extend_from_slice(KEY_PAIR_MIDDLE.as_bytes());
    out.extend_from_slice(STANDARD.encode(pair.public).as_bytes());
    out.extend_from_slice(KEY_PAIR_CLOSE.as_bytes());
    out
}

/// The private key of a value that is exactly [`key_pair_text`] of it: any other spacing,
/// order, encoding or a public key that is not the private key's is packed as text instead.
fn key_pair_private(value: &[u8]) -> Option<[u8; 32]> {
    let b64 = value.strip_prefix(KEY_PAIR_OPEN.as_bytes())?.get(..44)?;
    let private: [u8; 32] = STANDARD.decode(b64).ok()?.try_into().ok()?;
    (key_pair_text(private) == value).then_some(private)
}

/// The value [`pack_into`] was given.
fn unpack(stored: &[u8]) -> Vec<u8> {
    let Some((&tag, body)) = stored.split_first() else {
        return Vec::new();
    };
    if tag == RAW {
        return body.to_vec();
    }
    if tag == KEY_PAIR {
        return body.try_into().map(key_pair_text).unwrap_or_default();
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 2);
    let mut rest = body;
    while let Some(at) = rest.iter().position(|&b| b == BUFFER || b == WORD) {
        out.extend_from_slice(&rest[..at]);
        if rest[at] == WORD {
            let word = rest
                .get(at + 1)
                .and_then(|&i| WORDS.get(usize::from(i)))
                .map_or("", |w| *w);
            out.extend_from_slice(word.as_bytes());
            rest = rest.get(at + 2..).unwrap_or_default();
            continue;
        }
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

/// Entries are kept in slabs: one allocation holding every entry one batch wrote, each as the
/// length of its [`key`] (two bytes, little-endian), the key, then the value as [`pack_into`]
/// stores it. A pairing writes 812 pre-keys in one batch; as 812 allocations of ~110 bytes
/// they were scattered over the pages the pairing's temporaries had used, and those pages could
/// not go back to the OS when the temporaries were freed (RSS per idle socket was about twice
/// its live bytes). One slab is one dense block, without a heap header per entry. (`Arc::from`
/// copies the packed bytes into a block of their size; a thin `Arc<Vec<u8>>` saved 8 bytes an
/// entry but measured no smaller per socket.)
type Slab = Arc<[u8]>;

/// One entry: where it sits in its slab. Ordered and looked up by the key alone.
struct Entry {
    slab: Slab,
    at: u32,
    len: u32,
}

impl Entry {
    /// Appends the entry of `key` and `value` to a slab being built.
    fn write(out: &mut Vec<u8>, key: &[u8], value: &[u8]) -> (u32, u32) {
        let at = out.len();
        // Paths are at most path::MAX_PATH (4096) bytes: the length fits two bytes.
        out.extend_from_slice(&(key.len() as u16).to_le_bytes());
        out.extend_from_slice(key);
        pack_into(out, value);
        (offset(at), offset(out.len() - at))
    }

    fn bytes(&self) -> &[u8] {
        let at = self.at as usize;
        &self.slab[at..at + self.len as usize]
    }

    fn split(&self) -> (&[u8], &[u8]) {
        let b = self.bytes();
        let len = usize::from(u16::from_le_bytes([b[0], b[1]]));
        b[2..].split_at(len)
    }

    fn key(&self) -> &[u8] {
        self.split().0
    }

    fn value(&self) -> Vec<u8> {
        unpack(self.split().1)
    }
}

/// A slab offset or count: slabs are at most [`MAX_SLAB`] bytes.
fn offset(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
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
    /// Every entry: by parent path, then by name. Order is that of full paths compared as
    /// (parent, name), which is what `scan` walks. The parent is kept once, not in each of
    /// its 812 pre-keys (`session/signal/pre-key`, a fifth of what a pre-key took).
    parents: BTreeMap<Box<str>, BTreeSet<Entry>>,
    /// Values written typed and not printed yet (see [`Engine::set_typed`]), by full path.
    /// One shadows a packed entry of its path; a read prints it, a listing packs them all
    /// first. Most are the live session records the key store's cache holds too (the same
    /// `Arc`), replaced by the next message before anything reads them.
    deferred: BTreeMap<String, Arc<dyn TypedValue>>,
    /// The size of `deferred` above which the values nobody else holds are packed.
    deferred_limit: usize,
}

/// `deferred` is swept of values nobody else holds once it has more than this many (and then
/// again when it has doubled since), so a value the cache let go is packed soon after.
const DEFERRED_MIN: usize = 16;

impl Inner {
    fn get(&self, p: &str) -> Option<Vec<u8>> {
        if let Some(v) = self.deferred.get(p) {
            return Some(v.json_text().into_bytes());
        }
        let (parent, name) = path::split(p);
        self.parents
            .get(parent)?
            .get(name.as_bytes())
            .map(Entry::value)
    }

    /// Keeps typed values unprinted (see `deferred`).
    fn defer(&mut self, typed: Vec<(String, Arc<dyn TypedValue>)>) {
        self.deferred.extend(typed);
        if self.deferred.len() > self.deferred_limit.max(DEFERRED_MIN) {
            let mut writes = Vec::new();
            self.deferred.retain(|p, v| {
                let held = Arc::strong_count(v) > 1;
                if !held {
                    writes.push(Write::put(p.clone(), v.json_text().into_bytes()));
                }
                held
            });
            self.apply(writes);
            self.deferred_limit = 2 * self.deferred.len();
        }
    }

    /// Packs every deferred value: listings walk the packed entries alone.
    fn settle(&mut self) {
        if self.deferred.is_empty() {
            return;
        }
        let writes = std::mem::take(&mut self.deferred)
            .into_iter()
            .map(|(p, v)| Write::put(p, v.json_text().into_bytes()))
            .collect();
        self.apply(writes);
    }

    /// Applies a batch: its new entries go into one slab, made before the writer's buffers
    /// are freed. Entries it replaces or removes leave their slabs; a slab left with at most
    /// half of its entries is packed again, so using up most of a batch (pre-keys, one by one)
    /// frees its memory too.
    fn apply(&mut self, writes: Vec<Write>) {
        // A plain write replaces (or deletes) a deferred value of its path.
        if !self.deferred.is_empty() {
            for w in &writes {
                self.deferred.remove(&w.path);
            }
        }
        let need = |w: &Write| w.value.as_ref().map(|v| w.path.len() + v.len() + 4);
        let mut slabs: Vec<Vec<u8>> = Vec::new();
        let mut made = Vec::with_capacity(writes.len());
        let mut at = 0;
        if writes.iter().all(|w| w.value.is_none()) {
            // Deletes alone (an inbox entry's, every message) make no slab.
            made.extend(writes.iter().map(|w| (path::split(&w.path).0.len(), None)));
            at = writes.len();
        }
        while at < writes.len() {
            // As many writes as fit one slab (every one does, after set_many's check).
            let mut end = at;
            let mut size = SLAB_HEADER;
            while let Some(w) = writes.get(end) {
                let n = need(w).unwrap_or(0);
                if end > at && size + n > MAX_SLAB {
                    break;
                }
                size += n;
                end += 1;
            }
            let values = writes[at..end].iter().filter(|w| w.value.is_some()).count();
            let mut slab = Vec::with_capacity(size);
            slab.extend_from_slice(&offset(values).to_le_bytes());
            for w in &writes[at..end] {
                let (parent, name) = path::split(&w.path);
                let place = w
                    .value
                    .as_deref()
                    .map(|v| (slabs.len(), Entry::write(&mut slab, name.as_bytes(), v)));
                made.push((parent.len(), place));
            }
            slabs.push(slab);
            at = end;
        }
        let slabs: Vec<Slab> = slabs.into_iter().map(Arc::from).collect();
        let mut touched: Vec<Slab> = Vec::new();
        // Parents that gained many entries, with how many.
        let mut grown: Vec<(usize, usize)> = Vec::new();
        for (i, (w, (cut, place))) in writes.iter().zip(made).enumerate() {
            let parent = &w.path[..cut];
            let name = w.path[cut..].trim_start_matches('/');
            let old = match place {
                Some((s, (at, len))) => {
                    let set = match self.parents.get_mut(parent) {
                        Some(set) => set,
                        None => self.parents.entry(parent.into()).or_default(),
                    };
                    let old = set.replace(Entry {
                        slab: slabs[s].clone(),
                        at,
                        len,
                    });
                    if old.is_none() {
                        match grown.last_mut() {
                            Some((j, n)) if path::split(&writes[*j].path).0 == parent => *n += 1,
                            _ => grown.push((i, 1)),
                        }
                    }
                    old
                }
                None => {
                    let set = self.parents.get_mut(parent);
                    let old = set.and_then(|set| set.take(name.as_bytes()));
                    if self.parents.get(parent).is_some_and(BTreeSet::is_empty) {
                        self.parents.remove(parent);
                    }
                    old
                }
            };
            if let Some(old) = old
                && !touched.iter().any(|s| Arc::ptr_eq(s, &old.slab))
            {
                touched.push(old.slab);
            }
        }
        drop(slabs);
        for old in touched {
            self.repack_if_sparse(old);
        }
        for (j, n) in grown {
            let parent = path::split(&writes[j].path).0;
            // Relative to the set's size too, so that many large batches (an import) cost a
            // bounded number of rebuilds per entry.
            if let Some(set) = self.parents.get_mut(parent)
                && n >= REBUILD_AFTER
                && n * 8 >= set.len()
            {
                rebuild(set);
            }
        }
    }

    /// Packs the live entries of `slab` into a new one if it was a large write and at most
    /// half of its entries are left. Finding them walks every entry, so it happens once per
    /// halving of a large slab, never per message: the few entries of a message's commit (a
    /// session, a sender key) all go when the next commit replaces them, and a small slab
    /// pins at most a few of its neighbours meanwhile.
    fn repack_if_sparse(&mut self, slab: Slab) {
        // Our own handle is one of the counts.
        let live = Arc::strong_count(&slab) - 1;
        let made = made_with(&slab);
        if live == 0 || made < REPACK_FROM || live * 2 > made {
            return;
        }
        let of_slab = |e: &&Entry| Arc::ptr_eq(&e.slab, &slab);
        let size: usize = self
            .parents
            .values()
            .flat_map(|set| set.iter().filter(of_slab))
            .map(|e| e.len as usize)
            .sum();
        let mut packed = Vec::with_capacity(SLAB_HEADER + size);
        packed.extend_from_slice(&offset(live).to_le_bytes());
        // (parent, offset, length) of each live entry.
        let mut places: Vec<(Box<str>, u32, u32)> = Vec::with_capacity(live);
        for (parent, set) in &self.parents {
            for e in set.iter().filter(of_slab) {
                places.push((parent.clone(), offset(packed.len()), e.len));
                packed.extend_from_slice(e.bytes());
            }
        }
        let packed: Slab = Arc::from(packed);
        // Each new entry has its old one's name, so it takes that one's place.
        for (parent, at, len) in places {
            if let Some(set) = self.parents.get_mut(&parent) {
                set.replace(Entry {
                    slab: packed.clone(),
                    at,
                    len,
                });
            }
        }
    }
}

/// Builds a set again from its sorted entries. Inserted one at a time, a B-tree's nodes end
/// up half to two-thirds full (812 pre-keys took ~39 KB of nodes, each a separate allocation
/// made between the batch's temporaries); built in one go, they are full and made together.
fn rebuild(set: &mut BTreeSet<Entry>) {
    let entries = std::mem::take(set);
    *set = entries.into_iter().collect();
}

/// The smallest write whose slab is packed again when half used up (see
/// [`Inner::repack_if_sparse`]).
const REPACK_FROM: usize = 64;

/// A batch that adds this many entries, and at least an eighth of the set, has the set built
/// again (see [`Inner::rebuild`]): rare (a pairing's pre-keys), and cheap next to the batch.
const REBUILD_AFTER: usize = 64;

/// The largest slab; a batch larger than this is split, and `set_many` refuses a value that
/// would not fit one alone.
const MAX_SLAB: usize = 1 << 30;

/// A slab starts with the number of entries it was made with (four bytes, little-endian).
const SLAB_HEADER: usize = 4;

fn made_with(slab: &Slab) -> usize {
    u32::from_le_bytes([slab[0], slab[1], slab[2], slab[3]]) as usize
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

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The entries with every deferred value packed, for a walk over them.
    fn settled(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        if !self.read().deferred.is_empty() {
            self.write().settle();
        }
        self.read()
    }
}

/// Checks a batch before any of it is applied, so a bad path leaves it all unapplied.
fn check_writes(writes: &[Write]) -> Result<(), StoreError> {
    for w in writes {
        path::check(&w.path)?;
        if w.value
            .as_ref()
            .is_some_and(|v| v.len() + w.path.len() + 4 + SLAB_HEADER > MAX_SLAB)
        {
            return Err(StoreError::BadValue(format!(
                "{}: the memory engine keeps values up to 1 GiB",
                w.path
            )));
        }
    }
    Ok(())
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

    // A batch is applied under the write lock, after every check.
    fn all_or_nothing(&self) -> bool {
        true
    }

    fn set_many<'a>(&'a self, writes: Vec<Write>) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            check_writes(&writes)?;
            self.write().apply(writes);
            Ok(())
        })
    }

    fn set_typed<'a>(
        &'a self,
        writes: Vec<Write>,
        typed: Vec<(String, Arc<dyn TypedValue>)>,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            check_writes(&writes)?;
            for (p, _) in &typed {
                path::check(p)?;
            }
            let mut inner = self.write();
            inner.apply(writes);
            inner.defer(typed);
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
            let inner = self.settled();
            Ok(inner
                .parents
                .get(prefix)
                .into_iter()
                .flatten()
                .skip(offset)
                .take(limit)
                .map(|e| path::join(prefix, &String::from_utf8_lossy(e.key())))
                .collect())
        })
    }

    /// Scan order is parent by parent, each one's children in name order.
    fn scan<'a>(&'a self, after: Option<&'a str>, limit: usize) -> BoxFuture<'a, Vec<String>> {
        Box::pin(async move {
            let inner = self.settled();
            let (first, after_name) = match after {
                Some(a) => {
                    let (parent, name) = path::split(a);
                    (Bound::Included(parent), Some(name))
                }
                None => (Bound::Unbounded, None),
            };
            let mut out = Vec::new();
            for (parent, set) in inner.parents.range::<str, _>((first, Bound::Unbounded)) {
                let names: Box<dyn Iterator<Item = &Entry>> = match (after, after_name) {
                    (Some(a), Some(name)) if path::split(a).0 == &**parent => Box::new(
                        set.range::<[u8], _>((Bound::Excluded(name.as_bytes()), Bound::Unbounded)),
                    ),
                    _ => Box::new(set.iter()),
                };
                for e in names {
                    if out.len() == limit {
                        return Ok(out);
                    }
                    out.push(path::join(parent, &String::from_utf8_lossy(e.key())));
                }
            }
            Ok(out)
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
            // Not canonical either: no padding, too much, misplaced; and one that is.
            br#"{"type":"Buffer","data":"QQ"}"#.to_vec(),
            br#"{"type":"Buffer","data":"Q==="}"#.to_vec(),
            br#"{"type":"Buffer","data":"QQ=A"}"#.to_vec(),
            br#"{"type":"Buffer","data":"=QQA"}"#.to_vec(),
            br#"{"type":"Buffer","data":"QQ=="}"#.to_vec(),
            // Unclosed, or not followed by `"}`: kept as text.
            br#"{"type":"Buffer","data":"AAAA"#.to_vec(),
            br#"[{"type":"Buffer","data":"AAAA","x":1}]"#.to_vec(),
            // Empty and long buffers (a two-byte length), next to each other.
            format!("[{},{}]", buffer_json(&[]), buffer_json(&[1; 300])).into_bytes(),
            // Binary content, including the marker byte.
            vec![0xFF, 0x00, 0x01, 0xFE],
            "héllo {\"type\":\"Buffer\"}".as_bytes().to_vec(),
            // Keys as words, and near misses kept as text.
            br#"{"_sessions":{"x":{"currentRatchet":{"rootKey":"AAAA","counter":1}}},"version":"v1"}"#
                .to_vec(),
            br#"{"private" :1,"private","privat":2,"\"public\":":3,"":"","key":"key"}"#.to_vec(),
            br#"""#.to_vec(),
            br#"{"seed":"#.to_vec(),
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
        pack_into(&mut stored, br#"{"type":"Buffer","data":"QQ=="}"#);
        assert_eq!(
            stored,
            [PACKED, BUFFER, 1, b'A'],
            "canonical base64 is kept as its bytes"
        );
        let mut stored = Vec::new();
        pack_into(&mut stored, key_pair.as_bytes());
        assert_eq!(stored[0], PACKED);
        // The pre-key form: two keys as words, two buffers as bytes.
        assert_eq!(stored.len(), 1 + 1 + 2 + 2 + 32 + 1 + 2 + 2 + 33 + 1);
        assert!(
            stored.len() < key_pair.len() * 2 / 3,
            "a key pair packs to {} of {} bytes",
            stored.len(),
            key_pair.len()
        );
    }

    #[test]
    fn every_word_is_found_by_its_name_and_no_other_name_is() {
        for (i, w) in WORDS.iter().enumerate() {
            assert_eq!(word_index(word_name(w)), Some(i as u8), "{w}");
            assert_eq!(word_index(&word_name(w)[1..]), None, "{w}");
            assert_eq!(word_index(w.as_bytes()), None, "{w}");
        }
        assert_eq!(word_index(b""), None);
        assert_eq!(word_index(b"Private"), None);
    }

    #[test]
    fn words_are_replaced_wherever_a_plain_scan_finds_them() {
        // The scan `put_text` replaced: at every quote, try each word.
        fn scan(text: &str) -> Vec<u8> {
            let bytes = text.as_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < bytes.len() {
                let hit = (bytes[i] == b'"')
                    .then(|| {
                        WORDS
                            .iter()
                            .position(|w| bytes[i..].starts_with(w.as_bytes()))
                    })
                    .flatten();
                match hit {
                    Some(w) => {
                        out.extend_from_slice(&[WORD, w as u8]);
                        i += WORDS[w].len();
                    }
                    None => {
                        out.push(bytes[i]);
                        i += 1;
                    }
                }
            }
            out
        }
        let mut texts: Vec<String> = vec![
            String::new(),
            "\"".into(),
            "\"\"".into(),
            "\"\":".into(),
            r#"{"private" :1,"private","privat":2,"\"public\":":3,"":"","key":"key"}"#.into(),
            r#"{"_sessions":{"x":{"currentRatchet":{"rootKey":"AAAA","counter":1}}}}"#.into(),
            r#""key""key":"key":"#.into(),
            r#"x"private"#.into(),
            r#"x"private""#.into(),
            r#""priv\u00e9":"public":"#.into(),
        ];
        for w in WORDS {
            texts.push(w.to_string());
            texts.push(format!("{w}{w}"));
            texts.push(w[..w.len() - 1].to_string());
            texts.push(format!("\"x{}", &w[1..]));
            texts.push(format!("{{{w}\"a\",{w}1}}"));
        }
        for t in texts {
            let mut out = Vec::new();
            put_text(&mut out, &t);
            assert_eq!(out, scan(&t), "{t:?}");
        }
    }

    #[test]
    fn a_pre_key_is_kept_as_its_private_key() {
        let pair = wa_crypto::KeyPair::from_private([3; 32]);
        let text = |private: &[u8], public: &[u8]| {
            format!(
                r#"{{"private":{},"public":{}}}"#,
                buffer_json(private),
                buffer_json(public)
            )
        };
        let pre_key = text(&pair.private, &pair.public);
        let mut stored = Vec::new();
        pack_into(&mut stored, pre_key.as_bytes());
        assert_eq!(stored.len(), 33);
        assert_eq!(stored[0], KEY_PAIR);
        assert_eq!(unpack(&stored), pre_key.as_bytes());
        // A public key that is not the private key's, another key order, spacing or length:
        // all kept as text, and returned exactly.
        let mut wrong = pair.public;
        wrong[0] ^= 1;
        let cases = [
            text(&pair.private, &wrong),
            format!(
                r#"{{"public":{},"private":{}}}"#,
                buffer_json(&pair.public),
                buffer_json(&pair.private)
            ),
            pre_key.replace(",", ", "),
            text(&pair.private, &pair.public_prefixed()),
            text(&[3; 31], &pair.public),
            format!("{pre_key} "),
        ];
        for v in cases {
            let mut stored = Vec::new();
            pack_into(&mut stored, v.as_bytes());
            assert_eq!(stored[0], PACKED, "{v}");
            assert_eq!(unpack(&stored), v.as_bytes());
        }
    }

    #[test]
    fn a_batch_shares_one_slab_and_a_mostly_used_one_is_packed_again() {
        let mut inner = Inner::default();
        let write = |i: usize| Write {
            path: format!("pre-key/{i}"),
            value: Some(buffer_json(&[i as u8; 32]).into_bytes()),
        };
        inner.apply((0..100).map(write).collect());
        // Watched without holding it, which would count as a live entry.
        let first = inner.parents["pre-key"]
            .first()
            .map(|e| Arc::downgrade(&e.slab))
            .unwrap();
        let size = first.upgrade().unwrap().len();
        assert_eq!(first.strong_count(), 100);
        let remove = |from: usize, to: usize| {
            (from..to)
                .map(|i| Write {
                    path: format!("pre-key/{i}"),
                    value: None,
                })
                .collect::<Vec<_>>()
        };
        inner.apply(remove(0, 49));
        assert_eq!(first.strong_count(), 51, "51 left: not packed yet");
        inner.apply(remove(49, 50));
        assert_eq!(
            first.strong_count(),
            0,
            "half left: moved to a slab of their own, the old one freed"
        );
        let packed = inner.parents["pre-key"]
            .first()
            .map(|e| Arc::downgrade(&e.slab))
            .unwrap();
        assert_eq!(packed.strong_count(), 50);
        assert!(packed.upgrade().unwrap().len() < size * 6 / 10);
        for i in 0..100 {
            let got = inner.get(&format!("pre-key/{i}"));
            let want = (i >= 50).then(|| buffer_json(&[i as u8; 32]).into_bytes());
            assert_eq!(got, want, "pre-key/{i}");
        }
        // Replacing a value leaves the old slab too; the same path twice in a batch keeps the
        // last.
        inner.apply(vec![
            Write {
                path: "pre-key/60".into(),
                value: Some(b"1".to_vec()),
            },
            Write {
                path: "pre-key/60".into(),
                value: Some(b"2".to_vec()),
            },
        ]);
        assert_eq!(inner.get("pre-key/60").as_deref(), Some(&b"2"[..]));
        assert_eq!(packed.strong_count(), 49);
        // A small write's slab stays as it is while any of it lives (no walk per message).
        let pair = |a: &str, b: &str| {
            vec![
                Write {
                    path: "session/a".into(),
                    value: Some(a.as_bytes().to_vec()),
                },
                Write {
                    path: "session/b".into(),
                    value: Some(b.as_bytes().to_vec()),
                },
            ]
        };
        inner.apply(pair("a1", "b1"));
        let small = inner.parents["session"]
            .first()
            .map(|e| Arc::downgrade(&e.slab))
            .unwrap();
        inner.apply(pair("a2", "b2")[..1].to_vec());
        assert_eq!(small.strong_count(), 1, "b1 still in the first slab");
        assert_eq!(inner.get("session/b").as_deref(), Some(&b"b1"[..]));
        inner.apply(pair("a3", "b3")[1..].to_vec());
        assert_eq!(small.strong_count(), 0, "freed with its last entry");
        assert_eq!(inner.get("session/a").as_deref(), Some(&b"a2"[..]));
    }

    struct Printed(String);

    impl TypedValue for Printed {
        fn json_text(&self) -> String {
            self.0.clone()
        }

        fn json_value(&self) -> serde_json::Value {
            serde_json::from_str(&self.0).unwrap()
        }
    }

    #[tokio::test]
    async fn typed_values_stay_unprinted_while_held_and_are_packed_once_let_go() {
        let e = MemoryEngine::new();
        let session = |i: usize| {
            Arc::new(Printed(format!(
                r#"{{"_sessions":{{"k":{{"rootKey":{}}}}},"version":"v{i}"}}"#,
                buffer_json(&[i as u8; 32])
            )))
        };
        // The cache's handles: the first 10 stay held, the rest are let go at once.
        let held: Vec<Arc<Printed>> = (0..10).map(session).collect();
        let mut typed: Vec<(String, Arc<dyn TypedValue>)> = Vec::new();
        for (i, v) in held.iter().enumerate() {
            typed.push((format!("s/{i:02}"), v.clone()));
        }
        e.set_typed(Vec::new(), typed).await.unwrap();
        assert_eq!(e.read().deferred.len(), 10);
        assert!(e.read().parents.is_empty(), "nothing packed yet");
        for i in 10..30 {
            e.set_typed(Vec::new(), vec![(format!("s/{i:02}"), session(i))])
                .await
                .unwrap();
        }
        // Past DEFERRED_MIN the values nobody else held were packed; the held ones were not.
        let deferred: Vec<String> = e.read().deferred.keys().cloned().collect();
        assert!(deferred.len() < 20, "swept: {deferred:?}");
        for i in 0..10 {
            assert!(deferred.contains(&format!("s/{i:02}")));
        }
        for i in 0..30 {
            let want = session(i).0.clone().into_bytes();
            assert_eq!(
                e.get(&format!("s/{i:02}")).await.unwrap(),
                Some(want),
                "s/{i:02}"
            );
        }
        // A listing packs them all: each path once, in order, the same values after.
        let want: Vec<String> = (0..30).map(|i| format!("s/{i:02}")).collect();
        assert_eq!(e.scan(None, 100).await.unwrap(), want);
        assert!(e.read().deferred.is_empty());
        assert_eq!(e.list("s", 0, 100).await.unwrap(), want);
        for i in 0..30 {
            let want = session(i).0.clone().into_bytes();
            assert_eq!(e.get(&format!("s/{i:02}")).await.unwrap(), Some(want));
        }
    }

    #[tokio::test]
    async fn a_value_over_the_slab_limit_is_refused() {
        let e = MemoryEngine::new();
        let err = e.set("big", Some(vec![b' '; MAX_SLAB])).await.unwrap_err();
        assert!(matches!(err, StoreError::BadValue(_)), "{err}");
        assert_eq!(e.get("big").await.unwrap(), None);
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
