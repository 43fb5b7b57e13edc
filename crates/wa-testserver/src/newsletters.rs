//! Newsletters (WhatsApp channels) on the wire: the GraphQL IQs (`xmlns="w:mex"`: create,
//! metadata by JID or invite, update, follow, unfollow, mute, subscribers, admin count, change
//! owner, demote, delete), the plain `xmlns="newsletter"` IQs (live updates, message history),
//! posts fanned out as plaintext (channels are not end-to-end encrypted), reactions and views
//! with their `type="newsletter"` notifications, and the settings and participant
//! notifications a change sends.
//!
//! Shapes follow what Baileys 7 sends and reads (`newsletter.js`, `mex.js`, and
//! `handleNewsletterNotification` in `messages-recv.js`). A GraphQL failure is still an IQ
//! `result`, with `{"errors":[{message, extensions:{error_code}}]}` as its JSON, because that is
//! what `executeWMexQuery` reads; only a query that cannot be read at all is an IQ error.

use std::borrow::Cow;
use std::collections::BTreeSet;

use base64::Engine as _;
use serde_json::{Map, Value, json};
use wa_binary::{Content, Jid, Node};

use crate::delivery::deliver;
use crate::newsletter::{NewsletterRecord, NewsletterRole, Picture, Versioned};
use crate::nodes::{self, attr};
use crate::state::{ConnId, DeviceAddr, Phase, State};

/// Negative ack for a post by an account that is not the owner or an admin, or a reaction by
/// one that does not follow.
pub const NACK_NOT_NEWSLETTER_ADMIN: &str = "403";
/// Negative ack for a message to a newsletter the server does not know (or deleted), or a
/// reaction to a post it does not have.
pub const NACK_UNKNOWN_NEWSLETTER: &str = "404";
/// Negative ack for a message without what it needs (no `<plaintext>`, no `server_id`).
const NACK_BAD: &str = "400";

/// How long a live-updates subscription lasts, as WhatsApp answers it (seconds). The server
/// keeps it for the connection's life; clients renew it before this runs out anyway.
const LIVE_UPDATES_SECONDS: &str = "300";

// GraphQL query ids (Baileys' `QueryIds`), each with the data path of its answer.
const Q_CREATE: &str = "8823471724422422";
const Q_METADATA: &str = "6563316087068696";
const Q_UPDATE: &str = "24250201037901610";
const Q_SUBSCRIBERS: &str = "9783111038412085";
const Q_FOLLOW: &str = "24404358912487870";
const Q_UNFOLLOW: &str = "9767147403369991";
const Q_MUTE: &str = "29766401636284406";
const Q_UNMUTE: &str = "9864994326891137";
const Q_ADMIN_COUNT: &str = "7130823597031706";
const Q_CHANGE_OWNER: &str = "7341777602580933";
const Q_DEMOTE: &str = "6551828931592903";
const Q_DELETE: &str = "30062808666639665";

/// A GraphQL failure: its `error_code` (400 bad variables, 403 not allowed, 404 unknown, 501
/// unknown query) and message.
struct MexError {
    code: u16,
    message: &'static str,
}

const BAD_VARIABLES: MexError = MexError {
    code: 400,
    message: "bad variables",
};
const NOT_ALLOWED: MexError = MexError {
    code: 403,
    message: "not allowed",
};
const NOT_FOUND: MexError = MexError {
    code: 404,
    message: "newsletter not found",
};

type MexResult = Result<Value, MexError>;

// ---- naming -------------------------------------------------------------------------------

fn pn_jid(number: &str) -> String {
    format!("{number}@s.whatsapp.net")
}

/// The raw content of a node: bytes, or a string's bytes (the decoder may give either).
fn raw_content(node: &Node) -> Option<Cow<'_, [u8]>> {
    match &node.content {
        Content::Bytes(b) => Some(Cow::Borrowed(b.as_slice())),
        Content::Text(t) => Some(Cow::Owned(t.as_bytes().to_vec())),
        _ => None,
    }
}

/// The user part of a `…@newsletter` JID.
fn newsletter_user(jid: &str) -> Option<String> {
    Jid::parse(jid)
        .ok()
        .filter(Jid::is_newsletter)
        .map(|j| j.user)
}

// ---- fan-out ------------------------------------------------------------------------------

