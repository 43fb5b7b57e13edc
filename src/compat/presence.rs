//! Baileys' `presence.update` payload: `{ id, presences: { [participant]: PresenceData } }`.

use serde_json::{Map, Value, json};
use wa_client::PresenceUpdate;

pub fn presence_update_json(u: &PresenceUpdate) -> Value {
    let mut data = Map::new();
    data.insert(
        "lastKnownPresence".into(),
        json!(u.presence.last_known.as_str()),
    );
    if let Some(t) = u.presence.last_seen {
        data.insert("lastSeen".into(), json!(t));
    }
    if let Some(n) = u.presence.group_online_count {
        data.insert("groupOnlineCount".into(), json!(n));
    }
    let mut presences = Map::new();
    presences.insert(u.participant.clone(), Value::Object(data));
    json!({ "id": u.id, "presences": presences })
}
