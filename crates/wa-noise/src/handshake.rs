//! The three handshake messages of `Noise_XX_25519_AESGCM_SHA256` as WhatsApp sends them, for
//! both sides. These work on whole frame payloads; [`crate::NoiseSession`] adds the bytes.
//!
//! ```text
//! prologue: h = ck = PROTOCOL_NAME; MixHash(WA header)
//! -> ClientHello  { ephemeral: e }                      MixHash(e)
//! <- ServerHello  { ephemeral: e, static: Enc(s),       MixHash(e); MixKey(ee)
//!                   payload: Enc(cert chain) }          Enc(s); MixKey(es); Enc(chain)
//! -> ClientFinish { static: Enc(s), payload: Enc(ClientPayload) }
//!                                                       Enc(s); MixKey(se); Enc(payload)
//! split: HKDF(ck) -> client->server key | server->client key
//! ```
use wa_crypto::KeyPair;
use wa_proto::handshake_message::{ClientFinish, ClientHello, ServerHello};
use wa_proto::{ClientPayload, HandshakeMessage, ProtoMessage};

use crate::NoiseError;
use crate::cert::{VerifiedChain, verify_chain};
use crate::symmetric::SymmetricState;
use crate::transport::{RecvCipher, SendCipher};

/// Transport keys for one side of a finished handshake.
#[derive(Debug, Clone)]
pub struct TransportKeys {
    pub send: SendCipher,
    pub recv: RecvCipher,
}

fn key32(field: &'static str, bytes: Option<&[u8]>) -> Result<[u8; 32], NoiseError> {
    let b = bytes.ok_or(NoiseError::MissingField(field))?;
    b.try_into().map_err(|_| NoiseError::KeyLength {
        field,
        got: b.len(),
    })
}

fn decode(payload: &[u8]) -> Result<HandshakeMessage, NoiseError> {
    HandshakeMessage::decode(payload).map_err(|_| NoiseError::HandshakeDecode)
}

/// The client's side, from ClientHello to the transport keys.
#[derive(Clone)]
pub struct ClientHandshake {
    state: SymmetricState,
    ephemeral: KeyPair,
    static_key: KeyPair,
    trust_root: [u8; 32],
}

/// What the client learned from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerIdentity {
    pub server_static: [u8; 32],
    pub chain: VerifiedChain,
}

