//! The byte layer under Noise: the connection intro and length-prefixed frames.
//!
//! Every frame is a 3-byte big-endian length and that many bytes. Websocket messages do not
//! align with frames: one message may carry several frames, and a frame may be split across
//! messages, so the reader buffers. The client's first message starts with the intro: an
//! optional edge-routing preface (`ED 0 1`, 3-byte length, routing info) and the 4-byte
//! header `WA 6 <dictionary version>`.
use crate::NoiseError;

/// The header a client sends first: `W`, `A`, protocol 6, binary dictionary version 3.
pub const WA_HEADER: [u8; 4] = [b'W', b'A', 6, 3];
/// The largest length a 3-byte prefix can express; also the default frame limit.
pub const MAX_FRAME_LEN: usize = 0xFF_FFFF;
const ROUTING_MAGIC: [u8; 4] = [b'E', b'D', 0, 1];

/// The bytes a client sends before its first frame.
pub fn intro(routing_info: Option<&[u8]>, header: &[u8; 4]) -> Vec<u8> {
    match routing_info {
        None => header.to_vec(),
        Some(info) => {
            let mut out = Vec::with_capacity(7 + info.len() + 4);
            out.extend_from_slice(&ROUTING_MAGIC);
            push_len(&mut out, info.len());
            out.extend_from_slice(info);
            out.extend_from_slice(header);
            out
        }
    }
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    debug_assert!(len <= MAX_FRAME_LEN);
    out.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
}

/// Appends one frame (length prefix and payload) to `out`.
pub fn write_frame(payload: &[u8], out: &mut Vec<u8>) {
    push_len(out, payload.len());
    out.extend_from_slice(payload);
}

/// Reassembles frames from arbitrarily split input.
#[derive(Debug, Clone)]
pub struct FrameReader {
    buf: Vec<u8>,
    /// Bytes of `buf` before this offset are consumed.
    start: usize,
    max: usize,
}

impl FrameReader {
    /// A reader that refuses frames longer than `max` bytes (capped at [`MAX_FRAME_LEN`]).
    pub fn new(max: usize) -> Self {
        Self {
            buf: Vec::new(),
            start: 0,
            max: max.min(MAX_FRAME_LEN),
        }
    }