/// Every companion of these accounts, minus `except`, each once. Phones take no newsletter
/// traffic (they keep no channel state), seeded companions drop it.
fn companions(state: &State, numbers: &[String], except: Option<&DeviceAddr>) -> Vec<DeviceAddr> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for n in numbers {
        if !seen.insert(n.as_str()) {
            continue;
        }
        let Some(a) = state.accounts.get(n) else {
            continue;
        };
        for d in a.device_ids() {
            let addr = DeviceAddr {
                number: n.clone(),
                device: d,
            };
            if d != 0 && Some(&addr) != except && !state.silent.contains(&addr) {
                out.push(addr);
            }
        }
    }
    out
}

/// `<notification from=J type=newsletter id t participant?>` with `child`.
fn notification(
    state: &mut State,
    jid: &str,
    participant: Option<&str>,
    child: Node,
    now: u64,
) -> Node {
    let id = state.next_stanza_id();
    let mut n = Node::new("notification")
        .attr("from", jid.to_owned())
        .attr("type", "newsletter")
        .attr("id", id)
        .attr("t", (now / 1000).to_string());
    if let Some(p) = participant {
        n = n.attr("participant", p.to_owned());
    }
    n.children(vec![child])
}

/// Hands each device its own notification (each with its own id, as WhatsApp's are), through
/// the queues: a device offline gets it at its next login.
fn notify_devices(
    state: &mut State,
    jid: &str,
    participant: Option<&str>,
    devices: &[DeviceAddr],
    child: &Node,
    now: u64,
) {
    for d in devices {
        let n = notification(state, jid, participant, child.clone(), now);
        deliver(state, d, "notification", n, now);
    }
}

/// Reaction and view counts: to every connection subscribed to the newsletter's live updates
/// and to every companion of the owner and the admins (except `except`). Live updates belong
/// to a connection, not a device, so they are sent straight to it and never queued; a
/// device that also gets the queued copy as a manager is not sent a second one.
fn notify_counts(
    state: &mut State,
    n: &NewsletterRecord,
    child: Node,
    except: Option<&DeviceAddr>,
    now: u64,
) {
    let jid = n.jid();
    let managers = companions(state, &n.managers(), except);
    notify_devices(state, &jid, None, &managers, &child, now);
    let live: Vec<ConnId> = state
        .newsletter_live
        .iter()
        .filter(|(_, subs)| subs.contains(&n.id))
        .map(|(c, _)| *c)
        .collect();
    for conn in live {
        if !state.is_active(conn) {
            continue;
        }
        let queued = match state.phase(conn) {
            Some(Phase::LoggedIn(s)) => managers.contains(&s.addr),
            _ => true,
        };
        if queued {
            continue;
        }
        let node = notification(state, &jid, None, child.clone(), now);
        state.send(conn, &node, now);
    }
}

// ---- the GraphQL IQs (w:mex) --------------------------------------------------------------

/// `<iq xmlns="w:mex"><query query_id>{"variables":…}</query></iq>` from device `addr`.
pub(crate) fn on_mex(state: &mut State, addr: &DeviceAddr, node: &Node, now: u64) -> Node {
    let id = attr(node, "id").unwrap_or_default();
    let Some(query) = node.child("query") else {
        return nodes::iq_error(&id, 400, "bad-request");
    };
    let Some(query_id) = query.get_attr("query_id") else {
        return nodes::iq_error(&id, 400, "bad-request");
    };
    let Some(body) = raw_content(query) else {
        return nodes::iq_error(&id, 400, "bad-request");
    };
    let Ok(Value::Object(mut doc)) = serde_json::from_slice::<Value>(&body) else {
        return nodes::iq_error(&id, 400, "bad-request");
    };
    let vars = match doc.remove("variables") {
        Some(Value::Object(v)) => v,
        _ => Map::new(),
    };
    let (path, result) = match query_id {
        Q_CREATE => ("xwa2_newsletter_create", create(state, addr, &vars, now)),
        Q_METADATA => ("xwa2_newsletter", metadata(state, addr, &vars)),
        Q_UPDATE => ("xwa2_newsletter_update", update(state, addr, &vars, now)),
        Q_SUBSCRIBERS => ("xwa2_newsletter_subscribers", subscribers(state, &vars)),
        Q_FOLLOW => ("xwa2_newsletter_join_v2", follow(state, addr, &vars)),
        Q_UNFOLLOW => ("xwa2_newsletter_leave_v2", unfollow(state, addr, &vars)),
        Q_MUTE => ("xwa2_newsletter_mute_v2", mute(state, addr, &vars, true)),
        Q_UNMUTE => ("xwa2_newsletter_unmute_v2", mute(state, addr, &vars, false)),
        Q_ADMIN_COUNT => ("xwa2_newsletter_admin", admin_count(state, &vars)),
        Q_CHANGE_OWNER => (
            "xwa2_newsletter_change_owner",
            change_owner(state, addr, &vars, now),
        ),
        Q_DEMOTE => ("xwa2_newsletter_demote", demote(state, addr, &vars, now)),
        Q_DELETE => ("xwa2_newsletter_delete_v2", delete(state, addr, &vars)),
        _ => (
            "",
            Err(MexError {
                code: 501,
                message: "unknown query",
            }),
        ),
    };
    let answer = match result {
        Ok(data) => json!({ "data": { path: data } }),
        Err(e) => json!({
            "errors": [{ "message": e.message, "extensions": { "error_code": e.code } }]
        }),
    };
    nodes::iq_result_with(
        &id,
        vec![Node::new("result").bytes(answer.to_string().into_bytes())],
    )
}

