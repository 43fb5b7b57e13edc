//! A whole Noise connection, sans-IO: websocket messages and the time in, websocket messages
//! and events out. The same type serves the client and the responder.
//!
//! Drive it like quinn-proto: after every [`NoiseSession::handle_data`] or
//! [`NoiseSession::send`], drain [`NoiseSession::poll_transmit`] to the socket and
//! [`NoiseSession::poll_event`] to the application.
use std::collections::VecDeque;

use wa_crypto::KeyPair;

use crate::NoiseError;
use crate::cert::WA_CERT_ROOT;
use crate::frame::{FrameReader, Intro, MAX_FRAME_LEN, WA_HEADER, intro, read_intro};
use crate::handshake::{
    ClientHandshake, ClientIdentity, ResponderHandshake, ServerIdentity, TransportKeys,
};

/// GCM tag length: every transport frame is this much longer than its plaintext.
pub const TAG_LEN: usize = 16;

/// How a client connects.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The client's long-term Noise key (Baileys' `creds.noiseKey`).
    pub static_key: KeyPair,
    /// The encoded `ClientPayload` (login or registration) sent in ClientFinish.
    pub payload: Vec<u8>,
    /// The key the intermediate certificate must be signed by. WhatsApp's by default; a test
    /// server's own root otherwise. There is no way to skip the check.
    pub trust_root: [u8; 32],
    /// Edge routing info from an earlier login (`creds.routingInfo`), sent before the header.
    pub routing_info: Option<Vec<u8>>,
    /// The largest frame accepted or sent.
    pub max_frame_len: usize,
}

impl ClientConfig {
    pub fn new(static_key: KeyPair, payload: Vec<u8>) -> Self {
        Self {
            static_key,
            payload,
            trust_root: WA_CERT_ROOT,
            routing_info: None,
            max_frame_len: MAX_FRAME_LEN,
        }
    }
}

/// How a responder (a server) answers.
#[derive(Debug, Clone)]
pub struct ResponderConfig {
    /// The server's static key; the certificate chain's leaf must carry its public half.
    pub static_key: KeyPair,
    /// The encoded `CertChain` sent to clients.
    pub cert_chain: Vec<u8>,
    pub max_frame_len: usize,
}

impl ResponderConfig {
    pub fn new(static_key: KeyPair, cert_chain: Vec<u8>) -> Self {
        Self {
            static_key,
            cert_chain,
            max_frame_len: MAX_FRAME_LEN,
        }
    }
}

/// What the session reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Client side: the server's chain verified; transport keys are in place.
    ServerVerified(ServerIdentity),
    /// Responder side: the client finished the handshake.
    ClientFinished(Box<ClientIdentity>),
    /// A decrypted transport frame.
    Frame(Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Client,
    Responder,
}

#[derive(Clone)]
struct ResponderSetup {
    config: ResponderConfig,
    ephemeral: KeyPair,
}

// The transport variant (two expanded AES keys) is the long-lived one; it stays inline so a
// frame costs no pointer chase, and the short-lived handshake variants are boxed.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
enum Phase {
    ClientAwaitServerHello {
        handshake: Box<ClientHandshake>,
        payload: Vec<u8>,
    },
    ResponderAwaitIntro(Box<ResponderSetup>),
    ResponderAwaitHello(Box<ResponderSetup>, [u8; 4]),
    ResponderAwaitFinish(Box<ResponderHandshake>),
    Transport(TransportKeys),
    Failed,
}

/// One Noise connection, client or responder.
///
/// Deliberately not `Clone` in normal builds: two copies sending under one key would reuse
/// nonces. Fuzz builds clone prepared sessions to start each input from a deep state.
#[cfg_attr(fuzzing, derive(Clone))]
pub struct NoiseSession {
    role: Role,
    phase: Phase,
    reader: FrameReader,
    max_frame_len: usize,
    intro: Option<Intro>,
    out: Outbox,
    error: Option<NoiseError>,
}

