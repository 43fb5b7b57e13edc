//! Newsletters (WhatsApp channels), both directions: the GraphQL (`w:mex`) queries of Baileys'
//! `newsletter.js`, the two plain `newsletter` IQs (message history, live updates), reactions
//! to a post, and the `newsletter` / `mex` notifications that become Baileys' four newsletter
//! events and the posts' upserts ([`notify`]). Posts themselves are plaintext: sending one is
//! `send` (no Signal), receiving one is `recv` (a `<plaintext>` child).
//!
//! The GraphQL answers are WhatsApp's JSON, passed on as Baileys passes them on: the binding
//! gives the app the same objects Baileys' methods resolve with.

mod notify;

use serde_json::{Map, Value, json};
use wa_binary::{Jid, Node};

pub use notify::{NewsletterEvent, SettingsUpdate};

use crate::ctx::Client;
use crate::error::ClientError;
use crate::nodes;

/// The GraphQL operations of the newsletter surface: WhatsApp's persisted query ids and the
/// field of `data` each answers in (Baileys' `QueryIds` and `XWAPaths`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MexQuery {
    Create,
    UpdateMetadata,
    Metadata,
    Subscribers,
    Follow,
    Unfollow,
    Mute,
    Unmute,
    AdminCount,
    ChangeOwner,
    Demote,
    Delete,
}

impl MexQuery {
    pub fn id(self) -> &'static str {
        match self {
            Self::Create => "8823471724422422",
            Self::UpdateMetadata => "24250201037901610",
            Self::Metadata => "6563316087068696",
            Self::Subscribers => "9783111038412085",
            Self::Follow => "24404358912487870",
            Self::Unfollow => "9767147403369991",
            Self::Mute => "29766401636284406",
            Self::Unmute => "9864994326891137",
            Self::AdminCount => "7130823597031706",
            Self::ChangeOwner => "7341777602580933",
            Self::Demote => "6551828931592903",
            Self::Delete => "30062808666639665",
        }
    }

    pub fn data_path(self) -> &'static str {
        match self {
            Self::Create => "xwa2_newsletter_create",
            Self::UpdateMetadata => "xwa2_newsletter_update",
            Self::Metadata => "xwa2_newsletter",
            Self::Subscribers => "xwa2_newsletter_subscribers",
            Self::Follow => "xwa2_newsletter_join_v2",
            Self::Unfollow => "xwa2_newsletter_leave_v2",
            Self::Mute => "xwa2_newsletter_mute_v2",
            Self::Unmute => "xwa2_newsletter_unmute_v2",
            Self::AdminCount => "xwa2_newsletter_admin",
            Self::ChangeOwner => "xwa2_newsletter_change_owner",
            Self::Demote => "xwa2_newsletter_demote",
            Self::Delete => "xwa2_newsletter_delete_v2",
        }
    }
}

/// How `newsletterMetadata` finds a newsletter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewsletterKey {
    Jid,
    Invite,
}

impl NewsletterKey {
    pub fn parse(s: &str) -> Result<Self, ClientError> {
        match s {
            "jid" | "JID" => Ok(Self::Jid),
            "invite" | "INVITE" => Ok(Self::Invite),
            _ => Err(ClientError::Argument(format!(
                "newsletterMetadata type must be \"jid\" or \"invite\", got {s:?}"
            ))),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Jid => "JID",
            Self::Invite => "INVITE",
        }
    }
}

/// The `newsletter_id` of a method: a `@newsletter` JID, refused before anything is sent.
fn newsletter_jid(jid: &str) -> Result<String, ClientError> {
    match Jid::parse(jid) {
        Ok(j) if j.is_newsletter() && !j.user.is_empty() => Ok(j.to_string()),
        _ => Err(ClientError::Argument(format!(
            "{jid:?} is not a newsletter JID (…@newsletter)"
        ))),
    }
}

fn user_jid(jid: &str) -> Result<String, ClientError> {
    match Jid::parse(jid) {
        Ok(j) if !j.user.is_empty() && !j.is_group() && !j.is_newsletter() => {
            Ok(j.normalized_user().to_string())
        }
        _ => Err(ClientError::Argument(format!("{jid:?} is not a user JID"))),
    }
}