/// `thread_metadata`: every value a string, as WhatsApp sends them.
fn thread_metadata(n: &NewsletterRecord) -> Value {
    let (pic_id, pic_path) = n
        .picture
        .as_ref()
        .map_or((String::new(), String::new()), |p| {
            (p.id.clone(), p.direct_path.clone())
        });
    let preview_path = if pic_path.is_empty() {
        String::new()
    } else {
        format!("{pic_path}?preview=1")
    };
    json!({
        "name": {
            "text": n.name.text,
            "id": n.name.id.to_string(),
            "update_time": n.name.time.to_string(),
        },
        "description": {
            "text": n.description.text,
            "id": n.description.id.to_string(),
            "update_time": n.description.time.to_string(),
        },
        "creation_time": n.creation.to_string(),
        "invite": n.invite,
        "subscribers_count": n.followers.len().to_string(),
        "verification": "UNVERIFIED",
        "picture": { "id": pic_id, "type": "IMAGE", "direct_path": pic_path },
        "preview": { "id": pic_id, "type": "PREVIEW", "direct_path": preview_path },
        "handle": null,
        "settings": { "reaction_codes": { "value": "ALL" } },
    })
}

/// The whole newsletter object, with the asking account's viewer metadata.
fn full(n: &NewsletterRecord, viewer: &str) -> Value {
    let role = n.role(viewer).map_or("GUEST", NewsletterRole::as_str);
    json!({
        "id": n.jid(),
        "state": { "type": "ACTIVE" },
        "thread_metadata": thread_metadata(n),
        "viewer_metadata": {
            "mute": if n.muted.contains(viewer) { "ON" } else { "OFF" },
            "role": role,
        },
    })
}

fn string_var<'a>(vars: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    vars.get(key).and_then(Value::as_str)
}

/// The live newsletter `vars[key]` names: 400 when it is not a newsletter JID, 404 when the
/// server has none (or it was deleted).
fn newsletter_var(state: &State, vars: &Map<String, Value>, key: &str) -> Result<String, MexError> {
    let nid = string_var(vars, key)
        .and_then(newsletter_user)
        .ok_or(BAD_VARIABLES)?;
    state.newsletters.live(&nid).ok_or(NOT_FOUND)?;
    Ok(nid)
}

/// The account `vars[key]` names, by phone number or LID JID (400 when none).
fn account_var(state: &State, vars: &Map<String, Value>, key: &str) -> Result<String, MexError> {
    string_var(vars, key)
        .and_then(|j| Jid::parse(j).ok())
        .and_then(|j| state.account_of(&j))
        .map(|a| a.number.clone())
        .ok_or(BAD_VARIABLES)
}

fn get(state: &State, nid: &str) -> Result<NewsletterRecord, MexError> {
    state.newsletters.live(nid).cloned().ok_or(NOT_FOUND)
}

/// A fresh newsletter id: `120363` and 12 digits drawn from the seed (a server started again
/// with the same seed makes the same ids), as WhatsApp's channel ids look.
fn new_newsletter_id(state: &mut State) -> String {
    loop {
        state.newsletters.made += 1;
        let n = state.seed.number(
            &format!("newsletter {}", state.newsletters.made),
            1_000_000_000_000,
        );
        let id = format!("120363{n:012}");
        if !state.newsletters.by_id.contains_key(&id) {
            return id;
        }
    }
}

/// An invite code: 22 URL-safe characters (it ends up in `whatsapp.com/channel/<code>`),
/// drawn from the seed.
fn new_invite(state: &mut State) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    loop {
        let label = format!("newsletter invite {}", state.next_stanza_id());
        let code: String = state
            .seed
            .bytes(&label)
            .iter()
            .take(22)
            .map(|b| char::from(ALPHABET[usize::from(b % 64)]))
            .collect();
        if !state.newsletters.by_id.values().any(|n| n.invite == code) {
            return code;
        }
    }
}