impl std::fmt::Debug for NoiseSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoiseSession")
            .field("role", &self.role)
            .field("established", &self.is_established())
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl NoiseSession {
    /// A client with a fresh ephemeral key. Its first transmit (intro + ClientHello) is
    /// queued at once.
    pub fn client(config: ClientConfig) -> Self {
        Self::client_with_ephemeral(config, KeyPair::generate())
    }

    /// A client with a given ephemeral key (deterministic tests only: reusing an ephemeral
    /// key across connections breaks forward secrecy).
    pub fn client_with_ephemeral(config: ClientConfig, ephemeral: KeyPair) -> Self {
        let max = config.max_frame_len.min(MAX_FRAME_LEN);
        let (handshake, hello) =
            ClientHandshake::start(&WA_HEADER, ephemeral, config.static_key, config.trust_root);
        let mut s = Self {
            role: Role::Client,
            phase: Phase::ClientAwaitServerHello {
                handshake: Box::new(handshake),
                payload: config.payload,
            },
            reader: FrameReader::new(max),
            max_frame_len: max,
            intro: None,
            out: Outbox {
                pending_intro: Some(intro(config.routing_info.as_deref(), &WA_HEADER)),
                transmits: VecDeque::new(),
                events: VecDeque::new(),
            },
            error: None,
        };
        s.queue_frame(&hello);
        s
    }

    /// A responder with a fresh ephemeral key, waiting for a client's intro and ClientHello.
    pub fn responder(config: ResponderConfig) -> Self {
        Self::responder_with_ephemeral(config, KeyPair::generate())
    }

    pub fn responder_with_ephemeral(config: ResponderConfig, ephemeral: KeyPair) -> Self {
        let max = config.max_frame_len.min(MAX_FRAME_LEN);
        Self {
            role: Role::Responder,
            phase: Phase::ResponderAwaitIntro(Box::new(ResponderSetup { config, ephemeral })),
            reader: FrameReader::new(max),
            max_frame_len: max,
            intro: None,
            out: Outbox {
                pending_intro: None,
                transmits: VecDeque::new(),
                events: VecDeque::new(),
            },
            error: None,
        }
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether transport frames can be sent.
    pub fn is_established(&self) -> bool {
        matches!(self.phase, Phase::Transport(_))
    }

    /// The error that ended the session, if one did.
    pub fn error(&self) -> Option<&NoiseError> {
        self.error.as_ref()
    }

    /// Responder side: the client's intro (routing info and header), once received.
    pub fn intro(&self) -> Option<&Intro> {
        self.intro.as_ref()
    }

    /// Bytes received and buffered but not yet a whole frame.
    pub fn buffered(&self) -> usize {
        self.reader.buffered()
    }

    /// The next websocket message to send, if any.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.out.transmits.pop_front()
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.out.events.pop_front()
    }

    /// Feeds one received websocket message (any split of the byte stream). `now` is the
    /// current time in Unix seconds, used for certificate validity.
    pub fn handle_data(&mut self, now: u64, data: &[u8]) -> Result<(), NoiseError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let r = self.process(now, data);
        if let Err(e) = &r {
            self.fail(e.clone());
        }
        r
    }

    /// Encrypts `plaintext` as one frame and queues it for [`poll_transmit`].
    ///
    /// [`poll_transmit`]: NoiseSession::poll_transmit
    pub fn send(&mut self, plaintext: &[u8]) -> Result<(), NoiseError> {
        let msg = self.seal_frame(plaintext)?;
        self.out.transmits.push_back(msg);
        Ok(())
    }

    /// Encrypts `plaintext` as one frame and returns the bytes to send, together with any
    /// queued transmits in front of it (so ordering holds). Saves the queue round trip.
    pub fn send_now(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let msg = self.seal_frame(plaintext)?;
        if self.out.transmits.is_empty() {
            return Ok(msg);
        }
        let mut all: Vec<u8> = self.out.transmits.drain(..).flatten().collect();
        all.extend_from_slice(&msg);
        Ok(all)
    }

    fn seal_frame(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let Phase::Transport(keys) = &mut self.phase else {
            return Err(NoiseError::NotEstablished);
        };
        let len = plaintext.len() + TAG_LEN;
        if len > self.max_frame_len {
            return Err(NoiseError::PayloadTooLarge {
                len: plaintext.len(),
                max: self.max_frame_len - TAG_LEN,
            });
        }
        let intro = self.out.pending_intro.take();
        let intro_len = intro.as_ref().map_or(0, Vec::len);
        let mut out = Vec::with_capacity(intro_len + 3 + len);
        if let Some(i) = intro {
            out.extend_from_slice(&i);
        }
        out.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
        if let Err(e) = keys.send.seal_append(plaintext, &mut out) {
            self.fail(e.clone());
            return Err(e);
        }
        Ok(out)
    }

    fn fail(&mut self, e: NoiseError) {
        if e.is_fatal() {
            tracing::debug!(code = e.code(), role = ?self.role, "noise session failed");
            self.error = Some(e);
            self.phase = Phase::Failed;
        }
    }

    fn queue_frame(&mut self, payload: &[u8]) {
        self.out.queue_frame(payload);
    }

    fn process(&mut self, now: u64, data: &[u8]) -> Result<(), NoiseError> {
        // Fast path: nothing buffered and in transport, so whole frames are read straight
        // from `data` and only a trailing partial frame is copied.
        if self.reader.buffered() == 0 && matches!(self.phase, Phase::Transport(_)) {
            let mut rest = data;
            while rest.len() >= 3 {
                let len = (usize::from(rest[0]) << 16)
                    | (usize::from(rest[1]) << 8)
                    | usize::from(rest[2]);
                if len > self.max_frame_len {
                    return Err(NoiseError::FrameTooLarge {
                        len,
                        max: self.max_frame_len,
                    });
                }
                if rest.len() < 3 + len {
                    break;
                }
                on_frame(&mut self.phase, &mut self.out, now, &rest[3..3 + len])?;
                rest = &rest[3 + len..];
            }
            self.reader.push(rest);
            return Ok(());
        }

        self.reader.push(data);
        if let Phase::ResponderAwaitIntro(_) = self.phase {
            let Some(intro) = read_intro(&mut self.reader, self.max_frame_len)? else {
                return Ok(());
            };
            if let Phase::ResponderAwaitIntro(setup) =
                std::mem::replace(&mut self.phase, Phase::Failed)
            {
                self.phase = Phase::ResponderAwaitHello(setup, intro.header);
            }
            self.intro = Some(intro);
        }
        while let Some(frame) = self.reader.next_frame()? {
            on_frame(&mut self.phase, &mut self.out, now, frame)?;
        }
        Ok(())
    }
}

