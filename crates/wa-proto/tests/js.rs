//! `wa_proto::js` writes a message's wire bytes as the JSON of its JS object. Checked against
//! the reflected form (prost-reflect's decode, field by field, as the addon built it before):
//! a random message of every type in the schema, Baileys-written vectors character for
//! character; then literal shapes, bytes that do not parse, and arbitrary bytes.

use prost::Message as _;
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor,
    Value as PValue,
};
use serde_json::{Map, Number, Value};
use wa_proto::js;

fn pool() -> DescriptorPool {
    DescriptorPool::decode(wa_proto::FILE_DESCRIPTOR_SET).unwrap()
}

// The reference: every field prost-reflect decoded, protobufjs' JSON name, BufferJSON bytes.
fn reflected(msg: &DynamicMessage) -> Value {
    let mut out = Map::new();
    for (field, value) in msg.fields() {
        out.insert(field.json_name().to_owned(), reflected_value(value));
    }
    Value::Object(out)
}

fn reflected_value(v: &PValue) -> Value {
    use base64::Engine as _;
    match v {
        PValue::Bool(b) => Value::Bool(*b),
        PValue::I32(n) => Value::from(*n),
        PValue::I64(n) => Value::from(*n),
        PValue::U32(n) => Value::from(*n),
        PValue::U64(n) => Value::from(*n),
        PValue::F32(f) => Number::from_f64(f64::from(*f)).map_or(Value::Null, Value::Number),
        PValue::F64(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
        PValue::String(s) => Value::String(s.clone()),
        PValue::Bytes(b) => serde_json::json!({
            "type": "Buffer",
            "data": base64::engine::general_purpose::STANDARD.encode(b),
        }),
        PValue::EnumNumber(n) => Value::from(*n),
        PValue::Message(m) => reflected(m),
        PValue::List(items) => Value::Array(items.iter().map(reflected_value).collect()),
        PValue::Map(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let k = match k {
                        MapKey::Bool(b) => b.to_string(),
                        MapKey::I32(n) => n.to_string(),
                        MapKey::I64(n) => n.to_string(),
                        MapKey::U32(n) => n.to_string(),
                        MapKey::U64(n) => n.to_string(),
                        MapKey::String(s) => s.clone(),
                    };
                    (k, reflected_value(v))
                })
                .collect(),
        ),
    }
}

fn written(name: &str, bytes: &[u8]) -> Option<String> {
    let mut out = b"prefix ".to_vec();
    let r = js::write_object(name, bytes, &mut out);
    assert!(out.starts_with(b"prefix "), "what was there stays");
    if r.is_none() {
        assert_eq!(out, b"prefix ", "a failed write leaves nothing behind");
        return None;
    }
    Some(String::from_utf8(out.split_off(7)).expect("UTF-8"))
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn text(&mut self) -> String {
        const PIECES: &[&str] = &[
            "a",
            "Z",
            "0",
            " ",
            "\"",
            "\\",
            "\n",
            "\u{0}",
            "\u{1f}",
            "é",
            "✓",
            "😀",
            "</",
            "{\"type\":\"Buffer\"}",
        ];
        (0..self.below(6))
            .map(|_| PIECES[self.below(PIECES.len() as u64) as usize])
            .collect()
    }
    fn bytes(&mut self) -> Vec<u8> {
        (0..self.below(40)).map(|_| self.next() as u8).collect()
    }
    fn f64(&mut self) -> f64 {
        const SPECIAL: &[f64] = &[
            0.0,
            -0.0,
            1.5,
            -23.5,
            1e300,
            5e-324,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        match self.below(3) {
            0 => SPECIAL[self.below(SPECIAL.len() as u64) as usize],
            1 => (self.next() as i64) as f64 / 1e6,
            _ => f64::from_bits(self.next()),
        }
    }
}

fn random_scalar(kind: &Kind, rng: &mut Rng) -> PValue {
    let edge = |rng: &mut Rng, v: u64| if rng.below(4) == 0 { v } else { rng.next() };
    match kind {
        Kind::Double => PValue::F64(rng.f64()),
        Kind::Float => PValue::F32(rng.f64() as f32),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            PValue::I32(edge(rng, i32::MIN as u64) as i32)
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            PValue::I64(edge(rng, i64::MIN as u64) as i64)
        }
        Kind::Uint32 | Kind::Fixed32 => PValue::U32(edge(rng, u64::from(u32::MAX)) as u32),
        Kind::Uint64 | Kind::Fixed64 => PValue::U64(edge(rng, u64::MAX)),
        Kind::Bool => PValue::Bool(rng.below(2) == 1),
        Kind::String => PValue::String(rng.text()),
        Kind::Bytes => PValue::Bytes(rng.bytes().into()),
        Kind::Enum(e) => {
            let values: Vec<_> = e.values().collect();
            PValue::EnumNumber(values[rng.below(values.len() as u64) as usize].number())
        }
        Kind::Message(m) => PValue::Message(DynamicMessage::new(m.clone())),
    }
}

