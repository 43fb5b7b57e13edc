//! Device lists: which devices each user has (usync `devices` + `lid`), cached for Baileys'
//! five minutes, dropped when the server says a user's devices changed. Also where we learn
//! users' LIDs.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;
use wa_binary::{Jid, Node, Server};
use wa_store::{KeyType, KeyWrites};

use crate::ctx::{Client, now_ms};
use crate::error::ClientError;
use crate::nodes;

/// How long a device list stays cached (Baileys' `USER_DEVICES` TTL).
const DEVICE_TTL: Duration = Duration::from_secs(300);

/// Device JIDs by user JID, with the time they were fetched.
#[derive(Default)]
pub(crate) struct DeviceCache {
    map: Mutex<HashMap<String, (Instant, Vec<String>)>>,
}

impl DeviceCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Vec<String>)>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends the cached devices of each of `users` to `out`; users without a fresh entry go
    /// to `missing`. One lock and one clock read for the whole list: a send to a 1,000-member
    /// group asks for all of them.
    fn collect(&self, users: &[String], out: &mut Vec<String>, missing: &mut Vec<String>) {
        let now = Instant::now();
        let map = self.lock();
        for u in users {
            match map.get(u.as_str()) {
                Some((at, list)) if now.saturating_duration_since(*at) < DEVICE_TTL => {
                    out.extend(list.iter().cloned());
                }
                _ => missing.push(u.clone()),
            }
        }
    }

    fn put(&self, user: String, devices: Vec<String>) {
        self.lock().insert(user, (Instant::now(), devices));
    }

    pub fn forget(&self, user: &str) {
        self.lock().remove(user);
    }
}

/// The usync query for device lists (and LIDs) of users.
pub fn usync_devices(users: &[String], sid: &str) -> Node {
    nodes::iq(
        "usync",
        "get",
        vec![
            Node::new("usync")
                .attr("context", "message")
                .attr("mode", "query")
                .attr("sid", sid.to_owned())
                .attr("last", "true")
                .attr("index", "0")
                .children(vec![
                    Node::new("query").children(vec![
                        Node::new("devices").attr("version", "2"),
                        Node::new("lid"),
                    ]),
                    Node::new("list").children(
                        users
                            .iter()
                            .map(|u| Node::new("user").attr("jid", u.clone()))
                            .collect(),
                    ),
                ]),
        ],
    )
}

/// One user of a usync device answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserDevices {
    pub jid: String,
    pub lid: Option<String>,
    /// `(device id, hosted)`, only devices Baileys accepts (device 0, or with a key index).
    pub devices: Vec<(u16, bool)>,
}

pub fn parse_usync_devices(result: &Node) -> Vec<UserDevices> {
    let Some(list) = result.child("usync").and_then(|u| u.child("list")) else {
        return Vec::new();
    };
    list.children_by_tag("user")
        .filter_map(|u| {
            let jid = u.get_attr("jid")?.to_owned();
            let lid = u
                .child("lid")
                .and_then(|l| l.get_attr("val"))
                .filter(|v| !v.is_empty())
                .map(str::to_owned);
            let devices = u
                .child("devices")
                .and_then(|d| d.child("device-list"))
                .map(|dl| {
                    dl.children_by_tag("device")
                        .filter_map(|d| {
                            let id: u16 = d.get_attr("id")?.parse().ok()?;
                            let has_key_index =
                                d.get_attr("key-index").is_some_and(|k| !k.is_empty());
                            (id == 0 || has_key_index)
                                .then_some((id, d.get_attr("is_hosted") == Some("true")))
                        })
                        .collect()
                })
                .unwrap_or_default();
            Some(UserDevices { jid, lid, devices })
        })
        .collect()
}

/// The device JIDs of one usync answer's user, on the user's server (hosted devices on the
/// hosted servers).
pub fn device_jids(u: &UserDevices) -> Result<(Jid, Vec<String>), ClientError> {
    let jid = Jid::parse(&u.jid).map_err(|e| ClientError::Protocol(e.to_string()))?;
    let list = u
        .devices
        .iter()
        .map(|(d, hosted)| {
            let server = match (hosted, &jid.server) {
                (true, Server::Lid) => Server::HostedLid,
                (true, _) => Server::Hosted,
                (false, s) => s.clone(),
            };
            wa_vocab::device_jid(&jid.user, *d, server.as_str())
        })
        .collect();
    Ok((jid, list))
}

