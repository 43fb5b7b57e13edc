//! The socket's newsletter methods (lib/newsletter.js): `newsletterOp(op, args)` runs a typed
//! `wa-client` newsletter operation and answers with the JSON Baileys' method resolves with;
//! `newsletterFetchMessages` answers with the server's node, encoded, because Baileys hands
//! that node to the app as it is.

use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use serde_json::{Value, json};
use wa_client::ClientError;
use wa_client::newsletter::{self, MexQuery, NewsletterKey};

use crate::client::{NativeSocket, client_err};
use crate::errors::Coded;

fn arg_str(args: &[Value], i: usize, what: &str) -> Result<String, ClientError> {
    args.get(i)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| ClientError::Argument(format!("{what} must be a string")))
}

async fn run(c: &wa_client::Client, op: &str, args: &[Value]) -> Result<Value, ClientError> {
    let jid = || arg_str(args, 0, "jid");
    let simple = |q| async move { c.newsletter_simple(q, &jid()?).await };
    Ok(match op {
        "newsletterCreate" => {
            let description = args.get(1).and_then(Value::as_str);
            newsletter::created_json(
                &c.newsletter_create(&arg_str(args, 0, "name")?, description)
                    .await?,
            )
        }
        "newsletterUpdate" => {
            let updates = args
                .get(1)
                .and_then(Value::as_object)
                .cloned()
                .ok_or_else(|| ClientError::Argument("updates must be an object".into()))?;
            c.newsletter_update(&jid()?, updates).await?
        }
        "newsletterMetadata" => {
            let kind = NewsletterKey::parse(&arg_str(args, 0, "type")?)?;
            c.newsletter_metadata(kind, &arg_str(args, 1, "key")?)
                .await?
                .unwrap_or(Value::Null)
        }
        "newsletterSubscribers" => simple(MexQuery::Subscribers).await?,
        "newsletterFollow" => simple(MexQuery::Follow).await?,
        "newsletterUnfollow" => simple(MexQuery::Unfollow).await?,
        "newsletterMute" => simple(MexQuery::Mute).await?,
        "newsletterUnmute" => simple(MexQuery::Unmute).await?,
        "newsletterDelete" => {
            simple(MexQuery::Delete).await?;
            Value::Null
        }
        "newsletterAdminCount" => json!(c.newsletter_admin_count(&jid()?).await?),
        "newsletterChangeOwner" | "newsletterDemote" => {
            let q = if op == "newsletterDemote" {
                MexQuery::Demote
            } else {
                MexQuery::ChangeOwner
            };
            c.newsletter_user_op(q, &jid()?, &arg_str(args, 1, "user")?)
                .await?;
            Value::Null
        }
        "newsletterReactMessage" => {
            let reaction = args.get(2).and_then(Value::as_str);
            c.newsletter_react_message(&jid()?, &arg_str(args, 1, "serverId")?, reaction)
                .await?;
            Value::Null
        }
        "subscribeNewsletterUpdates" => match c.newsletter_subscribe_updates(&jid()?).await? {
            Some(d) => json!({ "duration": d }),
            None => Value::Null,
        },
        _ => {
            return Err(ClientError::Argument(format!(
                "unknown newsletter operation {op:?}"
            )));
        }
    })
}

#[napi]
impl NativeSocket {
    /// One of Baileys' newsletter methods by name (`newsletterCreate`, `newsletterFollow`,
    /// ...), its arguments as a JSON array; resolves with the JSON of Baileys' return value.
    #[napi(catch_unwind)]
    pub async fn newsletter_op(&self, op: String, args: String) -> Coded<String> {
        let client = self.client.clone();
        Coded(
            async move {
                let args: Vec<Value> = serde_json::from_str(&args).map_err(|e| {
                    ClientError::Argument(format!("newsletter arguments are not a JSON array: {e}"))
                })?;
                run(&client, &op, &args).await.map(|v| v.to_string())
            }
            .await
            .map_err(client_err),
        )
    }

    /// Baileys' `newsletterFetchMessages(jid, count, since, after)`: the server's answer,
    /// encoded (lib/newsletter.js decodes it into a BinaryNode).
    #[napi(catch_unwind)]
    pub async fn newsletter_fetch_messages(
        &self,
        jid: String,
        count: u32,
        since: Option<f64>,
        after: Option<f64>,
    ) -> Coded<Buffer> {
        let client = self.client.clone();
        let whole = |v: Option<f64>| v.filter(|v| v.is_finite() && *v >= 0.0).map(|v| v as u64);
        Coded(
            async move {
                let node = client
                    .newsletter_fetch_messages(&jid, count, whole(since), whole(after))
                    .await
                    .map_err(client_err)?;
                let bytes = wa_binary::encode_frame(&node)
                    .map_err(|e| crate::errors::coded(e.code(), e))?;
                Ok(bytes.into())
            }
            .await,
        )
    }
}