    /// Bytes received but not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Adds received bytes.
    pub fn push(&mut self, data: &[u8]) {
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 0 && self.start >= self.buf.len() / 2 {
            // Reclaim the consumed front once it is at least half the buffer, so copying
            // stays linear in the bytes received.
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Takes exactly `n` raw bytes (used for the intro), if that many are buffered.
    pub fn take_raw(&mut self, n: usize) -> Option<&[u8]> {
        if self.buffered() < n {
            return None;
        }
        let s = self.start;
        self.start += n;
        Some(&self.buf[s..s + n])
    }

    /// Peeks at up to `n` buffered bytes without consuming them.
    pub fn peek(&self, n: usize) -> &[u8] {
        let end = (self.start + n).min(self.buf.len());
        &self.buf[self.start..end]
    }

    /// The next complete frame's payload, `Ok(None)` if it has not fully arrived, or an error
    /// as soon as a length prefix exceeds the limit (without waiting for the bytes).
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>, NoiseError> {
        let avail = &self.buf[self.start..];
        if avail.len() < 3 {
            return Ok(None);
        }
        let len =
            (usize::from(avail[0]) << 16) | (usize::from(avail[1]) << 8) | usize::from(avail[2]);
        if len > self.max {
            return Err(NoiseError::FrameTooLarge { len, max: self.max });
        }
        if avail.len() < 3 + len {
            return Ok(None);
        }
        let s = self.start + 3;
        self.start = s + len;
        Ok(Some(&self.buf[s..s + len]))
    }
}

/// What the responder learned from a client's intro.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intro {
    pub routing_info: Option<Vec<u8>>,
    pub header: [u8; 4],
}

/// Reads the intro from the front of `reader`. `Ok(None)` means more bytes are needed.
pub(crate) fn read_intro(
    reader: &mut FrameReader,
    max: usize,
) -> Result<Option<Intro>, NoiseError> {
    let head = reader.peek(7);
    if head.is_empty() {
        return Ok(None);
    }
    let routed = head[0] == b'E';
    if !routed {
        if head.len() < 4 {
            return Ok(None);
        }
        let header = parse_header(head)?;
        reader.take_raw(4);
        return Ok(Some(Intro {
            routing_info: None,
            header,
        }));
    }
    let known = head.len().min(4);
    if head[..known] != ROUTING_MAGIC[..known] {
        return Err(NoiseError::BadIntro(
            "routing preface must start with ED 0 1",
        ));
    }
    if head.len() < 7 {
        return Ok(None);
    }
    let len = (usize::from(head[4]) << 16) | (usize::from(head[5]) << 8) | usize::from(head[6]);
    if len > max {
        return Err(NoiseError::FrameTooLarge { len, max });
    }
    if reader.buffered() < 7 + len + 4 {
        return Ok(None);
    }
    let raw = reader.peek(7 + len + 4);
    let header = parse_header(&raw[7 + len..])?;
    let routing_info = raw[7..7 + len].to_vec();
    reader.take_raw(7 + len + 4);
    Ok(Some(Intro {
        routing_info: Some(routing_info),
        header,
    }))
}

fn parse_header(b: &[u8]) -> Result<[u8; 4], NoiseError> {
    if b[0] != b'W' || b[1] != b'A' {
        return Err(NoiseError::BadIntro("header must start with WA"));
    }
    if b[2] != WA_HEADER[2] {
        return Err(NoiseError::BadIntro("unsupported protocol version"));
    }
    Ok([b[0], b[1], b[2], b[3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_and_packed() {
        let mut wire = Vec::new();
        let payloads: Vec<Vec<u8>> = (0..20).map(|i| vec![i as u8; i * 37]).collect();
        for p in &payloads {
            write_frame(p, &mut wire);
        }
        for chunk in [1usize, 2, 3, 4, 7, 100, wire.len()] {
            let mut r = FrameReader::new(MAX_FRAME_LEN);
            let mut got = Vec::new();
            for c in wire.chunks(chunk) {
                r.push(c);
                while let Some(f) = r.next_frame().unwrap() {
                    got.push(f.to_vec());
                }
            }
            assert_eq!(got, payloads, "chunk {chunk}");
            assert_eq!(r.buffered(), 0);
        }
    }

    #[test]
    fn oversized_length_is_refused_before_its_bytes_arrive() {
        let mut r = FrameReader::new(1000);
        r.push(&[0, 0x03, 0xe9]); // 1001
        assert_eq!(
            r.next_frame(),
            Err(NoiseError::FrameTooLarge {
                len: 1001,
                max: 1000
            })
        );
        let mut r = FrameReader::new(1000);
        r.push(&[0, 0x03, 0xe8]);
        assert_eq!(r.next_frame(), Ok(None));
    }

    #[test]
    fn intro_with_and_without_routing_info() {
        let plain = intro(None, &WA_HEADER);
        assert_eq!(plain, [b'W', b'A', 6, 3]);
        let routed = intro(Some(&[9, 8, 7]), &WA_HEADER);
        assert_eq!(
            routed,
            [b'E', b'D', 0, 1, 0, 0, 3, 9, 8, 7, b'W', b'A', 6, 3]
        );
        for bytes in [plain, routed] {
            for split in 0..=bytes.len() {
                let mut r = FrameReader::new(MAX_FRAME_LEN);
                r.push(&bytes[..split]);
                let first = read_intro(&mut r, MAX_FRAME_LEN).unwrap();
                let intro = match first {
                    Some(i) => i,
                    None => {
                        r.push(&bytes[split..]);
                        read_intro(&mut r, MAX_FRAME_LEN).unwrap().unwrap()
                    }
                };
                assert_eq!(intro.header, WA_HEADER);
                assert_eq!(r.buffered(), 0);
            }
        }
    }

    #[test]
    fn bad_intros() {
        for bad in [
            &b"XA\x06\x03"[..],
            b"WA\x05\x03",
            b"EX\x00\x01",
            b"ED\x00\x02\x00\x00\x00WA\x06\x03",
        ] {
            let mut r = FrameReader::new(MAX_FRAME_LEN);
            r.push(bad);
            assert!(
                matches!(
                    read_intro(&mut r, MAX_FRAME_LEN),
                    Err(NoiseError::BadIntro(_))
                ),
                "{bad:?}"
            );
        }
    }
}
