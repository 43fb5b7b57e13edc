//! Sending a message: device fan-out over usync device lists, sessions asserted, one Signal
//! encryption per device, the stanza, the server's ack. The planning is pure ([`plan`]); this
//! module runs it against the network and the key store.

pub mod order;
pub mod plan;

use wa_binary::{Jid, Node, Server};
use wa_proto::WebMessageInfo;
use wa_proto::web_message_info::Status;
use wa_signal::MessageKind;

pub use plan::{device_identity_node, enc_node, plaintext_for};

use crate::ctx::{Client, now_ms};
use crate::error::ClientError;
use crate::event::{Event, MessageKey, MessagesUpsert, UpsertType, WaMessage};
use crate::nodes;

impl Client {
    /// Sends a text (`sendMessage(jid, { text })`); resolves with the WAMessage once the
    /// server acknowledged it. Takes its place in the chat's order when called.
    pub fn send_text(
        &self,
        to: &str,
        text: &str,
    ) -> impl Future<Output = Result<WaMessage, ClientError>> + Send + 'static {
        let message = wa_proto::Message {
            extended_text_message: Some(Box::new(wa_proto::message::ExtendedTextMessage {
                text: Some(text.to_owned()),
                ..Default::default()
            })),
            ..Default::default()
        };
        self.send_message(to, message)
    }

    /// Encrypts `message` for every device of the recipient and of our own account and sends
    /// it; resolves with the WAMessage once the server acknowledged it.
    ///
    /// The send takes its place in the chat's order when this is called, not when the future
    /// is first polled: messages to one chat go on the wire in call order, awaited or not.
    pub fn send_message(
        &self,
        to: &str,
        message: wa_proto::Message,
    ) -> impl Future<Output = Result<WaMessage, ClientError>> + Send + 'static {
        let client = self.clone();
        let dest = Jid::parse(to).map_err(|e| ClientError::Argument(format!("{to:?}: {e}")));
        let ticket = dest
            .as_ref()
            .ok()
            .map(|d| client.inner.lanes.ticket(&d.normalized_user().to_string()));
        async move {
            let dest = dest?;
            let turn = match ticket {
                Some(t) => Some(t.turn().await),
                None => None,
            };
            client.send_in_turn(dest, message, turn).await
        }
    }

    /// A send whose turn has come: planned, encrypted and handed to the driver, then the turn
    /// passes to the chat's next send while this one waits for the server's ack.
    async fn send_in_turn(
        &self,
        dest: Jid,
        message: wa_proto::Message,
        turn: Option<order::Turn>,
    ) -> Result<WaMessage, ClientError> {
        let own = self.me()?;
        if dest.is_group() || dest.is_broadcast() || dest.is_newsletter() {
            return Err(ClientError::Argument(
                "only messages to users are supported so far".into(),
            ));
        }
        let dest = dest.normalized_user();
        let now = now_ms();
        let id = nodes::message_id(Some(&own.pn.user), now / 1000);
        let sender = own.device_for(&dest).clone();
        let own_user = match (&own.lid, dest.server == Server::Lid) {
            (Some(l), true) => l.normalized_user(),
            _ => own.pn.normalized_user(),
        };
        let devices = self
            .devices(&[own_user.to_string(), dest.to_string()])
            .await?;
        let recipients = plan::fan_out(&devices, &own, &sender)?;
        if recipients.is_empty() {
            return Err(ClientError::Protocol(format!("no devices for {dest}")));
        }
        let jids: Vec<String> = recipients.iter().map(|r| r.jid.clone()).collect();
        self.assert_sessions(&jids).await?;

        let chat = dest.to_string();
        let plain = plaintext_for(false, &chat, &message);
        let dsm = plaintext_for(true, &chat, &message);
        let mut participants = Vec::with_capacity(recipients.len());
        let mut any_pkmsg = false;
        for r in &recipients {
            let bytes = nodes::pad(if r.mine { dsm.clone() } else { plain.clone() });
            let address = self.address(&r.jid).await?;
            let enc = self.inner.signal.encrypt(&address, &bytes).await?;
            any_pkmsg |= enc.kind == MessageKind::PreKey;
            participants.push(
                Node::new("to")
                    .attr("jid", r.jid.clone())
                    .children(vec![enc_node(&enc)]),
            );
        }
        let identity = if any_pkmsg {
            self.device_identity()
        } else {
            None
        };
        let stanza = plan::message_stanza(&id, &chat, participants, identity, nodes::phash(&jids));
        // Remembered before it goes out: a recipient's retry receipt can arrive before the
        // server's ack does.
        self.inner
            .retry
            .remember_sent(id.clone(), chat.clone(), message.clone());
        let ack = self.enqueue_await_ack(stanza);
        // On the wire in order: the chat's next send may go.
        drop(turn);
        Self::ack(ack?).await?;
        let msg = WaMessage {
            key: MessageKey {
                remote_jid: chat,
                from_me: true,
                id,
                ..MessageKey::default()
            },
            info: WebMessageInfo {
                message: Some(message),
                message_timestamp: Some(now / 1000),
                status: Some(Status::ServerAck as i32),
                ..WebMessageInfo::default()
            },
            category: None,
        };
        if self.config().emit_own_events {
            self.emit(Event::MessagesUpsert(MessagesUpsert {
                messages: vec![msg.clone()],
                kind: UpsertType::Append,
            }));
        }
        Ok(msg)
    }
}
