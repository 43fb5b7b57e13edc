//! LID <-> phone-number mappings, and where a device's Signal session lives.
//!
//! WhatsApp addresses users by phone number (PN) and by LID. Baileys 7 keeps Signal sessions
//! under the LID address once the mapping is known, and stores mappings as `lid-mapping` keys:
//! `pnUser -> lidUser` and `lidUser_reverse -> pnUser`. [`LidMappings`] reads and writes the
//! same keys with Baileys' `LIDMappingStore` semantics (the same answers, the same stored
//! entries, the same lookups of unknown numbers), behind a bounded cache; the socket and
//! `makeLibSignalRepository` both use it, so an auth state moves between Baileys and us with
//! its sessions findable.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;
use tokio::sync::OnceCell;
use wa_signal::ProtocolAddress;
use wa_store::{BoxFuture, KeyStore, KeyType, KeyWrites};

use crate::ctx::Client;
use crate::error::ClientError;

mod cache;
mod jid;

use cache::Cache;
use jid::with_device;
pub use jid::{
    LooseJid, is_hosted_lid_user, is_hosted_pn_user, is_lid_user, is_pn_user, lid_pn_pair,
    loose_decode,
};

/// A LID and the phone number it stands for, as JIDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LidPair {
    pub lid: String,
    pub pn: String,
}

/// Finds the LIDs of phone numbers nobody told us about (Baileys' `pnToLIDFunc`: a usync
/// query on a socket, the app's function for a repository).
pub trait PnToLid: Send + Sync {
    fn fetch(&self, pns: Vec<String>) -> BoxFuture<'_, Vec<LidPair>>;
}

type Lookup = Arc<OnceCell<Result<Option<Vec<LidPair>>, ClientError>>>;

/// The LID mapping store (Baileys' `LIDMappingStore`).
pub struct LidMappings {
    keys: Arc<dyn KeyStore>,
    fetcher: Option<Arc<dyn PnToLid>>,
    cache: Mutex<Cache>,
    /// Concurrent lookups of the same JIDs share one answer.
    inflight: Mutex<HashMap<(bool, String), Lookup>>,
}

/// Pairs keyed by JID, in first-insertion order (a JS object's `Object.values`).
#[derive(Default)]
struct Ordered(Vec<(String, LidPair)>);

impl Ordered {
    fn put(&mut self, key: String, pair: LidPair) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = pair,
            None => self.0.push((key, pair)),
        }
    }

    fn finish(self) -> Option<Vec<LidPair>> {
        (!self.0.is_empty()).then(|| self.0.into_iter().map(|(_, p)| p).collect())
    }
}

