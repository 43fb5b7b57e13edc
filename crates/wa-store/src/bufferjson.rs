//! Baileys' `BufferJSON` encoding of binary data inside JSON, from the Rust side.
//!
//! Baileys writes every `Buffer`/`Uint8Array` as `{"type":"Buffer","data":"<base64>"}` and,
//! reading, also turns an object whose keys are all integers and whose values are all
//! numbers back into bytes (a `Uint8Array` serialized without the replacer).

use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::{Map, Value, json};

/// The JSON form of `bytes`.
pub fn buffer(bytes: &[u8]) -> Value {
    json!({ "type": "Buffer", "data": STANDARD.encode(bytes) })
}

/// Appends the JSON text of [`buffer`]`(bytes)`, for writers that print JSON by hand.
pub fn push_buffer(out: &mut String, bytes: &[u8]) {
    out.push_str(r#"{"type":"Buffer","data":""#);
    STANDARD.encode_string(bytes, out);
    out.push_str(r#""}"#);
}

/// `bytes` serialized as their JSON form ([`buffer`]) without building a tree first.
pub struct Buf<'a>(pub &'a [u8]);

impl serde::Serialize for Buf<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Buffer", 2)?;
        st.serialize_field("type", "Buffer")?;
        st.serialize_field("data", &STANDARD.encode(self.0))?;
        st.end()
    }
}

/// The bytes of a value in any form Baileys' reviver accepts (plus Node's own
/// `{type:'Buffer', data:[...]}`), or `None` when it is not binary data.
pub fn bytes(v: &Value) -> Option<Vec<u8>> {
    let obj = v.as_object()?;
    if obj.get("type").and_then(Value::as_str) == Some("Buffer") {
        return match obj.get("data")? {
            Value::String(s) => decode_base64(s),
            Value::Array(a) => a
                .iter()
                .map(|n| n.as_u64().filter(|&b| b < 256).map(|b| b as u8))
                .collect(),
            _ => None,
        };
    }
    numeric_keyed(obj)
}

fn numeric_keyed(obj: &Map<String, Value>) -> Option<Vec<u8>> {
    if obj.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(obj.len());
    for (k, v) in obj {
        k.parse::<u64>().ok()?;
        // Like Node's Buffer.from(array): each number is taken modulo 256.
        out.push((v.as_f64()? as i64).rem_euclid(256) as u8);
    }
    Some(out)
}

/// Decodes base64 as leniently as Node's `Buffer.from(s, 'base64')`: padding optional,
/// URL-safe characters and whitespace accepted.
pub fn decode_base64(s: &str) -> Option<Vec<u8>> {
    // What we and Baileys write (standard alphabet, padded) decodes as it is; the copy that
    // cleans the text was most of a stored key's read (an identity read per device a message
    // goes to). The engine refuses whatever the cleaned text would decode differently.
    const CANONICAL: GeneralPurpose = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    if let Ok(b) = CANONICAL.decode(s) {
        return Some(b);
    }
    let clean: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '=')
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    STANDARD_NO_PAD.decode(clean.as_bytes()).ok()
}

/// Serde adapters for `Vec<u8>` fields stored in BufferJSON form.
pub mod serde_buffer {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};
    use serde_json::Value;

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&super::buffer(b), s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let v = Value::deserialize(d)?;
        super::bytes(&v).ok_or_else(|| D::Error::custom("expected a BufferJSON buffer"))
    }

    /// The same for `Option<Vec<u8>>` (absent or null is `None`).
    pub mod opt {
        use super::*;

        pub fn serialize<S: Serializer>(b: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
            match b {
                Some(b) => super::serialize(b, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
            match Option::<Value>::deserialize(d)? {
                None | Some(Value::Null) => Ok(None),
                Some(v) => super::super::bytes(&v)
                    .map(Some)
                    .ok_or_else(|| D::Error::custom("expected a BufferJSON buffer")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_baileys_revives() {
        let b = vec![0u8, 1, 254, 255];
        assert_eq!(bytes(&buffer(&b)).unwrap(), b);
        assert_eq!(
            bytes(&json!({"type": "Buffer", "data": [0, 1, 254, 255]})).unwrap(),
            b
        );
        assert_eq!(
            bytes(&json!({"0": 0, "1": 1, "2": 254, "3": 255})).unwrap(),
            b
        );
        assert_eq!(
            bytes(&json!({"type": "Buffer", "data": "AAH+/w"})).unwrap(),
            b
        );
        assert_eq!(
            bytes(&json!({"type": "Buffer", "data": "AAH-_w=="})).unwrap(),
            b
        );
        // Node's leniency: whitespace, stray padding, URL-safe characters.
        assert_eq!(decode_base64(" AA H+\n/w= ").unwrap(), b);
        assert_eq!(decode_base64("AAH+/w=").unwrap(), b);
        assert!(decode_base64("AAH+/w!").is_none());
        assert!(bytes(&json!({"a": 1})).is_none());
        assert!(bytes(&json!({})).is_none());
        assert!(bytes(&json!("AAH+/w==")).is_none());
    }

    proptest::proptest! {
        // The text as it is and the text cleaned first read the same bytes, padded or not.
        #[test]
        fn canonical_text_reads_as_the_cleaned_text(b in proptest::collection::vec(proptest::num::u8::ANY, 0..80), pad: bool) {
            let text = if pad { STANDARD.encode(&b) } else { STANDARD_NO_PAD.encode(&b) };
            proptest::prop_assert_eq!(decode_base64(&text), Some(b.clone()));
            let spaced: String = text.chars().flat_map(|c| [c, ' ']).collect();
            proptest::prop_assert_eq!(decode_base64(&spaced), Some(b));
        }
    }
}
