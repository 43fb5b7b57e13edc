//! The socket's group methods (lib/groups.js): one entry, `groupOp(op, args)`, that runs a
//! typed `wa-client` group operation and answers in Baileys' shapes. One entry rather than
//! twenty: each operation is an IQ whose cost is the network's, and lib/groups.js gives every
//! Baileys method its own name, arguments and typings.

use napi_derive::napi;
use serde_json::{Value, json};
use wa_client::ClientError;
use wa_client::groups::{GroupSetting, ParticipantAction, ParticipantResult};

use crate::client::{NativeSocket, client_err};
use crate::compat::groups::{community_json, metadata_json};
use crate::errors::Coded;

fn arg_str(args: &[Value], i: usize, what: &str) -> Result<String, ClientError> {
    args.get(i)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| ClientError::Argument(format!("{what} must be a string")))
}

fn arg_list(args: &[Value], i: usize, what: &str) -> Result<Vec<String>, ClientError> {
    let list = args
        .get(i)
        .and_then(Value::as_array)
        .ok_or_else(|| ClientError::Argument(format!("{what} must be an array of JIDs")))?;
    list.iter()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| ClientError::Argument(format!("{what} must be an array of JIDs")))
        })
        .collect()
}

fn results_json(r: &[ParticipantResult], with_content: bool) -> Value {
    Value::Array(
        r.iter()
            .map(|p| {
                let mut o = json!({ "status": p.status, "jid": p.jid });
                if with_content {
                    // Baileys returns the server's `<participant>` node itself.
                    let attrs: serde_json::Map<String, Value> = p
                        .node
                        .attrs
                        .iter()
                        .map(|(k, v)| (k.to_string(), json!(v)))
                        .collect();
                    o["content"] = json!({ "tag": p.node.tag, "attrs": attrs });
                }
                o
            })
            .collect(),
    )
}

