//! Compiles every `.proto` under the repository's `proto/` directory with protox (a pure-Rust
//! protobuf compiler), so no `protoc` binary is needed on the build machine.

use std::path::PathBuf;

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
    let fds = protox::compile(&files, [&root]).expect("proto schemas compile");
    // The descriptor set is kept for reflection (wa-client turns `Message` into the JSON
    // objects Baileys' users read, field names and all, from it).
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets this"));
    std::fs::write(
        out.join("wa_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )
    .expect("OUT_DIR is writable");
    prost_build::Config::new()
        .btree_map(["."])
        .compile_fds(fds)
        .expect("prost generates Rust from the schemas");
}