fn random_message(desc: &MessageDescriptor, rng: &mut Rng, depth: u32) -> DynamicMessage {
    let mut msg = DynamicMessage::new(desc.clone());
    for field in desc.fields() {
        if rng.below(3) == 0 || (depth > 3 && matches!(field.kind(), Kind::Message(_))) {
            continue;
        }
        let v = random_field(&field, rng, depth);
        msg.set_field(&field, v);
    }
    msg
}

fn random_single(field: &FieldDescriptor, rng: &mut Rng, depth: u32) -> PValue {
    match field.kind() {
        Kind::Message(m) => PValue::Message(random_message(&m, rng, depth + 1)),
        k => random_scalar(&k, rng),
    }
}

fn random_field(field: &FieldDescriptor, rng: &mut Rng, depth: u32) -> PValue {
    if field.is_map() {
        let Kind::Message(entry) = field.kind() else {
            unreachable!()
        };
        let (kf, vf) = (entry.map_entry_key_field(), entry.map_entry_value_field());
        let mut map = std::collections::HashMap::new();
        for _ in 0..rng.below(4) {
            let key = match random_scalar(&kf.kind(), rng) {
                PValue::Bool(b) => MapKey::Bool(b),
                PValue::I32(n) => MapKey::I32(n),
                PValue::I64(n) => MapKey::I64(n),
                PValue::U32(n) => MapKey::U32(n),
                PValue::U64(n) => MapKey::U64(n),
                PValue::String(s) => MapKey::String(s),
                other => panic!("map key {other:?}"),
            };
            map.insert(key, random_single(&vf, rng, depth));
        }
        PValue::Map(map)
    } else if field.is_list() {
        PValue::List(
            (0..rng.below(4))
                .map(|_| random_single(field, rng, depth))
                .collect(),
        )
    } else {
        random_single(field, rng, depth)
    }
}

#[test]
fn every_message_type_reads_as_reflection_reads_it() {
    let pool = pool();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut checked = 0;
    for desc in pool.all_messages() {
        if desc.is_map_entry() {
            continue;
        }
        for _ in 0..8 {
            let bytes = random_message(&desc, &mut rng, 0).encode_to_vec();
            let back = DynamicMessage::decode(desc.clone(), bytes.as_slice()).unwrap();
            let expected = reflected(&back);
            let text = written(desc.full_name(), &bytes)
                .unwrap_or_else(|| panic!("{} did not write", desc.full_name()));
            let got: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: {e}: {text}", desc.full_name()));
            if let Some(d) = first_difference(&got, &expected, desc.full_name()) {
                panic!("{d}");
            }
            checked += 1;
        }
    }
    assert!(checked > 4000, "{checked} messages checked");
}

