//! A group's metadata as the server describes it (`<group>`, Baileys' `extractGroupMetadata`),
//! and the participants of membership notifications. Pure: nodes in, typed values out.

use wa_binary::{Jid, Node};

use crate::error::ClientError;
use crate::event::AddressingMode;

/// One member of a group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupParticipant {
    /// The member's JID in the group's addressing mode (a LID in LID groups).
    pub id: String,
    /// The member's phone number JID, when `id` is a LID and the server named it.
    pub phone_number: Option<String>,
    /// The member's LID, when `id` is a phone number and the server named it.
    pub lid: Option<String>,
    pub username: Option<String>,
    /// `admin` or `superadmin`; `None` for a plain member.
    pub admin: Option<String>,
}

/// Baileys' `GroupMetadata`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GroupMetadata {
    /// `...@g.us`.
    pub id: String,
    pub notify: Option<String>,
    pub addressing_mode: Option<AddressingMode>,
    pub subject: String,
    pub subject_owner: Option<String>,
    pub subject_owner_pn: Option<String>,
    pub subject_time: Option<u64>,
    pub size: usize,
    pub creation: Option<u64>,
    pub owner: Option<String>,
    pub owner_pn: Option<String>,
    pub owner_country_code: Option<String>,
    pub desc: Option<String>,
    pub desc_id: Option<String>,
    pub desc_owner: Option<String>,
    pub desc_owner_pn: Option<String>,
    pub desc_time: Option<u64>,
    pub linked_parent: Option<String>,
    pub restrict: bool,
    pub announce: bool,
    pub is_community: bool,
    pub is_community_announce: bool,
    pub join_approval_mode: bool,
    pub member_add_mode: bool,
    pub participants: Vec<GroupParticipant>,
    pub ephemeral_duration: Option<u32>,
}

impl GroupMetadata {
    /// The group's addressing mode; Baileys reads anything but `lid` as phone numbers.
    pub fn mode(&self) -> AddressingMode {
        self.addressing_mode.unwrap_or(AddressingMode::Pn)
    }

    /// Whether `user` (a bare user JID, PN or LID) is a member.
    pub fn has_member(&self, user: &Jid) -> bool {
        self.participants.iter().any(|p| {
            [Some(&p.id), p.phone_number.as_ref(), p.lid.as_ref()]
                .into_iter()
                .flatten()
                .filter_map(|j| Jid::parse(j).ok())
                .any(|j| j.user == user.user && j.server == user.server)
        })
    }
}

/// A JID as the app sees it: without the device part.
fn normalized(jid: &str) -> String {
    Jid::parse(jid).map_or_else(|_| jid.to_owned(), |j| j.normalized_user().to_string())
}

fn number<T: std::str::FromStr>(node: &Node, key: &str) -> Option<T> {
    node.get_attr(key).and_then(|v| v.parse().ok())
}

fn text(node: &Node, key: &str) -> Option<String> {
    node.get_attr(key).map(str::to_owned)
}

fn is_server(jid: Option<&str>, lid: bool) -> bool {
    jid.and_then(|j| Jid::parse(j).ok())
        .is_some_and(|j| if lid { j.is_lid() } else { j.is_pn() })
}

/// One `<participant jid phone_number lid type>`, read as Baileys does: the other address only
/// when it is of the other kind.
pub fn parse_participant(node: &Node) -> Option<GroupParticipant> {
    let id = node.get_attr("jid")?.to_owned();
    let id_lid = is_server(Some(&id), true);
    let id_pn = is_server(Some(&id), false);
    let phone_number = node
        .get_attr("phone_number")
        .filter(|p| id_lid && is_server(Some(p), false))
        .map(str::to_owned);
    let lid = node
        .get_attr("lid")
        .filter(|l| id_pn && is_server(Some(l), true))
        .map(str::to_owned);
    Some(GroupParticipant {
        id,
        phone_number,
        lid,
        username: text(node, "participant_username").or_else(|| text(node, "username")),
        admin: node
            .get_attr("type")
            .filter(|t| !t.is_empty())
            .map(str::to_owned),
    })
}

/// The metadata of the `<group>` child of `result` (an IQ answer, a `create` notification).
/// An `<error>` child is the server's refusal.
pub fn parse_group_result(result: &Node) -> Result<GroupMetadata, ClientError> {
    match result.child("group") {
        Some(g) => parse_group(g),
        None => match result.child("error") {
            Some(e) => Err(ClientError::Server {
                code: number(e, "code").unwrap_or(500),
                text: text(e, "text").unwrap_or_else(|| "group metadata query failed".into()),
            }),
            None => Err(ClientError::Protocol(
                "invalid group metadata response: missing <group> node".into(),
            )),
        },
    }
}

