//! Encoder: nodes to bytes, byte-identical with Baileys' `encodeBinaryNode`.
//!
//! Every string goes through the same choice Baileys makes: empty -> raw; dictionary token;
//! nibble-packed (`0-9 - .`, at most 127 chars); hex-packed (`0-9 A-F`); a JID; else raw.
//!
//! One deliberate difference: for the few strings that Baileys' encoder garbles (its JID split
//! drops an `_agent` or a second `:`, turns the agent into a domain, loses the server of a
//! device JID that is not on s.whatsapp.net/lid/hosted/hosted.lid, wraps a device above 255,
//! reads `:01` as device 1; and its token map is a plain object, so `constructor` or
//! `__proto__` become byte 0), we write a form that decodes back to the same string:
//! FB_JID / INTEROP_JID for Messenger and interop device JIDs, raw bytes otherwise. For every
//! other string the bytes are Baileys' bytes. The one normalisation we share with Baileys:
//! `user:0@server` is an AD_JID of device 0 and reads back as `user@server` (device 0 is the
//! primary device, which the text form leaves out).

use crate::decode::DEFAULT_MAX_DEPTH;
use crate::dictionary::{Dictionary, Token, dictionary};
use crate::error::{BinaryError, Result};
use crate::node::{Content, Node};
use crate::tags;

/// Writes binary nodes into a byte buffer, piece by piece. [`encode`] drives it from a
/// [`Node`]; the binding drives it from JavaScript's compact form.
pub struct Encoder {
    out: Vec<u8>,
    dict: &'static Dictionary,
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder::new()
    }
}

impl Encoder {
    /// An encoder writing a bare node (no flag byte).
    pub fn new() -> Encoder {
        Encoder {
            out: Vec::with_capacity(256),
            dict: dictionary(),
        }
    }

    /// An encoder whose output starts with the uncompressed-frame flag byte (0), as Baileys'
    /// `encodeBinaryNode` returns it.
    pub fn with_frame_flag() -> Encoder {
        let mut e = Encoder::new();
        e.out.push(0);
        e
    }

    /// The bytes written so far.
    pub fn into_bytes(self) -> Vec<u8> {
        self.out
    }

    /// Starts a node: the list size (`2 * attr_count + 1`, plus one with content) and the tag.
    pub fn node_start(&mut self, tag: &str, attr_count: usize, has_content: bool) -> Result<()> {
        if tag.is_empty() {
            return Err(BinaryError::InvalidNode {
                reason: "empty tag",
                at: self.out.len(),
            });
        }
        self.list_start(2 * attr_count + 1 + usize::from(has_content))?;
        self.string(tag)
    }

    /// One attribute.
    pub fn attr(&mut self, key: &str, value: &str) -> Result<()> {
        self.string(key)?;
        self.string(value)
    }

