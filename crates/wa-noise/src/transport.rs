//! Transport ciphers after the handshake: AES-256-GCM, empty associated data, and a nonce
//! counter per direction that starts at 0 and never wraps.
use wa_crypto::cipher::GcmKey;

use crate::NoiseError;
use crate::symmetric::nonce;

/// How many earlier nonces a failed frame is tried against to tell a replay from tampering.
/// Only the failure path pays for it, and a failure ends the session.
const REPLAY_WINDOW: u32 = 16;

/// Seals outgoing frames.
#[derive(Clone, Debug)]
pub struct SendCipher {
    key: GcmKey,
    counter: u32,
    exhausted: bool,
}

impl SendCipher {
    pub(crate) fn new(key: GcmKey) -> Self {
        Self {
            key,
            counter: 0,
            exhausted: false,
        }
    }

    /// Frames sealed so far.
    pub fn counter(&self) -> u32 {
        self.counter
    }

    /// Appends `plain` sealed (ciphertext || tag) to `out`.
    pub fn seal_append(&mut self, plain: &[u8], out: &mut Vec<u8>) -> Result<(), NoiseError> {
        if self.exhausted {
            return Err(NoiseError::CounterExhausted);
        }
        self.key.seal_append(&nonce(self.counter), b"", plain, out);
        match self.counter.checked_add(1) {
            Some(n) => self.counter = n,
            // Nonce 2^32-1 was the last one: never reuse a nonce under this key.
            None => self.exhausted = true,
        }
        Ok(())
    }
}

/// Opens incoming frames, in order.
#[derive(Clone, Debug)]
pub struct RecvCipher {
    key: GcmKey,
    counter: u32,
    exhausted: bool,
}

impl RecvCipher {
    pub(crate) fn new(key: GcmKey) -> Self {
        Self {
            key,
            counter: 0,
            exhausted: false,
        }
    }

    /// Frames opened so far.
    pub fn counter(&self) -> u32 {
        self.counter
    }

    /// Opens the next frame and appends its plaintext to `out`. A frame that was valid at an
    /// earlier position is reported as [`NoiseError::Replay`], anything else that fails as
    /// [`NoiseError::Decrypt`].
    pub fn open_append(&mut self, sealed: &[u8], out: &mut Vec<u8>) -> Result<(), NoiseError> {
        if self.exhausted {
            return Err(NoiseError::CounterExhausted);
        }
        let n = self.counter;
        if self.key.open_append(&nonce(n), b"", sealed, out).is_err() {
            let earlier = (n.saturating_sub(REPLAY_WINDOW)..n)
                .rev()
                .find(|&k| self.key.verifies(&nonce(k), b"", sealed));
            return Err(match earlier {
                Some(original) => NoiseError::Replay {
                    counter: n,
                    original,
                },
                None => NoiseError::Decrypt { counter: n },
            });
        }
        match n.checked_add(1) {
            Some(next) => self.counter = next,
            None => self.exhausted = true,
        }
        Ok(())
    }

    #[cfg(test)]
    pub(crate) fn set_counter(&mut self, n: u32) {
        self.counter = n;
    }
}

#[cfg(test)]
impl SendCipher {
    pub(crate) fn set_counter(&mut self, n: u32) {
        self.counter = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (SendCipher, RecvCipher) {
        let k = GcmKey::new(&[7u8; 32]).unwrap();
        (SendCipher::new(k.clone()), RecvCipher::new(k))
    }

    #[test]
    fn in_order_frames_open_and_counters_advance() {
        let (mut s, mut r) = pair();
        for i in 0..10u8 {
            let mut c = Vec::new();
            s.seal_append(&[i; 5], &mut c).unwrap();
            let mut p = Vec::new();
            r.open_append(&c, &mut p).unwrap();
            assert_eq!(p, [i; 5]);
        }
        assert_eq!((s.counter(), r.counter()), (10, 10));
    }

    #[test]
    fn replay_and_tamper_are_told_apart() {
        let (mut s, mut r) = pair();
        let mut frames = Vec::new();
        for i in 0..3u8 {
            let mut c = Vec::new();
            s.seal_append(&[i; 8], &mut c).unwrap();
            frames.push(c);
        }
        let mut out = Vec::new();
        r.open_append(&frames[0], &mut out).unwrap();
        r.open_append(&frames[1], &mut out).unwrap();
        assert_eq!(
            r.clone().open_append(&frames[0], &mut out),
            Err(NoiseError::Replay {
                counter: 2,
                original: 0
            })
        );
        let mut bad = frames[2].clone();
        bad[0] ^= 1;
        assert_eq!(
            r.clone().open_append(&bad, &mut out),
            Err(NoiseError::Decrypt { counter: 2 })
        );
        assert_eq!(
            r.clone().open_append(&[1, 2, 3], &mut out),
            Err(NoiseError::Decrypt { counter: 2 })
        );
    }

    #[test]
    fn counters_never_wrap() {
        let (mut s, mut r) = pair();
        s.set_counter(u32::MAX);
        r.set_counter(u32::MAX);
        let mut c = Vec::new();
        s.seal_append(b"last", &mut c).unwrap();
        assert_eq!(
            s.seal_append(b"one more", &mut Vec::new()),
            Err(NoiseError::CounterExhausted)
        );
        let mut p = Vec::new();
        r.open_append(&c, &mut p).unwrap();
        assert_eq!(p, b"last");
        assert_eq!(r.open_append(&c, &mut p), Err(NoiseError::CounterExhausted));
    }
}
