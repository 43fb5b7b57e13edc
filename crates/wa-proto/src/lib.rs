//! WhatsApp's protobuf wire types.
//!
//! The schemas live in the repository's `proto/` directory (package `wa`), one file per
//! domain; field numbers and names follow WhatsApp's wire format. Everything is generated
//! by prost at build time.

#![forbid(unsafe_code)]

#[allow(clippy::all, clippy::pedantic, missing_docs)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/wa.rs"));
}

pub use generated::*;
pub use prost::Message as ProtoMessage;

/// The encoded `FileDescriptorSet` of every schema in `proto/`, for reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/wa_descriptor.bin"));

pub mod js;

/// Signal protocol wire messages and record forms (`proto/signal.proto`, package `wa.signal`).
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod signal {
    include!(concat!(env!("OUT_DIR"), "/wa.signal.rs"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn handshake_fields_use_whatsapp_numbers() {
        let msg = HandshakeMessage {
            client_hello: Some(handshake_message::ClientHello {
                ephemeral: Some(vec![7; 32]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let bytes = msg.encode_to_vec();
        // field 2 (clientHello), length 34; inside: field 1 (ephemeral), length 32
        assert_eq!(&bytes[..4], &[0x12, 34, 0x0a, 32]);
        assert_eq!(HandshakeMessage::decode(bytes.as_slice()).unwrap(), msg);
    }
}
