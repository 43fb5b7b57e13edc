#!/usr/bin/env bash
# Debian's toolchains that `npm run pack` uses for the cross targets (docs/packaging.md), for a
# Debian 12 (bookworm) x86_64 machine, as root:
#   aarch64-unknown-linux-gnu   rustc-web + cargo-web (Rust 1.96) with the arm64 std of
#                               libstd-rust-web-dev:arm64 (multiarch); gcc-aarch64-linux-gnu links
#   x86_64-unknown-linux-musl   the same rustc with -Zbuild-std over rust-web-src; musl-gcc links
#   checks                      qemu-user runs the arm64 build (scripts/check-cross.mjs)
# Debian's rustc and cargo land in /usr/bin, behind rustup's ~/.cargo/bin on PATH; pack.mjs
# calls them by full path for these targets only.
set -euo pipefail
packages=(rustc-web cargo-web libstd-rust-web-dev:arm64 rust-web-src
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross musl-tools musl-dev qemu-user binutils)

if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  dpkg --add-architecture arm64
fi
apt-get update -qq
# Never let an arm64 package replace the machine's Node: refuse a plan that touches nodejs/npm.
plan=$(DEBIAN_FRONTEND=noninteractive apt-get install -s -y --no-install-recommends "${packages[@]}")
if grep -E '^(Inst|Remv) (nodejs|npm|libnode)' <<<"$plan"; then
  echo "install-cross-toolchains: this plan would change Node.js; not installing" >&2
  exit 1
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
/usr/bin/rustc --version
test -d /usr/lib/rustlib/aarch64-unknown-linux-gnu/lib
test -f /usr/lib/rustlib/src/rust/library/Cargo.lock