impl Client {
    /// Device JIDs of users, from the cache or one usync query; learned LIDs and Baileys'
    /// `device-list` keys are stored on the way.
    pub(crate) async fn devices(&self, users: &[String]) -> Result<Vec<String>, ClientError> {
        let mut out = Vec::new();
        let mut missing = Vec::new();
        self.inner.devices.collect(users, &mut out, &mut missing);
        if missing.is_empty() {
            return Ok(out);
        }
        let sid = nodes::message_id(None, now_ms() / 1000);
        let result = self.query(usync_devices(&missing, &sid), None).await?;
        let mut device_lists = KeyWrites::new();
        for u in parse_usync_devices(&result) {
            let (jid, list) = device_jids(&u)?;
            if let Some(lid) = u.lid.as_deref().and_then(|l| Jid::parse(l).ok())
                && jid.server == Server::Pn
            {
                self.store_lid_mapping(&lid.user, &jid.user).await?;
            }
            device_lists.entry(KeyType::DeviceList).or_default().insert(
                jid.user.clone(),
                Some(Value::Array(
                    u.devices
                        .iter()
                        .map(|(d, _)| Value::String(d.to_string()))
                        .collect(),
                )),
            );
            out.extend(list.iter().cloned());
            self.inner
                .devices
                .put(jid.normalized_user().to_string(), list);
        }
        if !device_lists.is_empty() {
            self.inner.keys.set(&device_lists).await?;
        }
        Ok(out)
    }

    /// A `devices` notification: the user's device list changed; fetch it again next time.
    pub(crate) fn on_devices_changed(&self, node: &Node) {
        if let Some(from) = node.get_attr("from").and_then(|f| Jid::parse(f).ok()) {
            self.inner
                .devices
                .forget(&from.normalized_user().to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_hands_out_fresh_lists_and_names_the_stale_and_unknown_users() {
        let cache = DeviceCache::default();
        cache.put(
            "1@s.whatsapp.net".into(),
            vec!["1@s.whatsapp.net".into(), "1:2@s.whatsapp.net".into()],
        );
        cache.put("2@s.whatsapp.net".into(), vec!["2@s.whatsapp.net".into()]);
        if let Some(old) = Instant::now().checked_sub(DEVICE_TTL + Duration::from_secs(1)) {
            cache.lock().get_mut("2@s.whatsapp.net").unwrap().0 = old;
        }
        let users: Vec<String> = ["1@s.whatsapp.net", "2@s.whatsapp.net", "3@s.whatsapp.net"]
            .map(String::from)
            .to_vec();
        let (mut out, mut missing) = (vec!["before".to_string()], Vec::new());
        cache.collect(&users, &mut out, &mut missing);
        assert_eq!(out, ["before", "1@s.whatsapp.net", "1:2@s.whatsapp.net"]);
        assert_eq!(missing, ["2@s.whatsapp.net", "3@s.whatsapp.net"]);
    }

    #[test]
    fn usync_parsing() {
        let result =
            Node::new("iq")
                .attr("type", "result")
                .children(vec![Node::new("usync").children(vec![
                    Node::new("list").children(vec![Node::new("user")
                .attr("jid", "1555@s.whatsapp.net")
                .children(vec![
                    Node::new("devices").children(vec![Node::new("device-list").children(vec![
                        Node::new("device").attr("id", "0"),
                        Node::new("device").attr("id", "3").attr("key-index", "1"),
                        Node::new("device").attr("id", "4"),
                    ])]),
                    Node::new("lid").attr("val", "99@lid"),
                ])]),
                ])]);
        let users = parse_usync_devices(&result);
        assert_eq!(
            users,
            vec![UserDevices {
                jid: "1555@s.whatsapp.net".into(),
                lid: Some("99@lid".into()),
                devices: vec![(0, false), (3, false)],
            }]
        );
    }

    #[test]
    fn hosted_devices_go_to_hosted_servers() {
        let u = UserDevices {
            jid: "1555@s.whatsapp.net".into(),
            lid: None,
            devices: vec![(0, false), (99, true)],
        };
        let (_, list) = device_jids(&u).unwrap();
        assert_eq!(list, ["1555@s.whatsapp.net", "1555:99@hosted"]);
    }
}