/// Makes a newsletter owned by `owner`; its user id.
fn make(state: &mut State, owner: &str, name: &str, description: &str, now: u64) -> String {
    let t = now / 1000;
    let id = new_newsletter_id(state);
    let invite = new_invite(state);
    let name = Versioned {
        text: name.to_owned(),
        id: state.newsletters.next_version(),
        time: t,
    };
    let description = Versioned {
        text: description.to_owned(),
        id: state.newsletters.next_version(),
        time: t,
    };
    let n = NewsletterRecord::new(id.clone(), owner.to_owned(), name, description, invite);
    state.newsletters.by_id.insert(id.clone(), n);
    id
}

/// CREATE: `{"input":{"name","description"}}`; the asking account owns it.
fn create(state: &mut State, addr: &DeviceAddr, vars: &Map<String, Value>, now: u64) -> MexResult {
    let input = vars
        .get("input")
        .and_then(Value::as_object)
        .ok_or(BAD_VARIABLES)?;
    let name = string_var(input, "name")
        .filter(|n| !n.trim().is_empty())
        .ok_or(BAD_VARIABLES)?;
    let description = match input.get("description") {
        None | Some(Value::Null) => "",
        Some(Value::String(d)) => d.as_str(),
        Some(_) => return Err(BAD_VARIABLES),
    };
    let nid = make(state, &addr.number, name, description, now);
    Ok(full(&get(state, &nid)?, &addr.number))
}

/// METADATA: `{"input":{"key","type":"JID"|"INVITE"}}`. Without a type, a key that is a
/// newsletter JID is one; anything else is an invite code (or a channel link ending in one).
fn metadata(state: &State, addr: &DeviceAddr, vars: &Map<String, Value>) -> MexResult {
    let input = vars
        .get("input")
        .and_then(Value::as_object)
        .ok_or(BAD_VARIABLES)?;
    let key = string_var(input, "key").ok_or(BAD_VARIABLES)?;
    let by_jid = match string_var(input, "type") {
        Some(t) if t.eq_ignore_ascii_case("JID") => true,
        Some(t) if t.eq_ignore_ascii_case("INVITE") => false,
        Some(_) => return Err(BAD_VARIABLES),
        None => key.ends_with("@newsletter"),
    };
    let n = if by_jid {
        let nid = newsletter_user(key).ok_or(BAD_VARIABLES)?;
        state.newsletters.live(&nid)
    } else {
        let code = key.trim().trim_end_matches('/');
        let code = code.rsplit('/').next().unwrap_or(code);
        state.newsletters.by_invite(code)
    };
    Ok(full(n.ok_or(NOT_FOUND)?, &addr.number))
}

/// UPDATE_METADATA: `{"newsletter_id","updates":{"name"?,"description"?,"picture"?}}` by the
/// owner or an admin. Everything is checked before anything changes; followers and managers
/// hear of a new name or description.
fn update(state: &mut State, addr: &DeviceAddr, vars: &Map<String, Value>, now: u64) -> MexResult {
    let nid = newsletter_var(state, vars, "newsletter_id")?;
    if !get(state, &nid)?.is_admin(&addr.number) {
        return Err(NOT_ALLOWED);
    }
    let updates = vars
        .get("updates")
        .and_then(Value::as_object)
        .ok_or(BAD_VARIABLES)?;
    let name = match updates.get("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(_) => return Err(BAD_VARIABLES),
    };
    let description = match updates.get("description") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(BAD_VARIABLES),
    };
    // `Some(None)`: remove the picture; `Some(Some(_))`: a new one.
    let picture = match updates.get("picture") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => Some(None),
        Some(Value::String(s)) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(s))
                .map_err(|_| BAD_VARIABLES)?;
            if bytes.is_empty() {
                return Err(BAD_VARIABLES);
            }
            Some(Some(()))
        }
        Some(_) => return Err(BAD_VARIABLES),
    };
    let t = now / 1000;
    let versions = [
        state.newsletters.next_version(),
        state.newsletters.next_version(),
        state.newsletters.next_version(),
    ];
    let n = state.newsletters.live_mut(&nid).ok_or(NOT_FOUND)?;
    let mut changed = Vec::new();
    if let Some(name) = name
        && name != n.name.text
    {
        n.name = Versioned {
            text: name.clone(),
            id: versions[0],
            time: t,
        };
        changed.push(Node::new("name").text(name));
    }
    if let Some(d) = description
        && d != n.description.text
    {
        n.description = Versioned {
            text: d.clone(),
            id: versions[1],
            time: t,
        };
        changed.push(Node::new("description").text(d));
    }
    match picture {
        Some(Some(())) => {
            let id = versions[2].to_string();
            n.picture = Some(Picture {
                direct_path: format!("/v/t61.24694-24/{id}"),
                id,
            });
        }
        Some(None) => n.picture = None,
        None => {}
    }
    let n = n.clone();
    if !changed.is_empty() {
        let child = Node::new("update").children(vec![Node::new("settings").children(changed)]);
        let devices = companions(state, &n.audience(), Some(addr));
        notify_devices(state, &n.jid(), None, &devices, &child, now);
    }
    Ok(full(&n, &addr.number))
}

