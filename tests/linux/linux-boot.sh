#!/bin/bash
# SPDX-License-Identifier: MIT
#
# linux-boot.sh - boot an unmodified Debian kernel with a busybox initramfs under a VMM (kite by
# default) to a shell command that prints a marker and powers off; pass iff every boot did.
#
# Usage: linux-boot.sh --kite PATH [options]
#   --kite PATH          the kite executable (required unless --vmm qemu)
#   --vmm kite|qemu|kite,qemu   L2 VMM (qemu = reference, only in nested mode); a list boots
#                        each VMM in turn, alternating, in the same L1                 [kite]
#   --cpus "1 2"         one boot per vCPU count                                      [1 2]
#   --repeat N           the whole list of boots N times (all failures are reported)  [1]
#   --l1-cpus N          vCPUs of the nested L1 (QEMU TCG threads)                     [1]
#   --check-log LOG      only check an existing console log of the same options (no boot)
#   --flavour generic|cloud   Debian kernel of the L2 guest                           [generic]
#   --image vmlinuz|vmlinux   bzImage or uncompressed ELF for the L2 guest            [vmlinuz]
#   --mode auto|nested|direct direct: kite on this host's /dev/kvm; nested: kite inside an L1 Linux
#                        under QEMU TCG with an emulated SVM CPU; auto: direct where /dev/kvm is
#                        hardware virtualization (kvm_intel / kvm_amd), else nested       [auto]
#   --work DIR           initramfs trees, images and console logs                     [./linux-work]
#   --timeout S          hang guard for the whole run (each boot gets its share)      [800]
#   --append "ARGS"      extra L2 kernel command line (e.g. "earlyprintk=serial,ttyS0 loglevel=8")
#   --kite-args "ARGS"   extra kite arguments (e.g. "--stats")
#   --qemu-cpu MODEL     -cpu of the reference QEMU inside L1 (--vmm qemu)           [host]
#   --stop-vmm AT:FOR    nested only: L1 stops every VMM process (SIGSTOP) for FOR s, AT s after
#                        its start or, with AT = marker, when L2's marker line arrives (L2's /init
#                        then keeps CPU 0 busy until FOR + 5 s after it, kite.hold, before it reads
#                        its kernel log): the guest's vCPUs are not run, as on a starved host
#   --expect-stall yes   invert the verdict (with --stop-vmm): a boot passes only if it reached
#                        the marker, the VMM exited 0 and the checks found a stall or lockup line
#   --l2-kernel PATH --l2-cmdline STR   diagnostics: boot this image with this exact command line
#                        instead of the Debian kernel (e.g. build/guest/kite-guest.bzImage with
#                        "console=ttyS0 kite.test=timer"); the marker check then fails by design
# Env: KITE_KERNEL_CACHE  where tests/lib/kernel/fetch.sh keeps kernels   [/var/cache/kite-tests]
#
# Checked for every boot (vCPU count N, VMM, repeat), from the console log: the L2 guest printed
# "KITE-L2-OK <kernel release> cpus=N", the VMM exited with status 0, and neither L2's console nor
# its kernel log (lines "KITE-L2-DMESG ..." printed by /init before power-off) has a line matching
# l2-problems.ere: RCU stall, soft/hard lockup, hung task, unstable clocksource, "APIC timer
# disabled", "PCI: Fatal", WARNING/BUG/Oops, panic. In nested mode the lines of
# l2-known-nested.ere are not counted: they come from the emulated L1 CPU and show under QEMU too.
# One line per boot: "linux-boot: PASS|FAIL run=K vmm=V cpus=N ... marker=S poweroff=S vmm-wall=S
# stalls=C exits=E [work=...]" (marker: L2 uptime at the marker; poweroff: L2 uptime at "reboot:
# Power down"; vmm-wall: VMM start to exit in L1; stalls: RCU stall / lockup / hung task lines;
# exits: KVM exits of the VM, L1's last sample before the VMM ended, "-" in direct mode;
# l0cpu-marker / l0cpu-kernel / l0cpu-run: CPU seconds this host gave the nested L1 from the VMM's
# start to the marker / from the L2 kernel's start to the marker / from the VMM's start to its
# exit, "-" where not measured: see l0_cpu_watch).
# Exit status: 0 pass, 1 fail (the reasons are printed, the full console log path too).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
name=linux-boot
. "$top/tests/lib/nested-run.sh"   # nested_l1_modules, nested_l1_start (its own options and checks)
kite=""
vmm=kite
cpus_list="1 2"
repeat=1
l1_cpus=1
check_only=""
flavour=generic
image=vmlinuz
mode=auto
work=./linux-work
timeout_s=800
append_extra=""
kite_args=""
cache=${KITE_KERNEL_CACHE:-/var/cache/kite-tests}
l2_kernel_override=""
qemu_cpu=host
stop_vmm=""
expect_stall=no
l2_cmdline_override=""

