//! Signal addresses as Baileys forms them from JIDs.
//!
//! A device JID `user[_agent][:device]@server` becomes `user[_domainType].device`, where the
//! domain type is 1 for `@lid`, 128 for `@hosted`, 129 for `@hosted.lid`, the agent number
//! otherwise, and is left out when it is 0 (plain `@s.whatsapp.net`). Sender key names are
//! `group::user[_domainType]::device`. Store keys are these strings, so they must match
//! Baileys' byte for byte or a switched user loses every session.

use std::fmt;

use crate::error::ErrorKind;

/// Domain types of Baileys' `WAJIDDomains`.
pub const DOMAIN_WHATSAPP: u32 = 0;
pub const DOMAIN_LID: u32 = 1;
pub const DOMAIN_HOSTED: u32 = 128;
pub const DOMAIN_HOSTED_LID: u32 = 129;

/// The device number WhatsApp reserves for hosted (business API) devices.
const HOSTED_DEVICE: u32 = 99;

/// One device of one user: `name.device` (libsignal's ProtocolAddress).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProtocolAddress {
    /// `user` or `user_domainType`.
    pub name: String,
    pub device: u32,
}

impl ProtocolAddress {
    /// An address from its parts; the name must not contain a `.` (libsignal-node refuses it).
    pub fn new(name: impl Into<String>, device: u32) -> Result<Self, ErrorKind> {
        let name = name.into();
        if name.is_empty() {
            return Err(ErrorKind::Address("empty user"));
        }
        if name.contains('.') {
            return Err(ErrorKind::Address("user contains '.'"));
        }
        Ok(Self { name, device })
    }

    /// Parses the `name.device` form used as store key.
    pub fn parse(s: &str) -> Result<Self, ErrorKind> {
        let (name, device) = s
            .rsplit_once('.')
            .ok_or(ErrorKind::Address("expected name.device"))?;
        Self::new(name, parse_decimal(device)?)
    }

    /// The address of a device JID, exactly as Baileys' `jidToSignalProtocolAddress`.
    ///
    /// Baileys also accepts odd spellings (`+`-signs, hex, exponents) through JavaScript's
    /// number parsing; those never come from WhatsApp and are refused here.
    pub fn from_jid(jid: &str) -> Result<Self, ErrorKind> {
        let at = jid
            .bytes()
            .position(|b| b == b'@')
            .ok_or(ErrorKind::Address("JID has no '@'"))?;
        let (user_combined, server) = (&jid[..at], &jid[at + 1..]);
        let mut parts = user_combined.split(':');
        let user_agent = parts.next().unwrap_or_default();
        let device = parts.next().unwrap_or_default();
        let mut ua = user_agent.split('_');
        let user = ua.next().unwrap_or_default();
        let agent = ua.next().unwrap_or_default();
        if user.is_empty() {
            return Err(ErrorKind::Address("JID has an empty user"));
        }
        let domain = match server {
            "lid" => DOMAIN_LID,
            "hosted" => DOMAIN_HOSTED,
            "hosted.lid" => DOMAIN_HOSTED_LID,
            _ if !agent.is_empty() => parse_decimal(agent)?,
            _ => DOMAIN_WHATSAPP,
        };
        let device = if device.is_empty() {
            0
        } else {
            parse_decimal(device)?
        };
        if device == HOSTED_DEVICE && server != "hosted" && server != "hosted.lid" {
            return Err(ErrorKind::Address("device 99 on a non-hosted JID"));
        }
        let name = if domain == DOMAIN_WHATSAPP {
            user.to_owned()
        } else {
            format!("{user}_{domain}")
        };
        Self::new(name, device)
    }
}

impl ProtocolAddress {
    /// `name.device`, the key its session is stored under: the same text as `to_string()`,
    /// made in one allocation of its size (several a message; `to_string` grows its buffer
    /// two or three times).
    pub fn id(&self) -> String {
        let mut digits = itoa::Buffer::new();
        let device = digits.format(self.device);
        let mut id = String::with_capacity(self.name.len() + 1 + device.len());
        id.push_str(&self.name);
        id.push('.');
        id.push_str(device);
        id
    }
}

