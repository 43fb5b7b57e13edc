//! Sending a message: device fan-out over usync device lists, sessions asserted, one Signal
//! encryption per device, the stanza, the server's ack. The planning is pure ([`plan`]); this
//! module runs it against the network and the key store.

mod fanout;
pub mod kind;
pub mod order;
pub mod plan;

use prost::Message as _;
use wa_binary::{Content, Jid, Node, Server};
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
    /// server acknowledged it. Takes its place in the chat's order when called. The message
    /// carries a fresh `messageSecret`, as every message Baileys 7 generates does (replies to
    /// it that are encrypted, such as reactions in communities, are keyed by it).
    pub fn send_text(
        &self,
        to: &str,
        text: &str,
    ) -> impl Future<Output = Result<WaMessage, ClientError>> + Send + 'static {
        self.send_text_with(to, text, SendOptions::default())
    }

    /// [`Client::send_text`] with `options` (see [`SendOptions`]).
    pub fn send_text_with(
        &self,
        to: &str,
        text: &str,
        options: SendOptions,
    ) -> impl Future<Output = Result<WaMessage, ClientError>> + Send + 'static {
        let secret: [u8; 32] = wa_crypto::message_random();
        let message = wa_proto::Message {
            extended_text_message: Some(Box::new(wa_proto::message::ExtendedTextMessage {
                text: Some(text.to_owned()),
                ..Default::default()
            })),
            message_context_info: Some(Box::new(wa_proto::MessageContextInfo {
                message_secret: Some(secret.to_vec()),
                ..Default::default()
            })),
            ..Default::default()
        };
        self.relay_message(to, message, options)
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
        self.relay_message(to, message, SendOptions::default())
    }

    /// Baileys' `relayMessage`: sends `message` as it is, with the stanza's id, extra attributes
    /// and extra child nodes from `options`. Takes its place in the chat's order when called.
    pub fn relay_message(
        &self,
        to: &str,
        message: wa_proto::Message,
        options: SendOptions,
    ) -> impl Future<Output = Result<WaMessage, ClientError>> + Send + 'static {
        let client = self.clone();
        let dest = Jid::parse(to).map_err(|e| ClientError::Argument(format!("{to:?}: {e}")));
        let ticket = dest
            .as_ref()
            .ok()
            .map(|d| client.inner.lanes.ticket(&d.normalized_user().text()));
        // Boxed here: unboxed, the send's state (the encryption, the group and newsletter
        // branches) was 32 KB, and every layer above (the binding's promise, the runtime's
        // task) copied all of it when taking it over (memcpy was 7% of a 1:1 send's CPU).
        Box::pin(async move {
            let dest = dest?;
            let turn = match ticket {
                Some(t) => Some(t.turn().await),
                None => None,
            };
            client.send_in_turn(dest, message, options, turn).await
        })
    }

    /// A send whose turn has come: planned, encrypted and handed to the driver, then the turn
    /// passes to the chat's next send while this one waits for the server's ack.
    async fn send_in_turn(
        &self,
        dest: Jid,
        message: wa_proto::Message,
        options: SendOptions,
        turn: Option<order::Turn>,
    ) -> Result<WaMessage, ClientError> {
        let own = self.me()?;
        options.check()?;
        let no_own_event = options.no_own_event;
        if dest.is_group() || dest.is_status_broadcast() {
            // Boxed: a group send's state is far larger than a 1:1 send's.
            return Box::pin(self.send_group(dest.text(), message, options, turn, own)).await;
        }
        if dest.is_newsletter() {
            return Box::pin(self.send_newsletter(dest.text(), message, options, turn, &own)).await;
        }
        if dest.is_broadcast() {
            return Err(ClientError::Argument(
                "broadcast lists other than status@broadcast are not supported".into(),
            ));
        }
        let dest = dest.normalized_user();
        let now = now_ms();
        let id = match options.id {
            Some(id) => id,
            None => nodes::message_id(Some(&own.pn.user), now / 1000),
        };
        let sender = own.device_for(&dest).clone();
        let own_user = match (&own.lid, dest.server == Server::Lid) {
            (Some(l), true) => l.normalized_user(),
            _ => own.pn.normalized_user(),
        };
        let devices = self.devices(&[own_user.text(), dest.text()]).await?;
        let recipients = plan::fan_out(&devices, &own, &sender)?;
        if recipients.is_empty() {
            return Err(ClientError::Protocol(format!("no devices for {dest}")));
        }
        let jids: Vec<String> = recipients.iter().map(|r| r.jid.clone()).collect();
        let chat = dest.text();
        // Each device's own padding, as before: our devices get the DeviceSentMessage.
        let encoded = message.encode_to_vec();
        let mut plaintexts = Vec::with_capacity(recipients.len());
        let mut targets = Vec::with_capacity(recipients.len());
        for (i, r) in recipients.iter().enumerate() {
            plaintexts.push(nodes::pad(plan::plaintext_of(
                r.mine, &chat, &encoded, &message,
            )));
            targets.push((r.jid.clone(), i));
        }
        let mut participants = Vec::with_capacity(recipients.len());
        let mut any_pkmsg = false;
        let media = kind::media_type(&message);
        for (jid, enc) in self.encrypt_for_devices(&targets, &plaintexts).await? {
            any_pkmsg |= enc.kind == MessageKind::PreKey;
            participants.push(
                Node::new("to")
                    .attr("jid", jid)
                    .children(vec![with_media_type(enc_node(&enc), media)]),
            );
        }
        let identity = if any_pkmsg {
            self.device_identity()
        } else {
            None
        };
        let mut stanza = plan::message_stanza(
            &id,
            &chat,
            kind::stanza_type(&message),
            participants,
            identity,
            nodes::phash(&jids),
        );
        for (k, v) in options.attrs {
            stanza = stanza.attr(k, v);
        }
        if let Content::Nodes(children) = &mut stanza.content {
            children.extend(options.nodes);
        }
        // Remembered before it goes out: a recipient's retry receipt can arrive before the
        // server's ack does.
        self.inner
            .retry
            .remember_sent(id.clone(), chat.clone(), encoded);
        let ack = self.enqueue_await_ack(stanza);
        // On the wire in order: the chat's next send may go.
        drop(turn);
        Self::ack(ack?).await?;
        let key = MessageKey {
            remote_jid: chat,
            from_me: true,
            id,
            ..MessageKey::default()
        };
        Ok(self.sent(key, message, now, no_own_event))
    }

    /// A post to a newsletter: the message's bytes as they are in a `<plaintext>` (channels
    /// are not end-to-end encrypted), one stanza to the channel, which the server numbers.
    async fn send_newsletter(
        &self,
        chat: String,
        message: wa_proto::Message,
        options: SendOptions,
        turn: Option<order::Turn>,
        own: &crate::ctx::Own,
    ) -> Result<WaMessage, ClientError> {
        let no_own_event = options.no_own_event;
        if options.status_jid_list.is_some() || options.group.is_some() {
            return Err(ClientError::Argument(
                "statusJidList and group metadata do not apply to newsletters".into(),
            ));
        }
        let now = now_ms();
        let id = match options.id {
            Some(id) => id,
            None => nodes::message_id(Some(&own.pn.user), now / 1000),
        };
        let mut stanza = Node::new("message")
            .attr("to", chat.clone())
            .attr("id", id.clone())
            .attr("type", kind::stanza_type(&message));
        for (k, v) in options.attrs {
            stanza = stanza.attr(k, v);
        }
        let mut content = vec![Node::new("plaintext").bytes(message.encode_to_vec())];
        content.extend(options.nodes);
        let ack = self.enqueue_await_ack(stanza.children(content));
        drop(turn);
        let ack = Self::ack(ack?).await?;
        let key = MessageKey {
            remote_jid: chat,
            from_me: true,
            id,
            server_id: ack.get_attr("server_id").map(str::to_owned),
            ..MessageKey::default()
        };
        Ok(self.sent(key, message, now, no_own_event))
    }

    /// The WAMessage of a message the server took, emitted to the app as our own when the
    /// config asks for it (Baileys' `emitOwnEvents`).
    pub(crate) fn sent(
        &self,
        key: MessageKey,
        message: wa_proto::Message,
        now: u64,
        no_own_event: bool,
    ) -> WaMessage {
        let msg = WaMessage {
            key,
            info: WebMessageInfo {
                message: Some(message),
                message_timestamp: Some(now / 1000),
                status: Some(Status::ServerAck as i32),
                ..WebMessageInfo::default()
            },
            category: None,
        };
        if self.config().emit_own_events && !no_own_event {
            self.emit(Event::MessagesUpsert(MessagesUpsert {
                messages: vec![msg.clone()],
                kind: UpsertType::Append,
            }));
        }
        msg
    }
}

