//! Presence, chat states and the receipts we send, both directions.
//!
//! Out: `<presence type=available|unavailable name>` (our push name, as Baileys'
//! `sendPresenceUpdate`), `<chatstate from to><composing/>` (`composing media=audio` for
//! recording, `paused`), `<presence type=subscribe to id>` (`presenceSubscribe`), and
//! `<receipt>`s for other people's messages (`sendReceipt(s)`, `readMessages`: `read` or
//! `read-self` as the account's `readreceipts` privacy setting says). In: `<presence>` and
//! `<chatstate>` stanzas become [`Event::Presence`] (Baileys' `presence.update`).
//!
//! The stanzas are built and read by pure functions tested below; `impl Client` only runs them.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use wa_binary::{Jid, Node};

use crate::ctx::{Client, SendWait, lock, now_ms};
use crate::error::ClientError;
use crate::event::{ConnectionUpdate, Event, MessageKey};
use crate::nodes;

/// What `sendPresenceUpdate` can say (Baileys' `WAPresence`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutgoingPresence {
    Available,
    Unavailable,
    Composing,
    Recording,
    Paused,
}

impl OutgoingPresence {
    /// Baileys' name; an unknown name is an argument error.
    pub fn parse(s: &str) -> Result<Self, ClientError> {
        Ok(match s {
            "available" => Self::Available,
            "unavailable" => Self::Unavailable,
            "composing" => Self::Composing,
            "recording" => Self::Recording,
            "paused" => Self::Paused,
            other => {
                return Err(ClientError::Argument(format!(
                    "presence type must be available, unavailable, composing, recording or paused (got {other:?})"
                )));
            }
        })
    }

    /// Whether this is an availability (`<presence>`) rather than a chat state.
    pub fn is_availability(self) -> bool {
        matches!(self, Self::Available | Self::Unavailable)
    }
}

/// A contact's last known presence as Baileys reports it (`lastKnownPresence`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresenceState {
    Available,
    Unavailable,
    Composing,
    Recording,
    /// A chat state this client does not know, passed on by its tag (as Baileys does).
    Other(String),
}

impl PresenceState {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Available => "available",
            Self::Unavailable => "unavailable",
            Self::Composing => "composing",
            Self::Recording => "recording",
            Self::Other(s) => s,
        }
    }
}

/// Baileys' `PresenceData`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presence {
    pub last_known: PresenceState,
    /// Seconds since the Unix epoch (`<presence last>`; absent or `deny`: unknown).
    pub last_seen: Option<u64>,
    /// Members online in a group (`<presence count>`).
    pub group_online_count: Option<u64>,
}

/// Baileys' `presence.update`: in chat `id`, `participant` is now `presence`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceUpdate {
    pub id: String,
    pub participant: String,
    pub presence: Presence,
}

/// Receipt types Baileys' `sendReceipt` takes (`MessageReceiptType`); `None` is a delivery
/// receipt.
pub const RECEIPT_TYPES: [&str; 7] = [
    "read",
    "read-self",
    "hist_sync",
    "peer_msg",
    "sender",
    "inactive",
    "played",
];

/// `<presence type name>`: our availability, with our push name (`@` removed, as Baileys does).
pub fn availability_node(available: bool, name: &str) -> Node {
    Node::new("presence")
        .attr("name", name.replace('@', ""))
        .attr(
            "type",
            if available {
                "available"
            } else {
                "unavailable"
            },
        )
}

/// `<chatstate from to>` with `<composing/>`, `<composing media=audio/>` or `<paused/>`;
/// `from` is our LID in LID chats, our PN device otherwise.
pub fn chatstate_node(kind: OutgoingPresence, from: &str, to: &str) -> Result<Node, ClientError> {
    let child = match kind {
        OutgoingPresence::Composing => Node::new("composing"),
        OutgoingPresence::Recording => Node::new("composing").attr("media", "audio"),
        OutgoingPresence::Paused => Node::new("paused"),
        _ => {
            return Err(ClientError::Argument(
                "available/unavailable are not chat states".into(),
            ));
        }
    };
    Ok(Node::new("chatstate")
        .attr("from", from.to_owned())
        .attr("to", to.to_owned())
        .children(vec![child]))
}

