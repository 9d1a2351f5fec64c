#!/usr/bin/env bash
# Prints the host state gocker-script may touch, one line per thing, sorted: bridges it
# labelled, its nftables tables, veth pairs on its bridges, its cgroups, its supervisors,
# its mounts and ip_forward. scripts/test.sh compares this before and after the suite and
# the demo: they must leave the host exactly as they found it.
set -uo pipefail
{
    ip -d -o link show 2>/dev/null | grep 'alias gocker-script' | awk -F': ' '{print "link " $2}'
    nft list tables 2>/dev/null | grep ' gocker-' | sed 's/^/nft /'
    ls -d /sys/fs/cgroup/*/gocker-script/*/ /sys/fs/cgroup/gocker-script/*/ 2>/dev/null | sed 's/^/cgroup /'
    pgrep -f -- '__shim(-early)? ' 2>/dev/null | sed 's/^/supervisor /'
    grep -E 'gocker-(root|demo|bench)' /proc/mounts 2>/dev/null | awk '{print "mount " $2}'
    echo "ip_forward $(cat /proc/sys/net/ipv4/ip_forward)"
} | sort
