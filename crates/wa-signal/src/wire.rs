//! The four wire messages, framed as libsignal frames them: a version byte (current version in
//! the high nibble, minimum in the low nibble, 0x33 for version 3), the protobuf, and for
//! ratchet messages an 8-byte truncated MAC, for sender-key messages a 64-byte signature.
//!
//! Decoders take hostile bytes: every failure is an [`ErrorKind`], never a panic.

use prost::Message as _;
use wa_crypto::curve;
use wa_proto::signal as pb;

use crate::error::{ErrorKind, Fault};
use crate::keys::public_key;

/// The protocol version we speak.
pub const CURRENT_VERSION: u8 = 3;
/// `(3 << 4) | 3`: what we send, and what goes into every MAC.
pub const VERSION_BYTE: u8 = (CURRENT_VERSION << 4) | CURRENT_VERSION;
/// Ratchet messages carry the first 8 bytes of their HMAC-SHA256.
pub const MAC_LEN: usize = 8;
/// Sender-key messages carry a 64-byte XEdDSA signature.
pub const SIGNATURE_LEN: usize = 64;

/// Accepts what libsignal-node accepts from version 3 senders: current version 3, minimum
/// version at most 3.
fn check_version(byte: u8) -> Fault<()> {
    if byte >> 4 == CURRENT_VERSION && byte & 0x0f <= CURRENT_VERSION {
        Ok(())
    } else {
        Err(ErrorKind::UnknownVersion(byte))
    }
}

/// A parsed ratchet message (`msg`).
#[derive(Debug)]
pub struct WhisperFrame<'a> {
    /// The protobuf bytes, as covered by the MAC.
    pub body: &'a [u8],
    pub mac: &'a [u8],
    pub ephemeral_key: Vec<u8>,
    pub counter: u32,
    pub previous_counter: u32,
    pub ciphertext: Vec<u8>,
}

pub fn parse_whisper(bytes: &[u8]) -> Fault<WhisperFrame<'_>> {
    if bytes.len() < 1 + MAC_LEN {
        return Err(ErrorKind::InvalidMessage("message too short"));
    }
    check_version(bytes[0])?;
    let (body, mac) = bytes[1..].split_at(bytes.len() - 1 - MAC_LEN);
    let m = pb::WhisperMessage::decode(body)
        .map_err(|_| ErrorKind::InvalidMessage("malformed WhisperMessage"))?;
    let ephemeral_key = m
        .ephemeral_key
        .ok_or(ErrorKind::InvalidMessage("no ratchet key"))?;
    public_key(&ephemeral_key, "ratchet key")
        .map_err(|_| ErrorKind::InvalidMessage("invalid ratchet key"))?;
    let ciphertext = m
        .ciphertext
        .ok_or(ErrorKind::InvalidMessage("no ciphertext"))?;
    Ok(WhisperFrame {
        body,
        mac,
        ephemeral_key,
        // Absent counters read as 0, as protobufjs (libsignal-node) reads them.
        counter: m.counter.unwrap_or(0),
        previous_counter: m.previous_counter.unwrap_or(0),
        ciphertext,
    })
}

/// The protobuf of a ratchet message (fields in libsignal-node's order, so the bytes equal its).
pub fn encode_whisper_body(
    ephemeral_key: &[u8],
    counter: u32,
    previous_counter: u32,
    ciphertext: Vec<u8>,
) -> Vec<u8> {
    pb::WhisperMessage {
        ephemeral_key: Some(ephemeral_key.to_vec()),
        counter: Some(counter),
        previous_counter: Some(previous_counter),
        ciphertext: Some(ciphertext),
    }
    .encode_to_vec()
}

/// A parsed prekey message (`pkmsg`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreKeyFrame {
    /// The one-time prekey used; `None` also when the sender wrote 0 (protobufjs' default).
    pub pre_key_id: Option<u32>,
    pub base_key: Vec<u8>,
    pub identity_key: Vec<u8>,
    /// The inner ratchet message, framed.
    pub message: Vec<u8>,
    pub registration_id: u32,
    pub signed_pre_key_id: Option<u32>,
}