/// The `data` an answer's `<result>` carries at `path`, or the GraphQL errors it carries as a
/// server error (the first error's `error_code`, 400 without one, as Baileys reports them).
pub fn mex_result(answer: &Node, path: &str) -> Result<Value, ClientError> {
    let Some(bytes) = answer.child("result").and_then(Node::content_bytes) else {
        return Err(unexpected(path));
    };
    let data: Value = serde_json::from_slice(bytes)
        .map_err(|e| ClientError::Protocol(format!("GraphQL answer is not JSON: {e}")))?;
    if let Some(errors) = data.get("errors").and_then(Value::as_array)
        && !errors.is_empty()
    {
        let text = errors
            .iter()
            .map(|e| {
                e.get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("Unknown error")
            })
            .collect::<Vec<_>>()
            .join(", ");
        let code = errors[0]
            .pointer("/extensions/error_code")
            .and_then(|c| {
                c.as_u64()
                    .or_else(|| c.as_str().and_then(|s| s.parse().ok()))
            })
            .and_then(|c| u16::try_from(c).ok())
            .unwrap_or(400);
        return Err(ClientError::Server {
            code,
            text: format!("GraphQL server error: {text}"),
        });
    }
    match data.get("data").and_then(|d| d.get(path)) {
        Some(v) => Ok(v.clone()),
        None => Err(unexpected(path)),
    }
}

fn unexpected(path: &str) -> ClientError {
    let action = path.strip_prefix("xwa2_").unwrap_or(path).replace('_', " ");
    ClientError::Protocol(format!(
        "Failed to {action}, unexpected response structure."
    ))
}

/// Baileys' `parseNewsletterMetadata`: the newsletter object, found at the top or under
/// `result`; `None` when the answer holds neither.
pub fn metadata_of(v: Value) -> Option<Value> {
    match v {
        Value::Object(ref o) if o.get("id").is_some_and(Value::is_string) => Some(v),
        Value::Object(mut o) => match o.remove("result") {
            Some(r) if r.get("id").is_some() => Some(r),
            _ => None,
        },
        _ => None,
    }
}

/// Baileys' `parseNewsletterCreateResponse`: the creation answer in `NewsletterMetadata`'s
/// flat shape. Missing parts of the answer are left out rather than thrown on.
pub fn created_json(v: &Value) -> Value {
    let thread = &v["thread_metadata"];
    let num = |x: &Value| {
        x.as_str()
            .and_then(|s| s.parse::<i64>().ok())
            .or_else(|| x.as_i64())
    };
    let mut o = json!({
        "id": v["id"],
        "name": thread["name"]["text"],
        "creation_time": num(&thread["creation_time"]),
        "description": thread["description"]["text"],
        "invite": thread["invite"],
        "subscribers": num(&thread["subscribers_count"]),
        "verification": thread["verification"],
        "mute_state": v["viewer_metadata"]["mute"],
    });
    if let Some(p) = thread.get("picture").filter(|p| p.is_object()) {
        o["picture"] = json!({ "id": p["id"], "directPath": p["direct_path"] });
    }
    // `null` values become `undefined` in JS, as Baileys' missing fields are.
    if let Value::Object(m) = &mut o {
        m.retain(|_, v| !v.is_null());
    }
    o
}

impl Client {
    /// One GraphQL query: `variables` sent under query id `q`, the answer's `data[path]`.
    pub async fn mex(&self, q: MexQuery, variables: Value) -> Result<Value, ClientError> {
        let body = serde_json::to_vec(&json!({ "variables": variables }))
            .map_err(|e| ClientError::Argument(format!("variables: {e}")))?;
        let iq = nodes::iq(
            "w:mex",
            "get",
            vec![Node::new("query").attr("query_id", q.id()).bytes(body)],
        );
        let answer = self.query(iq, None).await?;
        mex_result(&answer, q.data_path())
    }

    /// Baileys' `newsletterCreate(name, description)`: the raw creation answer (the binding
    /// gives Baileys' parsed shape).
    pub async fn newsletter_create(
        &self,
        name: &str,
        description: Option<&str>,
    ) -> Result<Value, ClientError> {
        if name.trim().is_empty() {
            return Err(ClientError::Argument(
                "a newsletter needs a non-empty name".into(),
            ));
        }
        self.mex(
            MexQuery::Create,
            json!({ "input": { "name": name, "description": description } }),
        )
        .await
    }

