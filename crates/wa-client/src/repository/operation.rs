//! One repository call as a state machine that does no I/O itself: it names the locks and
//! keys it needs, runs its Signal step on the values it is handed, and gives back one write.
//! `SignalRepository::run` drives it over native stores; the binding drives it from the JS
//! thread over a JavaScript key store.

use super::*;

/// The keys one run of an operation may read: what the driver fetched (`None`: fetched and
/// absent). A read of anything else is recorded and fails the run, which the operation then
/// repeats with that key fetched too. Nothing writes here: the run's commit is staged.
pub(super) struct Fed {
    pub(super) values: Mutex<HashMap<(KeyType, String), Option<Value>>>,
    pub(super) misses: Mutex<Vec<(KeyType, String)>>,
}

pub(super) fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl KeyStore for Fed {
    fn get_many<'a>(&'a self, reqs: &'a [KeyRequest]) -> BoxFuture<'a, Vec<KeyMap>> {
        let mut out: Vec<KeyMap> = Vec::with_capacity(reqs.len());
        let mut missed = false;
        {
            let values = locked(&self.values);
            let mut misses = locked(&self.misses);
            for (ty, ids) in reqs {
                let mut m = KeyMap::new();
                for id in ids {
                    match values.get(&(*ty, id.clone())) {
                        Some(Some(v)) => {
                            m.insert(id.clone(), v.clone());
                        }
                        Some(None) => {}
                        None => {
                            misses.push((*ty, id.clone()));
                            missed = true;
                        }
                    }
                }
                out.push(m);
            }
        }
        Box::pin(async move {
            if missed {
                return Err(wa_store::StoreError::Engine {
                    op: "get",
                    message: "a key the operation did not read first".into(),
                });
            }
            Ok(out)
        })
    }

    fn set<'a>(&'a self, _: &'a KeyWrites) -> BoxFuture<'a, ()> {
        Box::pin(async {
            Err(wa_store::StoreError::Engine {
                op: "set",
                message: "an operation's run writes through its staged batch only".into(),
            })
        })
    }
}

/// How often an operation may find it needs a key it did not read first (each such key is
/// read in one more round): far more than any operation needs.
pub(super) const MAX_ROUNDS: u32 = 8;

/// The Signal work of one repository call.
pub enum Work {
    Encrypt(Vec<u8>),
    Decrypt {
        kind: MessageKind,
        ciphertext: Vec<u8>,
        /// The one-time prekey a prekey message names (read with the session).
        pre_key: Option<u32>,
        now_ms: i64,
    },
    Inject {
        bundle: PreKeyBundle,
        now_ms: i64,
    },
    GroupEncrypt(Vec<u8>),
    GroupDecrypt(Vec<u8>),
    ProcessDistribution(Vec<u8>),
    Distribution,
}

/// What an operation produced.
#[derive(Debug)]
pub enum Outcome {
    Encrypted(Encrypted),
    Decrypted(Decrypted),
    Injected,
    GroupEncrypted(GroupEncrypted),
    /// A group message's plaintext.
    GroupDecrypted(Vec<u8>),
    Processed,
    /// Our distribution message.
    Distribution(Vec<u8>),
}

/// What an [`Operation`] needs from its driver before it can go on.
#[derive(Debug)]
pub enum Step {
    /// A lock another operation holds, or the LID lookup of a phone number: await
    /// [`Operation::wait`], hand the answer to [`Operation::waited`], step again.
    Wait,
    /// Read these keys (one `get_many`) and hand the answer to [`Operation::feed`].
    Read(Vec<KeyRequest>),
    /// Done: write this (one atomic `set`; nothing when empty), then take
    /// [`Operation::finish`]. A failed write leaves the store as it was: drop the operation.
    Write(Batch),
}

/// What [`Operation::wait`] brings back.
pub enum Waited {
    Lock(OwnedLockGuard),
    Resolved(ProtocolAddress),
}

