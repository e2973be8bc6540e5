#!/bin/bash
# SPDX-License-Identifier: MIT
#
# fio_bench.sh - fio in a real Linux guest, as users measure a virtio disk (issue 12). Nested, like
# tests/linux/linux-virtio.sh: an L1 Linux under QEMU TCG with an emulated SVM CPU (-smp 2) boots
# the same L2 (Debian's generic kernel, 1 vCPU, busybox and Debian's fio with its libraries in the
# initramfs) once per set-up and round, alternating (fio-l1-init.sh): kite and QEMU (-accel kvm)
# with in-process virtio-blk, then kite's vhost-user-blk frontend with kite-dpu and with
# qemu-storage-daemon as the backend. All use one raw image in L1's tmpfs. L2 runs each fio job of
# $JOBS on /dev/vda (fio-l2-init.sh: libaio, O_DIRECT, short time-based runs); in the kite and qemu
# set-ups L2 then pings L1 through the VMM's virtio-net and a TAP. fio_bench.py turns the console
# log into "name value unit" lines: per job and set-up the median and min-max of IOPS and clat
# p50/p99, the ratios kite/QEMU and kite-dpu/qsd pair by pair (one round = one pair), and the ping
# round trip's p50/p99.
#
# Usage: fio_bench.sh --kite KITE --dpu KITE_DPU [--work DIR] [--timeout S] [--rounds N]
#                     [--setups "kite qemu kite-dpu qsd"]   (also kite-sync, kite-poll: kite's
#                     disk with aio=sync, poll=50) [--runtime S] [--ramp S] [--disk-mb N]
#                     [--jobs "name:rw:bs:qd ..."] [--engine libaio|io_uring] [--l2-memory MB]
#                     [--pings N] [--perf "SETUP ..."]   (one more, uncounted boot of each SETUP
#                     under perf record -a in L1, the top of perf report in the output)
#                     [--rerun-triple-faults yes|no]   (yes: an L2 triple fault of any set-up counts as lost to the
#                     lab and the boot runs again, as QEMU's lost boots do: named in the results; the
#                     reasons are in docs/benchmarks.md, section "kite-dpu vs qsd in real Linux")
#                     [--trace-exits yes|no]   (yes: L1 traces its KVM's exits, injected exceptions and
#                     emulated instructions, and prints the last 30 before an L2 triple fault; slower)
#                     [--l2-timeout S]   (L1's hang guard per boot; default (timeout - 120) / boots)
#                     [--l1-hugepages N] (2 MiB pages reserved in L1, default L2's memory / 2 MiB + 8:
#                     every set-up's L2 RAM on them, kite's by its default, QEMU's by a hugetlb memfd
#                     backend; 0: none, kite's shared RAM then 4 KiB shmem pages, in which L2s
#                     triple-fault in this lab, docs/benchmarks.md) [--l1-thp always|madvise|never]
# Set-ups kite-shared and qemu-shared (controls): kite with --shared-memory, QEMU with a shared memfd
# backend: the in-process set-ups with the shared memory of the vhost-user ones (fio-l1-init.sh).
# kite-pinned: kite on L1 CPU 0 as in the vhost-user set-ups; qemu-dpu, qemu-qsd: QEMU's
# vhost-user-blk-pci frontend with kite-dpu / qsd (ratio qemu-dpu over qemu-qsd).
# Env: KITE_KERNEL_CACHE (tests/lib/kernel/fetch.sh)
# Prints the figures on stdout; the console log is WORK/console.log (the logs of every L1 in turn;
# WORK/console.N.log and WORK/l1-qemu.N.log, the L1 QEMU's -d cpu_reset log, per L1).
# Boots lost to the lab, and run again (alternation kept: the same boot, in its place):
#   - L2 did not finish under QEMU (panic, hang, no "KITE-FIO done"): L1 runs that boot again at
#     once, up to 3 times ("KITE-FIOL1 lost ... cause=..."). Seen: a double fault at
#     entry_SYSCALL_64+0 with IF clear and a user RSP, an event the emulated SVM delivered where no
#     CPU delivers one; kite is not in that boot.
#   - L1 reset (its QEMU log says "Triple fault", its QEMU exits 0 with no line; a reset while L2
#     runs would be an SVM shutdown exit to L1, so it is L1's own kernel in TCG's emulated SVM): a
#     fresh L1 (kite.fio_skip=N) continues with the boot the reset cut short ("KITE-FIOBENCH lost").
#   - L1 hung (its console silent for the L2 hang guard + 180 s; seen after a QEMU L2 hung: once
#     with both L1 CPUs idle for good, once after L1's hang guard fired): stopped, and a fresh L1
#     continues as after a reset ("cause=l1-hang").
#   The results count and name them per set-up: "fio.lost_boots.S N count" and "# lost boots S: ...".
# Not re-run: a boot with kite in it (kite, kite-*, qsd: kite is the frontend) that hangs, panics L2
# or does not finish is a failure ("KITE-FIOL1 failed ..."; a hang first gets "KITE-FIOL1 hang ..."
# lines: threads' state, wchan, stack, L1 KVM counters and L2's exits and RIPs, then SIGTERM so that
# kite --stats prints its vCPU counters). Exit status 1 if a boot failed, an L1 ended otherwise, or
# a job gave no figure (the figures that exist are still printed).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
name=fio-bench
. "$top/tests/lib/nested-run.sh"   # options, kernels, L1 launch
dpu="" rounds=5 setups="kite qemu kite-dpu qsd" runtime=5 ramp=1 disk_mb=64 engine=libaio l2_memory=512 pings=200 perf_setups="" l2_timeout="" l1_hugepages="" l1_thp="" rerun_tf=0 trace_exits=0
jobs="randread4k_qd1:randread:4k:1 randread4k_qd32:randread:4k:32 randwrite4k_qd1:randwrite:4k:1"
jobs="$jobs randwrite4k_qd32:randwrite:4k:32 read64k_qd32:read:64k:32"
timeout_s=3600
fio_option() {
	case $1 in
	--dpu) dpu=$2 ;;
	--rounds) rounds=$2 ;;
	--setups) setups=$2 ;;
	--runtime) runtime=$2 ;;
	--ramp) ramp=$2 ;;
	--disk-mb) disk_mb=$2 ;;
	--jobs) jobs=$2 ;;
	--engine) engine=$2 ;;
	--l2-memory) l2_memory=$2 ;;
	--pings) pings=$2 ;;
	--perf) perf_setups=$2 ;;
	--l2-timeout) l2_timeout=$2 ;;
	--trace-exits) case $2 in yes) trace_exits=1 ;; no) trace_exits=0 ;;
		*) die "--trace-exits '$2': yes or no" ;; esac ;;
	--rerun-triple-faults) case $2 in yes) rerun_tf=1 ;; no) rerun_tf=0 ;;
		*) die "--rerun-triple-faults '$2': yes or no" ;; esac ;;
	--l1-hugepages) l1_hugepages=$2 ;;
	--l1-thp) l1_thp=$2 ;;
	*) return 1 ;;
	esac
}
nested_options fio_option "$@"
for s in $setups; do
	case $s in kite|kite-sync|kite-poll|kite-shared|kite-pinned|qemu|qemu-shared) ;; kite-dpu|qsd|qemu-dpu|qemu-qsd) [ -x "$dpu" ] || [ "${s#qemu-}" = qsd ] || die "--dpu '$dpu': not an executable" ;;
	*) die "--setups: unknown set-up '$s' (kite, kite-sync, kite-poll, kite-shared, kite-pinned, qemu, qemu-shared, kite-dpu, qsd, qemu-dpu, qemu-qsd)" ;; esac