    /// Baileys' `newsletterUpdate(jid, updates)`: `name`, `description` and/or `picture`
    /// (base64 JPEG, or empty to remove it).
    pub async fn newsletter_update(
        &self,
        jid: &str,
        updates: Map<String, Value>,
    ) -> Result<Value, ClientError> {
        let jid = newsletter_jid(jid)?;
        for (k, v) in &updates {
            match k.as_str() {
                "name" | "description" | "picture" if v.is_string() => {}
                "settings" if v.is_null() => {}
                _ => {
                    return Err(ClientError::Argument(format!(
                        "newsletter update {k:?} must be a string (name, description or picture)"
                    )));
                }
            }
        }
        let mut updates = updates;
        updates.insert("settings".into(), Value::Null);
        self.mex(
            MexQuery::UpdateMetadata,
            json!({ "newsletter_id": jid, "updates": updates }),
        )
        .await
    }

    /// Baileys' `newsletterMetadata(type, key)`: by JID or by invite code; `None` when the
    /// answer holds no newsletter.
    pub async fn newsletter_metadata(
        &self,
        kind: NewsletterKey,
        key: &str,
    ) -> Result<Option<Value>, ClientError> {
        let key = match kind {
            NewsletterKey::Jid => newsletter_jid(key)?,
            NewsletterKey::Invite if !key.is_empty() => key.to_owned(),
            NewsletterKey::Invite => {
                return Err(ClientError::Argument("an invite code is empty".into()));
            }
        };
        let v = self
            .mex(
                MexQuery::Metadata,
                json!({
                    "fetch_creation_time": true,
                    "fetch_full_image": true,
                    "fetch_viewer_metadata": true,
                    "input": { "key": key, "type": kind.as_str() },
                }),
            )
            .await?;
        Ok(metadata_of(v))
    }

    /// The queries that take only the newsletter: follow, unfollow, mute, unmute,
    /// subscribers, admin count, delete.
    pub async fn newsletter_simple(&self, q: MexQuery, jid: &str) -> Result<Value, ClientError> {
        let jid = newsletter_jid(jid)?;
        self.mex(q, json!({ "newsletter_id": jid })).await
    }

    /// Baileys' `newsletterAdminCount`: how many admins (owner included).
    pub async fn newsletter_admin_count(&self, jid: &str) -> Result<u64, ClientError> {
        let v = self.newsletter_simple(MexQuery::AdminCount, jid).await?;
        v.get("admin_count")
            .and_then(|c| {
                c.as_u64()
                    .or_else(|| c.as_str().and_then(|s| s.parse().ok()))
            })
            .ok_or_else(|| unexpected(MexQuery::AdminCount.data_path()))
    }

    /// Baileys' `newsletterChangeOwner` and `newsletterDemote`: an operation on one user.
    pub async fn newsletter_user_op(
        &self,
        q: MexQuery,
        jid: &str,
        user: &str,
    ) -> Result<(), ClientError> {
        let jid = newsletter_jid(jid)?;
        let user = user_jid(user)?;
        self.mex(q, json!({ "newsletter_id": jid, "user_id": user }))
            .await?;
        Ok(())
    }

