//! JIDs: WhatsApp addresses such as `12345:2@s.whatsapp.net` or `1203630@g.us`.
//!
//! The text forms follow Baileys 7 (`jidEncode` / the decoder's JID readers), because those
//! strings are what a Baileys bot stores and compares:
//! `[integrator-]user[_agent][:device]@server`. A device or agent of 0 is not written.

use std::fmt;
use std::str::FromStr;

/// The part after `@`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Server {
    /// `s.whatsapp.net`: a phone-number user.
    Pn,
    /// `g.us`: a group.
    Group,
    /// `broadcast`: a broadcast list or `status@broadcast`.
    Broadcast,
    /// `lid`: a user by LID (hidden user id).
    Lid,
    /// `hosted`: a phone-number user on a hosted (Cloud API) device.
    Hosted,
    /// `hosted.lid`: a LID user on a hosted device.
    HostedLid,
    /// `newsletter`: a channel.
    Newsletter,
    /// `call`: a call link / group call.
    Call,
    /// `c.us`: the legacy user server (official business, PSA, Meta AI ids).
    Legacy,
    /// `bot`: Meta AI bots.
    Bot,
    /// `msgr`: Messenger users (FB_JID on the wire).
    Messenger,
    /// `interop`: interop users (INTEROP_JID on the wire).
    Interop,
    /// Any other server, kept verbatim.
    Other(String),
}

impl Server {
    /// The server's text.
    pub fn as_str(&self) -> &str {
        match self {
            Server::Pn => "s.whatsapp.net",
            Server::Group => "g.us",
            Server::Broadcast => "broadcast",
            Server::Lid => "lid",
            Server::Hosted => "hosted",
            Server::HostedLid => "hosted.lid",
            Server::Newsletter => "newsletter",
            Server::Call => "call",
            Server::Legacy => "c.us",
            Server::Bot => "bot",
            Server::Messenger => "msgr",
            Server::Interop => "interop",
            Server::Other(s) => s,
        }
    }

    /// The server named by `s` (never fails: unknown names become [`Server::Other`]).
    pub fn from_name(s: &str) -> Server {
        match s {
            "s.whatsapp.net" => Server::Pn,
            "g.us" => Server::Group,
            "broadcast" => Server::Broadcast,
            "lid" => Server::Lid,
            "hosted" => Server::Hosted,
            "hosted.lid" => Server::HostedLid,
            "newsletter" => Server::Newsletter,
            "call" => Server::Call,
            "c.us" => Server::Legacy,
            "bot" => Server::Bot,
            "msgr" => Server::Messenger,
            "interop" => Server::Interop,
            other => Server::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The domain type byte of an AD_JID (Baileys' `WAJIDDomains`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DomainType {
    /// `s.whatsapp.net`.
    WhatsApp = 0,
    /// `lid`.
    Lid = 1,
    /// `hosted`.
    Hosted = 128,
    /// `hosted.lid`.
    HostedLid = 129,
}

impl DomainType {
    /// The domain type with this byte value, if it is one.
    pub fn from_byte(b: u8) -> Option<DomainType> {
        match b {
            0 => Some(DomainType::WhatsApp),
            1 => Some(DomainType::Lid),
            128 => Some(DomainType::Hosted),
            129 => Some(DomainType::HostedLid),
            _ => None,
        }
    }

    /// The server a device JID of this domain lives on. Unknown domain bytes read as
    /// `s.whatsapp.net`, as Baileys and whatsmeow do.
    pub fn server_for_byte(b: u8) -> Server {
        match DomainType::from_byte(b) {
            Some(DomainType::Lid) => Server::Lid,
            Some(DomainType::Hosted) => Server::Hosted,
            Some(DomainType::HostedLid) => Server::HostedLid,
            Some(DomainType::WhatsApp) | None => Server::Pn,
        }
    }
}

/// Why a string is not a JID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JidError {
    /// No `@` in the string.
    #[error("not a jid: no '@' in {0:?}")]
    NoServer(String),
    /// A device, agent or integrator that is not a number in range.
    #[error("not a jid: bad {part} {value:?}")]
    BadNumber { part: &'static str, value: String },
    /// More than one `:`, `_` or `@` where one is allowed.
    #[error("not a jid: unexpected {0:?}")]
    Unexpected(String),
}

impl JidError {
    /// The stable code of this error.
    pub fn code(&self) -> &'static str {
        "ERR_WA_BINARY_JID_PARSE"
    }
}

/// A parsed JID.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Jid {
    /// The user (phone number, LID, group id, ...); may be empty (`@s.whatsapp.net`).
    pub user: String,
    /// The agent (`user_agent`); 0 = none.
    pub agent: u8,
    /// The device (`user:device`); 0 = the primary device / none.
    pub device: u16,
    /// The interop integrator (`integrator-user`); only meaningful on [`Server::Interop`].
    pub integrator: u16,
    /// The server.
    pub server: Server,
}

impl Jid {
    /// A JID without agent or device.
    pub fn new(user: impl Into<String>, server: Server) -> Jid {
        Jid {
            user: user.into(),
            agent: 0,
            device: 0,
            integrator: 0,
            server,
        }
    }

