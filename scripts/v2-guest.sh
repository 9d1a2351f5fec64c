#!/usr/bin/env bash
# A cgroup-v2-only test guest: Debian's stock kernel booted by QEMU under plain emulation,
# with the host's filesystem shared read-only, running one command line as root.
#
#   scripts/v2-guest.sh setup        installs what is needed (idempotent; well under 1 s when done)
#   scripts/v2-guest.sh run CMD...   boots the guest, runs the shell command line CMD in it, and
#                                    exits with CMD's exit status (124: timed out; 125: no status)
#
# Environment: V2_GUEST_TIMEOUT (seconds, default 900), V2_GUEST_MEMORY (default 2G),
# V2_GUEST_CPUS (default 2), V2_GUEST_VERBOSE=1 (the kernel console on stderr, live),
# V2_GUEST_ENV (names of more host variables to pass in: PATH, HOME, RUST_BACKTRACE and
# RUST_LOG always are), V2_GUEST_CACHE (default /var/cache/gocker-script).

# The kernel is the package linux-image-amd64 depends on (the generic one: the cloud kernel has
# no 9p), downloaded and unpacked under the cache, never installed into /boot. virtme-ng, from
# PyPI into a venv under the cache, boots it in QEMU with TCG (this host's /dev/kvm hangs a
# stock kernel), the host's / as the guest's root over 9p. A boot and power-off takes 8-10 s.
#
# Inside the guest CMD runs as root in the repository's directory, with /sys/fs/cgroup a
# cgroup2 mount only (cgroup_no_v1=all) whose root has cpuset cpu io memory pids enabled in
# cgroup.subtree_control (as systemd would), and GOCKER_V2_TMP=/tmp/v2, a fresh tmpfs to put
# GOCKER_ROOTs under (overlayfs refuses an upper dir on the guest's overlay /tmp). The guest's
# root is read-only; /tmp, /etc, /var, ... and the repository's directory are writable through
# overlays in guest memory, so nothing the guest writes reaches the host but through the shared
# directory of the run. Modules (overlay, veth, bridge, nf_tables, ...) load on demand.
#
# No udev runs in the guest, so virtme-ng's own channels for the script's output and exit status
# do not work: a wrapper run by virtme-ng-init writes CMD's stdout and stderr straight to the
# virtio port that virtme-ng wires to QEMU's stdout (found by name in sysfs; a file in the shared
# directory, shown afterwards, if it is missing) and CMD's exit status to a file in a directory
# shared read-write with the host for this run only.
#
# A "nested" case (the runtime inside a container whose cgroup namespace root is not the real
# root and holds processes) can be built in CMD:
#   mkdir /sys/fs/cgroup/ci && echo $$ >/sys/fs/cgroup/ci/cgroup.procs &&
#   unshare -Cm sh -c 'umount /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup && ...'
# There /sys/fs/cgroup is the namespace's root, holding processes, with cpuset cpu io memory
# pids available, and writing its cgroup.subtree_control fails (EBUSY) until they leave it.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${V2_GUEST_CACHE:-/var/cache/gocker-script}
venv=$cache/venv
kernel_dir=$cache/kernel
# The virtme-ng release this script was written against (its guest init, mounts and options).
virtme_ng_version=1.42
# QEMU (install_qemu below) and: python3-venv: virtme-ng's venv; kmod: depmod for the fetched
# modules on the host, modprobe in the guest; busybox-static: virtme-ng's initramfs; file: how
# virtme-ng reads the kernel's version; iproute2 and util-linux: ip, mount, unshare in the guest.
packages=(python3 python3-venv kmod busybox-static file iproute2 util-linux)

die() { echo "v2-guest: $*" >&2; exit 1; }
say() { echo "v2-guest: $*" >&2; }

usage() {
    sed -n '2,/^$/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}

# The kernel image fetched by setup, if any.
kernel_image() {
    local k
    for k in "$kernel_dir"/boot/vmlinuz-*; do
        [ -f "$k" ] && { echo "$k"; return 0; }
    done
    return 1
}

apt_updated=
apt_update() {
    [ -n "$apt_updated" ] && return 0
    apt-get update -qq
    apt_updated=1
}

# --no-remove: fail rather than let apt remove a package of the machine's to make room.
apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends --no-remove "$@" \
        >/dev/null 2> >(grep -v '^debconf: delaying' >&2)
}