    /// Bytes as the content of the current node.
    pub fn content_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        self.byte_length(bytes.len())?;
        self.out.extend_from_slice(bytes);
        Ok(())
    }

    /// A list header; `len` nodes must follow.
    pub fn list_start(&mut self, len: usize) -> Result<()> {
        match len {
            0 => self.out.push(tags::LIST_EMPTY),
            1..=255 => self.out.extend_from_slice(&[tags::LIST_8, len as u8]),
            256..=0xffff => {
                self.out.push(tags::LIST_16);
                self.out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                return Err(BinaryError::TooLarge {
                    what: "list",
                    size: len as u64,
                    limit: 0xffff,
                });
            }
        }
        Ok(())
    }

    /// A string, in the form Baileys would choose (see the module docs).
    pub fn string(&mut self, s: &str) -> Result<()> {
        // `a@b@c` is a JID pair whose server is the JID pair `b@c`: a loop over the servers
        // instead of recursion, so no string can exhaust the stack.
        let mut rest = s;
        while let Some(server) = self.string_step(rest)? {
            rest = server;
        }
        Ok(())
    }

    fn byte_length(&mut self, len: usize) -> Result<()> {
        if len as u64 >= 1 << 32 {
            return Err(BinaryError::TooLarge {
                what: "string or bytes",
                size: len as u64,
                limit: u32::MAX as u64,
            });
        }
        if len >= 1 << 20 {
            self.out.push(tags::BINARY_32);
            self.out.extend_from_slice(&(len as u32).to_be_bytes());
        } else if len >= 256 {
            self.out.push(tags::BINARY_20);
            self.out
                .extend_from_slice(&[((len >> 16) & 0x0f) as u8, (len >> 8) as u8, len as u8]);
        } else {
            self.out.extend_from_slice(&[tags::BINARY_8, len as u8]);
        }
        Ok(())
    }

    fn raw(&mut self, s: &str) -> Result<()> {
        self.content_bytes(s.as_bytes())
    }

    /// Writes `s`; for a JID pair, writes the tag and the user and returns the server, which
    /// the caller writes next.
    fn string_step<'s>(&mut self, s: &'s str) -> Result<Option<&'s str>> {
        if s.is_empty() {
            self.raw(s)?;
            return Ok(None);
        }
        if let Some(token) = self.dict.token(s) {
            match token {
                Token::Single(b) => self.out.push(b),
                Token::Double { dict, index } => {
                    self.out
                        .extend_from_slice(&[tags::DICTIONARY_0 + dict, index]);
                }
            }
            return Ok(None);
        }
        if s.len() <= tags::PACKED_MAX {
            let b = s.as_bytes();
            if b.iter().all(|c| matches!(c, b'0'..=b'9' | b'-' | b'.')) {
                self.packed(b, tags::NIBBLE_8);
                return Ok(None);
            }
            if b.iter().all(|c| matches!(c, b'0'..=b'9' | b'A'..=b'F')) {
                self.packed(b, tags::HEX_8);
                return Ok(None);
            }
        }
        if let Some(at) = s.bytes().position(|b| b == b'@') {
            match self.jid(&s[..at], &s[at + 1..])? {
                JidForm::Written => return Ok(None),
                JidForm::PairServer(server) => return Ok(Some(server)),
                JidForm::NotIntact => {}
            }
        }
        self.raw(s)?;
        Ok(None)
    }

    fn packed(&mut self, s: &[u8], tag: u8) {
        let odd = s.len() % 2;
        self.out.push(tag);
        self.out
            .push(((s.len() / 2 + odd) as u8) | ((odd as u8) << 7));
        let digit = |c: u8| match c {
            b'0'..=b'9' => c - b'0',
            b'-' => 10,
            b'.' => 11,
            b'A'..=b'F' => 10 + c - b'A',
            _ => 15,
        };
        for pair in s.chunks(2) {
            let hi = digit(pair[0]);
            let lo = pair.get(1).map_or(15, |c| digit(*c));
            self.out.push((hi << 4) | lo);
        }
    }

    /// Writes `user_part@server` as a JID if some JID form carries it intact. `user_part` holds
    /// no `@`, so its pieces are written without further JIDs.
    fn jid<'s>(&mut self, user_part: &'s str, server: &'s str) -> Result<JidForm<'s>> {
        match user_part.split_once(':') {
            // Baileys: a non-empty device makes an AD_JID, whose server the reader derives from
            // the domain byte and whose device is one byte printed without leading zeros.
            Some((user, device)) if !device.is_empty() => {
                let domain = match server {
                    "s.whatsapp.net" => Some(0u8),
                    "lid" => Some(1),
                    "hosted" => Some(128),
                    "hosted.lid" => Some(129),
                    _ => None,
                };
                if let (Some(domain), Some(device @ 0..=255)) = (domain, canonical_u16(device))
                    && !user.contains('_')
                {
                    self.out
                        .extend_from_slice(&[tags::AD_JID, domain, device as u8]);
                    self.string(user)?;
                    return Ok(JidForm::Written);
                }
                if server == "msgr"
                    && let Some(device) = canonical_u16(device)
                {
                    self.out.push(tags::FB_JID);
                    self.string(user)?;
                    self.out.extend_from_slice(&device.to_be_bytes());
                    self.string(server)?;
                    return Ok(JidForm::Written);
                }
                if server == "interop"
                    && let Some(device) = canonical_u16(device)
                    && let Some((integrator, user)) = user.split_once('-')
                    && let Some(integrator) = canonical_u16(integrator)
                {
                    self.out.push(tags::INTEROP_JID);
                    self.string(user)?;
                    self.out.extend_from_slice(&device.to_be_bytes());
                    self.out.extend_from_slice(&integrator.to_be_bytes());
                    self.string(server)?;
                    return Ok(JidForm::Written);
                }
                Ok(JidForm::NotIntact)
            }
            // Baileys: a JID pair of the user (before any `_`) and the server; intact only
            // when there is no agent or stray `:`, and the server is not empty.
            Some(_) => Ok(JidForm::NotIntact),
            None if user_part.contains('_') || server.is_empty() => Ok(JidForm::NotIntact),
            None => {
                self.out.push(tags::JID_PAIR);
                if user_part.is_empty() {
                    self.out.push(tags::LIST_EMPTY);
                } else {
                    self.string(user_part)?;
                }
                Ok(JidForm::PairServer(server))
            }
        }
    }
}

