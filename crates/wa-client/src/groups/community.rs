//! Communities (Baileys' `communities.js`): a parent group (`<parent>`) with linked subgroups
//! and an announcement group. Most of their IQs are the group ones; what differs lives here.
//!
//! Baileys reads a community's metadata from a `<community>` child, which WhatsApp does not
//! send: a community is a `<group>` with a `<parent>` child (whatsmeow reads it so). Baileys'
//! `communityMetadata` therefore throws on a real answer; ours reads either.

use wa_binary::Node;

use super::metadata::{GroupMetadata, parse_group};
use super::{
    GROUPS_SERVER, ParticipantAction, ParticipantResult, group_jid, participant_results, user_jids,
};
use crate::ctx::{Client, now_ms};
use crate::error::ClientError;
use crate::nodes;

/// A subgroup of a community, as `communityFetchLinkedGroups` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinkedGroup {
    pub id: Option<String>,
    pub subject: String,
    pub creation: Option<u64>,
    pub owner: Option<String>,
    pub size: Option<u64>,
}

/// What `communityFetchLinkedGroups` answers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinkedGroups {
    pub community_jid: String,
    pub is_community: bool,
    pub linked_groups: Vec<LinkedGroup>,
}

/// A community's metadata from an answer: its `<community>` (as Baileys expects) or `<group>`
/// (as the server sends).
pub fn parse_community_result(result: &Node) -> Result<GroupMetadata, ClientError> {
    if let Some(c) = result.child("community") {
        let mut renamed = c.clone();
        renamed.tag = "group".into();
        return parse_group(&renamed);
    }
    super::parse_group_result(result)
}

fn linked_groups(answer: &Node) -> Vec<LinkedGroup> {
    let Some(sub) = answer.child("sub_groups") else {
        return Vec::new();
    };
    sub.children_by_tag("group")
        .map(|g| LinkedGroup {
            id: g.get_attr("id").map(|i| {
                if i.contains('@') {
                    i.to_owned()
                } else {
                    format!("{i}@g.us")
                }
            }),
            subject: g.get_attr("subject").unwrap_or_default().to_owned(),
            creation: g.get_attr("creation").and_then(|c| c.parse().ok()),
            owner: g.get_attr("creator").and_then(|c| {
                wa_binary::Jid::parse(c)
                    .ok()
                    .map(|j| j.normalized_user().to_string())
            }),
            size: g.get_attr("size").and_then(|s| s.parse().ok()),
        })
        .collect()
}

fn body(text: &str) -> Node {
    Node::new("body").bytes(text.as_bytes().to_vec())
}

impl Client {
    /// Baileys' `communityMetadata(jid)`.
    pub async fn community_metadata(&self, jid: &str) -> Result<GroupMetadata, ClientError> {
        let jid = group_jid(jid)?;
        let answer = self
            .group_query(
                &jid,
                "get",
                vec![Node::new("query").attr("request", "interactive")],
            )
            .await?;
        parse_community_result(&answer)
    }

    /// The metadata of the group an answer names (`<group id>`), asked for; `None` without one.
    async fn created_group(&self, answer: &Node) -> Result<Option<GroupMetadata>, ClientError> {
        match answer.child("group").and_then(|g| g.get_attr("id")) {
            Some(id) => {
                let jid = if id.contains('@') {
                    id.to_owned()
                } else {
                    format!("{id}@g.us")
                };
                Ok(Some(self.group_metadata(&jid).await?))
            }
            None => Ok(None),
        }
    }

    /// Baileys' `communityCreate(subject, body)`: the new community's metadata.
    pub async fn community_create(
        &self,
        subject: &str,
        description: &str,
    ) -> Result<Option<GroupMetadata>, ClientError> {
        let me = self.me()?;
        let desc_id: String = nodes::message_id(Some(&me.pn.user), now_ms() / 1000)
            .chars()
            .take(12)
            .collect();
        let answer = self
            .group_query(
                GROUPS_SERVER,
                "set",
                vec![
                    Node::new("create")
                        .attr("subject", subject.to_owned())
                        .children(vec![
                            Node::new("description")
                                .attr("id", desc_id)
                                .children(vec![body(description)]),
                            Node::new("parent")
                                .attr("default_membership_approval_mode", "request_required"),
                            Node::new("allow_non_admin_sub_group_creation"),
                            Node::new("create_general_chat"),
                        ]),
                ],
            )
            .await?;
        self.created_group(&answer).await
    }

    /// Baileys' `communityCreateGroup(subject, participants, parentCommunityJid)`.
    pub async fn community_create_group(
        &self,
        subject: &str,
        participants: &[String],
        parent: &str,
    ) -> Result<Option<GroupMetadata>, ClientError> {
        let parent = group_jid(parent)?;
        let me = self.me()?;
        let mut children = if participants.is_empty() {
            Vec::new()
        } else {
            user_jids(participants)?
        };
        children.push(Node::new("linked_parent").attr("jid", parent));
        let answer = self
            .group_query(
                GROUPS_SERVER,
                "set",
                vec![
                    Node::new("create")
                        .attr("subject", subject.to_owned())
                        .attr("key", nodes::message_id(Some(&me.pn.user), now_ms() / 1000))
                        .children(children),
                ],
            )
            .await?;
        self.created_group(&answer).await
    }

    /// Baileys' `communityLeave(id)`.
    pub async fn community_leave(&self, id: &str) -> Result<(), ClientError> {
        let id = group_jid(id)?;
        self.group_query(
            GROUPS_SERVER,
            "set",
            vec![Node::new("leave").children(vec![Node::new("community").attr("id", id.clone())])],
        )
        .await?;
        self.inner.groups.forget(&id);
        Ok(())
    }

