#!/usr/bin/env bash
# Installs what gocker-script's build, tests and demo need on a fresh Debian 12 machine:
# Debian's distribution registry (the tests and the demo run their own on 127.0.0.1),
# busybox-static (fixture images are built from it), CA certificates for the TLS client,
# nftables (bridge networks' NAT and published ports), iproute2 (the network tests wire an
# "outside host" namespace with it), a static C library (a UDP echo fixture), and podman with
# runc (images built here must run under podman; the build and push tests check they do),
# and tini (its static build is the init of run --init).
set -euo pipefail

packages=(docker-registry busybox-static skopeo ca-certificates nftables iproute2 gcc libc6-dev podman runc tini)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts the packaged registry as a service where an init system runs; ours are private.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker-registry 2>/dev/null; then
    systemctl stop docker-registry || true
fi
# The cgroup v2 lane's guest: QEMU, virtme-ng and Debian's stock kernel (fetched, not installed).
scripts/v2-guest.sh setup >/dev/null
