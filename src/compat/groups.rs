//! Baileys' `GroupMetadata` object, both ways: made from the client's typed metadata, and read
//! from what an app's `cachedGroupMetadata` returns.

use serde_json::{Map, Value, json};
use wa_client::event::AddressingMode;
use wa_client::groups::{GroupMetadata, GroupParticipant, GroupUpsert};

fn put<T>(o: &mut Map<String, Value>, k: &str, v: &Option<T>)
where
    T: Clone + Into<Value>,
{
    if let Some(v) = v {
        o.insert(k.into(), v.clone().into());
    }
}

pub fn participant_json(p: &GroupParticipant) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), json!(p.id));
    put(&mut o, "phoneNumber", &p.phone_number);
    put(&mut o, "lid", &p.lid);
    put(&mut o, "username", &p.username);
    o.insert(
        "admin".into(),
        p.admin.as_ref().map_or(Value::Null, |a| json!(a)),
    );
    Value::Object(o)
}

pub fn metadata_json(m: &GroupMetadata) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), json!(m.id));
    put(&mut o, "notify", &m.notify);
    o.insert("addressingMode".into(), json!(m.mode().as_str()));
    o.insert("subject".into(), json!(m.subject));
    put(&mut o, "subjectOwner", &m.subject_owner);
    put(&mut o, "subjectOwnerPn", &m.subject_owner_pn);
    put(&mut o, "subjectTime", &m.subject_time);
    o.insert("size".into(), json!(m.size));
    put(&mut o, "creation", &m.creation);
    put(&mut o, "owner", &m.owner);
    put(&mut o, "ownerPn", &m.owner_pn);
    put(&mut o, "owner_country_code", &m.owner_country_code);
    put(&mut o, "desc", &m.desc);
    put(&mut o, "descId", &m.desc_id);
    put(&mut o, "descOwner", &m.desc_owner);
    put(&mut o, "descOwnerPn", &m.desc_owner_pn);
    put(&mut o, "descTime", &m.desc_time);
    put(&mut o, "linkedParent", &m.linked_parent);
    put_flags(&mut o, m);
    o.insert(
        "participants".into(),
        Value::Array(m.participants.iter().map(participant_json).collect()),
    );
    put(&mut o, "ephemeralDuration", &m.ephemeral_duration);
    Value::Object(o)
}

/// The yes/no settings groups and communities share.
fn put_flags(o: &mut Map<String, Value>, m: &GroupMetadata) {
    o.insert("restrict".into(), json!(m.restrict));
    o.insert("announce".into(), json!(m.announce));
    o.insert("isCommunity".into(), json!(m.is_community));
    o.insert("isCommunityAnnounce".into(), json!(m.is_community_announce));
    o.insert("joinApprovalMode".into(), json!(m.join_approval_mode));
    o.insert("memberAddMode".into(), json!(m.member_add_mode));
}

pub fn groups_upsert_json(u: &GroupUpsert) -> Value {
    let mut v = metadata_json(&u.metadata);
    if let Value::Object(o) = &mut v {
        put(o, "author", &u.author);
        put(o, "authorPn", &u.author_pn);
    }
    v
}

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_owned)
}

/// What a send needs of an app's `GroupMetadata`: id, addressing mode, participants and the
/// disappearing-messages timer. `None` when it has no participant list (Baileys then asks the
/// server).
pub fn metadata_from_json(v: &Value) -> Option<GroupMetadata> {
    let participants = v.get("participants")?.as_array()?;
    Some(GroupMetadata {
        id: s(v, "id").unwrap_or_default(),
        addressing_mode: Some(match v.get("addressingMode").and_then(Value::as_str) {
            Some("pn") => AddressingMode::Pn,
            // Baileys' send treats a group without a mode as LID-addressed.
            _ => AddressingMode::Lid,
        }),
        subject: s(v, "subject").unwrap_or_default(),
        participants: participants
            .iter()
            .filter_map(|p| {
                Some(GroupParticipant {
                    id: s(p, "id")?,
                    phone_number: s(p, "phoneNumber"),
                    lid: s(p, "lid"),
                    username: s(p, "username"),
                    admin: s(p, "admin"),
                })
            })
            .collect(),
        ephemeral_duration: v
            .get("ephemeralDuration")
            .and_then(Value::as_u64)
            .and_then(|e| u32::try_from(e).ok()),
        size: participants.len(),
        ..GroupMetadata::default()
    })
}

/// Baileys' community metadata (its `extractCommunityMetadata`): fewer fields than a group's,
/// times as 0 when absent, participants as `{ id, admin }`.
pub fn community_json(m: &GroupMetadata) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), json!(m.id));
    o.insert("subject".into(), json!(m.subject));
    put(&mut o, "subjectOwner", &m.subject_owner);
    o.insert("subjectTime".into(), json!(m.subject_time.unwrap_or(0)));
    o.insert("size".into(), json!(m.participants.len()));
    o.insert("creation".into(), json!(m.creation.unwrap_or(0)));
    put(&mut o, "owner", &m.owner);
    put(&mut o, "desc", &m.desc);
    put(&mut o, "descId", &m.desc_id);
    put(&mut o, "linkedParent", &m.linked_parent);
    put_flags(&mut o, m);
    o.insert(
        "participants".into(),
        Value::Array(
            m.participants
                .iter()
                .map(|p| json!({ "id": p.id, "admin": p.admin }))
                .collect(),
        ),
    );
    put(&mut o, "ephemeralDuration", &m.ephemeral_duration);
    o.insert("addressingMode".into(), json!(m.mode().as_str()));
    Value::Object(o)
}