/// What the session hands out: transmits and events, plus the intro still to prepend.
#[derive(Clone)]
struct Outbox {
    /// Prepended to the first outgoing frame (client only), then `None`.
    pending_intro: Option<Vec<u8>>,
    transmits: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
}

impl Outbox {
    fn queue_frame(&mut self, payload: &[u8]) {
        let mut out = self.pending_intro.take().unwrap_or_default();
        crate::frame::write_frame(payload, &mut out);
        self.transmits.push_back(out);
    }
}

fn on_frame(phase: &mut Phase, out: &mut Outbox, now: u64, frame: &[u8]) -> Result<(), NoiseError> {
    if let Phase::Transport(keys) = phase {
        let mut plain = Vec::with_capacity(frame.len().saturating_sub(TAG_LEN));
        keys.recv.open_append(frame, &mut plain)?;
        out.events.push_back(Event::Frame(plain));
        return Ok(());
    }
    // Every arm below either installs the next phase or returns an error, after which the
    // session stays failed.
    match std::mem::replace(phase, Phase::Failed) {
        Phase::ClientAwaitServerHello { handshake, payload } => {
            let (finish, identity, keys) = handshake.finish(frame, &payload, now)?;
            out.queue_frame(&finish);
            out.events.push_back(Event::ServerVerified(identity));
            *phase = Phase::Transport(keys);
        }
        Phase::ResponderAwaitHello(setup, header) => {
            let ResponderSetup { config, ephemeral } = *setup;
            let (handshake, reply) = ResponderHandshake::respond(
                &header,
                frame,
                ephemeral,
                &config.static_key,
                &config.cert_chain,
            )?;
            out.queue_frame(&reply);
            *phase = Phase::ResponderAwaitFinish(Box::new(handshake));
        }
        Phase::ResponderAwaitFinish(handshake) => {
            let (identity, keys) = handshake.finish(frame)?;
            out.events
                .push_back(Event::ClientFinished(Box::new(identity)));
            *phase = Phase::Transport(keys);
        }
        // The intro is read before any frame, transport is handled above, and a failed
        // session returns its error before reading input; reaching here is a bug, reported
        // as an error rather than a panic.
        Phase::ResponderAwaitIntro(_) | Phase::Transport(_) | Phase::Failed => {
            return Err(NoiseError::NotEstablished);
        }
    }
    Ok(())
}
