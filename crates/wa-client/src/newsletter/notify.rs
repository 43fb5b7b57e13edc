//! What the server tells us about newsletters: `<notification type=newsletter>` (reactions,
//! view counts, role changes, settings, posts) and the GraphQL `<notification type=mex>` some
//! of the same changes arrive as. Parsing is pure; [`Client::on_newsletter_notification`]
//! emits the events, and the posts as an upsert whose ack waits for the app, so a post the
//! server handed over is never dropped between the socket and the app.

use prost::Message as _;
use serde_json::{Map, Value};
use wa_binary::Node;
use wa_proto::WebMessageInfo;

use crate::ctx::Client;
use crate::error::ClientError;
use crate::event::{Event, MessageKey, MessagesUpsert, UpsertType, WaMessage};
use crate::nodes;

/// Baileys' four newsletter events, with its payloads' fields.
#[derive(Debug, Clone, PartialEq)]
pub enum NewsletterEvent {
    /// `newsletter.reaction`: someone reacted to post `server_id` (or took a reaction back).
    Reaction {
        id: String,
        server_id: String,
        code: Option<String>,
        count: u64,
        removed: bool,
    },
    /// `newsletter.view`: post `server_id` has been seen `count` times.
    View {
        id: String,
        server_id: String,
        count: u64,
    },
    /// `newsletter-participants.update`: `user`'s role changed.
    Participants {
        id: String,
        author: Option<String>,
        user: String,
        action: String,
        new_role: String,
    },
    /// `newsletter-settings.update`: name, description or other settings changed.
    Settings { id: String, update: SettingsUpdate },
}

/// What a settings change carries: Baileys passes it through as an object.
pub type SettingsUpdate = Map<String, Value>;

/// A `<notification type=newsletter>`: its events, and its posts as WAMessages.
pub fn parse_newsletter(node: &Node) -> (Vec<NewsletterEvent>, Vec<WaMessage>) {
    let Some(from) = node.get_attr("from").map(str::to_owned) else {
        return (Vec::new(), Vec::new());
    };
    let author = node.get_attr("participant").map(str::to_owned);
    let mut events = Vec::new();
    let mut posts = Vec::new();
    for child in node.child_nodes() {
        match child.tag.as_ref() {
            "reaction" => {
                let Some(server_id) = child.get_attr("message_id") else {
                    continue;
                };
                let code = child
                    .child("reaction")
                    .and_then(Node::content_string)
                    .map(|c| c.into_owned());
                events.push(NewsletterEvent::Reaction {
                    id: from.clone(),
                    server_id: server_id.to_owned(),
                    code,
                    count: 1,
                    removed: child.get_attr("removed") == Some("true"),
                });
            }
            "view" => {
                let Some(server_id) = child.get_attr("message_id") else {
                    continue;
                };
                let count = child
                    .content_string()
                    .and_then(|c| c.trim().parse().ok())
                    .unwrap_or(0);
                events.push(NewsletterEvent::View {
                    id: from.clone(),
                    server_id: server_id.to_owned(),
                    count,
                });
            }
            "participant" => {
                let (Some(user), Some(action)) = (child.get_attr("jid"), child.get_attr("action"))
                else {
                    continue;
                };
                events.push(NewsletterEvent::Participants {
                    id: from.clone(),
                    author: author.clone(),
                    user: user.to_owned(),
                    action: action.to_owned(),
                    new_role: child.get_attr("role").unwrap_or_default().to_owned(),
                });
            }
            "update" => {
                let Some(settings) = child.child("settings") else {
                    continue;
                };
                let mut update = Map::new();
                for field in ["name", "description"] {
                    if let Some(text) = settings.child(field).and_then(Node::content_string)
                        && !text.is_empty()
                    {
                        update.insert(field.into(), Value::String(text.into_owned()));
                    }
                }
                events.push(NewsletterEvent::Settings {
                    id: from.clone(),
                    update,
                });
            }
            "message" => {
                if let Some(post) = post_of(&from, child) {
                    posts.push(post);
                }
            }
            other => tracing::debug!(tag = other, "unknown newsletter notification child"),
        }
    }
    (events, posts)
}

