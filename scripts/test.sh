#!/usr/bin/env bash
# The test command: sets up a fresh machine (scripts/setup.sh), then runs the whole suite.
# Must run as root: the tests use real overlayfs, namespaces and cgroups.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "scripts/test.sh: run as root (the tests mount, unshare and use cgroups)" >&2; exit 1; }
scripts/setup.sh
log=$(mktemp)
before=$(mktemp)
trap 'rm -f "$log" "$before"' EXIT
scripts/host-state.sh >"$before"
status=0
cargo test --locked "$@" 2>&1 | tee "$log" || status=$?
# The cgroup v2 lane: this host has hybrid cgroups, so the v2 tests and the escape probes run
# again inside a cgroup-v2-only guest (scripts/v2-guest.sh), from the binaries just built.
lane_start=$(date +%s)
bins=$(cargo test --locked --no-run --test cgroup_v2 --test hardening 2>&1 |
    grep -o 'target/debug/deps/\(cgroup_v2\|hardening\)-[0-9a-f]*' | sort -u | tr '\n' ' ')
[ -n "$bins" ] || { echo "test.sh: the v2 lane's test binaries were not built" >&2; exit 1; }
V2_GUEST_ENV=GOCKER_V2_GUEST GOCKER_V2_GUEST=1 scripts/v2-guest.sh run \
    "export TMPDIR=\$GOCKER_V2_TMP; rc=0; for b in $bins; do echo \"v2 lane: \$b\"; \$b --test-threads 2 || rc=1; done; exit \$rc" \
    2>&1 | tee -a "$log" || status=$?
echo "v2 lane: $(($(date +%s) - lane_start)) s in the cgroup v2 guest"
# The demo runs too, and with the suite it must leave the host exactly as it found it.
scripts/demo.sh >/dev/null 2>&1 || { echo "test.sh: the demo failed" >&2; status=1; }
if ! diff <(cat "$before") <(scripts/host-state.sh) >/dev/null; then
    echo "test.sh: the suite or the demo left host state behind:" >&2
    diff <(cat "$before") <(scripts/host-state.sh) >&2 || true
    echo "test result: FAILED. 0 passed; 1 failed (host state)" | tee -a "$log"
    status=1
else
    echo "test result: ok. 1 passed; 0 failed (the host is as it was: links, tables, cgroups, supervisors, mounts, ip_forward)" | tee -a "$log"
fi
# One closing line for the whole suite, summed over every test binary.
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
