//! Two operations on one session never interleave: with a store that yields between load and
//! commit (as a database or a JS store does), concurrent encryptions through SignalProtocol
//! each see the previous one's commit, while the bare functions would race.

mod common;

use std::sync::Mutex;

use common::*;
use wa_signal::keys::KeyPair;
use wa_signal::store::{
    Batch, IdentityKeyStore, PreKeyStore, SenderKeyStore, SessionStore, SignedPreKeyStore,
    StoreCommit,
};
use wa_signal::{
    LocalIdentity, MemoryStore, ProtocolAddress, SenderKeyName, SenderKeyRecord, SessionRecord,
    SignalProtocol, StoreError, protocol, wire,
};

/// A MemoryStore whose every call first yields to the scheduler, and which logs loads and
/// commits so the test can see how operations interleave.
struct Yielding {
    inner: MemoryStore,
    log: Mutex<Vec<&'static str>>,
}

impl Yielding {
    async fn step(&self, what: &'static str) {
        tokio::task::yield_now().await;
        self.log.lock().unwrap().push(what);
    }
}

impl IdentityKeyStore for Yielding {
    async fn local_identity(&self) -> Result<LocalIdentity, StoreError> {
        self.inner.local_identity().await
    }
    async fn remote_identity(&self, a: &ProtocolAddress) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.remote_identity(a).await
    }
}
impl SessionStore for Yielding {
    async fn load_session(&self, a: &ProtocolAddress) -> Result<Option<SessionRecord>, StoreError> {
        self.step("load").await;
        self.inner.load_session(a).await
    }
}
impl PreKeyStore for Yielding {
    async fn load_pre_key(&self, id: u32) -> Result<Option<KeyPair>, StoreError> {
        self.inner.load_pre_key(id).await
    }
}
impl SignedPreKeyStore for Yielding {
    async fn load_signed_pre_key(&self, id: Option<u32>) -> Result<Option<KeyPair>, StoreError> {
        self.inner.load_signed_pre_key(id).await
    }
}
impl SenderKeyStore for Yielding {
    async fn load_sender_key(
        &self,
        n: &SenderKeyName,
    ) -> Result<Option<SenderKeyRecord>, StoreError> {
        self.inner.load_sender_key(n).await
    }
}
impl StoreCommit for Yielding {
    async fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        self.step("commit").await;
        self.inner.commit(batch).await
    }
}

fn setup() -> (Device, Yielding, ProtocolAddress) {
    let p = pair(false);
    let b = p.b.clone();
    let record = p.alice.store.session(&b).unwrap();
    let store = Yielding {
        inner: MemoryStore::new(p.alice.identity.clone()),
        log: Mutex::new(Vec::new()),
    };
    store.inner.put_session(&b, record);
    (p.bob, store, b)
}

/// The ratchet counters of Alice's prekey messages.
fn counters(messages: &[wa_signal::Encrypted]) -> Vec<u32> {
    messages
        .iter()
        .map(|m| {
            let inner = wire::parse_pre_key(&m.body).unwrap().message;
            wire::parse_whisper(&inner).unwrap().counter
        })
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn serialised_per_address() {
    let (bob, store, b) = setup();
    let proto = std::sync::Arc::new(SignalProtocol::new(store));
    let mut tasks = Vec::new();
    for i in 0..20u8 {
        let proto = proto.clone();
        let b = b.clone();
        tasks.push(tokio::spawn(async move {
            proto.encrypt(&b, &[i]).await.unwrap()
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    let mut c = counters(&out);
    c.sort_unstable();
    assert_eq!(
        c,
        (0..20).collect::<Vec<u32>>(),
        "each message its own counter"
    );
    let log = proto.store().log.lock().unwrap().clone();
    assert!(
        log.chunks(2).all(|w| w == ["load", "commit"]),
        "loads and commits alternate: {log:?}"
    );
    assert_eq!(proto.locked_keys(), 0, "no lock entries left behind");
    // And Bob reads all twenty.
    let a = addr("alice");
    for (i, m) in out.iter().enumerate() {
        let d = now(protocol::decrypt(&bob.store, &a, m.kind, &m.body, NOW)).unwrap();
        assert_eq!(d.plaintext, [i as u8]);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn without_the_lock_they_race() {
    // The control: the same twenty encryptions through the bare functions reuse counters,
    // which is exactly what the lock prevents.
    let (_bob, store, b) = setup();
    let store = std::sync::Arc::new(store);
    let mut tasks = Vec::new();
    for i in 0..20u8 {
        let store = store.clone();
        let b = b.clone();
        tasks.push(tokio::spawn(async move {
            protocol::encrypt(&*store, &b, &[i]).await.unwrap()
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    let mut c = counters(&out);
    c.sort_unstable();
    c.dedup();
    assert!(
        c.len() < 20,
        "unserialised encryptions should collide: {c:?}"
    );
}

/// `Locks::lock_owned` polled once where the call happens takes the lock or a place in the
/// queue right then: later callers never overtake, whoever polls first afterwards.
#[test]
fn owned_locks_are_granted_in_the_order_they_were_first_polled() {
    use std::future::Future;
    use std::pin::pin;
    use std::sync::Arc;
    use std::task::{Context, Poll, Waker};
    use wa_signal::protocol::Locks;

    let locks = Arc::new(Locks::default());
    let mut cx = Context::from_waker(Waker::noop());
    let mut first = pin!(locks.lock_owned("a.0".into()));
    let Poll::Ready(held) = first.as_mut().poll(&mut cx) else {
        panic!("a free lock is taken on the first poll");
    };
    assert_eq!(held.key(), "a.0");
    let mut second = pin!(locks.lock_owned("a.0".into()));
    let mut third = pin!(locks.lock_owned("a.0".into()));
    assert!(second.as_mut().poll(&mut cx).is_pending());
    assert!(third.as_mut().poll(&mut cx).is_pending());
    // Another key is independent.
    let mut other = pin!(locks.lock_owned("b.0".into()));
    let Poll::Ready(other_held) = other.as_mut().poll(&mut cx) else {
        panic!("another key's lock is free");
    };
    drop(held);
    // The third, polled first after the release, still waits for the second.
    assert!(third.as_mut().poll(&mut cx).is_pending());
    let Poll::Ready(second_held) = second.as_mut().poll(&mut cx) else {
        panic!("the second in line gets the released lock");
    };
    // A newcomer queues behind the third.
    let mut fourth = pin!(locks.lock_owned("a.0".into()));
    assert!(fourth.as_mut().poll(&mut cx).is_pending());
    drop(second_held);
    assert!(fourth.as_mut().poll(&mut cx).is_pending());
    let Poll::Ready(third_held) = third.as_mut().poll(&mut cx) else {
        panic!("then the third");
    };
    drop(third_held);
    let Poll::Ready(fourth_held) = fourth.as_mut().poll(&mut cx) else {
        panic!("then the fourth");
    };
    drop(fourth_held);
    drop(other_held);
    assert!(locks.is_empty(), "released keys leave the table");
}
