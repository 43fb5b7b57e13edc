//! Groups, both directions: the `w:g2` IQs (Baileys' `groups.js`), the metadata cache the
//! send path reads, sending with sender keys and the memory of who holds ours ([`send`]),
//! the `w:gp2` notifications that change a group (`notify`), and communities ([`community`]).

pub mod community;
pub mod metadata;
mod notify;
mod send;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use wa_binary::{Jid, Node};

pub use metadata::{GroupMetadata, GroupParticipant, parse_group, parse_group_result};
pub use notify::GroupUpsert;

use crate::ctx::{Client, now_ms};
use crate::error::ClientError;
use crate::nodes;

/// Where group-wide IQs (create, leave, invites by code, participating) go.
pub const GROUPS_SERVER: &str = "@g.us";

/// How many groups' metadata a socket keeps for its sends. A send to a group not among them
/// asks the server again (one IQ), so the bound costs time, never correctness.
const CACHE_GROUPS: usize = 256;

/// How long cached metadata is trusted without a notification having touched it. Membership
/// notifications drop the entry at once; the age bound covers the ones we missed while away.
const CACHE_TTL: Duration = Duration::from_secs(300);

/// What a send needs of a group, kept compact: a cached 1,000-member group costs its member
/// JIDs (about 40 KB), not its whole metadata (a participant is three JIDs and a role).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SendTarget {
    /// The members' user JIDs in the group's addressing mode, without duplicates.
    pub users: Vec<Box<str>>,
    pub mode: crate::event::AddressingMode,
    pub ephemeral: Option<u32>,
}

impl SendTarget {
    pub fn of(m: &GroupMetadata) -> Self {
        let mut seen = std::collections::HashSet::with_capacity(m.participants.len());
        let mut users = Vec::with_capacity(m.participants.len());
        for p in &m.participants {
            if let Ok(j) = Jid::parse(&p.id) {
                let u: Box<str> = j.normalized_user().to_string().into();
                if seen.insert(u.clone()) {
                    users.push(u);
                }
            }
        }
        Self {
            users,
            mode: m.mode(),
            ephemeral: m.ephemeral_duration,
        }
    }
}

/// What sends need of each group, by group JID.
#[derive(Default)]
pub(crate) struct GroupCache {
    map: Mutex<HashMap<String, (Instant, Arc<SendTarget>)>>,
}

type CacheMap = HashMap<String, (Instant, Arc<SendTarget>)>;

impl GroupCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, CacheMap> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn get(&self, jid: &str) -> Option<Arc<SendTarget>> {
        match self.lock().get(jid) {
            Some((at, m)) if at.elapsed() < CACHE_TTL => Some(m.clone()),
            _ => None,
        }
    }

    fn put(&self, m: &GroupMetadata) -> Arc<SendTarget> {
        let target = Arc::new(SendTarget::of(m));
        let mut map = self.lock();
        if map.len() >= CACHE_GROUPS && !map.contains_key(&m.id) {
            // The oldest entry goes: the one most likely to be stale anyway.
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(m.id.clone(), (Instant::now(), target.clone()));
        target
    }

    fn forget(&self, jid: &str) {
        self.lock().remove(jid);
    }

    /// How many groups are cached.
    pub fn len(&self) -> usize {
        self.lock().len()
    }
}

/// `groupSettingUpdate`'s settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupSetting {
    Announcement,
    NotAnnouncement,
    Locked,
    Unlocked,
}

