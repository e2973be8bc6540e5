#!/bin/bash
# SPDX-License-Identifier: MIT
#
# linux-api.sh - an unmodified Debian kernel booted through kite's Firecracker-compatible API.
# Nested (as tests/linux/linux-virtio.sh): an L1 Linux under QEMU TCG with an emulated SVM CPU
# (-cpu EPYC, real nested KVM) carries kite, curl (with their shared libraries) and Debian's cloud
# kernel with the busybox initramfs of tests/linux (l2-init.sh). L1's /init (l1-api-init.sh) starts
# `kite --api-sock /run/kite.sock` and drives it with curl as a Firecracker user would:
#   GET /, PUT /logger, PUT /machine-config (2 vCPUs, 256 MiB), PUT /boot-source (kernel, initrd,
#   console=ttyS0 ...), PUT /drives/rootfs (a 4 MiB read-only image), GET /vm/config,
#   PUT /actions InstanceStart, GET /.
# One boot. Usage: linux-api.sh --kite PATH [--work DIR] [--timeout S] [--append ARGS]
# Env: KITE_KERNEL_CACHE (see tests/lib/kernel/fetch.sh)
# Pass iff: the socket appeared; GET / said "Not started" before the start; every PUT got 204 and
# GET /vm/config 200 with the 2 vCPUs, 256 MiB, the kernel and the drive; GET / after InstanceStart
# said "Running"; L2 printed "KITE-L2-OK <cloud kernel release> cpus=2"; kite exited with status 0
# after L2's power-off, removed its socket and wrote "vm: started" to the logger's file; no line of
# L2's console or kernel log matches tests/linux/l2-problems.ere (RCU stall, lockup, hung task,
# unstable clocksource, "APIC timer disabled", "PCI: Fatal", WARNING/BUG/Oops, panic), except the
# nested-only lines of tests/linux/l2-known-nested.ere (as in the other nested tests).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
lin=$top/tests/linux
name=linux-api
. "$top/tests/lib/nested-run.sh"   # options, kernels, L1 launch, check, problem filter
cpus=2 memory=256
nested_options false "$@"
command -v curl >/dev/null || die "curl not installed (scripts/deps.sh)"
case $append_extra in *'"'*|*'\'*) die "--append: no quotes or backslashes (it goes into a JSON string)" ;; esac
l2k=$(nested_kernel cloud) || exit 1
l1k=$(nested_kernel generic) || exit 1
release=$(cat "$l2k/version")
marker="kite-la-$(od -An -tx8 -N 8 /dev/urandom | tr -d ' ')"

. "$top/tests/lib/initramfs.sh"   # api_lab_roots, make_cpio

# L2: busybox and tests/linux's /init (marker, problem lines of the kernel log, power-off); L1:
# busybox, kvm-amd (and tun, which nested-init.sh loads), kite and curl with their libraries, the L2
# kernel and initramfs
api_lab_roots "$work" "$l1k" "$l2k" "$lin/l2-init.sh" "$here/l1-api-init.sh" "$kite"
l1root=$work/l1-root
l2_cmdline="console=ttyS0 loglevel=4 panic=-1${append_extra:+ $append_extra}"
cat >"$l1root/etc/l1.conf" <<CONF
L2_CMDLINE="$l2_cmdline"
L2_MEMORY=$memory
L2_CPUS=$cpus
L2_TIMEOUT=$((timeout_s - 60))
CONF
make_cpio "$l1root" "$work/l1-initrd.cpio" || die "L1 cpio failed"

echo "linux-api: L1 $(cat "$l1k/version") (QEMU TCG, -cpu EPYC), L2 $release under kite --api-sock; log $log"
t0=$(date +%s)
nested_l1_start "$log" "$l1k" "$work/l1-initrd.cpio" "$timeout_s"
wait $nested_l1_pid
qrc=$?
echo "linux-api: L1 QEMU exit $qrc after $(( $(date +%s) - t0 )) s"
tr -d '\r' <"$log" | grep -a -E '^(KITE-L1A|L2\| KITE-L2-OK)'

# ---- checks: every line below must hold
clean() { tr -d '\r' <"$log"; }
# api N METHOD PATH: the HTTP code of the Nth such request ("none" if it was not made)
api() { clean | grep -a "^KITE-L1A api $2 $3 " | sed -n "$1p" | cut -d' ' -f5 | grep . || echo none; }
# reply N METHOD PATH: its body
reply() { clean | grep -a "^KITE-L1A api $2 $3 " | sed -n "$1p" | cut -d' ' -f6-; }
state() { reply "$1" GET / | grep -o '"state": *"[^"]*"' | sed 's/.*: *"//; s/"$//'; }
has() { case "$1" in *$2*) echo yes ;; *) echo "no ($2 not in: $1)" ;; esac; }
v() { clean | grep -a "^KITE-L1A $1 " | tail -n 1 | cut -d' ' -f3; }

check "L1 finished" "$(clean | grep -a -c '^KITE-L1A-DONE')" 1
check "L1 has /dev/kvm" "$(clean | grep -a -c '^KITE-L1A no-dev-kvm')" 0
check "kite's API socket appeared" "$(v socket)" yes
check "GET / before the start -> 200" "$(api 1 GET /)" 200
check "GET / before the start: Not started" "$(state 1)" "Not started"
for p in /logger /machine-config /boot-source /drives/rootfs /actions; do
	check "PUT $p -> 204" "$(api 1 PUT $p)" 204
done
check "GET /vm/config -> 200" "$(api 1 GET /vm/config)" 200
cfg=$(reply 1 GET /vm/config | tr -d ' ')
check "GET /vm/config: 2 vCPUs" "$(has "$cfg" '"vcpu_count":2')" yes
check "GET /vm/config: 256 MiB" "$(has "$cfg" '"mem_size_mib":256')" yes
check "GET /vm/config: the kernel" "$(has "$cfg" '"kernel_image_path":"/l2/kernel"')" yes
check "GET /vm/config: the root drive" "$(has "$cfg" '"path_on_host":"/tmp/rootfs.img"')" yes
check "GET / after InstanceStart -> 200" "$(api 2 GET /)" 200
check "GET / after InstanceStart: Running" "$(state 2)" Running
check "L2 marker (release, 2 CPUs)" \
	"$(clean | grep -a -c "^L2| KITE-L2-OK $release cpus=$cpus ")" 1
check "L2 powered off (ACPI)" "$(clean | grep -a -c '^L2| .*reboot: Power down')" 1
check "kite exit status" "$(v kite-status)" 0
check "kite removed its socket" "$(v socket-after-exit)" removed
check "the logger's file has \"vm: started\"" "$([ "$(v logger-started)" -ge 1 ] 2>/dev/null && echo yes || echo "no ($(v logger-started))")" yes
# strict: no RCU stall, lockup, hung task, unstable clocksource, WARNING/BUG/Oops or panic in L2's
# console or kernel log (l2-problems.ere; the L1-made lines of l2-known-nested.ere do not count)
problems=$(nested_problems "$log")
check "no RCU stall, lockup, WARNING, BUG, panic... from L2" "$(echo "$problems" | grep -c .)" 0
[ -n "$problems" ] && echo "$problems" | sed 's/^/linux-api:   L2: /'
[ $qrc = 0 ] || { echo "linux-api: FAIL L1 QEMU exit status $qrc (124 = hang guard of ${timeout_s} s)"; fail=1; }
if [ $fail != 0 ]; then
	echo "---- tail of $log"; clean | grep -v "TCG doesn't support" | tail -n 40
	echo "linux-api: FAIL"; exit 1
fi
echo "linux-api: PASS"
