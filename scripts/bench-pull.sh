#!/usr/bin/env bash
# Benchmark: cold pull of a ~400 MB image of incompressible data (50 files of 8 MB in 5
# layers) from a private registry on 127.0.0.1, gocker-script against `podman pull` of the same
# image from the same registry in the same run, and against a plain `tar -xzf` of its layers.
# Prints the median of RUNS runs of each and the ratios. Goals (issue 2): gocker-script at most
# 2/3 of podman's time, and at most 1.2x tar -xzf.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
scripts/setup.sh
if ! command -v podman >/dev/null || ! command -v bc >/dev/null || [ ! -x /usr/bin/time ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends podman fuse-overlayfs bc time >/dev/null
fi
bin=$(scripts/build-release.sh)/gocker-script
. scripts/lib.sh

work=$(mktemp -d /tmp/gocker-bench.XXXXXX)
port=${BENCH_REGISTRY_PORT:-5858}
podman_opts=(--root "$work/podman" --runroot "$work/podman-run" --storage-driver overlay --cgroup-manager=cgroupfs --events-backend=file)
cleanup() {
    if [ -n "${REGISTRY_PID:-}" ]; then kill "$REGISTRY_PID" 2>/dev/null; wait "$REGISTRY_PID" 2>/dev/null || true; fi
    podman "${podman_opts[@]}" system reset -f >/dev/null 2>&1 || true
    umount -R "$work/podman" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

start_registry "$port" "$work/registry"
layers=()
for l in 1 2 3 4 5; do
    mkdir -p "$work/src$l"
    for f in $(seq 10); do head -c 8M /dev/urandom >"$work/src$l/file$f"; done
    tar -cf "$work/layer$l.tar" -C "$work/src$l" .
    gzip -1 -c "$work/layer$l.tar" >"$work/layer$l.tar.gz"
    layers+=("$work/layer$l.tar")
    rm -rf "$work/src$l"
done
docker_archive "$work/big.tar" "big:latest" '["sh"]' "${layers[@]}"
push_archive "$work/big.tar" "127.0.0.1:$port/big:latest"
rm -f "$work/big.tar"
ref="127.0.0.1:$port/big:latest"

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

: >"$work/t-gocker"; : >"$work/t-podman"; : >"$work/t-tar"; : >"$work/rss-gocker"
for i in $(seq "$RUNS"); do
    rm -rf "$work/groot"
    s=$(now); /usr/bin/time -f %M -o "$work/rss" "$bin" --root "$work/groot" pull -q "$ref" >/dev/null; e=$(now)
    cat "$work/rss" >>"$work/rss-gocker"
    echo "$e - $s" | bc >>"$work/t-gocker"
    rm -rf "$work/groot"

    podman "${podman_opts[@]}" system reset -f >/dev/null 2>&1 || true
    sync
    s=$(now); podman "${podman_opts[@]}" pull -q --tls-verify=false "$ref" >/dev/null; e=$(now)
    echo "$e - $s" | bc >>"$work/t-podman"

    rm -rf "$work/x"; mkdir "$work/x"
    sync
    s=$(now); for l in 1 2 3 4 5; do tar -xzf "$work/layer$l.tar.gz" -C "$work/x"; done; e=$(now)
    echo "$e - $s" | bc >>"$work/t-tar"
    rm -rf "$work/x"
done
g=$(median <"$work/t-gocker"); p=$(median <"$work/t-podman"); t=$(median <"$work/t-tar")
printf 'cold pull of a 400 MB image, median of %s runs\n' "$RUNS"
printf '  gocker-script pull  %6.2f s\n  podman pull         %6.2f s\n  tar -xzf (layers)   %6.2f s\n' "$g" "$p" "$t"
printf '  gocker-script peak RSS %s MB (layers stream; nothing is held whole in memory)\n' "$(( $(median <"$work/rss-gocker" | cut -d. -f1) / 1024 ))"
printf '  gocker/podman = %.2f (goal <= 0.67)   gocker/tar = %.2f (goal <= 1.2)\n' "$(echo "$g / $p" | bc -l)" "$(echo "$g / $t" | bc -l)"