done
case $l2_memory in *[!0-9]*|"") die "--l2-memory '$l2_memory': not a number" ;; esac
l1_hugepages=${l1_hugepages:-$(( (l2_memory + 1) / 2 + 8 ))}
case $l1_hugepages in *[!0-9]*|"") die "--l1-hugepages '$l1_hugepages': not a number" ;; esac
case $l1_thp in ""|always|madvise|never) ;; *) die "--l1-thp '$l1_thp': always, madvise or never" ;; esac
for t in fio qemu-storage-daemon; do command -v $t >/dev/null || die "$t not installed (scripts/deps.sh)"; done
k=$(nested_kernel generic) || exit 1
marker=kite-fio-bench
. "$top/tests/lib/initramfs.sh"   # new_root, add_module, add_program, make_cpio, $l2_virtio_modules

. "$here/fio-guest.sh"   # fio_guest_cpio

# L2: fio and its libraries, the virtio modules, fio-l2-init.sh
fio_guest_cpio "$k" "$work/l2-root" "$work/l2-initrd.cpio" "$jobs" "$runtime" "$ramp" "$engine" "$pings"

# L1: kvm-amd and tun, kite, kite-dpu, QEMU (with its firmware) and qemu-storage-daemon
l1root=$work/l1-root
new_root "$l1root" || die "$l1root: cannot build"
install -m 755 "$here/fio-l1-init.sh" "$l1root/init" || die "cannot install the L1 /init"
nested_l1_modules "$l1root" "$k"
mkdir -p "$l1root/l2" "$l1root/usr/share/qemu"
cp "$k/vmlinuz" "$l1root/l2/kernel" && cp "$work/l2-initrd.cpio" "$l1root/l2/initrd" || die "cannot copy L2"
add_program "$l1root" "$kite" /usr/bin/kite || die "$kite: cannot copy it and its libraries"
[ -n "$dpu" ] && { add_program "$l1root" "$dpu" /usr/bin/kite-dpu || die "$dpu: cannot copy it"; }
add_program "$l1root" "$(command -v qemu-system-x86_64)" /usr/bin/qemu-system-x86_64 || die "cannot copy QEMU"
add_program "$l1root" "$(command -v qemu-storage-daemon)" /usr/bin/qemu-storage-daemon || die "cannot copy qsd"
for f in /usr/share/seabios/bios-256k.bin /usr/share/qemu/{linuxboot_dma,linuxboot,kvmvapic,pvh}.bin; do
	cp -L "$f" "$l1root/usr/share/qemu/" || die "$f: cannot copy QEMU firmware"
