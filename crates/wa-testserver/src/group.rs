//! A group as the server keeps it: subject, creator, description, members with their roles,
//! settings, invite codes, join requests, disappearing messages, addressing mode; and the
//! rules of who may change what. Members are kept by phone number; the handlers (`groups`)
//! turn them into LID or phone-number JIDs by the group's addressing mode.

use std::collections::BTreeMap;

use crate::config::GroupAddressing;

/// Longest subject WhatsApp takes (longer: 406).
pub const MAX_SUBJECT_CHARS: usize = 100;
/// Longest description WhatsApp takes (longer: 406).
pub const MAX_DESCRIPTION_CHARS: usize = 2048;

/// A member's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Member,
    Admin,
    /// The creator: an admin no other admin can remove or demote.
    SuperAdmin,
}

impl Role {
    /// The participant's `type` attribute (none for a plain member).
    pub fn attr(self) -> Option<&'static str> {
        match self {
            Role::Member => None,
            Role::Admin => Some("admin"),
            Role::SuperAdmin => Some("superadmin"),
        }
    }

    pub fn is_admin(self) -> bool {
        self != Role::Member
    }
}

/// The group description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    /// Set by the client; a change must name the current one as `prev`.
    pub id: String,
    pub body: String,
    /// Phone number of who set it.
    pub owner: String,
    pub time: u64,
}

/// One group.
#[derive(Debug, Clone)]
pub struct Group {
    /// The user part of `…@g.us`.
    pub id: String,
    pub subject: String,
    pub subject_owner: String,
    pub subject_time: u64,
    pub creator: String,
    /// Seconds.
    pub creation: u64,
    /// The `key` of the `<create>` that made it: the same key again returns this group.
    pub create_key: Option<String>,
    pub description: Option<Description>,
    /// Members by phone number. WhatsApp lists participants in no documented order; ours is
    /// by number, which keeps a 5,000-member lookup logarithmic.
    pub members: BTreeMap<String, Role>,
    /// Only admins send messages.
    pub announce: bool,
    /// Only admins change the subject, description and disappearing timer ("restrict").
    pub locked: bool,
    /// Every member may add members (else admins only).
    pub all_member_add: bool,
    /// Joining by link needs an admin's approval.
    pub approval: bool,
    /// Pending join requests: number -> time requested (seconds).
    pub requests: BTreeMap<String, u64>,
    /// Disappearing-message timer in seconds, 0 off.
    pub ephemeral: u32,
    pub invite: String,
    /// Codes reset away: joining with one is 410 (gone) rather than 406 (unknown).
    pub revoked_invites: Vec<String>,
    pub addressing: GroupAddressing,
    /// A community (parent group).
    pub parent: bool,
    pub linked_parent: Option<String>,
}

impl Group {
    pub fn jid(&self) -> String {
        format!("{}@g.us", self.id)
    }

    pub fn lid(&self) -> bool {
        self.addressing == GroupAddressing::Lid
    }

    pub fn role(&self, number: &str) -> Option<Role> {
        self.members.get(number).copied()
    }

    pub fn is_member(&self, number: &str) -> bool {
        self.members.contains_key(number)
    }

    pub fn is_admin(&self, number: &str) -> bool {
        self.role(number).is_some_and(Role::is_admin)
    }

    pub fn numbers(&self) -> Vec<String> {
        self.members.keys().cloned().collect()
    }

    pub fn admins(&self) -> Vec<String> {
        self.members
            .iter()
            .filter(|(_, r)| r.is_admin())
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Whether `op` (the tag of a `set` IQ's child) needs an admin in this group.
    pub fn needs_admin(&self, op: &str) -> bool {
        match op {
            "subject" | "description" | "ephemeral" | "not_ephemeral" => self.locked,
            "add" => !self.all_member_add,
            // A member's own actions.
            "leave" | "accept" => false,
            _ => true,
        }
    }
}

/// Every group of a server.
#[derive(Debug, Default)]
pub struct Groups {
    pub by_id: BTreeMap<String, Group>,
    /// Groups made so far (part of the next id).
    pub made: u64,
}

impl Groups {
    /// The group a JID names (`…@g.us`), by its user part.
    pub fn get(&self, id: &str) -> Option<&Group> {
        self.by_id.get(id)
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut Group> {
        self.by_id.get_mut(id)
    }

    /// The group with this invite code, and whether the code is the current one (else it
    /// was revoked).
    pub fn by_invite(&self, code: &str) -> Option<(&Group, bool)> {
        self.by_id.values().find_map(|g| {
            if g.invite == code {
                Some((g, true))
            } else if g.revoked_invites.iter().any(|c| c == code) {
                Some((g, false))
            } else {
                None
            }
        })
    }

    /// A group `creator` made earlier with the same `<create key>`.
    pub fn by_create_key(&self, creator: &str, key: &str) -> Option<&Group> {
        self.by_id
            .values()
            .find(|g| g.creator == creator && g.create_key.as_deref() == Some(key))
    }

    /// The groups `number` is a member of.
    pub fn of_member<'a>(&'a self, number: &'a str) -> impl Iterator<Item = &'a Group> + 'a {
        self.by_id.values().filter(move |g| g.is_member(number))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group() -> Group {
        Group {
            id: "1".into(),
            subject: "s".into(),
            subject_owner: "1".into(),
            subject_time: 0,
            creator: "1".into(),
            creation: 0,
            create_key: None,
            description: None,
            members: [
                ("1".to_owned(), Role::SuperAdmin),
                ("2".to_owned(), Role::Member),
            ]
            .into_iter()
            .collect(),
            announce: false,
            locked: false,
            all_member_add: false,
            approval: false,
            requests: BTreeMap::new(),
            ephemeral: 0,
            invite: "CODE".into(),
            revoked_invites: vec!["OLD".into()],
            addressing: GroupAddressing::Lid,
            parent: false,
            linked_parent: None,
        }
    }

    #[test]
    fn who_may_change_what() {
        let mut g = group();
        assert!(g.is_admin("1") && !g.is_admin("2") && !g.is_admin("3"));
        assert!(!g.needs_admin("subject") && g.needs_admin("add") && g.needs_admin("announcement"));
        g.locked = true;
        g.all_member_add = true;
        assert!(g.needs_admin("subject") && g.needs_admin("ephemeral") && !g.needs_admin("add"));
        assert!(!g.needs_admin("leave"));
    }

    #[test]
    fn invite_codes_current_and_revoked() {
        let mut groups = Groups::default();
        groups.by_id.insert("1".into(), group());
        assert!(groups.by_invite("CODE").is_some_and(|(_, live)| live));
        assert!(groups.by_invite("OLD").is_some_and(|(_, live)| !live));
        assert!(groups.by_invite("NONE").is_none());
        assert_eq!(groups.of_member("2").count(), 1);
        assert_eq!(groups.of_member("3").count(), 0);
    }
}