pub(super) enum Target {
    Session(ProtocolAddress),
    Sender(SenderKeyName),
}

/// One repository call as a state machine without I/O of its own: it names the locks and
/// keys it needs, runs the Signal operation on the values it is handed, and gives back the
/// one write that applies it. [`SignalRepository`] drives it over its key store; the binding
/// drives it from the JavaScript thread over a JavaScript key store, so the store's methods
/// run where they live and the Signal work runs as a plain call in between (no thread
/// round trip per read or write). Locks are taken in order and held until the operation is
/// finished or dropped: the phone-number address first, then the LID one if the mapping read
/// with it moves the session there (an operation entering by LID takes only the LID lock, so
/// this order cannot deadlock).
pub struct Operation {
    pub(super) locks: Arc<Locks>,
    pub(super) lids: Arc<LidMappings>,
    pub(super) signal: KeyStoreSignal,
    pub(super) work: Work,
    pub(super) target: Target,
    /// The session's address still needs the LID lookup (a fetcher may be asked).
    pub(super) unresolved: bool,
    /// A phone-number user whose mapping is read together with the data under its
    /// phone-number address, so an unmapped device costs one read, not two.
    pub(super) speculate: Option<String>,
    pub(super) to_lock: std::collections::VecDeque<String>,
    /// The place in the queue of the next lock, taken in `step`.
    pub(super) waiting: Option<Pin<Box<dyn Future<Output = OwnedLockGuard> + Send>>>,
    pub(super) guards: Vec<OwnedLockGuard>,
    pub(super) values: HashMap<(KeyType, String), Option<Value>>,
    pub(super) asked: Vec<KeyRequest>,
    pub(super) rounds: u32,
    pub(super) outcome: Option<Outcome>,
}

