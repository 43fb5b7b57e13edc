//! Decoder: bytes to nodes.
//!
//! Behaves like Baileys' `decodeDecompressedBinaryNode` on every input Baileys accepts, and on
//! hostile input returns an error instead of panicking, recursing without bound or allocating
//! from unchecked length fields. Trailing bytes after the root node are ignored, as in Baileys.
//!
//! The decoder reports what it reads to a [`Sink`]; [`TreeSink`] builds a [`Node`], and the
//! binding has its own sink that writes a compact form for JavaScript.

use std::borrow::Cow;

use crate::dictionary::{Dictionary, dictionary};
use crate::error::{BinaryError, Result};
use crate::node::{Content, Node, Text};
use crate::tags;

/// How deep JID strings may nest in the user position of another JID. Neither Baileys nor we
/// ever write a JID there; only hostile input does. (A JID pair in the server position, as in
/// `a@b@c`, is read in a loop and has no limit.)
pub const MAX_JID_NESTING: usize = 16;

/// Limits applied while decoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Levels of nested nodes, root included.
    pub max_depth: usize,
    /// Largest payload a compressed frame may inflate to, in bytes.
    pub max_inflated: usize,
}

/// Default nesting limit. Real stanzas nest fewer than ten levels.
pub const DEFAULT_MAX_DEPTH: usize = 64;
/// Default inflate limit: 32 MiB, twice the largest frame the transport carries.
pub const DEFAULT_MAX_INFLATED: usize = 32 << 20;

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_depth: DEFAULT_MAX_DEPTH,
            max_inflated: DEFAULT_MAX_INFLATED,
        }
    }
}

/// A string as read from the wire: `'a` borrows the input, `'s` the decoder's scratch buffer
/// (valid only during the [`Sink`] call that receives it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Str<'a, 's> {
    /// A dictionary token, with its global id.
    Token { id: u16, text: &'static str },
    /// Raw bytes, read as UTF-8 (invalid sequences become U+FFFD, as `Buffer#toString` does).
    Raw(&'a [u8]),
    /// A string the decoder assembled (JIDs, packed digits).
    Composed(&'s str),
}

impl Str<'_, '_> {
    /// The text.
    pub fn as_str(&self) -> Cow<'_, str> {
        match self {
            Str::Token { text, .. } => Cow::Borrowed(text),
            Str::Raw(b) => String::from_utf8_lossy(b),
            Str::Composed(s) => Cow::Borrowed(s),
        }
    }

    /// Whether the text is empty.
    pub fn is_empty(&self) -> bool {
        match self {
            Str::Token { text, .. } => text.is_empty(),
            Str::Raw(b) => b.is_empty(),
            Str::Composed(s) => s.is_empty(),
        }
    }

    /// The text as a node string (tokens stay borrowed).
    pub fn into_text(self) -> Text {
        match self {
            Str::Token { text, .. } => Cow::Borrowed(text),
            Str::Raw(b) => Cow::Owned(String::from_utf8_lossy(b).into_owned()),
            Str::Composed(s) => Cow::Owned(s.to_owned()),
        }
    }
}

/// Receives what the decoder reads, in wire order. For each node: `open`, `attr` per attribute,
/// then one of `no_content` / `list` (followed by the children) / `bytes` / `string`, then
/// `close`.
pub trait Sink<'a> {
    /// A node starts; `attr_count` attributes follow.
    fn open(&mut self, tag: Str<'a, '_>, attr_count: usize);
    /// One attribute.
    fn attr(&mut self, key: Str<'a, '_>, value: Str<'a, '_>);
    /// The node has no content.
    fn no_content(&mut self);
    /// The content is a list of `len` nodes; `capacity_hint` is `len` capped by what the
    /// remaining input can hold, safe to preallocate.
    fn list(&mut self, len: usize, capacity_hint: usize);
    /// The content is bytes, found at `offset` of the decoded buffer.
    fn bytes(&mut self, bytes: &'a [u8], offset: usize);
    /// The content is a string.
    fn string(&mut self, s: Str<'a, '_>);
    /// The node (and its children) ended.
    fn close(&mut self);
}

/// Decodes one node from `buf` (no flag byte) with default limits.
pub fn decode(buf: &[u8]) -> Result<Node> {
    decode_with_limits(buf, &DecodeLimits::default())
}

/// Decodes one node from `buf` (no flag byte).
pub fn decode_with_limits(buf: &[u8], limits: &DecodeLimits) -> Result<Node> {
    let mut sink = TreeSink::default();
    decode_into(buf, limits, &mut sink)?;
    sink.root.ok_or(BinaryError::InvalidNode {
        reason: "no node",
        at: 0,
    })
}

/// Decodes one node from `buf` (no flag byte) into `sink`; returns the offset after it.
pub fn decode_into<'a, S: Sink<'a>>(
    buf: &'a [u8],
    limits: &DecodeLimits,
    sink: &mut S,
) -> Result<usize> {
    let mut d = Decoder {
        buf,
        pos: 0,
        max_depth: limits.max_depth,
        dict: dictionary(),
    };
    let mut scratch = Scratch::default();
    d.node(sink, 0, &mut scratch)?;
    Ok(d.pos)
}

/// Buffers for assembled strings, reused for every node (a node's strings reach the sink
/// before its children are read).
#[derive(Default)]
struct Scratch {
    first: String,
    second: String,
}

struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
    max_depth: usize,
    dict: &'static Dictionary,
}