/// `<presence type=subscribe to id>`, with the contact's privacy token when we have one.
pub fn subscribe_node(to: &str, id: &str, tc_token: Option<&[u8]>) -> Node {
    let n = Node::new("presence")
        .attr("to", to.to_owned())
        .attr("id", id.to_owned())
        .attr("type", "subscribe");
    match tc_token {
        Some(t) => n.children(vec![Node::new("tctoken").bytes(t.to_vec())]),
        None => n,
    }
}

/// Baileys' `sendReceipt` stanza: the first id in `id`, the rest in `<list><item id>`; `t`
/// on read receipts; `sender` receipts to a user name the `recipient` and go `to` the
/// participant.
pub fn receipt_node(
    jid: &str,
    participant: Option<&str>,
    ids: &[String],
    ty: Option<&str>,
    now_secs: u64,
) -> Result<Node, ClientError> {
    let Some((first, rest)) = ids.split_first() else {
        return Err(ClientError::Argument("missing ids in receipt".into()));
    };
    if let Some(t) = ty
        && !RECEIPT_TYPES.contains(&t)
    {
        return Err(ClientError::Argument(format!(
            "receipt type must be one of {RECEIPT_TYPES:?} or undefined (got {t:?})"
        )));
    }
    let parsed =
        Jid::parse(jid).map_err(|e| ClientError::Argument(format!("receipt jid {jid:?}: {e}")))?;
    let mut n = Node::new("receipt").attr("id", first.clone());
    if matches!(ty, Some("read" | "read-self")) {
        n = n.attr("t", now_secs.to_string());
    }
    if ty == Some("sender") && (parsed.is_pn() || parsed.is_lid()) {
        n = n.attr("recipient", jid.to_owned());
        if let Some(p) = participant {
            n = n.attr("to", p.to_owned());
        }
    } else {
        n = n.attr("to", jid.to_owned());
        if let Some(p) = participant {
            n = n.attr("participant", p.to_owned());
        }
    }
    if let Some(t) = ty {
        n = n.attr("type", t.to_owned());
    }
    if !rest.is_empty() {
        n = n.children(vec![
            Node::new("list").children(
                rest.iter()
                    .map(|id| Node::new("item").attr("id", id.clone()))
                    .collect(),
            ),
        ]);
    }
    Ok(n)
}

/// One receipt's worth of keys: a chat, a participant, the ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptGroup {
    pub jid: String,
    pub participant: Option<String>,
    pub ids: Vec<String>,
}

/// Baileys' `aggregateMessageKeysNotFromMe`: keys of others' messages grouped by chat and
/// participant, in first-seen order; our own messages are skipped.
pub fn aggregate_keys(keys: &[MessageKey]) -> Vec<ReceiptGroup> {
    let mut out: Vec<ReceiptGroup> = Vec::new();
    for k in keys.iter().filter(|k| !k.from_me) {
        match out
            .iter_mut()
            .find(|g| g.jid == k.remote_jid && g.participant == k.participant)
        {
            Some(g) => g.ids.push(k.id.clone()),
            None => out.push(ReceiptGroup {
                jid: k.remote_jid.clone(),
                participant: k.participant.clone(),
                ids: vec![k.id.clone()],
            }),
        }
    }
    out
}