    /// A device JID as an AD_JID carries it: the server follows from the domain byte.
    pub fn from_ad(user: impl Into<String>, domain: u8, device: u8) -> Jid {
        Jid {
            device: u16::from(device),
            ..Jid::new(user, DomainType::server_for_byte(domain))
        }
    }

    /// Parses `[integrator-]user[_agent][:device]@server`. Stricter than Baileys' `jidDecode`
    /// (which silently drops extra parts): extra `:`/`_`, or numbers out of range, are errors.
    pub fn parse(s: &str) -> Result<Jid, JidError> {
        let (user_part, server) =
            split_at_byte(s, b'@').ok_or_else(|| JidError::NoServer(s.to_owned()))?;
        if server.as_bytes().contains(&b'@') {
            return Err(JidError::Unexpected("@".to_owned()));
        }
        let server = Server::from_name(server);
        let (user_part, device) = match split_at_byte(user_part, b':') {
            Some((u, d)) => (u, number::<u16>("device", d)?),
            None => (user_part, 0),
        };
        let (mut user, agent) = match split_at_byte(user_part, b'_') {
            Some((u, a)) => (u, number::<u8>("agent", a)?),
            None => (user_part, 0),
        };
        let mut integrator = 0;
        if server == Server::Interop
            && let Some((i, u)) = user.split_once('-')
        {
            integrator = number::<u16>("integrator", i)?;
            user = u;
        }
        Ok(Jid {
            user: user.to_owned(),
            agent,
            device,
            integrator,
            server,
        })
    }

    /// Baileys' domain type of this JID: from the server for LID and hosted JIDs, otherwise
    /// the agent.
    pub fn domain_type(&self) -> u8 {
        match self.server {
            Server::Lid => DomainType::Lid as u8,
            Server::Hosted => DomainType::Hosted as u8,
            Server::HostedLid => DomainType::HostedLid as u8,
            _ => self.agent,
        }
    }

    /// The same user without agent and device, `c.us` mapped to `s.whatsapp.net`
    /// (Baileys' `jidNormalizedUser`).
    pub fn normalized_user(&self) -> Jid {
        let server = match &self.server {
            Server::Legacy => Server::Pn,
            other => other.clone(),
        };
        Jid {
            integrator: self.integrator,
            ..Jid::new(self.user.clone(), server)
        }
    }

    /// This JID's user and server with another device (Baileys' `transferDevice`).
    pub fn with_device(&self, device: u16) -> Jid {
        Jid {
            device,
            agent: 0,
            ..self.clone()
        }
    }

    /// Whether both JIDs name the same user, whatever the device (Baileys' `areJidsSameUser`).
    pub fn same_user(&self, other: &Jid) -> bool {
        self.user == other.user
    }