impl ClientHandshake {
    /// Starts the handshake; returns the state and the encoded ClientHello.
    pub fn start(
        header: &[u8; 4],
        ephemeral: KeyPair,
        static_key: KeyPair,
        trust_root: [u8; 32],
    ) -> (Self, Vec<u8>) {
        let mut state = SymmetricState::new();
        state.mix_hash(header);
        state.mix_hash(&ephemeral.public);
        let hello = HandshakeMessage {
            client_hello: Some(ClientHello {
                ephemeral: Some(ephemeral.public.to_vec()),
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec();
        (
            Self {
                state,
                ephemeral,
                static_key,
                trust_root,
            },
            hello,
        )
    }

    /// Processes the ServerHello (verifying the certificate chain at `now`, Unix seconds) and
    /// returns the encoded ClientFinish carrying `payload`, the server's identity and the
    /// transport keys.
    pub fn finish(
        mut self,
        server_hello: &[u8],
        payload: &[u8],
        now: u64,
    ) -> Result<(Vec<u8>, ServerIdentity, TransportKeys), NoiseError> {
        let msg = decode(server_hello)?;
        let hello = msg
            .server_hello
            .ok_or(NoiseError::UnexpectedMessage("ServerHello"))?;
        let re = key32("serverHello.ephemeral", hello.ephemeral.as_deref())?;
        let static_enc = hello
            .r#static
            .as_deref()
            .ok_or(NoiseError::MissingField("serverHello.static"))?;
        let cert_enc = hello
            .payload
            .as_deref()
            .ok_or(NoiseError::MissingField("serverHello.payload"))?;

        let st = &mut self.state;
        st.mix_hash(&re);
        st.mix_dh(&self.ephemeral.private, &re)?;
        let rs_plain = st.decrypt_and_hash(static_enc)?;
        let rs = key32("server static key", Some(&rs_plain))?;
        st.mix_dh(&self.ephemeral.private, &rs)?;
        let chain_bytes = st.decrypt_and_hash(cert_enc)?;
        let chain = verify_chain(&chain_bytes, &rs, &self.trust_root, now)?;

        let static_sealed = st.encrypt_and_hash(&self.static_key.public);
        st.mix_dh(&self.static_key.private, &re)?;
        let payload_sealed = st.encrypt_and_hash(payload);
        let finish = HandshakeMessage {
            client_finish: Some(ClientFinish {
                r#static: Some(static_sealed),
                payload: Some(payload_sealed),
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec();
        let (c2s, s2c) = st.split();
        Ok((
            finish,
            ServerIdentity {
                server_static: rs,
                chain,
            },
            TransportKeys {
                send: SendCipher::new(c2s),
                recv: RecvCipher::new(s2c),
            },
        ))
    }
}

/// The responder's side: answers a ClientHello, then checks the ClientFinish.
#[derive(Clone)]
pub struct ResponderHandshake {
    state: SymmetricState,
    ephemeral: KeyPair,
}

/// What the responder learned from the client.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientIdentity {
    /// The client's Noise static key (its `noiseKey`).
    pub client_static: [u8; 32],
    /// The ClientPayload exactly as the client encoded it.
    pub payload_bytes: Vec<u8>,
    pub payload: ClientPayload,
}

impl ResponderHandshake {
    /// Answers a ClientHello: returns the state and the encoded ServerHello, which carries
    /// `static_key` and the encoded certificate chain.
    pub fn respond(
        header: &[u8; 4],
        client_hello: &[u8],
        ephemeral: KeyPair,
        static_key: &KeyPair,
        cert_chain: &[u8],
    ) -> Result<(Self, Vec<u8>), NoiseError> {
        let msg = decode(client_hello)?;
        let hello = msg
            .client_hello
            .ok_or(NoiseError::UnexpectedMessage("ClientHello"))?;
        let re = key32("clientHello.ephemeral", hello.ephemeral.as_deref())?;
        let mut state = SymmetricState::new();
        state.mix_hash(header);
        state.mix_hash(&re);
        state.mix_hash(&ephemeral.public);
        state.mix_dh(&ephemeral.private, &re)?;
        let static_sealed = state.encrypt_and_hash(&static_key.public);
        state.mix_dh(&static_key.private, &re)?;
        let payload_sealed = state.encrypt_and_hash(cert_chain);
        let reply = HandshakeMessage {
            server_hello: Some(ServerHello {
                ephemeral: Some(ephemeral.public.to_vec()),
                r#static: Some(static_sealed),
                payload: Some(payload_sealed),
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec();
        Ok((Self { state, ephemeral }, reply))
    }

    /// Checks the ClientFinish and returns the client's identity and the transport keys.
    pub fn finish(
        mut self,
        client_finish: &[u8],
    ) -> Result<(ClientIdentity, TransportKeys), NoiseError> {
        let msg = decode(client_finish)?;
        let fin = msg
            .client_finish
            .ok_or(NoiseError::UnexpectedMessage("ClientFinish"))?;
        let static_enc = fin
            .r#static
            .as_deref()
            .ok_or(NoiseError::MissingField("clientFinish.static"))?;
        let payload_enc = fin
            .payload
            .as_deref()
            .ok_or(NoiseError::MissingField("clientFinish.payload"))?;
        let st = &mut self.state;
        let rs_plain = st.decrypt_and_hash(static_enc)?;
        let rs = key32("client static key", Some(&rs_plain))?;
        st.mix_dh(&self.ephemeral.private, &rs)?;
        let payload_bytes = st.decrypt_and_hash(payload_enc)?;
        let payload = ClientPayload::decode(payload_bytes.as_slice())
            .map_err(|_| NoiseError::ClientPayloadDecode)?;
        let (c2s, s2c) = st.split();
        Ok((
            ClientIdentity {
                client_static: rs,
                payload_bytes,
                payload,
            },
            TransportKeys {
                send: SendCipher::new(s2c),
                recv: RecvCipher::new(c2s),
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert::{MintOptions, mint_chain_with};
    use crate::frame::WA_HEADER;

    const NOW: u64 = 1_700_000_000;

    #[test]
    fn both_sides_agree_on_hash_and_keys() {
        let root = KeyPair::from_private([1; 32]);
        let server = KeyPair::from_private([2; 32]);
        let client_static = KeyPair::from_private([4; 32]);
        let chain = mint_chain_with(
            &root,
            &KeyPair::from_private([3; 32]),
            &server.public,
            &MintOptions::default(),
        )
        .encode();
        let (client, hello) = ClientHandshake::start(
            &WA_HEADER,
            KeyPair::from_private([5; 32]),
            client_static.clone(),
            root.public,
        );
        let (responder, server_hello) = ResponderHandshake::respond(
            &WA_HEADER,
            &hello,
            KeyPair::from_private([6; 32]),
            &server,
            &chain,
        )
        .unwrap();
        let payload = ClientPayload {
            username: Some(123),
            passive: Some(true),
            ..Default::default()
        };
        let (finish, server_id, mut ck) = client
            .finish(&server_hello, &payload.encode_to_vec(), NOW)
            .unwrap();
        assert_eq!(server_id.server_static, server.public);
        let (client_id, mut sk) = responder.finish(&finish).unwrap();
        assert_eq!(client_id.client_static, client_static.public);
        assert_eq!(client_id.payload, payload);

        let mut sealed = Vec::new();
        ck.send.seal_append(b"ping", &mut sealed).unwrap();
        let mut plain = Vec::new();
        sk.recv.open_append(&sealed, &mut plain).unwrap();
        assert_eq!(plain, b"ping");
        let mut sealed = Vec::new();
        sk.send.seal_append(b"pong", &mut sealed).unwrap();
        let mut plain = Vec::new();
        ck.recv.open_append(&sealed, &mut plain).unwrap();
        assert_eq!(plain, b"pong");
    }

    #[test]
    fn a_different_header_breaks_the_handshake() {
        // The header is part of the transcript: a peer that saw other bytes cannot finish.
        let root = KeyPair::from_private([1; 32]);
        let server = KeyPair::from_private([2; 32]);
        let chain =
            crate::cert::mint_chain(&root, &server.public, &MintOptions::default()).encode();
        let (client, hello) = ClientHandshake::start(
            &WA_HEADER,
            KeyPair::generate(),
            KeyPair::generate(),
            root.public,
        );
        let (_, server_hello) = ResponderHandshake::respond(
            b"WA\x06\x02",
            &hello,
            KeyPair::generate(),
            &server,
            &chain,
        )
        .unwrap();
        assert!(matches!(
            client.finish(&server_hello, b"", NOW),
            Err(NoiseError::HandshakeDecrypt)
        ));
    }
}