/// SUBSCRIBERS: how many follow (the owner not counted).
fn subscribers(state: &State, vars: &Map<String, Value>) -> MexResult {
    let nid = newsletter_var(state, vars, "newsletter_id")?;
    let n = get(state, &nid)?;
    Ok(json!({ "id": n.jid(), "subscribers": n.followers.len() }))
}

/// FOLLOW (idempotent; the owner and admins keep their role).
fn follow(state: &mut State, addr: &DeviceAddr, vars: &Map<String, Value>) -> MexResult {
    let nid = newsletter_var(state, vars, "newsletter_id")?;
    let n = state.newsletters.live_mut(&nid).ok_or(NOT_FOUND)?;
    n.follow(&addr.number);
    Ok(json!({ "id": n.jid() }))
}

/// UNFOLLOW: anyone but the owner.
fn unfollow(state: &mut State, addr: &DeviceAddr, vars: &Map<String, Value>) -> MexResult {
    let nid = newsletter_var(state, vars, "newsletter_id")?;
    let n = state.newsletters.live_mut(&nid).ok_or(NOT_FOUND)?;
    if !n.unfollow(&addr.number) {
        return Err(NOT_ALLOWED);
    }
    Ok(json!({ "id": n.jid() }))
}

/// MUTE / UNMUTE, per account; only for someone who follows (or manages) it.
fn mute(state: &mut State, addr: &DeviceAddr, vars: &Map<String, Value>, on: bool) -> MexResult {
    let nid = newsletter_var(state, vars, "newsletter_id")?;
    let n = state.newsletters.live_mut(&nid).ok_or(NOT_FOUND)?;
    if n.role(&addr.number).is_none() {
        return Err(NOT_ALLOWED);
    }
    if on {
        n.muted.insert(addr.number.clone());
    } else {
        n.muted.remove(&addr.number);
    }
    Ok(json!({ "id": n.jid(), "mute": if on { "ON" } else { "OFF" } }))
}

/// ADMIN_COUNT: the owner and the admins.
fn admin_count(state: &State, vars: &Map<String, Value>) -> MexResult {
    let nid = newsletter_var(state, vars, "newsletter_id")?;
    Ok(json!({ "admin_count": get(state, &nid)?.managers().len() }))
}

/// `<participant jid action role/>` by `actor`, to `user`'s companions and every manager's
/// (as the newsletter is now), except the device that asked.
fn notify_participant(
    state: &mut State,
    nid: &str,
    actor: &DeviceAddr,
    user: &str,
    action: &'static str,
    role: NewsletterRole,
    now: u64,
) {
    let Some(n) = state.newsletters.live(nid).cloned() else {
        return;
    };
    let mut numbers = vec![user.to_owned()];
    numbers.extend(n.managers());
    let devices = companions(state, &numbers, Some(actor));
    let child = Node::new("participant")
        .attr("jid", pn_jid(user))
        .attr("action", action)
        .attr("role", role.as_str());
    notify_devices(
        state,
        &n.jid(),
        Some(&pn_jid(&actor.number)),
        &devices,
        &child,
        now,
    );
}

/// The newsletter `vars` names, when the asking account owns it (403 otherwise).
fn owned(state: &State, addr: &DeviceAddr, vars: &Map<String, Value>) -> Result<String, MexError> {
    let nid = newsletter_var(state, vars, "newsletter_id")?;
    if get(state, &nid)?.owner != addr.number {
        return Err(NOT_ALLOWED);
    }
    Ok(nid)
}

