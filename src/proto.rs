//! Protobuf helpers exposed for tests and tooling.

use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use wa_proto::{HandshakeMessage, ProtoMessage};

use crate::errors::{Result, coded};

/// Decodes a `HandshakeMessage` protobuf and returns which of its parts are present.
/// Used by the demo to show the wire types without a connection.
#[napi(js_name = "describeHandshakeMessage")]
pub fn describe_handshake_message(bytes: Buffer) -> Result<Vec<String>> {
    let msg = HandshakeMessage::decode(bytes.as_ref())
        .map_err(|e| coded("ERR_WA_PROTO_DECODE", format!("bad HandshakeMessage: {e}")))?;
    let mut parts = Vec::new();
    if msg.client_hello.is_some() {
        parts.push("clientHello".to_owned());
    }
    if msg.server_hello.is_some() {
        parts.push("serverHello".to_owned());
    }
    if msg.client_finish.is_some() {
        parts.push("clientFinish".to_owned());
    }
    Ok(parts)
}
