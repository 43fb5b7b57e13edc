//! Binding of the binary node codec (`wa-binary`).
//!
//! Nodes cross the boundary in a compact form instead of as JS objects built or read one
//! property at a time through napi (each napi call costs tens of nanoseconds; a node has a
//! dozen properties). `lib/binary.js` turns the compact form into Baileys' node objects and
//! back. `docs/binary.md` has the measurements behind this choice.
//!
//! Decoded form: a `Uint32Array` tape (owned by JS and reused), one string pool and the payload
//! buffer. Per node the tape holds `attrCount, tag, (key, value)*, kind, ...` where a string
//! is one entry: `(tokenId << 1) | 1` for a dictionary token (JS keeps the token table), or
//! `utf16Length << 1` for the next `utf16Length` code units of the pool. `kind` is 0 (no
//! content), 1 (`count`, then the children), 2 (`offset, length` into the payload) or 3
//! (a string).
//!
//! Encode form (written by JS): the same tape shape with strings always in the pool (entry =
//! UTF-16 length) and kind 2 followed by an index into the list of byte arrays.

use napi::Env;
use napi::Task;
use napi::bindgen_prelude::{
    AsyncTask, Buffer, BufferSlice, Object, Uint32ArraySlice, Utf16String,
};
use napi_derive::napi;
use wa_binary::decode::{DEFAULT_MAX_DEPTH, DecodeLimits, Sink, Str, decode_into};
use wa_binary::dictionary::dictionary;
use wa_binary::{BinaryError, Encoder};

use crate::errors::{self, JsFail, Result, coded};

fn to_napi(e: BinaryError) -> JsFail {
    coded(e.code(), e)
}

/// Every dictionary token by global id (id 0 is `""`); decoded tokens arrive as ids.
#[napi(js_name = "binaryTokens", catch_unwind, skip_typescript)]
pub fn binary_tokens() -> Vec<&'static str> {
    dictionary().strings_by_id().to_vec()
}

/// Writes the tape into the caller's array; past its end it only counts, so the caller can
/// grow the array and decode again.
struct TapeSink<'t> {
    tape: &'t mut [u32],
    len: usize,
    pool: String,
}

impl TapeSink<'_> {
    #[inline]
    fn push(&mut self, v: u32) {
        if let Some(slot) = self.tape.get_mut(self.len) {
            *slot = v;
        }
        self.len += 1;
    }

    fn text(&mut self, s: Str<'_, '_>) {
        let text = match s {
            Str::Token { id, .. } => {
                self.push((u32::from(id) << 1) | 1);
                return;
            }
            Str::Raw(b) => String::from_utf8_lossy(b),
            Str::Composed(s) => std::borrow::Cow::Borrowed(s),
        };
        let units = if text.is_ascii() {
            text.len()
        } else {
            text.encode_utf16().count()
        };
        self.push((units as u32) << 1);
        self.pool.push_str(&text);
    }
}

impl<'a> Sink<'a> for TapeSink<'_> {
    fn open(&mut self, tag: Str<'a, '_>, attr_count: usize) {
        self.push(attr_count as u32);
        self.text(tag);
    }
    fn attr(&mut self, key: Str<'a, '_>, value: Str<'a, '_>) {
        self.text(key);
        self.text(value);
    }
    fn no_content(&mut self) {
        self.push(0);
    }
    fn list(&mut self, len: usize, _capacity_hint: usize) {
        self.push(1);
        self.push(len as u32);
    }
    fn bytes(&mut self, bytes: &'a [u8], offset: usize) {
        self.push(2);
        self.push(offset as u32);
        self.push(bytes.len() as u32);
    }
    fn string(&mut self, s: Str<'a, '_>) {
        self.push(3);
        self.text(s);
    }
    fn close(&mut self) {}
}

