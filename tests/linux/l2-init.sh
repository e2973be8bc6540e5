#!/bin/sh
# SPDX-License-Identifier: MIT
# /init of the L2 guest (busybox initramfs): print the marker the test looks for, then power off.
# The marker names the kernel release and the CPUs Linux brought online, so the harness can check
# that the kernel it asked for runs with the vCPU count it asked for.
# Before powering off, every kernel log line matching /etc/l2-problems.ere (RCU stalls, lockups,
# unstable clocksources, WARNING/BUG/Oops, ...) is printed as "KITE-L2-DMESG <line>": the console
# runs at loglevel=4 and would not show the warnings among them.
# Kernel command line switches (read from /proc/cmdline):
#   kite.work=1   after the marker, a short timed workload: "KITE-L2-WORK compute=S sleep=S"
#                 (compute: one md5sum of 32 MiB per online CPU in parallel; sleep: 50 x 10 ms)
#   kite.diag=1   clocksource, clockevents, timer interrupt counts, CPU flags and the kernel's clock
#                 lines
#   kite.hold=S   keep CPU 0 busy (a shell loop, no sleep) until S seconds of uptime after the
#                 marker, then read the kernel log: the harness stops the VMM at the marker, and a
#                 busy CPU is what the soft lockup detector reports once the VMM runs again (an
#                 idle CPU's first interrupt after the stop resets the detector)
#   kite.gaps=1   where the boot waited: every kernel log line that came >= 20 ms after the one
#                 before it, with the gap and the line before ("KITE-L2-GAP <gap s> <prev> => <line>")
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
# through printk (polled console output, shown even with loglevel=4): proves /init started even
# if the tty's interrupt-driven output below never drains
echo "<2>kite-l2: /init started" >/dev/kmsg
echo "KITE-L2-OK $(uname -r) cpus=$(nproc) uptime=$(cut -d' ' -f1 /proc/uptime)"

up() { cut -d' ' -f1 /proc/uptime; }
since() { awk -v a="$1" -v b="$(up)" 'BEGIN { printf "%.2f", b - a }'; }
case " $(cat /proc/cmdline) " in *" kite.work=1 "*)
	t=$(up)
	for i in $(seq "$(nproc)"); do
		dd if=/dev/zero bs=64k count=512 2>/dev/null | md5sum >/dev/null &
	done
	wait
	compute=$(since "$t")
	# 50 timed waits of 10 ms in the shell itself (read -t on a FIFO nobody writes: no fork)
	mkfifo /tmp/never && exec 3<>/tmp/never
	t=$(up)
	for i in $(seq 50); do read -t 0.01 -u 3 x; done
	echo "KITE-L2-WORK compute=$compute sleep=$(since "$t")"
	;;
esac
case " $(cat /proc/cmdline) " in *" kite.diag=1 "*)
	d=/sys/devices/system
	echo "KITE-L2-DIAG clocksource=$(cat $d/clocksource/clocksource0/current_clocksource)" \
		"available=$(cat $d/clocksource/clocksource0/available_clocksource)"
	echo "KITE-L2-DIAG clockevents=$(cat $d/clockevents/clockevent*/current_device | tr '\n' ' ')" \
		"broadcast=$(cat $d/clockevents/broadcast/current_device 2>/dev/null)"
	grep -E '^ *0:|LOC:|RES:|CAL:|i8042' /proc/interrupts | sed 's/^/KITE-L2-DIAG /'
	grep -m 1 -E '^flags' /proc/cpuinfo | sed 's/^/KITE-L2-DIAG cpu /'
	dmesg | grep -E 'clocksource|tsc:|TIMER|PM-Timer|hpet|kvm-clock|kvm-guest|apic' | sed 's/^/KITE-L2-DIAG /'
	# with initcall_debug on the command line: the slowest initcalls
	dmesg | awk '/initcall .* returned .* after [0-9]+ usecs/ {
		for (i = 1; i < NF; i++) if ($i == "after") print $(i + 1), $0 }' |
		sort -n | tail -n 12 | sed 's/^/KITE-L2-DIAG slow-initcall /'
	;;
esac
for a in $(cat /proc/cmdline); do case $a in kite.hold=*)
	read t _ </proc/uptime
	end=$((${t%.*} + ${a#kite.hold=}))
	while read t _ </proc/uptime && [ "${t%.*}" -lt "$end" ]; do :; done
	;;
esac; done
case " $(cat /proc/cmdline) " in *" kite.gaps=1 "*)
	dmesg | awk '{ t = substr($0, 2, index($0, "]") - 2) + 0 }
		NR > 1 && t - pt >= 0.02 { printf "KITE-L2-GAP %.3f %s => %s\n", t - pt, prev, $0 }
		{ pt = t; prev = $0 }'
	;;
esac
dmesg | grep -E -f /etc/l2-problems.ere | sed 's/^/KITE-L2-DMESG /'
poweroff -f
# poweroff returned: the kernel found no way to power off (no ACPI S5?). Say so, then exit init:
# with panic=-1 the resulting panic resets the VM, and the harness sees "Kernel panic" and fails.
echo "KITE-L2-POWEROFF-FAILED"
exit 1
