//! After `<success>`: prekeys checked and topped up, the passive connection made active, the
//! key bundle digest validated, our LID recorded; then the app hears `connection: open`.

use wa_binary::{Jid, Node};

use crate::ctx::Client;
use crate::event::{ConnectionState, ConnectionUpdate, CredsField, Event};
use crate::nodes;

impl Client {
    pub(crate) async fn post_login(&self, success: Node) {
        let r = async {
            self.check_prekeys().await?;
            self.query(nodes::iq("passive", "set", vec![Node::new("active")]), None)
                .await?;
            Ok::<(), crate::error::ClientError>(())
        }
        .await;
        if let Err(e) = r {
            tracing::warn!(code = e.code(), "post-login steps failed");
        }
        // Baileys validates the key bundle after login; a failure only logs.
        if self
            .query(nodes::iq("encrypt", "get", vec![Node::new("digest")]), None)
            .await
            .is_err()
        {
            tracing::debug!("digest check failed");
        }
        let lid = success.get_attr("lid").map(str::to_owned);
        self.update_creds(&[CredsField::Me], |c| {
            if let (Some(me), Some(l)) = (c.me.as_mut(), &lid) {
                me.lid = Some(l.clone());
            }
        });
        self.emit(Event::Connection(ConnectionUpdate::state(
            ConnectionState::Open,
        )));
        self.presence_on_open().await;
        if let (Ok(own), Some(l)) = (self.me(), lid.and_then(|l| Jid::parse(&l).ok()))
            && let Err(e) = self.store_lid_mapping(&l.user, &own.pn.user).await
        {
            tracing::warn!(code = e.code(), "could not store our own LID mapping");
        }
    }
}
