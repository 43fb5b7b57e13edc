//! Compiles every `.proto` under the repository's `proto/` directory with protox (a pure-Rust
//! protobuf compiler), so no `protoc` binary is needed on the build machine.
//!
//! `whatsapp.proto` is WhatsApp's schema as published (proto3 syntax), but WhatsApp's enums
//! are closed: 23 of them have no zero value, which proto3 forbids and protox refuses. That file
//! is therefore compiled as proto2 with proto3's wire choices made explicit, which is the same
//! wire format: `optional` fields keep explicit presence (their synthetic oneofs dropped),
//! repeated scalars are packed, and the few fields without a label (implicit presence) become
//! `optional` (an `Option` in Rust; on the wire a set field is written even when it holds the
//! default, as protobufjs does).

use std::path::{Path, PathBuf};

use protox::file::{File, FileResolver, IncludeFileResolver};
use protox::prost_reflect::prost_types::field_descriptor_proto::{Label, Type};
use protox::prost_reflect::prost_types::{DescriptorProto, FieldOptions, FileDescriptorProto};

/// The file compiled as proto2 (see the crate doc above).
const CLOSED_ENUM_FILE: &str = "whatsapp.proto";

struct Resolver(IncludeFileResolver);

impl FileResolver for Resolver {
    fn resolve_path(&self, path: &Path) -> Option<String> {
        self.0.resolve_path(path)
    }

    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        let file = self.0.open_file(name)?;
        if name != CLOSED_ENUM_FILE {
            return Ok(file);
        }
        let mut fd = file.file_descriptor_proto().clone();
        as_proto2(&mut fd);
        Ok(File::from_file_descriptor_proto(fd))
    }
}

fn as_proto2(fd: &mut FileDescriptorProto) {
    assert_eq!(
        fd.syntax(),
        "proto3",
        "{CLOSED_ENUM_FILE} is published as proto3"
    );
    fd.syntax = Some("proto2".to_owned());
    for m in &mut fd.message_type {
        message_as_proto2(m);
    }
}

fn message_as_proto2(m: &mut DescriptorProto) {
    // Synthetic oneofs (one per proto3 `optional` field) go; real oneofs keep their order.
    let synthetic: Vec<bool> = (0..m.oneof_decl.len())
        .map(|i| {
            m.field
                .iter()
                .any(|f| f.oneof_index == Some(i as i32) && f.proto3_optional())
        })
        .collect();
    let mut renumber = Vec::with_capacity(synthetic.len());
    let mut next = 0;
    for &s in &synthetic {
        renumber.push(next);
        if !s {
            next += 1;
        }
    }
    let mut i = 0;
    m.oneof_decl.retain(|_| {
        i += 1;
        !synthetic[i - 1]
    });
    for f in &mut m.field {
        if f.proto3_optional() {
            f.proto3_optional = None;
            f.oneof_index = None;
        } else if let Some(ix) = f.oneof_index {
            f.oneof_index = Some(renumber[ix as usize]);
        }
    }
    for nested in &mut m.nested_type {
        message_as_proto2(nested);
    }
}