    /// Baileys' `newsletterReactMessage(jid, serverId, reaction?)`: no reaction takes ours
    /// back. Resolves when the server acknowledged it.
    pub async fn newsletter_react_message(
        &self,
        jid: &str,
        server_id: &str,
        reaction: Option<&str>,
    ) -> Result<(), ClientError> {
        let jid = newsletter_jid(jid)?;
        if server_id.is_empty() || !server_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ClientError::Argument(format!(
                "a newsletter message's server id is a number, got {server_id:?}"
            )));
        }
        let id = nodes::message_id(None, crate::ctx::now_ms() / 1000);
        let mut node = Node::new("message").attr("to", jid);
        let mut inner = Node::new("reaction");
        match reaction.filter(|r| !r.is_empty()) {
            Some(code) => inner = inner.attr("code", code.to_owned()),
            None => node = node.attr("edit", "7"),
        }
        let node = node
            .attr("type", "reaction")
            .attr("server_id", server_id.to_owned())
            .attr("id", id)
            .children(vec![inner]);
        self.send_await_ack(node).await?;
        Ok(())
    }

    /// Baileys' `newsletterFetchMessages(jid, count, since, after)`: the server's answer node
    /// as it is (Baileys returns it unparsed).
    pub async fn newsletter_fetch_messages(
        &self,
        jid: &str,
        count: u32,
        since: Option<u64>,
        after: Option<u64>,
    ) -> Result<Node, ClientError> {
        let jid = newsletter_jid(jid)?;
        let mut updates = Node::new("message_updates").attr("count", count.to_string());
        if let Some(s) = since {
            updates = updates.attr("since", s.to_string());
        }
        if let Some(a) = after.filter(|a| *a > 0) {
            updates = updates.attr("after", a.to_string());
        }
        let iq = Node::new("iq")
            .attr("type", "get")
            .attr("xmlns", "newsletter")
            .attr("to", jid)
            .children(vec![updates]);
        self.query(iq, None).await
    }

    /// Baileys' `subscribeNewsletterUpdates(jid)`: live reaction and view counts for a while;
    /// the duration the server granted (seconds, as it sent it).
    pub async fn newsletter_subscribe_updates(
        &self,
        jid: &str,
    ) -> Result<Option<String>, ClientError> {
        let jid = newsletter_jid(jid)?;
        let iq = Node::new("iq")
            .attr("type", "set")
            .attr("xmlns", "newsletter")
            .attr("to", jid)
            .children(vec![Node::new("live_updates")]);
        let answer = self.query(iq, None).await?;
        Ok(answer
            .child("live_updates")
            .and_then(|l| l.get_attr("duration"))
            .map(str::to_owned))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(json: &str) -> Node {
        Node::new("iq").children(vec![Node::new("result").bytes(json.as_bytes().to_vec())])
    }

    #[test]
    fn the_creation_answer_is_flattened_as_baileys_does() {
        let v = json!({
            "id": "1@newsletter",
            "thread_metadata": {
                "name": { "text": "News" },
                "description": { "text": "About" },
                "creation_time": "1700000000",
                "invite": "ABC",
                "subscribers_count": "0",
                "verification": "UNVERIFIED",
                "picture": { "id": "", "direct_path": "" }
            },
            "viewer_metadata": { "mute": "OFF", "role": "OWNER" }
        });
        let o = created_json(&v);
        assert_eq!(o["name"], "News");
        assert_eq!(o["creation_time"], 1_700_000_000);
        assert_eq!(o["subscribers"], 0);
        assert_eq!(o["picture"]["directPath"], "");
        assert_eq!(o["mute_state"], "OFF");
        assert!(o.get("owner").is_none());
        // A thin answer is not a crash.
        assert_eq!(
            created_json(&json!({ "id": "2@newsletter" }))["id"],
            "2@newsletter"
        );
    }

    #[test]
    fn graphql_errors_become_server_errors_with_their_code() {
        let a = answer(
            r#"{"errors":[{"message":"not allowed","extensions":{"error_code":403}},{"message":"x"}]}"#,
        );
        match mex_result(&a, "xwa2_newsletter") {
            Err(ClientError::Server { code, text }) => {
                assert_eq!(code, 403);
                assert_eq!(text, "GraphQL server error: not allowed, x");
            }
            other => panic!("{other:?}"),
        }
        let a = answer(r#"{"errors":[{"message":"?"}]}"#);
        assert!(matches!(
            mex_result(&a, "p"),
            Err(ClientError::Server { code: 400, .. })
        ));
    }

    #[test]
    fn the_data_path_is_returned_and_its_absence_named() {
        let a = answer(r#"{"data":{"xwa2_newsletter_admin":{"admin_count":2}}}"#);
        assert_eq!(
            mex_result(&a, "xwa2_newsletter_admin").unwrap(),
            json!({ "admin_count": 2 })
        );
        let e = mex_result(&a, "xwa2_newsletter_delete_v2").unwrap_err();
        assert!(
            e.to_string().contains("Failed to newsletter delete v2"),
            "{e}"
        );
        assert!(mex_result(&answer("not json"), "p").is_err());
        assert!(mex_result(&Node::new("iq"), "p").is_err());
    }

    #[test]
    fn metadata_is_found_at_the_top_or_under_result() {
        assert_eq!(
            metadata_of(json!({ "id": "1@newsletter" })),
            Some(json!({ "id": "1@newsletter" }))
        );
        assert_eq!(
            metadata_of(json!({ "result": { "id": "2@newsletter" } })),
            Some(json!({ "id": "2@newsletter" }))
        );
        assert_eq!(metadata_of(json!({ "id": 3 })), None);
        assert_eq!(metadata_of(Value::Null), None);
    }

    #[test]
    fn arguments_are_checked() {
        assert!(newsletter_jid("123@newsletter").is_ok());
        assert!(newsletter_jid("123@g.us").is_err());
        assert!(newsletter_jid("@newsletter").is_err());
        assert_eq!(
            user_jid("15551234567:3@s.whatsapp.net").unwrap(),
            "15551234567@s.whatsapp.net"
        );
        assert!(user_jid("1@newsletter").is_err());
        assert_eq!(
            NewsletterKey::parse("invite").unwrap(),
            NewsletterKey::Invite
        );
        assert!(NewsletterKey::parse("id").is_err());
    }
}