die() { echo "linux-boot: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || die "option $1 needs a value"
	case $1 in
	--kite) kite=$2 ;;
	--vmm) vmm=$2 ;;
	--cpus) cpus_list=$2 ;;
	--repeat) repeat=$2 ;;
	--l1-cpus) l1_cpus=$2 ;;
	--check-log) check_only=$2 ;;
	--flavour) flavour=$2 ;;
	--image) image=$2 ;;
	--mode) mode=$2 ;;
	--work) work=$2 ;;
	--timeout) timeout_s=$2 ;;
	--append) append_extra=$2 ;;
	--kite-args) kite_args=$2 ;;
	--l2-kernel) l2_kernel_override=$2 ;;
	--qemu-cpu) qemu_cpu=$2 ;;
	--stop-vmm) stop_vmm=$2 ;;
	--expect-stall) expect_stall=$2 ;;
	--l2-cmdline) l2_cmdline_override=$2 ;;
	*) die "unknown option $1 (see the header of $0)" ;;
	esac
	shift 2
done

vmms=$(echo "$vmm" | tr ',' ' ')
for v in $vmms; do
	case $v in kite|qemu) ;; *) die "--vmm $vmm: expected kite, qemu or a comma list of them" ;; esac
done
[ -n "$vmms" ] || die "--vmm: empty"
case $repeat in ''|0|*[!0-9]*) die "--repeat '$repeat': expected a positive number" ;; esac
case $l1_cpus in ''|0|*[!0-9]*) die "--l1-cpus '$l1_cpus': expected a positive number" ;; esac
case $stop_vmm in ''|[0-9]*:[0-9]*|marker:[0-9]*) ;; *) die "--stop-vmm '$stop_vmm': expected AT:FOR (seconds)" ;; esac
case $expect_stall in yes|no) ;; *) die "--expect-stall '$expect_stall': expected yes or no" ;; esac
case $image in vmlinuz|vmlinux) ;; *) die "--image $image: expected vmlinuz or vmlinux" ;; esac
for n in $cpus_list; do
	case $n in ''|*[!0-9]*) die "--cpus '$cpus_list': not a list of numbers" ;; esac
done
if echo " $vmms " | grep -q ' kite '; then
	[ -n "$kite" ] || die "--kite PATH is required"
	[ -x "$kite" ] || die "$kite: not an executable"
	kite=$(cd "$(dirname "$kite")" && pwd)/$(basename "$kite")
fi

if [ "$mode" = auto ]; then
	if [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; then mode=direct; else mode=nested; fi
fi
case $mode in nested|direct) ;; *) die "--mode $mode: expected auto, nested or direct" ;; esac
[ "$mode" = direct ] && [ "$vmms" != kite ] && die "--vmm qemu exists only in nested mode"
[ "$mode" = direct ] && [ -n "$stop_vmm" ] && die "--stop-vmm exists only in nested mode (--mode nested)"

# L2: quiet console (in nested mode every serial byte is several nested exits)
l2_cmdline="console=ttyS0 loglevel=4 panic=-1 $append_extra"
case $stop_vmm in marker:*) l2_cmdline="$l2_cmdline kite.hold=$((${stop_vmm#marker:} + 5))" ;; esac
[ -n "$l2_cmdline_override" ] && l2_cmdline=$l2_cmdline_override
l2_memory=256
# the boots in order: "vmm:cpus" for each repeat, each vCPU count, each VMM (alternating)
runs=""
for r in $(seq "$repeat"); do
	for n in $cpus_list; do
		# odd repeats in --vmm order, even ones reversed: a drift of the host load hits both
		order=$vmms
		[ $((r % 2)) = 0 ] && order=$(echo $vmms | tr ' ' '\n' | tac | tr '\n' ' ')
		for v in $order; do runs="$runs $v:$n"; done
	done
done
# per-boot hang guard: the runs share the whole budget, minus a minute for L1 and the checks
nruns=$(echo $runs | wc -w)
[ "$nruns" -gt 0 ] || die "--cpus: empty list"
boot_timeout=$(( (timeout_s - 60) / nruns ))
[ $boot_timeout -ge 30 ] || boot_timeout=30

