#!/usr/bin/env bash
# Builds the release binaries and prints the directory they are in.
#
# Statically linked (glibc's static-pie; still position-independent, so still placed at
# random): a container's start runs two of these processes (the caller and its supervisor),
# and the dynamic loader's work at each start (three libraries, ~400 symbol lookups, the
# relocations between them) was 0.3-0.35 ms of each (issue 16). crt-static must not reach
# proc macros and build scripts, which are libraries of the compiler: hence `--target`, with
# which RUSTFLAGS apply to the target's crates only.
set -euo pipefail
cd "$(dirname "$0")/.."
triple=$(rustc -vV | sed -n 's/^host: //p')
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
    cargo build --release --locked --quiet --target "$triple" "$@" >&2
echo "${CARGO_TARGET_DIR:-$PWD/target}/$triple/release"