    /// A group (`@g.us`).
    pub fn is_group(&self) -> bool {
        self.server == Server::Group
    }
    /// A broadcast list or the status broadcast (`@broadcast`).
    pub fn is_broadcast(&self) -> bool {
        self.server == Server::Broadcast
    }
    /// `status@broadcast`.
    pub fn is_status_broadcast(&self) -> bool {
        self.server == Server::Broadcast && self.user == "status" && self.device == 0
    }
    /// A channel (`@newsletter`).
    pub fn is_newsletter(&self) -> bool {
        self.server == Server::Newsletter
    }
    /// A phone-number user (`@s.whatsapp.net`).
    pub fn is_pn(&self) -> bool {
        self.server == Server::Pn
    }
    /// A LID user (`@lid`).
    pub fn is_lid(&self) -> bool {
        self.server == Server::Lid
    }
    /// A hosted phone-number user (`@hosted`).
    pub fn is_hosted_pn(&self) -> bool {
        self.server == Server::Hosted
    }
    /// A hosted LID user (`@hosted.lid`).
    pub fn is_hosted_lid(&self) -> bool {
        self.server == Server::HostedLid
    }
    /// A Meta bot by number on `c.us` (Baileys' `isJidBot`).
    pub fn is_bot(&self) -> bool {
        self.server == Server::Legacy && is_bot_user(&self.user)
    }
    /// A Meta AI JID (`@bot`, Baileys' `isJidMetaAI`).
    pub fn is_meta_ai(&self) -> bool {
        self.server == Server::Bot
    }
}

/// `1313555` + 4 digits, or `131655500` + 2 digits.
fn is_bot_user(user: &str) -> bool {
    let digits_after = |prefix: &str, n: usize| {
        user.strip_prefix(prefix)
            .is_some_and(|rest| rest.len() == n && rest.bytes().all(|b| b.is_ascii_digit()))
    };
    digits_after("1313555", 4) || digits_after("131655500", 2)
}

fn number<T: FromStr>(part: &'static str, s: &str) -> Result<T, JidError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(JidError::BadNumber {
            part,
            value: s.to_owned(),
        });
    }
    s.parse().map_err(|_| JidError::BadNumber {
        part,
        value: s.to_owned(),
    })
}

impl Jid {
    /// The JID as text: `to_string()`'s text, made in one allocation of its size. JIDs are
    /// printed several times per message sent (node attributes, device lists, lanes).
    pub fn text(&self) -> String {
        let mut out = String::with_capacity(self.user.len() + 32);
        // Writing to a String cannot fail.
        let _ = self.write_to(&mut out);
        out
    }

    /// The pieces written one by one: `write!`'s argument walk cost more than the copying.
    fn write_to<W: fmt::Write>(&self, out: &mut W) -> fmt::Result {
        let mut n = itoa::Buffer::new();
        if self.server == Server::Interop {
            out.write_str(n.format(self.integrator))?;
            out.write_char('-')?;
        }
        out.write_str(&self.user)?;
        if self.agent != 0 {
            out.write_char('_')?;
            out.write_str(n.format(self.agent))?;
        }
        if self.device != 0 {
            out.write_char(':')?;
            out.write_str(n.format(self.device))?;
        }
        out.write_char('@')?;
        out.write_str(self.server.as_str())
    }
}

impl fmt::Display for Jid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_to(f)
    }
}

impl FromStr for Jid {
    type Err = JidError;
    fn from_str(s: &str) -> Result<Jid, JidError> {
        Jid::parse(s)
    }
}

