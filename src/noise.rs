//! Binding of `wa-noise`: a Noise client and responder driven from JS with websocket
//! messages, and the certificate helper for test servers. `lib/noise.js` wraps these classes
//! (error codes) and `lib/types/11-noise.d.ts` types them.

use std::time::{SystemTime, UNIX_EPOCH};

use napi::bindgen_prelude::{Buffer, BufferSlice};
use napi_derive::napi;
use wa_crypto::KeyPair;
use wa_noise::cert::mint_chain_with;
use wa_noise::{
    ClientConfig, Event, MAX_FRAME_LEN, MintOptions, NoiseError, NoiseSession, ResponderConfig,
    WA_CERT_ROOT, verify_chain,
};

use crate::bytes::Bytes;
use crate::errors::{JsFail, Result, coded};

fn noise_err(e: NoiseError) -> JsFail {
    coded(e.code(), e)
}

/// A public key as libsignal accepts it: 32 bytes, or 33 with the 0x05 type prefix.
fn public32(what: &str, b: &[u8]) -> Result<[u8; 32]> {
    wa_crypto::curve::parse_public(b).map_err(|_| {
        coded(
            "ERR_WA_NOISE_KEY_LENGTH",
            format!(
                "{what} must be 32 bytes (or 33 with the 05 prefix), got {}",
                b.len()
            ),
        )
    })
}

/// Unix seconds: the caller's clock if given, else the system's.
fn now_secs(now: Option<f64>) -> u64 {
    match now {
        Some(t) if t.is_finite() && t > 0.0 => t as u64,
        _ => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    }
}

fn max_frame(v: Option<u32>) -> usize {
    v.map_or(MAX_FRAME_LEN, |m| m as usize)
}

/// Shared driver of both roles: feed messages, collect frames and handshake results.
struct Driver {
    session: NoiseSession,
    frames: Vec<Bytes>,
    peer_static: Option<[u8; 32]>,
    client_payload: Option<Vec<u8>>,
}

impl Driver {
    fn new(session: NoiseSession) -> Self {
        Self {
            session,
            frames: Vec::new(),
            peer_static: None,
            client_payload: None,
        }
    }

    fn collect(&mut self) {
        while let Some(ev) = self.session.poll_event() {
            match ev {
                Event::Frame(f) => self.frames.push(Bytes(f)),
                Event::ServerVerified(id) => self.peer_static = Some(id.server_static),
                Event::ClientFinished(id) => {
                    self.peer_static = Some(id.client_static);
                    self.client_payload = Some(id.payload_bytes);
                }
            }
        }
    }

    fn receive(&mut self, data: &[u8], now: Option<f64>) -> Result<Vec<Bytes>> {
        let r = self.session.handle_data(now_secs(now), data);
        self.collect();
        r.map_err(noise_err)?;
        Ok(std::mem::take(&mut self.frames))
    }

    fn take_transmit(&mut self) -> Option<Bytes> {
        let first = self.session.poll_transmit()?;
        let mut all = first;
        while let Some(more) = self.session.poll_transmit() {
            all.extend_from_slice(&more);
        }
        Some(Bytes(all))
    }

    fn send(&mut self, plain: &[u8]) -> Result<Bytes> {
        self.session
            .send_now(plain)
            .map(Into::into)
            .map_err(noise_err)
    }

    fn send_many(&mut self, plains: &[BufferSlice]) -> Result<Bytes> {
        let mut all = Vec::new();
        for p in plains {
            all.extend(self.session.send_now(p).map_err(noise_err)?);
        }
        Ok(Bytes(all))
    }
}

/// Options of a `NoiseClient`.
#[napi(object)]
pub struct NoiseClientOptions {
    /// The long-term Noise private key (Baileys' `creds.noiseKey.private`).
    pub noise_private_key: Buffer,
    /// The encoded ClientPayload sent in ClientFinish.
    pub payload: Buffer,
    /// The root the server's certificate chain must lead to; WhatsApp's key by default.
    pub trust_root: Option<Buffer>,
    /// Edge routing info (`creds.routingInfo`), sent before the header.
    pub routing_info: Option<Buffer>,
    /// Largest frame accepted or sent (default and maximum 16 MiB - 1).
    pub max_frame_len: Option<u32>,
}

/// The client side of WhatsApp's Noise session. The first message to send (intro and
/// ClientHello) is ready in `takeTransmit()` at once; feed every websocket message to
/// `receive()`, which returns decrypted frames; `send()` returns the bytes of one frame.
#[napi]
pub struct NoiseClient {
    d: Driver,
}

