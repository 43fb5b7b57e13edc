//! How the Signal layer reaches a JS key store: not by calling back into JavaScript, but the
//! other way round. `lib/signal.js` reads from the caller's `auth.keys` everything one
//! operation can need (it knows exactly what: the session, the remote identity, the prekey a
//! `pkmsg` names, the creds), hands it to Rust in one call, and writes the returned batch back
//! with one `keys.set`. Rust runs the unchanged `wa-signal` operation over a [`Snapshot`]: a
//! store holding those values whose futures are always ready, so the operation completes on
//! its first poll, on the JS thread, with no thread hop and no callback.
//!
//! This keeps the binding sans-IO like the core, costs one store round trip per operation
//! (Baileys' own repository makes three to five), and leaves no Rust task waiting on a JS
//! promise that might never settle.

use std::future::Future;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use wa_signal::store::{
    Batch, IdentityKeyStore, PreKeyStore, SenderKeyStore, SessionStore, SignedPreKeyStore,
    StoreCommit,
};
use wa_signal::{
    KeyPair, LocalIdentity, ProtocolAddress, SenderKeyName, SenderKeyRecord, SessionRecord,
    StoreError,
};

/// The values one operation may read, fetched by JS beforehand.
#[derive(Default)]
pub(crate) struct Snapshot {
    pub local: Option<LocalIdentity>,
    /// The stored session record, parsed (or why it did not parse).
    pub session: Mutex<Option<Result<SessionRecord, String>>>,
    pub remote_identity: Option<Vec<u8>>,
    /// The one-time prekey the message names, when the store had it.
    pub pre_key: Option<(u32, KeyPair)>,
    /// Baileys keeps a single signed prekey (`creds.signedPreKey`) and hands it out whatever
    /// id a message names; so does this store. A message made for an older signed prekey
    /// then fails its MAC, exactly as with Baileys.
    pub signed_pre_key: Option<KeyPair>,
    pub sender_key: Mutex<Option<Result<SenderKeyRecord, String>>>,
    /// What the operation committed.
    pub committed: Mutex<Option<Batch>>,
}

fn take<T>(m: &Mutex<Option<T>>) -> Option<T> {
    m.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take()
}

impl Snapshot {
    pub fn into_batch(self) -> Batch {
        self.committed
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .unwrap_or_default()
    }
}

impl IdentityKeyStore for Snapshot {
    async fn local_identity(&self) -> Result<LocalIdentity, StoreError> {
        self.local
            .clone()
            .ok_or_else(|| StoreError::Backend("creds hold no identity key".into()))
    }

    async fn remote_identity(&self, _: &ProtocolAddress) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.remote_identity.clone())
    }
}

impl SessionStore for Snapshot {
    async fn load_session(&self, _: &ProtocolAddress) -> Result<Option<SessionRecord>, StoreError> {
        take(&self.session).transpose().map_err(StoreError::Corrupt)
    }
}

impl PreKeyStore for Snapshot {
    async fn load_pre_key(&self, id: u32) -> Result<Option<KeyPair>, StoreError> {
        Ok(self
            .pre_key
            .as_ref()
            .filter(|(have, _)| *have == id)
            .map(|(_, k)| k.clone()))
    }
}

impl SignedPreKeyStore for Snapshot {
    async fn load_signed_pre_key(&self, _: Option<u32>) -> Result<Option<KeyPair>, StoreError> {
        Ok(self.signed_pre_key.clone())
    }
}

impl SenderKeyStore for Snapshot {
    async fn load_sender_key(
        &self,
        _: &SenderKeyName,
    ) -> Result<Option<SenderKeyRecord>, StoreError> {
        take(&self.sender_key)
            .transpose()
            .map_err(StoreError::Corrupt)
    }
}

impl StoreCommit for Snapshot {
    async fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        *self
            .committed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(batch);
        Ok(())
    }
}

/// Runs an operation over a [`Snapshot`]: every await inside is ready at once, so one poll
/// finishes it. Anything else would be a bug in this module, reported as an error.
pub(crate) fn run_now<F: Future>(f: F) -> Option<F::Output> {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}