    /// Baileys' `communityLinkGroup(groupJid, parentCommunityJid)`.
    pub async fn community_link_group(&self, group: &str, parent: &str) -> Result<(), ClientError> {
        let (group, parent) = (group_jid(group)?, group_jid(parent)?);
        self.group_query(
            &parent,
            "set",
            vec![Node::new("links").children(vec![
                Node::new("link")
                    .attr("link_type", "sub_group")
                    .children(vec![Node::new("group").attr("jid", group)]),
            ])],
        )
        .await?;
        Ok(())
    }

    /// Baileys' `communityUnlinkGroup(groupJid, parentCommunityJid)`.
    pub async fn community_unlink_group(
        &self,
        group: &str,
        parent: &str,
    ) -> Result<(), ClientError> {
        let (group, parent) = (group_jid(group)?, group_jid(parent)?);
        self.group_query(
            &parent,
            "set",
            vec![
                Node::new("unlink")
                    .attr("unlink_type", "sub_group")
                    .children(vec![Node::new("group").attr("jid", group)]),
            ],
        )
        .await?;
        Ok(())
    }

    /// Baileys' `communityFetchLinkedGroups(jid)`: `jid` may be the community or one of its
    /// subgroups.
    pub async fn community_fetch_linked_groups(
        &self,
        jid: &str,
    ) -> Result<LinkedGroups, ClientError> {
        let meta = self.group_metadata(jid).await?;
        let (community_jid, is_community) = match meta.linked_parent {
            Some(p) => (p, false),
            None => (meta.id, true),
        };
        let answer = self
            .group_query(&community_jid, "get", vec![Node::new("sub_groups")])
            .await?;
        Ok(LinkedGroups {
            linked_groups: linked_groups(&answer),
            community_jid,
            is_community,
        })
    }

    /// Baileys' `communityParticipantsUpdate(jid, participants, action)`: a removal also
    /// removes from the linked groups.
    pub async fn community_participants_update(
        &self,
        jid: &str,
        participants: &[String],
        action: ParticipantAction,
    ) -> Result<Vec<ParticipantResult>, ClientError> {
        let jid = group_jid(jid)?;
        let tag = action.as_str();
        let mut node = Node::new(tag);
        if action == ParticipantAction::Remove {
            node = node.attr("linked_groups", "true");
        }
        let answer = self
            .group_query(&jid, "set", vec![node.children(user_jids(participants)?)])
            .await?;
        self.inner.groups.forget(&jid);
        Ok(participant_results(&answer, tag))
    }

    /// Baileys' `communityAcceptInvite(code)`: the community's JID.
    pub async fn community_accept_invite(&self, code: &str) -> Result<Option<String>, ClientError> {
        let answer = self.invite_query("set", code).await?;
        Ok(answer
            .child("community")
            .or_else(|| answer.child("group"))
            .and_then(|g| g.get_attr("jid"))
            .map(str::to_owned))
    }

    /// Baileys' `communityGetInviteInfo(code)`.
    pub async fn community_get_invite_info(
        &self,
        code: &str,
    ) -> Result<GroupMetadata, ClientError> {
        let answer = self.invite_query("get", code).await?;
        parse_community_result(&answer)
    }

    /// Baileys' `communityJoinApprovalMode(jid, 'on' | 'off')`.
    pub async fn community_join_approval_mode(
        &self,
        jid: &str,
        mode: &str,
    ) -> Result<(), ClientError> {
        self.approval_mode(jid, mode, "community_join").await
    }

    /// Baileys' `communityFetchAllParticipating()`: the communities we are in (the answer's
    /// `<communities>`; the server's `<groups>` entries with a `<parent>` when it lists them so).
    pub async fn community_fetch_all_participating(
        &self,
    ) -> Result<Vec<GroupMetadata>, ClientError> {
        let answer = self.participating_query().await?;
        let mut out = Vec::new();
        if let Some(list) = answer.child("communities") {
            for c in list.children_by_tag("community") {
                let mut g = c.clone();
                g.tag = "group".into();
                out.push(parse_group(&g)?);
            }
        }
        if let Some(list) = answer.child("groups") {
            for g in list.children_by_tag("group") {
                if g.child("parent").is_some() {
                    out.push(parse_group(g)?);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn community_answers_in_either_shape() {
        let as_group = Node::new("iq").children(vec![
            Node::new("group")
                .attr("id", "1-2")
                .attr("subject", "C")
                .children(vec![Node::new("parent")]),
        ]);
        let m = parse_community_result(&as_group).unwrap();
        assert!(m.is_community);
        assert_eq!(m.id, "1-2@g.us");
        let as_community = Node::new("iq").children(vec![
            Node::new("community")
                .attr("id", "3-4")
                .attr("subject", "D")
                .children(vec![Node::new("parent")]),
        ]);
        assert_eq!(parse_community_result(&as_community).unwrap().subject, "D");
        assert!(parse_community_result(&Node::new("iq")).is_err());
    }

    #[test]
    fn linked_groups_are_read() {
        let answer = Node::new("iq").children(vec![Node::new("sub_groups").children(vec![
            Node::new("group")
                .attr("id", "9-9")
                .attr("subject", "Sub")
                .attr("creator", "5:2@s.whatsapp.net")
                .attr("size", "3"),
        ])]);
        let l = linked_groups(&answer);
        assert_eq!(l[0].id.as_deref(), Some("9-9@g.us"));
        assert_eq!(l[0].owner.as_deref(), Some("5@s.whatsapp.net"));
        assert_eq!(l[0].size, Some(3));
        assert!(linked_groups(&Node::new("iq")).is_empty());
    }
}