impl<'a> Decoder<'a> {
    fn eos(&self, needed: usize) -> BinaryError {
        BinaryError::EndOfStream {
            needed: (needed - (self.buf.len() - self.pos)) as u64,
            at: self.pos,
        }
    }

    #[inline]
    fn byte(&mut self) -> Result<u8> {
        let b = *self.buf.get(self.pos).ok_or_else(|| self.eos(1))?;
        self.pos += 1;
        Ok(b)
    }

    #[inline]
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.buf.len() - self.pos < n {
            return Err(self.eos(n));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn take_u64(&mut self, n: u64) -> Result<&'a [u8]> {
        let remaining = (self.buf.len() - self.pos) as u64;
        if n > remaining {
            return Err(BinaryError::EndOfStream {
                needed: n - remaining,
                at: self.pos,
            });
        }
        self.take(n as usize)
    }

    fn u16(&mut self) -> Result<u16> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u20(&mut self) -> Result<u32> {
        let b = self.take(3)?;
        Ok((u32::from(b[0] & 0x0f) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]))
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn list_size(&mut self, tag: u8) -> Result<usize> {
        match tag {
            tags::LIST_EMPTY => Ok(0),
            tags::LIST_8 => Ok(usize::from(self.byte()?)),
            tags::LIST_16 => Ok(usize::from(self.u16()?)),
            _ => Err(BinaryError::InvalidTag {
                tag,
                expected: "list",
                at: self.pos - 1,
            }),
        }
    }