/// CHANGE_OWNER: the owner hands the newsletter to an admin and stays as an admin.
fn change_owner(
    state: &mut State,
    addr: &DeviceAddr,
    vars: &Map<String, Value>,
    now: u64,
) -> MexResult {
    let nid = owned(state, addr, vars)?;
    let user = account_var(state, vars, "user_id")?;
    let n = state.newsletters.live_mut(&nid).ok_or(NOT_FOUND)?;
    let old = n.owner.clone();
    if !n.change_owner(&user) {
        return Err(BAD_VARIABLES);
    }
    let jid = n.jid();
    notify_participant(
        state,
        &nid,
        addr,
        &user,
        "promote",
        NewsletterRole::Owner,
        now,
    );
    notify_participant(
        state,
        &nid,
        addr,
        &old,
        "demote",
        NewsletterRole::Admin,
        now,
    );
    Ok(json!({ "id": jid }))
}

/// DEMOTE: the owner makes an admin a subscriber.
fn demote(state: &mut State, addr: &DeviceAddr, vars: &Map<String, Value>, now: u64) -> MexResult {
    let nid = owned(state, addr, vars)?;
    let user = account_var(state, vars, "user_id")?;
    let n = state.newsletters.live_mut(&nid).ok_or(NOT_FOUND)?;
    if n.role(&user) != Some(NewsletterRole::Admin) {
        return Err(BAD_VARIABLES);
    }
    n.set_role(&user, NewsletterRole::Subscriber);
    let jid = n.jid();
    notify_participant(
        state,
        &nid,
        addr,
        &user,
        "demote",
        NewsletterRole::Subscriber,
        now,
    );
    Ok(json!({ "id": jid }))
}

/// DELETE: the owner only; from then on the newsletter answers 404 and refuses messages.
fn delete(state: &mut State, addr: &DeviceAddr, vars: &Map<String, Value>) -> MexResult {
    let nid = owned(state, addr, vars)?;
    let n = state.newsletters.live_mut(&nid).ok_or(NOT_FOUND)?;
    n.deleted = true;
    let jid = n.jid();
    for subs in state.newsletter_live.values_mut() {
        subs.remove(&nid);
    }
    Ok(json!({ "id": jid, "state": { "type": "DELETED" } }))
}

// ---- the plain IQs (xmlns=newsletter) -----------------------------------------------------

/// `<iq xmlns="newsletter" to=J>`: `set <live_updates/>` subscribes this connection to J's
/// reaction and view counts; `get <message_updates count since? after?/>` reads its posts.
pub(crate) fn on_iq(state: &mut State, conn: ConnId, node: &Node, now: u64) -> Node {
    let id = attr(node, "id").unwrap_or_default();
    let to = node.get_attr("to").unwrap_or("");
    let mut reply = answer_iq(state, conn, &id, to, node, now);
    // Answered from the newsletter, as WhatsApp does for IQs sent to a chat.
    for (k, v) in &mut reply.attrs {
        if k == "from" {
            *v = to.to_owned().into();
        }
    }
    reply
}

fn answer_iq(state: &mut State, conn: ConnId, id: &str, to: &str, node: &Node, now: u64) -> Node {
    let Some(nid) = newsletter_user(to) else {
        return nodes::iq_error(id, 400, "bad-request");
    };
    let Some(n) = state.newsletters.live(&nid) else {
        return nodes::iq_error(id, 404, "item-not-found");
    };
    let ty = node.get_attr("type").unwrap_or("");
    let Some(op) = node.child_nodes().first() else {
        return nodes::iq_error(id, 400, "bad-request");
    };
    match (ty, op.tag.as_ref()) {
        ("set", "live_updates") => {
            state.newsletter_live.entry(conn).or_default().insert(nid);
            nodes::iq_result_with(
                id,
                vec![Node::new("live_updates").attr("duration", LIVE_UPDATES_SECONDS)],
            )
        }
        ("get", "message_updates") => {
            let num = |k: &str| op.get_attr(k).map(|v| v.trim().parse::<u64>());
            let (count, since, after) = match (num("count"), num("since"), num("after")) {
                (Some(Err(_)), ..) | (_, Some(Err(_)), _) | (.., Some(Err(_))) => {
                    return nodes::iq_error(id, 400, "bad-request");
                }
                (c, s, a) => (
                    c.and_then(Result::ok)
                        .map_or(crate::newsletter::MAX_UPDATES, |c| {
                            usize::try_from(c).unwrap_or(usize::MAX)
                        }),
                    s.and_then(Result::ok),
                    a.and_then(Result::ok),
                ),
            };
            let messages: Vec<Node> = n
                .updates(count, since, after)
                .into_iter()
                .map(|p| {
                    let reactions = p
                        .reaction_counts()
                        .into_iter()
                        .map(|(code, k)| {
                            Node::new("reaction")
                                .attr("code", code)
                                .attr("count", k.to_string())
                        })
                        .collect();
                    Node::new("message")
                        .attr("server_id", p.server_id.to_string())
                        .attr("id", p.id.clone())
                        .attr("t", p.t.to_string())
                        .attr("type", p.kind.clone())
                        .children(vec![
                            Node::new("plaintext").bytes(p.plaintext.clone()),
                            Node::new("views_count").attr("count", p.viewers.len().to_string()),
                            Node::new("reactions").children(reactions),
                        ])
                })
                .collect();
            let list = Node::new("messages")
                .attr("jid", n.jid())
                .attr("t", (now / 1000).to_string())
                .children(messages);
            nodes::iq_result_with(id, vec![Node::new("message_updates").children(vec![list])])
        }
        _ => nodes::iq_error(id, 501, "feature-not-implemented"),
    }
}