impl LidMappings {
    pub fn new(keys: Arc<dyn KeyStore>, fetcher: Option<Arc<dyn PnToLid>>) -> Self {
        Self {
            keys,
            fetcher,
            cache: Mutex::new(Cache::default()),
            inflight: Mutex::new(HashMap::new()),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a lookup of unknown numbers may go beyond the store (a fetcher is set).
    pub fn has_fetcher(&self) -> bool {
        self.fetcher.is_some()
    }

    /// The cached LID user of a phone-number user (no store read).
    pub fn cached_lid_user(&self, pn_user: &str) -> Option<String> {
        self.cache().get(&["pn:", pn_user].concat())
    }

    /// Records a mapping read from the store by someone else's batch.
    pub fn remember(&self, pn_user: &str, lid_user: &str) {
        let mut c = self.cache();
        c.set(["pn:", pn_user].concat(), lid_user.to_owned());
        c.set(["lid:", lid_user].concat(), pn_user.to_owned());
    }

    async fn stored(&self, ids: Vec<String>) -> Result<HashMap<String, String>, ClientError> {
        let m = self.keys.get(KeyType::LidMapping, &ids).await?;
        Ok(m.into_iter()
            .filter_map(|(k, v)| match v {
                Value::String(s) if !s.is_empty() => Some((k, s)),
                _ => None,
            })
            .collect())
    }

    /// Stores mappings (`storeLIDPNMappings`): pairs that are not one LID and one PN are
    /// refused (a reversed pair is accepted), known ones are skipped, the rest written in one
    /// `set` both ways.
    /// Whether phone-number user `pn_user` is known to be LID user `lid_user` (cached).
    pub fn knows(&self, lid_user: &str, pn_user: &str) -> bool {
        self.cache().holds(&["pn:", pn_user].concat(), lid_user)
    }

    pub async fn store(&self, pairs: &[LidPair]) -> Result<(), ClientError> {
        // One pair the cache holds already (every message of a known contact names it).
        if let [LidPair { lid, pn }] = pairs
            && is_lid_user(lid)
            && is_pn_user(pn)
            && let (Some(l), Some(p)) = (loose_decode(lid), loose_decode(pn))
            && self.cache().holds(&["pn:", p.user].concat(), l.user)
        {
            return Ok(());
        }
        let mut valid: Vec<(String, String)> = Vec::new();
        for LidPair { lid, pn } in pairs {
            let ok = (is_lid_user(lid) && is_pn_user(pn)) || (is_pn_user(lid) && is_lid_user(pn));
            if !ok {
                tracing::warn!("refused a LID-PN mapping that is not one LID and one phone number");
                tracing::debug!(%lid, %pn, "invalid LID-PN mapping");
                continue;
            }
            if let (Some(l), Some(p)) = (loose_decode(lid), loose_decode(pn)) {
                valid.push((p.user.to_owned(), l.user.to_owned()));
            }
        }
        if valid.is_empty() {
            return Ok(());
        }
        let mut existing: HashMap<String, String> = HashMap::new();
        let mut misses: Vec<String> = Vec::new();
        for (pn_user, _) in &valid {
            match self.cache().get(&["pn:", pn_user].concat()) {
                Some(l) => {
                    existing.insert(pn_user.clone(), l);
                }
                None if !misses.contains(pn_user) => misses.push(pn_user.clone()),
                None => {}
            }
        }
        if !misses.is_empty() {
            for (pn_user, lid_user) in self.stored(misses).await? {
                self.remember(&pn_user, &lid_user);
                existing.insert(pn_user, lid_user);
            }
        }
        let mut fresh: Vec<(String, String)> = Vec::new();
        for (pn_user, lid_user) in valid {
            if existing.get(&pn_user) == Some(&lid_user) {
                continue;
            }
            match fresh.iter_mut().find(|(p, _)| *p == pn_user) {
                Some(slot) => slot.1 = lid_user,
                None => fresh.push((pn_user, lid_user)),
            }
        }
        if fresh.is_empty() {
            return Ok(());
        }
        let mut w = KeyWrites::new();
        let m = w.entry(KeyType::LidMapping).or_default();
        for (pn_user, lid_user) in &fresh {
            m.insert(pn_user.clone(), Some(Value::String(lid_user.clone())));
            m.insert(
                format!("{lid_user}_reverse"),
                Some(Value::String(pn_user.clone())),
            );
        }
        self.keys.set(&w).await?;
        for (pn_user, lid_user) in &fresh {
            self.remember(pn_user, lid_user);
        }
        Ok(())
    }

    /// Shares one lookup between concurrent callers asking for the same JIDs.
    async fn coalesced<F>(
        &self,
        pn_side: bool,
        jids: &[String],
        run: F,
    ) -> Result<Option<Vec<LidPair>>, ClientError>
    where
        F: std::future::Future<Output = Result<Option<Vec<LidPair>>, ClientError>>,
    {
        let mut sorted: Vec<&String> = jids.iter().collect();
        sorted.sort();
        sorted.dedup();
        let key = (
            pn_side,
            sorted
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(","),
        );
        let cell = {
            let mut m = self.inflight.lock().unwrap_or_else(PoisonError::into_inner);
            m.entry(key.clone()).or_default().clone()
        };
        let out = cell.get_or_init(|| run).await.clone();
        self.inflight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&key);
        out
    }

    /// The LID of each phone-number JID (`getLIDsForPNs`), keeping the device; unknown users
    /// are asked of the fetcher once, in one batch. `None` when nothing is known.
    pub async fn lids_for_pns(&self, pns: &[String]) -> Result<Option<Vec<LidPair>>, ClientError> {
        if pns.is_empty() {
            return Ok(None);
        }
        self.coalesced(true, pns, self.lookup_lids(pns)).await
    }

    pub async fn lid_for_pn(&self, pn: &str) -> Result<Option<String>, ClientError> {
        // Known in memory (every message of a known contact): answered here, without the
        // machinery that merges concurrent lookups (2-3% of a text's CPU one at a time).
        if let Some(lid) = self.cached_lid(pn) {
            return Ok(Some(lid));
        }
        Ok(self
            .lids_for_pns(&[pn.to_owned()])
            .await?
            .and_then(|v| v.into_iter().next())
            .map(|p| p.lid))
    }

    /// The LID of phone-number JID `pn` when the cache knows its user.
    fn cached_lid(&self, pn: &str) -> Option<String> {
        if !is_pn_user(pn) && !is_hosted_pn_user(pn) {
            return None;
        }
        let d = loose_decode(pn)?;
        let lid_user = self.cache().get(&["pn:", d.user].concat())?;
        Some(lid_of(&d, &lid_user))
    }

    async fn lookup_lids(&self, pns: &[String]) -> Result<Option<Vec<LidPair>>, ClientError> {
        let mut found = Ordered::default();
        let resolved = |found: &mut Ordered, pn: &str, d: &LooseJid<'_>, lid_user: &str| {
            let lid = lid_of(d, lid_user);
            found.put(
                pn.to_owned(),
                LidPair {
                    lid,
                    pn: pn.to_owned(),
                },
            );
        };
        let mut pending: Vec<(&String, LooseJid<'_>)> = Vec::new();
        for pn in pns {
            if !is_pn_user(pn) && !is_hosted_pn_user(pn) {
                continue;
            }
            let Some(d) = loose_decode(pn) else { continue };
            match self.cache().get(&["pn:", d.user].concat()) {
                Some(lid_user) => resolved(&mut found, pn, &d, &lid_user),
                None => pending.push((pn, d)),
            }
        }
        // Users to ask the fetcher about, each with the devices asked for, in first-seen order.
        let mut fetch: Vec<(String, Vec<u64>)> = Vec::new();
        if !pending.is_empty() {
            let mut users: Vec<String> = Vec::new();
            for (_, d) in &pending {
                if !users.iter().any(|u| u == d.user) {
                    users.push(d.user.to_owned());
                }
            }
            for (pn_user, lid_user) in self.stored(users).await? {
                self.remember(&pn_user, &lid_user);
            }
            for (pn, d) in &pending {
                match self.cache().get(&["pn:", d.user].concat()) {
                    Some(lid_user) => resolved(&mut found, pn, d, &lid_user),
                    None => {
                        let normalized = format!("{}@s.whatsapp.net", d.user);
                        let device = d.device.unwrap_or(0);
                        match fetch.iter_mut().find(|(n, _)| *n == normalized) {
                            Some((_, devices)) => devices.push(device),
                            None => fetch.push((normalized, vec![device])),
                        }
                    }
                }
            }
        }
        if !fetch.is_empty() {
            let result = match &self.fetcher {
                Some(f) => {
                    f.fetch(fetch.iter().map(|(n, _)| n.clone()).collect())
                        .await?
                }
                None => Vec::new(),
            };
            if result.is_empty() {
                tracing::warn!("the LID lookup of unknown phone numbers gave no results");
            } else {
                self.store(&result).await?;
                for pair in &result {
                    let (Some(p), Some(l)) = (loose_decode(&pair.pn), loose_decode(&pair.lid))
                    else {
                        continue;
                    };
                    let Some((_, devices)) = fetch.iter().find(|(n, _)| *n == pair.pn) else {
                        continue;
                    };
                    for &device in devices {
                        let hosted = device == 99;
                        let lid =
                            with_device(l.user, device, if hosted { "hosted.lid" } else { "lid" });
                        let pn = with_device(
                            p.user,
                            device,
                            if hosted { "hosted" } else { "s.whatsapp.net" },
                        );
                        found.put(pn.clone(), LidPair { lid, pn });
                    }
                }
            }
        }
        Ok(found.finish())
    }

    /// The phone number of each LID JID (`getPNsForLIDs`), keeping the device (written even
    /// when 0, as Baileys does). `None` when nothing is known.
    pub async fn pns_for_lids(&self, lids: &[String]) -> Result<Option<Vec<LidPair>>, ClientError> {
        if lids.is_empty() {
            return Ok(None);
        }
        self.coalesced(false, lids, self.lookup_pns(lids)).await
    }

    pub async fn pn_for_lid(&self, lid: &str) -> Result<Option<String>, ClientError> {
        Ok(self
            .pns_for_lids(&[lid.to_owned()])
            .await?
            .and_then(|v| v.into_iter().next())
            .map(|p| p.pn))
    }

    async fn lookup_pns(&self, lids: &[String]) -> Result<Option<Vec<LidPair>>, ClientError> {
        let mut found = Ordered::default();
        let resolved = |found: &mut Ordered, lid: &str, d: &LooseJid<'_>, pn_user: &str| {
            let server = if d.server == "hosted.lid" {
                "hosted"
            } else {
                "s.whatsapp.net"
            };
            let pn = format!("{pn_user}:{}@{server}", d.device.unwrap_or(0));
            found.put(
                lid.to_owned(),
                LidPair {
                    lid: lid.to_owned(),
                    pn,
                },
            );
        };
        let mut pending: Vec<(&String, LooseJid<'_>)> = Vec::new();
        for lid in lids {
            if !is_lid_user(lid) {
                continue;
            }
            let Some(d) = loose_decode(lid) else { continue };
            match self.cache().get(&["lid:", d.user].concat()) {
                Some(pn_user) => resolved(&mut found, lid, &d, &pn_user),
                None => pending.push((lid, d)),
            }
        }
        if !pending.is_empty() {
            let mut reverse: Vec<String> = Vec::new();
            for (_, d) in &pending {
                let k = format!("{}_reverse", d.user);
                if !reverse.contains(&k) {
                    reverse.push(k);
                }
            }
            let stored = self.stored(reverse).await?;
            for (lid, d) in &pending {
                let cached = self.cache().get(&["lid:", d.user].concat());
                let pn_user = match cached {
                    Some(p) => Some(p),
                    None => {
                        let p = stored.get(&format!("{}_reverse", d.user)).cloned();
                        if let Some(p) = &p {
                            self.remember(p, d.user);
                        }
                        p
                    }
                };
                if let Some(p) = pn_user {
                    resolved(&mut found, lid, d, &p);
                }
            }
        }
        Ok(found.finish())
    }

    /// Forgets everything cached (the store stays).
    pub fn clear(&self) {
        self.cache().clear();
    }

    /// Where the session with `address` lives when that needs no lookup: a LID (or hosted
    /// LID) address is where it is, a phone-number device with a cached mapping is under its
    /// LID. `None` when the store (or the fetcher) has to be asked: [`Self::session_address`].
    pub fn cached_session_address(&self, address: &ProtocolAddress) -> Option<ProtocolAddress> {
        if let Some(at) = self.cache().address(address) {
            return Some(at);
        }
        let text = address.to_string();
        let Some((name, device)) = text.split_once('.') else {
            return Some(address.clone());
        };
        let (user, domain) = name.split_once('_').unwrap_or((name, "0"));
        let domain: u32 = domain.parse().unwrap_or(0);
        if domain == 1 || domain == 129 {
            return Some(address.clone());
        }
        let lid_user = self.cached_lid_user(user)?;
        let server = if domain == 128 { "hosted.lid" } else { "lid" };
        let lid = with_device(&lid_user, device.parse().ok()?, server);
        let at = ProtocolAddress::from_jid(&lid).ok()?;
        self.cache().keep_address(address.clone(), at.clone());
        Some(at)
    }

    /// The Signal address a session with `address` (`user[_domain].device`) is kept under:
    /// a phone-number device's LID address once the mapping is known (Baileys' storage
    /// resolves every address this way).
    pub async fn session_address(
        &self,
        address: &ProtocolAddress,
    ) -> Result<ProtocolAddress, ClientError> {
        if let Some(at) = self.cache().address(address) {
            return Ok(at);
        }
        let text = address.to_string();
        let Some((name, device)) = text.split_once('.') else {
            return Ok(address.clone());
        };
        let (user, domain) = name.split_once('_').unwrap_or((name, "0"));
        let domain: u32 = domain.parse().unwrap_or(0);
        // LID (1) and hosted LID (129) addresses are where sessions live already.
        if domain == 1 || domain == 129 {
            return Ok(address.clone());
        }
        let server = if domain == 128 {
            "hosted"
        } else {
            "s.whatsapp.net"
        };
        let pn = if device == "0" {
            [user, "@", server].concat()
        } else {
            [user, ":", device, "@", server].concat()
        };
        match self.lid_for_pn(&pn).await? {
            Some(lid) => {
                let at =
                    ProtocolAddress::from_jid(&lid).map_err(|k| ClientError::from(k.at(&lid)))?;
                // Only a found mapping is kept: one unknown here may be in the store by the
                // next message (another socket of the account, a later lookup).
                self.cache().keep_address(address.clone(), at.clone());
                Ok(at)
            }
            None => Ok(address.clone()),
        }
    }
}

/// The LID JID of phone-number JID `d` whose user's LID is `lid_user`, same device.
fn lid_of(d: &LooseJid<'_>, lid_user: &str) -> String {
    let server = if d.server == "hosted" {
        "hosted.lid"
    } else {
        "lid"
    };
    with_device(lid_user, d.device.unwrap_or(0), server)
}

impl Client {
    pub(crate) async fn store_lid_mapping(
        &self,
        lid_user: &str,
        pn_user: &str,
    ) -> Result<(), ClientError> {
        // Every message of a known contact names the pair: no strings made for it.
        if self.inner.lids.knows(lid_user, pn_user) {
            return Ok(());
        }
        self.inner
            .lids
            .store(&[LidPair {
                lid: [lid_user, "@lid"].concat(),
                pn: [pn_user, "@s.whatsapp.net"].concat(),
            }])
            .await
    }