#[napi]
impl NoiseClient {
    #[napi(constructor, catch_unwind)]
    pub fn new(options: NoiseClientOptions) -> Result<Self> {
        let private: [u8; 32] = options.noise_private_key.as_ref().try_into().map_err(|_| {
            coded(
                "ERR_WA_NOISE_KEY_LENGTH",
                "noisePrivateKey must be 32 bytes",
            )
        })?;
        let mut cfg = ClientConfig::new(KeyPair::from_private(private), options.payload.to_vec());
        if let Some(root) = &options.trust_root {
            cfg.trust_root = public32("trustRoot", root)?;
        }
        cfg.routing_info = options.routing_info.map(|r| r.to_vec());
        cfg.max_frame_len = max_frame(options.max_frame_len);
        Ok(Self {
            d: Driver::new(NoiseSession::client(cfg)),
        })
    }

    /// Feeds one received websocket message; returns the frames it completed, decrypted.
    /// `now` (Unix seconds) defaults to the system clock.
    #[napi(catch_unwind, ts_return_type = "Array<Buffer>")]
    pub fn receive(&mut self, data: BufferSlice, now: Option<f64>) -> Result<Vec<Bytes>> {
        self.d.receive(&data, now)
    }

    /// What to send next (handshake messages), or null.
    #[napi(catch_unwind, ts_return_type = "Buffer | null")]
    pub fn take_transmit(&mut self) -> Option<Bytes> {
        self.d.take_transmit()
    }

    /// Encrypts one frame; returns the bytes of one websocket message.
    #[napi(catch_unwind, ts_return_type = "Buffer")]
    pub fn send(&mut self, plaintext: BufferSlice) -> Result<Bytes> {
        self.d.send(&plaintext)
    }

    /// Encrypts several frames into one websocket message.
    #[napi(catch_unwind, ts_return_type = "Buffer")]
    pub fn send_many(&mut self, plaintexts: Vec<BufferSlice>) -> Result<Bytes> {
        self.d.send_many(&plaintexts)
    }

    #[napi(getter)]
    pub fn established(&self) -> bool {
        self.d.session.is_established()
    }

    #[napi(getter)]
    pub fn server_static(&self) -> Option<Buffer> {
        self.d.peer_static.map(|k| k.to_vec().into())
    }
}

/// Options of a `NoiseResponder`.
#[napi(object)]
pub struct NoiseResponderOptions {
    /// The server's static private key; the chain's leaf must carry its public key.
    pub static_private_key: Buffer,
    /// The encoded CertChain (see `mintNoiseCertChain`).
    pub cert_chain: Buffer,
    pub max_frame_len: Option<u32>,
}

/// The server side of WhatsApp's Noise session, for test servers: answers a client's
/// ClientHello with its certificate chain, checks the ClientFinish and exposes the
/// ClientPayload.
#[napi]
pub struct NoiseResponder {
    d: Driver,
}

#[napi]
impl NoiseResponder {
    #[napi(constructor, catch_unwind)]
    pub fn new(options: NoiseResponderOptions) -> Result<Self> {
        let private: [u8; 32] = options
            .static_private_key
            .as_ref()
            .try_into()
            .map_err(|_| {
                coded(
                    "ERR_WA_NOISE_KEY_LENGTH",
                    "staticPrivateKey must be 32 bytes",
                )
            })?;
        let mut cfg =
            ResponderConfig::new(KeyPair::from_private(private), options.cert_chain.to_vec());
        cfg.max_frame_len = max_frame(options.max_frame_len);
        Ok(Self {
            d: Driver::new(NoiseSession::responder(cfg)),
        })
    }

    /// Feeds one received websocket message; returns the frames it completed, decrypted.
    /// `now` (Unix seconds) defaults to the system clock.
    #[napi(catch_unwind, ts_return_type = "Array<Buffer>")]
    pub fn receive(&mut self, data: BufferSlice, now: Option<f64>) -> Result<Vec<Bytes>> {
        self.d.receive(&data, now)
    }

    /// What to send next (handshake messages), or null.
    #[napi(catch_unwind, ts_return_type = "Buffer | null")]
    pub fn take_transmit(&mut self) -> Option<Bytes> {
        self.d.take_transmit()
    }

    /// Encrypts one frame; returns the bytes of one websocket message.
    #[napi(catch_unwind, ts_return_type = "Buffer")]
    pub fn send(&mut self, plaintext: BufferSlice) -> Result<Bytes> {
        self.d.send(&plaintext)
    }