// Where two JSON values first differ, for a readable failure.
fn first_difference(got: &Value, want: &Value, at: &str) -> Option<String> {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            for (k, wv) in w {
                match g.get(k) {
                    Some(gv) => {
                        if let Some(d) = first_difference(gv, wv, &format!("{at}.{k}")) {
                            return Some(d);
                        }
                    }
                    None => return Some(format!("{at}.{k}: missing, want {wv}")),
                }
            }
            g.keys()
                .find(|k| !w.contains_key(*k))
                .map(|k| format!("{at}.{k}: unexpected {}", g[k]))
        }
        (Value::Array(g), Value::Array(w)) if g.len() == w.len() => g
            .iter()
            .zip(w)
            .enumerate()
            .find_map(|(i, (gv, wv))| first_difference(gv, wv, &format!("{at}[{i}]"))),
        _ => (got != want).then(|| format!("{at}: got {got}, want {want}")),
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn baileys_written_messages_read_character_for_character() {
    // From tests/full_schema.rs: protobufjs (Baileys 7) wrote these.
    let vectors = [
        (
            "wa.Message",
            "2a160900000000008037c01100000000005047c01a0253506a1f0a0a3220636f6e746163747312110a014182010b424547494e3a56434152449a02261a2009090909090909090909090909090909090909090909090909090909090909092880a305da020b0a02623112034f6e652001ea021f12060a04626f647932150a110a0b717569636b5f7265706c7912027b7d18019203210a031a015012130a03010203120c040404040404040404040404208180b3c19c33fa030e0a031a014b1001188280b3c19c338204121204706f6c6c1a030a01611a030a01622001da040f10001a0570617274793880f09dc706",
        ),
        (
            "wa.HistorySync",
            "0802122c0a133535313140732e77686174736170702e6e6574120e0a0c0a041a024d311880f09dc70630026a03416e61280130323a1a0a133535313140732e77686174736170702e6e65741203416e61",
        ),
        (
            "wa.SyncActionValue",
            "088080b3c19c331a120a09416e61204d617269611a0531406c6964220908011080dd8ec39c3372050a014c1003",
        ),
        (
            "wa.ADVKeyIndexList",
            "08071080f09dc70618032205000103ac022801",
        ),
    ];
    let pool = pool();
    for (name, hex) in vectors {
        let bytes = unhex(hex);
        let msg = DynamicMessage::decode(pool.get_message_by_name(name).unwrap(), bytes.as_slice())
            .unwrap();
        // Re-encoded as prost writes (what the addon hands over), then read both ways.
        let ours = msg.encode_to_vec();
        assert_eq!(
            written(name, &ours).unwrap(),
            reflected(&msg).to_string(),
            "{name}"
        );
    }
}

