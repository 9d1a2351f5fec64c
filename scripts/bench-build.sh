#!/usr/bin/env bash
# Benchmark (issue 13): `gocker-script build` against `podman build` of the same Dockerfile and
# context, in the same run: six steps after FROM, with a 50 MB COPY and two RUNs; both with
# RUN on no network, both from the same base image already in their stores.
#   cold:   every step runs (--no-cache on both)
#   cached: a rebuild where every step hits the cache
#   touch:  a small source file changed: the steps from its COPY on run again
# Goals: cold <= 0.5x podman's, cached <= 0.2x podman's and under 200 ms.
set -euo pipefail
cd "$(dirname "$0")/.."
N_COLD=${N_COLD:-5}
N=${N:-10}
scripts/setup.sh
bin=$(scripts/build-release.sh)/gocker-script
. scripts/lib.sh

work=$(mktemp -d /tmp/gocker-bench-build.XXXXXX)
port=${BENCH_REGISTRY_PORT:-5861}
G="$bin --root $work/groot"
podman_opts=(--root "$work/podman" --runroot "$work/podman-run" --storage-driver overlay --cgroup-manager=cgroupfs --events-backend=file --runtime runc)
ulimits=(--ulimit nofile=20000:20000 --ulimit nproc=32768:32768)
cleanup() {
    podman "${podman_opts[@]}" system reset -f >/dev/null 2>&1 || true
    if [ -n "${REGISTRY_PID:-}" ]; then kill "$REGISTRY_PID" 2>/dev/null; wait "$REGISTRY_PID" 2>/dev/null || true; fi
    umount -R "$work/podman" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

start_registry "$port" "$work/registry"
busybox_rootfs "$work/rootfs"
tar -cf "$work/layer.tar" -C "$work/rootfs" .
docker_archive "$work/busybox.tar" "busybox:latest" '["sh"]' "$work/layer.tar"
base="127.0.0.1:$port/busybox:latest"
push_archive "$work/busybox.tar" "$base"
$G pull -q "$base" >/dev/null
podman "${podman_opts[@]}" pull -q --tls-verify=false "$base" >/dev/null

ctx="$work/ctx"
mkdir -p "$ctx/src"
head -c $((50 * 1024 * 1024)) /dev/urandom >"$ctx/big.bin"
for i in $(seq 20); do echo "source $i" >"$ctx/src/f$i.txt"; done
cat >"$ctx/Dockerfile" <<'EOF'
ARG BASE
FROM $BASE
WORKDIR /app
COPY big.bin /app/big.bin
RUN sha256sum /app/big.bin > /app/big.sha
COPY src/ /app/src/
RUN ls /app/src > /app/list.txt
CMD ["cat", "/app/list.txt"]
EOF

gocker_build() { $G build -q --network none --build-arg "BASE=$base" -t bench:1 "$@" "$ctx"; }
podman_build() {
    podman "${podman_opts[@]}" build -q --network none "${ulimits[@]}" --build-arg "BASE=$base" \
        -t bench:1 "$@" "$ctx"
}

gc=$(time_n "$N_COLD" gocker_build --no-cache)
pc=$(time_n "$N_COLD" podman_build --no-cache)
gocker_build >/dev/null
podman_build >/dev/null
gw=$(time_n "$N" gocker_build)
pw=$(time_n "$N" podman_build)
touch_build() { echo "$(now)" >"$ctx/src/f1.txt"; "$@"; }
gt=$(time_n "$N" touch_build gocker_build)
pt=$(time_n "$N" touch_build podman_build)
# The result runs the same in both.
[ "$($G run --rm --network none bench:1 | wc -l)" = 20 ] || { echo "bench-build: our image is wrong" >&2; exit 1; }

printf 'build of a 6-step Dockerfile (50 MB COPY, two RUNs), median ms (cold %s runs, others %s)\n' "$N_COLD" "$N"
printf '  %-28s %10s %10s %8s\n' "" gocker-script podman ratio
for row in "cold (--no-cache) $gc $pc" "cached rebuild $gw $pw" "one source file changed $gt $pt"; do
    read -r -a f <<<"$row"
    n=${#f[@]}
    label="${f[*]:0:n-2}"
    printf '  %-28s %10.1f %10.1f %8.3f\n' "$label" "${f[n-2]}" "${f[n-1]}" "$(echo "${f[n-2]} / ${f[n-1]}" | bc -l)"
done
printf '  goals: cold <= 0.5, cached <= 0.2 and < 200 ms\n'