// ---- messages, reactions, views -----------------------------------------------------------

fn message_ack(id: &str, from: &str, t: u64, server_id: Option<u64>) -> Node {
    let mut n = Node::new("ack")
        .attr("class", "message")
        .attr("id", id.to_owned())
        .attr("from", from.to_owned())
        .attr("t", t.to_string());
    if let Some(s) = server_id {
        n = n.attr("server_id", s.to_string());
    }
    n
}

/// A client's `<message to=J>`: a post (from the owner or an admin) or a reaction (from
/// anyone who follows). `Err` is the negative ack's code.
pub(crate) fn route_message(
    state: &mut State,
    conn: ConnId,
    sender: &DeviceAddr,
    node: &Node,
    to: &Jid,
    now: u64,
) -> Result<(), &'static str> {
    let id = attr(node, "id").unwrap_or_default();
    state
        .newsletters
        .live(&to.user)
        .ok_or(NACK_UNKNOWN_NEWSLETTER)?;
    if node.get_attr("type") == Some("reaction") || node.child("reaction").is_some() {
        return react(state, conn, sender, node, &to.user, &id, now);
    }
    let plaintext = node.child("plaintext").ok_or(NACK_BAD)?;
    let bytes = raw_content(plaintext).ok_or(NACK_BAD)?.into_owned();
    let kind = node.get_attr("type").unwrap_or("text").to_owned();
    publish(
        state,
        Some(conn),
        sender,
        &to.user,
        &id,
        &kind,
        plaintext,
        bytes,
        now,
    )
    .map(|_| ())
}

/// Stores a post and hands it to every companion of the owner, the admins and the followers
/// but the sending device; acks the sender on `conn` (none for a phone). The same message id
/// from the same account again is acked with the first server id and not delivered twice.
#[allow(clippy::too_many_arguments)]
fn publish(
    state: &mut State,
    conn: Option<ConnId>,
    sender: &DeviceAddr,
    nid: &str,
    id: &str,
    kind: &str,
    plaintext: &Node,
    bytes: Vec<u8>,
    now: u64,
) -> Result<u64, &'static str> {
    let n = state
        .newsletters
        .live_mut(nid)
        .ok_or(NACK_UNKNOWN_NEWSLETTER)?;
    if !n.is_admin(&sender.number) {
        return Err(NACK_NOT_NEWSLETTER_ADMIN);
    }
    let jid = n.jid();
    if let Some(p) = n.post_by_id(&sender.number, id) {
        let (server_id, t) = (p.server_id, p.t);
        state.stats.duplicates += 1;
        if let Some(c) = conn {
            state.send(c, &message_ack(id, &jid, t, Some(server_id)), now);
        }
        return Ok(server_id);
    }
    let t = now / 1000;
    let server_id = n.add_post(&sender.number, id, t, kind, bytes);
    let audience = n.audience();
    if let Some(c) = conn {
        state.send(c, &message_ack(id, &jid, t, Some(server_id)), now);
    }
    let m = Node::new("message")
        .attr("from", jid)
        .attr("id", id.to_owned())
        .attr("server_id", server_id.to_string())
        .attr("t", t.to_string())
        .attr("type", kind.to_owned())
        // The `<plaintext>` as sent: it keeps attributes such as `mediatype`.
        .children(vec![plaintext.clone()]);
    for d in companions(state, &audience, Some(sender)) {
        deliver(state, &d, "message", m.clone(), now);
    }
    Ok(server_id)
}