    /// Where the Signal session with a device lives: its address, under its LID when the
    /// mapping is known.
    pub async fn address(&self, jid: &str) -> Result<ProtocolAddress, ClientError> {
        let a = ProtocolAddress::from_jid(jid).map_err(|k| ClientError::from(k.at(jid)))?;
        self.inner.lids.session_address(&a).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wa_store::{EngineKeyStore, MemoryEngine};

    fn mappings(fetcher: Option<Arc<dyn PnToLid>>) -> LidMappings {
        let keys: Arc<dyn KeyStore> = Arc::new(EngineKeyStore::new(Arc::new(MemoryEngine::new())));
        LidMappings::new(keys, fetcher)
    }

    struct Fixed(Mutex<Vec<Vec<String>>>);
    impl PnToLid for Fixed {
        fn fetch(&self, pns: Vec<String>) -> BoxFuture<'_, Vec<LidPair>> {
            self.0.lock().unwrap().push(pns.clone());
            Box::pin(async move {
                Ok(pns
                    .into_iter()
                    .filter(|p| p.starts_with("5599"))
                    .map(|pn| LidPair {
                        lid: format!("{}77@lid", pn.split('@').next().unwrap()),
                        pn,
                    })
                    .collect())
            })
        }
    }

    #[tokio::test]
    async fn mappings_both_ways_with_devices_and_a_fetcher() {
        let fetcher = Arc::new(Fixed(Mutex::new(Vec::new())));
        let m = mappings(Some(fetcher.clone()));
        m.store(&[
            LidPair {
                lid: "111@lid".into(),
                pn: "5511111@s.whatsapp.net".into(),
            },
            LidPair {
                lid: "5533333@s.whatsapp.net".into(),
                pn: "333@lid".into(),
            },
            LidPair {
                lid: "bad".into(),
                pn: "5544444@s.whatsapp.net".into(),
            },
        ])
        .await
        .unwrap();
        assert_eq!(
            m.lid_for_pn("5511111:4@s.whatsapp.net")
                .await
                .unwrap()
                .as_deref(),
            Some("111:4@lid")
        );
        assert_eq!(
            m.lid_for_pn("5511111:99@hosted").await.unwrap().as_deref(),
            Some("111:99@hosted.lid")
        );
        assert_eq!(
            m.pn_for_lid("111@lid").await.unwrap().as_deref(),
            Some("5511111:0@s.whatsapp.net")
        );
        // A reversed pair is accepted and stored as labelled (Baileys does the same: its
        // `pn` field's user becomes the phone-number side).
        assert_eq!(
            m.pn_for_lid("5533333@lid").await.unwrap().as_deref(),
            Some("333:0@s.whatsapp.net")
        );
        let got = m
            .lids_for_pns(&["5599000:2@s.whatsapp.net".into(), "123@g.us".into()])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            got,
            [LidPair {
                lid: "559900077:2@lid".into(),
                pn: "5599000:2@s.whatsapp.net".into()
            }]
        );
        assert_eq!(
            fetcher.0.lock().unwrap().clone(),
            [vec!["5599000@s.whatsapp.net".to_owned()]]
        );
        // Known now: no second fetch, and a fresh store over the same keys finds it.
        m.lid_for_pn("5599000@s.whatsapp.net").await.unwrap();
        assert_eq!(fetcher.0.lock().unwrap().len(), 1);
        m.clear();
        assert_eq!(
            m.pn_for_lid("559900077:3@lid").await.unwrap().as_deref(),
            Some("5599000:3@s.whatsapp.net")
        );
    }

    #[tokio::test]
    async fn sessions_of_pn_devices_live_under_their_lid() {
        let m = mappings(None);
        let pn = ProtocolAddress::from_jid("5511111:3@s.whatsapp.net").unwrap();
        assert_eq!(m.session_address(&pn).await.unwrap(), pn);
        m.store(&[LidPair {
            lid: "111@lid".into(),
            pn: "5511111@s.whatsapp.net".into(),
        }])
        .await
        .unwrap();
        assert_eq!(m.session_address(&pn).await.unwrap().to_string(), "111_1.3");
        // The same pair again changes nothing; a new LID for the number replaces the old one.
        let pair = |lid: &str| LidPair {
            lid: lid.into(),
            pn: "5511111@s.whatsapp.net".into(),
        };
        m.store(&[pair("111@lid")]).await.unwrap();
        assert_eq!(m.session_address(&pn).await.unwrap().to_string(), "111_1.3");
        m.store(&[pair("222@lid")]).await.unwrap();
        assert_eq!(m.session_address(&pn).await.unwrap().to_string(), "222_1.3");
        m.clear();
        assert_eq!(m.session_address(&pn).await.unwrap().to_string(), "222_1.3");
    }
}
