//! Changes to an account's device list: a companion unlinked (by the phone, or logging itself
//! out), and the `<notification type=devices>` every online client gets for an added or
//! removed device.

use wa_binary::Node;
use wa_vocab::{S_WHATSAPP_NET, device_jid};

use crate::nodes;
use crate::state::{ConnId, DeviceAddr, State};

/// Unlinks a companion: its record, keys and queue go; its connection (if `kick`) gets
/// `401 device_removed`; everyone online learns the device list changed.
pub(crate) fn unlink(state: &mut State, addr: &DeviceAddr, kick: bool, now: u64) {
    let Some(account) = state.accounts.get_mut(&addr.number) else {
        return;
    };
    if account.companions.remove(&addr.device).is_none() {
        return;
    }
    account.devices_changed = now / 1000;
    state.queues.remove(addr);
    if kick && let Some(conn) = state.online.get(addr).copied() {
        state.stream_error(conn, nodes::stream_error_device_removed(), now);
    }
    notify_devices(state, &addr.number, "remove", addr.device, now);
}

/// Tells every online client that an account's device list changed (`add` / `remove`).
pub(crate) fn notify_devices(state: &mut State, number: &str, change: &str, device: u16, now: u64) {
    let Some(account) = state.accounts.get(number) else {
        return;
    };
    let mut dev =
        Node::new("device").attr("jid", device_jid(&account.number, device, S_WHATSAPP_NET));
    if let Some(c) = account.companions.get(&device) {
        dev = dev.attr("key-index", c.key_index.to_string());
    }
    let hash = crate::usync::device_hash(account);
    let body = Node::new(change.to_owned())
        .attr("device_hash", hash)
        .children(vec![
            dev,
            Node::new("key-index-list")
                .attr("ts", account.devices_changed.to_string())
                .bytes(account.key_index_list()),
        ]);
    let from = account.pn_jid();
    let conns: Vec<ConnId> = state
        .online
        .iter()
        .filter(|(d, c)| !(d.number == number && d.device == device) && state.is_active(**c))
        .map(|(_, c)| *c)
        .collect();
    for c in conns {
        let id = state.next_stanza_id();
        let n = Node::new("notification")
            .attr("from", from.clone())
            .attr("id", id)
            .attr("type", "devices")
            .attr("t", (now / 1000).to_string())
            .children(vec![body.clone()]);
        state.send(c, &n, now);
    }
}
