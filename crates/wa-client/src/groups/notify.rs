//! `w:gp2` notifications: a group changed. Each becomes Baileys' stub message (upserted as
//! `append`; the binding derives `groups.update`, `group-participants.update` and
//! `group.join-request` from it, as Baileys' `processMessage` does), `create` also becomes
//! `groups.upsert`. The socket's own state follows: the cached metadata is dropped, and when a
//! member leaves or is removed our sender key is rotated.

use serde_json::{Value, json};
use wa_binary::{Jid, Node};
use wa_proto::WebMessageInfo;
use wa_proto::message::ProtocolMessage;
use wa_proto::message::protocol_message::Type as ProtocolType;
use wa_proto::web_message_info::StubType;

use super::metadata::{GroupMetadata, GroupParticipant, parse_group, parse_participant};
use crate::ctx::Client;
use crate::event::{AddressingMode, Event, MessageKey, MessagesUpsert, UpsertType, WaMessage};

/// A group we were put in (`groups.upsert`), with who did it.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupUpsert {
    pub metadata: GroupMetadata,
    pub author: Option<String>,
    pub author_pn: Option<String>,
}

/// Baileys' `JSON.stringify` of a participant in stub parameters: `undefined` fields left out,
/// `admin` always there (`null` for a plain member).
fn participant_param(p: &GroupParticipant) -> String {
    let mut o = serde_json::Map::new();
    o.insert("id".into(), json!(p.id));
    if let Some(v) = &p.phone_number {
        o.insert("phoneNumber".into(), json!(v));
    }
    if let Some(v) = &p.lid {
        o.insert("lid".into(), json!(v));
    }
    if let Some(v) = &p.username {
        o.insert("username".into(), json!(v));
    }
    o.insert(
        "admin".into(),
        p.admin.as_ref().map_or(Value::Null, |a| json!(a)),
    );
    Value::Object(o).to_string()
}

fn same_user(a: &str, b: Option<&str>) -> bool {
    match (Jid::parse(a), b.map(Jid::parse)) {
        (Ok(a), Some(Ok(b))) => a.user == b.user && a.server == b.server,
        _ => false,
    }
}

/// What a `w:gp2` notification says, as a stub message (`None`: nothing Baileys shows) and,
/// for `create`, the group. Pure, for tests.
pub(crate) struct GroupChange {
    pub stub: Option<WebMessageInfo>,
    /// Overrides of the key's participant (a `create` names the group's owner).
    pub key_participant: Option<(Option<String>, Option<String>)>,
    pub created: Option<GroupUpsert>,
    /// Members who are no longer in the group (left or removed).
    pub gone: Vec<String>,
}

