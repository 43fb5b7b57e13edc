//! A message as the JavaScript object Baileys' users read, written straight from its wire
//! bytes to JSON text: protobufjs' field names (the schema's JSON names), enums and 64-bit
//! integers as numbers, bytes as Baileys' BufferJSON (`{"type":"Buffer","data":"<base64>"}`),
//! only the fields present on the wire, maps as objects.
//!
//! Every received text becomes such an object. Going through a reflected message and a JSON
//! tree cost a decode into maps of boxed values, a tree of the same size and a printer pass;
//! this walks the bytes once with tables generated from `proto/` at build time, so nothing is
//! built or looked up at run time either.
//!
//! The walk expects bytes as prost writes them (ours: each field once, in number order, a
//! repeated field's elements together). Bytes from elsewhere that repeat a singular field
//! or split a repeated one still give valid JSON, but not protobuf's merge semantics: decode
//! them into the typed message first.

use base64::Engine as _;

/// A field's protobuf type, as the wire and the JSON form need it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Double,
    Float,
    Int64,
    Uint64,
    Int32,
    Fixed64,
    Fixed32,
    Bool,
    String,
    Group,
    Message,
    Bytes,
    Uint32,
    Enum,
    Sfixed32,
    Sfixed64,
    Sint32,
    Sint64,
}

/// One field of a message type.
#[derive(Debug)]
pub struct Field {
    pub number: u32,
    /// The name protobufjs gives the field in a JS object.
    pub json: &'static str,
    pub kind: Kind,
    pub repeated: bool,
    /// For `Message` fields, the index of their type in the schema table.
    pub message: u32,
}

/// One message type: its full name (`wa.Message.ImageMessage`), whether it is a map's entry,
/// its fields sorted by number.
#[derive(Debug)]
pub struct Schema {
    pub name: &'static str,
    pub map_entry: bool,
    pub fields: &'static [Field],
}

include!(concat!(env!("OUT_DIR"), "/wa_js_schema.rs"));

/// prost's own limit on nested messages; the same bound keeps the walk's stack small.
const MAX_DEPTH: u32 = 100;

/// The schema of a message type by full name (`wa.WebMessageInfo`).
pub fn schema(name: &str) -> Option<&'static Schema> {
    MESSAGES
        .binary_search_by(|s| s.name.cmp(name))
        .ok()
        .map(|i| &MESSAGES[i])
}

/// Appends the JSON object of the message `name` encoded in `bytes`. On `None` (an unknown
/// type, bytes that do not parse) `out` is left as it was.
pub fn write_object(name: &str, bytes: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let start = out.len();
    out.push(b'{');
    let done = write_fields(name, bytes, out, true).map(|_| out.push(b'}'));
    if done.is_none() {
        out.truncate(start);
    }
    done
}

/// Appends the message's fields as `"name":value` pairs, without braces, so a caller can put
/// them in an object of its own; a comma goes first unless `first`. Returns whether it wrote
/// any; on `None` `out` is left as it was.
pub fn write_fields(name: &str, bytes: &[u8], out: &mut Vec<u8>, first: bool) -> Option<bool> {
    let start = out.len();
    let wrote = fields(schema(name)?, bytes, out, first, 0);
    if wrote.is_none() {
        out.truncate(start);
    }
    wrote
}

/// A repeated field or map being written: its number, the closing bracket, elements so far.
struct Open {
    number: u32,
    close: u8,
    count: usize,
}

impl Open {
    fn next(&mut self, out: &mut Vec<u8>) {
        if self.count > 0 {
            out.push(b',');
        }
        self.count += 1;
    }
}