done
nboots=$(( rounds * $(echo $setups | wc -w) + $(echo $perf_setups | wc -w) ))
if [ -n "$perf_setups" ]; then
	add_program "$l1root" "$(command -v perf)" /usr/bin/perf || die "perf: cannot copy it and its libraries"
fi
l2_timeout_s=${l2_timeout:-$(( (timeout_s - 120) / nboots ))}
l1_silence=$((l2_timeout_s + 180))
cat >"$l1root/etc/l1.conf" <<CONF
L2_CMDLINE="console=ttyS0 loglevel=4 panic=-1 $append_extra"
L2_MEMORY=$l2_memory
L2_TIMEOUT=$l2_timeout_s
DISK_MB=$disk_mb
ROUNDS=$rounds
SETUPS="$setups"
PERF_SETUPS="$perf_setups"
L1_HUGEPAGES=$l1_hugepages
L1_THP=$l1_thp
RERUN_TF=$rerun_tf
TRACE_EXITS=$trace_exits
CONF
install -m 644 "$top/tests/lib/nested-init.sh" "$l1root/etc/nested-init.sh" || die "cannot install nested-init.sh"
install -m 755 "$here/fio-l1-kvm-counters.sh" "$l1root/etc/kvm-counters.sh" || die "cannot install kvm-counters.sh"
make_cpio "$l1root" "$work/l1-initrd.cpio" || die "L1 cpio failed"

