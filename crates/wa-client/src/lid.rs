//! LID <-> phone-number mappings and where a device's Signal session lives.
//!
//! WhatsApp addresses users by phone number (PN) and by LID. Baileys 7 keeps Signal sessions
//! under the LID address once the mapping is known, and stores mappings as `lid-mapping` keys:
//! `pnUser -> lidUser` and `lidUser_reverse -> pnUser`. We read and write the same keys, so an
//! auth state moves between Baileys and us with its sessions findable.

use serde_json::Value;
use wa_binary::{Jid, Server};
use wa_signal::ProtocolAddress;
use wa_store::{KeyStore, KeyType, KeyWrites, StoreError};

use crate::ctx::Client;
use crate::error::ClientError;

/// The LID user of a phone-number user, if known.
pub async fn lid_for_pn_user(
    keys: &dyn KeyStore,
    pn_user: &str,
) -> Result<Option<String>, StoreError> {
    let ids = [pn_user.to_owned()];
    let m = keys.get(KeyType::LidMapping, &ids).await?;
    Ok(m.get(pn_user).and_then(Value::as_str).map(str::to_owned))
}

/// The phone-number user of a LID user, if known.
pub async fn pn_for_lid_user(
    keys: &dyn KeyStore,
    lid_user: &str,
) -> Result<Option<String>, StoreError> {
    let id = format!("{lid_user}_reverse");
    let m = keys
        .get(KeyType::LidMapping, std::slice::from_ref(&id))
        .await?;
    Ok(m.get(&id).and_then(Value::as_str).map(str::to_owned))
}

/// Stores a mapping both ways (a no-op when it is already known).
pub async fn store_lid_mapping(
    keys: &dyn KeyStore,
    lid_user: &str,
    pn_user: &str,
) -> Result<(), StoreError> {
    if lid_for_pn_user(keys, pn_user).await?.as_deref() == Some(lid_user) {
        return Ok(());
    }
    let mut w = KeyWrites::new();
    let m = w.entry(KeyType::LidMapping).or_default();
    m.insert(pn_user.to_owned(), Some(Value::String(lid_user.to_owned())));
    m.insert(
        format!("{lid_user}_reverse"),
        Some(Value::String(pn_user.to_owned())),
    );
    keys.set(&w).await
}

/// The Signal address of a device JID: under its LID when the mapping is known, as Baileys'
/// repository keeps sessions.
pub async fn session_address(
    keys: &dyn KeyStore,
    jid: &Jid,
) -> Result<ProtocolAddress, ClientError> {
    let target = if jid.server == Server::Pn
        && let Some(lid) = lid_for_pn_user(keys, &jid.user).await?
    {
        Jid {
            device: jid.device,
            ..Jid::new(lid, Server::Lid)
        }
    } else {
        jid.clone()
    };
    let text = target.to_string();
    ProtocolAddress::from_jid(&text).map_err(|k| ClientError::from(k.at(&text)))
}

/// A pair of addresses of one user learned from an envelope (`sender_lid`, `participant_pn`,
/// ...): which one is the LID and which the phone number, if they are one of each.
pub fn lid_pn_pair<'a>(a: &'a Jid, b: &'a Jid) -> Option<(&'a Jid, &'a Jid)> {
    match (&a.server, &b.server) {
        (Server::Lid, Server::Pn) => Some((a, b)),
        (Server::Pn, Server::Lid) => Some((b, a)),
        _ => None,
    }
}

impl Client {
    pub(crate) async fn store_lid_mapping(
        &self,
        lid_user: &str,
        pn_user: &str,
    ) -> Result<(), ClientError> {
        Ok(store_lid_mapping(self.inner.keys.as_ref(), lid_user, pn_user).await?)
    }

    /// The Signal address of a device JID (text), under its LID when known.
    pub(crate) async fn address(&self, jid: &str) -> Result<ProtocolAddress, ClientError> {
        let j = Jid::parse(jid).map_err(|e| ClientError::Protocol(format!("{jid:?}: {e}")))?;
        session_address(self.inner.keys.as_ref(), &j).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_one_lid_and_one_pn() {
        let lid = Jid::parse("100:2@lid").unwrap();
        let pn = Jid::parse("1555:2@s.whatsapp.net").unwrap();
        assert_eq!(lid_pn_pair(&pn, &lid), Some((&lid, &pn)));
        assert_eq!(lid_pn_pair(&lid, &pn), Some((&lid, &pn)));
        assert_eq!(lid_pn_pair(&pn, &pn), None);
    }
}
