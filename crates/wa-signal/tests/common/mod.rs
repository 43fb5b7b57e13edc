//! Two devices with in-memory stores, talking through the protocol operations.
#![allow(dead_code)]

use wa_signal::keys::{generate_identity, generate_pre_keys, generate_signed_pre_key};
use wa_signal::protocol::{self, Decrypted};
use wa_signal::{
    Encrypted, LocalIdentity, MemoryStore, MessageKind, PreKeyBundle, ProtocolAddress,
    SessionRecord, SignalError,
};

pub const NOW: i64 = 1_700_000_000_000;

pub struct Device {
    pub store: MemoryStore,
    pub identity: LocalIdentity,
    pub signed: wa_signal::SignedPreKey,
    pub pre_keys: Vec<wa_signal::PreKey>,
}

impl Device {
    pub fn new(registration_id: u32) -> Self {
        let identity = LocalIdentity::new(generate_identity(), registration_id);
        let signed = generate_signed_pre_key(&identity.key_pair, 1);
        let pre_keys = generate_pre_keys(1, 5);
        let store = MemoryStore::new(identity.clone());
        store.add_signed_pre_key(signed.id, signed.key_pair.clone());
        for k in &pre_keys {
            store.add_pre_key(k.id, k.key_pair.clone());
        }
        Self {
            store,
            identity,
            signed,
            pre_keys,
        }
    }

    /// A device with an identity but no prekeys in its store.
    pub fn bare(registration_id: u32) -> Self {
        let d = Self::new(registration_id);
        Self {
            store: MemoryStore::new(d.identity.clone()),
            ..d
        }
    }

    pub fn bundle(&self, one_time: Option<usize>) -> PreKeyBundle {
        PreKeyBundle {
            registration_id: self.identity.registration_id,
            identity_key: self.identity.public_prefixed().to_vec(),
            signed_pre_key_id: self.signed.id,
            signed_pre_key: self.signed.key_pair.public_prefixed().to_vec(),
            signed_pre_key_signature: self.signed.signature.to_vec(),
            pre_key: one_time.map(|i| {
                let k = &self.pre_keys[i];
                (k.id, k.key_pair.public_prefixed().to_vec())
            }),
        }
    }
}

/// Runs a future whose store work is in memory, so it completes on its first poll.
pub fn now<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("an in-memory store operation did not complete"),
    }
}

pub fn addr(name: &str) -> ProtocolAddress {
    ProtocolAddress::new(name, 0).unwrap()
}

pub fn encrypt(from: &Device, to: &ProtocolAddress, text: &[u8]) -> Encrypted {
    now(protocol::encrypt(&from.store, to, text)).unwrap()
}

pub fn decrypt(
    at: &Device,
    from: &ProtocolAddress,
    m: &Encrypted,
) -> Result<Decrypted, SignalError> {
    now(protocol::decrypt(&at.store, from, m.kind, &m.body, NOW))
}

pub fn decrypt_ok(at: &Device, from: &ProtocolAddress, m: &Encrypted, text: &[u8]) {
    let d = decrypt(at, from, m).unwrap_or_else(|e| panic!("decrypt failed: {e}"));
    assert_eq!(d.plaintext, text);
}

/// Alice and Bob with a session Alice built from Bob's bundle, answered once by Bob.
pub struct Pair {
    pub alice: Device,
    pub bob: Device,
    pub a: ProtocolAddress,
    pub b: ProtocolAddress,
}

pub fn pair(one_time: bool) -> Pair {
    let alice = Device::new(11);
    let bob = Device::new(22);
    let (a, b) = (addr("alice"), addr("bob"));
    let bundle = bob.bundle(one_time.then_some(0));
    now(protocol::process_bundle(&alice.store, &b, &bundle, NOW)).unwrap();
    Pair { alice, bob, a, b }
}

/// JSON and binary forms give back the same record, and JSON -> binary -> JSON is exact.
pub fn assert_forms_round_trip(r: &SessionRecord) {
    let json = r.to_json();
    let back = SessionRecord::from_json(&json).unwrap();
    assert_eq!(&back, r);
    let bin = r.to_binary();
    assert_eq!(&SessionRecord::from_stored(&bin).unwrap(), r);
    assert_eq!(SessionRecord::from_binary(&bin).unwrap().to_json(), json);
    assert!(bin.len() < json.len());
}

pub fn kind_is(m: &Encrypted, kind: MessageKind) {
    assert_eq!(m.kind, kind);
}
