//! WhatsApp protobufs as the JavaScript objects Baileys' users read: protobufjs' field names
//! (lowerCamelCase), enums as numbers, 64-bit integers as numbers, bytes as BufferJSON (the JS
//! side revives them into Buffers), only the fields present on the wire. Driven by the schema
//! descriptors, so every message type in `proto/` converts without code per type.

use std::sync::OnceLock;

use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, Value as PValue};
use serde_json::{Map, Number, Value};

fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(wa_proto::FILE_DESCRIPTOR_SET)
            .unwrap_or_else(|_| DescriptorPool::new())
    })
}

fn descriptor(name: &str) -> Option<MessageDescriptor> {
    pool().get_message_by_name(name)
}

/// Decodes `bytes` as the protobuf `name` (`wa.Message`, ...) into its JS object form; `None`
/// when the schema is unknown or the bytes do not decode.
pub fn decode_to_json(name: &str, bytes: &[u8]) -> Option<Value> {
    let msg = DynamicMessage::decode(descriptor(name)?, bytes).ok()?;
    Some(message_json(&msg))
}

/// The JS object form of any prost message of our schemas (a message we hold was encoded by
/// us and always decodes; an unknown schema name gives `{}`).
pub fn to_json<M: prost::Message>(name: &str, m: &M) -> Value {
    decode_to_json(name, &m.encode_to_vec()).unwrap_or_else(|| Value::Object(Map::new()))
}

/// Appends the fields of a prost message of our schemas as JSON text (see
/// [`wa_proto::js::write_fields`]); `None`, with nothing written, only for an unknown name.
pub fn write_fields<M: prost::Message>(
    name: &str,
    m: &M,
    out: &mut Vec<u8>,
    first: bool,
) -> Option<bool> {
    wa_proto::js::write_fields(name, &m.encode_to_vec(), out, first)
}

/// Appends a prost message of our schemas as a JSON object (see
/// [`wa_proto::js::write_object`]); `None`, with nothing written, only for an unknown name.
pub fn write_object<M: prost::Message>(name: &str, m: &M, out: &mut Vec<u8>) -> Option<()> {
    wa_proto::js::write_object(name, &m.encode_to_vec(), out)
}

fn message_json(msg: &DynamicMessage) -> Value {
    let mut out = Map::new();
    for (field, value) in msg.fields() {
        out.insert(field.json_name().to_owned(), value_json(value));
    }
    Value::Object(out)
}

fn value_json(v: &PValue) -> Value {
    match v {
        PValue::Bool(b) => Value::Bool(*b),
        PValue::I32(n) => Value::from(*n),
        PValue::I64(n) => Value::from(*n),
        PValue::U32(n) => Value::from(*n),
        PValue::U64(n) => Value::from(*n),
        PValue::F32(f) => Number::from_f64(f64::from(*f)).map_or(Value::Null, Value::Number),
        PValue::F64(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
        PValue::String(s) => Value::String(s.clone()),
        PValue::Bytes(b) => wa_store::bufferjson::buffer(b),
        PValue::EnumNumber(n) => Value::from(*n),
        PValue::Message(m) => message_json(m),
        PValue::List(items) => Value::Array(items.iter().map(value_json).collect()),
        PValue::Map(m) => {
            Value::Object(m.iter().map(|(k, v)| (map_key(k), value_json(v))).collect())
        }
    }
}

fn map_key(k: &prost_reflect::MapKey) -> String {
    use prost_reflect::MapKey;
    match k {
        MapKey::Bool(b) => b.to_string(),
        MapKey::I32(n) => n.to_string(),
        MapKey::I64(n) => n.to_string(),
        MapKey::U32(n) => n.to_string(),
        MapKey::U64(n) => n.to_string(),
        MapKey::String(s) => s.clone(),
    }
}
