//! The account's durable inbox: every decrypted message is written to the key store in the
//! same `set` as the Signal state its decryption changed (on a store that is not
//! all-or-nothing, S3, just before it: see [`Inbox::append`]), and stays there until the app
//! confirmed the event carrying it; then the entry is deleted (the delete rides along with
//! the next entry's write, or is flushed on its own after a short idle). The receipt goes as
//! soon as the entry is written.
//!
//! So a crash can no longer lose a message between decryption and the app:
//! - before the write, nothing changed: the server delivers the message again and it decrypts
//!   as the first time;
//! - after the write, the entry is there until the app confirmed: the next login emits it
//!   again before any new traffic, and the server's redelivery (when the receipt did not make
//!   it; it now decrypts as a duplicate, its key used) is answered from the inbox instead of
//!   being dropped.
//!
//! A key store has no listing, so entries are numbered: `e<seq>` and a `meta` entry with
//! `head` (the oldest seq that may still exist) and `next`, written in the same batch as each
//! entry. Writes that carry `meta` are serialised here, and one process shares one inbox per
//! account and key store between its connections (a reconnect must not write an older `meta`
//! over a newer one).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::Duration;

use prost::Message as _;
use serde_json::{Value, json};
use wa_store::{JsonText, KeyChanges, KeyStore, KeyType, KeyWrites, TypedValue, bufferjson};

use crate::error::ClientError;

const META: &str = "meta";
/// How long a confirmed entry may wait for a message to ride along with before its delete is
/// written on its own.
const FLUSH_AFTER: Duration = Duration::from_millis(200);
/// Confirmed messages remembered in memory (by a hash of their uid, 8 bytes each), to answer
/// the server's redelivery of one with a receipt. Such redeliveries only follow a receipt lost
/// with its connection, so the last thousand are plenty.
const RECENT_CAP: usize = 1024;
/// Entries read per `get` when loading.
const LOAD_CHUNK: u64 = 256;

/// A uid's fingerprint, for the process's life: seeded once, so that ids from the network
/// cannot be chosen to collide with a message we confirmed.
fn uid_hash(uid: &str) -> u64 {
    use std::hash::BuildHasher;
    static STATE: std::sync::LazyLock<foldhash::quality::RandomState> =
        std::sync::LazyLock::new(Default::default);
    STATE.hash_one(uid)
}

fn entry_id(seq: u64) -> String {
    // `e` and the number zero-padded to 16 digits, so ids sort as numbers.
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(seq);
    let mut id = String::with_capacity(1 + 16.max(digits.len()));
    id.push('e');
    id.extend(std::iter::repeat_n(
        '0',
        16usize.saturating_sub(digits.len()),
    ));
    id.push_str(digits);
    id
}

/// What a message's entry keeps: the envelope (its attributes, no ciphertext) and what
/// decryption gave.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub uid: String,
    pub envelope: Envelope,
    pub message: Option<wa_proto::Message>,
    /// `message`'s bytes as they were decrypted, when `message` is exactly their decoding:
    /// stored as they are. Encoding the `Message` again (a large struct, walked field by
    /// field twice) was 1.5% of a received text's CPU. `None` in an entry read back.
    pub wire: Option<Vec<u8>>,
    /// A stub type and its parameters, when the message is one.
    pub stub: Option<(i32, Vec<String>)>,
}

/// A message's envelope: the stanza's tag and attributes, stored encoded without its content.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Envelope {
    /// The stanza as it was received, encoded only when an engine prints the entry: the memory
    /// engine almost never does (the entry is deleted once the app has the message), and
    /// encoding it was 4% of a received text's instructions.
    Stanza(Arc<wa_binary::Node>),
    /// As read back from the store.
    Encoded(Vec<u8>),
}

impl Envelope {
    /// What is stored. `None` only for a stanza whose head does not encode, which a stanza
    /// decoded from a frame cannot be (its strings are shorter than the frame).
    fn encoded(&self) -> Option<std::borrow::Cow<'_, [u8]>> {
        match self {
            Self::Stanza(node) => wa_binary::encode_head(node).ok().map(Into::into),
            Self::Encoded(bytes) => Some(bytes.as_slice().into()),
        }
    }

    /// The envelope as a node: the stanza itself, or the stored head decoded (`None` when it
    /// no longer decodes).
    pub fn node(&self) -> Option<std::borrow::Cow<'_, wa_binary::Node>> {
        match self {
            Self::Stanza(node) => Some(std::borrow::Cow::Borrowed(&**node)),
            Self::Encoded(bytes) => wa_binary::decode(bytes).ok().map(std::borrow::Cow::Owned),
        }
    }
}