/// A post inside a notification; `None` (logged) when its plaintext does not decode.
fn post_of(from: &str, child: &Node) -> Option<WaMessage> {
    let bytes = child.child("plaintext")?.content_bytes()?;
    let message = match wa_proto::Message::decode(bytes) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "newsletter post does not decode; ignored");
            return None;
        }
    };
    let server_id = child.get_attr("server_id").map(str::to_owned);
    let id = child
        .get_attr("message_id")
        .map(str::to_owned)
        .or_else(|| server_id.clone())?;
    Some(WaMessage {
        key: MessageKey {
            remote_jid: from.to_owned(),
            from_me: false,
            id,
            server_id,
            ..MessageKey::default()
        },
        info: WebMessageInfo {
            message: Some(message),
            message_timestamp: child.get_attr("t").and_then(|t| t.parse().ok()),
            ..WebMessageInfo::default()
        },
        category: None,
    })
}

/// A `<notification type=mex>`: the newsletter operations carried as GraphQL JSON, either in
/// a `<mex>` child or in an `<update op_name=…>`. Other operations (reach-out limits, message
/// capping) are not newsletters' and yield nothing here.
pub fn parse_mex(node: &Node) -> Vec<NewsletterEvent> {
    let payload = node
        .child("mex")
        .filter(|m| m.content_bytes().is_some())
        .or_else(|| node.child("update"))
        .or_else(|| node.child_nodes().first());
    let Some(payload) = payload else {
        return Vec::new();
    };
    let Some(data) = payload
        .content_bytes()
        .and_then(|b| serde_json::from_slice::<Value>(b).ok())
    else {
        tracing::debug!("mex notification without JSON; ignored");
        return Vec::new();
    };
    let operation = data
        .get("operation")
        .and_then(Value::as_str)
        .or(payload.get_attr("op_name"));
    let updates = data.get("updates").and_then(Value::as_array);
    let (Some(operation), Some(updates)) = (operation, updates) else {
        return Vec::new();
    };
    let author = node.get_attr("from").map(str::to_owned);
    let mut events = Vec::new();
    for u in updates {
        let Some(id) = u.get("jid").and_then(Value::as_str) else {
            continue;
        };
        match operation {
            "NotificationNewsletterUpdate" => {
                if let Some(settings) = u.get("settings").and_then(Value::as_object)
                    && !settings.is_empty()
                {
                    events.push(NewsletterEvent::Settings {
                        id: id.to_owned(),
                        update: settings.clone(),
                    });
                }
            }
            "NotificationNewsletterAdminPromote" => {
                if let Some(user) = u.get("user").and_then(Value::as_str) {
                    events.push(NewsletterEvent::Participants {
                        id: id.to_owned(),
                        author: author.clone(),
                        user: user.to_owned(),
                        action: "promote".into(),
                        new_role: "ADMIN".into(),
                    });
                }
            }
            other => tracing::debug!(operation = other, "mex newsletter operation not handled"),
        }
    }
    events
}

impl Client {
    /// Emits a newsletter notification's events; its posts go as one `append` upsert, and
    /// the notification is acked when the app has them. `Ok(true)` when the ack is taken care
    /// of that way.
    pub(crate) fn on_newsletter_notification(&self, node: &Node) -> Result<bool, ClientError> {
        let (events, posts) = parse_newsletter(node);
        for e in events {
            self.emit(Event::Newsletter(e));
        }
        if posts.is_empty() {
            return Ok(false);
        }
        let me = self.me().ok().map(|o| o.pn.to_string());
        let ack = nodes::ack(node, None, me.as_deref());
        self.emit_then(
            Event::MessagesUpsert(MessagesUpsert {
                messages: posts,
                kind: UpsertType::Append,
            }),
            vec![ack],
        );
        Ok(true)
    }