pub(crate) fn read_change(node: &Node) -> GroupChange {
    let mut out = GroupChange {
        stub: None,
        key_participant: None,
        created: None,
        gone: Vec::new(),
    };
    let Some(child) = node.child_nodes().first() else {
        return out;
    };
    let actor = node.get_attr("participant");
    let actor_pn = node.get_attr("participant_pn");
    let mut info = WebMessageInfo::default();
    let stub = |info: &mut WebMessageInfo, t: StubType, params: Vec<String>| {
        info.message_stub_type = Some(t as i32);
        info.message_stub_parameters = params;
    };
    let on_off = |on: bool| if on { "on" } else { "off" }.to_owned();
    match child.tag.as_ref() {
        "create" => {
            let Some(metadata) = child.child("group").and_then(|g| parse_group(g).ok()) else {
                return out;
            };
            stub(
                &mut info,
                StubType::GroupCreate,
                vec![metadata.subject.clone()],
            );
            out.key_participant = Some((metadata.owner.clone(), metadata.owner_pn.clone()));
            out.created = Some(GroupUpsert {
                metadata,
                author: actor.map(str::to_owned),
                author_pn: actor_pn.map(str::to_owned),
            });
        }
        "ephemeral" | "not_ephemeral" => {
            let expiration = child
                .get_attr("expiration")
                .and_then(|e| e.parse().ok())
                .unwrap_or(0);
            info.message = Some(wa_proto::Message {
                protocol_message: Some(Box::new(ProtocolMessage {
                    r#type: Some(ProtocolType::EphemeralSetting as i32),
                    ephemeral_expiration: Some(expiration),
                    ..Default::default()
                })),
                ..Default::default()
            });
        }
        "modify" => {
            let old = child
                .children_by_tag("participant")
                .filter_map(|p| p.get_attr("jid").map(str::to_owned))
                .collect();
            stub(&mut info, StubType::GroupParticipantChangeNumber, old);
        }
        tag @ ("promote" | "demote" | "remove" | "add" | "leave") => {
            let participants: Vec<GroupParticipant> = child
                .children_by_tag("participant")
                .filter_map(parse_participant)
                .collect();
            let mut t = match tag {
                "promote" => StubType::GroupParticipantPromote,
                "demote" => StubType::GroupParticipantDemote,
                "remove" => StubType::GroupParticipantRemove,
                "add" => StubType::GroupParticipantAdd,
                _ => StubType::GroupParticipantLeave,
            };
            // Removing oneself is leaving.
            if tag == "remove"
                && participants.len() == 1
                && (same_user(&participants[0].id, actor)
                    || same_user(&participants[0].id, actor_pn))
            {
                t = StubType::GroupParticipantLeave;
            }
            if tag == "remove" || tag == "leave" {
                out.gone = participants
                    .iter()
                    .flat_map(|p| [Some(p.id.clone()), p.phone_number.clone(), p.lid.clone()])
                    .flatten()
                    .collect();
            }
            let params = participants.iter().map(participant_param).collect();
            stub(&mut info, t, params);
        }
        "subject" => stub(
            &mut info,
            StubType::GroupChangeSubject,
            child
                .get_attr("subject")
                .map(str::to_owned)
                .into_iter()
                .collect(),
        ),
        "description" => {
            let d = child
                .child("body")
                .and_then(Node::content_string)
                .map(|s| s.into_owned());
            stub(
                &mut info,
                StubType::GroupChangeDescription,
                d.into_iter().collect(),
            );
        }
        "announcement" | "not_announcement" => stub(
            &mut info,
            StubType::GroupChangeAnnounce,
            vec![on_off(child.tag == "announcement")],
        ),
        "locked" | "unlocked" => stub(
            &mut info,
            StubType::GroupChangeRestrict,
            vec![on_off(child.tag == "locked")],
        ),
        "invite" => stub(
            &mut info,
            StubType::GroupChangeInviteLink,
            child
                .get_attr("code")
                .map(str::to_owned)
                .into_iter()
                .collect(),
        ),
        "member_add_mode" => match child.content_string() {
            Some(mode) => stub(
                &mut info,
                StubType::GroupMemberAddMode,
                vec![mode.into_owned()],
            ),
            None => return out,
        },
        "membership_approval_mode" => {
            match child.child("group_join").and_then(|g| g.get_attr("state")) {
                Some(state) => stub(
                    &mut info,
                    StubType::GroupMembershipJoinApprovalMode,
                    vec![state.to_owned()],
                ),
                None => return out,
            }
        }
        tag @ ("created_membership_requests" | "revoked_membership_requests") => {
            let affected = child.child("participant");
            let lid = affected.and_then(|p| p.get_attr("jid")).or(actor);
            let pn = affected
                .and_then(|p| p.get_attr("phone_number"))
                .or(actor_pn);
            let who = json!({ "lid": lid, "pn": pn }).to_string();
            let params = if tag == "created_membership_requests" {
                let mut v = vec![who, "created".to_owned()];
                v.extend(child.get_attr("request_method").map(str::to_owned));
                v
            } else {
                let denied = lid.is_some_and(|l| same_user(l, actor));
                vec![who, if denied { "revoked" } else { "rejected" }.to_owned()]
            };
            stub(
                &mut info,
                StubType::GroupMembershipJoinApprovalRequestNonAdminAdd,
                params,
            );
        }
        _ => return out,
    }
    out.stub = Some(info);
    out
}

