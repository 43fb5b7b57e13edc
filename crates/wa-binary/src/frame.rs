//! The frame around a node: one flag byte, then the node, zlib-compressed when flag bit 2 is
//! set. Baileys never compresses what it sends; the server compresses some large stanzas.

use std::borrow::Cow;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use crate::decode::{DecodeLimits, decode_with_limits};
use crate::error::{BinaryError, Result};
use crate::node::Node;

/// Flag bit that marks a zlib-compressed payload.
pub const FLAG_COMPRESSED: u8 = 2;

/// The node bytes of a frame: the payload after the flag byte, inflated if the flag says so
/// (at most `max_inflated` bytes). Trailing bytes after the zlib stream are ignored, as
/// Node's `zlib.inflate` does.
pub fn unpack_frame(frame: &[u8], max_inflated: usize) -> Result<Cow<'_, [u8]>> {
    let (&flag, payload) = frame
        .split_first()
        .ok_or(BinaryError::EndOfStream { needed: 1, at: 0 })?;
    if flag & FLAG_COMPRESSED != 0 {
        inflate(payload, max_inflated).map(Cow::Owned)
    } else {
        Ok(Cow::Borrowed(payload))
    }
}

/// Inflates a zlib stream, refusing output beyond `limit` bytes and streams that end early.
pub fn inflate(data: &[u8], limit: usize) -> Result<Vec<u8>> {
    let mut z = Decompress::new(true);
    let mut out: Vec<u8> = Vec::with_capacity(
        data.len()
            .saturating_mul(4)
            .clamp(64, 1 << 20)
            .min(limit + 1),
    );
    loop {
        if out.len() == out.capacity() {
            if out.len() > limit {
                return Err(BinaryError::TooLarge {
                    what: "inflated frame",
                    size: out.len() as u64,
                    limit: limit as u64,
                });
            }
            // Grow geometrically but never past one byte over the limit, which is enough to
            // tell that the limit is exceeded.
            let grow = out.capacity().max(64).min(limit + 1 - out.len());
            out.reserve_exact(grow);
        }
        let consumed = z.total_in() as usize;
        let before = out.len();
        let status = z
            .decompress_vec(&data[consumed..], &mut out, FlushDecompress::None)
            .map_err(|e| BinaryError::Inflate(e.to_string()))?;
        if out.len() > limit {
            return Err(BinaryError::TooLarge {
                what: "inflated frame",
                size: out.len() as u64,
                limit: limit as u64,
            });
        }
        match status {
            Status::StreamEnd => return Ok(out),
            Status::Ok | Status::BufError => {
                let progressed = z.total_in() as usize != consumed || out.len() != before;
                if !progressed && out.len() < out.capacity() {
                    return Err(BinaryError::Inflate("unexpected end of file".to_owned()));
                }
            }
        }
    }
}

/// Compresses `payload` as a zlib stream (for tests and servers; Baileys never sends one).
pub fn deflate(payload: &[u8]) -> Vec<u8> {
    let mut z = Compress::new(Compression::default(), true);
    let mut out = Vec::with_capacity(payload.len() / 2 + 64);
    loop {
        if out.len() == out.capacity() {
            out.reserve(out.capacity().max(64));
        }
        let consumed = z.total_in() as usize;
        match z.compress_vec(&payload[consumed..], &mut out, FlushCompress::Finish) {
            Ok(Status::StreamEnd) => return out,
            Ok(_) => {}
            Err(e) => unreachable!("compressing into a growing buffer cannot fail: {e}"),
        }
    }
}

/// A frame holding `node_bytes`, compressed or not.
pub fn pack_frame(node_bytes: &[u8], compress: bool) -> Vec<u8> {
    if compress {
        let mut out = vec![FLAG_COMPRESSED];
        out.extend_from_slice(&deflate(node_bytes));
        out
    } else {
        let mut out = Vec::with_capacity(node_bytes.len() + 1);
        out.push(0);
        out.extend_from_slice(node_bytes);
        out
    }
}

/// Decodes a frame (flag byte, maybe compressed) into a node with default limits.
pub fn decode_frame(frame: &[u8]) -> Result<Node> {
    decode_frame_with_limits(frame, &DecodeLimits::default())
}

/// Decodes a frame into a node.
pub fn decode_frame_with_limits(frame: &[u8], limits: &DecodeLimits) -> Result<Node> {
    let payload = unpack_frame(frame, limits.max_inflated)?;
    decode_with_limits(&payload, limits)
}