pub fn parse_pre_key(bytes: &[u8]) -> Fault<PreKeyFrame> {
    let (&version, body) = bytes
        .split_first()
        .ok_or(ErrorKind::InvalidMessage("empty message"))?;
    check_version(version)?;
    let m = pb::PreKeyWhisperMessage::decode(body)
        .map_err(|_| ErrorKind::InvalidMessage("malformed PreKeyWhisperMessage"))?;
    let base_key = m.base_key.ok_or(ErrorKind::InvalidMessage("no base key"))?;
    let base = public_key(&base_key, "base key")
        .map_err(|_| ErrorKind::InvalidMessage("invalid base key"))?;
    // X25519 ignores a public key's top bit, and no key pair ever has it set; the base key is
    // also the session's id, compared as bytes. A copy with that bit flipped in transit would
    // set up the very same session under another id, and every genuine message after it would
    // miss that session and ask for a one-time prekey already used. So it is refused.
    if base[31] & 0x80 != 0 {
        return Err(ErrorKind::InvalidMessage("base key is not canonical"));
    }
    let identity_key = m
        .identity_key
        .ok_or(ErrorKind::InvalidMessage("no identity key"))?;
    public_key(&identity_key, "identity key")
        .map_err(|_| ErrorKind::InvalidMessage("invalid identity key"))?;
    let message = m
        .message
        .ok_or(ErrorKind::InvalidMessage("no inner message"))?;
    Ok(PreKeyFrame {
        pre_key_id: m.pre_key_id.filter(|&id| id != 0),
        base_key,
        identity_key,
        message,
        registration_id: m.registration_id.unwrap_or(0),
        signed_pre_key_id: m.signed_pre_key_id,
    })
}

/// A framed prekey message (version byte included).
pub fn encode_pre_key(frame: &PreKeyFrame) -> Vec<u8> {
    let m = pb::PreKeyWhisperMessage {
        pre_key_id: frame.pre_key_id,
        base_key: Some(frame.base_key.clone()),
        identity_key: Some(frame.identity_key.clone()),
        message: Some(frame.message.clone()),
        registration_id: Some(frame.registration_id),
        signed_pre_key_id: frame.signed_pre_key_id,
    };
    let mut out = Vec::with_capacity(1 + m.encoded_len());
    out.push(VERSION_BYTE);
    m.encode(&mut out).expect("a Vec grows as needed");
    out
}

/// A parsed group message (`skmsg`).
#[derive(Debug)]
pub struct SenderKeyFrame<'a> {
    /// Version byte and protobuf: what the signature covers.
    pub signed: &'a [u8],
    pub signature: &'a [u8],
    pub key_id: u32,
    pub iteration: u32,
    pub ciphertext: Vec<u8>,
}

pub fn parse_sender_key_message(bytes: &[u8]) -> Fault<SenderKeyFrame<'_>> {
    if bytes.len() < 1 + SIGNATURE_LEN {
        return Err(ErrorKind::InvalidMessage("message too short"));
    }
    check_version(bytes[0])?;
    let (signed, signature) = bytes.split_at(bytes.len() - SIGNATURE_LEN);
    let m = pb::SenderKeyMessage::decode(&signed[1..])
        .map_err(|_| ErrorKind::InvalidMessage("malformed SenderKeyMessage"))?;
    Ok(SenderKeyFrame {
        signed,
        signature,
        key_id: m.id.ok_or(ErrorKind::InvalidMessage("no key id"))?,
        iteration: m
            .iteration
            .ok_or(ErrorKind::InvalidMessage("no iteration"))?,
        ciphertext: m
            .ciphertext
            .ok_or(ErrorKind::InvalidMessage("no ciphertext"))?,
    })
}

/// A signed group message: version || protobuf || signature by `signing_private`.
pub fn encode_sender_key_message(
    key_id: u32,
    iteration: u32,
    ciphertext: Vec<u8>,
    signing_private: &[u8; 32],
) -> Vec<u8> {
    let m = pb::SenderKeyMessage {
        id: Some(key_id),
        iteration: Some(iteration),
        ciphertext: Some(ciphertext),
    };
    let mut out = Vec::with_capacity(1 + m.encoded_len() + SIGNATURE_LEN);
    out.push(VERSION_BYTE);
    m.encode(&mut out).expect("a Vec grows as needed");
    let random: [u8; 64] = wa_crypto::message_random();
    let signature = curve::sign_with_random(signing_private, &out, &random);
    out.extend_from_slice(&signature);
    out
}

/// A sender key distribution message: everything a member needs to read our group messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Distribution {
    pub key_id: u32,
    pub iteration: u32,
    pub chain_key: Vec<u8>,
    pub signing_key: Vec<u8>,
}