/// Decodes a node (a frame's payload, after the flag byte) into the compact form: the tape
/// goes to `tape[1..]` and its length to `tape[0]`; the string pool is returned. When the
/// tape is too short, `tape[0]` says how long it must be and the caller decodes again.
#[napi(js_name = "decodeBinaryPayload", catch_unwind, skip_typescript)]
pub fn decode_binary_payload(payload: &[u8], mut tape: Uint32ArraySlice<'_>) -> Result<String> {
    // Tape entries hold offsets and lengths in 31 bits.
    if payload.len() >= 1 << 31 {
        return Err(to_napi(BinaryError::TooLarge {
            what: "payload",
            size: payload.len() as u64,
            limit: (1 << 31) - 1,
        }));
    }
    // SAFETY: the tape is a Uint32Array private to lib/binary.js, never shared with user code
    // (so it cannot alias `payload`), and no JS runs during this synchronous call.
    let tape = unsafe { tape.as_mut() };
    let (head, body) = tape
        .split_first_mut()
        .ok_or_else(|| coded("ERR_WA_BINARY_INVALID_INPUT", "empty tape"))?;
    let mut sink = TapeSink {
        tape: body,
        len: 0,
        pool: String::with_capacity(64 + payload.len().min(1 << 16) / 4),
    };
    decode_into(payload, &DecodeLimits::default(), &mut sink).map_err(to_napi)?;
    *head = u32::try_from(sink.len).map_err(|_| to_napi(malformed()))?;
    Ok(sink.pool)
}

/// Inflates the payload of a compressed frame (flag bit 2), at most 32 MiB.
#[napi(js_name = "inflateBinaryPayload", catch_unwind, skip_typescript)]
pub fn inflate_binary_payload(compressed: &[u8]) -> Result<Buffer> {
    let limits = DecodeLimits::default();
    let out = wa_binary::inflate(compressed, limits.max_inflated).map_err(to_napi)?;
    Ok(Buffer::from(out))
}

/// Inflates a large compressed payload on the libuv thread pool, as Baileys' `zlib.inflate`
/// does, so the event loop is not held while megabytes decompress.
pub struct InflateTask {
    compressed: Vec<u8>,
}

impl Task for InflateTask {
    type Output = Result<Vec<u8>>;
    type JsValue = Buffer;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        let limit = DecodeLimits::default().max_inflated;
        let data = std::mem::take(&mut self.compressed);
        // This runs outside the JS call, beyond `catch_unwind` on the export: catch here too.
        Ok(
            match std::panic::catch_unwind(move || wa_binary::inflate(&data, limit)) {
                Ok(result) => result.map_err(to_napi),
                Err(_) => Err(coded("ERR_WA_BINARY_INFLATE", "inflate panicked")),
            },
        )
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<Buffer> {
        output
            .map(Buffer::from)
            .map_err(|f| errors::rejection(env, f))
    }
}

/// [`inflate_binary_payload`] on the thread pool; resolves to the inflated payload.
#[napi(js_name = "inflateBinaryPayloadAsync", catch_unwind, skip_typescript)]
pub fn inflate_binary_payload_async(compressed: &[u8]) -> AsyncTask<InflateTask> {
    AsyncTask::new(InflateTask {
        compressed: compressed.to_vec(),
    })
}

struct TapeReader<'t> {
    tape: &'t [u32],
    t: usize,
    pool: &'t [u16],
    p: usize,
    bins: &'t [&'t [u8]],
    scratch: String,
}

fn malformed() -> BinaryError {
    BinaryError::InvalidNode {
        reason: "malformed compact node from the JS layer",
        at: 0,
    }
}