fn fields(
    s: &'static Schema,
    bytes: &[u8],
    out: &mut Vec<u8>,
    first: bool,
    depth: u32,
) -> Option<bool> {
    if depth > MAX_DEPTH {
        return None;
    }
    let mut r = Reader { b: bytes };
    let mut first = first;
    let mut wrote = false;
    let mut open: Option<Open> = None;
    while !r.b.is_empty() {
        let tag = r.varint()?;
        let (number, wire) = (u32::try_from(tag >> 3).ok()?, (tag & 7) as u8);
        let Some(f) = field(s, number) else {
            r.skip(wire)?;
            continue;
        };
        if (open.as_ref().is_some_and(|o| o.number != number) || !f.repeated)
            && let Some(o) = open.take()
        {
            out.push(o.close);
        }
        if open.is_none() {
            if !first {
                out.push(b',');
            }
            first = false;
            wrote = true;
            write_str(f.json, out);
            out.push(b':');
        }
        if !f.repeated {
            value(f, wire, &mut r, out, depth)?;
            continue;
        }
        let entry = (f.kind == Kind::Message)
            .then(|| &MESSAGES[f.message as usize])
            .filter(|m| m.map_entry);
        let o = open.get_or_insert_with(|| {
            out.push(if entry.is_some() { b'{' } else { b'[' });
            Open {
                number,
                close: if entry.is_some() { b'}' } else { b']' },
                count: 0,
            }
        });
        if let Some(entry) = entry {
            o.next(out);
            let body = r.len_delimited(wire)?;
            map_entry(entry, body, out, depth)?;
        } else if wire == 2 && packable(f.kind) {
            let mut packed = Reader {
                b: r.len_delimited(wire)?,
            };
            while !packed.b.is_empty() {
                o.next(out);
                scalar(f.kind, scalar_wire(f.kind), &mut packed, out)?;
            }
        } else {
            o.next(out);
            value(f, wire, &mut r, out, depth)?;
        }
    }
    if let Some(o) = open {
        out.push(o.close);
    }
    Some(wrote)
}

