#!/bin/sh
# SPDX-License-Identifier: MIT
# /init of the L1 Linux that runs under QEMU TCG with an emulated SVM CPU: load KVM, then boot the
# L2 guest once per entry of $RUNS ("vmm:cpus", vmm = kite or qemu, the reference), in order, and
# report each VMM's exit status on the console: "KITE-L1-RESULT id=K ..." (K = 1, 2, ... in $RUNS
# order, also in the "L1: run id=K ... start" line before it). Settings come from /etc/l1.conf (written by the
# harness). Every console line of L2 is prefixed "L2| " so the harness knows who printed what.
export PATH=/bin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /tmp && mount -t tmpfs tmpfs /tmp
mount -t debugfs debugfs /sys/kernel/debug
. /etc/l1.conf
. /etc/nested-init.sh   # thread_ticks

say() { echo "L1: $*"; }
up() { cut -d' ' -f1 /proc/uptime; }

# kvm debugfs counters of all live VMs, one line (a hung L2: is its vCPU still exiting?)
kvm_counters() {
	local d=/sys/kernel/debug/kvm f line=""
	for f in exits halt_exits halt_wakeup irq_injections irq_window_exits io_exits mmio_exits \
		 hypercalls signal_exits insn_emulation pf_taken pf_fixed halt_poll_fail_ns; do
		[ -r $d/$f ] && line="$line $f=$(cat $d/$f)"
	done
	say "kvm:$line"
}

# CPU time of every thread of process $1 in L1 (user+system, 10 ms ticks), one line
thread_cpu() {
	say "cpu ticks:$(thread_ticks $1)"
}

# what every thread of a hung VMM waits for (state, kernel wait channel and stack)
dump_threads() {
	local t
	for t in /proc/$1/task/*; do
		say "thread ${t##*/} $(cat $t/comm): state $(cut -d' ' -f3 $t/stat) wchan $(cat $t/wchan)"
		sed 's/^/L1: |   /' $t/stack 2>/dev/null
	done
}

# L1's clock as a hung L2 sees it: L1's clocksource now, L1's kernel lines about clocks and KVM,
# and the pending timers of L1's CPU 0 with their expiry (KVM's emulated LAPIC timers of L2 are the
# apic_timer_fn hrtimers: one far in the future or none while L2's vCPUs halt = a lost timer)
clock_state() {
	say "clock: L1 uptime $(up) s, clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
	dmesg | grep -i -E 'clocksource|tsc|kvm|hrtimer|timekeeping|watchdog' | tail -n 15 | sed 's/^/L1: | dmesg /'
	awk '/^now at/ { print "L1: | timer_list " $0 } /apic_timer_fn|tick_sched_timer|hrtimer_wakeup/ { fn = $0; getline; print "L1: | timer_list " fn " " $0 }' \
		/proc/timer_list 2>/dev/null | head -n 30
}

# L1_TRACE=1 (diagnostics): trace each VM's exits with L1's kvm tracepoints and print, for the part
# of the boot before L2's /init started (its first console line "kite-l2: /init started" puts a
# mark in the trace when it reaches L1), "L1: trace ..." lines: exits by reason, exits to the VMM by
# reason, port accesses by port and direction (the top 25), MSR accesses (the top 10), and the
# L1 time from the first exit to the mark
trace_on() {
	local t=/sys/kernel/debug/tracing e
	[ -n "${L1_TRACE:-}" ] && [ -d $t/events/kvm ] || return 0
	echo 0 >$t/tracing_on; : >$t/trace
	echo 32768 >$t/buffer_size_kb
	for e in kvm_exit kvm_userspace_exit kvm_pio kvm_mmio kvm_msr; do echo 1 >$t/events/kvm/$e/enable; done
	echo 1 >$t/tracing_on
}