mkdir -p "$work" || die "$work: cannot create"
work=$(cd "$work" && pwd)
log=$work/console-$mode-$(echo $vmms | tr ' ' '-')-$flavour-$image.log

# ---------------------------------------------------------------- kernels
"$top/tests/lib/kernel/fetch.sh" "$flavour" "$cache/kernel-$flavour" || die "cannot get the $flavour kernel"
l2k=$cache/kernel-$flavour
l2_release=$(cat "$l2k/version")
l2_image=$l2k/$image
if [ -n "$l2_kernel_override" ]; then
	[ -r "$l2_kernel_override" ] || die "$l2_kernel_override: not readable"
	l2_image=$l2_kernel_override
fi
if [ "$mode" = nested ]; then
	"$top/tests/lib/kernel/fetch.sh" generic "$cache/kernel-generic" || die "cannot get the generic kernel for L1"
	l1k=$cache/kernel-generic
fi

# ---------------------------------------------------------------- initramfs helpers
marker=kite-linux-boot              # /etc/marker of each root (unused here)
. "$top/tests/lib/initramfs.sh"   # new_root, add_module, add_program, make_cpio

# ---------------------------------------------------------------- L2 initramfs
l2root=$work/l2-root
new_root "$l2root" || die "$l2root: cannot build the L2 tree"
install -m 755 "$here/l2-init.sh" "$l2root/init" && cp "$here/l2-problems.ere" "$l2root/etc/" ||
	die "$l2root/init: cannot install"
make_cpio "$l2root" "$work/l2-initrd.cpio" || die "$work/l2-initrd.cpio: cpio failed"

# ---------------------------------------------------------------- check one console log
# check_log LOG: one verdict line per "L1: run id=K ..." of LOG (see the header); status 1 if any
# boot failed or fewer boots than $nruns finished.
check_log() {
	local lg=$1 pat known="^$"
	pat=$(grep -v -E '^(#|$)' "$here/l2-problems.ere" | paste -s -d '|')
	[ "$mode" = nested ] && known=$(grep -v -E '^(#|$)' "$here/l2-known-nested.ere" | paste -s -d '|')
	tr -d '\r' <"$lg" | awk -v rel="$l2_release" -v pat="$pat" -v known="$known" -v want="$nruns" \
		-v image="$image" -v expect="$expect_stall" -v cpufile="$lg.l0cpu" '
		BEGIN { while ((getline l < cpufile) > 0) { split(l, a, " "); l0[a[1] "," a[2]] = a[3] } }
		function l0cpu(from, to) {
			if (!((to "," id) in l0) || !((from "," id) in l0)) return "-"
			return sprintf("%.2f", l0[to "," id] - l0[from "," id])
		}
		function verdict(st, wall,   res, out) {
			res = "PASS"
			if (!ok) res = "no marker line \"KITE-L2-OK " rel " cpus=" cpus "\" from L2"
			else if (st != "0") res = "VMM exit status " st
			else if (expect == "yes" && !stalls) res = "no stall or lockup line although the VMM was stopped"
			else if (expect != "yes" && nprob) res = nprob " problem line(s) from L2:" probs
			if (res != "PASS") fail++
			out = (res == "PASS" ? "PASS" : "FAIL") " run=" id " vmm=" vmm " cpus=" cpus " kernel=" rel \
				" image=" image " marker=" marker " poweroff=" off " vmm-wall=" wall " stalls=" stalls \
				" exits=" exits " l0cpu-marker=" l0cpu("start", "marker") \
				" l0cpu-kernel=" l0cpu("kernel", "marker") " l0cpu-run=" l0cpu("start", "end")
			if (work != "") out = out " work=" work
			if (res != "PASS") out = out ": " res
			else if (expect == "yes") out = out ": the checks caught the stop:" probs
			print "linux-boot: " out
			done++
		}
		function field(name,   i, kv) {
			for (i = 1; i <= NF; i++) if (index($i, name "=") == 1) return substr($i, length(name) + 2)
			return ""
		}
		/^L1: run id=[0-9]+ / {
			if (inrun) verdict("never-finished", "-")
			inrun = 1; id = field("id"); vmm = field("vmm"); cpus = field("cpus")
			ok = 0; marker = "-"; off = "-"; work = ""; nprob = 0; stalls = 0; probs = ""; exits = "-"
			split("", seen)
			next
		}
		inrun && index($0, "L2| ") == 1 {
			line = substr($0, 5)
			if (index(line, "KITE-L2-OK " rel " cpus=" cpus " ") == 1) {
				ok = 1; marker = line; sub(/.*uptime=/, "", marker)
			}
			if (index(line, "KITE-L2-WORK ") == 1) { work = substr(line, 14); gsub(/ /, ",", work) }
			if (line ~ /\] reboot: Power down/) { off = line; sub(/^\[ */, "", off); sub(/\].*/, "", off) }
			text = line; sub(/^KITE-L2-DMESG /, "", text)
			if (text ~ pat && text !~ known && !(text in seen)) {
				seen[text] = 1; nprob++
				if (text ~ /stall|timer wakeup didn.t happen|starved|lockup|LOCKUP|blocked for more than/)
					stalls++
				if (nprob <= 4) probs = probs " \"" text "\""
			}
			next
		}
		inrun && /^L1: kvm \(last sample before exit\):/ { exits = field("exits") }
		inrun && /^KITE-L1-RESULT id=/ {
			inrun = 0
			verdict(field("status"), sprintf("%.2f", field("end") - field("start")))
		}
		END {
			if (inrun) verdict("never-finished (hang guard hit?)", "-")
			if (done < want) { print "linux-boot: FAIL: " done " of " want " boots ran"; fail++ }
			print "linux-boot: " done " boots, " fail + 0 " failed"
			exit fail > 0
		}'
}