# QEMU. Where the machine has qemu-utils from bookworm-backports (qemu-img 10 on this project's
# machines), Debian 12's qemu-system-x86 cannot go beside it (that qemu-utils Breaks its
# qemu-system-common), so the same version is taken from bookworm-backports, through a private
# list of sources and a private package index: the machine's own apt sources stay as they are.
install_qemu() {
    command -v qemu-system-x86_64 >/dev/null && return 0
    local utils
    utils=$(dpkg-query -W -f='${db:Status-Abbrev} ${Version}' qemu-utils 2>/dev/null | awk '$1 == "ii" { print $2 }')
    if [[ "$utils" != *bpo12* ]]; then
        say "installing qemu-system-x86"
        apt_update
        apt_install qemu-system-x86
        return 0
    fi
    say "installing qemu-system-x86 $utils from bookworm-backports, beside qemu-utils $utils"
    apt_update
    local uri b=$cache/apt-backports
    uri=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 'Created-By: Packages' | awk '$2 == "bookworm" { print $1; exit }')
    [ -n "$uri" ] || die "no bookworm entry in the apt sources to take bookworm-backports from"
    rm -rf "$b"
    mkdir -p "$b/lists/partial" "$b/sources.list.d"
    cp -a /etc/apt/sources.list.d/. "$b/sources.list.d/"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri bookworm-backports main" >"$b/sources.list.d/backports.list"
    local opts=(-o "Dir::Etc::sourceparts=$b/sources.list.d" -o "Dir::State::lists=$b/lists")
    apt-get "${opts[@]}" update -qq
    apt_install "${opts[@]}" -t bookworm-backports "qemu-system-x86=$utils"
    rm -rf "$b"
}

setup() {
    [ "$(id -u)" = 0 ] || die "run as root (apt-get, and the guest runs as root)"
    mkdir -p "$cache"
    # Two setups at once (two test runs starting together) would race on the cache.
    exec 9>"$cache/.lock"
    flock 9

    local missing=() p
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing ${missing[*]}"
        apt_update
        apt_install "${missing[@]}"
    fi
    install_qemu

    # virtme-ng in a venv of Debian's python3, so neither the system python nor a pyenv one is
    # touched. The marker records the version installed.
    if [ "$(cat "$venv/.virtme-ng-version" 2>/dev/null)" != "$virtme_ng_version" ] || [ ! -x "$venv/bin/vng" ]; then
        say "installing virtme-ng $virtme_ng_version into $venv"
        rm -rf "$venv"
        /usr/bin/python3 -m venv "$venv"
        "$venv/bin/pip" install -q --no-cache-dir --disable-pip-version-check "virtme-ng==$virtme_ng_version"
        echo "$virtme_ng_version" >"$venv/.virtme-ng-version"
    fi

    # The kernel: the linux-image-<abi>-amd64 package that linux-image-amd64 depends on,
    # downloaded and unpacked under the cache (not installed), with modules.dep made by depmod
    # (a .deb leaves that to its postinst). Kept until the cache is removed.
    if ! kernel_image >/dev/null; then
        local pkg work kver
        pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/ { print $2; exit }')
        if [ -z "$pkg" ] && [ -z "$apt_updated" ]; then
            apt_update
            pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/ { print $2; exit }')
        fi
        [ -n "$pkg" ] || die "cannot tell which kernel package linux-image-amd64 depends on"
        say "fetching $pkg into $kernel_dir"
        work=$(mktemp -d "$cache/kernel.XXXXXX")
        # Stale package lists name a .deb the mirror no longer has: update them and retry.
        if ! (cd "$work" && apt-get -q=2 -o APT::Sandbox::User=root download "$pkg" 2>/dev/null); then
            [ -z "$apt_updated" ] || die "cannot download $pkg"
            apt_update
            (cd "$work" && apt-get -q=2 -o APT::Sandbox::User=root download "$pkg")
        fi
        dpkg-deb -x "$work"/"$pkg"_*.deb "$work/root"
        kver=$(basename "$(ls -d "$work"/root/lib/modules/*/ | head -n1)")
        depmod -a -b "$work/root" "$kver"
        rm -rf "$kernel_dir"
        mv "$work/root" "$kernel_dir"
        rm -rf "$work"
    fi
    kernel_image >/dev/null || die "no kernel image under $kernel_dir/boot"
    exec 9>&-
}

