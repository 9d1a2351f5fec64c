#!/usr/bin/env bash
# Benchmark: `ps` with no running container against `ps` with 100 running, in one run
# (issue 11: at most 2x). State is read once per call; a row costs no reconcile of the others.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-20}
RUNNING=${RUNNING:-100}
scripts/setup.sh
bin=$(scripts/build-release.sh)/gocker-script
. scripts/lib.sh

work=$(mktemp -d /tmp/gocker-bench-ps.XXXXXX)
G="$bin --root $work/groot"
cleanup() {
    $G -e 'for c in containers() { remove(c, #{ force: true }) }' >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

busybox_rootfs "$work/rootfs"
tar -cf "$work/layer.tar" -C "$work/rootfs" .
docker_archive "$work/busybox.tar" "busybox:latest" '["sh"]' "$work/layer.tar"
$G load -i "$work/busybox.tar" >/dev/null

empty=$(time_n "$N" $G ps)
for i in $(seq "$RUNNING"); do
    $G run -d --network none --name "idle$i" busybox sleep 600 >/dev/null
done
full=$(time_n "$N" $G ps)
printf 'ps, median ms (%s runs)\n  no container running   %8.2f\n  %s running            %8.2f\n  ratio %.2f (goal <= 2)\n' \
    "$N" "$empty" "$RUNNING" "$full" "$(echo "$full / $empty" | bc -l)"
