//! Groups on the wire, both directions: the `w:g2` IQs (create, metadata, participating, leave,
//! subject, description, participants and roles, settings, invites, join requests,
//! disappearing messages, community links), the `w:gp2` notification every change sends to
//! the members' devices, the fan-out of group and status messages (each device gets the
//! `skmsg` plus its own `<enc>`, the sender-key distribution carrier, when the sender gave
//! one), and receipts in groups, which travel back to the device that sent the message.
//!
//! Shapes follow what Baileys 7 sends and reads (`groups.js` and its `extractGroupMetadata`,
//! the group branch of `relayMessage`, `handleGroupNotification`, `handleReceipt`), with
//! whatsmeow's `group.go` as the second reader. A group names its members by LID (with
//! `phone_number`) or by phone number (with `lid`), as its addressing mode says.

use wa_binary::{Content, Jid, Node};

use crate::config::GroupAddressing;
use crate::delivery::deliver;
use crate::group::{Description, Group, MAX_DESCRIPTION_CHARS, MAX_SUBJECT_CHARS, Role};
use crate::nodes::{self, attr};
use crate::state::{ConnId, DeviceAddr, SentRecord, State};

/// Negative ack for a message to a group the sender is not a member of (or, in an
/// announcement group, is not an admin of).
pub const NACK_NOT_IN_GROUP: &str = "403";
/// Negative ack for a message to a group the server does not know.
pub const NACK_UNKNOWN_GROUP: &str = "404";

fn message_ack(id: &str, from: &str, t: u64) -> Node {
    Node::new("ack")
        .attr("class", "message")
        .attr("id", id.to_owned())
        .attr("from", from.to_owned())
        .attr("t", t.to_string())
}

// ---- naming members ----------------------------------------------------------------------

/// A member's user JID, by LID or by phone number.
fn user_jid(state: &State, number: &str, lid: bool) -> String {
    match state.accounts.get(number) {
        Some(a) if lid => a.lid_jid(),
        Some(a) => a.pn_jid(),
        None => format!("{number}@s.whatsapp.net"),
    }
}

/// `<participant jid phone_number|lid type?/>`: what Baileys' `extractGroupMetadata` and
/// `handleGroupNotification` read (`phone_number` beside a LID, `lid` beside a phone number).
fn participant_node(state: &State, number: &str, role: Option<Role>, lid: bool) -> Node {
    let p = Node::new("participant").attr("jid", user_jid(state, number, lid));
    let mut p = p.attr(
        if lid { "phone_number" } else { "lid" },
        user_jid(state, number, !lid),
    );
    if let Some(t) = role.and_then(Role::attr) {
        p = p.attr("type", t);
    }
    p
}

/// The account a user or device JID (PN or LID) names.
fn account_number(state: &State, jid: &str) -> Option<String> {
    let j = Jid::parse(jid).ok()?;
    state.account_of(&j).map(|a| a.number.clone())
}

/// The `<group>` node of a metadata answer, a create answer and notification, and
/// `participating`: every field `extractGroupMetadata` reads.
pub(crate) fn group_node(state: &State, g: &Group) -> Node {
    let lid = g.lid();
    let mut children = Vec::with_capacity(g.members.len() + 8);
    for (n, r) in &g.members {
        children.push(participant_node(state, n, Some(*r), lid));
    }
    if let Some(d) = &g.description {
        let mut desc = Node::new("description")
            .attr("id", d.id.clone())
            .attr("participant", user_jid(state, &d.owner, lid));
        if lid {
            desc = desc.attr("participant_pn", user_jid(state, &d.owner, false));
        }
        children.push(
            desc.attr("t", d.time.to_string())
                .children(vec![Node::new("body").bytes(d.body.as_bytes().to_vec())]),
        );
    }
    if g.announce {
        children.push(Node::new("announcement"));
    }
    if g.locked {
        children.push(Node::new("locked"));
    }
    if g.approval {
        children.push(
            Node::new("membership_approval_mode")
                .children(vec![Node::new("group_join").attr("state", "on")]),
        );
    }
    children.push(Node::new("member_add_mode").text(if g.all_member_add {
        "all_member_add"
    } else {
        "admin_add"
    }));
    if g.ephemeral > 0 {
        children.push(Node::new("ephemeral").attr("expiration", g.ephemeral.to_string()));
    }
    if g.parent {
        children.push(Node::new("parent"));
    }
    if let Some(p) = &g.linked_parent {
        children.push(Node::new("linked_parent").attr("jid", p.clone()));
    }
    let mut n = Node::new("group")
        .attr("id", g.id.clone())
        .attr("addressing_mode", g.addressing.as_str())
        .attr("subject", g.subject.clone())
        .attr("s_t", g.subject_time.to_string())
        .attr("s_o", user_jid(state, &g.subject_owner, lid));
    if lid {
        n = n.attr("s_o_pn", user_jid(state, &g.subject_owner, false));
    }
    n = n
        .attr("creation", g.creation.to_string())
        .attr("creator", user_jid(state, &g.creator, lid));
    if lid {
        n = n.attr("creator_pn", user_jid(state, &g.creator, false));
    }
    n.attr("size", g.members.len().to_string())
        .children(children)
}

// ---- notifications -----------------------------------------------------------------------

/// Every device of these accounts (phones and companions), minus `except`.
fn member_devices(
    state: &State,
    numbers: &[String],
    except: Option<&DeviceAddr>,
) -> Vec<DeviceAddr> {
    let mut out = Vec::new();
    for n in numbers {
        let Some(a) = state.accounts.get(n) else {
            continue;
        };
        for d in a.device_ids() {
            let addr = DeviceAddr {
                number: n.clone(),
                device: d,
            };
            if Some(&addr) != except {
                out.push(addr);
            }
        }
    }
    out
}