impl Client {
    /// A `w:gp2` notification: the stub message and events, then the socket's own state.
    pub(crate) async fn on_group_notification(&self, node: &Node) {
        let Some(group) = node.get_attr("from").map(str::to_owned) else {
            return;
        };
        let change = read_change(node);
        self.inner.groups.forget(&group);
        let own = self.me().ok();
        if !change.gone.is_empty() {
            // Whoever left, our key is no longer only the members'. Rotating also covers us
            // being removed: a later re-add starts clean.
            if let Err(e) = self.rotate_sender_key(&group).await {
                tracing::warn!(code = e.code(), "could not rotate our sender key");
            }
        }
        if let Some(created) = change.created {
            self.emit(Event::GroupsUpsert(vec![created]));
        }
        let Some(mut info) = change.stub else {
            return;
        };
        let participant = node.get_attr("participant").map(str::to_owned);
        let actor = participant.as_deref().unwrap_or(&group);
        let from_me = match (&own, Jid::parse(actor)) {
            (Some(o), Ok(j)) => o.is_me(&j),
            _ => false,
        };
        let lid_mode = node.get_attr("addressing_mode") == Some("lid")
            || (node.get_attr("addressing_mode").is_none() && actor.ends_with("lid"));
        let alt = if lid_mode {
            node.get_attr("participant_pn")
        } else {
            node.get_attr("participant_lid")
        };
        let mut key = MessageKey {
            remote_jid: group.clone(),
            from_me,
            id: node.get_attr("id").unwrap_or_default().to_owned(),
            participant: participant.clone(),
            participant_alt: alt.map(str::to_owned),
            addressing_mode: Some(if lid_mode {
                AddressingMode::Lid
            } else {
                AddressingMode::Pn
            }),
            ..MessageKey::default()
        };
        if let Some((p, alt)) = change.key_participant {
            key.participant = p;
            key.participant_alt = alt;
        }
        info.participant = participant;
        info.message_timestamp = node.get_attr("t").and_then(|t| t.parse().ok());
        self.emit(Event::MessagesUpsert(MessagesUpsert {
            messages: vec![WaMessage {
                key,
                info,
                category: None,
            }],
            kind: UpsertType::Append,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notification(child: Node) -> Node {
        Node::new("notification")
            .attr("from", "123-456@g.us")
            .attr("type", "w:gp2")
            .attr("id", "N1")
            .attr("participant", "11@lid")
            .attr("participant_pn", "5511@s.whatsapp.net")
            .attr("t", "1700000000")
            .children(vec![child])
    }

    #[test]
    fn membership_changes() {
        let add = read_change(&notification(Node::new("add").children(vec![
            Node::new("participant")
                .attr("jid", "12@lid")
                .attr("phone_number", "5512@s.whatsapp.net"),
        ])));
        let s = add.stub.unwrap();
        assert_eq!(
            s.message_stub_type,
            Some(StubType::GroupParticipantAdd as i32)
        );
        assert_eq!(
            s.message_stub_parameters,
            [r#"{"id":"12@lid","phoneNumber":"5512@s.whatsapp.net","admin":null}"#]
        );
        assert!(add.gone.is_empty());

        // Removing oneself is a leave.
        let own = read_change(&notification(
            Node::new("remove").children(vec![Node::new("participant").attr("jid", "11@lid")]),
        ));
        assert_eq!(
            own.stub.unwrap().message_stub_type,
            Some(StubType::GroupParticipantLeave as i32)
        );
        assert_eq!(own.gone, ["11@lid"]);
        let other = read_change(&notification(
            Node::new("remove").children(vec![Node::new("participant").attr("jid", "13@lid")]),
        ));
        assert_eq!(
            other.stub.unwrap().message_stub_type,
            Some(StubType::GroupParticipantRemove as i32)
        );
    }

    #[test]
    fn settings_and_create() {
        let s = read_change(&notification(Node::new("locked")))
            .stub
            .unwrap();
        assert_eq!(
            s.message_stub_type,
            Some(StubType::GroupChangeRestrict as i32)
        );
        assert_eq!(s.message_stub_parameters, ["on"]);
        let s = read_change(&notification(Node::new("subject").attr("subject", "New")))
            .stub
            .unwrap();
        assert_eq!(s.message_stub_parameters, ["New"]);
        let e = read_change(&notification(
            Node::new("ephemeral").attr("expiration", "604800"),
        ))
        .stub
        .unwrap();
        let pm = e.message.unwrap().protocol_message.unwrap();
        assert_eq!(pm.ephemeral_expiration, Some(604_800));
        let c = read_change(&notification(Node::new("create").children(vec![
            Node::new("group")
                .attr("id", "123-456")
                .attr("subject", "Hi")
                .attr("creator", "11@lid")
                .attr("creator_pn", "5511@s.whatsapp.net"),
        ])));
        assert_eq!(c.created.as_ref().unwrap().metadata.subject, "Hi");
        assert_eq!(
            c.key_participant,
            Some((Some("11@lid".into()), Some("5511@s.whatsapp.net".into())))
        );
        // Unknown changes and a create without its group are not shown.
        assert!(
            read_change(&notification(Node::new("frobnicate")))
                .stub
                .is_none()
        );
        assert!(
            read_change(&notification(Node::new("create")))
                .stub
                .is_none()
        );
        assert!(read_change(&Node::new("notification")).stub.is_none());
    }
}