/// An entry as stored (printed straight to text: it is written once per message and read
/// only at a replay).
#[derive(serde::Serialize)]
struct StoredEntry<'a> {
    v: u8,
    uid: &'a str,
    envelope: Option<bufferjson::Buf<'a>>,
    message: Option<bufferjson::Buf<'a>>,
    stub: Option<StoredStub<'a>>,
}

#[derive(serde::Serialize)]
struct StoredStub<'a> {
    #[serde(rename = "type")]
    kind: i32,
    params: &'a [String],
}

/// `meta` as written with every message: printed only if an engine asks (the memory engine:
/// never, the next message's replaces it). Building it as a JSON tree, printing and packing
/// it were 2% of a received text's instructions.
struct Meta {
    head: u64,
    next: u64,
}

impl TypedValue for Meta {
    fn json_text(&self) -> String {
        let mut n = itoa::Buffer::new();
        let mut out = String::with_capacity(48);
        out.push_str(r#"{"v":1,"head":"#);
        out.push_str(n.format(self.head));
        out.push_str(r#","next":"#);
        out.push_str(n.format(self.next));
        out.push('}');
        out
    }

    fn json_value(&self) -> Value {
        json!({ "v": 1, "head": self.head, "next": self.next })
    }
}

/// A common entry (no stub) with its uid escaped, printed when an
/// engine asks for the text. Most engines ask at once; the memory engine only when the entry
/// is read before its message is confirmed and the entry deleted, which is almost never:
/// encoding, printing and packing it were 5% of a received text's instructions.
struct Printer {
    uid: String,
    envelope: Envelope,
    message: Option<Vec<u8>>,
}

impl TypedValue for Printer {
    fn json_text(&self) -> String {
        let message = &self.message;
        let envelope = self.envelope.encoded();
        let bytes = envelope.as_ref().map_or(0, |e| e.len()) + message.as_ref().map_or(0, Vec::len);
        let mut out = String::with_capacity(self.uid.len() + bytes * 4 / 3 + 128);
        out.push_str(r#"{"v":1,"uid":"#);
        out.push_str(&self.uid);
        out.push_str(r#","envelope":"#);
        match &envelope {
            Some(e) => bufferjson::push_buffer(&mut out, e),
            None => out.push_str("null"),
        }
        out.push_str(r#","message":"#);
        match &message {
            Some(m) => bufferjson::push_buffer(&mut out, m),
            None => out.push_str("null"),
        }
        out.push_str(r#","stub":null}"#);
        out
    }

    fn json_value(&self) -> Value {
        // Printed above from escaped and base64 parts: it parses back.
        serde_json::from_str(&self.json_text()).unwrap_or(Value::Null)
    }
}

impl Entry {
    /// The stored text, printed by hand for the common entry (no stub, [`Printer`]): it is
    /// written for every message received, and serde's path (a base64 string made, then
    /// scanned for characters to escape) was 4% of a received text's instructions. A test
    /// holds the two to the same text.
    #[cfg(test)]
    fn to_json_text(&self) -> Result<String, ClientError> {
        if self.stub.is_some() {
            return self.to_json_text_serde();
        }
        Ok(self.printer()?.json_text())
    }

    /// What the key store is handed for this entry: a stub's text, or the common entry with
    /// what can fail (the uid's escaping) done now and the printing left to
    /// [`Printer::json_text`].
    fn typed_value(&self) -> Result<Arc<dyn TypedValue>, ClientError> {
        Ok(if self.stub.is_some() {
            Arc::new(JsonText(self.to_json_text_serde()?))
        } else {
            Arc::new(self.printer()?)
        })
    }

    fn printer(&self) -> Result<Printer, ClientError> {
        // The uid holds JIDs and an id from the network: escaped as JSON requires.
        let uid = serde_json::to_string(&self.uid)
            .map_err(|e| ClientError::Protocol(format!("inbox entry: {e}")))?;
        Ok(Printer {
            uid,
            envelope: self.envelope.clone(),
            message: self.message_bytes(),
        })
    }

    /// The message as stored: its bytes as they came, or (encoded now rather than the
    /// `Message` copied: its copy cost more than its encoding) encoded.
    fn message_bytes(&self) -> Option<Vec<u8>> {
        match (&self.wire, &self.message) {
            (Some(w), Some(_)) => Some(w.clone()),
            (_, m) => m.as_ref().map(|m| m.encode_to_vec()),
        }
    }

    fn to_json_text_serde(&self) -> Result<String, ClientError> {
        let message = self.message_bytes();
        let envelope = self.envelope.encoded();
        let stored = StoredEntry {
            v: 1,
            uid: &self.uid,
            envelope: envelope.as_deref().map(bufferjson::Buf),
            message: message.as_deref().map(bufferjson::Buf),
            stub: self.stub.as_ref().map(|(kind, params)| StoredStub {
                kind: *kind,
                params,
            }),
        };
        serde_json::to_string(&stored)
            .map_err(|e| ClientError::Protocol(format!("inbox entry: {e}")))
    }

    fn from_json(v: &Value) -> Option<Self> {
        if v.get("v")?.as_u64()? != 1 {
            return None;
        }
        // Kept encoded; an envelope that no longer decodes makes the entry unreadable.
        let envelope = bufferjson::bytes(v.get("envelope")?)?;
        wa_binary::decode(&envelope).ok()?;
        let message = match v.get("message") {
            None | Some(Value::Null) => None,
            Some(m) => Some(wa_proto::Message::decode(bufferjson::bytes(m)?.as_slice()).ok()?),
        };
        let stub = match v.get("stub") {
            None | Some(Value::Null) => None,
            Some(s) => Some((
                i32::try_from(s.get("type")?.as_i64()?).ok()?,
                s.get("params")?
                    .as_array()?
                    .iter()
                    .map(|p| p.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()?,
            )),
        };
        Some(Self {
            uid: v.get("uid")?.as_str()?.to_owned(),
            envelope: Envelope::Encoded(envelope),
            message,
            wire: None,
            stub,
        })
    }
}

/// What the inbox knows of a message delivered again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Known {
    /// Stored, and on its way to the app from this connection (receipted when emitted).
    InFlight,
    /// Stored, not on its way (it was handed to a connection that is gone).
    Pending(u64),
    /// Stored, never handed over, and the Signal changes of its decryption may be partly
    /// written (a store that is not all-or-nothing failed after the entry was written).
    Unsettled(u64),
    /// The app has it.
    Delivered,
    /// Never seen (or confirmed so long ago it was forgotten).
    Unknown,
}

#[derive(Default)]
struct State {
    loaded: bool,
    next: u64,
    /// Written and not confirmed: seq -> uid.
    pending: BTreeMap<u64, String>,
    by_uid: foldhash::HashMap<String, u64>,
    /// Which connection an entry was last handed to.
    handed_to: foldhash::HashMap<u64, u64>,
    /// Confirmed; their deletes not written yet.
    done: BTreeSet<u64>,
    /// Written, but the keys their decryption changed may not all be.
    unsettled: foldhash::HashSet<u64>,
    recent: VecDeque<u64>,
    recent_set: foldhash::HashSet<u64>,
    flush_scheduled: bool,
}

impl State {
    fn head(&self) -> u64 {
        let oldest = [self.pending.keys().next(), self.done.iter().next()]
            .into_iter()
            .flatten()
            .min()
            .copied();
        oldest.unwrap_or(self.next)
    }

    fn remember(&mut self, uid: &str) {
        let h = uid_hash(uid);
        if self.recent_set.insert(h) {
            self.recent.push_back(h);
        }
        while self.recent.len() > RECENT_CAP {
            if let Some(old) = self.recent.pop_front() {
                self.recent_set.remove(&old);
            }
        }
    }
}

/// One account's inbox (shared by its connections in this process).
pub(crate) struct Inbox {
    runtime: tokio::runtime::Handle,
    keys: Arc<dyn KeyStore>,
    /// Held across every write that carries `meta`.
    writer: tokio::sync::Mutex<()>,
    state: Mutex<State>,
}

fn registry() -> MutexGuard<'static, HashMap<String, Weak<Inbox>>> {
    static R: OnceLock<Mutex<HashMap<String, Weak<Inbox>>>> = OnceLock::new();
    R.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

impl Inbox {
    /// The inbox of `account` (our device JID) in `keys`, shared by every connection of this
    /// process that uses the same key store. Must be called inside a tokio runtime.
    pub fn for_account(account: &str, keys: &Arc<dyn KeyStore>) -> Arc<Inbox> {
        // The store's address tells stores apart; it cannot be reused while the inbox lives,
        // since the inbox holds the store.
        let key = format!("{account}#{:p}", Arc::as_ptr(keys).cast::<()>());
        let mut r = registry();
        r.retain(|_, w| w.strong_count() > 0);
        if let Some(inbox) = r.get(&key).and_then(Weak::upgrade) {
            return inbox;
        }
        let inbox = Arc::new(Inbox {
            runtime: tokio::runtime::Handle::current(),
            keys: keys.clone(),
            writer: tokio::sync::Mutex::new(()),
            state: Mutex::new(State::default()),
        });
        r.insert(key, Arc::downgrade(&inbox));
        inbox
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads `meta` and the entries it covers, once per process.
    async fn load(&self) -> Result<(), ClientError> {
        if self.state().loaded {
            return Ok(());
        }
        let _w = self.writer.lock().await;
        if self.state().loaded {
            return Ok(());
        }
        let keys = &self.keys;
        let meta = keys
            .get(KeyType::Inbox, &[META.to_owned()])
            .await?
            .remove(META);
        let (head, next) = match &meta {
            Some(m) => (
                m.get("head").and_then(Value::as_u64).unwrap_or(0),
                m.get("next").and_then(Value::as_u64).unwrap_or(0),
            ),
            None => (0, 0),
        };
        let mut found = BTreeMap::new();
        let mut unreadable = Vec::new();
        let mut from = head.min(next);
        while from < next {
            let to = (from + LOAD_CHUNK).min(next);
            let ids: Vec<String> = (from..to).map(entry_id).collect();
            let got = keys.get(KeyType::Inbox, &ids).await?;
            for seq in from..to {
                match got.get(&entry_id(seq)).map(Entry::from_json) {
                    Some(Some(e)) => {
                        found.insert(seq, e.uid);
                    }
                    Some(None) => {
                        tracing::warn!(seq, "an unreadable inbox entry is skipped and deleted");
                        unreadable.push(seq);
                    }
                    None => {}
                }
            }
            from = to;
        }
        let mut s = self.state();
        s.next = next;
        s.done.extend(unreadable);
        for (seq, uid) in found {
            s.by_uid.insert(uid.clone(), seq);
            s.pending.insert(seq, uid);
        }
        s.loaded = true;
        Ok(())
    }

    /// Every stored entry the app has not confirmed, oldest first, now handed to connection
    /// `conn`.
    pub async fn unconfirmed(&self, conn: u64) -> Result<Vec<(u64, Entry)>, ClientError> {
        self.load().await?;
        let seqs: Vec<u64> = self.state().pending.keys().copied().collect();
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = seqs.iter().map(|s| entry_id(*s)).collect();
        let got = self.keys.get(KeyType::Inbox, &ids).await?;
        let mut out = Vec::new();
        let mut s = self.state();
        for seq in seqs {
            if !s.pending.contains_key(&seq) {
                continue;
            }
            if let Some(e) = got.get(&entry_id(seq)).and_then(Entry::from_json) {
                s.handed_to.insert(seq, conn);
                out.push((seq, e));
            }
        }
        Ok(out)
    }

    /// One stored entry, now handed to connection `conn`.
    pub async fn take(&self, seq: u64, conn: u64) -> Result<Option<Entry>, ClientError> {
        let id = entry_id(seq);
        let got = self
            .keys
            .get(KeyType::Inbox, std::slice::from_ref(&id))
            .await?;
        let e = got.get(&id).and_then(Entry::from_json);
        if e.is_some() {
            self.state().handed_to.insert(seq, conn);
        }
        Ok(e)
    }

    /// What the inbox knows of the message `uid`, for connection `conn`.
    pub fn known(&self, uid: &str, conn: u64) -> Known {
        let s = self.state();
        match s.by_uid.get(uid) {
            Some(seq) if s.handed_to.get(seq) == Some(&conn) => Known::InFlight,
            Some(seq) if s.unsettled.contains(seq) => Known::Unsettled(*seq),
            Some(seq) => Known::Pending(*seq),
            None if s.recent_set.contains(&uid_hash(uid)) => Known::Delivered,
            None => Known::Unknown,
        }
    }

    /// Writes `writes` (a message's Signal changes) with its entry, `meta` and the deletes of
    /// confirmed entries, as one `set`. Returns the entry's seq, handed to connection `conn`.
    ///
    /// A store that may apply part of a failed `set` (S3) gets the inbox's writes first and
    /// the Signal changes after: were they one batch, the session could land without the
    /// entry, and the message, its keys used up, would never decrypt again. When the second
    /// write fails the entry stays [`Known::Unsettled`]: the message is decrypted again to
    /// write what its decryption changed ([`Inbox::settle`]), then handed over from the entry.
    pub async fn append(
        &self,
        writes: impl Into<KeyChanges>,
        entry: &Entry,
        conn: u64,
    ) -> Result<u64, ClientError> {
        let mut writes = writes.into();
        self.load().await?;
        let text = entry.typed_value()?;
        let _w = self.writer.lock().await;
        let (seq, deletes, meta) = {
            let mut s = self.state();
            let seq = s.next;
            let deletes = std::mem::take(&mut s.done);
            s.next += 1;
            let meta = Meta {
                head: s.head().min(seq),
                next: s.next,
            };
            (seq, deletes, meta)
        };
        let mut inbox = BTreeMap::new();
        for d in &deletes {
            inbox.insert(entry_id(*d), None);
        }
        let meta_write: (KeyType, String, Arc<dyn TypedValue>) =
            (KeyType::Inbox, META.to_owned(), Arc::new(meta));
        let entry_write = (KeyType::Inbox, entry_id(seq), text);
        let whole = self.keys.all_or_nothing();
        let first = if whole {
            writes
                .values
                .entry(KeyType::Inbox)
                .or_default()
                .extend(inbox);
            writes.typed.push(entry_write);
            writes.typed.push(meta_write);
            self.keys
                .set_changes_owned(std::mem::take(&mut writes))
                .await
        } else {
            self.keys
                .set_changes_owned(KeyChanges {
                    values: KeyWrites::from([(KeyType::Inbox, inbox)]),
                    typed: vec![entry_write, meta_write],
                })
                .await
        };
        if let Err(e) = first {
            // None of the message's keys were written: the seq is free again (an entry or
            // `meta` that landed anyway is overwritten by its next use) and the deletes still
            // due.
            let mut s = self.state();
            s.next = seq;
            s.done.extend(deletes);
            return Err(e.into());
        }
        let second = if writes.is_empty() {
            Ok(())
        } else {
            self.keys.set_changes_owned(writes).await
        };
        let mut s = self.state();
        s.pending.insert(seq, entry.uid.clone());
        s.by_uid.insert(entry.uid.clone(), seq);
        match second {
            Ok(()) => {
                s.handed_to.insert(seq, conn);
                Ok(seq)
            }
            Err(e) => {
                s.unsettled.insert(seq);
                Err(e.into())
            }
        }
    }

    /// Writes what decrypting the message of unsettled entry `seq` again changed (nothing,
    /// when its keys were found used up: the first attempt wrote them); the entry is then
    /// pending as any other.
    pub async fn settle(&self, seq: u64, writes: &KeyChanges) -> Result<(), ClientError> {
        if !writes.is_empty() {
            self.keys.set_changes(writes).await?;
        }
        self.state().unsettled.remove(&seq);
        Ok(())
    }

    /// The app has entry `seq`: it is forgotten, and its delete written soon.
    pub fn done(self: &Arc<Self>, seq: u64) {
        let schedule = {
            let mut s = self.state();
            let Some(uid) = s.pending.remove(&seq) else {
                return;
            };
            s.by_uid.remove(&uid);
            s.handed_to.remove(&seq);
            s.unsettled.remove(&seq);
            s.remember(&uid);
            s.done.insert(seq);
            !std::mem::replace(&mut s.flush_scheduled, true)
        };
        if schedule {
            let me = self.clone();
            self.runtime.spawn(async move {
                tokio::time::sleep(FLUSH_AFTER).await;
                me.state().flush_scheduled = false;
                if let Err(e) = me.flush().await {
                    tracing::warn!(code = e.code(), "could not write the inbox's deletes");
                }
            });
        }
    }

    /// Writes the deletes of confirmed entries now.
    pub async fn flush(&self) -> Result<(), ClientError> {
        let _w = self.writer.lock().await;
        let (deletes, meta) = {
            let mut s = self.state();
            if s.done.is_empty() {
                return Ok(());
            }
            let deletes = std::mem::take(&mut s.done);
            let meta = json!({ "v": 1, "head": s.head(), "next": s.next });
            (deletes, meta)
        };
        let mut writes = KeyWrites::new();
        let inbox = writes.entry(KeyType::Inbox).or_default();
        for d in &deletes {
            inbox.insert(entry_id(*d), None);
        }
        inbox.insert(META.to_owned(), Some(meta));
        if let Err(e) = self.keys.set(&writes).await {
            self.state().done.extend(deletes);
            return Err(e.into());
        }
        Ok(())
    }

    /// Entries written and not confirmed.
    #[cfg(test)]
    pub fn pending_len(&self) -> usize {
        self.state().pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wa_binary::Node;
    use wa_store::{BoxFuture, EngineKeyStore, KeyMap, KeyRequest, MemoryEngine, StoreError};

    /// Reads nothing, refuses every write.
    struct Refusing;

    impl KeyStore for Refusing {
        fn get_many<'a>(&'a self, reqs: &'a [KeyRequest]) -> BoxFuture<'a, Vec<KeyMap>> {
            Box::pin(async move { Ok(reqs.iter().map(|_| KeyMap::new()).collect()) })
        }
        fn set<'a>(&'a self, _: &'a KeyWrites) -> BoxFuture<'a, ()> {
            Box::pin(async { Err(StoreError::BadKeyType("refused".into())) })
        }
    }

    fn entry(uid: &str) -> Entry {
        Entry {
            uid: uid.to_owned(),
            envelope: Envelope::Encoded(
                wa_binary::encode(
                    &Node::new("message")
                        .attr("id", uid.to_owned())
                        .attr("from", "1@s.whatsapp.net"),
                )
                .unwrap(),
            ),
            message: Some(wa_proto::Message {
                conversation: Some(format!("text {uid}")),
                ..Default::default()
            }),
            wire: None,
            stub: None,
        }
    }

    fn store() -> Arc<dyn KeyStore> {
        Arc::new(EngineKeyStore::new(Arc::new(MemoryEngine::new())))
    }

    async fn stored(keys: &Arc<dyn KeyStore>) -> Vec<String> {
        let ids: Vec<String> = (0..32).map(entry_id).collect();
        let mut v: Vec<String> = keys
            .get(KeyType::Inbox, &ids)
            .await
            .unwrap()
            .into_keys()
            .collect();
        v.sort();
        v
    }

    #[test]
    fn meta_prints_as_its_tree() {
        for (head, next) in [(0, 0), (3, 19), (u64::MAX - 1, u64::MAX)] {
            let m = Meta { head, next };
            assert_eq!(
                m.json_text(),
                serde_json::to_string(&m.json_value()).unwrap()
            );
            let v: Value = serde_json::from_str(&m.json_text()).unwrap();
            assert_eq!(
                (v["head"].as_u64(), v["next"].as_u64()),
                (Some(head), Some(next))
            );
        }
    }

    #[test]
    fn entry_ids_are_zero_padded_to_sort_as_numbers() {
        assert_eq!(entry_id(0), "e0000000000000000");
        assert_eq!(entry_id(19), "e0000000000000019");
        assert_eq!(entry_id(u64::MAX), "e18446744073709551615");
        for (a, b) in [(9, 10), (99, 100), (123_456, 1_234_567)] {
            assert!(entry_id(a) < entry_id(b));
        }
    }

    #[test]
    fn entries_round_trip_through_json() {
        let mut e = entry("A");
        e.stub = Some((2, vec!["why".into()]));
        let read = |e: &Entry| {
            let text = e.to_json_text().unwrap();
            let v: Value = serde_json::from_str(&text).unwrap();
            // Bytes in Baileys' BufferJSON form, as every other key store value.
            assert_eq!(v["envelope"]["type"], "Buffer", "{text}");
            Entry::from_json(&v).unwrap()
        };
        assert_eq!(read(&e), e);
        e.message = None;
        e.stub = None;
        assert_eq!(read(&e), e);
        assert!(Entry::from_json(&json!({ "v": 2 })).is_none());
        assert!(Entry::from_json(&json!({ "v": 1, "uid": "x", "envelope": "zz" })).is_none());
    }

    #[test]
    fn an_entry_keeps_its_stanza_and_stores_its_head() {
        let head = Node::new("message")
            .attr("id", "3EB0AB")
            .attr("from", "15550001:7@s.whatsapp.net")
            .attr("t", "1733500000")
            .attr("notify", "Ann");
        let stanza = head.clone().children(vec![
            Node::new("enc")
                .attr("v", "2")
                .attr("type", "msg")
                .bytes(vec![7; 40]),
        ]);
        let mut e = entry("S");
        e.envelope = Envelope::Stanza(Arc::new(stanza.clone()));
        // Handed back as it came, content and all.
        assert_eq!(e.envelope.node().as_deref(), Some(&stanza));
        for text in [
            e.typed_value().unwrap().json_text(),
            e.to_json_text_serde().unwrap(),
        ] {
            let v: Value = serde_json::from_str(&text).unwrap();
            // Stored: the tag and attributes alone, encoded.
            let bytes = bufferjson::bytes(&v["envelope"]).unwrap();
            assert_eq!(bytes, wa_binary::encode_head(&stanza).unwrap());
            let read = Entry::from_json(&v).unwrap();
            assert_eq!(read.envelope, Envelope::Encoded(bytes));
            assert_eq!(read.envelope.node().as_deref(), Some(&head));
        }
    }

    #[test]
    fn an_entry_stores_its_message_as_it_came() {
        let mut e = entry("W");
        let m = e.message.clone().unwrap();
        // The bytes a phone sent: the message, then a field this build does not know (number
        // 1000, a varint), which decoding drops and so encoding again would not give.
        let mut wire = m.encode_to_vec();
        wire.extend_from_slice(&[0xc0, 0x3e, 0x05]);
        assert_eq!(wa_proto::Message::decode(wire.as_slice()).unwrap(), m);
        e.wire = Some(wire.clone());
        for text in [
            e.typed_value().unwrap().json_text(),
            e.to_json_text_serde().unwrap(),
        ] {
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(
                bufferjson::bytes(&v["message"]),
                Some(wire.clone()),
                "{text}"
            );
            let read = Entry::from_json(&v).unwrap();
            assert_eq!((read.message.as_ref(), read.wire), (Some(&m), None));
        }
        // Without the message, there is nothing of it to store.
        e.message = None;
        let v: Value = serde_json::from_str(&e.typed_value().unwrap().json_text()).unwrap();
        assert_eq!(v["message"], Value::Null);
    }

    #[test]
    fn an_entry_printed_by_hand_is_the_serde_text() {
        // A uid with what JSON must escape (ids come from the network).
        for uid in ["A", "q\"uo\\te\u{1}|\u{7f}é|\n"] {
            let mut e = entry(uid);
            assert_eq!(e.to_json_text().unwrap(), e.to_json_text_serde().unwrap());
            // What the key store is handed prints the same, as text and as a tree.
            let typed = e.typed_value().unwrap();
            assert_eq!(typed.json_text(), e.to_json_text_serde().unwrap());
            assert_eq!(Entry::from_json(&typed.json_value()).unwrap(), e);
            e.message = None;
            assert_eq!(e.to_json_text().unwrap(), e.to_json_text_serde().unwrap());
            let v: Value = serde_json::from_str(&e.to_json_text().unwrap()).unwrap();
            assert_eq!(Entry::from_json(&v).unwrap(), e);
        }
    }

    #[tokio::test]
    async fn an_entry_is_written_with_its_signal_changes_and_deleted_after_confirmation() {
        let keys = store();
        let inbox = Inbox::for_account("t1@s.whatsapp.net", &keys);
        let mut w = KeyWrites::new();
        w.entry(KeyType::Session)
            .or_default()
            .insert("s".into(), Some(json!("rec")));
        let a = inbox.append(w, &entry("A"), 1).await.unwrap();
        let got = keys.get(KeyType::Session, &["s".into()]).await.unwrap();
        assert_eq!(got.get("s"), Some(&json!("rec")));
        assert_eq!(stored(&keys).await, vec![entry_id(a)]);
        assert_eq!(inbox.known("A", 1), Known::InFlight);
        assert_eq!(inbox.known("A", 2), Known::Pending(a));

        inbox.done(a);
        assert_eq!(inbox.known("A", 1), Known::Delivered);
        // The delete rides along with the next entry.
        let b = inbox
            .append(KeyWrites::new(), &entry("B"), 1)
            .await
            .unwrap();
        assert_eq!(stored(&keys).await, vec![entry_id(b)]);
        inbox.done(b);
        inbox.flush().await.unwrap();
        assert!(stored(&keys).await.is_empty());
        let meta = keys.get(KeyType::Inbox, &[META.into()]).await.unwrap();
        assert_eq!(meta[META]["next"], json!(2));
        assert_eq!(meta[META]["head"], json!(2));
    }

    #[tokio::test]
    async fn a_new_process_finds_what_was_not_confirmed() {
        let engine = Arc::new(MemoryEngine::new());
        let keys: Arc<dyn KeyStore> = Arc::new(EngineKeyStore::new(engine.clone()));
        {
            let inbox = Inbox::for_account("t2@s.whatsapp.net", &keys);
            for uid in ["A", "B", "C"] {
                inbox
                    .append(KeyWrites::new(), &entry(uid), 1)
                    .await
                    .unwrap();
            }
            inbox.done(1);
            inbox.flush().await.unwrap();
        }
        // Another key store over the same storage: nothing in memory, as in a new process.
        let keys: Arc<dyn KeyStore> = Arc::new(EngineKeyStore::new(engine.clone()));
        let inbox = Inbox::for_account("t2@s.whatsapp.net", &keys);
        let left = inbox.unconfirmed(7).await.unwrap();
        let uids: Vec<&str> = left.iter().map(|(_, e)| e.uid.as_str()).collect();
        assert_eq!(uids, ["A", "C"]);
        assert_eq!(left[0].1, entry("A"));
        assert_eq!(inbox.known("C", 7), Known::InFlight);
        // Numbering goes on after the newest entry.
        let d = inbox
            .append(KeyWrites::new(), &entry("D"), 7)
            .await
            .unwrap();
        assert_eq!(d, 3);
    }

    #[tokio::test]
    async fn an_unreadable_entry_is_skipped_and_deleted() {
        let keys = store();
        let mut w = KeyWrites::new();
        let inbox_w = w.entry(KeyType::Inbox).or_default();
        inbox_w.insert(
            entry_id(0),
            Some(json!({ "v": 1, "uid": "x", "envelope": 5 })),
        );
        inbox_w.insert(META.into(), Some(json!({ "v": 1, "head": 0, "next": 1 })));
        keys.set(&w).await.unwrap();
        let inbox = Inbox::for_account("t4@s.whatsapp.net", &keys);
        assert!(inbox.unconfirmed(1).await.unwrap().is_empty());
        let a = inbox
            .append(KeyWrites::new(), &entry("A"), 1)
            .await
            .unwrap();
        assert_eq!(a, 1);
        assert_eq!(stored(&keys).await, vec![entry_id(1)]);
    }

    #[tokio::test]
    async fn a_failed_write_leaves_nothing_behind() {
        let keys: Arc<dyn KeyStore> = Arc::new(Refusing);
        let inbox = Inbox::for_account("t3@s.whatsapp.net", &keys);
        assert!(
            inbox
                .append(KeyWrites::new(), &entry("A"), 1)
                .await
                .is_err()
        );
        assert_eq!(inbox.pending_len(), 0);
        assert_eq!(inbox.known("A", 1), Known::Unknown);
    }
}