/// `<notification type="w:gp2" from=group participant=actor ...>` with `child`, to every
/// companion of the accounts `to` (except the device that asked, which has the IQ's answer).
/// Phones take no notifications; seeded companions drop them.
fn notify(
    state: &mut State,
    g: &Group,
    actor: &str,
    to: &[String],
    child: Node,
    except: Option<&DeviceAddr>,
    now: u64,
) {
    let lid = g.lid();
    let participant = user_jid(state, actor, lid);
    let alt = user_jid(state, actor, !lid);
    let push_name = state.accounts.get(actor).map(|a| a.push_name.clone());
    for d in member_devices(state, to, except) {
        if d.device == 0 || state.silent.contains(&d) {
            continue;
        }
        let id = state.next_stanza_id();
        let mut n = Node::new("notification")
            .attr("from", g.jid())
            .attr("type", "w:gp2")
            .attr("id", id)
            .attr("participant", participant.clone())
            .attr(
                if lid {
                    "participant_pn"
                } else {
                    "participant_lid"
                },
                alt.clone(),
            );
        if let Some(p) = &push_name {
            n = n.attr("notify", p.clone());
        }
        let n = n
            .attr("addressing_mode", g.addressing.as_str())
            .attr("t", (now / 1000).to_string())
            .children(vec![child.clone()]);
        deliver(state, &d, "notification", n, now);
    }
}

/// Notifies every member (as the group is now).
fn notify_members(state: &mut State, gid: &str, actor: &str, child: Node, now: u64) {
    if let Some(g) = state.groups.get(gid).cloned() {
        notify(state, &g, actor, &g.numbers(), child, None, now);
    }
}

// ---- the IQs -----------------------------------------------------------------------------

fn bad_request(id: &str) -> Node {
    nodes::iq_error(id, 400, "bad-request")
}

fn forbidden(id: &str) -> Node {
    nodes::iq_error(id, 403, "forbidden")
}

fn not_found(id: &str) -> Node {
    nodes::iq_error(id, 404, "item-not-found")
}

/// A `w:g2` IQ from the device `addr`; the answer to send (from the JID it was sent to, as
/// WhatsApp answers: Baileys reads the group of an accepted v4 invite from it).
pub(crate) fn on_iq(state: &mut State, addr: &DeviceAddr, node: &Node, now: u64) -> Node {
    let id = attr(node, "id").unwrap_or_default();
    let to = node.get_attr("to").unwrap_or("");
    let mut reply = answer(state, addr, &id, node, now);
    if !to.is_empty() && Jid::parse(to).is_ok_and(|j| j.is_group()) {
        for (k, v) in &mut reply.attrs {
            if k == "from" {
                *v = to.to_owned().into();
            }
        }
    }
    reply
}

fn answer(state: &mut State, addr: &DeviceAddr, id: &str, node: &Node, now: u64) -> Node {
    let ty = node.get_attr("type").unwrap_or("");
    let Some(op) = node.child_nodes().first() else {
        return bad_request(id);
    };
    let Some(to) = node.get_attr("to").and_then(|t| Jid::parse(t).ok()) else {
        return bad_request(id);
    };
    if !to.is_group() {
        return bad_request(id);
    }
    if to.user.is_empty() {
        server_op(state, addr, id, ty, op, now)
    } else {
        group_op(state, addr, id, ty, op, &to.user, now)
    }
}

/// IQs to `@g.us`: about no one group in particular, or a group found by its invite code.
fn server_op(
    state: &mut State,
    addr: &DeviceAddr,
    id: &str,
    ty: &str,
    op: &Node,
    now: u64,
) -> Node {
    match (ty, op.tag.as_ref()) {
        ("set", "create") => create(state, addr, id, op, now),
        ("get", "participating") => participating(state, addr, id),
        ("set", "leave") => leave(state, addr, id, op, now),
        ("set", "invite") => join_by_link(state, addr, id, op, now),
        ("get", "invite") => {
            let Some(code) = op.get_attr("code") else {
                return bad_request(id);
            };
            match state.groups.by_invite(code) {
                Some((g, true)) => nodes::iq_result_with(id, vec![group_node(state, g)]),
                Some((_, false)) => nodes::iq_error(id, 410, "gone"),
                None => nodes::iq_error(id, 406, "not-acceptable"),
            }
        }
        _ => nodes::iq_error(id, 501, "feature-not-implemented"),
    }
}

/// A fresh group id: `120363` and 12 digits, as WhatsApp's current ids look, drawn from the
/// seed so a server started again with the same seed makes the same ids.
fn new_group_id(state: &mut State) -> String {
    loop {
        state.groups.made += 1;
        let n = state
            .seed
            .number(&format!("group {}", state.groups.made), 1_000_000_000_000);
        let id = format!("120363{n:012}");
        if !state.groups.by_id.contains_key(&id) {
            return id;
        }
    }
}

/// An invite code: 22 characters of base62, drawn from the seed.
fn invite_code(state: &mut State) -> String {
    let label = format!("invite {}", state.next_stanza_id());
    state
        .seed
        .bytes(&label)
        .iter()
        .take(22)
        .map(|b| {
            let c = b % 62;
            char::from(match c {
                0..=9 => b'0' + c,
                10..=35 => b'A' + (c - 10),
                _ => b'a' + (c - 36),
            })
        })
        .collect()
}