/// Requests grouped by type, in first-seen order.
pub(super) fn grouped(keys: impl IntoIterator<Item = (KeyType, String)>) -> Vec<KeyRequest> {
    let mut out: Vec<KeyRequest> = Vec::new();
    for (ty, id) in keys {
        match out.iter_mut().find(|(t, _)| *t == ty) {
            Some((_, ids)) => {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            None => out.push((ty, vec![id])),
        }
    }
    out
}

impl Operation {
    /// The address (or sender key name) the operation works on, as its lock names it.
    pub fn target(&self) -> String {
        match &self.target {
            Target::Session(a) => a.to_string(),
            Target::Sender(n) => n.to_string(),
        }
    }

    pub(super) fn reads(&self) -> Vec<(KeyType, String)> {
        let mut out = Vec::new();
        match &self.target {
            Target::Session(a) => {
                let a = a.to_string();
                out.push((KeyType::Session, a.clone()));
                match &self.work {
                    Work::Decrypt { kind, pre_key, .. } => {
                        if *kind == MessageKind::PreKey {
                            out.push((KeyType::IdentityKey, a));
                        }
                        if let Some(id) = pre_key {
                            out.push((KeyType::PreKey, id.to_string()));
                        }
                    }
                    Work::Inject { .. } => out.push((KeyType::IdentityKey, a)),
                    _ => {}
                }
            }
            Target::Sender(n) => out.push((KeyType::SenderKey, n.to_string())),
        }
        if let Some(user) = &self.speculate {
            out.push((KeyType::LidMapping, user.clone()));
        }
        out
    }

    /// What to do next (never blocks, never does I/O). A failure releases the locks.
    pub fn step(&mut self) -> Result<Step, ClientError> {
        let step = self.next();
        if step.is_err() {
            self.release();
        }
        step
    }

    pub(super) fn next(&mut self) -> Result<Step, ClientError> {
        loop {
            if self.unresolved {
                return Ok(Step::Wait);
            }
            while let Some(key) = self.to_lock.front() {
                if self.waiting.is_some() {
                    return Ok(Step::Wait);
                }
                // Polled here, where the call happens: the lock is taken, or the queue joined
                // in call order (the waiting then happens in `wait`).
                let mut lock = Box::pin(self.locks.lock_owned(key.clone()));
                let mut cx = Context::from_waker(Waker::noop());
                match lock.as_mut().poll(&mut cx) {
                    Poll::Ready(g) => {
                        self.guards.push(g);
                        self.to_lock.pop_front();
                    }
                    Poll::Pending => {
                        self.waiting = Some(lock);
                        return Ok(Step::Wait);
                    }
                }
            }
            let missing = grouped(
                self.reads()
                    .into_iter()
                    .filter(|k| !self.values.contains_key(k)),
            );
            if !missing.is_empty() {
                self.asked = missing.clone();
                return Ok(Step::Read(missing));
            }
            if let Some(user) = self.speculate.take()
                && let Some(Some(Value::String(lid_user))) =
                    self.values.get(&(KeyType::LidMapping, user.clone()))
                && !lid_user.is_empty()
            {
                self.lids.remember(&user, lid_user);
                if let Target::Session(plain) = &self.target
                    && let Some(addr) = self.lids.cached_session_address(plain)
                    && addr != *plain
                {
                    self.to_lock.push_back(addr.id());
                    self.target = Target::Session(addr);
                    continue;
                }
            }
            if self.rounds >= MAX_ROUNDS {
                return Err(ClientError::Protocol(
                    "a Signal operation kept asking for keys it had not read".into(),
                ));
            }
            self.rounds += 1;
            return self.run();
        }
    }

    /// Waits for what [`Step::Wait`] named: the next lock, or the LID lookup.
    pub fn wait(&mut self) -> Pin<Box<dyn Future<Output = Result<Waited, ClientError>> + Send>> {
        let lids = self.lids.clone();
        let plain = match (&self.target, self.unresolved) {
            (Target::Session(a), true) => Some(a.clone()),
            _ => None,
        };
        let lock = self.waiting.take();
        Box::pin(async move {
            if let Some(plain) = plain {
                return Ok(Waited::Resolved(lids.session_address(&plain).await?));
            }
            match lock {
                Some(lock) => Ok(Waited::Lock(lock.await)),
                None => Err(ClientError::Protocol(
                    "a Signal operation was awaited with nothing to wait for".into(),
                )),
            }
        })
    }

    pub fn waited(&mut self, w: Waited) {
        match w {
            Waited::Resolved(addr) => {
                self.unresolved = false;
                self.to_lock.push_back(addr.id());
                self.target = Target::Session(addr);
            }
            Waited::Lock(g) => {
                if self.to_lock.front().is_some_and(|k| k == g.key()) {
                    self.to_lock.pop_front();
                    self.guards.push(g);
                }
            }
        }
    }

    /// The answer to the last [`Step::Read`] as JSON texts, one per id in request order
    /// (`None`: not stored); see [`stored_value`].
    pub fn feed_texts(&mut self, found: Vec<Option<String>>) -> Result<(), ClientError> {
        let bad = |detail: String| {
            ClientError::Store(Arc::new(wa_store::StoreError::EngineResult {
                op: "get",
                detail,
            }))
        };
        let wanted: usize = self.asked.iter().map(|(_, ids)| ids.len()).sum();
        if found.len() != wanted {
            return Err(bad(format!("{} values for {wanted} keys", found.len())));
        }
        let mut found = found.into_iter();
        for (ty, ids) in std::mem::take(&mut self.asked) {
            for id in ids {
                let v = match found.next().flatten() {
                    Some(text) => {
                        Some(stored_value(ty, &text).map_err(|e| bad(format!("{ty} {id}: {e}")))?)
                            .filter(|v| !v.is_null())
                    }
                    None => None,
                };
                self.values.insert((ty, id), v);
            }
        }
        Ok(())
    }

    /// The answer to the last [`Step::Read`], one map per request (absent ids: not stored).
    pub fn feed(&mut self, found: Vec<KeyMap>) -> Result<(), ClientError> {
        if found.len() != self.asked.len() {
            return Err(ClientError::Store(Arc::new(
                wa_store::StoreError::EngineResult {
                    op: "get",
                    detail: format!("{} answers for {} requests", found.len(), self.asked.len()),
                },
            )));
        }
        for ((ty, ids), mut m) in std::mem::take(&mut self.asked).into_iter().zip(found) {
            for id in ids {
                let v = m.remove(&id).filter(|v| !v.is_null());
                self.values.insert((ty, id), v);
            }
        }
        Ok(())
    }

    pub(super) fn run(&mut self) -> Result<Step, ClientError> {
        use futures_util::FutureExt;
        let fed = Arc::new(Fed {
            values: Mutex::new(std::mem::take(&mut self.values)),
            misses: Mutex::new(Vec::new()),
        });
        let base = self.signal.with_keys(fed.clone());
        let store = Staged::new(&base);
        let ran = match (&self.work, &self.target) {
            (Work::Encrypt(p), Target::Session(a)) => protocol::encrypt(&store, a, p)
                .now_or_never()
                .map(|r| r.map(Outcome::Encrypted)),
            (
                Work::Decrypt {
                    kind,
                    ciphertext,
                    now_ms,
                    ..
                },
                Target::Session(a),
            ) => protocol::decrypt(&store, a, *kind, ciphertext, *now_ms)
                .now_or_never()
                .map(|r| r.map(Outcome::Decrypted)),
            (Work::Inject { bundle, now_ms }, Target::Session(a)) => {
                protocol::process_bundle(&store, a, bundle, *now_ms)
                    .now_or_never()
                    .map(|r| r.map(|()| Outcome::Injected))
            }
            (Work::GroupEncrypt(p), Target::Sender(n)) => protocol::group_encrypt(&store, n, p)
                .now_or_never()
                .map(|r| r.map(Outcome::GroupEncrypted)),
            (Work::GroupDecrypt(c), Target::Sender(n)) => protocol::group_decrypt(&store, n, c)
                .now_or_never()
                .map(|r| r.map(Outcome::GroupDecrypted)),
            (Work::ProcessDistribution(m), Target::Sender(n)) => {
                protocol::group_process_distribution(&store, n, m)
                    .now_or_never()
                    .map(|r| r.map(|()| Outcome::Processed))
            }
            (Work::Distribution, Target::Sender(n)) => protocol::group_distribution(&store, n)
                .now_or_never()
                .map(|r| r.map(Outcome::Distribution)),
            _ => {
                return Err(ClientError::Protocol(
                    "a Signal operation on the wrong kind of address".into(),
                ));
            }
        };
        let batch = store.into_batch();
        drop(base);
        self.values = std::mem::take(&mut *locked(&fed.values));
        let misses = std::mem::take(&mut *locked(&fed.misses));
        if !misses.is_empty() {
            let reqs = grouped(misses);
            self.asked = reqs.clone();
            return Ok(Step::Read(reqs));
        }
        match ran {
            Some(Ok(outcome)) => {
                self.outcome = Some(outcome);
                Ok(Step::Write(batch))
            }
            Some(Err(e)) => Err(e.into()),
            None => Err(ClientError::Protocol(
                "a Signal operation waited although its keys were all read".into(),
            )),
        }
    }

    /// The outcome, once its write is done; the locks are released.
    pub fn finish(&mut self) -> Result<Outcome, ClientError> {
        self.release();
        self.outcome.take().ok_or_else(|| {
            ClientError::Protocol("a Signal operation was finished before it was done".into())
        })
    }

    /// Gives up: the locks are released, nothing was written by the operation itself.
    pub fn release(&mut self) {
        self.waiting = None;
        self.to_lock.clear();
        self.guards.clear();
    }
}