/// What `relayMessage` adds to a send: Baileys' `messageId`, `additionalAttributes` and
/// `additionalNodes`.
#[derive(Debug, Clone, Default)]
pub struct SendOptions {
    /// The message id; one is made when absent.
    pub id: Option<String>,
    /// Attributes added to the `<message>` stanza (`edit`, `category`, ...).
    pub attrs: Vec<(String, String)>,
    /// Nodes appended to the stanza (`<meta polltype=creation>`, ...).
    pub nodes: Vec<Node>,
    /// A group's metadata from the app (Baileys' `cachedGroupMetadata`), used in place of the
    /// socket's own cache or a query.
    pub group: Option<std::sync::Arc<crate::groups::GroupMetadata>>,
    /// Baileys' `statusJidList`: who may see a status (`status@broadcast`).
    pub status_jid_list: Option<Vec<String>>,
    /// The caller emits the sent message as its own (`messages.upsert`) itself, from what the
    /// send resolves with: none from here even when the config asks for own events (the
    /// binding's text send: one JSON of the message for the promise and the event).
    pub no_own_event: bool,
}

/// Attributes the send itself owns: an extra one could only break the stanza.
const OWN_ATTRS: [&str; 4] = ["id", "to", "type", "phash"];

impl SendOptions {
    fn check(&self) -> Result<(), ClientError> {
        if let Some(id) = &self.id
            && (id.is_empty() || id.len() > 128 || !id.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(ClientError::Argument(format!(
                "messageId must be 1-128 visible ASCII characters, got {id:?}"
            )));
        }
        if let Some((k, _)) = self
            .attrs
            .iter()
            .find(|(k, _)| OWN_ATTRS.contains(&k.as_str()))
        {
            return Err(ClientError::Argument(format!(
                "additionalAttributes may not set {k:?}: the send sets it"
            )));
        }
        Ok(())
    }
}

fn with_media_type(enc: Node, media: Option<&'static str>) -> Node {
    match media {
        Some(m) => enc.attr("mediatype", m),
        None => enc,
    }
}

#[cfg(test)]
mod tests {
    use crate::ctx::Client;

    /// The size of what `f` returns, without calling it (no client is needed).
    fn returned_size<R>(_: &impl Fn(&'static Client) -> R) -> usize {
        std::mem::size_of::<R>()
    }

    #[test]
    fn a_send_is_handed_around_as_a_pointer() {
        // Unboxed, `send_text`'s future was 32,008 bytes, copied by each layer taking it over.
        let text = returned_size(&|c| c.send_text("1@s.whatsapp.net", "hi"));
        let message = returned_size(&|c| c.send_message("1@s.whatsapp.net", Default::default()));
        let relay = returned_size(&|c| {
            c.relay_message("1@s.whatsapp.net", Default::default(), Default::default())
        });
        let pointer = std::mem::size_of::<usize>();
        assert_eq!((text, message, relay), (pointer, pointer, pointer));
    }
}