/// What a group is made with: a subject, its creator, members, and the options `<create>`
/// may carry (whatsmeow sends them; Baileys sends members only).
struct NewGroup {
    subject: String,
    creator: String,
    members: Vec<String>,
    key: Option<String>,
    options: Option<Node>,
}

/// Makes a group and notifies its members (`<create>` with the `<group>`), except `except`.
fn make_group(state: &mut State, new: NewGroup, except: Option<&DeviceAddr>, now: u64) -> Group {
    let t = now / 1000;
    let mut g = Group {
        id: new_group_id(state),
        subject: new.subject,
        subject_owner: new.creator.clone(),
        subject_time: t,
        creator: new.creator.clone(),
        creation: t,
        create_key: new.key.clone(),
        description: None,
        members: [(new.creator.clone(), Role::SuperAdmin)]
            .into_iter()
            .collect(),
        announce: false,
        locked: false,
        all_member_add: false,
        approval: false,
        requests: Default::default(),
        ephemeral: 0,
        invite: invite_code(state),
        revoked_invites: Vec::new(),
        addressing: state.config.group_addressing,
        parent: false,
        linked_parent: None,
    };
    for m in new.members {
        g.members.entry(m).or_insert(Role::Member);
    }
    if let Some(op) = &new.options {
        g.locked = op.child("locked").is_some();
        g.announce = op.child("announcement").is_some();
        g.ephemeral = op
            .child("ephemeral")
            .and_then(|e| e.get_attr("expiration"))
            .and_then(|e| e.parse().ok())
            .unwrap_or(0);
        g.approval = op
            .child("membership_approval_mode")
            .and_then(|m| m.child("group_join"))
            .is_some_and(|j| j.get_attr("state") == Some("on"));
        g.all_member_add = op
            .child("member_add_mode")
            .and_then(nodes::content_text)
            .is_some_and(|m| m == "all_member_add");
        g.parent = op.child("parent").is_some();
        g.linked_parent = op
            .child("linked_parent")
            .and_then(|l| l.get_attr("jid"))
            .and_then(|p| Jid::parse(p).ok())
            .filter(|p| p.is_group() && state.groups.by_id.contains_key(&p.user))
            .map(|p| p.to_string());
        g.description = op.child("description").and_then(|d| {
            Some(Description {
                id: attr(d, "id")?,
                body: d.child("body").and_then(nodes::content_text)?,
                owner: new.creator.clone(),
                time: t,
            })
        });
    }
    state.groups.by_id.insert(g.id.clone(), g.clone());
    let mut create = Node::new("create");
    if let Some(k) = &new.key {
        create = create.attr("key", k.clone());
    }
    let create = create.children(vec![group_node(state, &g)]);
    notify(state, &g, &new.creator, &g.numbers(), create, except, now);
    g
}

/// `<create subject key><participant jid/>...</create>`: the creator is the superadmin;
/// participants the server does not know are left out. The same `key` again (a client
/// retrying) answers with the group made the first time.
fn create(state: &mut State, addr: &DeviceAddr, id: &str, op: &Node, now: u64) -> Node {
    let Some(subject) = attr(op, "subject").filter(|s| !s.trim().is_empty()) else {
        return bad_request(id);
    };
    if subject.chars().count() > MAX_SUBJECT_CHARS {
        return nodes::iq_error(id, 406, "not-acceptable");
    }
    let key = attr(op, "key");
    if let Some(k) = &key
        && let Some(g) = state.groups.by_create_key(&addr.number, k)
    {
        return nodes::iq_result_with(id, vec![group_node(state, g)]);
    }
    let members = op
        .children_by_tag("participant")
        .filter_map(|p| p.get_attr("jid"))
        .filter_map(|j| account_number(state, j))
        .collect();
    let g = make_group(
        state,
        NewGroup {
            subject,
            creator: addr.number.clone(),
            members,
            key,
            options: Some(op.clone()),
        },
        Some(addr),
        now,
    );
    nodes::iq_result_with(id, vec![group_node(state, &g)])
}

/// `<participating>`: `<groups>` with a `<group>` (participants and description included) for
/// each group the account is in, and `<communities>` for the communities among them.
fn participating(state: &State, addr: &DeviceAddr, id: &str) -> Node {
    let mut list = Vec::new();
    let mut communities = Vec::new();
    for g in state.groups.of_member(&addr.number) {
        let n = group_node(state, g);
        if g.parent {
            let mut c = n.clone();
            c.tag = "community".into();
            communities.push(c);
        }
        list.push(n);
    }
    nodes::iq_result_with(
        id,
        vec![
            Node::new("groups").children(list),
            Node::new("communities").children(communities),
        ],
    )
}

/// `<leave><group id/>...</leave>` (`<community id/>` for a community): each group the
/// account is in loses it (a `<remove>` of itself by itself, which Baileys shows as a leave);
/// the answer lists the groups, with `error` for one it is not in. A group nobody is left in
/// is gone.
fn leave(state: &mut State, addr: &DeviceAddr, id: &str, op: &Node, now: u64) -> Node {
    let targets: Vec<&str> = op
        .child_nodes()
        .iter()
        .filter(|c| c.tag == "group" || c.tag == "community")
        .filter_map(|c| c.get_attr("id"))
        .collect();
    if targets.is_empty() {
        return bad_request(id);
    }
    let me = addr.number.clone();
    let mut answers = Vec::new();
    for t in targets {
        let gid = Jid::parse(t).map_or_else(|_| t.to_owned(), |j| j.user);
        let mut g = Node::new("group").attr("id", t.to_owned());
        if state.groups.get(&gid).is_some_and(|g| g.is_member(&me)) {
            remove_members(state, &gid, &me, std::slice::from_ref(&me), now);
            if state.groups.get(&gid).is_some_and(|g| g.members.is_empty()) {
                state.groups.by_id.remove(&gid);
            }
        } else {
            g = g.attr("error", "404");
        }
        answers.push(g);
    }
    nodes::iq_result_with(id, vec![Node::new("leave").children(answers)])
}