pub fn parse_distribution(bytes: &[u8]) -> Fault<Distribution> {
    let (&version, body) = bytes
        .split_first()
        .ok_or(ErrorKind::InvalidMessage("empty message"))?;
    check_version(version)?;
    let m = pb::SenderKeyDistributionMessage::decode(body)
        .map_err(|_| ErrorKind::InvalidMessage("malformed SenderKeyDistributionMessage"))?;
    let chain_key = m
        .chain_key
        .ok_or(ErrorKind::InvalidMessage("no chain key"))?;
    if chain_key.len() != 32 {
        return Err(ErrorKind::InvalidMessage("chain key must be 32 bytes"));
    }
    let signing_key = m
        .signing_key
        .ok_or(ErrorKind::InvalidMessage("no signing key"))?;
    public_key(&signing_key, "signing key")
        .map_err(|_| ErrorKind::InvalidMessage("invalid signing key"))?;
    Ok(Distribution {
        key_id: m.id.ok_or(ErrorKind::InvalidMessage("no key id"))?,
        iteration: m
            .iteration
            .ok_or(ErrorKind::InvalidMessage("no iteration"))?,
        chain_key,
        signing_key,
    })
}

pub fn encode_distribution(d: &Distribution) -> Vec<u8> {
    let m = pb::SenderKeyDistributionMessage {
        id: Some(d.key_id),
        iteration: Some(d.iteration),
        chain_key: Some(d.chain_key.clone()),
        signing_key: Some(d.signing_key.clone()),
    };
    let mut out = Vec::with_capacity(1 + m.encoded_len());
    out.push(VERSION_BYTE);
    m.encode(&mut out).expect("a Vec grows as needed");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key33(b: u8) -> Vec<u8> {
        let mut k = vec![b; 33];
        k[0] = 5;
        k
    }

    #[test]
    fn whisper_round_trip_and_field_bytes() {
        let body = encode_whisper_body(&key33(1), 2, 1, vec![9; 16]);
        // field 1 (bytes, 33), then counter 2, previousCounter 1, then ciphertext
        assert_eq!(&body[..2], &[0x0a, 33]);
        assert_eq!(&body[35..39], &[0x10, 2, 0x18, 1]);
        let mut framed = vec![VERSION_BYTE];
        framed.extend_from_slice(&body);
        framed.extend_from_slice(&[7; 8]);
        let f = parse_whisper(&framed).unwrap();
        assert_eq!(f.body, &body[..]);
        assert_eq!(f.mac, &[7; 8]);
        assert_eq!((f.counter, f.previous_counter), (2, 1));
        assert_eq!(f.ciphertext, vec![9; 16]);
    }

    #[test]
    fn versions() {
        let body = encode_whisper_body(&key33(1), 0, 0, vec![1]);
        for (byte, ok) in [
            (0x33u8, true),
            (0x32, true),
            (0x34, false),
            (0x23, false),
            (0x43, false),
            (0x00, false),
        ] {
            let mut framed = vec![byte];
            framed.extend_from_slice(&body);
            framed.extend_from_slice(&[0; 8]);
            match parse_whisper(&framed) {
                Ok(_) => assert!(ok, "{byte:#x}"),
                Err(e) => {
                    assert!(!ok, "{byte:#x}");
                    assert_eq!(e, ErrorKind::UnknownVersion(byte));
                }
            }
        }
    }

    #[test]
    fn prekey_round_trip_and_zero_id() {
        let mut f = PreKeyFrame {
            pre_key_id: Some(31),
            base_key: key33(2),
            identity_key: key33(3),
            message: vec![1, 2, 3],
            registration_id: 1234,
            signed_pre_key_id: Some(1),
        };
        assert_eq!(parse_pre_key(&encode_pre_key(&f)).unwrap(), f);
        f.pre_key_id = Some(0);
        assert_eq!(parse_pre_key(&encode_pre_key(&f)).unwrap().pre_key_id, None);
    }

    #[test]
    fn missing_fields_are_errors() {
        let m = pb::PreKeyWhisperMessage {
            base_key: Some(key33(2)),
            ..Default::default()
        };
        let mut b = vec![VERSION_BYTE];
        b.extend(m.encode_to_vec());
        assert_eq!(
            parse_pre_key(&b),
            Err(ErrorKind::InvalidMessage("no identity key"))
        );
        assert!(parse_whisper(&[0x33; 9]).is_err());
        assert!(parse_sender_key_message(&[0x33; 64]).is_err());
        assert!(parse_distribution(&[]).is_err());
    }

    #[test]
    fn distribution_round_trip() {
        let d = Distribution {
            key_id: 77,
            iteration: 5,
            chain_key: vec![4; 32],
            signing_key: key33(6),
        };
        assert_eq!(parse_distribution(&encode_distribution(&d)).unwrap(), d);
    }
}
