//! JID text as the LID store reads it: Baileys' lenient `jidDecode`, the LID and phone-number
//! server tests, and which of two addresses of one user is the LID.

/// Baileys' `jidDecode`: lenient (`user[_agent][:device]@server`, extra parts ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LooseJid<'a> {
    pub user: &'a str,
    pub server: &'a str,
    pub agent: Option<&'a str>,
    /// `Some(n)` when a device is written; `Some(None)`-like cases (not a number) are `None`.
    pub device: Option<u64>,
    pub device_written: bool,
}

pub fn loose_decode(jid: &str) -> Option<LooseJid<'_>> {
    let (combined, server) = wa_binary::jid::split_at_byte(jid, b'@')?;
    let mut parts = combined.split(':');
    let user_agent = parts.next().unwrap_or_default();
    let device = parts.next();
    let mut ua = user_agent.split('_');
    let user = ua.next().unwrap_or_default();
    let agent = ua.next().filter(|a| !a.is_empty());
    Some(LooseJid {
        user,
        server,
        agent,
        device: device
            .filter(|d| !d.is_empty())
            .and_then(|d| d.parse().ok()),
        device_written: device.is_some_and(|d| !d.is_empty()),
    })
}

pub fn is_lid_user(jid: &str) -> bool {
    jid.ends_with("@lid")
}
pub fn is_pn_user(jid: &str) -> bool {
    jid.ends_with("@s.whatsapp.net")
}
pub fn is_hosted_pn_user(jid: &str) -> bool {
    jid.ends_with("@hosted")
}
pub fn is_hosted_lid_user(jid: &str) -> bool {
    jid.ends_with("@hosted.lid")
}

pub(super) fn with_device(user: &str, device: u64, server: &str) -> String {
    if device == 0 {
        format!("{user}@{server}")
    } else {
        format!("{user}:{device}@{server}")
    }
}

/// A pair of addresses of one user learned from an envelope (`sender_lid`, `participant_pn`,
/// ...): which one is the LID and which the phone number, if they are one of each.
pub fn lid_pn_pair<'a>(
    a: &'a wa_binary::Jid,
    b: &'a wa_binary::Jid,
) -> Option<(&'a wa_binary::Jid, &'a wa_binary::Jid)> {
    use wa_binary::Server;
    match (&a.server, &b.server) {
        (Server::Lid, Server::Pn) => Some((a, b)),
        (Server::Pn, Server::Lid) => Some((b, a)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wa_binary::Jid;

    #[test]
    fn pairs_are_one_lid_and_one_pn() {
        let lid = Jid::parse("100:2@lid").unwrap();
        let pn = Jid::parse("1555:2@s.whatsapp.net").unwrap();
        assert_eq!(lid_pn_pair(&pn, &lid), Some((&lid, &pn)));
        assert_eq!(lid_pn_pair(&lid, &pn), Some((&lid, &pn)));
        assert_eq!(lid_pn_pair(&pn, &pn), None);
    }

    #[test]
    fn loose_decoding_matches_baileys() {
        let d = loose_decode("5511_1:2@s.whatsapp.net").unwrap();
        assert_eq!(
            (d.user, d.agent, d.device, d.server),
            ("5511", Some("1"), Some(2), "s.whatsapp.net")
        );
        assert_eq!(loose_decode("x:y:z@lid").unwrap().device, None);
        assert!(loose_decode("no-server").is_none());
    }
}