/// `<invite code>` to `@g.us`: join by link. 406 for a code never issued, 410 for one reset
/// away; in a group that needs approval, a join request (`<membership_approval_request>`,
/// admins notified) instead.
fn join_by_link(state: &mut State, addr: &DeviceAddr, id: &str, op: &Node, now: u64) -> Node {
    let Some(code) = op.get_attr("code") else {
        return bad_request(id);
    };
    let (gid, parent) = match state.groups.by_invite(code) {
        Some((g, true)) => (g.id.clone(), g.parent),
        Some((_, false)) => return nodes::iq_error(id, 410, "gone"),
        None => return nodes::iq_error(id, 406, "not-acceptable"),
    };
    let jid = format!("{gid}@g.us");
    let me = addr.number.clone();
    if let Some(g) = state.groups.get(&gid)
        && g.approval
        && !g.is_member(&me)
    {
        request_to_join(state, &gid, &me, now);
        return nodes::iq_result_with(
            id,
            vec![Node::new("membership_approval_request").attr("jid", jid)],
        );
    }
    add_members(
        state,
        &gid,
        &me,
        std::slice::from_ref(&me),
        Some("invite"),
        now,
    );
    let tag = if parent { "community" } else { "group" };
    nodes::iq_result_with(id, vec![Node::new(tag).attr("jid", jid)])
}

/// A pending join request; the admins hear of it (`created_membership_requests`).
fn request_to_join(state: &mut State, gid: &str, number: &str, now: u64) {
    let Some(g) = state.groups.get_mut(gid) else {
        return;
    };
    if g.requests.contains_key(number) {
        return;
    }
    g.requests.insert(number.to_owned(), now / 1000);
    let g = g.clone();
    let child = Node::new("created_membership_requests")
        .attr("request_method", "invite_link")
        .children(vec![participant_node(state, number, None, g.lid())]);
    notify(state, &g, number, &g.admins(), child, None, now);
}