if [ -n "$check_only" ]; then
	[ -r "$check_only" ] || die "$check_only: not readable"
	check_log "$check_only"
	exit $?
fi

# ---------------------------------------------------------------- direct mode
if [ "$mode" = direct ]; then
	: >"$log"
	id=0
	for run in $runs; do
		id=$((id + 1))
		n=${run#*:}
		t0=$(date +%s.%N)
		echo "L1: run id=$id vmm=kite cpus=$n start" >>"$log"
		# shellcheck disable=SC2086
		timeout -k 5 "$boot_timeout" "$kite" --kernel "$l2_image" --initrd "$work/l2-initrd.cpio" \
			--cmdline "$l2_cmdline" --memory "$l2_memory" --cpus "$n" $kite_args </dev/null 2>&1 |
			sed 's/^/L2| /' >>"$log"
		echo "KITE-L1-RESULT id=$id vmm=kite cpus=$n status=${PIPESTATUS[0]} start=$t0 end=$(date +%s.%N)" >>"$log"
	done
	check_log "$log"; rc=$?
	[ $rc = 0 ] || { echo "---- tail of $log"; tail -n 40 "$log"; }
	echo "linux-boot: console log $log"
	exit $rc
fi

# ---------------------------------------------------------------- L1 initramfs (nested mode)
l1root=$work/l1-root
new_root "$l1root" || die "$l1root: cannot build the L1 tree"
install -m 755 "$here/l1-init.sh" "$l1root/init" || die "$l1root/init: cannot install"
install -m 644 "$top/tests/lib/nested-init.sh" "$l1root/etc/nested-init.sh" || die "cannot install nested-init.sh"
# kvm-amd needs kvm and ccp, kvm needs irqbypass (Debian ships no modules.dep: order is fixed here)
nested_l1_modules "$l1root" "$l1k"
mkdir -p "$l1root/l2"
cp "$l2_image" "$l1root/l2/kernel" && cp "$work/l2-initrd.cpio" "$l1root/l2/initrd" ||
	die "$l1root/l2: cannot copy the L2 kernel and initramfs"
if echo " $vmms " | grep -q ' kite '; then
	add_program "$l1root" "$kite" /usr/bin/kite || die "$kite: cannot copy it and its libraries"
fi
if echo " $vmms " | grep -q ' qemu '; then
	add_program "$l1root" "$(command -v qemu-system-x86_64)" /usr/bin/qemu-system-x86_64 ||
		die "qemu-system-x86_64: cannot copy it and its libraries"
	mkdir -p "$l1root/usr/share/qemu"
	for f in /usr/share/seabios/bios-256k.bin /usr/share/qemu/{linuxboot_dma,linuxboot,kvmvapic,pvh}.bin; do
		cp -L "$f" "$l1root/usr/share/qemu/" || die "$f: cannot copy QEMU firmware"
	done
fi
cat >"$l1root/etc/l1.conf" <<EOF
RUNS="$(echo $runs)"
L2_CMDLINE="$l2_cmdline"
L2_MEMORY=$l2_memory
L2_TIMEOUT=$boot_timeout
KITE_EXTRA="$kite_args"
QEMU_CPU="$qemu_cpu"
QEMU_EXTRA="${QEMU_EXTRA:-}"
L1_SHMEM_THP="${L1_SHMEM_THP:-}"
L1_TRACE="${L1_TRACE:-}"
L1_STOP="$stop_vmm"
EOF
make_cpio "$l1root" "$work/l1-initrd.cpio" || die "$work/l1-initrd.cpio: cpio failed"

# ---------------------------------------------------------------- run L1 under QEMU TCG
# l0_cpu_watch TIMEOUT_PID LOG: every 0.5 s, the CPU seconds this host gave the L1 QEMU (child of
# TIMEOUT_PID; with -smp 1 one TCG thread runs L1 and all in it) when LOG shows a run's start,
# the L2 kernel running (L1's KVM logs one "Unhandled WRMSR(0xc0010007)" per VM when L2's perf
# driver starts, ~0.1 s into the kernel, after any firmware), L2's marker and the run's end:
# lines "start|kernel|marker|end RUN_ID CPU_S". Unlike L2's uptime, the differences are the work
# a boot took, whatever the host's load (check_log prints them as l0cpu-*).
l0_cpu_watch() {
	local tpid=$1 lg=$2 q="" tck cpu s k m e starts=0 kernels=0 marks=0 ends=0
	tck=$(getconf CLK_TCK)
	while kill -0 "$tpid" 2>/dev/null; do
		[ -n "$q" ] || q=$(awk '{ print $1 }' "/proc/$tpid/task/$tpid/children" 2>/dev/null)
		if [ -n "$q" ] && cpu=$(awk -v t="$tck" '{ sub(/.*\) /, ""); printf "%.2f", ($12 + $13) / t }' \
			"/proc/$q/stat" 2>/dev/null); then
			s=$(grep -a -c '^L1: run id=' "$lg"); m=$(grep -a -c '^L2| KITE-L2-OK ' "$lg")
			e=$(grep -a -c '^KITE-L1-RESULT ' "$lg"); k=$(grep -a -c 'Unhandled WRMSR(0xc0010007)' "$lg")
			while [ "$starts" -lt "$s" ]; do starts=$((starts + 1)); echo "start $starts $cpu"; done
			[ "$kernels" -lt "$k" ] && { kernels=$k; echo "kernel $starts $cpu"; }
			[ "$marks" -lt "$m" ] && { marks=$m; echo "marker $starts $cpu"; }
			while [ "$ends" -lt "$e" ]; do ends=$((ends + 1)); echo "end $ends $cpu"; done
		fi
		sleep 0.5
	done
	# L1 powers off within 0.5 s of its last run's end: that end gets the last sample
	e=$(grep -a -c '^KITE-L1-RESULT ' "$lg")
	while [ "$ends" -lt "$e" ]; do ends=$((ends + 1)); echo "end $ends $cpu"; done
}

echo "linux-boot: nested: L1 $(cat "$l1k/version") under QEMU TCG (-cpu EPYC -smp $l1_cpus), L2 $l2_release" \
	"($image), runs:$runs; console log $log"
t0=$(date +%s.%N)
L1_CPUS=$l1_cpus nested_l1_start "$log" "$l1k" "$work/l1-initrd.cpio" "$timeout_s"
l1pid=$nested_l1_pid
l0_cpu_watch "$l1pid" "$log" >"$log.l0cpu" &
watcher=$!
wait $l1pid
qrc=$?
kill $watcher 2>/dev/null; wait $watcher 2>/dev/null
t1=$(date +%s.%N)
check_log "$log"; rc=$?
grep -a -q '^KITE-L1-DONE' "$log" || { echo "linux-boot: FAIL: L1 never printed KITE-L1-DONE"; rc=1; }
[ $qrc = 0 ] || { echo "linux-boot: FAIL: L1 QEMU exit status $qrc (124 = hang guard of ${timeout_s} s)"; rc=1; }
grep -a -E '^(L1: |KITE-L1-RESULT)' "$log" | tr -d '\r'
echo "linux-boot: L1 QEMU wall time $(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }") s"
[ $rc = 0 ] || { echo "---- tail of $log"; tr -d '\r' <"$log" | grep -v "TCG doesn't support" | tail -n 40; }
exit $rc
