use std::path::Path;

fn main() {
    napi_build::setup();
    code_order();
}

/// Lays out the functions a running host executes together at the start of the addon's code
/// (`build/code-order.txt`, made by `scripts/code-order.mjs`). The kernel maps a library's code
/// 64 KB around each page touched, so scattered hot functions keep most of the code resident:
/// 8.7 of 18.5 MB before, for 1.9 MB of code run (docs/performance.md, "Stop 39").
///
/// Only where the linker is known to be LLD (Rust 1.90 and later link this target with its
/// own `rust-lld`), which takes the list by symbol name and skips names it does not have.
/// `BAILEYS_NATIVE_CODE_ORDER=0` turns it off (another linker chosen in RUSTFLAGS, say).
fn code_order() {
    println!("cargo:rerun-if-changed=build/code-order.txt");
    println!("cargo:rerun-if-env-changed=BAILEYS_NATIVE_CODE_ORDER");
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("build/code-order.txt");
    let target = std::env::var("TARGET").unwrap_or_default();
    let off = std::env::var("BAILEYS_NATIVE_CODE_ORDER").is_ok_and(|v| v == "0");
    if off || target != "x86_64-unknown-linux-gnu" || !file.exists() || !rustc_links_with_lld() {
        return;
    }
    println!(
        "cargo:rustc-cdylib-link-arg=-Wl,--symbol-ordering-file={}",
        file.display()
    );
    println!("cargo:rustc-cdylib-link-arg=-Wl,--no-warn-symbol-ordering");
}

/// Rust 1.90 or later, and no linker chosen by the build's flags.
fn rustc_links_with_lld() -> bool {
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if flags.contains("linker") || flags.contains("fuse-ld") {
        return false;
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = std::process::Command::new(rustc).arg("-V").output() else {
        return false;
    };
    let version = String::from_utf8_lossy(&out.stdout);
    // "rustc 1.95.0 (59807616e 2026-04-14)"
    let minor = version
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.split('.').nth(1))
        .and_then(|m| m.parse::<u32>().ok());
    version.starts_with("rustc 1.") && minor.is_some_and(|m| m >= 90)
}
