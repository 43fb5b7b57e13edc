//! A newsletter (WhatsApp channel) as the server keeps it: name and description with their
//! versions, the invite code, the picture, who owns, administers, follows and mutes it, and
//! its posts with their reactions and views. Accounts are kept by phone number; the handlers
//! (`newsletters`) name them as JIDs. [`Newsletter`] is the snapshot a control call hands out.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use serde::Serialize;

/// Most posts one `message_updates` answer carries, whatever `count` asks for.
pub const MAX_UPDATES: usize = 100;
/// The first server id of a newsletter's posts (WhatsApp's start above 0; clients must not
/// assume 1).
pub const FIRST_SERVER_ID: u64 = 100;

/// What an account is to a newsletter. A guest (not following) has no role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum NewsletterRole {
    Subscriber,
    Admin,
    Owner,
}

impl NewsletterRole {
    /// As the GraphQL answers and participant notifications spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Subscriber => "SUBSCRIBER",
            Self::Admin => "ADMIN",
            Self::Owner => "OWNER",
        }
    }

    /// From its wire spelling (any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "SUBSCRIBER" => Some(Self::Subscriber),
            "ADMIN" => Some(Self::Admin),
            "OWNER" => Some(Self::Owner),
            _ => None,
        }
    }
}

/// A text field with the version WhatsApp attaches (`id`, `update_time`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    pub text: String,
    pub id: u64,
    /// Seconds.
    pub time: u64,
}

/// The channel's picture: only its id and path are kept (nothing downloads it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    pub id: String,
    pub direct_path: String,
}

/// One post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Post {
    pub server_id: u64,
    /// The message id its sender gave it.
    pub id: String,
    /// Phone number of the sending account (to spot a resend of the same id).
    pub sender: String,
    /// Seconds.
    pub t: u64,
    /// The stanza `type` (`text`, `media`, ...).
    pub kind: String,
    /// The encoded `proto.Message` (newsletters are not end-to-end encrypted).
    pub plaintext: Vec<u8>,
    /// Each account's reaction (one per account; a new one replaces the old).
    pub reactions: BTreeMap<String, String>,
    /// Accounts that viewed it (a view counts once per account).
    pub viewers: BTreeSet<String>,
}

impl Post {
    /// Reactions as WhatsApp reports them: code -> how many accounts chose it.
    pub fn reaction_counts(&self) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        for code in self.reactions.values() {
            *counts.entry(code.clone()).or_insert(0) += 1;
        }
        counts
    }
}

/// One newsletter.
#[derive(Debug, Clone)]
pub struct NewsletterRecord {
    /// The user part of `…@newsletter`.
    pub id: String,
    pub name: Versioned,
    pub description: Versioned,
    /// Seconds.
    pub creation: u64,
    pub invite: String,
    pub picture: Option<Picture>,
    pub owner: String,
    /// Admins (owner excluded). Every admin also follows.
    pub admins: BTreeSet<String>,
    /// Every account that follows, admins included, the owner excluded (WhatsApp's
    /// `subscribers_count` leaves the owner out).
    pub followers: BTreeSet<String>,
    pub muted: BTreeSet<String>,
    pub deleted: bool,
    /// Posts in server id order.
    pub posts: Vec<Post>,
    pub next_server_id: u64,
}

impl NewsletterRecord {
    pub fn new(
        id: String,
        owner: String,
        name: Versioned,
        description: Versioned,
        invite: String,
    ) -> Self {
        Self {
            id,
            creation: name.time,
            name,
            description,
            invite,
            picture: None,
            owner,
            admins: BTreeSet::new(),
            followers: BTreeSet::new(),
            muted: BTreeSet::new(),
            deleted: false,
            posts: Vec::new(),
            next_server_id: FIRST_SERVER_ID,
        }
    }

    pub fn jid(&self) -> String {
        format!("{}@newsletter", self.id)
    }

    /// The role of `number`, `None` for a guest.
    pub fn role(&self, number: &str) -> Option<NewsletterRole> {
        if self.owner == number {
            Some(NewsletterRole::Owner)
        } else if self.admins.contains(number) {
            Some(NewsletterRole::Admin)
        } else if self.followers.contains(number) {
            Some(NewsletterRole::Subscriber)
        } else {
            None
        }
    }

    /// Owner or admin: may post, change the metadata, and hears every reaction and view.
    pub fn is_admin(&self, number: &str) -> bool {
        matches!(
            self.role(number),
            Some(NewsletterRole::Owner | NewsletterRole::Admin)
        )
    }

    /// The owner and the admins.
    pub fn managers(&self) -> Vec<String> {
        std::iter::once(self.owner.clone())
            .chain(self.admins.iter().cloned())
            .collect()
    }