#[test]
fn shapes_a_javascript_reader_sees() {
    let info = wa_proto::WebMessageInfo {
        key: Some(wa_proto::MessageKey {
            remote_jid: Some("1@s.whatsapp.net".into()),
            from_me: Some(true),
            id: Some("ID\"1".into()),
            ..Default::default()
        }),
        message: Some(wa_proto::Message {
            conversation: Some("hi ✓\n".into()),
            ..Default::default()
        }),
        message_timestamp: Some(1_700_000_000),
        status: Some(-1),
        message_secret: Some(vec![0xff, 0, 1]),
        labels: vec!["a".into(), "b".into()],
        ..Default::default()
    };
    assert_eq!(
        written("wa.WebMessageInfo", &info.encode_to_vec()).unwrap(),
        r#"{"key":{"remoteJid":"1@s.whatsapp.net","fromMe":true,"id":"ID\"1"},"message":{"conversation":"hi ✓\n"},"messageTimestamp":1700000000,"status":-1,"labels":["a","b"],"messageSecret":{"type":"Buffer","data":"/wAB"}}"#
    );
    // Packed and unpacked repeated scalars read alike; an empty message is {}.
    let packed = wa_proto::AdvKeyIndexList {
        valid_indexes: vec![0, 1, 300],
        ..Default::default()
    };
    assert_eq!(
        written("wa.ADVKeyIndexList", &packed.encode_to_vec()).unwrap(),
        r#"{"validIndexes":[0,1,300]}"#
    );
    assert_eq!(
        written("wa.ADVKeyIndexList", &[0x20, 0, 0x20, 1, 0x20, 0xac, 2]).unwrap(),
        r#"{"validIndexes":[0,1,300]}"#
    );
    assert_eq!(written("wa.Message", &[]).unwrap(), "{}");
    // A field the schema does not know is passed over; fields after it still count.
    assert_eq!(
        written("wa.Message", &[0xf8, 0xff, 0x7f, 5, 0x0a, 1, b'x']).unwrap(),
        r#"{"conversation":"x"}"#
    );
    // Fields alone, for a caller's own object.
    let mut out = br#"{"key":1"#.to_vec();
    assert_eq!(
        js::write_fields("wa.Message", &[0x0a, 1, b'x'], &mut out, false),
        Some(true)
    );
    assert_eq!(
        js::write_fields("wa.Message", &[], &mut out, false),
        Some(false)
    );
    out.push(b'}');
    assert_eq!(out, br#"{"key":1,"conversation":"x"}"#);
}

#[test]
fn bytes_that_do_not_parse_write_nothing() {
    let info = wa_proto::WebMessageInfo {
        message: Some(wa_proto::Message {
            conversation: Some("hello".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let good = info.encode_to_vec();
    for cut in 1..good.len() {
        assert_eq!(
            written("wa.WebMessageInfo", &good[..cut]),
            None,
            "cut at {cut}"
        );
    }
    assert_eq!(written("wa.NoSuchMessage", &good), None);
    // Wire type 0 for a string, a group, a varint of 11 bytes, invalid UTF-8.
    assert_eq!(written("wa.Message", &[0x08, 1]), None);
    assert_eq!(written("wa.Message", &[0x0b]), None);
    assert_eq!(
        written(
            "wa.Message",
            &[
                0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01
            ]
        ),
        None
    );
    assert_eq!(written("wa.Message", &[0x0a, 2, 0xc3, 0x28]), None);
    // Nesting deeper than prost would ever write: refused, not a stack overflow.
    let mut deep = Vec::new();
    for _ in 0..200 {
        // Message.extendedTextMessage (6) -> contextInfo (17) -> quotedMessage (3) -> ...
        let mut outer = Vec::new();
        prost::encoding::encode_key(3, prost::encoding::WireType::LengthDelimited, &mut outer);
        prost::encoding::encode_varint(deep.len() as u64, &mut outer);
        outer.extend_from_slice(&deep);
        let mut ctx = Vec::new();
        prost::encoding::encode_key(17, prost::encoding::WireType::LengthDelimited, &mut ctx);
        prost::encoding::encode_varint(outer.len() as u64, &mut ctx);
        ctx.extend_from_slice(&outer);
        deep.clear();
        prost::encoding::encode_key(6, prost::encoding::WireType::LengthDelimited, &mut deep);
        prost::encoding::encode_varint(ctx.len() as u64, &mut deep);
        deep.extend_from_slice(&ctx);
    }
    assert_eq!(written("wa.Message", &deep), None);
}

#[test]
fn arbitrary_bytes_never_panic_and_what_is_written_is_json() {
    let mut rng = Rng(42);
    let seed = wa_proto::WebMessageInfo {
        key: Some(wa_proto::MessageKey {
            id: Some("X".into()),
            ..Default::default()
        }),
        message: Some(wa_proto::Message {
            conversation: Some("hello".into()),
            ..Default::default()
        }),
        message_timestamp: Some(5),
        ..Default::default()
    }
    .encode_to_vec();
    for i in 0..50_000 {
        let bytes = if i % 2 == 0 {
            rng.bytes()
        } else {
            let mut b = seed.clone();
            for _ in 0..=rng.below(3) {
                let at = rng.below(b.len() as u64) as usize;
                b[at] = rng.next() as u8;
            }
            b
        };
        for name in ["wa.WebMessageInfo", "wa.Message", "wa.SyncActionValue"] {
            if let Some(text) = written(name, &bytes) {
                serde_json::from_str::<Value>(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
            }
        }
    }
}