    fn node<S: Sink<'a>>(
        &mut self,
        sink: &mut S,
        depth: usize,
        scratch: &mut Scratch,
    ) -> Result<()> {
        if depth >= self.max_depth {
            return Err(BinaryError::TooDeep {
                limit: self.max_depth,
                at: self.pos,
            });
        }
        let start = self.pos;
        let size_tag = self.byte()?;
        let size = self.list_size(size_tag)?;
        let tag_byte = self.byte()?;
        let tag = self.string(tag_byte, &mut scratch.first)?;
        if size == 0 {
            return Err(BinaryError::InvalidNode {
                reason: "list size 0",
                at: start,
            });
        }
        if tag.is_empty() {
            return Err(BinaryError::InvalidNode {
                reason: "empty tag",
                at: start,
            });
        }
        let attr_count = (size - 1) >> 1;
        sink.open(tag, attr_count);
        for _ in 0..attr_count {
            let kb = self.byte()?;
            let key = self.string(kb, &mut scratch.first)?;
            let vb = self.byte()?;
            let value = self.string(vb, &mut scratch.second)?;
            sink.attr(key, value);
        }
        if size % 2 == 0 {
            let tag = self.byte()?;
            match tag {
                tags::LIST_EMPTY | tags::LIST_8 | tags::LIST_16 => {
                    let len = self.list_size(tag)?;
                    // Every child takes at least two bytes.
                    let hint = len.min((self.buf.len() - self.pos) / 2);
                    sink.list(len, hint);
                    for _ in 0..len {
                        self.node(sink, depth + 1, scratch)?;
                    }
                }
                tags::BINARY_8 => {
                    let n = usize::from(self.byte()?);
                    let at = self.pos;
                    sink.bytes(self.take(n)?, at);
                }
                tags::BINARY_20 => {
                    let n = self.u20()?;
                    let at = self.pos;
                    sink.bytes(self.take_u64(u64::from(n))?, at);
                }
                tags::BINARY_32 => {
                    let n = self.u32()?;
                    let at = self.pos;
                    sink.bytes(self.take_u64(u64::from(n))?, at);
                }
                other => {
                    let s = self.string(other, &mut scratch.first)?;
                    sink.string(s);
                }
            }
        } else {
            sink.no_content();
        }
        sink.close();
        Ok(())
    }

    /// Reads the string that starts with `tag`. Tokens and raw bytes are borrowed; JIDs and
    /// packed digits are assembled in `buf`.
    fn string<'s>(&mut self, tag: u8, buf: &'s mut String) -> Result<Str<'a, 's>> {
        match tag {
            tags::JID_PAIR
            | tags::AD_JID
            | tags::FB_JID
            | tags::INTEROP_JID
            | tags::NIBBLE_8
            | tags::HEX_8 => {
                buf.clear();
                self.append(tag, 0, buf)?;
                Ok(Str::Composed(buf.as_str()))
            }
            other => self.simple(other),
        }
    }

    /// A string that is not assembled: a token, empty, or raw bytes.
    fn simple(&mut self, tag: u8) -> Result<Str<'a, 'static>> {
        match tag {
            tags::LIST_EMPTY => Ok(Str::Raw(&[])),
            1..tags::DICTIONARY_0 => Ok(Str::Token {
                id: u16::from(tag),
                text: self.dict.single(tag).unwrap_or_default(),
            }),
            tags::DICTIONARY_0..=tags::DICTIONARY_3 => {
                let dict = tag - tags::DICTIONARY_0;
                let index = self.byte()?;
                let text = self
                    .dict
                    .double(dict, index)
                    .ok_or(BinaryError::InvalidToken {
                        byte: tag,
                        at: self.pos - 2,
                    })?;
                Ok(Str::Token {
                    id: crate::dictionary::Token::Double { dict, index }.id(),
                    text,
                })
            }
            tags::BINARY_8 | tags::BINARY_20 | tags::BINARY_32 => self.raw(tag).map(Str::Raw),
            // Assembled strings never reach here (`string` and `append` take them first).
            tags::LIST_8
            | tags::LIST_16
            | tags::JID_PAIR
            | tags::AD_JID
            | tags::FB_JID
            | tags::INTEROP_JID
            | tags::NIBBLE_8
            | tags::HEX_8 => Err(self.not_a_string(tag)),
            _ => Err(BinaryError::InvalidToken {
                byte: tag,
                at: self.pos - 1,
            }),
        }
    }

    fn not_a_string(&self, tag: u8) -> BinaryError {
        BinaryError::InvalidTag {
            tag,
            expected: "string",
            at: self.pos - 1,
        }
    }

    /// The bytes of a BINARY_8/20/32 string.
    fn raw(&mut self, tag: u8) -> Result<&'a [u8]> {
        let n = match tag {
            tags::BINARY_8 => u64::from(self.byte()?),
            tags::BINARY_20 => u64::from(self.u20()?),
            _ => u64::from(self.u32()?),
        };
        self.take_u64(n)
    }

    /// Appends the string that starts with `tag` to `out`.
    fn append(&mut self, tag: u8, nesting: usize, out: &mut String) -> Result<()> {
        match tag {
            tags::BINARY_8 | tags::BINARY_20 | tags::BINARY_32 => {
                let raw = self.raw(tag)?;
                out.push_str(&String::from_utf8_lossy(raw));
            }
            tags::JID_PAIR => {
                // A pair whose server is another pair (`a@b@c`) is read in a loop, so a chain
                // of any length costs no stack; users nest only up to the limit.
                let at = self.pos - 1;
                loop {
                    self.nested(nesting, out)?;
                    out.push('@');
                    let tag = self.byte()?;
                    if tag == tags::JID_PAIR {
                        continue;
                    }
                    let before = out.len();
                    self.nested_tag(tag, nesting, out)?;
                    if out.len() == before {
                        return Err(BinaryError::InvalidJid { at });
                    }
                    return Ok(());
                }
            }
            tags::AD_JID => {
                let domain = self.byte()?;
                let device = self.byte()?;
                self.nested(nesting, out)?;
                if device != 0 {
                    out.push(':');
                    push_decimal(out, u32::from(device));
                }
                out.push('@');
                out.push_str(crate::jid::DomainType::server_for_byte(domain).as_str());
            }
            tags::FB_JID => {
                self.nested(nesting, out)?;
                let device = self.u16()?;
                out.push(':');
                push_decimal(out, u32::from(device));
                out.push('@');
                self.nested(nesting, out)?;
            }
            tags::INTEROP_JID => {
                // Printed as integrator-user:device@server, but read user, device, integrator.
                let mut user = String::new();
                self.nested(nesting, &mut user)?;
                let device = self.u16()?;
                let integrator = self.u16()?;
                push_decimal(out, u32::from(integrator));
                out.push('-');
                out.push_str(&user);
                out.push(':');
                push_decimal(out, u32::from(device));
                out.push('@');
                // Baileys treats a missing or unreadable server as "interop" and rewinds.
                let (pos, len) = (self.pos, out.len());
                if self.nested(nesting, out).is_err() {
                    self.pos = pos;
                    out.truncate(len);
                    out.push_str("interop");
                }
            }
            tags::NIBBLE_8 | tags::HEX_8 => self.packed(tag, out)?,
            other => match self.simple(other)? {
                Str::Token { text, .. } => out.push_str(text),
                Str::Raw(b) => out.push_str(&String::from_utf8_lossy(b)),
                Str::Composed(s) => out.push_str(s),
            },
        }
        Ok(())
    }

    /// Appends a string nested inside a JID (one level deeper).
    fn nested(&mut self, nesting: usize, out: &mut String) -> Result<()> {
        let tag = self.byte()?;
        self.nested_tag(tag, nesting, out)
    }

    fn nested_tag(&mut self, tag: u8, nesting: usize, out: &mut String) -> Result<()> {
        if nesting >= MAX_JID_NESTING {
            return Err(BinaryError::TooDeep {
                limit: MAX_JID_NESTING,
                at: self.pos,
            });
        }
        self.append(tag, nesting + 1, out)
    }

    fn packed(&mut self, tag: u8, out: &mut String) -> Result<()> {
        let start = self.byte()?;
        let n = usize::from(start & 0x7f);
        let at = self.pos;
        let bytes = self.take(n)?;
        let alphabet: &[u8; 16] = if tag == tags::NIBBLE_8 {
            b"0123456789-.\0\0\0\0"
        } else {
            b"0123456789ABCDEF"
        };
        // At most 127 bytes, so 254 digits: assembled on the stack, then appended at once.
        let mut digits = [0u8; 2 * 127];
        for (i, b) in bytes.iter().enumerate() {
            let (hi, lo) = (b >> 4, b & 0x0f);
            // Nibbles 12..=14 are not in the alphabet; 15 is NUL (padding).
            if tag == tags::NIBBLE_8 {
                for digit in [hi, lo] {
                    if (12..=14).contains(&digit) {
                        return Err(BinaryError::InvalidPacked { digit, at: at + i });
                    }
                }
            }
            digits[2 * i] = alphabet[usize::from(hi)];
            digits[2 * i + 1] = alphabet[usize::from(lo)];
        }
        let mut len = 2 * n;
        if start & 0x80 != 0 && len > 0 {
            len -= 1;
        }
        // The alphabets are ASCII, so this is always valid UTF-8.
        if let Ok(text) = std::str::from_utf8(&digits[..len]) {
            out.push_str(text);
        }
        Ok(())
    }
}

