#!/bin/bash
# SPDX-License-Identifier: MIT
#
# linux.sh - an unmodified Debian kernel snapshotted and restored by kite, in the nested lab (as
# tests/api/linux-api.sh): an L1 Linux under QEMU TCG with an emulated SVM CPU carries kite, curl
# and Debian's cloud kernel with a busybox initramfs whose /init (l2-loop-init.sh) runs a shell loop
# printing a counter every 0.2 s. L1's /init (l1-snap-init.sh) boots it through kite's API (2 vCPUs,
# 256 MiB, a read-only root drive on virtio-mmio), pauses it once the loop printed $SNAP_AT, takes a
# Full snapshot, kills kite with SIGKILL, and loads the snapshot into a second kite (resume_vm),
# which runs L2 to its power-off.
# Usage: linux.sh --kite PATH [--work DIR] [--timeout S] (tests/lib/nested-run.sh). Env: KITE_KERNEL_CACHE (tests/lib/kernel/fetch.sh)
# Pass iff: every request got its code (PUTs 204, PATCH 204, snapshot/create 204, snapshot/load
# 204, GET / Running); L2 booted once (one KITE-L2-OK); the loop printed 1, 2, ..., 60 in order with
# no gap and no repeat (the loop goes on after the restore: no restart, no lost state); the second
# kite exited with status 0 after L2's ACPI power-off; no line of L2's console or kernel log matches
# tests/linux/l2-problems.ere (RCU stall, lockup, hung task, unstable clocksource, WARNING/BUG/Oops,
# panic...), except the nested-only lines of tests/linux/l2-known-nested.ere.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
name=linux-snapshot
. "$top/tests/lib/nested-run.sh"   # options, kernels, L1 launch, check, problem filter
timeout_s=600 cpus=2 memory=256 snap_at=15 loops=60
nested_options false "$@"
command -v curl >/dev/null || die "curl not installed (scripts/deps.sh)"
l2k=$(nested_kernel cloud) || exit 1
l1k=$(nested_kernel generic) || exit 1
release=$(cat "$l2k/version")
marker="kite-ls-$(od -An -tx8 -N 8 /dev/urandom | tr -d " ")"   # L2's /init prints it (tests/lib/initramfs.sh)

. "$top/tests/lib/initramfs.sh"   # api_lab_roots, make_cpio

api_lab_roots "$work" "$l1k" "$l2k" "$here/l2-loop-init.sh" "$here/l1-snap-init.sh" "$kite"
l1root=$work/l1-root
cat >"$l1root/etc/l1.conf" <<CONF
L2_CMDLINE="console=ttyS0 loglevel=4 panic=-1 kite.loops=$loops"
L2_MEMORY=$memory
L2_CPUS=$cpus
L2_TIMEOUT=$((timeout_s / 2 - 30))
SNAP_AT=$snap_at
CONF
make_cpio "$l1root" "$work/l1-initrd.cpio" || die "L1 cpio failed"

echo "linux-snapshot: L1 $(cat "$l1k/version") (QEMU TCG, -cpu EPYC), L2 $release snapshotted at loop $snap_at; log $log"
t0=$(date +%s)
nested_l1_start "$log" "$l1k" "$work/l1-initrd.cpio" "$timeout_s"
wait $nested_l1_pid
qrc=$?
echo "linux-snapshot: L1 QEMU exit $qrc after $(( $(date +%s) - t0 )) s"
tr -d '\r' <"$log" | grep -a -E '^(KITE-L1S|K[12]\| )'

clean() { tr -d '\r' <"$log"; }
api() { clean | grep -a "^KITE-L1S api $1 $2 $3 " | head -n 1 | cut -d' ' -f6 | grep . || echo none; }
v() { clean | grep -a "^KITE-L1S $1 " | tail -n 1 | cut -d' ' -f3; }

check "L1 finished" "$(clean | grep -a -c '^KITE-L1S-DONE')" 1
check "L1 has /dev/kvm" "$(clean | grep -a -c '^KITE-L1S no-dev-kvm')" 0
for p in /machine-config /boot-source /drives/rootfs /actions; do
	check "PUT $p -> 204" "$(api k1 PUT $p)" 204
done
check "the loop reached $snap_at before the snapshot" "$(clean | grep -a -c '^KITE-L1S loop-not-reached')" 0
check "PATCH /vm Paused -> 204" "$(api k1 PATCH /vm)" 204
check "PUT /snapshot/create -> 204" "$(api k1 PUT /snapshot/create)" 204
check "second kite's socket" "$(clean | grep -a -c '^KITE-L1S socket k2 yes')" 1
check "PUT /snapshot/load -> 204" "$(api k2 PUT /snapshot/load)" 204
check "GET / after the load: Running" \
	"$(clean | grep -a '^KITE-L1S api k2 GET / ' | grep -c '"state": *"Running"')" 1
check "L2 booted once" "$(clean | grep -a -c "^L2R| KITE-L2-OK $release cpus=$cpus")" 1
loop=$(clean | grep -a '^L2R| KITE-L2-LOOP [0-9]' | cut -d' ' -f3 | tr '\n' ' ')
check "the loop: 1..$loops, each once, in order, across the restore" "$loop" "$(seq -s ' ' 1 $loops) "
check "the loop was snapshotted mid-way (lines before the kill)" \
	"$([ "$(v loop-at-snapshot)" -ge "$snap_at" ] 2>/dev/null && [ "$(v loop-at-snapshot)" -lt "$loops" ] && echo yes || echo "no ($(v loop-at-snapshot))")" yes
check "L2 powered off (ACPI)" "$(clean | grep -a -c '^L2R| .*reboot: Power down')" 1
check "second kite's exit status" "$(v kite-status)" 0
problems=$(nested_problems "$log" "L2R| ")
check "no RCU stall, lockup, WARNING, BUG, panic... from L2" "$(echo "$problems" | grep -c .)" 0
[ -n "$problems" ] && echo "$problems" | sed 's/^/linux-snapshot:   L2: /'
[ $qrc = 0 ] || { echo "linux-snapshot: FAIL L1 QEMU exit status $qrc (124 = hang guard of ${timeout_s} s)"; fail=1; }
if [ $fail != 0 ]; then
	echo "---- tail of $log"; clean | grep -v "TCG doesn't support" | tail -n 60
	echo "linux-snapshot: FAIL"; exit 1
fi
echo "linux-snapshot: PASS"