/// Baileys' `handlePresenceUpdate`: what an incoming `<presence>` or `<chatstate>` says, or
/// `None` when it says nothing usable (no sender, a chat state without a state).
pub fn parse_presence(node: &Node) -> Option<PresenceUpdate> {
    let id = node.get_attr("from")?.to_owned();
    let participant = node
        .get_attr("participant")
        .filter(|p| !p.is_empty())
        .map_or_else(|| id.clone(), str::to_owned);
    let presence = match node.tag.as_ref() {
        "presence" => Presence {
            last_known: if node.get_attr("type") == Some("unavailable") {
                PresenceState::Unavailable
            } else {
                PresenceState::Available
            },
            last_seen: node
                .get_attr("last")
                .filter(|l| *l != "deny")
                .and_then(|l| l.parse().ok()),
            group_online_count: node.get_attr("count").and_then(|c| c.parse().ok()),
        },
        "chatstate" => {
            let first = node.child_nodes().first()?;
            let last_known = if first.get_attr("media") == Some("audio") {
                PresenceState::Recording
            } else {
                match first.tag.as_ref() {
                    "paused" => PresenceState::Available,
                    "composing" => PresenceState::Composing,
                    other => PresenceState::Other(other.to_owned()),
                }
            };
            Presence {
                last_known,
                last_seen: None,
                group_online_count: None,
            }
        }
        _ => return None,
    };
    Some(PresenceUpdate {
        id,
        participant,
        presence,
    })
}