fn push_decimal(out: &mut String, mut v: u32) {
    let mut buf = [0u8; 10];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for b in &buf[i..] {
        out.push(char::from(*b));
    }
}

/// Builds a [`Node`] tree.
#[derive(Default)]
pub struct TreeSink {
    stack: Vec<Node>,
    /// The decoded root, once closed.
    pub root: Option<Node>,
}

impl<'a> Sink<'a> for TreeSink {
    fn open(&mut self, tag: Str<'a, '_>, attr_count: usize) {
        self.stack.push(Node {
            tag: tag.into_text(),
            attrs: Vec::with_capacity(attr_count.min(64)),
            content: Content::None,
        });
    }

    fn attr(&mut self, key: Str<'a, '_>, value: Str<'a, '_>) {
        if let Some(n) = self.stack.last_mut() {
            n.attrs.push((key.into_text(), value.into_text()));
        }
    }

    fn no_content(&mut self) {}

    fn list(&mut self, _len: usize, capacity_hint: usize) {
        if let Some(n) = self.stack.last_mut() {
            n.content = Content::Nodes(Vec::with_capacity(capacity_hint));
        }
    }

    fn bytes(&mut self, bytes: &'a [u8], _offset: usize) {
        if let Some(n) = self.stack.last_mut() {
            n.content = Content::Bytes(bytes.to_vec());
        }
    }

    fn string(&mut self, s: Str<'a, '_>) {
        if let Some(n) = self.stack.last_mut() {
            n.content = Content::Text(s.into_text());
        }
    }

    fn close(&mut self) {
        let Some(done) = self.stack.pop() else { return };
        match self.stack.last_mut() {
            Some(parent) => {
                if let Content::Nodes(children) = &mut parent.content {
                    children.push(done);
                }
            }
            None => self.root = Some(done),
        }
    }
}