    /// Everyone who gets posts: the owner and every follower (admins are followers).
    pub fn audience(&self) -> Vec<String> {
        std::iter::once(self.owner.clone())
            .chain(self.followers.iter().cloned())
            .collect()
    }

    /// Follows (idempotent: the owner and admins keep their role).
    pub fn follow(&mut self, number: &str) {
        if self.owner != number {
            self.followers.insert(number.to_owned());
        }
    }

    /// Stops following (an admin loses the role with it). The owner cannot: `false`.
    pub fn unfollow(&mut self, number: &str) -> bool {
        if self.owner == number {
            return false;
        }
        self.followers.remove(number);
        self.admins.remove(number);
        self.muted.remove(number);
        true
    }

    /// Sets a non-owner's role (following as well). `false` for the owner, whose role only
    /// changes by handing the ownership to an admin.
    pub fn set_role(&mut self, number: &str, role: NewsletterRole) -> bool {
        if self.owner == number || role == NewsletterRole::Owner {
            return false;
        }
        self.followers.insert(number.to_owned());
        if role == NewsletterRole::Admin {
            self.admins.insert(number.to_owned());
        } else {
            self.admins.remove(number);
        }
        true
    }

    /// Hands the ownership to an admin; the old owner stays as an admin. `false` when
    /// `number` is not an admin.
    pub fn change_owner(&mut self, number: &str) -> bool {
        if !self.admins.contains(number) {
            return false;
        }
        let old = std::mem::replace(&mut self.owner, number.to_owned());
        self.admins.remove(number);
        self.followers.remove(number);
        self.admins.insert(old.clone());
        self.followers.insert(old);
        true
    }

    pub fn post(&self, server_id: u64) -> Option<&Post> {
        self.posts.iter().find(|p| p.server_id == server_id)
    }

    pub fn post_mut(&mut self, server_id: u64) -> Option<&mut Post> {
        self.posts.iter_mut().find(|p| p.server_id == server_id)
    }

    /// A post `sender` already made with message id `id` (a resend after a lost ack).
    pub fn post_by_id(&self, sender: &str, id: &str) -> Option<&Post> {
        self.posts.iter().find(|p| p.sender == sender && p.id == id)
    }

    /// Stores a post under the next server id and returns that id.
    pub fn add_post(
        &mut self,
        sender: &str,
        id: &str,
        t: u64,
        kind: &str,
        plaintext: Vec<u8>,
    ) -> u64 {
        let server_id = self.next_server_id;
        self.next_server_id += 1;
        self.posts.push(Post {
            server_id,
            id: id.to_owned(),
            sender: sender.to_owned(),
            t,
            kind: kind.to_owned(),
            plaintext,
            reactions: BTreeMap::new(),
            viewers: BTreeSet::new(),
        });
        server_id
    }

    /// What `message_updates` answers: posts with `t >= since` and `server_id > after`,
    /// the newest `count` of them (at most [`MAX_UPDATES`]), oldest first.
    pub fn updates(&self, count: usize, since: Option<u64>, after: Option<u64>) -> Vec<&Post> {
        let matching: Vec<&Post> = self
            .posts
            .iter()
            .filter(|p| since.is_none_or(|s| p.t >= s))
            .filter(|p| after.is_none_or(|a| p.server_id > a))
            .collect();
        let keep = count.min(MAX_UPDATES);
        matching[matching.len().saturating_sub(keep)..].to_vec()
    }

    /// The snapshot a control call returns.
    pub fn snapshot(&self) -> Newsletter {
        let pn = |n: &String| format!("{n}@s.whatsapp.net");
        Newsletter {
            id: self.jid(),
            name: self.name.text.clone(),
            description: self.description.text.clone(),
            invite: self.invite.clone(),
            owner: pn(&self.owner),
            admins: self.admins.iter().map(pn).collect(),
            followers: self.followers.iter().map(pn).collect(),
            muted: self.muted.iter().map(pn).collect(),
            picture_id: self.picture.as_ref().map(|p| p.id.clone()),
            deleted: self.deleted,
            messages: self
                .posts
                .iter()
                .map(|p| NewsletterPost {
                    server_id: p.server_id,
                    id: p.id.clone(),
                    t: p.t,
                    kind: p.kind.clone(),
                    plaintext: p.plaintext.clone(),
                    reactions: p.reaction_counts(),
                    views: p.viewers.len() as u64,
                })
                .collect(),
        }
    }
}

/// A newsletter as a test sees it (`Server::newsletter`); serialised (camelCase) it is what
/// the JS control returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Newsletter {
    /// `…@newsletter`
    pub id: String,
    pub name: String,
    pub description: String,
    pub invite: String,
    /// Phone-number JIDs, from here on.
    pub owner: String,
    pub admins: Vec<String>,
    /// Every follower, admins included, the owner not.
    pub followers: Vec<String>,
    pub muted: Vec<String>,
    pub picture_id: Option<String>,
    pub deleted: bool,
    pub messages: Vec<NewsletterPost>,
}

