#!/usr/bin/env bash
# Benchmark: push of an image with a ~50 MB layer (the first 50 MB of /usr/bin: real binaries,
# which gzip to ~45%) plus a busybox layer to a private registry on 127.0.0.1, gocker-script
# against `podman push` of the same image (loaded into podman from gocker-script's `save`), in
# the same run. Two cases, median of RUNS runs each:
#   cold: the registry's storage is emptied before every push, so every blob is compressed and
#         uploaded (neither tool can skip or mount anything);
#   warm: everything is already in the repository; each tool knows its blobs' digests from its
#         own earlier push (gocker-script's push records, podman's blob info cache), so a push
#         is HEADs and a manifest.
# Goal (push issue): gocker-script at most 0.7x podman's time on the cold push.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-7}
scripts/setup.sh
if ! command -v podman >/dev/null || ! command -v bc >/dev/null || [ ! -x /usr/bin/time ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends podman fuse-overlayfs bc time >/dev/null
fi
bin=$(scripts/build-release.sh)/gocker-script
. scripts/lib.sh

work=$(mktemp -d /tmp/gocker-bench-push.XXXXXX)
port=${BENCH_REGISTRY_PORT:-5860}
G="$bin --root $work/groot"
podman_opts=(--root "$work/podman" --runroot "$work/podman-run" --tmpdir "$work/podman-tmp" --storage-driver overlay --cgroup-manager=cgroupfs --events-backend=file --runtime runc)
cleanup() {
    if [ -n "${REGISTRY_PID:-}" ]; then kill "$REGISTRY_PID" 2>/dev/null; wait "$REGISTRY_PID" 2>/dev/null || true; fi
    podman "${podman_opts[@]}" system reset -f >/dev/null 2>&1 || true
    umount -R "$work/podman" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

start_registry "$port" "$work/registry"
# Emptying the storage of the running registry (it keeps no cache in this configuration).
empty_registry() { rm -rf "$work/registry/data/docker"; }

busybox_rootfs "$work/bb"
tar -cf "$work/bb.tar" -C "$work/bb" .
mkdir -p "$work/big/usr/bin"
find /usr/bin -maxdepth 1 -type f -size -8M -printf '%s %p\n' | sort -k2 |
    awk '{ t += $1; if (t > 50 * 1024 * 1024) exit; print $2 }' | xargs cp -t "$work/big/usr/bin"
tar -cf "$work/big.tar" -C "$work/big" .
rm -rf "$work/bb" "$work/big"
docker_archive "$work/img.tar" "big:latest" '["sh"]' "$work/bb.tar" "$work/big.tar"
$G load -i "$work/img.tar" >/dev/null
$G save big:latest -o "$work/saved.tar"
podman "${podman_opts[@]}" load -q -i "$work/saved.tar" >/dev/null
layer_mb=$(( $(stat -c %s "$work/big.tar") / 1000000 ))
rm -f "$work/img.tar" "$work/saved.tar" "$work/bb.tar" "$work/big.tar"
ref="127.0.0.1:$port"

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
gpush() { $G push -q big:latest "$ref/$1" >/dev/null; }
ppush() { podman "${podman_opts[@]}" push -q --tls-verify=false big:latest "$ref/$1" >/dev/null; }
timed() { local s e; s=$(now); "$@"; e=$(now); echo "$e - $s" | bc; }

: >"$work/cold-g"; : >"$work/cold-p"; : >"$work/warm-g"; : >"$work/warm-p"; : >"$work/rss-g"
for i in $(seq "$RUNS"); do
    empty_registry; sync
    s=$(now); /usr/bin/time -f %M -o "$work/rss" $G push -q big:latest "$ref/cold-g$i/big:1" >/dev/null; e=$(now)
    echo "$e - $s" | bc >>"$work/cold-g"; cat "$work/rss" >>"$work/rss-g"
    empty_registry; sync
    timed ppush "cold-p$i/big:1" >>"$work/cold-p"
done
empty_registry
gpush warm-g/big:1; ppush warm-p/big:1
for i in $(seq "$RUNS"); do
    timed gpush warm-g/big:1 >>"$work/warm-g"
    timed ppush warm-p/big:1 >>"$work/warm-p"
done
cg=$(median <"$work/cold-g"); cp=$(median <"$work/cold-p")
wg=$(median <"$work/warm-g"); wp=$(median <"$work/warm-p")
printf 'push of an image with a %s MB layer (+ busybox) to a registry on 127.0.0.1, median of %s runs\n' "$layer_mb" "$RUNS"
printf '                       gocker-script   podman push   ratio\n'
printf '  cold (all uploaded)  %9.3f s   %9.3f s   %5.2f (goal <= 0.7)\n' "$cg" "$cp" "$(echo "$cg / $cp" | bc -l)"
printf '  warm (all present)   %9.3f s   %9.3f s   %5.2f\n' "$wg" "$wp" "$(echo "$wg / $wp" | bc -l)"
printf '  gocker-script peak RSS on the cold push: %s MB (the layer streams; it is never held whole)\n' "$(( $(median <"$work/rss-g" | cut -d. -f1) / 1024 ))"