    pub(crate) fn on_mex_notification(&self, node: &Node) {
        for e in parse_mex(node) {
            self.emit(Event::Newsletter(e));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NL: &str = "120363001@newsletter";

    fn notification(children: Vec<Node>) -> Node {
        Node::new("notification")
            .attr("from", NL)
            .attr("type", "newsletter")
            .attr("id", "n1")
            .attr("participant", "111@s.whatsapp.net")
            .children(children)
    }

    #[test]
    fn reactions_views_roles_and_settings_become_baileys_events() {
        let n = notification(vec![
            Node::new("reaction")
                .attr("message_id", "101")
                .children(vec![Node::new("reaction").text("👍")]),
            Node::new("reaction")
                .attr("message_id", "101")
                .attr("removed", "true")
                .children(vec![Node::new("reaction").text("👍")]),
            Node::new("view").attr("message_id", "102").text("7"),
            Node::new("participant")
                .attr("jid", "222@s.whatsapp.net")
                .attr("action", "demote")
                .attr("role", "SUBSCRIBER"),
            Node::new("update").children(vec![Node::new("settings").children(vec![
                Node::new("name").text("New name"),
                Node::new("description").text(""),
            ])]),
            Node::new("surprise"),
            Node::new("view"),
        ]);
        let (events, posts) = parse_newsletter(&n);
        assert!(posts.is_empty());
        assert_eq!(events.len(), 5);
        assert_eq!(
            events[0],
            NewsletterEvent::Reaction {
                id: NL.into(),
                server_id: "101".into(),
                code: Some("👍".into()),
                count: 1,
                removed: false
            }
        );
        assert!(matches!(
            &events[1],
            NewsletterEvent::Reaction { removed: true, .. }
        ));
        assert_eq!(
            events[2],
            NewsletterEvent::View {
                id: NL.into(),
                server_id: "102".into(),
                count: 7
            }
        );
        assert_eq!(
            events[3],
            NewsletterEvent::Participants {
                id: NL.into(),
                author: Some("111@s.whatsapp.net".into()),
                user: "222@s.whatsapp.net".into(),
                action: "demote".into(),
                new_role: "SUBSCRIBER".into()
            }
        );
        let NewsletterEvent::Settings { update, .. } = &events[4] else {
            panic!("{:?}", events[4]);
        };
        assert_eq!(update.get("name"), Some(&Value::String("New name".into())));
        assert!(update.get("description").is_none());
    }

    #[test]
    fn posts_in_a_notification_become_messages_and_garbage_is_dropped() {
        let m = wa_proto::Message {
            conversation: Some("hello channel".into()),
            ..Default::default()
        };
        let n = notification(vec![
            Node::new("message")
                .attr("message_id", "ABC")
                .attr("server_id", "100")
                .attr("t", "1700000000")
                .children(vec![Node::new("plaintext").bytes(m.encode_to_vec())]),
            Node::new("message")
                .attr("server_id", "101")
                .children(vec![Node::new("plaintext").bytes(vec![0xff, 0xff, 0xff])]),
            Node::new("message").attr("server_id", "102"),
        ]);
        let (events, posts) = parse_newsletter(&n);
        assert!(events.is_empty());
        assert_eq!(posts.len(), 1);
        assert_eq!(posts[0].key.remote_jid, NL);
        assert_eq!(posts[0].key.id, "ABC");
        assert_eq!(posts[0].key.server_id.as_deref(), Some("100"));
        assert_eq!(posts[0].info.message_timestamp, Some(1_700_000_000));
        assert_eq!(
            posts[0]
                .info
                .message
                .as_ref()
                .unwrap()
                .conversation
                .as_deref(),
            Some("hello channel")
        );
    }

    #[test]
    fn mex_notifications_carry_settings_and_promotions() {
        let body = serde_json::json!({
            "operation": "NotificationNewsletterUpdate",
            "updates": [
                { "jid": NL, "settings": { "reaction_codes": { "value": "BASIC" } } },
                { "jid": NL, "settings": {} },
                { "settings": { "x": 1 } }
            ]
        });
        let n = Node::new("notification")
            .attr("from", "s.whatsapp.net")
            .attr("type", "mex")
            .children(vec![Node::new("mex").bytes(body.to_string().into_bytes())]);
        let events = parse_mex(&n);
        assert_eq!(events.len(), 1);
        assert!(
            matches!(&events[0], NewsletterEvent::Settings { id, update }
            if id == NL && update.contains_key("reaction_codes"))
        );

        let body = serde_json::json!({ "updates": [{ "jid": NL, "user": "5@lid" }] });
        let n = Node::new("notification")
            .attr("from", "s.whatsapp.net")
            .attr("type", "mex")
            .children(vec![
                Node::new("update")
                    .attr("op_name", "NotificationNewsletterAdminPromote")
                    .bytes(body.to_string().into_bytes()),
            ]);
        let events = parse_mex(&n);
        assert!(
            matches!(&events[0], NewsletterEvent::Participants { action, new_role, .. }
            if action == "promote" && new_role == "ADMIN")
        );

        for garbage in [
            Node::new("notification").attr("type", "mex"),
            Node::new("notification").children(vec![Node::new("mex").bytes(b"{".to_vec())]),
            Node::new("notification")
                .children(vec![Node::new("mex").bytes(b"{\"operation\":1}".to_vec())]),
        ] {
            assert!(parse_mex(&garbage).is_empty());
        }
    }
}