async fn run(c: &wa_client::Client, op: &str, args: &[Value]) -> Result<Value, ClientError> {
    Ok(match op {
        "groupMetadata" => metadata_json(&c.group_metadata(&arg_str(args, 0, "jid")?).await?),
        "groupFetchAllParticipating" => {
            let mut o = serde_json::Map::new();
            for m in c.group_fetch_all_participating().await? {
                o.insert(m.id.clone(), metadata_json(&m));
            }
            Value::Object(o)
        }
        "groupCreate" => metadata_json(
            &c.group_create(
                &arg_str(args, 0, "subject")?,
                &arg_list(args, 1, "participants")?,
            )
            .await?,
        ),
        "groupLeave" => {
            c.group_leave(&arg_str(args, 0, "id")?).await?;
            Value::Null
        }
        "groupUpdateSubject" => {
            c.group_update_subject(&arg_str(args, 0, "jid")?, &arg_str(args, 1, "subject")?)
                .await?;
            Value::Null
        }
        "groupUpdateDescription" => {
            let d = args.get(1).and_then(Value::as_str);
            c.group_update_description(&arg_str(args, 0, "jid")?, d)
                .await?;
            Value::Null
        }
        "groupParticipantsUpdate" => {
            let action = ParticipantAction::parse(&arg_str(args, 2, "action")?)?;
            let r = c
                .group_participants_update(
                    &arg_str(args, 0, "jid")?,
                    &arg_list(args, 1, "participants")?,
                    action,
                )
                .await?;
            results_json(&r, true)
        }
        "groupRequestParticipantsList" => {
            let list = c
                .group_request_participants_list(&arg_str(args, 0, "jid")?)
                .await?;
            Value::Array(
                list.into_iter()
                    .map(|attrs| {
                        Value::Object(attrs.into_iter().map(|(k, v)| (k, json!(v))).collect())
                    })
                    .collect(),
            )
        }
        "groupRequestParticipantsUpdate" => {
            let r = c
                .group_request_participants_update(
                    &arg_str(args, 0, "jid")?,
                    &arg_list(args, 1, "participants")?,
                    &arg_str(args, 2, "action")?,
                )
                .await?;
            results_json(&r, false)
        }
        "groupInviteCode" => json!(c.group_invite_code(&arg_str(args, 0, "jid")?).await?),
        "groupRevokeInvite" => json!(c.group_revoke_invite(&arg_str(args, 0, "jid")?).await?),
        "groupAcceptInvite" => json!(c.group_accept_invite(&arg_str(args, 0, "code")?).await?),
        "groupGetInviteInfo" => {
            metadata_json(&c.group_get_invite_info(&arg_str(args, 0, "code")?).await?)
        }
        "groupRevokeInviteV4" => json!(
            c.group_revoke_invite_v4(
                &arg_str(args, 0, "groupJid")?,
                &arg_str(args, 1, "invitedJid")?
            )
            .await?
        ),
        "groupAcceptInviteV4" => {
            let expiration = args.get(2).and_then(Value::as_i64).unwrap_or(0);
            json!(
                c.group_accept_invite_v4(
                    &arg_str(args, 0, "groupJid")?,
                    &arg_str(args, 1, "inviteCode")?,
                    expiration,
                    &arg_str(args, 3, "admin")?,
                )
                .await?
            )
        }
        "groupToggleEphemeral" => {
            let e = match args.get(1) {
                None | Some(Value::Null) => 0,
                Some(v) => v
                    .as_u64()
                    .and_then(|e| u32::try_from(e).ok())
                    .ok_or_else(|| {
                        ClientError::Argument("ephemeralExpiration must be seconds".into())
                    })?,
            };
            c.group_toggle_ephemeral(&arg_str(args, 0, "jid")?, e)
                .await?;
            Value::Null
        }
        "groupSettingUpdate" => {
            let setting = GroupSetting::parse(&arg_str(args, 1, "setting")?)?;
            c.group_setting_update(&arg_str(args, 0, "jid")?, setting)
                .await?;
            Value::Null
        }
        "groupMemberAddMode" => {
            c.group_member_add_mode(&arg_str(args, 0, "jid")?, &arg_str(args, 1, "mode")?)
                .await?;
            Value::Null
        }
        "groupJoinApprovalMode" => {
            c.group_join_approval_mode(&arg_str(args, 0, "jid")?, &arg_str(args, 1, "mode")?)
                .await?;
            Value::Null
        }
        "communityMetadata" => {
            community_json(&c.community_metadata(&arg_str(args, 0, "jid")?).await?)
        }
        "communityCreate" => {
            let body = args.get(1).and_then(Value::as_str).unwrap_or_default();
            let m = c
                .community_create(&arg_str(args, 0, "subject")?, body)
                .await?;
            m.as_ref().map_or(Value::Null, metadata_json)
        }
        "communityCreateGroup" => {
            let m = c
                .community_create_group(
                    &arg_str(args, 0, "subject")?,
                    &arg_list(args, 1, "participants")?,
                    &arg_str(args, 2, "parentCommunityJid")?,
                )
                .await?;
            m.as_ref().map_or(Value::Null, metadata_json)
        }
        "communityLeave" => {
            c.community_leave(&arg_str(args, 0, "id")?).await?;
            Value::Null
        }
        "communityLinkGroup" => {
            c.community_link_group(
                &arg_str(args, 0, "groupJid")?,
                &arg_str(args, 1, "parentCommunityJid")?,
            )
            .await?;
            Value::Null
        }
        "communityUnlinkGroup" => {
            c.community_unlink_group(
                &arg_str(args, 0, "groupJid")?,
                &arg_str(args, 1, "parentCommunityJid")?,
            )
            .await?;
            Value::Null
        }
        "communityFetchLinkedGroups" => {
            let l = c
                .community_fetch_linked_groups(&arg_str(args, 0, "jid")?)
                .await?;
            json!({
                "communityJid": l.community_jid,
                "isCommunity": l.is_community,
                "linkedGroups": l.linked_groups.iter().map(|g| json!({
                    "id": g.id, "subject": g.subject, "creation": g.creation,
                    "owner": g.owner, "size": g.size,
                })).collect::<Vec<_>>(),
            })
        }
        "communityParticipantsUpdate" => {
            let action = ParticipantAction::parse(&arg_str(args, 2, "action")?)?;
            let r = c
                .community_participants_update(
                    &arg_str(args, 0, "jid")?,
                    &arg_list(args, 1, "participants")?,
                    action,
                )
                .await?;
            results_json(&r, true)
        }
        "communityAcceptInvite" => {
            json!(
                c.community_accept_invite(&arg_str(args, 0, "code")?)
                    .await?
            )
        }
        "communityGetInviteInfo" => community_json(
            &c.community_get_invite_info(&arg_str(args, 0, "code")?)
                .await?,
        ),
        "communityJoinApprovalMode" => {
            c.community_join_approval_mode(&arg_str(args, 0, "jid")?, &arg_str(args, 1, "mode")?)
                .await?;
            Value::Null
        }
        "communityFetchAllParticipating" => {
            let mut o = serde_json::Map::new();
            for m in c.community_fetch_all_participating().await? {
                o.insert(m.id.clone(), community_json(&m));
            }
            Value::Object(o)
        }
        _ => {
            return Err(ClientError::Argument(format!(
                "unknown group operation {op:?}"
            )));
        }
    })
}

#[napi]
impl NativeSocket {
    /// One of Baileys' group methods by name (`groupMetadata`, `groupCreate`, ...), its
    /// arguments as a JSON array; resolves with the JSON of Baileys' return value.
    #[napi(catch_unwind)]
    pub async fn group_op(&self, op: String, args: String) -> Coded<String> {
        let client = self.client.clone();
        Coded(
            async move {
                let args: Vec<Value> = serde_json::from_str(&args).map_err(|e| {
                    ClientError::Argument(format!("group arguments are not a JSON array: {e}"))
                })?;
                let out = run(&client, &op, &args).await.map(|v| v.to_string());
                // A big group's answer is a burst of short-lived nodes and strings: hand the
                // freed pages back, as after a pre-key upload.
                crate::trim::soon();
                out
            }
            .await
            .map_err(client_err),
        )
    }
}