/// IQs to one group.
fn group_op(
    state: &mut State,
    addr: &DeviceAddr,
    id: &str,
    ty: &str,
    op: &Node,
    gid: &str,
    now: u64,
) -> Node {
    let Some(g) = state.groups.get(gid).cloned() else {
        return not_found(id);
    };
    let me = addr.number.clone();
    let tag = op.tag.to_string();
    if ty == "set" && tag == "accept" {
        return accept_v4(state, addr, id, op, &g, now);
    }
    if !g.is_member(&me) {
        return forbidden(id);
    }
    if ty == "set" && g.needs_admin(&tag) && !g.is_admin(&me) {
        return forbidden(id);
    }
    match (ty, tag.as_str()) {
        ("get", "query") => nodes::iq_result_with(id, vec![group_node(state, &g)]),
        ("set", "subject") => set_subject(state, id, op, &g, &me, now),
        ("set", "description") => set_description(state, id, op, &g, &me, now),
        ("set", "add" | "remove" | "promote" | "demote") => {
            change_participants(state, id, op, &g, &me, now)
        }
        ("set", "announcement" | "not_announcement" | "locked" | "unlocked") => {
            if let Some(gm) = state.groups.get_mut(gid) {
                match tag.as_str() {
                    "announcement" => gm.announce = true,
                    "not_announcement" => gm.announce = false,
                    "locked" => gm.locked = true,
                    _ => gm.locked = false,
                }
            }
            notify_members(state, gid, &me, Node::new(tag), now);
            nodes::iq_result(id)
        }
        ("set", "member_add_mode") => {
            let mode = nodes::content_text(op).unwrap_or_default();
            if mode != "admin_add" && mode != "all_member_add" {
                return bad_request(id);
            }
            if let Some(gm) = state.groups.get_mut(gid) {
                gm.all_member_add = mode == "all_member_add";
            }
            notify_members(
                state,
                gid,
                &me,
                Node::new("member_add_mode").text(mode),
                now,
            );
            nodes::iq_result(id)
        }
        ("set", "membership_approval_mode") => {
            let Some(on) = op
                .child("group_join")
                .or_else(|| op.child("community_join"))
                .and_then(|j| j.get_attr("state"))
                .and_then(|s| match s {
                    "on" => Some(true),
                    "off" => Some(false),
                    _ => None,
                })
            else {
                return bad_request(id);
            };
            if let Some(gm) = state.groups.get_mut(gid) {
                gm.approval = on;
            }
            let child = Node::new("membership_approval_mode").children(vec![
                Node::new("group_join").attr("state", if on { "on" } else { "off" }),
            ]);
            notify_members(state, gid, &me, child, now);
            nodes::iq_result(id)
        }
        ("set", "ephemeral" | "not_ephemeral") => {
            let expiration: u32 = if tag == "ephemeral" {
                match op.get_attr("expiration").and_then(|e| e.parse().ok()) {
                    Some(e) if e > 0 => e,
                    _ => return bad_request(id),
                }
            } else {
                0
            };
            if let Some(gm) = state.groups.get_mut(gid) {
                gm.ephemeral = expiration;
            }
            let child = if expiration > 0 {
                Node::new("ephemeral").attr("expiration", expiration.to_string())
            } else {
                Node::new("not_ephemeral")
            };
            notify_members(state, gid, &me, child, now);
            nodes::iq_result(id)
        }
        ("get", "invite") => {
            if !g.is_admin(&me) {
                return forbidden(id);
            }
            nodes::iq_result_with(id, vec![Node::new("invite").attr("code", g.invite.clone())])
        }
        // Reset the link: the old code is refused from now on (410).
        ("set", "invite") => {
            let code = invite_code(state);
            if let Some(gm) = state.groups.get_mut(gid) {
                let old = std::mem::replace(&mut gm.invite, code.clone());
                gm.revoked_invites.push(old);
            }
            notify_members(
                state,
                gid,
                &me,
                Node::new("invite").attr("code", code.clone()),
                now,
            );
            nodes::iq_result_with(id, vec![Node::new("invite").attr("code", code)])
        }
        // A v4 invite (sent in a message) taken back: the server issues none, so nothing to do.
        ("set", "revoke") => nodes::iq_result(id),
        ("get", "membership_approval_requests") => {
            if !g.is_admin(&me) {
                return forbidden(id);
            }
            let lid = g.lid();
            let list = g
                .requests
                .iter()
                .map(|(n, t)| {
                    let p = participant_node(state, n, None, lid);
                    let mut r = Node::new("membership_approval_request");
                    r.attrs = p.attrs;
                    r.attr("request_method", "invite_link")
                        .attr("request_time", t.to_string())
                })
                .collect();
            nodes::iq_result_with(
                id,
                vec![Node::new("membership_approval_requests").children(list)],
            )
        }
        ("set", "membership_requests_action") => requests_action(state, id, op, &g, &me, now),
        ("get", "sub_groups") => {
            let parent = g.jid();
            let subs = state
                .groups
                .by_id
                .values()
                .filter(|s| s.linked_parent.as_deref() == Some(parent.as_str()))
                .map(|s| {
                    Node::new("group")
                        .attr("id", s.id.clone())
                        .attr("subject", s.subject.clone())
                        .attr("s_t", s.subject_time.to_string())
                        .attr("creation", s.creation.to_string())
                        .attr("creator", user_jid(state, &s.creator, s.lid()))
                        .attr("size", s.members.len().to_string())
                })
                .collect();
            nodes::iq_result_with(id, vec![Node::new("sub_groups").children(subs)])
        }
        ("set", "links" | "unlink") => {
            let parent = g.jid();
            let link = tag == "links";
            let subs: Vec<String> = if link {
                op.children_by_tag("link")
                    .flat_map(|l| l.children_by_tag("group"))
                    .filter_map(|s| s.get_attr("jid"))
                    .filter_map(|j| Jid::parse(j).ok())
                    .filter(|j| j.is_group())
                    .map(|j| j.user)
                    .collect()
            } else {
                op.children_by_tag("group")
                    .filter_map(|s| s.get_attr("jid"))
                    .filter_map(|j| Jid::parse(j).ok())
                    .filter(|j| j.is_group())
                    .map(|j| j.user)
                    .collect()
            };
            if subs.is_empty() {
                return bad_request(id);
            }
            for s in subs {
                if let Some(sg) = state.groups.get_mut(&s) {
                    if link {
                        sg.linked_parent = Some(parent.clone());
                    } else if sg.linked_parent.as_deref() == Some(parent.as_str()) {
                        sg.linked_parent = None;
                    }
                }
            }
            nodes::iq_result(id)
        }
        _ => nodes::iq_error(id, 501, "feature-not-implemented"),
    }
}

/// `<subject>` with the new subject as content; members get `<subject subject s_o s_t>`.
fn set_subject(state: &mut State, id: &str, op: &Node, g: &Group, me: &str, now: u64) -> Node {
    let Some(subject) = nodes::content_text(op).filter(|s| !s.trim().is_empty()) else {
        return bad_request(id);
    };
    if subject.chars().count() > MAX_SUBJECT_CHARS {
        return nodes::iq_error(id, 406, "not-acceptable");
    }
    let t = now / 1000;
    if let Some(gm) = state.groups.get_mut(&g.id) {
        gm.subject = subject.clone();
        gm.subject_owner = me.to_owned();
        gm.subject_time = t;
    }
    let lid = g.lid();
    let mut child = Node::new("subject")
        .attr("subject", subject)
        .attr("s_o", user_jid(state, me, lid));
    if lid {
        child = child.attr("s_o_pn", user_jid(state, me, false));
    }
    notify_members(state, &g.id, me, child.attr("s_t", t.to_string()), now);
    nodes::iq_result(id)
}

/// `<description id prev?><body/></description>` sets, `<description delete="true" prev?>`
/// removes. A `prev` that is not the current description's id is a lost race: 409.
fn set_description(state: &mut State, id: &str, op: &Node, g: &Group, me: &str, now: u64) -> Node {
    let delete = op.get_attr("delete") == Some("true");
    if let (Some(prev), Some(current)) = (op.get_attr("prev"), &g.description)
        && prev != current.id
    {
        return nodes::iq_error(id, 409, "conflict");
    }
    let t = now / 1000;
    let child = if delete {
        if let Some(gm) = state.groups.get_mut(&g.id) {
            gm.description = None;
        }
        let desc_id = attr(op, "id").unwrap_or_else(|| state.next_stanza_id());
        // whatsmeow reads the deletion from a `<delete>` child; Baileys from the missing body.
        Node::new("description")
            .attr("id", desc_id)
            .children(vec![Node::new("delete")])
    } else {
        let (Some(desc_id), Some(body)) = (
            attr(op, "id"),
            op.child("body").and_then(nodes::content_text),
        ) else {
            return bad_request(id);
        };
        if body.chars().count() > MAX_DESCRIPTION_CHARS {
            return nodes::iq_error(id, 406, "not-acceptable");
        }
        if let Some(gm) = state.groups.get_mut(&g.id) {
            gm.description = Some(Description {
                id: desc_id.clone(),
                body: body.clone(),
                owner: me.to_owned(),
                time: t,
            });
        }
        Node::new("description")
            .attr("id", desc_id)
            .children(vec![Node::new("body").bytes(body.into_bytes())])
    };
    notify_members(state, &g.id, me, child, now);
    nodes::iq_result(id)
}