/// What [`Encoder::jid`] did.
enum JidForm<'s> {
    /// Wrote a complete JID.
    Written,
    /// Wrote a JID pair's tag and user; the server is still to be written.
    PairServer(&'s str),
    /// No JID form carries the string intact; it goes raw.
    NotIntact,
}

/// `s` as a number if it is written the way the decoder prints numbers (no sign, no leading
/// zeros) and fits 16 bits.
fn canonical_u16(s: &str) -> Option<u16> {
    let b = s.as_bytes();
    if b.is_empty()
        || b.len() > 5
        || !b.iter().all(u8::is_ascii_digit)
        || (b.len() > 1 && b[0] == b'0')
    {
        return None;
    }
    s.parse().ok()
}

/// Encodes a node (no flag byte).
pub fn encode(node: &Node) -> Result<Vec<u8>> {
    let mut e = Encoder::new();
    write_node(&mut e, node, 0)?;
    Ok(e.into_bytes())
}

/// Encodes `node`'s tag and attributes alone, as `encode` would a copy of it without content
/// (what a message's inbox entry keeps of its envelope, without copying the attributes).
pub fn encode_head(node: &Node) -> Result<Vec<u8>> {
    let mut e = Encoder::new();
    e.node_start(&node.tag, node.attrs.len(), false)?;
    for (k, v) in &node.attrs {
        e.attr(k, v)?;
    }
    Ok(e.into_bytes())
}

/// Encodes a node as an uncompressed frame: flag byte 0, then the node.
pub fn encode_frame(node: &Node) -> Result<Vec<u8>> {
    let mut e = Encoder::with_frame_flag();
    write_node(&mut e, node, 0)?;
    Ok(e.into_bytes())
}

/// Appends `node` to an encoder.
pub fn write_node(e: &mut Encoder, node: &Node, depth: usize) -> Result<()> {
    if depth >= DEFAULT_MAX_DEPTH {
        return Err(BinaryError::TooDeep {
            limit: DEFAULT_MAX_DEPTH,
            at: e.out.len(),
        });
    }
    let has_content = !matches!(node.content, Content::None);
    e.node_start(&node.tag, node.attrs.len(), has_content)?;
    for (k, v) in &node.attrs {
        e.attr(k, v)?;
    }
    match &node.content {
        Content::None => {}
        Content::Bytes(b) => e.content_bytes(b)?,
        Content::Text(t) => e.string(t)?,
        Content::Nodes(children) => {
            e.list_start(children.len())?;
            for c in children {
                write_node(e, c, depth + 1)?;
            }
        }
    }
    Ok(())
}