# The guest side, run by virtme-ng-init as the guest's script: $1 is the shared directory,
# holding env (variables to export), cmd (CMD) and where status (and output) go.
guest_script() {
    cat <<'GUEST'
share=$1
status=125
trap 'echo "$status" >"$share/status.tmp" && mv "$share/status.tmp" "$share/status"; sync' EXIT
# CMD's output, live: the port virtme-ng connects to QEMU's stdout, else a file shared back.
out=$share/output
for n in /sys/class/virtio-ports/*/name; do
    if [ "$(cat "$n" 2>/dev/null)" = virtme.stdout ]; then
        dev=/dev/$(basename "$(dirname "$n")")
        [ -c "$dev" ] && out=$dev
    fi
done
exec >"$out" 2>&1 </dev/null
set -e
# cgroup2 only: virtme-ng-init mounts it at /sys/fs/cgroup; mount it if a version does not.
if [ "$(stat -f -c %T /sys/fs/cgroup)" != cgroup2fs ]; then
    mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
fi
for c in cpuset cpu io memory pids; do
    echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control
done
mkdir -p /tmp/v2
mount -t tmpfs -o mode=0755 gocker-v2 /tmp/v2
. "$share/env"
export GOCKER_V2_TMP=/tmp/v2
cd "$REPO_DIR"
set +e
bash "$share/cmd"
status=$?
GUEST
}

run() {
    [ $# -gt 0 ] || usage
    setup
    local timeout=${V2_GUEST_TIMEOUT:-900} memory=${V2_GUEST_MEMORY:-2G} cpus=${V2_GUEST_CPUS:-2}
    local kimg status= d
    kimg=$(kernel_image)
    # virtme-ng-init mounts tmpfs over these in the guest, which would see an empty directory.
    for d in /run /dev/shm /var/tmp /var/log /var/cache /var/lib/apt /var/lib/private; do
        case "$repo/" in "$d"/*) die "the guest cannot see $repo: it hides $d" ;; esac
    done
    share=$(mktemp -d /tmp/gocker-v2-guest.XXXXXX)
    runner=
    # Nothing is left behind, also on a signal: the process group that timeout(1) leads (vng,
    # virtme-run, QEMU), QEMU itself (by its pid file), then the shared directory.
    cleanup() {
        local pid
        pid=$(cat "$share/timeout.pid" 2>/dev/null || true)
        if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = timeout ]; then
            kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        fi
        pid=$(cat "$share/qemu.pid" 2>/dev/null || true)
        if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = qemu-system-x86 ]; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
        if [ -n "$runner" ]; then wait "$runner" 2>/dev/null || true; fi
        rm -rf "$share"
    }
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    guest_script >"$share/guest.sh"
    printf '%s\n' "$*" >"$share/cmd"
    {
        local v
        echo "export REPO_DIR=$(printf %q "$repo")"
        for v in PATH HOME RUST_BACKTRACE RUST_LOG ${V2_GUEST_ENV:-}; do
            [ -n "${!v+set}" ] && echo "export $v=$(printf %q "${!v}")"
        done
    } >"$share/env"

    local args=(
        --run "$kimg"
        --disable-kvm            # TCG: /dev/kvm hangs a stock kernel on this host
        --force-9p               # 9p, not virtiofs: that needs a virtiofsd, which Debian 12 lacks
        --cpus "$cpus" --memory "$memory"
        --rwdir "$share"
        # virtme-ng-init mounts a tmpfs on /var/cache: show the kernel's modules again.
        --rodir "$cache"
        --overlay-rwdir "$repo"
        --append "cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1"
        --qemu-opts="-pidfile $share/qemu.pid"
        --verbose                # the kernel console, kept in a file for when the guest fails
        --exec "bash $share/guest.sh $share"
    )
    # QEMU reopens its stdout and stderr through /proc/self/fd (truncating a regular file), so
    # both are pipes: stdout to ours, stderr (the kernel console) to a file or to our stderr.
    # It runs in the background so that a signal to this script is acted on at once (bash runs
    # traps only between foreground commands); timeout(1) leads a process group of its own.
    local rc=0
    (
        (
            PATH=$venv/bin:$PATH sh -c 'echo $$ >"$0"; exec "$@"' "$share/timeout.pid" \
                timeout -k 10 "$timeout" vng "${args[@]}" </dev/null 2>&1 1>&3 3>&- |
                if [ -n "${V2_GUEST_VERBOSE:-}" ]; then cat >&2; else cat >"$share/console"; fi
        ) 3>&1 | cat
    ) &
    runner=$!
    wait "$runner" || rc=$?
    runner=
    # With the script's output in a file (no virtio port found), show it now.
    [ -f "$share/output" ] && cat "$share/output"
    status=$(cat "$share/status" 2>/dev/null || true)
    if [ -z "$status" ]; then
        if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
            say "the guest did not finish within ${timeout}s (V2_GUEST_TIMEOUT)"
            status=124
        else
            say "the guest reported no exit status; its console ended with:"
            tail -n 30 "$share/console" 2>/dev/null | tr -d "\r" >&2 || true
            status=125
        fi
    fi
    exit "$status"
}

case "${1:-}" in
setup)
    setup
    echo "qemu:      $(command -v qemu-system-x86_64) ($(qemu-system-x86_64 --version | head -n1))"
    echo "virtme-ng: $venv/bin/vng ($("$venv/bin/vng" --version))"
    echo "kernel:    $(kernel_image)"
    echo "modules:   $(ls -d "$kernel_dir"/lib/modules/*)"
    ;;
run)
    shift
    run "$@"
    ;;
*) usage ;;
esac
