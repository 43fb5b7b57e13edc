//! Receiving: one worker handles the stanzas of a connection in arrival order (as Baileys'
//! message mutex does), dispatching by tag to the message, receipt and notification handlers.
//! Post-login work runs beside it so offline messages are not held behind it.

mod message;
mod notification;
pub mod parse;
mod receipt;

use std::time::Duration;

use tokio::sync::mpsc;
use wa_binary::Node;

use crate::ctx::Client;
use crate::error::ClientError;
use crate::nodes;

/// The first pause before a stanza whose store write failed is handled again; it doubles up to
/// [`STORE_RETRY_MAX`].
const STORE_RETRY_FIRST: Duration = Duration::from_millis(250);
const STORE_RETRY_MAX: Duration = Duration::from_secs(5);

/// Work the connection driver hands to the worker.
pub(crate) enum Work {
    LoggedIn(Node),
    Stanza(Node),
}

pub(crate) async fn work(client: Client, mut rx: mpsc::UnboundedReceiver<Box<Work>>) {
    // The handlers' futures are boxed while they run: inline, the largest of them (a message's
    // decryption and store write) would size this task's allocation for its whole life,
    // about 12 KB per idle socket.
    while let Some(w) = rx.recv().await {
        match *w {
            Work::LoggedIn(node) => {
                // What a crash kept from the app goes first, before any new stanza.
                if let Err(e) = Box::pin(client.replay_inbox()).await {
                    tracing::warn!(code = e.code(), "could not replay the inbox");
                }
                let c = client.clone();
                client.spawn(async move { c.post_login(node).await });
            }
            Work::Stanza(node) => Box::pin(client.handle_stanza(node)).await,
        }
    }
}

impl Client {
    async fn handle_stanza(&self, node: Node) {
        // Shared: a message's inbox entry keeps its stanza, encoded only if it is printed.
        let node = std::sync::Arc::new(node);
        // A stanza whose store write failed was neither acked nor receipted, and the server
        // does not send it again while this connection lives: it is handled again (nothing of
        // it was written) until the store answers or the connection ends. Later stanzas wait
        // behind it, in order.
        let mut pause = STORE_RETRY_FIRST;
        let r = loop {
            let r = self.dispatch(&node).await;
            match &r {
                Err(e) if e.is_store_failure() && !self.is_closed() => {
                    tracing::warn!(
                        code = e.code(),
                        tag = %node.tag,
                        retry_ms = pause.as_millis() as u64,
                        "the key store failed; the stanza will be handled again"
                    );
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(STORE_RETRY_MAX);
                }
                _ => break r,
            }
        };
        if let Err(e) = r {
            // A stanza still being handled when the connection ends fails with CLOSED: that is
            // the end, not a fault (and the socket's logger may be gone already).
            if e.code() == crate::error::code::CLOSED {
                tracing::debug!(tag = %node.tag, "a stanza was cut short by the connection's end");
                return;
            }
            tracing::warn!(code = e.code(), tag = %node.tag, "handling a stanza failed");
            tracing::debug!(error = %e, tag = %node.tag, "handling a stanza failed");
        }
    }

    async fn dispatch(&self, node: &std::sync::Arc<Node>) -> Result<(), ClientError> {
        match node.tag.as_ref() {
            "message" => self.handle_message(node).await,
            "receipt" => self.handle_receipt(node).await,
            "notification" => self.handle_notification(node).await,
            "call" => self.send_ack(node, None).await,
            "presence" | "chatstate" => {
                self.on_presence(node);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Acks a received stanza, with an error code when we refuse it.
    pub(crate) async fn send_ack(
        &self,
        node: &Node,
        error: Option<u16>,
    ) -> Result<(), ClientError> {
        let me = self.me().ok().map(|o| o.pn.to_string());
        self.send_node(nodes::ack(node, error, me.as_deref())).await
    }
}