    /// Encrypts several frames into one websocket message.
    #[napi(catch_unwind, ts_return_type = "Buffer")]
    pub fn send_many(&mut self, plaintexts: Vec<BufferSlice>) -> Result<Bytes> {
        self.d.send_many(&plaintexts)
    }

    #[napi(getter)]
    pub fn established(&self) -> bool {
        self.d.session.is_established()
    }

    #[napi(getter)]
    pub fn client_static(&self) -> Option<Buffer> {
        self.d.peer_static.map(|k| k.to_vec().into())
    }

    /// The decrypted ClientPayload, exactly as the client encoded it.
    #[napi(getter)]
    pub fn client_payload(&self) -> Option<Buffer> {
        self.d.client_payload.clone().map(Into::into)
    }

    #[napi(getter)]
    pub fn routing_info(&self) -> Option<Buffer> {
        self.d
            .session
            .intro()
            .and_then(|i| i.routing_info.clone())
            .map(Into::into)
    }
}

/// What `mintNoiseCertChain` signs.
#[napi(object)]
pub struct MintCertChainOptions {
    pub root_private_key: Buffer,
    pub server_public_key: Buffer,
    pub intermediate_private_key: Option<Buffer>,
    pub intermediate_serial: Option<u32>,
    pub leaf_serial: Option<u32>,
    pub not_before: Option<f64>,
    pub not_after: Option<f64>,
}

/// Mints a certificate chain for a test server: an intermediate certificate signed by the
/// root key, and a leaf for `serverPublicKey` signed by the intermediate. Returns the encoded
/// CertChain. Issuer serials are always written, also when 0.
#[napi(catch_unwind)]
pub fn mint_noise_cert_chain(options: MintCertChainOptions) -> Result<Buffer> {
    let root: [u8; 32] = options
        .root_private_key
        .as_ref()
        .try_into()
        .map_err(|_| coded("ERR_WA_NOISE_KEY_LENGTH", "rootPrivateKey must be 32 bytes"))?;
    let int = match &options.intermediate_private_key {
        Some(k) => KeyPair::from_private(k.as_ref().try_into().map_err(|_| {
            coded(
                "ERR_WA_NOISE_KEY_LENGTH",
                "intermediatePrivateKey must be 32 bytes",
            )
        })?),
        None => KeyPair::generate(),
    };
    let defaults = MintOptions::default();
    let opts = MintOptions {
        intermediate_serial: options
            .intermediate_serial
            .unwrap_or(defaults.intermediate_serial),
        leaf_serial: options.leaf_serial.unwrap_or(defaults.leaf_serial),
        not_before: options.not_before.map(|t| t as u64),
        not_after: options.not_after.map(|t| t as u64),
    };
    let server = public32("serverPublicKey", &options.server_public_key)?;
    Ok(
        mint_chain_with(&KeyPair::from_private(root), &int, &server, &opts)
            .encode()
            .into(),
    )
}

/// A verified chain's serials and intermediate key.
#[napi(object)]
pub struct VerifiedNoiseCertChain {
    pub intermediate_serial: u32,
    pub leaf_serial: u32,
    pub intermediate_key: Buffer,
}

/// Verifies an encoded CertChain for `serverPublicKey` exactly as the client does (against
/// WhatsApp's root unless `trustRoot` is given, at `now` Unix seconds or the system time).
#[napi(catch_unwind)]
pub fn verify_noise_cert_chain(
    chain: Buffer,
    server_public_key: Buffer,
    trust_root: Option<Buffer>,
    now: Option<f64>,
) -> Result<VerifiedNoiseCertChain> {
    let server = public32("serverPublicKey", &server_public_key)?;
    let root = match &trust_root {
        Some(r) => public32("trustRoot", r)?,
        None => WA_CERT_ROOT,
    };
    let v = verify_chain(&chain, &server, &root, now_secs(now))
        .map_err(|e| noise_err(NoiseError::Cert(e)))?;
    Ok(VerifiedNoiseCertChain {
        intermediate_serial: v.intermediate_serial,
        leaf_serial: v.leaf_serial,
        intermediate_key: v.intermediate_key.to_vec().into(),
    })
}

/// WhatsApp's certificate root public key (32 bytes).
#[napi]
pub fn noise_wa_cert_root() -> Buffer {
    WA_CERT_ROOT.to_vec().into()
}
