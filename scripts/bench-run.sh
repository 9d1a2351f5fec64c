#!/usr/bin/env bash
# Benchmark (issue 16): start-to-teardown of a container running /bin/true, gocker-script
# against `crun run` of a prepared bundle of the same busybox root filesystem, runc and
# podman, in one run; exec of `true` into a running container; one run inside a script loop;
# a bridged run against a no-network one; the supervisor's memory (PSS) per running container
# against podman's conmon. Medians and ratios, goals beside them.
#
# crun refuses this hybrid cgroup host while the empty cgroup2 mount at /sys/fs/cgroup/unified
# is in sight. The whole benchmark runs once in a private mount namespace where it is unmounted
# (the script re-executes itself under `unshare -m`), so crun is timed directly, with no extra
# process around it, and gocker-script runs in the same namespace: like with like.
#
# Goals (issue 16): run --rm --network none <= 1.0x `crun run`; exec <= 0.7x `crun run`; a run
# in a script loop <= 0.8x `crun run`; bridged <= 1.3x no-network; supervisor PSS <= conmon's.
# Issue 10: the confinement (seccomp, device rules, masked paths, cgroup view, keyring) adds at
# most 1.5 ms: a default run against a --privileged one.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-30}

if [ -z "${GOCKER_BENCH_INNER:-}" ]; then
    scripts/setup.sh
    need=()
    for tool in crun runc podman conmon bc; do command -v "$tool" >/dev/null || need+=("$tool"); done
    if [ ${#need[@]} -gt 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" fuse-overlayfs >/dev/null
    fi
    # The inner run (below, under unshare) takes the binary from here.
    BIN=${BIN:-$(scripts/build-release.sh)/gocker-script}
    export BIN
    before=$(scripts/host-state.sh)
    status=0
    # Private propagation: the umount inside stays inside.
    GOCKER_BENCH_INNER=1 unshare -m --propagation private "$0" "$@" || status=$?
    after=$(scripts/host-state.sh)
    if [ "$before" = "$after" ]; then
        echo "host state: as found"
    else
        echo "host state changed by the benchmark:"
        diff <(echo "$before") <(echo "$after") || true
        status=1
    fi
    exit "$status"
fi

umount /sys/fs/cgroup/unified 2>/dev/null || true
. scripts/lib.sh

work=$(mktemp -d /tmp/gocker-bench-run.XXXXXX)
port=${BENCH_REGISTRY_PORT:-5859}
bin=$BIN
G="$bin --root $work/groot"
# podman would pick crun, which refuses this hybrid cgroup host; runc works here.
podman_opts=(--root "$work/podman" --runroot "$work/podman-run" --storage-driver overlay --cgroup-manager=cgroupfs --events-backend=file --runtime runc)
ulimits=(--ulimit nofile=20000:20000 --ulimit nproc=32768:32768)
K=${K:-10}
# podman's bridge (netavark) leaves iptables-nft tables behind; remove those it added.
tables_before=$(nft list tables 2>/dev/null || true)
cleanup() {
    for i in $(seq "$K"); do $G rm -f "benchbox$i" >/dev/null 2>&1 || true; done
    $G rm -f benchbox >/dev/null 2>&1 || true
    [ -z "${OLD:-}" ] || $OLD rm -f benchbox >/dev/null 2>&1 || true
    $G network rm bridge >/dev/null 2>&1 || true
    podman "${podman_opts[@]}" rm -f -a -t 0 >/dev/null 2>&1 || true
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

crun_run() { crun run --bundle "$work/bundle" "bench-crun-$$"; }
runc_run() { runc run --bundle "$work/bundle" "bench-runc-$$"; }

# BASELINE=/path/to/an/older/gocker-script: the same runs with it, interleaved, on its own
# root, so a change is measured before and after under the same load.
if [ -n "${BASELINE:-}" ]; then
    OLD="$BASELINE --root $work/oldroot"
    $OLD pull -q "$ref" >/dev/null
    for _ in 1 2 3; do $OLD run --rm --network none "$ref" true; done
fi

# Let the set-up's churn of files settle first: on ext4 (this host's root has no journal) a
# new inode is not given a number freed in the last 60 s (300 s while its inode table block
# is dirty), and the allocator scans past every such one: right after the pulls, the push
# and the podman set-up above, each file a run makes cost 100 µs and more and a run read 6 ms
# slower for a minute or two. crun makes no file per run (its state is on tmpfs). SETTLE=0
# measures the unsettled state.
sync
sleep "${SETTLE:-65}"
# Warm the page cache and the store before timing.
for _ in 1 2 3; do $G run --rm --network none "$ref" true; crun_run; done

g=$(time_n "$N" $G run --rm --network none "$ref" true)
c=$(time_n "$N" crun_run)
# The same with the confinement switched off: what seccomp, the device rules, the masked
# paths and the cgroup view cost (issue 10: at most 1.5 ms).
gp=$(time_n "$N" $G run --rm --network none --privileged "$ref" true)
gb=$(time_n "$N" $G run --rm "$ref" true)
r=$(time_n "$N" runc_run)
# A start after a pause (what a user typing one command gets): the kernel's lazy state is
# cold again, e.g. the cgroup lock's grace period a v1 migration by another process waits.
gc=$(PAUSE=0.15 time_n 15 $G run --rm --network none "$ref" true)
cc=$(PAUSE=0.15 time_n 15 crun_run)
p=$(time_n 10 podman "${podman_opts[@]}" run --rm --network none "${ulimits[@]}" "$ref" true)
pb=$(time_n 10 podman "${podman_opts[@]}" run --rm "${ulimits[@]}" "$ref" true)

L=${L:-100}
cat >"$work/loop.rhai" <<RHAI
for i in 0..$L { run("$ref", ["true"], #{ rm: true, network: "none" }); }
RHAI
s=$(now); $G "$work/loop.rhai"; e=$(now)
loop=$(echo "($e - $s) / $L / 1000000" | bc -l)

$G run -d --name benchbox --network none "$ref" sleep 600 >/dev/null
podman "${podman_opts[@]}" run -d --name benchbox --network none "${ulimits[@]}" "$ref" sleep 600 >/dev/null
ge=$(time_n "$N" $G exec benchbox true)
pe=$(time_n 10 podman "${podman_opts[@]}" exec benchbox true)
$G rm -f benchbox >/dev/null
podman "${podman_opts[@]}" rm -f -t 0 benchbox >/dev/null

# Memory: K containers running, the sum of their supervisors' PSS (smaps_rollup) over K.
pss_kb() { local sum=0 v; for pid in "$@"; do v=$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null || echo 0); sum=$((sum + v)); done; echo "$sum"; }
for i in $(seq "$K"); do
    $G run -d --name "benchbox$i" --network none "$ref" sleep 600 >/dev/null
    podman "${podman_opts[@]}" run -d --name "benchbox$i" --network none "${ulimits[@]}" "$ref" sleep 600 >/dev/null
done
sleep 1
shims=$(pgrep -f -- "__shim(-early)? .*$work/groot" || true)
conmons=$(pgrep -f -- "conmon .*$work/podman" || true)
gpss=$(echo "$(pss_kb $shims) / $K / 1024" | bc -l)
cpss=$(echo "$(pss_kb $conmons) / $K / 1024" | bc -l)
nshim=$(echo $shims | wc -w); ncon=$(echo $conmons | wc -w)
grss=$(for pid in $shims; do awk '/^Rss:/ {print $2}' "/proc/$pid/smaps_rollup"; done | median)
for i in $(seq "$K"); do $G rm -f "benchbox$i" >/dev/null; done
podman "${podman_opts[@]}" rm -f -a -t 0 >/dev/null

ratio() { echo "$1 / $2" | bc -l; }
if [ -n "${BASELINE:-}" ]; then
    # Alternating rounds of 10, so drift in the host's load falls on both alike.
    ga=(); oa=(); ea=(); eo=()
    $G run -d --name benchbox --network none "$ref" sleep 600 >/dev/null
    $OLD run -d --name benchbox --network none "$ref" sleep 600 >/dev/null
    for _ in $(seq 3); do
        ga+=("$(time_n 10 $G run --rm --network none "$ref" true)")
        oa+=("$(time_n 10 $OLD run --rm --network none "$ref" true)")
        ea+=("$(time_n 10 $G exec benchbox true)")
        eo+=("$(time_n 10 $OLD exec benchbox true)")
    done
    $G rm -f benchbox >/dev/null; $OLD rm -f benchbox >/dev/null
    med() { printf '%s\n' "$@" | median; }
    printf 'against the baseline %s (medians of 3 alternating rounds of 10)\n' "$BASELINE"
    printf '  run --rm --network none  now %6.2f  before %6.2f\n' "$(med "${ga[@]}")" "$(med "${oa[@]}")"
    printf '  exec of true             now %6.2f  before %6.2f\n' "$(med "${ea[@]}")" "$(med "${eo[@]}")"
fi
printf 'container start-to-teardown of /bin/true without networking, median ms (%s runs; podman 10)\n' "$N"
printf '  gocker-script run --rm --network none  %8.2f\n' "$g"
printf '  crun run (prepared bundle)             %8.2f\n' "$c"
printf '  runc run                               %8.2f\n' "$r"
printf '  podman run --rm --network none         %8.2f\n' "$p"
printf '  after a 150 ms pause: gocker-script run %.2f, crun run %.2f (15 runs each)\n' "$gc" "$cc"
printf '  gocker-script exec of true             %8.2f   (podman exec %.2f)\n' "$ge" "$pe"
printf '  one run in a %s-run script loop       %8.2f\n' "$L" "$loop"
printf '  run --rm --privileged (no seccomp, device rules, masks)  %8.2f; hardening cost %.2f ms (goal <= 1.5)\n' "$gp" "$(echo "$g - $gp" | bc -l)"
printf 'bridged (a veth on the default bridge, an address, a default route), median ms\n'
printf '  gocker-script run --rm                 %8.2f   (podman %.2f)\n' "$gb" "$pb"
printf 'supervisor memory with %s containers running (%s __shim, %s conmon processes)\n' "$K" "$nshim" "$ncon"
printf '  gocker-script supervisor PSS per container  %6.2f MB (median RSS %.2f MB)\n' "$gpss" "$(echo "$grss / 1024" | bc -l)"
printf '  conmon PSS per container                    %6.2f MB\n' "$cpss"
printf 'ratios (goals of issue 16)\n'
printf '  run/crun          %5.2f  (goal <= 1.0)\n' "$(ratio "$g" "$c")"
printf '  run/crun, paused  %5.2f\n' "$(ratio "$gc" "$cc")"
printf '  exec/crun         %5.2f  (goal <= 0.7)\n' "$(ratio "$ge" "$c")"
printf '  loop/crun         %5.2f  (goal <= 0.8)\n' "$(ratio "$loop" "$c")"
printf '  bridged/none      %5.2f  (goal <= 1.3)\n' "$(ratio "$gb" "$g")"
printf '  PSS/conmon        %5.2f  (goal <= 1.0)\n' "$(ratio "$gpss" "$cpss")"
printf '  podman/gocker     %5.1f  (run --rm --network none)\n' "$(ratio "$p" "$g")"