/// `s.split_once(c)` for an ASCII `c`, by a plain loop over the bytes: JIDs are short and
/// parsed many times a message, and `str`'s char searcher cost several times more per call
/// (set up for any char, then a memchr call).
pub fn split_at_byte(s: &str, c: u8) -> Option<(&str, &str)> {
    debug_assert!(c.is_ascii());
    let at = s.bytes().position(|b| b == c)?;
    // An ASCII byte is a char boundary on both sides.
    Some((&s[..at], &s[at + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_the_display_text() {
        for j in [
            "5511@s.whatsapp.net",
            "5511:3@s.whatsapp.net",
            "77_1:12@lid",
            "7-5511@interop",
            "123-456@g.us",
            "status@broadcast",
            "5511_128:99@hosted",
        ] {
            let jid = Jid::parse(j).unwrap();
            assert_eq!(jid.text(), jid.to_string(), "{j}");
            assert_eq!(jid.text(), j);
        }
    }

    #[test]
    fn split_at_byte_is_split_once() {
        for s in [
            "",
            "@",
            "a@b",
            "a@b@c",
            "no-at",
            "é@ü:1",
            "user:2@s.whatsapp.net",
        ] {
            for c in [b'@', b':', b'_'] {
                assert_eq!(split_at_byte(s, c), s.split_once(c as char), "{s:?} at {c}");
            }
        }
    }

    #[test]
    fn parses_and_formats_every_server() {
        for (s, server) in [
            ("5511999990000@s.whatsapp.net", Server::Pn),
            ("120363025246125486@g.us", Server::Group),
            ("status@broadcast", Server::Broadcast),
            ("123456789012345@lid", Server::Lid),
            ("5511999990000@hosted", Server::Hosted),
            ("123456789012345@hosted.lid", Server::HostedLid),
            ("120363144038483540@newsletter", Server::Newsletter),
            ("abcdef@call", Server::Call),
            ("16505361212@c.us", Server::Legacy),
            ("867051314767696@bot", Server::Bot),
            ("100001:3@msgr", Server::Messenger),
            ("7-1234:2@interop", Server::Interop),
            ("x@example.org", Server::Other("example.org".into())),
        ] {
            let jid = Jid::parse(s).unwrap();
            assert_eq!(jid.server, server, "{s}");
            assert_eq!(jid.to_string(), s);
        }
    }

    #[test]
    fn device_agent_and_domain() {
        let j = Jid::parse("5511999990000:12@s.whatsapp.net").unwrap();
        assert_eq!(
            (j.user.as_str(), j.device, j.agent),
            ("5511999990000", 12, 0)
        );
        assert_eq!(j.domain_type(), 0);
        let j = Jid::parse("123_1:2@s.whatsapp.net").unwrap();
        assert_eq!((j.agent, j.device, j.domain_type()), (1, 2, 1));
        assert_eq!(Jid::parse("1:3@lid").unwrap().domain_type(), 1);
        assert_eq!(Jid::parse("1@hosted").unwrap().domain_type(), 128);
        assert_eq!(Jid::parse("1@hosted.lid").unwrap().domain_type(), 129);
        let j = Jid::parse("7-1234:2@interop").unwrap();
        assert_eq!((j.integrator, j.user.as_str(), j.device), (7, "1234", 2));
    }

    #[test]
    fn from_ad_maps_domains_to_servers() {
        assert_eq!(Jid::from_ad("1", 0, 2).to_string(), "1:2@s.whatsapp.net");
        assert_eq!(Jid::from_ad("1", 1, 2).to_string(), "1:2@lid");
        assert_eq!(Jid::from_ad("1", 128, 0).to_string(), "1@hosted");
        assert_eq!(Jid::from_ad("1", 129, 9).to_string(), "1:9@hosted.lid");
        assert_eq!(Jid::from_ad("1", 77, 9).to_string(), "1:9@s.whatsapp.net");
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "no-at",
            "1:x@s.whatsapp.net",
            "1:70000@s.whatsapp.net",
            "1_300@lid",
            "a@b@c",
            "1:@lid",
        ] {
            let err = Jid::parse(bad).unwrap_err();
            assert_eq!(err.code(), "ERR_WA_BINARY_JID_PARSE", "{bad}");
        }
    }

    #[test]
    fn helpers_follow_baileys() {
        let pn = Jid::parse("5511999990000:3@s.whatsapp.net").unwrap();
        assert!(pn.is_pn() && !pn.is_lid());
        assert_eq!(
            pn.normalized_user().to_string(),
            "5511999990000@s.whatsapp.net"
        );
        assert_eq!(
            Jid::parse("16505361212@c.us")
                .unwrap()
                .normalized_user()
                .to_string(),
            "16505361212@s.whatsapp.net"
        );
        let lid = Jid::parse("123@lid").unwrap();
        assert_eq!(
            pn.with_device(0).to_string(),
            "5511999990000@s.whatsapp.net"
        );
        assert_eq!(lid.with_device(pn.device).to_string(), "123:3@lid");
        assert!(pn.same_user(&Jid::parse("5511999990000@s.whatsapp.net").unwrap()));
        assert!(
            Jid::parse("status@broadcast")
                .unwrap()
                .is_status_broadcast()
        );
        assert!(!Jid::parse("123@broadcast").unwrap().is_status_broadcast());
        assert!(Jid::parse("13135550002@c.us").unwrap().is_bot());
        assert!(Jid::parse("13165550099@c.us").unwrap().is_bot());
        assert!(!Jid::parse("13135550002@s.whatsapp.net").unwrap().is_bot());
        assert!(!Jid::parse("131355500021@c.us").unwrap().is_bot());
        assert!(Jid::parse("1@bot").unwrap().is_meta_ai());
        assert!(Jid::parse("1@g.us").unwrap().is_group());
        assert!(Jid::parse("1@newsletter").unwrap().is_newsletter());
        assert!(Jid::parse("1@hosted").unwrap().is_hosted_pn());
        assert!(Jid::parse("1@hosted.lid").unwrap().is_hosted_lid());
    }
}