/// `<add|remove|promote|demote><participant jid/>...`: each participant's result (200, or
/// `error`: 404 not on the server or not a member, 409 already a member, 403 the creator
/// removed or demoted by another admin); members hear of what changed.
fn change_participants(
    state: &mut State,
    id: &str,
    op: &Node,
    g: &Group,
    me: &str,
    now: u64,
) -> Node {
    let tag = op.tag.to_string();
    let asked: Vec<&str> = op
        .children_by_tag("participant")
        .filter_map(|p| p.get_attr("jid"))
        .collect();
    if asked.is_empty() {
        return bad_request(id);
    }
    let mut results: Vec<(String, u16)> = Vec::new();
    let mut changed: Vec<String> = Vec::new();
    let mut current = g.clone();
    for jid in asked {
        let Some(n) = account_number(state, jid) else {
            results.push((jid.to_owned(), 404));
            continue;
        };
        let role = current.role(&n);
        let code = match (tag.as_str(), role) {
            ("add", Some(_)) => 409,
            ("add", None) => {
                current.members.insert(n.clone(), Role::Member);
                200
            }
            (_, None) => 404,
            ("remove" | "demote", Some(Role::SuperAdmin)) if n != me => 403,
            ("remove", Some(_)) => {
                current.members.remove(&n);
                200
            }
            ("promote", Some(r)) => {
                if r == Role::Member {
                    current.members.insert(n.clone(), Role::Admin);
                }
                200
            }
            (_, Some(_)) => {
                current.members.insert(n.clone(), Role::Member);
                200
            }
        };
        if code == 200 && !changed.contains(&n) {
            changed.push(n);
        }
        results.push((jid.to_owned(), code));
    }
    if !changed.is_empty() {
        match tag.as_str() {
            "add" => add_members(state, &g.id, me, &changed, None, now),
            "remove" => remove_members(state, &g.id, me, &changed, now),
            _ => {
                let promote = tag == "promote";
                if let Some(gm) = state.groups.get_mut(&g.id) {
                    for n in &changed {
                        if let Some(r) = gm.members.get_mut(n) {
                            *r = match (*r, promote) {
                                (Role::SuperAdmin, _) => Role::SuperAdmin,
                                (_, true) => Role::Admin,
                                (_, false) => Role::Member,
                            };
                        }
                    }
                }
                let lid = g.lid();
                let parts = changed
                    .iter()
                    .map(|n| participant_node(state, n, promote.then_some(Role::Admin), lid))
                    .collect();
                notify_members(
                    state,
                    &g.id,
                    me,
                    Node::new(tag.clone()).children(parts),
                    now,
                );
            }
        }
    }
    let list = results
        .into_iter()
        .map(|(jid, code)| {
            let p = Node::new("participant").attr("jid", jid);
            if code == 200 {
                p
            } else {
                p.attr("error", code.to_string())
            }
        })
        .collect();
    nodes::iq_result_with(id, vec![Node::new(tag).children(list)])
}

/// Adds accounts that are not members yet (dropping their join requests); every member,
/// the new ones included, gets `<add reason?>`.
fn add_members(
    state: &mut State,
    gid: &str,
    actor: &str,
    who: &[String],
    reason: Option<&str>,
    now: u64,
) {
    let Some(g) = state.groups.get_mut(gid) else {
        return;
    };
    let mut added = Vec::new();
    for n in who {
        if !g.members.contains_key(n) {
            g.members.insert(n.clone(), Role::Member);
            added.push(n.clone());
        }
        g.requests.remove(n);
    }
    if added.is_empty() {
        return;
    }
    let g = g.clone();
    let parts = added
        .iter()
        .map(|n| participant_node(state, n, None, g.lid()))
        .collect();
    let mut child = Node::new("add");
    if let Some(r) = reason {
        child = child.attr("reason", r.to_owned());
    }
    notify(
        state,
        &g,
        actor,
        &g.numbers(),
        child.children(parts),
        None,
        now,
    );
}

/// Removes members; the members before the change (the removed included) get `<remove>`.
fn remove_members(state: &mut State, gid: &str, actor: &str, who: &[String], now: u64) {
    let Some(g) = state.groups.get_mut(gid) else {
        return;
    };
    let before = g.clone();
    let removed: Vec<String> = who
        .iter()
        .filter(|n| g.members.remove(n.as_str()).is_some())
        .cloned()
        .collect();
    if removed.is_empty() {
        return;
    }
    let parts = removed
        .iter()
        .map(|n| participant_node(state, n, None, before.lid()))
        .collect();
    notify(
        state,
        &before,
        actor,
        &before.numbers(),
        Node::new("remove").children(parts),
        None,
        now,
    );
}