impl GroupSetting {
    pub fn parse(s: &str) -> Result<Self, ClientError> {
        Ok(match s {
            "announcement" => Self::Announcement,
            "not_announcement" => Self::NotAnnouncement,
            "locked" => Self::Locked,
            "unlocked" => Self::Unlocked,
            _ => {
                return Err(ClientError::Argument(format!(
                    "group setting must be announcement, not_announcement, locked or unlocked, got {s:?}"
                )));
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Announcement => "announcement",
            Self::NotAnnouncement => "not_announcement",
            Self::Locked => "locked",
            Self::Unlocked => "unlocked",
        }
    }
}

/// `groupParticipantsUpdate`'s actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParticipantAction {
    Add,
    Remove,
    Promote,
    Demote,
}

impl ParticipantAction {
    pub fn parse(s: &str) -> Result<Self, ClientError> {
        Ok(match s {
            "add" => Self::Add,
            "remove" => Self::Remove,
            "promote" => Self::Promote,
            "demote" => Self::Demote,
            _ => {
                return Err(ClientError::Argument(format!(
                    "participant action must be add, remove, promote or demote, got {s:?}"
                )));
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Add => "add",
            Self::Remove => "remove",
            Self::Promote => "promote",
            Self::Demote => "demote",
        }
    }
}

/// One participant's outcome of an add/remove/promote/demote or a join-request action:
/// `status` is `200` or the server's error code; `node` is the server's `<participant>`
/// (Baileys returns it as `content`).
#[derive(Debug, Clone, PartialEq)]
pub struct ParticipantResult {
    pub status: String,
    pub jid: String,
    pub node: Node,
}

fn group_jid(jid: &str) -> Result<String, ClientError> {
    match Jid::parse(jid) {
        Ok(j) if j.is_group() => Ok(j.to_string()),
        _ => Err(ClientError::Argument(format!(
            "{jid:?} is not a group JID (…@g.us)"
        ))),
    }
}

fn user_jids(jids: &[String]) -> Result<Vec<Node>, ClientError> {
    if jids.is_empty() {
        return Err(ClientError::Argument("no participants given".into()));
    }
    jids.iter()
        .map(|j| match Jid::parse(j) {
            Ok(p) if p.is_pn() || p.is_lid() => Ok(Node::new("participant").attr("jid", j.clone())),
            _ => Err(ClientError::Argument(format!(
                "{j:?} is not a user JID (…@s.whatsapp.net or …@lid)"
            ))),
        })
        .collect()
}

fn participant_results(answer: &Node, tag: &str) -> Vec<ParticipantResult> {
    answer
        .child(tag)
        .map(|n| {
            n.children_by_tag("participant")
                .map(|p| ParticipantResult {
                    status: p.get_attr("error").unwrap_or("200").to_owned(),
                    jid: p.get_attr("jid").unwrap_or_default().to_owned(),
                    node: p.clone(),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn body(text: &str) -> Node {
    Node::new("body").bytes(text.as_bytes().to_vec())
}

impl Client {
    /// One `w:g2` IQ to `to` (a group, or [`GROUPS_SERVER`]).
    async fn group_query(
        &self,
        to: &str,
        ty: &str,
        content: Vec<Node>,
    ) -> Result<Node, ClientError> {
        let iq = Node::new("iq")
            .attr("type", ty.to_owned())
            .attr("xmlns", "w:g2")
            .attr("to", to.to_owned())
            .children(content);
        self.query(iq, None).await
    }

    /// Every group and community we are in, with participants and descriptions.
    pub(crate) async fn participating_query(&self) -> Result<Node, ClientError> {
        self.group_query(
            GROUPS_SERVER,
            "get",
            vec![
                Node::new("participating")
                    .children(vec![Node::new("participants"), Node::new("description")]),
            ],
        )
        .await
    }

    /// An invite code's IQ: `get` asks what it opens, `set` accepts it.
    pub(crate) async fn invite_query(&self, ty: &str, code: &str) -> Result<Node, ClientError> {
        if code.is_empty() {
            return Err(ClientError::Argument("invite code is empty".into()));
        }
        self.group_query(
            GROUPS_SERVER,
            ty,
            vec![Node::new("invite").attr("code", code.to_owned())],
        )
        .await
    }

    /// Join approval on or off; `scope` is `group_join` or `community_join`.
    pub(crate) async fn approval_mode(
        &self,
        jid: &str,
        mode: &str,
        scope: &str,
    ) -> Result<(), ClientError> {
        let jid = group_jid(jid)?;
        if mode != "on" && mode != "off" {
            return Err(ClientError::Argument(format!(
                "join approval mode must be on or off, got {mode:?}"
            )));
        }
        self.group_query(
            &jid,
            "set",
            vec![Node::new("membership_approval_mode").children(vec![
                Node::new(scope.to_owned()).attr("state", mode.to_owned()),
            ])],
        )
        .await?;
        Ok(())
    }

    /// Baileys' `groupMetadata(jid)`: asks the server, and refreshes the send path's cache.
    pub async fn group_metadata(&self, jid: &str) -> Result<GroupMetadata, ClientError> {
        let jid = group_jid(jid)?;
        let answer = self
            .group_query(
                &jid,
                "get",
                vec![Node::new("query").attr("request", "interactive")],
            )
            .await?;
        let m = parse_group_result(&answer)?;
        self.inner.groups.put(&m);
        Ok(m)
    }

    /// The metadata a send to `jid` uses: cached, else asked for.
    pub(crate) async fn cached_group(&self, jid: &str) -> Result<Arc<SendTarget>, ClientError> {
        if let Some(m) = self.inner.groups.get(jid) {
            return Ok(m);
        }
        let m = self.group_metadata(jid).await?;
        Ok(self.inner.groups.put(&m))
    }

    /// How many groups' metadata this socket keeps.
    pub fn cached_groups(&self) -> usize {
        self.inner.groups.len()
    }

    /// Baileys' `groupFetchAllParticipating()`: every group we are in, with participants and
    /// descriptions.
    pub async fn group_fetch_all_participating(&self) -> Result<Vec<GroupMetadata>, ClientError> {
        let answer = self.participating_query().await?;
        let mut out = Vec::new();
        if let Some(groups) = answer.child("groups") {
            for g in groups.children_by_tag("group") {
                let m = parse_group(g)?;
                self.inner.groups.put(&m);
                out.push(m);
            }
        }
        Ok(out)
    }

    /// Baileys' `groupCreate(subject, participants)`.
    pub async fn group_create(
        &self,
        subject: &str,
        participants: &[String],
    ) -> Result<GroupMetadata, ClientError> {
        let me = self.me()?;
        let members: Vec<Node> = if participants.is_empty() {
            Vec::new()
        } else {
            user_jids(participants)?
        };
        let key = nodes::message_id(Some(&me.pn.user), now_ms() / 1000);
        let answer = self
            .group_query(
                GROUPS_SERVER,
                "set",
                vec![
                    Node::new("create")
                        .attr("subject", subject.to_owned())
                        .attr("key", key)
                        .children(members),
                ],
            )
            .await?;
        let m = parse_group_result(&answer)?;
        self.inner.groups.put(&m);
        Ok(m)
    }

    /// Baileys' `groupLeave(id)`.
    pub async fn group_leave(&self, id: &str) -> Result<(), ClientError> {
        let id = group_jid(id)?;
        self.group_query(
            GROUPS_SERVER,
            "set",
            vec![Node::new("leave").children(vec![Node::new("group").attr("id", id.clone())])],
        )
        .await?;
        self.inner.groups.forget(&id);
        // Our key must not reach a group we are no longer in, nor survive a later re-join.
        self.rotate_sender_key(&id).await
    }

    /// Baileys' `groupUpdateSubject(jid, subject)`.
    pub async fn group_update_subject(&self, jid: &str, subject: &str) -> Result<(), ClientError> {
        let jid = group_jid(jid)?;
        self.group_query(
            &jid,
            "set",
            vec![Node::new("subject").bytes(subject.as_bytes().to_vec())],
        )
        .await?;
        Ok(())
    }

    /// Baileys' `groupUpdateDescription(jid, description)`: `None` (or empty) deletes it. The
    /// current description's id is read first, as the server wants it as `prev`.
    pub async fn group_update_description(
        &self,
        jid: &str,
        description: Option<&str>,
    ) -> Result<(), ClientError> {
        let jid = group_jid(jid)?;
        let prev = self.group_metadata(&jid).await?.desc_id;
        let me = self.me()?;
        let mut node = match description.filter(|d| !d.is_empty()) {
            Some(d) => Node::new("description")
                .attr("id", nodes::message_id(Some(&me.pn.user), now_ms() / 1000))
                .children(vec![body(d)]),
            None => Node::new("description").attr("delete", "true"),
        };
        if let Some(p) = prev {
            node = node.attr("prev", p);
        }
        self.group_query(&jid, "set", vec![node]).await?;
        Ok(())
    }

    /// Baileys' `groupParticipantsUpdate(jid, participants, action)`.
    pub async fn group_participants_update(
        &self,
        jid: &str,
        participants: &[String],
        action: ParticipantAction,
    ) -> Result<Vec<ParticipantResult>, ClientError> {
        let jid = group_jid(jid)?;
        let tag = action.as_str();
        let answer = self
            .group_query(
                &jid,
                "set",
                vec![Node::new(tag).children(user_jids(participants)?)],
            )
            .await?;
        // Whoever we changed, the cached member list is no longer the group's.
        self.inner.groups.forget(&jid);
        Ok(participant_results(&answer, tag))
    }

    /// Baileys' `groupRequestParticipantsList(jid)`: the pending join requests, each as the
    /// attributes the server gave.
    pub async fn group_request_participants_list(
        &self,
        jid: &str,
    ) -> Result<Vec<Vec<(String, String)>>, ClientError> {
        let jid = group_jid(jid)?;
        let answer = self
            .group_query(&jid, "get", vec![Node::new("membership_approval_requests")])
            .await?;
        Ok(answer
            .child("membership_approval_requests")
            .map(|n| {
                n.children_by_tag("membership_approval_request")
                    .map(|r| {
                        r.attrs
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect()
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Baileys' `groupRequestParticipantsUpdate(jid, participants, 'approve' | 'reject')`.
    pub async fn group_request_participants_update(
        &self,
        jid: &str,
        participants: &[String],
        action: &str,
    ) -> Result<Vec<ParticipantResult>, ClientError> {
        let jid = group_jid(jid)?;
        if action != "approve" && action != "reject" {
            return Err(ClientError::Argument(format!(
                "join request action must be approve or reject, got {action:?}"
            )));
        }
        let answer = self
            .group_query(
                &jid,
                "set",
                vec![Node::new("membership_requests_action").children(vec![
                    Node::new(action.to_owned()).children(user_jids(participants)?),
                ])],
            )
            .await?;
        self.inner.groups.forget(&jid);
        Ok(answer
            .child("membership_requests_action")
            .map(|n| participant_results(n, action))
            .unwrap_or_default())
    }

    /// Baileys' `groupInviteCode(jid)`.
    pub async fn group_invite_code(&self, jid: &str) -> Result<Option<String>, ClientError> {
        let jid = group_jid(jid)?;
        let answer = self
            .group_query(&jid, "get", vec![Node::new("invite")])
            .await?;
        Ok(answer
            .child("invite")
            .and_then(|i| i.get_attr("code"))
            .map(str::to_owned))
    }

    /// Baileys' `groupRevokeInvite(jid)`: the new code.
    pub async fn group_revoke_invite(&self, jid: &str) -> Result<Option<String>, ClientError> {
        let jid = group_jid(jid)?;
        let answer = self
            .group_query(&jid, "set", vec![Node::new("invite")])
            .await?;
        Ok(answer
            .child("invite")
            .and_then(|i| i.get_attr("code"))
            .map(str::to_owned))
    }

    /// Baileys' `groupAcceptInvite(code)`: the JID of the group joined.
    pub async fn group_accept_invite(&self, code: &str) -> Result<Option<String>, ClientError> {
        let answer = self.invite_query("set", code).await?;
        Ok(answer
            .child("group")
            .and_then(|g| g.get_attr("jid"))
            .map(str::to_owned))
    }

    /// Baileys' `groupGetInviteInfo(code)`.
    pub async fn group_get_invite_info(&self, code: &str) -> Result<GroupMetadata, ClientError> {
        let answer = self.invite_query("get", code).await?;
        parse_group_result(&answer)
    }

    /// Baileys' `groupRevokeInviteV4(groupJid, invitedJid)`.
    pub async fn group_revoke_invite_v4(
        &self,
        jid: &str,
        invited: &str,
    ) -> Result<bool, ClientError> {
        let jid = group_jid(jid)?;
        self.group_query(
            &jid,
            "set",
            vec![Node::new("revoke").children(user_jids(&[invited.to_owned()])?)],
        )
        .await?;
        Ok(true)
    }

    /// The IQ of Baileys' `groupAcceptInviteV4(key, inviteMessage)`: the answer's `from`. The
    /// events Baileys emits around it are the binding's.
    pub async fn group_accept_invite_v4(
        &self,
        jid: &str,
        code: &str,
        expiration: i64,
        admin: &str,
    ) -> Result<Option<String>, ClientError> {
        let jid = group_jid(jid)?;
        let answer = self
            .group_query(
                &jid,
                "set",
                vec![
                    Node::new("accept")
                        .attr("code", code.to_owned())
                        .attr("expiration", expiration.to_string())
                        .attr("admin", admin.to_owned()),
                ],
            )
            .await?;
        Ok(answer.get_attr("from").map(str::to_owned))
    }

    /// Baileys' `groupToggleEphemeral(jid, expiration)`: 0 turns disappearing messages off.
    pub async fn group_toggle_ephemeral(
        &self,
        jid: &str,
        expiration: u32,
    ) -> Result<(), ClientError> {
        let jid = group_jid(jid)?;
        let node = if expiration > 0 {
            Node::new("ephemeral").attr("expiration", expiration.to_string())
        } else {
            Node::new("not_ephemeral")
        };
        self.group_query(&jid, "set", vec![node]).await?;
        self.inner.groups.forget(&jid);
        Ok(())
    }

    /// Baileys' `groupSettingUpdate(jid, setting)`.
    pub async fn group_setting_update(
        &self,
        jid: &str,
        setting: GroupSetting,
    ) -> Result<(), ClientError> {
        let jid = group_jid(jid)?;
        self.group_query(&jid, "set", vec![Node::new(setting.as_str())])
            .await?;
        Ok(())
    }

    /// Baileys' `groupMemberAddMode(jid, 'admin_add' | 'all_member_add')`.
    pub async fn group_member_add_mode(&self, jid: &str, mode: &str) -> Result<(), ClientError> {
        let jid = group_jid(jid)?;
        if mode != "admin_add" && mode != "all_member_add" {
            return Err(ClientError::Argument(format!(
                "member add mode must be admin_add or all_member_add, got {mode:?}"
            )));
        }
        self.group_query(
            &jid,
            "set",
            vec![Node::new("member_add_mode").text(mode.to_owned())],
        )
        .await?;
        Ok(())
    }

    /// Baileys' `groupJoinApprovalMode(jid, 'on' | 'off')`.
    pub async fn group_join_approval_mode(&self, jid: &str, mode: &str) -> Result<(), ClientError> {
        self.approval_mode(jid, mode, "group_join").await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_checked() {
        assert!(group_jid("123-456@g.us").is_ok());
        assert!(group_jid("123@s.whatsapp.net").is_err());
        assert!(group_jid("nonsense").is_err());
        assert!(user_jids(&[]).is_err());
        assert!(user_jids(&["1-2@g.us".into()]).is_err());
        assert_eq!(
            user_jids(&["5@lid".into(), "6@s.whatsapp.net".into()])
                .unwrap()
                .len(),
            2
        );
        assert!(GroupSetting::parse("locked").is_ok());
        assert!(GroupSetting::parse("open").is_err());
        assert_eq!(
            ParticipantAction::parse("demote").unwrap().as_str(),
            "demote"
        );
        assert!(ParticipantAction::parse("kick").is_err());
    }

    #[test]
    fn participant_results_read_errors() {
        let answer = Node::new("iq").children(vec![Node::new("add").children(vec![
            Node::new("participant").attr("jid", "1@s.whatsapp.net"),
            Node::new("participant")
                .attr("jid", "2@s.whatsapp.net")
                .attr("error", "403"),
        ])]);
        let r = participant_results(&answer, "add");
        assert_eq!(
            r.iter()
                .map(|p| (p.jid.as_str(), p.status.as_str()))
                .collect::<Vec<_>>(),
            [("1@s.whatsapp.net", "200"), ("2@s.whatsapp.net", "403")]
        );
        assert!(participant_results(&answer, "remove").is_empty());
    }

    #[test]
    fn cache_is_bounded() {
        let c = GroupCache::default();
        for i in 0..CACHE_GROUPS + 10 {
            c.put(&GroupMetadata {
                id: format!("{i}@g.us"),
                ..GroupMetadata::default()
            });
        }
        assert_eq!(c.len(), CACHE_GROUPS);
        assert!(c.get(&format!("{}@g.us", CACHE_GROUPS + 9)).is_some());
        c.forget(&format!("{}@g.us", CACHE_GROUPS + 9));
        assert!(c.get(&format!("{}@g.us", CACHE_GROUPS + 9)).is_none());
    }
}