/// `<message to=J type=reaction server_id=S [edit=7]><reaction [code]/></message>`: the
/// account's reaction to post S, replacing its earlier one; no code (or `edit="7"`, a
/// revoke) removes it.
fn react(
    state: &mut State,
    conn: ConnId,
    sender: &DeviceAddr,
    node: &Node,
    nid: &str,
    id: &str,
    now: u64,
) -> Result<(), &'static str> {
    let server_id = node
        .get_attr("server_id")
        .and_then(|s| s.trim().parse::<u64>().ok())
        .ok_or(NACK_BAD)?;
    let code = node
        .child("reaction")
        .and_then(|r| r.get_attr("code"))
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    let remove = node.get_attr("edit") == Some("7") || code.is_none();
    let n = state
        .newsletters
        .live_mut(nid)
        .ok_or(NACK_UNKNOWN_NEWSLETTER)?;
    if n.role(&sender.number).is_none() {
        return Err(NACK_NOT_NEWSLETTER_ADMIN);
    }
    let jid = n.jid();
    let post = n.post_mut(server_id).ok_or(NACK_UNKNOWN_NEWSLETTER)?;
    let child = match code.filter(|_| !remove) {
        Some(c) => {
            post.reactions.insert(sender.number.clone(), c.clone());
            Some(Node::new("reaction").text(c))
        }
        // A removal names the code that went, so counters can go down.
        None => post
            .reactions
            .remove(&sender.number)
            .map(|old| Node::new("reaction").text(old)),
    };
    let n = n.clone();
    state.send(conn, &message_ack(id, &jid, now / 1000, None), now);
    if let Some(inner) = child {
        let mut r = Node::new("reaction").attr("message_id", server_id.to_string());
        if remove {
            r = r.attr("removed", "true");
        }
        notify_counts(state, &n, r.children(vec![inner]), Some(sender), now);
    }
    Ok(())
}

/// `<receipt to=J type=view>` with `<list><item server_id/>…</list>` (or one `server_id`
/// attribute): one view per account and post; each new view's total goes to the live
/// subscribers and the managers. Acked like any receipt; other receipt types to a newsletter
/// change nothing.
pub(crate) fn on_receipt(
    state: &mut State,
    conn: ConnId,
    addr: &DeviceAddr,
    node: &Node,
    now: u64,
) {
    let id = attr(node, "id").unwrap_or_default();
    let to = attr(node, "to").unwrap_or_default();
    let kind = attr(node, "type");
    let mut ack = Node::new("ack")
        .attr("class", "receipt")
        .attr("id", id)
        .attr("from", to.clone());
    if let Some(k) = &kind {
        ack = ack.attr("type", k.clone());
    }
    state.send(conn, &ack, now);
    if kind.as_deref() != Some("view") {
        return;
    }
    let Some(nid) = newsletter_user(&to) else {
        return;
    };
    let mut ids: Vec<u64> = node
        .child("list")
        .map(|l| {
            l.children_by_tag("item")
                .filter_map(|i| i.get_attr("server_id"))
                .filter_map(|s| s.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default();
    if let Some(s) = node
        .get_attr("server_id")
        .and_then(|s| s.trim().parse().ok())
    {
        ids.push(s);
    }
    for server_id in ids {
        let Some(n) = state.newsletters.live_mut(&nid) else {
            return;
        };
        let Some(post) = n.post_mut(server_id) else {
            continue;
        };
        if !post.viewers.insert(addr.number.clone()) {
            continue;
        }
        let total = post.viewers.len();
        let n = n.clone();
        let child = Node::new("view")
            .attr("message_id", server_id.to_string())
            .text(total.to_string());
        notify_counts(state, &n, child, None, now);
    }
}

// ---- control calls ------------------------------------------------------------------------

/// The owner's phone posts `message` (a control call): delivered like a companion's post, to
/// every companion of the audience. Its server id, `None` for a newsletter that is not there.
pub(crate) fn post_by_phone(
    state: &mut State,
    nid: &str,
    message: Vec<u8>,
    now: u64,
) -> Option<u64> {
    // A message id in the shape phones use (`3EB0` and 16 hex digits).
    let id = wa_crypto::random_bytes::<8>()
        .iter()
        .fold(String::from("3EB0"), |mut s, b| {
            s.push_str(&format!("{b:02X}"));
            s
        });
    let owner = state.newsletters.live(nid)?.owner.clone();
    let phone = DeviceAddr {
        number: owner,
        device: 0,
    };
    let plaintext = Node::new("plaintext").bytes(message.clone());
    publish(
        state, None, &phone, nid, &id, "text", &plaintext, message, now,
    )
    .ok()
}
