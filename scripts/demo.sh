#!/usr/bin/env bash
# The demo: sets up a fresh machine, builds gocker-script, brings up a private registry on
# 127.0.0.1 seeded with a busybox image made from the host's busybox-static, and runs the
# guided tour scripts/demo.rhai against it. Leaves nothing behind.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "scripts/demo.sh: run as root (containers need it)" >&2; exit 1; }
scripts/setup.sh
bin=$(scripts/build-release.sh)/gocker-script
. scripts/lib.sh

work=$(mktemp -d /tmp/gocker-demo.XXXXXX)
port=${DEMO_REGISTRY_PORT:-5757}
cleanup() {
    if [ -n "${REGISTRY_PID:-}" ]; then kill "$REGISTRY_PID" 2>/dev/null; wait "$REGISTRY_PID" 2>/dev/null || true; fi
    # Containers, networks (the bridge, its nftables table, ip_forward as it was) and images.
    GOCKER_ROOT="$work/root" "$bin" -e '
        for c in containers() { try { remove(c, #{ force: true }) } catch {} }
        for n in networks() { try { network_remove(n.name) } catch {} }
        for i in images() { try { rmi(i.id, #{ force: true }) } catch {} }' >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

start_registry "$port" "$work/registry"
busybox_rootfs "$work/rootfs"
tar -cf "$work/layer.tar" -C "$work/rootfs" .
docker_archive "$work/busybox.tar" "busybox:latest" '["sh"]' "$work/layer.tar"
push_archive "$work/busybox.tar" "127.0.0.1:$port/busybox:latest"

GOCKER_ROOT="$work/root" "$bin" scripts/demo.rhai "127.0.0.1:$port"