/// One `<group>` node.
pub fn parse_group(group: &Node) -> Result<GroupMetadata, ClientError> {
    let raw_id = group
        .get_attr("id")
        .filter(|i| !i.is_empty())
        .ok_or_else(|| ClientError::Protocol("group metadata without an id".into()))?;
    let id = if raw_id.contains('@') {
        raw_id.to_owned()
    } else {
        format!("{raw_id}@g.us")
    };
    let mut m = GroupMetadata {
        id,
        notify: text(group, "notify"),
        addressing_mode: Some(if group.get_attr("addressing_mode") == Some("lid") {
            AddressingMode::Lid
        } else {
            AddressingMode::Pn
        }),
        subject: text(group, "subject").unwrap_or_default(),
        subject_owner: text(group, "s_o"),
        subject_owner_pn: text(group, "s_o_pn"),
        subject_time: number(group, "s_t"),
        creation: number(group, "creation"),
        owner: group.get_attr("creator").map(normalized),
        owner_pn: group.get_attr("creator_pn").map(normalized),
        owner_country_code: text(group, "creator_country_code"),
        ..GroupMetadata::default()
    };
    if let Some(d) = group.child("description") {
        m.desc = d
            .child("body")
            .and_then(Node::content_string)
            .map(|s| s.into_owned());
        m.desc_id = text(d, "id");
        m.desc_owner = d.get_attr("participant").map(normalized);
        m.desc_owner_pn = d.get_attr("participant_pn").map(normalized);
        m.desc_time = number(d, "t");
    }
    m.linked_parent = group
        .child("linked_parent")
        .and_then(|p| text(p, "jid"))
        .filter(|j| !j.is_empty());
    m.restrict = group.child("locked").is_some();
    m.announce = group.child("announcement").is_some();
    m.is_community = group.child("parent").is_some();
    m.is_community_announce = group.child("default_sub_group").is_some();
    m.join_approval_mode = group.child("membership_approval_mode").is_some();
    m.member_add_mode = group
        .child("member_add_mode")
        .and_then(Node::content_string)
        .is_some_and(|s| s == "all_member_add");
    m.participants = group
        .children_by_tag("participant")
        .filter_map(parse_participant)
        .collect();
    m.size = number(group, "size").unwrap_or(m.participants.len());
    m.ephemeral_duration = group
        .child("ephemeral")
        .and_then(|e| number(e, "expiration"));
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group_node(n: usize) -> Node {
        let mut children = vec![
            Node::new("description")
                .attr("id", "D1")
                .attr("participant", "11:3@lid")
                .attr("t", "1700000001")
                .children(vec![Node::new("body").bytes(b"rules".to_vec())]),
            Node::new("announcement"),
            Node::new("member_add_mode").text("all_member_add"),
            Node::new("ephemeral").attr("expiration", "86400"),
        ];
        for i in 0..n {
            let mut p = Node::new("participant")
                .attr("jid", format!("{}@lid", 100 + i))
                .attr("phone_number", format!("{}@s.whatsapp.net", 5500 + i));
            if i == 0 {
                p = p.attr("type", "superadmin");
            }
            children.push(p);
        }
        Node::new("group")
            .attr("id", "120363000000000001")
            .attr("addressing_mode", "lid")
            .attr("subject", "Team")
            .attr("s_t", "1700000000")
            .attr("creation", "1690000000")
            .attr("creator", "100:2@lid")
            .children(children)
    }

    #[test]
    fn reads_what_baileys_reads() {
        let m = parse_group_result(&Node::new("iq").children(vec![group_node(3)])).unwrap();
        assert_eq!(m.id, "120363000000000001@g.us");
        assert_eq!(m.mode(), AddressingMode::Lid);
        assert_eq!(m.subject, "Team");
        assert_eq!(m.subject_time, Some(1_700_000_000));
        assert_eq!(m.owner.as_deref(), Some("100@lid"));
        assert_eq!(m.desc.as_deref(), Some("rules"));
        assert_eq!(m.desc_id.as_deref(), Some("D1"));
        assert_eq!(m.desc_owner.as_deref(), Some("11@lid"));
        assert!(m.announce && !m.restrict && m.member_add_mode && !m.join_approval_mode);
        assert_eq!(m.ephemeral_duration, Some(86_400));
        assert_eq!(m.size, 3);
        assert_eq!(m.participants[0].admin.as_deref(), Some("superadmin"));
        assert_eq!(
            m.participants[1].phone_number.as_deref(),
            Some("5501@s.whatsapp.net")
        );
        assert_eq!(m.participants[1].lid, None);
        assert!(m.has_member(&Jid::parse("5502@s.whatsapp.net").unwrap()));
        assert!(m.has_member(&Jid::parse("101@lid").unwrap()));
        assert!(!m.has_member(&Jid::parse("999@lid").unwrap()));
    }

    #[test]
    fn five_thousand_participants() {
        let m = parse_group(&group_node(5_000)).unwrap();
        assert_eq!(m.participants.len(), 5_000);
        assert_eq!(m.participants[4_999].id, "5099@lid");
    }

    #[test]
    fn errors_and_missing_parts() {
        let err = Node::new("iq").children(vec![
            Node::new("error")
                .attr("code", "403")
                .attr("text", "forbidden"),
        ]);
        assert!(matches!(
            parse_group_result(&err),
            Err(ClientError::Server { code: 403, .. })
        ));
        assert!(parse_group_result(&Node::new("iq")).is_err());
        assert!(parse_group(&Node::new("group")).is_err());
        // A participant without a jid is skipped; odd attributes do not fail the group.
        let g = Node::new("group")
            .attr("id", "1-2@g.us")
            .attr("s_t", "not a number")
            .children(vec![
                Node::new("participant"),
                Node::new("participant")
                    .attr("jid", "5@s.whatsapp.net")
                    .attr("lid", "not a jid"),
            ]);
        let m = parse_group(&g).unwrap();
        assert_eq!(m.id, "1-2@g.us");
        assert_eq!(m.subject_time, None);
        assert_eq!(m.participants.len(), 1);
        assert_eq!(m.participants[0].lid, None);
        assert_eq!(m.mode(), AddressingMode::Pn);
    }
}