/// The `readreceipts` value of a `<privacy>` answer (`all`, `none`, ...).
pub fn privacy_settings(answer: &Node) -> HashMap<String, String> {
    answer
        .child("privacy")
        .map(|p| {
            p.children_by_tag("category")
                .filter_map(|c| {
                    Some((
                        c.get_attr("name")?.to_owned(),
                        c.get_attr("value")?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Per-connection memory of this feature: the privacy settings, fetched once (as Baileys'
/// `fetchPrivacySettings` caches them).
#[derive(Default)]
pub struct Memory {
    privacy: Mutex<Option<HashMap<String, String>>>,
}

/// The outcome of nodes already handed to the driver (or of refusing them).
async fn written(sends: Result<Vec<SendWait>, ClientError>) -> Result<(), ClientError> {
    for rx in sends? {
        rx.await.unwrap_or_else(|_| Err(ClientError::closed()))?;
    }
    Ok(())
}

impl Client {
    /// Checks `nodes` were built and hands them all to the driver, now and in order.
    fn enqueue_all(
        &self,
        nodes: Result<Vec<Node>, ClientError>,
    ) -> impl Future<Output = Result<(), ClientError>> + Send + use<> {
        let sends = nodes.and_then(|ns| {
            ns.into_iter()
                .map(|n| self.enqueue_send(n))
                .collect::<Result<Vec<_>, _>>()
        });
        written(sends)
    }

    /// Baileys' `sendPresenceUpdate(type, toJid)`. Availability goes out with our push name
    /// (`name`, or `creds.me.name`); without one nothing is sent, as in Baileys (a warning is
    /// logged). Chat states need the chat's JID. The stanza takes its place in the send order
    /// during this call; the future tells when it was written.
    pub fn send_presence_update(
        &self,
        kind: OutgoingPresence,
        to: Option<&str>,
        name: Option<&str>,
    ) -> impl Future<Output = Result<(), ClientError>> + Send + use<> {
        self.enqueue_all(self.presence_nodes(kind, to, name))
    }

    fn presence_nodes(
        &self,
        kind: OutgoingPresence,
        to: Option<&str>,
        name: Option<&str>,
    ) -> Result<Vec<Node>, ClientError> {
        if kind.is_availability() {
            let name = match name {
                Some(n) => Some(n.to_owned()),
                None => lock(&self.inner.creds)
                    .me
                    .as_ref()
                    .and_then(|m| m.name.clone()),
            };
            let Some(name) = name.filter(|n| !n.is_empty()) else {
                tracing::warn!("no name present, ignoring presence update request...");
                return Ok(Vec::new());
            };
            let available = kind == OutgoingPresence::Available;
            self.emit(Event::Connection(ConnectionUpdate {
                is_online: Some(available),
                ..ConnectionUpdate::default()
            }));
            return Ok(vec![availability_node(available, &name)]);
        }
        let to =
            to.ok_or_else(|| ClientError::Argument("a chat state needs the chat's jid".into()))?;
        let chat = Jid::parse(to)
            .map_err(|e| ClientError::Argument(format!("presence jid {to:?}: {e}")))?;
        let own = self.me()?;
        let from = own.device_for(&chat).to_string();
        Ok(vec![chatstate_node(kind, &from, to)?])
    }

    /// Baileys' `presenceSubscribe(toJid)`: the server then tells us `to`'s availability, now
    /// and as it changes. `tc_token`: the contact's privacy token, sent as `<tctoken>`.
    pub fn presence_subscribe(
        &self,
        to: &str,
        tc_token: Option<&[u8]>,
    ) -> impl Future<Output = Result<(), ClientError>> + Send + use<> {
        let node = Jid::parse(to)
            .map_err(|e| ClientError::Argument(format!("presence jid {to:?}: {e}")))
            .map(|_| {
                let me = self.me().ok().map(|o| o.pn.user.clone());
                let id = nodes::message_id(me.as_deref(), now_ms() / 1000);
                vec![subscribe_node(to, &id, tc_token)]
            });
        self.enqueue_all(node)
    }

    /// Baileys' `sendReceipt(jid, participant, messageIds, type)`.
    pub fn send_receipt(
        &self,
        jid: &str,
        participant: Option<&str>,
        ids: &[String],
        ty: Option<&str>,
    ) -> impl Future<Output = Result<(), ClientError>> + Send + use<> {
        let node = receipt_node(jid, participant, ids, ty, now_ms() / 1000).map(|n| vec![n]);
        self.enqueue_all(node)
    }

    /// Baileys' `sendReceipts(keys, type)`: one receipt per chat and participant, for the keys
    /// of others' messages. Every receipt is checked before the first goes out: nothing is
    /// half-sent.
    pub fn send_receipts(
        &self,
        keys: &[MessageKey],
        ty: Option<&str>,
    ) -> impl Future<Output = Result<(), ClientError>> + Send + use<> {
        let now = now_ms() / 1000;
        let nodes = aggregate_keys(keys)
            .iter()
            .map(|g| receipt_node(&g.jid, g.participant.as_deref(), &g.ids, ty, now))
            .collect::<Result<Vec<_>, _>>();
        self.enqueue_all(nodes)
    }

    /// Baileys' `readMessages(keys)`: `read` receipts, or `read-self` when the account's
    /// `readreceipts` privacy setting is not `all`.
    pub async fn read_messages(&self, keys: &[MessageKey]) -> Result<(), ClientError> {
        let ty = if self.privacy_setting("readreceipts").await?.as_deref() == Some("all") {
            "read"
        } else {
            "read-self"
        };
        self.send_receipts(keys, Some(ty)).await
    }

    /// One of the account's privacy settings (fetched once per connection).
    pub async fn privacy_setting(&self, name: &str) -> Result<Option<String>, ClientError> {
        let cache = &self.inner.presence.privacy;
        let cached = cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|m| m.get(name).cloned());
        if let Some(v) = cached {
            return Ok(v);
        }
        let answer = self
            .query(
                nodes::iq("privacy", "get", vec![Node::new("privacy")]),
                None,
            )
            .await?;
        let settings = privacy_settings(&answer);
        let v = settings.get(name).cloned();
        *cache.lock().unwrap_or_else(PoisonError::into_inner) = Some(settings);
        Ok(v)
    }

    /// After `connection: open`: Baileys' `markOnlineOnConnect` (available, else unavailable;
    /// either only with a push name).
    pub(crate) async fn presence_on_open(&self) {
        let kind = if self.config().mark_online_on_connect {
            OutgoingPresence::Available
        } else {
            OutgoingPresence::Unavailable
        };
        if let Err(e) = self.send_presence_update(kind, None, None).await {
            tracing::debug!(code = e.code(), "presence update on open failed");
        }
    }

    /// An incoming `<presence>` or `<chatstate>` (no ack: the server expects none).
    pub(crate) fn on_presence(&self, node: &Node) {
        match parse_presence(node) {
            Some(u) => self.emit(Event::Presence(u)),
            None => tracing::debug!(tag = %node.tag, "recv invalid presence node"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn availability_carries_the_push_name_without_at_signs() {
        let n = availability_node(true, "Ann@Home");
        assert_eq!(n.tag, "presence");
        assert_eq!(n.get_attr("type"), Some("available"));
        assert_eq!(n.get_attr("name"), Some("AnnHome"));
        assert_eq!(
            availability_node(false, "B").get_attr("type"),
            Some("unavailable")
        );
    }

    #[test]
    fn chat_states_as_baileys_sends_them() {
        let c = chatstate_node(
            OutgoingPresence::Composing,
            "1:2@s.whatsapp.net",
            "9@s.whatsapp.net",
        )
        .unwrap();
        assert_eq!(c.tag, "chatstate");
        assert_eq!(c.get_attr("from"), Some("1:2@s.whatsapp.net"));
        assert_eq!(c.get_attr("to"), Some("9@s.whatsapp.net"));
        assert_eq!(c.child_nodes()[0].tag, "composing");
        assert_eq!(c.child_nodes()[0].get_attr("media"), None);
        let r = chatstate_node(OutgoingPresence::Recording, "a", "b").unwrap();
        assert_eq!(r.child_nodes()[0].tag, "composing");
        assert_eq!(r.child_nodes()[0].get_attr("media"), Some("audio"));
        let p = chatstate_node(OutgoingPresence::Paused, "a", "b").unwrap();
        assert_eq!(p.child_nodes()[0].tag, "paused");
        assert!(chatstate_node(OutgoingPresence::Available, "a", "b").is_err());
    }

    #[test]
    fn presence_types_parse_and_refuse_unknown_ones() {
        assert_eq!(
            OutgoingPresence::parse("recording").unwrap(),
            OutgoingPresence::Recording
        );
        let e = OutgoingPresence::parse("typing").unwrap_err();
        assert_eq!(e.code(), crate::error::code::ARGUMENT);
    }

    #[test]
    fn subscriptions_carry_the_token_when_given() {
        let s = subscribe_node("9@s.whatsapp.net", "X1", None);
        assert_eq!(s.get_attr("type"), Some("subscribe"));
        assert_eq!(s.get_attr("to"), Some("9@s.whatsapp.net"));
        assert_eq!(s.get_attr("id"), Some("X1"));
        assert!(s.child_nodes().is_empty());
        let t = subscribe_node("9@s.whatsapp.net", "X2", Some(&[1, 2, 3]));
        assert_eq!(
            t.child("tctoken").unwrap().content_bytes(),
            Some(&[1u8, 2, 3][..])
        );
    }

    #[test]
    fn receipts_list_the_other_ids_and_stamp_reads() {
        let r = receipt_node(
            "9@s.whatsapp.net",
            None,
            &ids(&["A", "B", "C"]),
            Some("read"),
            77,
        )
        .unwrap();
        assert_eq!(r.get_attr("id"), Some("A"));
        assert_eq!(r.get_attr("to"), Some("9@s.whatsapp.net"));
        assert_eq!(r.get_attr("type"), Some("read"));
        assert_eq!(r.get_attr("t"), Some("77"));
        assert_eq!(r.get_attr("participant"), None);
        let items: Vec<_> = r
            .child("list")
            .unwrap()
            .children_by_tag("item")
            .map(|i| i.get_attr("id").unwrap().to_owned())
            .collect();
        assert_eq!(items, ids(&["B", "C"]));
        // A delivery receipt: no type, no t, no list for one id.
        let d = receipt_node("1-2@g.us", Some("9@s.whatsapp.net"), &ids(&["A"]), None, 77).unwrap();
        assert_eq!(d.get_attr("type"), None);
        assert_eq!(d.get_attr("t"), None);
        assert_eq!(d.get_attr("participant"), Some("9@s.whatsapp.net"));
        assert!(d.child("list").is_none());
        // `sender` to a user: recipient + to the participant.
        let s = receipt_node(
            "9@s.whatsapp.net",
            Some("1:3@s.whatsapp.net"),
            &ids(&["A"]),
            Some("sender"),
            1,
        )
        .unwrap();
        assert_eq!(s.get_attr("recipient"), Some("9@s.whatsapp.net"));
        assert_eq!(s.get_attr("to"), Some("1:3@s.whatsapp.net"));
        assert_eq!(s.get_attr("t"), None);
    }

    #[test]
    fn bad_receipts_are_argument_errors() {
        let code = |r: Result<Node, ClientError>| r.unwrap_err().code();
        assert_eq!(
            code(receipt_node("9@s.whatsapp.net", None, &[], None, 1)),
            crate::error::code::ARGUMENT
        );
        assert_eq!(
            code(receipt_node(
                "9@s.whatsapp.net",
                None,
                &ids(&["A"]),
                Some("seen"),
                1
            )),
            crate::error::code::ARGUMENT
        );
        assert_eq!(
            code(receipt_node("", None, &ids(&["A"]), None, 1)),
            crate::error::code::ARGUMENT
        );
    }

    #[test]
    fn keys_group_by_chat_and_participant_skipping_ours() {
        let k = |chat: &str, p: Option<&str>, id: &str, from_me: bool| MessageKey {
            remote_jid: chat.into(),
            participant: p.map(str::to_owned),
            id: id.into(),
            from_me,
            ..MessageKey::default()
        };
        let g = aggregate_keys(&[
            k("a@s.whatsapp.net", None, "1", false),
            k("g@g.us", Some("x@s.whatsapp.net"), "2", false),
            k("a@s.whatsapp.net", None, "3", false),
            k("a@s.whatsapp.net", None, "4", true),
            k("g@g.us", Some("y@s.whatsapp.net"), "5", false),
        ]);
        assert_eq!(g.len(), 3);
        assert_eq!(g[0].ids, ids(&["1", "3"]));
        assert_eq!(g[1].participant.as_deref(), Some("x@s.whatsapp.net"));
        assert_eq!(g[2].ids, ids(&["5"]));
    }

    #[test]
    fn incoming_presence_and_chat_states_read_as_baileys_reads_them() {
        let p = parse_presence(
            &Node::new("presence")
                .attr("from", "9@s.whatsapp.net")
                .attr("type", "unavailable")
                .attr("last", "1700000000"),
        )
        .unwrap();
        assert_eq!(p.id, "9@s.whatsapp.net");
        assert_eq!(p.participant, "9@s.whatsapp.net");
        assert_eq!(p.presence.last_known, PresenceState::Unavailable);
        assert_eq!(p.presence.last_seen, Some(1_700_000_000));
        let deny = parse_presence(
            &Node::new("presence")
                .attr("from", "9@s.whatsapp.net")
                .attr("last", "deny"),
        )
        .unwrap();
        assert_eq!(deny.presence.last_known, PresenceState::Available);
        assert_eq!(deny.presence.last_seen, None);
        let chat = |child: Node| {
            parse_presence(
                &Node::new("chatstate")
                    .attr("from", "g@g.us")
                    .attr("participant", "9@s.whatsapp.net")
                    .children(vec![child]),
            )
            .unwrap()
        };
        let c = chat(Node::new("composing"));
        assert_eq!(c.id, "g@g.us");
        assert_eq!(c.participant, "9@s.whatsapp.net");
        assert_eq!(c.presence.last_known, PresenceState::Composing);
        assert_eq!(
            chat(Node::new("composing").attr("media", "audio"))
                .presence
                .last_known,
            PresenceState::Recording
        );
        assert_eq!(
            chat(Node::new("paused")).presence.last_known,
            PresenceState::Available
        );
        assert_eq!(
            chat(Node::new("dancing")).presence.last_known.as_str(),
            "dancing"
        );
        // Nothing usable: no sender, no state.
        assert!(parse_presence(&Node::new("presence").attr("type", "available")).is_none());
        assert!(parse_presence(&Node::new("chatstate").attr("from", "9@s.whatsapp.net")).is_none());
    }

    #[test]
    fn privacy_answers_read_into_a_map() {
        let a = Node::new("iq").children(vec![Node::new("privacy").children(vec![
            Node::new("category").attr("name", "readreceipts").attr("value", "none"),
            Node::new("category").attr("name", "last").attr("value", "all"),
        ])]);
        let m = privacy_settings(&a);
        assert_eq!(m.get("readreceipts").map(String::as_str), Some("none"));
        assert_eq!(m.len(), 2);
        assert!(privacy_settings(&Node::new("iq")).is_empty());
    }
}