/// `<membership_requests_action><approve|reject><participant jid/>...`: per participant 200,
/// or 404 without a pending request. Approved requesters are added; rejected ones and the
/// admins get `revoked_membership_requests`.
fn requests_action(state: &mut State, id: &str, op: &Node, g: &Group, me: &str, now: u64) -> Node {
    let Some(action) = op.child_nodes().first() else {
        return bad_request(id);
    };
    let approve = match action.tag.as_ref() {
        "approve" => true,
        "reject" => false,
        _ => return bad_request(id),
    };
    let mut results = Vec::new();
    let mut done = Vec::new();
    for jid in action
        .children_by_tag("participant")
        .filter_map(|p| p.get_attr("jid"))
    {
        match account_number(state, jid).filter(|n| g.requests.contains_key(n)) {
            Some(n) => {
                results.push(Node::new("participant").attr("jid", jid.to_owned()));
                if !done.contains(&n) {
                    done.push(n);
                }
            }
            None => results.push(
                Node::new("participant")
                    .attr("jid", jid.to_owned())
                    .attr("error", "404"),
            ),
        }
    }
    if approve {
        add_members(state, &g.id, me, &done, None, now);
    } else if !done.is_empty() {
        if let Some(gm) = state.groups.get_mut(&g.id) {
            for n in &done {
                gm.requests.remove(n);
            }
        }
        let parts = done
            .iter()
            .map(|n| participant_node(state, n, None, g.lid()))
            .collect();
        let mut to = g.admins();
        to.extend(done.iter().cloned());
        notify(
            state,
            g,
            me,
            &to,
            Node::new("revoked_membership_requests").children(parts),
            None,
            now,
        );
    }
    nodes::iq_result_with(
        id,
        vec![
            Node::new("membership_requests_action")
                .children(vec![Node::new(action.tag.clone()).children(results)]),
        ],
    )
}

/// `<accept code expiration admin>` to the group: a v4 invite (from a message) taken up. The
/// server issues no v4 codes of its own, so the group's link code is the one it accepts.
fn accept_v4(
    state: &mut State,
    addr: &DeviceAddr,
    id: &str,
    op: &Node,
    g: &Group,
    now: u64,
) -> Node {
    let Some(code) = op.get_attr("code") else {
        return bad_request(id);
    };
    if g.is_member(&addr.number) {
        return nodes::iq_result(id);
    }
    if code != g.invite {
        return nodes::iq_error(id, 406, "not-acceptable");
    }
    let me = addr.number.clone();
    add_members(
        state,
        &g.id,
        &me,
        std::slice::from_ref(&me),
        Some("invite"),
        now,
    );
    nodes::iq_result(id)
}

// ---- control calls -----------------------------------------------------------------------

/// A group made by `creator`'s phone (a control call): members by phone number or LID JID.
pub(crate) fn create_by_phone(
    state: &mut State,
    creator: &str,
    subject: &str,
    members: &[String],
    now: u64,
) -> Option<String> {
    let creator = account_number(state, creator)?;
    let members = members
        .iter()
        .filter_map(|m| account_number(state, m))
        .collect();
    let g = make_group(
        state,
        NewGroup {
            subject: subject.to_owned(),
            creator,
            members,
            key: None,
            options: None,
        },
        None,
        now,
    );
    Some(g.jid())
}

/// Adds or removes members of a group as `actor`'s phone (a control call), with the
/// notifications a companion's change would send.
pub(crate) fn change_by_phone(
    state: &mut State,
    group: &str,
    actor: &str,
    add: bool,
    members: &[String],
    now: u64,
) -> Option<()> {
    let gid = Jid::parse(group).ok().filter(Jid::is_group)?.user;
    let actor = account_number(state, actor)?;
    state.groups.get(&gid)?;
    let who: Vec<String> = members
        .iter()
        .filter_map(|m| account_number(state, m))
        .collect();
    if add {
        add_members(state, &gid, &actor, &who, None, now);
    } else {
        remove_members(state, &gid, &actor, &who, now);
    }
    Some(())
}

// ---- messages and receipts ---------------------------------------------------------------