echo "# fio-bench: L1 and L2 $(cat "$k/version"); L1 QEMU TCG -smp 2; $rounds rounds of: $setups;" \
	"jobs: $jobs; runtime ${runtime}s ramp ${ramp}s, $engine, direct; disk $disk_mb MiB in L1 tmpfs;" \
	"L1 hugepages $l1_hugepages, thp ${l1_thp:-default}; log $log"
echo "# fio-bench: load average at start: $(cut -d' ' -f1-3 /proc/loadavg) ($(date -u +%H:%M:%S) UTC)"
t0=$(date +%s)
# L1 after L1: an L1 whose QEMU log says "Triple fault" reset, and an L1 whose kernel panicked
# ("Kernel panic" on its console: seen as recursive page faults at a %gs access after a nested
# VM exit, as "corrupted stack end detected inside scheduler", and as a soft lockup of the CPU that
# runs QEMU's L2 vCPU, which softlockup_panic=1 turns into a panic: before it, such an L1 hung until
# --timeout), ended by TCG's emulated SVM or L1's KVM: no kite code runs in L1's kernel; a fresh
# L1 then runs the remaining boots, from the one the reset or panic lost (kite.fio_skip = the boots
# done), and the lost boot is named with the cause. Any other end of an L1 without KITE-FIOL1-DONE
# is not retried. At most 3 resets in one boot and 10 in the run.
: >"$log"
: >"$work/running"
# the host's load average every 30 s while L1s run (the figures are ratios; the load says how noisy)
( while [ -e "$work/running" ]; do cut -d' ' -f1 /proc/loadavg; sleep 30; done ) >"$work/loadavg.txt" &
sampler=$!
l1n=0 skip=0 resets=0 same=0 rc=0 lastlost=""
while :; do
	l1n=$((l1n + 1))
	left=$(( timeout_s - ($(date +%s) - t0) ))
	[ "$left" -gt 60 ] || { echo "fio-bench: no time left for L1 number $l1n (--timeout $timeout_s)" >&2; rc=1; break; }
	rm -f "$work/l1-qemu.$l1n.log" "$work/l1-mon.$l1n.sock"
	L1_MONITOR=$work/l1-mon.$l1n.sock L1_QEMU_LOG=$work/l1-qemu.$l1n.log L1_APPEND="${L1_APPEND:-} softlockup_panic=1 kite.fio_skip=$skip" L1_CPUS=2 \
		nested_l1_start "$work/console.$l1n.log" "$k" "$work/l1-initrd.cpio" "$left"
	t1=$(date +%s)
	# an L1 whose console stays silent past L2's own hang guard (which logs) has hung itself (TCG's
	# emulated SVM: seen with both CPUs idle for good): stop it, and a fresh L1 continues below
	hung="" hungcpus=""
	while kill -0 $nested_l1_pid 2>/dev/null; do
		sleep 5
		quiet=$(( $(date +%s) - $(stat -c %Y "$work/console.$l1n.log" 2>/dev/null || date +%s) ))
		if [ "$quiet" -gt "$l1_silence" ]; then
			hung="no console output for $quiet s"
			# where L1's CPUs are (three samples 1 s apart; under TCG's SVM a CPU in L2 shows
			# L2's registers): the dump in l1-hang.N.txt, each sample's RIPs in the log
			for _ in 1 2 3; do
				nested_l1_monitor "$work/l1-mon.$l1n.sock" "info cpus" "info registers -a"
				sleep 1
			done >"$work/l1-hang.$l1n.txt"
			hungcpus=$(grep -a -E '^(CPU#[0-9]|RIP=)' "$work/l1-hang.$l1n.txt" |
				awk '/^CPU#/ { c = $1; next } { print c, $1, $2, $4, $NF }' | tr '\n' ';')
			kill $nested_l1_pid 2>/dev/null
			break
		fi
	done
	wait $nested_l1_pid
	qrc=$?
	echo "# fio-bench: L1 number $l1n (skipping $skip boots): QEMU exit $qrc after $(( $(date +%s) - t1 )) s"
	cat "$work/console.$l1n.log" >>"$log"
	[ -z "$hung" ] || echo "KITE-FIOBENCH l1-hang-cpus L1 number $l1n: ${hungcpus:-no monitor reply}" >>"$log"
	grep -a -q '^KITE-FIOL1-DONE' "$work/console.$l1n.log" && break
	why=""
	if [ -n "$hung" ]; then
		why="l1-hang" what="$hung"
	elif [ "$qrc" = 0 ] && grep -a -q '^Triple fault' "$work/l1-qemu.$l1n.log"; then
		why="l1-reset" what="Triple fault in its QEMU log"
	elif [ "$qrc" = 0 ] && panic=$(tr -d '\r' <"$work/console.$l1n.log" | grep -a -v '^L2|' | grep -a -m 1 -o 'Kernel panic - .*'); then
		why="l1-panic" what="its kernel: $panic"
	fi
	if [ -n "$why" ]; then
		# the boot the reset cut short: the last one started and not ended
		last=$(tr -d '\r' <"$work/console.$l1n.log" | grep -a -E '^KITE-FIOL1 (run|end) ' | tail -n 1)
		if [ "${last#KITE-FIOL1 run }" != "$last" ]; then
			bseq=$(echo "$last" | sed -n 's/.* seq=\([0-9]*\).*/\1/p')
			lost=$(echo "$last" | sed -n 's/.*\(round=[^ ]* setup=[^ ]*\).*/\1/p')
			echo "KITE-FIOBENCH lost $lost cause=$why (L1 number $l1n: $what)" >>"$log"
			skip=$((bseq - 1))
		else
			# between two boots: continue after the last one started (and ended)
			lost=""
			bseq=$(tr -d '\r' <"$work/console.$l1n.log" | grep -a '^KITE-FIOL1 run ' | tail -n 1 | sed -n 's/.* seq=\([0-9]*\).*/\1/p')
			skip=${bseq:-$skip}
		fi
		resets=$((resets + 1))
		[ -n "$lost" ] && [ "$lost" = "$lastlost" ] && same=$((same + 1)) || same=1
		lastlost=$lost
		echo "# fio-bench: L1 number $l1n ended by $why ($what) ${lost:+during $lost}; a fresh L1 continues after boot $skip"
		[ "$resets" -le 10 ] && [ "$same" -le 3 ] && continue
		echo "fio-bench: too many L1 resets or panics ($resets, $same in one boot): stopped" >&2; rc=1; break
	fi
	echo "fio-bench: L1 number $l1n ended (exit $qrc) without KITE-FIOL1-DONE, a triple fault or a kernel panic: not re-run ($work/console.$l1n.log)" >&2
	rc=1; break