trace_report() {
	local t=/sys/kernel/debug/tracing
	[ -n "${L1_TRACE:-}" ] && [ -d $t/events/kvm ] || return 0
	echo 0 >$t/tracing_on
	awk '/tracing_mark_write: KITE-L2-INIT/ { done = 1 }
		done { next }
		/: kvm_/ { ts = $0; sub(/: kvm_.*/, "", ts); n = split(ts, f, " "); ts = f[n] + 0
		  if (!t0) t0 = ts; t1 = ts }
		/ kvm_exit: / { r = $0; sub(/.* reason /, "", r); sub(/ .*/, "", r); ex[r]++; nex++ }
		/ kvm_userspace_exit: / { r = $0; sub(/.* reason /, "", r); sub(/ .*/, "", r); us[r]++; nus++ }
		/ kvm_pio: / { r = $0; sub(/.* kvm_pio: pio_/, "", r); sub(/ size.*/, "", r); sub(/ at /, ":", r); pio[r]++ }
		/ kvm_msr: / { r = $0; sub(/.* kvm_msr: /, "", r); sub(/ = .*/, "", r); msr[r]++ }
		END {
			if (!done) print "L1: trace: no mark of L2'"'"'s /init: the counts cover the whole run"
			printf "L1: trace to marker: %.3f s of L1 time, %d exits, %d to the VMM\n", t1 - t0, nex, nus
			line = ""; for (k in ex) line = line " " k "=" ex[k]; print "L1: trace exits:" line
			line = ""; for (k in us) line = line " " k "=" us[k]; print "L1: trace to VMM:" line
			for (k in pio) print "L1: trace pio " pio[k] " " k | "sort -k4 -n -r | head -n 25"
			close("sort -k4 -n -r | head -n 25")
			for (k in msr) print "L1: trace msr " msr[k] " " k | "sort -k4 -n -r | head -n 10"
		}' $t/trace
	: >$t/trace
}

# run_vmm CMD...: run the L2 VMM with its console prefixed "L2| ", a hang guard of $L2_TIMEOUT s
# that dumps the VMM's threads and KVM counters before stopping it; exit status in /tmp/status
run_vmm() {
	local pid reader guard
	rm -f /tmp/out && mkfifo /tmp/out
	rm -f /tmp/marker-seen
	# one awk, not a shell loop: a shell reads a pipe byte by byte and, sharing L1's CPU with a
	# busy L2, lagged L2's console by tens of seconds
	awk -v trace="${L1_TRACE:-}" '{ print "L2| " $0; fflush() }
		/^KITE-L2-OK/ { printf "" >"/tmp/marker-seen"; close("/tmp/marker-seen") }
		trace != "" && /kite-l2: \/init started/ {
			m = "/sys/kernel/debug/tracing/trace_marker"; print "KITE-L2-INIT" >m; close(m) }' </tmp/out &
	reader=$!
	"$@" </dev/null >/tmp/out 2>&1 &
	pid=$!
	(
		sleep "$L2_TIMEOUT"
		[ -d /proc/$pid ] || exit 0
		say "hang guard: $1 still running after $L2_TIMEOUT s"
		kvm_counters; dump_threads $pid; clock_state
		sleep 3; kvm_counters; clock_state
		kill -TERM $pid; sleep 5; kill -KILL $pid 2>/dev/null
	) &
	guard=$!
	# L1_STOP="AT:FOR": stop the whole VMM process (SIGSTOP) for FOR s, AT s after its start or,
	# with AT = marker, when L2's marker line reaches the console: its vCPUs are not run, as on a
	# starved host (what the strict checks must catch)
	if [ -n "${L1_STOP:-}" ]; then
		( if [ "${L1_STOP%%:*}" = marker ]; then
			while [ ! -e /tmp/marker-seen ] && [ -d /proc/$pid ]; do sleep 0.2; done
		  else
			sleep "${L1_STOP%%:*}"
		  fi
		  [ -d /proc/$pid ] || exit 0
		  say "stopping the VMM (SIGSTOP) for ${L1_STOP#*:} s at $(up) s"
		  kill -STOP $pid; sleep "${L1_STOP#*:}"; kill -CONT $pid
		  say "VMM continued (SIGCONT) at $(up) s" ) &
	fi
	# KVM's counters die with the VM: keep the last sample (every 2 s) to print after it ends
	( while [ -d /proc/$pid ]; do
		{ kvm_counters; thread_cpu $pid; } >/tmp/kvm.new && mv /tmp/kvm.new /tmp/kvm.last; sleep 2
	  done ) &
	sampler=$!
	wait $pid
	echo $? >/tmp/status
	kill $guard $sampler 2>/dev/null
	wait $reader
	[ -s /tmp/kvm.last ] && sed -e 's/^L1: kvm:/L1: kvm (last sample before exit):/' \
		-e 's/^L1: cpu ticks:/L1: cpu ticks (last sample before exit):/' /tmp/kvm.last
	rm -f /tmp/kvm.last
}