fn field(s: &'static Schema, number: u32) -> Option<&'static Field> {
    s.fields
        .binary_search_by_key(&number, |f| f.number)
        .ok()
        .map(|i| &s.fields[i])
}

fn value(f: &Field, wire: u8, r: &mut Reader<'_>, out: &mut Vec<u8>, depth: u32) -> Option<()> {
    match f.kind {
        Kind::Message => {
            let body = r.len_delimited(wire)?;
            out.push(b'{');
            fields(&MESSAGES[f.message as usize], body, out, true, depth + 1)?;
            out.push(b'}');
            Some(())
        }
        Kind::Group => None,
        k => scalar(k, wire, r, out),
    }
}

/// A map entry as `"key":value`; a key or value absent from the entry is its type's default.
fn map_entry(entry: &'static Schema, body: &[u8], out: &mut Vec<u8>, depth: u32) -> Option<()> {
    let (kf, vf) = (field(entry, 1)?, field(entry, 2)?);
    let mut r = Reader { b: body };
    let (mut key, mut val) = (None, None);
    while !r.b.is_empty() {
        let tag = r.varint()?;
        let (number, wire) = (tag >> 3, (tag & 7) as u8);
        let before = r.b;
        r.skip(wire)?;
        let raw = &before[..before.len() - r.b.len()];
        match number {
            1 => key = Some((wire, raw)),
            2 => val = Some((wire, raw)),
            _ => {}
        }
    }
    match (kf.kind, key) {
        (Kind::String, Some((wire, raw))) => {
            scalar(Kind::String, wire, &mut Reader { b: raw }, out)?
        }
        (Kind::String, None) => out.extend_from_slice(b"\"\""),
        (k, key) => {
            out.push(b'"');
            match key {
                Some((wire, raw)) => scalar(k, wire, &mut Reader { b: raw }, out)?,
                None if k == Kind::Bool => out.extend_from_slice(b"false"),
                None => out.push(b'0'),
            }
            out.push(b'"');
        }
    }
    out.push(b':');
    match val {
        Some((wire, raw)) => value(vf, wire, &mut Reader { b: raw }, out, depth + 1),
        None => {
            match vf.kind {
                Kind::Message => out.extend_from_slice(b"{}"),
                Kind::String => out.extend_from_slice(b"\"\""),
                Kind::Bytes => write_bytes(&[], out),
                Kind::Bool => out.extend_from_slice(b"false"),
                Kind::Group => return None,
                _ => out.push(b'0'),
            }
            Some(())
        }
    }
}

fn packable(k: Kind) -> bool {
    !matches!(k, Kind::String | Kind::Bytes | Kind::Message | Kind::Group)
}

/// The wire type a scalar kind is written with outside a packed run.
fn scalar_wire(k: Kind) -> u8 {
    match k {
        Kind::Double | Kind::Fixed64 | Kind::Sfixed64 => 1,
        Kind::Float | Kind::Fixed32 | Kind::Sfixed32 => 5,
        Kind::String | Kind::Bytes | Kind::Message | Kind::Group => 2,
        _ => 0,
    }
}

fn scalar(k: Kind, wire: u8, r: &mut Reader<'_>, out: &mut Vec<u8>) -> Option<()> {
    if wire != scalar_wire(k) {
        return None;
    }
    // Numbers go through serde_json's printer: integers exactly, a NaN or an infinity as
    // `null` (what `JSON.stringify` writes for them). Writing into a Vec cannot fail.
    macro_rules! num {
        ($v:expr) => {{
            let _ = serde_json::to_writer(&mut *out, &$v);
        }};
    }
    match k {
        Kind::Int32 | Kind::Enum => num!(r.varint()? as i32),
        Kind::Int64 => num!(r.varint()? as i64),
        Kind::Uint32 => num!(r.varint()? as u32),
        Kind::Uint64 => num!(r.varint()?),
        Kind::Sint32 => {
            let v = r.varint()? as u32;
            num!(((v >> 1) as i32) ^ -((v & 1) as i32))
        }
        Kind::Sint64 => {
            let v = r.varint()?;
            num!(((v >> 1) as i64) ^ -((v & 1) as i64))
        }
        Kind::Bool => out.extend_from_slice(if r.varint()? != 0 { b"true" } else { b"false" }),
        Kind::Fixed32 => num!(u32::from_le_bytes(r.fixed()?)),
        Kind::Sfixed32 => num!(i32::from_le_bytes(r.fixed()?)),
        Kind::Float => num!(f64::from(f32::from_le_bytes(r.fixed()?))),
        Kind::Fixed64 => num!(u64::from_le_bytes(r.fixed()?)),
        Kind::Sfixed64 => num!(i64::from_le_bytes(r.fixed()?)),
        Kind::Double => num!(f64::from_le_bytes(r.fixed()?)),
        Kind::String => write_str(std::str::from_utf8(r.len_delimited(wire)?).ok()?, out),
        Kind::Bytes => write_bytes(r.len_delimited(wire)?, out),
        Kind::Message | Kind::Group => return None,
    }
    Some(())
}

fn write_str(s: &str, out: &mut Vec<u8>) {
    let _ = serde_json::to_writer(out, s);
}

fn write_bytes(b: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(br#"{"type":"Buffer","data":""#);
    let at = out.len();
    out.resize(at + base64::encoded_len(b.len(), true).unwrap_or(0), 0);
    let n = base64::engine::general_purpose::STANDARD
        .encode_slice(b, &mut out[at..])
        .unwrap_or(0);
    out.truncate(at + n);
    out.extend_from_slice(b"\"}");
}

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for i in 0..10 {
            let (&byte, rest) = self.b.split_first()?;
            self.b = rest;
            v |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                return Some(v);
            }
        }
        None
    }

    fn fixed<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.b.split_first_chunk::<N>()?;
        self.b = rest;
        Some(*head)
    }

    fn len_delimited(&mut self, wire: u8) -> Option<&'a [u8]> {
        if wire != 2 {
            return None;
        }
        let n = usize::try_from(self.varint()?).ok()?;
        if n > self.b.len() {
            return None;
        }
        let (body, rest) = self.b.split_at(n);
        self.b = rest;
        Some(body)
    }

    fn skip(&mut self, wire: u8) -> Option<()> {
        match wire {
            0 => self.varint().map(drop),
            1 => self.fixed::<8>().map(drop),
            2 => self.len_delimited(wire).map(drop),
            5 => self.fixed::<4>().map(drop),
            _ => None,
        }
    }
}