/// A member's `<message to=group>` (or a status, `to=status@broadcast`): acked, then every
/// device of every other member and the sender's own other devices get
/// `<message from=group participant=sender ...>` with their own `<enc>` (when the sender gave
/// one) and the `skmsg`. A retry resend (`participant` names one device; one direct `<enc>`,
/// or that device's `<to>` and a fresh `skmsg`) goes to that device alone. `Err` is the negative ack's code.
pub(crate) fn route_message(
    state: &mut State,
    conn: ConnId,
    sender: &DeviceAddr,
    node: &Node,
    to: &Jid,
    now: u64,
) -> Result<(), &'static str> {
    let id = attr(node, "id").unwrap_or_default();
    let t = now / 1000;
    let status = to.is_status_broadcast();
    let (members, lid, chat) = if status {
        (Vec::new(), true, "status@broadcast".to_owned())
    } else {
        let g = state.groups.get(&to.user).ok_or(NACK_UNKNOWN_GROUP)?;
        if !g.is_member(&sender.number) || (g.announce && !g.is_admin(&sender.number)) {
            return Err(NACK_NOT_IN_GROUP);
        }
        (g.numbers(), g.lid(), g.jid())
    };
    // Each device's own <enc>, by the device its `<to jid>` names (LID or PN form).
    let mut own: Vec<(DeviceAddr, Node)> = Vec::new();
    if let Some(parts) = node.child("participants") {
        for p in parts.children_by_tag("to") {
            if let (Some(jid), Some(enc)) = (p.get_attr("jid"), p.child("enc"))
                && let Some(d) = state.device_of(jid)
            {
                own.push((d, enc.clone()));
            }
        }
    }
    let skmsg = node
        .children_by_tag("enc")
        .find(|e| e.get_attr("type") == Some("skmsg"))
        .cloned();
    let only = node
        .get_attr("participant")
        .and_then(|p| state.device_of(p));
    let direct = node
        .children_by_tag("enc")
        .find(|e| e.get_attr("type") != Some("skmsg"))
        .cloned();
    let key = (sender.number.clone(), id.clone());
    if only.is_none()
        && let Some(prev) = state.sent.get(&key)
    {
        // The same message again (a client resending after a lost ack): acked, not
        // delivered twice.
        state.stats.duplicates += 1;
        let t = prev.t;
        state.send(conn, &message_ack(&id, &chat, t), now);
        return Ok(());
    }
    // Recorded before the fan-out, so receipts find their way back.
    state.sent.entry(key).or_insert(SentRecord {
        sender: sender.clone(),
        t,
    });
    state.send(conn, &message_ack(&id, &chat, t), now);
    let targets: Vec<DeviceAddr> = match &only {
        // A resend goes to a member's device only.
        Some(d) if status || members.contains(&d.number) => vec![d.clone()],
        Some(_) => Vec::new(),
        None if status => own.iter().map(|(d, _)| d.clone()).collect(),
        None => member_devices(state, &members, Some(sender)),
    };
    let device_identity = node.child("device-identity").cloned();
    let from_jid = state.jid_of(sender, lid);
    let alt_jid = user_jid(state, &sender.number, !lid);
    let push_name = state
        .accounts
        .get(&sender.number)
        .map(|a| a.push_name.clone());
    for d in targets {
        if d == *sender {
            continue;
        }
        if state.silent.contains(&d) {
            state.stats.messages_routed += 1;
            continue;
        }
        // A resend names one device: its `<enc>` comes direct (our client) or in
        // `<participants>` beside a fresh `skmsg` (Baileys).
        let mine = match &only {
            Some(_) => direct
                .clone()
                .or_else(|| own.iter().find(|(a, _)| *a == d).map(|(_, e)| e.clone())),
            None => own.iter().find(|(a, _)| *a == d).map(|(_, e)| e.clone()),
        };
        let pkmsg = mine
            .as_ref()
            .is_some_and(|e| e.get_attr("type") == Some("pkmsg"));
        let mut children = Vec::with_capacity(3);
        children.extend(mine);
        if let Some(s) = &skmsg {
            children.push(s.clone());
        }
        if children.is_empty() {
            continue;
        }
        if pkmsg && let Some(di) = &device_identity {
            children.push(di.clone());
        }
        let mut m = Node::new("message")
            .attr("from", chat.clone())
            .attr("id", id.clone())
            .attr("participant", from_jid.clone())
            // Baileys reads the other form without a device (`extractAddressingContext`).
            .attr(
                if lid {
                    "participant_pn"
                } else {
                    "participant_lid"
                },
                alt_jid.clone(),
            )
            .attr("type", node.get_attr("type").unwrap_or("text").to_owned())
            .attr("t", t.to_string());
        if !status {
            m = m.attr("addressing_mode", if lid { "lid" } else { "pn" });
        }
        if let Some(p) = &push_name {
            m = m.attr("notify", p.clone());
        }
        for a in ["edit", "category", "expiration", "mediatype"] {
            if let Some(v) = node.get_attr(a) {
                m = m.attr(a, v.to_owned());
            }
        }
        deliver(state, &d, "message", m.children(children), now);
    }
    Ok(())
}

/// A receipt a device sent for a group (or status) message: `to` is the chat, `participant`
/// the message's sender. It goes to the device that sent the message as
/// `<receipt from=chat participant=the receipting device id type? t>` (the type kept, except
/// that a plain or `inactive` delivery arrives as a delivery receipt); retry receipts keep
/// their `<retry>`, `<registration>` and `<keys>`, so the sender can resend to that device.
pub(crate) fn relay_receipt(
    state: &mut State,
    addr: &DeviceAddr,
    node: &Node,
    id: &str,
    kind: Option<&str>,
    to: &Jid,
    now: u64,
) {
    let Some(sender_number) = node
        .get_attr("participant")
        .and_then(|p| account_number(state, p))
    else {
        return;
    };
    let Some(target) = state
        .sent
        .get(&(sender_number, id.to_owned()))
        .map(|s| s.sender.clone())
        .filter(|t| t != addr)
    else {
        return;
    };
    let (chat, lid) = if to.is_group() {
        match state.groups.get(&to.user) {
            Some(g) => (g.jid(), g.lid()),
            None => return,
        }
    } else {
        let lid = node
            .get_attr("participant")
            .is_some_and(|p| p.ends_with("@lid"));
        ("status@broadcast".to_owned(), lid)
    };
    let mut r = Node::new("receipt")
        .attr("from", chat)
        .attr("id", id.to_owned())
        .attr("participant", state.jid_of(addr, lid));
    match kind {
        None | Some("inactive") | Some("delivery") => {}
        Some(k) => r = r.attr("type", k.to_owned()),
    }
    r = r.attr(
        "t",
        node.get_attr("t")
            .map_or_else(|| (now / 1000).to_string(), str::to_owned),
    );
    if let Content::Nodes(children) = &node.content {
        r = r.children(children.clone());
    }
    deliver(state, &target, "receipt", r, now);
}

/// The addressing mode new groups get (a control call).
pub(crate) fn set_addressing(state: &mut State, addressing: GroupAddressing) {
    state.config.group_addressing = addressing;
}