say "init at uptime $(up) s, kernel $(uname -r)"
for m in irqbypass ccp kvm kvm-amd; do
	insmod /lib/modules/$m.ko 2>/tmp/insmod.err || say "insmod $m failed: $(cat /tmp/insmod.err)"
done
if [ ! -c /dev/kvm ]; then
	say "no /dev/kvm after loading kvm-amd (svm flag: $(grep -c -w svm /proc/cpuinfo) cpus); dmesg:"
	dmesg | grep -i -E 'kvm|svm' | sed 's/^/L1: | /'
	echo "KITE-L1-DONE"
	poweroff -f
fi
# guest RAM is a memfd (shmem): let it use 2 MiB pages when L1_SHMEM_THP says so, otherwise every
# 4 KiB page the guest touches first costs a nested page fault
if [ -n "${L1_SHMEM_THP:-}" ]; then
	echo "$L1_SHMEM_THP" >/sys/kernel/mm/transparent_hugepage/shmem_enabled ||
		say "cannot set shmem_enabled=$L1_SHMEM_THP"
fi
say "shmem THP: $(cat /sys/kernel/mm/transparent_hugepage/shmem_enabled)"
say "/dev/kvm ready (nested paging: $(cat /sys/module/kvm_amd/parameters/npt 2>/dev/null))"
# L1's own clock: KVM gives L2 a stable kvmclock only when L1's clocksource is a stable TSC
say "clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)," \
	"clockevent $(cat /sys/devices/system/clockevents/clockevent0/current_device);" \
	"$(dmesg | grep -i -E 'tsc.*(unstable|calibrat|detected)|clocksource.*unstable' | tr -s ' ' | tr '\n' ';')"
# L1's LAPIC timer frequency as L1 calibrated it (timer_list: cycles = ns * mult >> shift); under
# TCG the emulated LAPIC timer counts 1 GHz / 16 = 62.5 MHz: another value delays or hastens every
# L1 timer, KVM's emulated L2 LAPIC timers included
say "L1 lapic clockevent: $(awk '/^Clock Event Device: lapic/ { on = 1 } on && / mult:/ { m = $2 }
	on && / shift:/ { p = 1; for (i = 0; i < $2; i++) p *= 2; printf "%.3f MHz", m * 1000 / p; exit }' \
	/proc/timer_list)"

id=0
for run in $RUNS; do
	id=$((id + 1))
	vmm=${run%%:*}
	cpus=${run#*:}
	t0=$(up)
	say "run id=$id vmm=$vmm cpus=$cpus start at uptime $t0 s (L1 clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource))"
	case $vmm in
	kite)
		set -- /usr/bin/kite --kernel /l2/kernel --initrd /l2/initrd \
			--cmdline "$L2_CMDLINE" --memory "$L2_MEMORY" --cpus "$cpus" $KITE_EXTRA ;;
	qemu)
		set -- /usr/bin/qemu-system-x86_64 -L /usr/share/qemu -accel kvm -cpu "$QEMU_CPU" \
			-m "$L2_MEMORY" -smp "$cpus" $QEMU_EXTRA -display none -no-reboot -nodefaults \
			-serial stdio -kernel /l2/kernel -initrd /l2/initrd -append "$L2_CMDLINE" ;;
	*)
		say "unknown vmm '$vmm' in RUNS"; continue ;;
	esac
	trace_on
	run_vmm "$@"
	trace_report
	echo "KITE-L1-RESULT id=$id vmm=$vmm cpus=$cpus status=$(cat /tmp/status) start=$t0 end=$(up)"
done
echo "KITE-L1-DONE"
poweroff -f