done
rm -f "$work/running"; kill $sampler 2>/dev/null; wait $sampler 2>/dev/null
echo "# fio-bench: load average at end: $(cut -d' ' -f1-3 /proc/loadavg) ($(date -u +%H:%M:%S) UTC);" \
	"1-min samples every 30 s: $(sort -n "$work/loadavg.txt" | sed -n '1p;$p' | paste -s -d '-') (min-max)"
echo "# fio-bench: $l1n L1 boot(s), $resets L1 reset(s) or panic(s), $(( $(date +%s) - t0 )) s"
tr -d '\r' <"$log" | grep -a -E '^KITE-FIOL1 (cpus|memory|cpu setup|kvm setup|kvmjob|hang|backend|unknown|disk|no-dev|lost|failed|rerun|continue)|^KITE-FIOBENCH|^KITE-FIOPERF|^L2\| KITE-FIO (disk|no-disk|job=[^ ]* (error|stderr))|^L2\| kite: stats|^L2\| kite: .*guest RAM|^KITE-FIOL1 run ' |
	sed 's/^/# /'
grep -a -q '^KITE-FIOL1-DONE' "$log" || { echo "fio-bench: L1 did not finish (exit $qrc): $log" >&2; rc=1; }
python3 "$here/fio_bench.py" --seconds $((runtime + ramp)) <"$log" || rc=1
exit $rc
