#!/usr/bin/env bash
# The test command: sets up a fresh machine (scripts/setup.sh), then runs the whole suite.
# Must run as root: the tests use real overlayfs, namespaces and cgroups.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "scripts/test.sh: run as root (the tests mount, unshare and use cgroups)" >&2; exit 1; }
scripts/setup.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --locked "$@" 2>&1 | tee "$log" || status=$?
# One closing line for the whole suite, summed over every test binary.
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
