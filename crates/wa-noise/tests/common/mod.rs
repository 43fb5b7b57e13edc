//! A client and a responder driven against each other in memory, with control over how
//! their byte streams are cut into websocket messages.
#![allow(dead_code)]

use wa_crypto::KeyPair;
use wa_noise::{
    ClientConfig, Event, MintOptions, NoiseError, NoiseSession, ResponderConfig, mint_chain,
};
use wa_proto::{ClientPayload, ProtoMessage};

pub const NOW: u64 = 1_750_000_000;

pub struct Fixture {
    pub root: KeyPair,
    pub server: KeyPair,
    pub client_static: KeyPair,
    pub chain: Vec<u8>,
    pub payload: ClientPayload,
}

impl Fixture {
    pub fn new() -> Self {
        let root = KeyPair::generate();
        let server = KeyPair::generate();
        let chain = mint_chain(&root, &server.public, &MintOptions::default()).encode();
        Self {
            root,
            server,
            client_static: KeyPair::generate(),
            chain,
            payload: ClientPayload {
                username: Some(15_551_234_567),
                device: Some(3),
                passive: Some(true),
                pull: Some(true),
                ..Default::default()
            },
        }
    }

    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new(self.client_static.clone(), self.payload.encode_to_vec());
        c.trust_root = self.root.public;
        c
    }

    pub fn responder_config(&self) -> ResponderConfig {
        ResponderConfig::new(self.server.clone(), self.chain.clone())
    }

    pub fn pair(&self) -> (NoiseSession, NoiseSession) {
        (
            NoiseSession::client(self.client_config()),
            NoiseSession::responder(self.responder_config()),
        )
    }
}

/// Moves every queued transmit from `from` into `to` as-is. Returns the bytes moved.
pub fn deliver(from: &mut NoiseSession, to: &mut NoiseSession) -> Result<usize, NoiseError> {
    let mut n = 0;
    while let Some(msg) = from.poll_transmit() {
        n += msg.len();
        to.handle_data(NOW, &msg)?;
    }
    Ok(n)
}

pub fn drain_events(s: &mut NoiseSession) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

pub fn frames(s: &mut NoiseSession) -> Vec<Vec<u8>> {
    drain_events(s)
        .into_iter()
        .filter_map(|e| match e {
            Event::Frame(f) => Some(f),
            _ => None,
        })
        .collect()
}

/// Runs the handshake to completion, returning the established pair.
pub fn handshake(f: &Fixture) -> (NoiseSession, NoiseSession) {
    let (mut c, mut r) = f.pair();
    deliver(&mut c, &mut r).unwrap();
    deliver(&mut r, &mut c).unwrap();
    deliver(&mut c, &mut r).unwrap();
    assert!(c.is_established() && r.is_established());
    (c, r)
}