/// One post of a [`Newsletter`] snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewsletterPost {
    pub server_id: u64,
    pub id: String,
    pub t: u64,
    #[serde(rename = "type")]
    pub kind: String,
    /// The encoded `proto.Message`; base64 when serialised (JSON has no bytes).
    #[serde(serialize_with = "base64_bytes")]
    pub plaintext: Vec<u8>,
    /// Reaction code -> how many accounts chose it.
    pub reactions: BTreeMap<String, u64>,
    pub views: u64,
}

fn base64_bytes<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Every newsletter of a server, deleted ones included (they answer 404 but stay visible to
/// the controls).
#[derive(Debug, Default)]
pub struct Newsletters {
    pub by_id: BTreeMap<String, NewsletterRecord>,
    /// Newsletters made so far (part of the next id).
    pub made: u64,
    /// Versions handed out for names, descriptions and pictures.
    pub versions: u64,
}

impl Newsletters {
    /// A newsletter that is not deleted, by the user part of its JID.
    pub fn live(&self, id: &str) -> Option<&NewsletterRecord> {
        self.by_id.get(id).filter(|n| !n.deleted)
    }

    pub fn live_mut(&mut self, id: &str) -> Option<&mut NewsletterRecord> {
        self.by_id.get_mut(id).filter(|n| !n.deleted)
    }

    /// A live newsletter by its invite code.
    pub fn by_invite(&self, code: &str) -> Option<&NewsletterRecord> {
        self.by_id.values().find(|n| !n.deleted && n.invite == code)
    }

    /// A fresh version number (names, descriptions, pictures).
    pub fn next_version(&mut self) -> u64 {
        self.versions += 1;
        self.versions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> NewsletterRecord {
        let v = |t: &str| Versioned {
            text: t.into(),
            id: 1,
            time: 10,
        };
        NewsletterRecord::new("1".into(), "100".into(), v("n"), v("d"), "CODE".into())
    }

    #[test]
    fn roles_follow_and_ownership() {
        let mut n = record();
        assert_eq!(n.role("100"), Some(NewsletterRole::Owner));
        assert_eq!(n.role("200"), None);
        n.follow("200");
        n.follow("100");
        assert!(n.followers.contains("200") && !n.followers.contains("100"));
        assert!(n.set_role("200", NewsletterRole::Admin));
        assert!(!n.set_role("100", NewsletterRole::Admin));
        n.follow("200");
        assert_eq!(n.role("200"), Some(NewsletterRole::Admin));
        assert!(!n.change_owner("300"));
        assert!(n.change_owner("200"));
        assert_eq!(n.role("200"), Some(NewsletterRole::Owner));
        assert_eq!(n.role("100"), Some(NewsletterRole::Admin));
        assert_eq!(n.managers(), vec!["200".to_owned(), "100".to_owned()]);
        assert!(!n.unfollow("200"));
        assert!(n.unfollow("100"));
        assert_eq!(n.role("100"), None);
        assert!(n.followers.is_empty());
    }

    #[test]
    fn updates_filter_and_cap() {
        let mut n = record();
        for i in 0..150u64 {
            n.add_post("100", &format!("m{i}"), 1_000 + i, "text", vec![]);
        }
        let all = n.updates(1_000, None, None);
        assert_eq!(all.len(), MAX_UPDATES);
        assert_eq!(all[0].server_id, FIRST_SERVER_ID + 50);
        let newest = n.updates(2, None, None);
        assert_eq!(
            newest.iter().map(|p| p.server_id).collect::<Vec<_>>(),
            vec![248, 249]
        );
        assert_eq!(n.updates(100, Some(1_148), None).len(), 2);
        assert_eq!(n.updates(100, None, Some(247)).len(), 2);
        assert!(n.updates(0, None, None).is_empty());
    }

    #[test]
    fn snapshot_counts_reactions_and_views() {
        let mut n = record();
        let s = n.add_post("100", "A", 5, "text", vec![1, 2]);
        let p = n.post_mut(s).unwrap();
        p.reactions.insert("1".into(), "👍".into());
        p.reactions.insert("2".into(), "👍".into());
        p.reactions.insert("3".into(), "❤".into());
        p.viewers.insert("1".into());
        let json = serde_json::to_value(n.snapshot()).unwrap();
        let m = &json["messages"][0];
        assert_eq!(m["serverId"], 100);
        assert_eq!(m["type"], "text");
        assert_eq!(m["plaintext"], "AQI=");
        assert_eq!(m["reactions"]["👍"], 2);
        assert_eq!(m["views"], 1);
        assert_eq!(json["owner"], "100@s.whatsapp.net");
        assert_eq!(json["pictureId"], serde_json::Value::Null);
    }
}