/// After resolution (field kinds known): repeated scalars and enums are packed, as in proto3.
fn pack_repeated_scalars(m: &mut DescriptorProto) {
    for f in &mut m.field {
        let packable = !matches!(
            f.r#type(),
            Type::String | Type::Bytes | Type::Message | Type::Group
        );
        if f.label() == Label::Repeated && packable {
            let opts = f.options.get_or_insert_with(FieldOptions::default);
            opts.packed.get_or_insert(true);
        }
    }
    for nested in &mut m.nested_type {
        pack_repeated_scalars(nested);
    }
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets this"))
        .join("../../proto")
        .canonicalize()
        .expect("proto/ directory exists");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("proto/ is readable")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "proto"))
        .collect();
    files.sort();
    println!("cargo:rerun-if-changed={}", root.display());
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    let mut compiler =
        protox::Compiler::with_file_resolver(Resolver(IncludeFileResolver::new(root.clone())));
    compiler.include_source_info(false);
    compiler.open_files(&files).expect("proto schemas compile");
    let mut fds = compiler.file_descriptor_set();
    for fd in fds.file.iter_mut().filter(|f| f.name() == CLOSED_ENUM_FILE) {
        for m in &mut fd.message_type {
            pack_repeated_scalars(m);
        }
    }
    // The descriptor set is kept for reflection (wa-client turns `Message` into the JSON
    // objects Baileys' users read, field names and all, from it).
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets this"));
    std::fs::write(
        out.join("wa_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )
    .expect("OUT_DIR is writable");
    std::fs::write(out.join("wa_js_schema.rs"), js_schema(&fds)).expect("OUT_DIR is writable");
    // Every submessage of `wa.Message` boxed: inline they made `Message` 5.4 KB, and each
    // move of one (into an event, an inbox entry, a send's future) copied all of it although a
    // message sets one or two of its ~90 fields.
    let boxed: Vec<String> = fds
        .file
        .iter()
        .filter(|f| f.package() == "wa")
        .flat_map(|f| &f.message_type)
        .filter(|m| m.name() == "Message")
        .flat_map(|m| &m.field)
        .filter(|f| f.r#type() == Type::Message && f.label() != Label::Repeated)
        .map(|f| format!(".wa.Message.{}", f.name()))
        .collect();
    let mut config = prost_build::Config::new();
    config.btree_map(["."]);
    for path in boxed {
        config.boxed(path);
    }
    config
        .compile_fds(fds)
        .expect("prost generates Rust from the schemas");
}

/// The schema tables `wa_proto::js` walks to write a message as JSON text: every message by
/// full name (sorted, for binary search), each field's number, JSON name, kind, label and
/// message type (an index into the same table), fields sorted by number.
fn js_schema(fds: &protox::prost_reflect::prost_types::FileDescriptorSet) -> String {
    fn collect<'a>(
        prefix: &str,
        ms: &'a [DescriptorProto],
        out: &mut Vec<(String, &'a DescriptorProto)>,
    ) {
        for m in ms {
            let name = format!("{prefix}.{}", m.name());
            collect(&name, &m.nested_type, out);
            out.push((name, m));
        }
    }
    let mut all = Vec::new();
    for f in &fds.file {
        collect(f.package(), &f.message_type, &mut all);
    }
    all.sort_by(|a, b| a.0.cmp(&b.0));
    let index: std::collections::HashMap<&str, usize> = all
        .iter()
        .enumerate()
        .map(|(i, (n, _))| (n.as_str(), i))
        .collect();
    let mut code = String::from("// Generated by build.rs from proto/; see wa_proto::js.\n");
    code.push_str("pub(crate) static MESSAGES: &[Schema] = &[\n");
    for (name, m) in &all {
        let map_entry = m.options.as_ref().is_some_and(|o| o.map_entry());
        code.push_str(&format!(
            "    Schema {{ name: {name:?}, map_entry: {map_entry}, fields: &[\n"
        ));
        let mut fields: Vec<_> = m.field.iter().collect();
        fields.sort_by_key(|f| f.number());
        for f in fields {
            let kind = match f.r#type() {
                Type::Double => "Double",
                Type::Float => "Float",
                Type::Int64 => "Int64",
                Type::Uint64 => "Uint64",
                Type::Int32 => "Int32",
                Type::Fixed64 => "Fixed64",
                Type::Fixed32 => "Fixed32",
                Type::Bool => "Bool",
                Type::String => "String",
                Type::Group => "Group",
                Type::Message => "Message",
                Type::Bytes => "Bytes",
                Type::Uint32 => "Uint32",
                Type::Enum => "Enum",
                Type::Sfixed32 => "Sfixed32",
                Type::Sfixed64 => "Sfixed64",
                Type::Sint32 => "Sint32",
                Type::Sint64 => "Sint64",
            };
            let message = if matches!(f.r#type(), Type::Message | Type::Group) {
                let t = f.type_name().trim_start_matches('.');
                *index
                    .get(t)
                    .unwrap_or_else(|| panic!("{name}: unknown type {t}"))
            } else {
                u32::MAX as usize
            };
            let json = f.json_name.clone().unwrap_or_else(|| json_name(f.name()));
            let repeated = f.label() == Label::Repeated;
            code.push_str(&format!(
                "        Field {{ number: {}, json: {json:?}, kind: Kind::{kind}, repeated: {repeated}, message: {message} }},\n",
                f.number()
            ));
        }
        code.push_str("    ] },\n");
    }
    code.push_str("];\n");
    code
}

/// protoc's JSON name: underscores dropped, the letter after each one capitalised.
fn json_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}