impl fmt::Display for ProtocolAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Written piece by piece: an address is printed as a store key several times per
        // message, and `write!`'s argument walk cost more than the copying.
        f.write_str(&self.name)?;
        f.write_str(".")?;
        f.write_str(itoa::Buffer::new().format(self.device))
    }
}

/// Whose sender key in which group: `group::name::device`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SenderKeyName {
    /// The group JID as given (`123-456@g.us`).
    pub group: String,
    pub sender: ProtocolAddress,
}

impl SenderKeyName {
    pub fn new(group: impl Into<String>, sender: ProtocolAddress) -> Self {
        Self {
            group: group.into(),
            sender,
        }
    }

    /// The name of `author_jid`'s sender key in `group` (Baileys' `jidToSignalSenderKeyName`).
    pub fn from_jids(group: &str, author_jid: &str) -> Result<Self, ErrorKind> {
        Ok(Self::new(group, ProtocolAddress::from_jid(author_jid)?))
    }
}

impl fmt::Display for SenderKeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}::{}::{}",
            self.group, self.sender.name, self.sender.device
        )
    }
}

fn parse_decimal(s: &str) -> Result<u32, ErrorKind> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ErrorKind::Address("expected a decimal number"));
    }
    s.parse()
        .map_err(|_| ErrorKind::Address("number too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(jid: &str) -> String {
        ProtocolAddress::from_jid(jid).unwrap().to_string()
    }

    #[test]
    fn the_store_id_is_the_printed_address() {
        for (name, device) in [("5511", 0), ("77_1", 12), ("x_128", 99), ("a", u32::MAX)] {
            let a = ProtocolAddress::new(name, device).unwrap();
            assert_eq!(a.id(), a.to_string());
            assert_eq!(a.id().capacity(), a.id().len());
        }
    }

    #[test]
    fn baileys_forms() {
        assert_eq!(addr("5511999999999@s.whatsapp.net"), "5511999999999.0");
        assert_eq!(addr("5511999999999:3@s.whatsapp.net"), "5511999999999.3");
        assert_eq!(addr("123456789012345@lid"), "123456789012345_1.0");
        assert_eq!(addr("123456789012345:7@lid"), "123456789012345_1.7");
        assert_eq!(addr("5511999999999:99@hosted"), "5511999999999_128.99");
        assert_eq!(
            addr("123456789012345:99@hosted.lid"),
            "123456789012345_129.99"
        );
        assert_eq!(
            addr("5511999999999_1:2@s.whatsapp.net"),
            "5511999999999_1.2"
        );
        // agent 0 means the plain domain
        assert_eq!(addr("5511999999999_0:2@s.whatsapp.net"), "5511999999999.2");
        assert_eq!(addr("5511:0@s.whatsapp.net"), "5511.0");
    }

    #[test]
    fn refuses_what_baileys_refuses() {
        for bad in [
            "no-at-sign",
            "@s.whatsapp.net",
            ":1@s.whatsapp.net",
            "123:99@s.whatsapp.net",
            "12.3@s.whatsapp.net",
            "123:x@s.whatsapp.net",
            "123:99999999999@s.whatsapp.net",
        ] {
            assert!(ProtocolAddress::from_jid(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sender_key_names_and_parse() {
        let n = SenderKeyName::from_jids("1203630@g.us", "123:4@lid").unwrap();
        assert_eq!(n.to_string(), "1203630@g.us::123_1::4");
        let a = ProtocolAddress::parse("123_1.4").unwrap();
        assert_eq!(a, n.sender);
        assert!(ProtocolAddress::parse("1234").is_err());
        assert!(ProtocolAddress::parse(".4").is_err());
    }
}
