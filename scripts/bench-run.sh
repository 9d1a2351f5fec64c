#!/usr/bin/env bash
# Benchmark: start-to-teardown of a container running /bin/true, gocker-script against crun,
# runc and podman on the same busybox root filesystem, in the same run; a loop of 100 runs in
# one script; and exec of `true` into a running container against `podman exec`.
# Issue 10: the confinement (seccomp, device rules, masked paths, cgroup view, keyring)
# adds at most 1.5 ms: a default run against a --privileged one.
# Goals (issue 3): median within 1.5x crun's, at least 30x faster than podman's; a loop run
# costs no more than `crun run`. Those compare containers without networking (crun's and
# runc's bundles have a bare network namespace). Issue 5: a bridged run (veth, address,
# default route) within 2x of our own no-network run and at least 20x faster than podman's
# default bridged run.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-30}
scripts/setup.sh
need=()
for tool in crun runc podman bc; do command -v "$tool" >/dev/null || need+=("$tool"); done
if [ ${#need[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" fuse-overlayfs >/dev/null
fi
cargo build --release --locked --quiet
. scripts/lib.sh

work=$(mktemp -d /tmp/gocker-bench-run.XXXXXX)
port=${BENCH_REGISTRY_PORT:-5859}
G="$PWD/target/release/gocker-script --root $work/groot"
# podman would pick crun, which refuses this hybrid cgroup host; runc works here.
podman_opts=(--root "$work/podman" --runroot "$work/podman-run" --storage-driver overlay --cgroup-manager=cgroupfs --events-backend=file --runtime runc)
ulimits=(--ulimit nofile=20000:20000 --ulimit nproc=32768:32768)
# podman's bridge (netavark) leaves iptables-nft tables behind; remove those it added.
tables_before=$(nft list tables 2>/dev/null || true)
cleanup() {
    $G rm -f benchbox >/dev/null 2>&1 || true
    $G network rm bridge >/dev/null 2>&1 || true
    podman "${podman_opts[@]}" rm -f benchbox >/dev/null 2>&1 || true
    podman "${podman_opts[@]}" system reset -f >/dev/null 2>&1 || true
    if [ -n "${REGISTRY_PID:-}" ]; then kill "$REGISTRY_PID" 2>/dev/null; wait "$REGISTRY_PID" 2>/dev/null || true; fi
    umount -R "$work/podman" 2>/dev/null || true
    rm -rf "$work"
    for t in "ip nat" "ip filter"; do
        if ! grep -qx "table $t" <<<"$tables_before" && nft list table $t >/dev/null 2>&1; then
            nft delete table $t || true
        fi
    done
}
trap cleanup EXIT

start_registry "$port" "$work/registry"
busybox_rootfs "$work/bundle/rootfs"
tar -cf "$work/layer.tar" -C "$work/bundle/rootfs" .
docker_archive "$work/busybox.tar" "busybox:latest" '["sh"]' "$work/layer.tar"
ref="127.0.0.1:$port/busybox:latest"
push_archive "$work/busybox.tar" "$ref"
$G pull -q "$ref" >/dev/null
podman "${podman_opts[@]}" pull -q --tls-verify=false "$ref" >/dev/null

(cd "$work/bundle" && crun spec && sed -i 's/"terminal": true/"terminal": false/; s/"sh"/"\/bin\/true"/' config.json)

# crun refuses this hybrid cgroup host unless /sys/fs/cgroup/unified is out of sight.
crun_run() { unshare -m sh -c "umount /sys/fs/cgroup/unified 2>/dev/null; cd $work/bundle && crun run bench-crun-$$"; }
runc_run() { (cd "$work/bundle" && runc run "bench-runc-$$"); }

g=$(time_n "$N" $G -e "run(\"$ref\", [\"true\"], #{ rm: true, network: \"none\" })")
# The same with the confinement switched off: what seccomp, the device rules, the masked
# paths and the cgroup view cost (issue 10: at most 1.5 ms).
gp=$(time_n "$N" $G -e "run(\"$ref\", [\"true\"], #{ rm: true, network: \"none\", privileged: true })")
gb=$(time_n "$N" $G -e "run(\"$ref\", [\"true\"], #{ rm: true })")
c=$(time_n "$N" crun_run)
r=$(time_n "$N" runc_run)
p=$(time_n 10 podman "${podman_opts[@]}" run --rm --network none "${ulimits[@]}" "$ref" true)
pb=$(time_n 10 podman "${podman_opts[@]}" run --rm "${ulimits[@]}" "$ref" true)

cat >"$work/loop.rhai" <<RHAI
for i in 0..100 { run("$ref", ["true"], #{ rm: true, network: "none" }); }
RHAI
s=$(now); $G "$work/loop.rhai"; e=$(now)
loop=$(echo "($e - $s) / 100 / 1000000" | bc -l)

$G run -d --name benchbox "$ref" sleep 600 >/dev/null
podman "${podman_opts[@]}" run -d --name benchbox --network none "${ulimits[@]}" "$ref" sleep 600 >/dev/null
ge=$(time_n "$N" $G exec benchbox true)
pe=$(time_n 10 podman "${podman_opts[@]}" exec benchbox true)

printf 'container start-to-teardown of /bin/true without networking, median ms (%s runs; podman 10)\n' "$N"
printf '  gocker-script run --rm  %8.2f\n  crun run                %8.2f\n  runc run                %8.2f\n  podman run --rm         %8.2f\n' "$g" "$c" "$r" "$p"
printf '  one run in a 100-run script loop  %8.2f\n' "$loop"
printf '  gocker-script run --rm --privileged (no seccomp, device rules, masks)  %8.2f\n  hardening cost: %.2f ms (goal <= 1.5)\n' "$gp" "$(echo "$g - $gp" | bc -l)"
printf '  ratios: gocker/crun %.2f (goal <= 1.5), podman/gocker %.1f (goal >= 30), loop/crun %.2f (goal <= 1)\n' \
    "$(echo "$g / $c" | bc -l)" "$(echo "$p / $g" | bc -l)" "$(echo "$loop / $c" | bc -l)"
printf 'bridged (a veth on the default bridge, an address, a default route), median ms\n  gocker-script run --rm  %8.2f\n  podman run --rm         %8.2f\n' "$gb" "$pb"
printf '  ratios: bridged/no-network gocker %.2f (goal <= 2), podman/gocker bridged %.1f (goal >= 20)\n' \
    "$(echo "$gb / $g" | bc -l)" "$(echo "$pb / $gb" | bc -l)"
printf 'exec of true into a running container, median ms\n  gocker-script exec  %8.2f\n  podman exec         %8.2f\n  podman/gocker %.1f\n' "$ge" "$pe" "$(echo "$pe / $ge" | bc -l)"
