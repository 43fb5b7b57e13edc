//! The socket's presence and receipt methods (lib/presence.js): `sendPresenceUpdate`,
//! `presenceSubscribe`, `sendReceipt`, `sendReceipts`, `readMessages`. Each takes its place in
//! the send order during the call (a sync function returning a promise), so
//! `composing` then `paused` called one after another go out in that order.

use napi::bindgen_prelude::{AsyncBlock, AsyncBlockBuilder, Buffer, Env};
use napi_derive::napi;
use wa_client::presence::OutgoingPresence;
use wa_client::{ClientError, MessageKey};

use crate::client::{NativeSocket, client_err};
use crate::errors::{Coded, Result};

/// A `WAMessageKey` as receipts need it.
#[napi(object)]
pub struct ReceiptKey {
    pub remote_jid: Option<String>,
    pub id: Option<String>,
    pub participant: Option<String>,
    pub from_me: Option<bool>,
}

fn keys(keys: Vec<ReceiptKey>) -> std::result::Result<Vec<MessageKey>, ClientError> {
    keys.into_iter()
        .enumerate()
        .map(|(i, k)| {
            let (Some(remote_jid), Some(id)) = (k.remote_jid, k.id) else {
                return Err(ClientError::Argument(format!(
                    "keys[{i}] needs remoteJid and id"
                )));
            };
            Ok(MessageKey {
                remote_jid,
                id,
                participant: k.participant.filter(|p| !p.is_empty()),
                from_me: k.from_me.unwrap_or(false),
                ..MessageKey::default()
            })
        })
        .collect()
}

/// A promise of `fut`, run in the socket's `span` (its records reach the socket's logger).
fn promise(
    env: &Env,
    span: &tracing::Span,
    fut: impl Future<Output = std::result::Result<(), ClientError>> + Send + 'static,
) -> Result<AsyncBlock<Coded<()>>> {
    let fut = tracing::Instrument::instrument(fut, span.clone());
    Ok(
        AsyncBlockBuilder::new(async move { Ok(Coded(fut.await.map_err(client_err))) })
            .build(env)?,
    )
}

#[napi]
impl NativeSocket {
    /// `sendPresenceUpdate(type, toJid)`; `name`: the push name for availability
    /// (`creds.me.name`).
    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn send_presence_update(
        &self,
        env: &Env,
        kind: String,
        to: Option<String>,
        name: Option<String>,
    ) -> Result<AsyncBlock<Coded<()>>> {
        let kind = OutgoingPresence::parse(&kind).map_err(client_err)?;
        promise(
            env,
            &self.span,
            self.client
                .send_presence_update(kind, to.as_deref(), name.as_deref()),
        )
    }

    /// `presenceSubscribe(toJid, tcToken?)`.
    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn presence_subscribe(
        &self,
        env: &Env,
        to: String,
        tc_token: Option<Buffer>,
    ) -> Result<AsyncBlock<Coded<()>>> {
        promise(
            env,
            &self.span,
            self.client
                .presence_subscribe(&to, tc_token.as_ref().map(|b| b.as_ref())),
        )
    }

    /// `sendReceipt(jid, participant, messageIds, type)`.
    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn send_receipt(
        &self,
        env: &Env,
        jid: String,
        participant: Option<String>,
        ids: Vec<String>,
        kind: Option<String>,
    ) -> Result<AsyncBlock<Coded<()>>> {
        promise(
            env,
            &self.span,
            self.client
                .send_receipt(&jid, participant.as_deref(), &ids, kind.as_deref()),
        )
    }

    /// `sendReceipts(keys, type)`.
    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn send_receipts(
        &self,
        env: &Env,
        keys: Vec<ReceiptKey>,
        kind: Option<String>,
    ) -> Result<AsyncBlock<Coded<()>>> {
        let keys = self::keys(keys).map_err(client_err)?;
        promise(
            env,
            &self.span,
            self.client.send_receipts(&keys, kind.as_deref()),
        )
    }

    /// `readMessages(keys)`: `read` or `read-self` as the privacy settings say.
    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn read_messages(&self, env: &Env, keys: Vec<ReceiptKey>) -> Result<AsyncBlock<Coded<()>>> {
        let keys = self::keys(keys).map_err(client_err)?;
        let client = self.client.clone();
        promise(
            env,
            &self.span,
            async move { client.read_messages(&keys).await },
        )
    }
}
