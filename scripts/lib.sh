# Shared by the demo and the benchmarks: a private distribution registry on 127.0.0.1 and
# images built from local material. Source it; it defines functions only.

# start_registry PORT DIR: runs Debian's docker-registry on 127.0.0.1:PORT storing in DIR.
start_registry() {
    local port=$1 dir=$2
    mkdir -p "$dir"
    cat >"$dir/config.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/data
http:
  addr: 127.0.0.1:$port
YAML
    docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
    REGISTRY_PID=$!
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "registry on port $port did not start:" >&2
    cat "$dir/log" >&2
    return 1
}

# busybox_rootfs DIR: a minimal root filesystem from the host's busybox-static.
busybox_rootfs() {
    local root=$1
    mkdir -p "$root/bin" "$root/etc" "$root/root" "$root/tmp" "$root/proc" "$root/sys" "$root/dev"
    chmod 1777 "$root/tmp"
    cp /bin/busybox "$root/bin/busybox"
    for applet in $("$root/bin/busybox" --list); do
        [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
}

# docker_archive OUT.tar NAME:TAG CMD_JSON LAYER.tar...: a `docker save` archive of the layers.
docker_archive() {
    local out=$1 name=$2 cmd=$3
    shift 3
    local work
    work=$(mktemp -d)
    local diffs="" layers="" history=""
    for layer in "$@"; do
        local sum
        sum=$(sha256sum "$layer" | cut -d' ' -f1)
        cp "$layer" "$work/$sum.tar"
        diffs="$diffs${diffs:+,}\"sha256:$sum\""
        layers="$layers${layers:+,}\"$sum.tar\""
        history="$history${history:+,}{\"created\":\"2026-01-01T00:00:00Z\",\"created_by\":\"busybox-static\"}"
    done
    cat >"$work/config.json" <<JSON
{"architecture":"amd64","os":"linux","created":"2026-01-01T00:00:00Z","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":$cmd},"rootfs":{"type":"layers","diff_ids":[$diffs]},"history":[$history]}
JSON
    local cfg
    cfg=$(sha256sum "$work/config.json" | cut -d' ' -f1)
    mv "$work/config.json" "$work/$cfg.json"
    printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":[%s]}]\n' "$cfg" "$name" "$layers" >"$work/manifest.json"
    tar -cf "$out" -C "$work" .
    rm -rf "$work"
}

# push_archive ARCHIVE REF: copies a docker archive into a registry (plain HTTP, loopback).
push_archive() {
    skopeo copy --quiet --insecure-policy --dest-tls-verify=false "docker-archive:$1" "docker://$2"
}

# The benchmarks' clock: now (ns), median of numbers on stdin, and
# time_n N CMD...: the median wall time in milliseconds of N runs of CMD.
now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
time_n() {
    local n=$1
    shift
    for _ in $(seq "$n"); do
        # PAUSE=SECONDS: a pause before each run, so each starts cold.
        [ -z "${PAUSE:-}" ] || sleep "$PAUSE"
        local s e
        s=$(now)
        "$@" >/dev/null
        e=$(now)
        echo $(((e - s) / 1000))
    done | median | awk '{printf "%.2f", $1 / 1000}'
}