impl TapeReader<'_> {
    fn next(&mut self) -> Result<u32, BinaryError> {
        let v = *self.tape.get(self.t).ok_or_else(malformed)?;
        self.t += 1;
        Ok(v)
    }

    /// Reads the next pool string into `scratch` (lone surrogates become U+FFFD, as
    /// `Buffer.from(str, 'utf-8')` does).
    fn text(&mut self) -> Result<(), BinaryError> {
        let n = self.next()? as usize;
        let units = self.pool.get(self.p..self.p + n).ok_or_else(malformed)?;
        self.p += n;
        self.scratch.clear();
        if units.iter().all(|u| *u < 0x80) {
            self.scratch
                .extend(units.iter().map(|u| char::from(*u as u8)));
        } else {
            self.scratch.extend(
                char::decode_utf16(units.iter().copied())
                    .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)),
            );
        }
        Ok(())
    }

    fn node(&mut self, e: &mut Encoder, depth: usize) -> Result<(), BinaryError> {
        if depth >= DEFAULT_MAX_DEPTH {
            return Err(BinaryError::TooDeep {
                limit: DEFAULT_MAX_DEPTH,
                at: 0,
            });
        }
        let attr_count = self.next()? as usize;
        let kind = self.next()?;
        self.text()?;
        e.node_start(&self.scratch, attr_count, kind != 0)?;
        let mut key = String::new();
        for _ in 0..attr_count {
            self.text()?;
            std::mem::swap(&mut key, &mut self.scratch);
            self.text()?;
            e.attr(&key, &self.scratch)?;
        }
        match kind {
            0 => {}
            1 => {
                let n = self.next()? as usize;
                e.list_start(n)?;
                for _ in 0..n {
                    self.node(e, depth + 1)?;
                }
            }
            2 => {
                let i = self.next()? as usize;
                let bytes = self.bins.get(i).ok_or_else(malformed)?;
                e.content_bytes(bytes)?;
            }
            3 => {
                self.text()?;
                e.string(&self.scratch)?;
            }
            _ => return Err(malformed()),
        }
        Ok(())
    }
}

/// Encodes a node from its compact form into a frame (flag byte 0, then the node).
#[napi(js_name = "encodeBinaryFrame", catch_unwind, skip_typescript)]
pub fn encode_binary_frame<'e>(
    env: &'e Env,
    tape: &[u32],
    tape_len: u32,
    pool: Utf16String,
    bins: Vec<&[u8]>,
) -> Result<BufferSlice<'e>> {
    let tape = tape
        .get(..tape_len as usize)
        .ok_or_else(|| to_napi(malformed()))?;
    let mut reader = TapeReader {
        tape,
        t: 0,
        pool: &pool,
        p: 0,
        bins: &bins,
        scratch: String::new(),
    };
    let mut e = Encoder::with_frame_flag();
    reader.node(&mut e, 0).map_err(to_napi)?;
    // A copy into a V8-owned buffer costs less than an external buffer and its finalizer.
    Ok(BufferSlice::copy_from(env, e.into_bytes())?)
}

/// Decodes a frame straight into JS objects through napi, one property at a time. Not used by
/// the library: the benchmark compares it with the compact form to justify the latter.
#[napi(js_name = "decodeBinaryFrameObjects", catch_unwind, skip_typescript)]
pub fn decode_binary_frame_objects<'e>(env: &'e Env, frame: &[u8]) -> Result<Object<'e>> {
    let node = wa_binary::decode_frame(frame).map_err(to_napi)?;
    to_object(env, &node)
}

fn to_object<'e>(env: &'e Env, node: &wa_binary::Node) -> Result<Object<'e>> {
    let mut obj = Object::new(env)?;
    obj.set("tag", node.tag.as_ref())?;
    let mut attrs = Object::new(env)?;
    for (k, v) in &node.attrs {
        attrs.set(k.as_ref(), v.as_ref())?;
    }
    obj.set("attrs", attrs)?;
    match &node.content {
        wa_binary::Content::None => obj.set("content", ())?,
        wa_binary::Content::Text(t) => obj.set("content", t.as_ref())?,
        wa_binary::Content::Bytes(b) => obj.set("content", Buffer::from(b.as_slice()))?,
        wa_binary::Content::Nodes(children) => {
            let mut arr = env.create_array(children.len() as u32)?;
            for (i, c) in children.iter().enumerate() {
                arr.set(i as u32, to_object(env, c)?)?;
            }
            obj.set("content", arr)?;
        }
    }
    Ok(obj)
}
