#!/bin/sh
# SPDX-License-Identifier: MIT
# /init of the L1 Linux of bench/linux/fio_bench.sh (QEMU TCG with an emulated SVM CPU, 2 vCPUs):
# load KVM, fill one raw image in tmpfs (/tmp/disk.img, $DISK_MB MiB of written zeroes: every page
# exists, no hole), then boot the same L2 (Debian's kernel, fio in its initramfs) once per set-up
# and round, the set-ups in $SETUPS order on odd rounds and reversed on even ones:
#   kite      kite --blk path=/tmp/disk.img --net tap=kt0 (in-process virtio-blk and -net, defaults)
#   kite-sync, kite-poll   the same with the disk's aio=sync, poll=50 (variants to compare)
#   qemu      qemu-system-x86_64 -accel kvm -cpu host, virtio-blk-pci on the same file and
#             virtio-net-pci on a TAP kt0 (its defaults: aio=threads, no vhost-net)
#   kite-shared  kite as "kite" with --shared-memory: guest RAM in the shared memfd the vhost-user
#             set-ups get (controls for the lab, bench/linux/fio_bench.sh --setups)
#   qemu-shared  QEMU as "qemu" with its RAM a memory-backend-memfd, share=on (4 KiB shmem pages)
#   kite-pinned  kite as "kite", every thread on L1 CPU 0 (taskset), as kite runs in the vhost-user
#             set-ups: the control that tells their pinning from their backend
# Guest RAM: with $L1_HUGEPAGES 2 MiB pages reserved in L1 (vm.nr_hugepages), kite takes hugetlb
# pages by default (every kite set-up: shared, 2 MiB), and QEMU gets the same: a memfd backend with
# hugetlb=on, share=on (qemu and qemu-shared). $L1_THP (always|madvise|never, empty: the kernel's
# default) is written to L1's transparent_hugepage/enabled. "KITE-FIOL1 memory ..." says what L1 has.
#   kite-dpu  kite --vhost-user-blk, the volume served by kite-dpu (one poller pinned to L1 CPU 1)
#   qsd       kite --vhost-user-blk, the volume served by qemu-storage-daemon (taskset to L1 CPU 1)
#   qemu-dpu, qemu-qsd   QEMU's vhost-user-blk-pci in kite's place (on a shared memfd, like
#             qemu-shared), with kite-dpu / qsd: the same backends behind another frontend (the
#             control that tells a kite frontend's failures from the lab's)
# In the vhost-user set-ups kite (or QEMU) runs on L1 CPU 0 (taskset), the backend on CPU 1; kite and QEMU in
# their in-process set-ups are not pinned (as a user runs them). L1 gives the TAP kt0 192.0.2.1/24
# whenever it appears (L2 pings it). Every L2 console line is relayed prefixed "L2| "; around each
# boot: "KITE-FIOL1 run round=R setup=S seq=N" and "KITE-FIOL1 end round=R setup=S status=N", the
# CPU time of every thread of the VMM and the backend over the boot ("KITE-FIOL1 cpu setup=S WHO
# comm=ticks ...", 10 ms ticks of L1 time), L1 KVM's counters of the VM ("KITE-FIOL1 kvm setup=S
# exits=N ...", and "kvmjob JOB start|end ..." around each fio job). A boot whose L2 did not finish
# ("KITE-FIO done") or whose VMM did not exit 0: under QEMU "KITE-FIOL1 lost ... cause=C" and the
# boot again ("rerun", up to 3 tries: kite is not in it); in every other set-up (kite is in them)
# "KITE-FIOL1 failed ... cause=C", not run again, except an L2 triple fault when $RERUN_TF is 1
# (fio_bench.sh --rerun-triple-faults yes): lost and run again like QEMU's. A VMM still running after $L2_TIMEOUT gets
# "KITE-FIOL1 hang ..." lines (hang_report) and then SIGTERM, SIGKILL 8 s later. kite.fio_skip=N on
# L1's command line (a fresh L1 after an L1 reset): boots 1..N are skipped.
# $PERF_SETUPS: after the measured rounds, one more boot of each of these set-ups ("profile
# round=P" instead of "run": not counted) under `perf record -a` in L1, then the top of
# `perf report` ("KITE-FIOPERF S ..."): where L1's two CPUs spent the boot. Then KITE-FIOL1-DONE.
say() { echo "KITE-FIOL1 $*"; }
finish() { echo "KITE-FIOL1-DONE"; poweroff -f; }
. /etc/nested-init.sh
l1_begin
say "cpus $(nproc) kernel $(uname -r)"
thp=/sys/kernel/mm/transparent_hugepage
[ -z "${L1_THP:-}" ] || echo "$L1_THP" >$thp/enabled || say "thp-failed $L1_THP"
[ "${L1_HUGEPAGES:-0}" = 0 ] || echo "$L1_HUGEPAGES" >/proc/sys/vm/nr_hugepages || say "hugepages-failed $L1_HUGEPAGES"
say "memory thp=$(cat $thp/enabled | tr ' ' ,) shmem_thp=$(cat $thp/shmem_enabled | tr ' ' ,)" \
	"hugepages=$(cat /proc/sys/vm/nr_hugepages) $(awk '/^(MemTotal|HugePages_Free):/ { printf "%s%s ", $1, $2 }' /proc/meminfo)"
# QEMU's guest RAM: a memfd backend (qemu-shared, or hugetlb pages like kite's when L1 reserved them)
qemu_ram() {
	local hp=""
	[ "${L1_HUGEPAGES:-0}" = 0 ] || hp=",hugetlb=on,hugetlbsize=2M"
	case $1 in qemu-shared|qemu-dpu|qemu-qsd) ;; *) [ -n "$hp" ] || return 0 ;; esac
	echo "-object memory-backend-memfd,id=ram0,size=${L2_MEMORY}M,share=on$hp -machine memory-backend=ram0"
}
dd if=/dev/zero of=/tmp/disk.img bs=1M count="$DISK_MB" 2>/dev/null || say "disk-image-failed"

# start_backend SETUP: the vhost-user-blk backend of SETUP, its pid in $backend; waits for the socket
start_backend() {
	rm -f /tmp/d0.sock
	case $1 in
	kite-dpu|dpu)
		cat >/tmp/dpu.json <<EOF
{"cores": [1], "volumes": [{"name": "d0", "image": "/tmp/disk.img", "socket": "/tmp/d0.sock"}]}
EOF
		/usr/bin/kite-dpu --config /tmp/dpu.json >/tmp/backend.log 2>&1 & ;;
	qsd)
		taskset -c 1 /usr/bin/qemu-storage-daemon \
			--blockdev driver=file,node-name=f0,filename=/tmp/disk.img \
			--export type=vhost-user-blk,id=e0,node-name=f0,addr.type=unix,addr.path=/tmp/d0.sock,writable=on \
			>/tmp/backend.log 2>&1 & ;;
	esac
	backend=$!
	for i in $(seq 300); do [ -S /tmp/d0.sock ] && break; sleep 0.1; done
	[ -S /tmp/d0.sock ] || say "backend $1 made no socket: $(head -c 300 /tmp/backend.log | tr '\n' ' ')"
}

# each VMM makes its own TAP kt0 (gone when it exits): give it L1's address while it is down
( while :; do
	if [ "$(cat /sys/class/net/kt0/operstate 2>/dev/null)" = down ]; then
		ip addr add 192.0.2.1/24 dev kt0 2>/dev/null; ip link set kt0 up
	fi
	sleep 0.2
  done ) &

# thread_cpu WHO PID: one line, user+system ticks of every thread of PID
thread_cpu() {
	say "cpu setup=$setup $1$(thread_ticks $2)"
}

# hang_report PID [BACKEND]: where a VMM that outlived $L2_TIMEOUT is, before it is stopped (lines
# "KITE-FIOL1 hang ..."): per thread of PID (and BACKEND) its state, utime/stime/guest_time (ticks),
# wchan and the top of its kernel stack; L1 KVM's counters of the VM (debugfs) over 3 s, nonzero
# deltas only; L2's exits over 2 s (tracefs kvm:kvm_exit, kvm:kvm_inj_virq, kvm:kvm_msi_set_irq):
# count per event and exit reason, and the guest RIPs most exited from (where L2 is).
hang_report() {
	local p t st d k
	for p in $1 $2; do
		for t in /proc/$p/task/*; do
			st=$(cat $t/stat 2>/dev/null) || continue
			say "hang thread $p/${t##*/} $(tr ' ' '_' <$t/comm) $(echo "${st##*) }" |
				awk '{ print "state=" $1 " utime=" $12 " stime=" $13 " guest=" $41 }') wchan=$(cat $t/wchan 2>/dev/null)" \
				"stack=$(head -n 4 $t/stack 2>/dev/null | sed 's/^\[<[0-9a-f]*>\] //; s/+0x[0-9a-f/x]*//' | paste -s -d ,)"
		done
	done
	d=$(ls -d /sys/kernel/debug/kvm/$1-* 2>/dev/null | head -n 1)
	if [ -n "$d" ]; then
		for k in "$d"/*; do [ -f "$k" ] && echo "${k##*/} $(cat "$k" 2>/dev/null)"; done >/tmp/kvm.0
		sleep 3
		for k in "$d"/*; do [ -f "$k" ] && echo "${k##*/} $(cat "$k" 2>/dev/null)"; done >/tmp/kvm.1
		say "hang kvm-3s $(awk 'NR == FNR { a[$1] = $2; next } ($2 - a[$1]) > 0 { printf "%s=%d ", $1, $2 - a[$1] }' /tmp/kvm.0 /tmp/kvm.1)"
	else
		say "hang kvm-3s no debugfs directory for $1"
	fi
	t=$tr   # mounted at start (below)
	if [ -d $t/events/kvm/kvm_exit ]; then
		echo 0 >$t/tracing_on; echo >$t/trace; echo 4096 >$t/buffer_size_kb; echo 0 >$t/events/kvm/kvm_exit/filter
		for k in kvm_exit kvm_inj_virq kvm_msi_set_irq kvm_nested_vmexit kvm_fpu kvm_userspace_exit; do
			[ -d $t/events/kvm/$k ] && echo 1 >$t/events/kvm/$k/enable
		done
		echo 1 >$t/tracing_on; sleep 2; echo 0 >$t/tracing_on
		echo 0 >$t/events/kvm/enable
		say "hang trace-2s $(awk '$1 !~ /^#/ { for (i = 1; i <= NF; i++) if ($i ~ /^kvm_[a-z_]*:$/) { e = $i; sub(":", "", e);
				r = ""; for (j = i + 1; j < NF; j++) if ($j == "reason") r = "/" $(j + 1); n[e r]++ } }
			END { for (k in n) printf "%s=%d ", k, n[k] }' $t/trace)"
		say "hang rips $(awk '/kvm_exit:/ { for (j = 1; j < NF; j++) if ($j == "rip") n[$(j + 1)]++ }
			END { for (k in n) print n[k], k }' $t/trace | sort -rn | head -n 6 |
			while read -r n r; do echo "$n@$r=$(sym "$r")"; done | paste -s -d ' ')"
		echo >$t/trace
	else
		say "hang trace-2s no tracefs kvm events"
	fi
}

grep -q " /sys/kernel/debug " /proc/mounts || mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null

# sym ADDR (hex): the kernel text symbol at or below ADDR, as NAME+0xOFF, from L1's own kallsyms.
# An L2 booted with nokaslr (fio_bench.sh --append nokaslr) runs this same Debian kernel at the
# same addresses (L1 boots its vmlinux without KASLR), so L2 guest RIPs are named too.
sym() {
	local a best
	a=$(echo "${1#0x}" | tr A-F a-f)
	best=$(awk -v a="$a" 'length($1) == length(a) && $1 <= a && $2 ~ /^[tTwW]$/ && $1 > b { b = $1; n = $3 }
		END { print b, n }' /proc/kallsyms)
	[ -n "${best#* }" ] || { echo "$1"; return; }
	printf '%s+0x%x\n' "${best#* }" $(( 0x${a#????????} - 0x$(echo "${best% *}" | cut -c9-16) ))
}
# L1 KVM's shutdown exits (an L2 triple fault: SVM_EXIT_SHUTDOWN, 0x7f) are traced through every
# boot; shutdown_rips prints the guest RIPs of those since the last call, named by sym
tr=/sys/kernel/tracing
grep -q " $tr " /proc/mounts || mount -t tracefs tracefs $tr 2>/dev/null
# With $TRACE_EXITS = 1 (fio_bench.sh --trace-exits yes) every exit, injected exception, emulated
# instruction and MMIO access is traced into a small ring, and a triple fault also prints the last
# 30 events before it ("KITE-FIOL1 shutdown-trace ...", RIPs named).
shutdown_trace() {
	local e
	[ -d $tr/events/kvm/kvm_exit ] || return 0
	echo 0 >$tr/tracing_on; echo 0 >$tr/events/enable
	if [ "${TRACE_EXITS:-0}" = 1 ]; then
		echo 256 >$tr/buffer_size_kb
		echo 0 >$tr/events/kvm/kvm_exit/filter
		for e in kvm_exit kvm_inj_exception kvm_emulate_insn kvm_mmio kvm_fast_mmio kvm_inj_virq kvm_page_fault; do
			[ -d $tr/events/kvm/$e ] && echo 1 >$tr/events/kvm/$e/enable
		done
	else
		echo 'exit_reason == 127' >$tr/events/kvm/kvm_exit/filter && echo 1 >$tr/events/kvm/kvm_exit/enable
	fi
	echo >$tr/trace && echo 1 >$tr/tracing_on
} 2>/dev/null
shutdown_rips() {
	local r out=""
	for r in $(grep -a -i 'kvm_exit:.*shutdown' $tr/trace 2>/dev/null | grep -o 'rip 0x[0-9a-fA-F]*' | cut -d' ' -f2 | tail -n 3); do
		out="$out $r=$(sym "$r")"
	done
	echo "${out:- none traced}"
}
# the last 30 traced events before the shutdown exit, each "rip 0x..." named
shutdown_events() {
	[ "${TRACE_EXITS:-0}" = 1 ] || return 0
	echo 0 >$tr/tracing_on
	grep -a -v '^#' $tr/trace | awk '{ l[NR] = $0 } /kvm_exit:.*[Ss][Hh][Uu][Tt][Dd][Oo][Ww][Nn]/ { last = NR }
		END { for (i = (last > 30 ? last - 29 : 1); i <= last; i++) print l[i] }' | cut -c1-300 |
	while read -r line; do
		r=$(echo "$line" | grep -o 'rip 0x[0-9a-fA-F]*' | cut -d' ' -f2)
		say "shutdown-trace ${line#*]}${r:+ [$(sym "$r")]}"
	done
}

l2="--kernel /l2/kernel --initrd /l2/initrd --cmdline"
run() {
	local setup=$1 round=$2 pid guard backend="" perf="" kind=run opt lost=0 rips
	case $setup in
	kite|kite-sync|kite-poll|kite-shared|kite-pinned)
		local shm="" pin=""
		case $setup in kite) opt="" ;; kite-sync) opt=,aio=sync ;; kite-poll) opt=,poll=50 ;;
		kite-shared) opt="" shm=--shared-memory ;; kite-pinned) opt="" pin="taskset -c 0" ;; esac
		set -- $pin /usr/bin/kite --stats $shm $l2 "$L2_CMDLINE" --memory "$L2_MEMORY" --cpus 1 --blk path=/tmp/disk.img$opt \
			--net tap=kt0 ;;
	qemu|qemu-shared)
		# the shutdown request's trace line tells an L2 reset (triple fault: reason=7) from a poweroff
		set -- /usr/bin/qemu-system-x86_64 -L /usr/share/qemu -accel kvm -cpu host -m "$L2_MEMORY" -smp 1 \
		$(qemu_ram $setup) -trace qemu_system_shutdown_request \
		-display none -no-reboot -nodefaults -serial stdio -kernel /l2/kernel -initrd /l2/initrd \
		-append "$L2_CMDLINE" -drive file=/tmp/disk.img,if=none,id=d0,format=raw -device virtio-blk-pci,drive=d0 \
		-netdev tap,id=n0,ifname=kt0,script=no,downscript=no -device virtio-net-pci,netdev=n0,romfile= ;;
	kite-dpu|qsd)
		start_backend "$setup"
		set -- taskset -c 0 /usr/bin/kite --stats $l2 "$L2_CMDLINE" --memory "$L2_MEMORY" --cpus 1 \
			--vhost-user-blk socket=/tmp/d0.sock ;;
	qemu-dpu|qemu-qsd)
		start_backend "${setup#qemu-}"
		set -- taskset -c 0 /usr/bin/qemu-system-x86_64 -L /usr/share/qemu -accel kvm -cpu host -m "$L2_MEMORY" \
		-smp 1 $(qemu_ram $setup) -trace qemu_system_shutdown_request -display none -no-reboot -nodefaults \
		-serial stdio -kernel /l2/kernel -initrd /l2/initrd -append "$L2_CMDLINE" \
		-chardev socket,id=c0,path=/tmp/d0.sock -device vhost-user-blk-pci,chardev=c0,num-queues=1 ;;
	*) say "unknown setup $setup"; return ;;
	esac
	[ "$round" = P ] && kind=profile
	say "$kind round=$round setup=$setup seq=$seq uptime=$(cut -d' ' -f1 /proc/uptime)"
	# the console relay (nested-init.sh's l1_relay, plus): at L2's "KITE-FIO job-start NAME" and
	# "KITE-FIO job=NAME ..." lines, L1 KVM's counters of the one VM now running ("KITE-FIOL1
	# kvmjob NAME start|end exits=N ..."): exits and interrupts per I/O, job by job
	rm -f /tmp/out && mkfifo /tmp/out
	awk 'BEGIN { printf "" >"/tmp/l2.log" }
		{ print "L2| " $0; fflush(); print >"/tmp/l2.log"; fflush("/tmp/l2.log") }
		$1 == "KITE-FIO" && ($2 == "job-start" || $2 ~ /^job=/) {
			n = ($2 == "job-start") ? $3 : substr($2, 5)
			system("sh /etc/kvm-counters.sh kvmjob " n " " (($2 == "job-start") ? "start" : "end"))
		}' </tmp/out &
	reader=$!
	rm -f /tmp/hung
	if [ $kind = profile ]; then
		/usr/bin/perf record -a -F 499 -o /tmp/perf.data >/tmp/perf.log 2>&1 &
		perf=$!
	fi
	shutdown_trace
	"$@" </dev/null >/tmp/out 2>&1 &
	pid=$!
	# the threads' CPU time just before the VMM exits (sampled every 2 s while it runs)
	( while [ -d /proc/$pid ]; do
		{ thread_cpu vmm $pid; if [ -n "$backend" ]; then thread_cpu backend $backend; fi; sh /etc/kvm-counters.sh kvm setup=$setup; } \
			>/tmp/cpu.new 2>/dev/null && mv /tmp/cpu.new /tmp/cpu.last
		sleep 2
	  done ) &
	sampler=$!
	( sleep "$L2_TIMEOUT"; [ -d /proc/$pid ] && { say "hang-guard setup=$setup"; : >/tmp/hung; hang_report $pid "$backend";
		kill -TERM $pid; sleep 8; kill -KILL $pid 2>/dev/null; } ) &
	guard=$!
	wait $pid
	status=$?
	kill $guard $sampler 2>/dev/null
	wait $reader
	cat /tmp/cpu.last 2>/dev/null; rm -f /tmp/cpu.last
	if [ -n "$perf" ]; then
		kill -INT $perf; wait $perf
		/usr/bin/perf report -i /tmp/perf.data --stdio --no-children --sort comm --percent-limit 1 2>&1 |
			grep -v "^#" | grep . | head -n 12 | sed "s/^/KITE-FIOPERF $setup comm /"
		/usr/bin/perf report -i /tmp/perf.data --stdio --no-children --sort comm,dso,sym --percent-limit 0.3 \
			2>&1 | grep -v "^#" | grep -v " swapper " | grep . | head -n 40 | sed "s/^/KITE-FIOPERF $setup /"
		rm -f /tmp/perf.data
	fi
	if [ -n "$backend" ]; then
		kill "$backend" 2>/dev/null; wait "$backend" 2>/dev/null
		grep -i -E 'error|warn' /tmp/backend.log | head -n 5 | sed "s/^/KITE-FIOL1 backend-log $setup: /"
	fi
	# the boot's outcome: L2 finished ("KITE-FIO done") and the VMM exited 0, else lost to the lab
	# (QEMU's boots only: kite is not in them) or failed (kite is in every other set-up)
	cause=""
	if [ -e /tmp/hung ]; then cause=hang
	elif grep -q 'Kernel panic' /tmp/l2.log; then cause=l2-panic
	elif rips=$(shutdown_rips); [ "$rips" != " none traced" ] ||
		grep -q -E 'triple fault \(guest reset\)|qemu_system_shutdown_request reason=7' /tmp/l2.log; then
		# L1 KVM's shutdown exit tells a triple fault whatever the VMM prints (QEMU with -no-reboot
		# exits 0 and its trace line does not always reach the console)
		cause=l2-triple-fault
		say "shutdown round=$round setup=$setup L2 rip:$rips"
		shutdown_events
	elif ! grep -q '^KITE-FIO done' /tmp/l2.log; then cause=l2-unfinished
	elif [ "$status" != 0 ]; then cause=exit-$status
	fi
	if [ -n "$cause" ]; then
		case $setup in qemu|qemu-shared|qemu-qsd) lost=1 ;; esac
		[ "$cause" = l2-triple-fault ] && [ "${RERUN_TF:-0}" = 1 ] && lost=1
		if [ "$lost" = 1 ]; then
			say "lost round=$round setup=$setup cause=$cause$(case $setup in qemu|qemu-*) echo -under-qemu ;; esac)"
		else
			say "failed round=$round setup=$setup cause=$cause"
		fi
	fi
	say "end round=$round setup=$setup status=$status uptime=$(cut -d' ' -f1 /proc/uptime)"
	[ "$lost" = 0 ]
}

# boot SETUP ROUND: the boot numbered $seq (1, 2, ... over the whole run) unless a fresh L1 skips it;
# a boot lost to the lab is run again at once, up to 3 times
boot() {
	local try=1
	seq=$((seq + 1))
	[ "$seq" -le "$skip" ] && return
	until run "$1" "$2"; do
		[ $try -ge 3 ] && { say "failed round=$2 setup=$1 cause=lost-3-times"; return; }
		try=$((try + 1))
		say "rerun round=$2 setup=$1 try=$try"
	done
}

# a fresh L1 after an L1 reset continues with boot kite.fio_skip + 1 (bench/linux/fio_bench.sh)
skip=$(sed -n 's/.*kite\.fio_skip=\([0-9]*\).*/\1/p' /proc/cmdline)
skip=${skip:-0} seq=0
[ "$skip" = 0 ] || say "continue after boot $skip"
for round in $(seq "$ROUNDS"); do
	order=$SETUPS
	[ $((round % 2)) = 0 ] && order=$(echo $SETUPS | tr ' ' '\n' | tac | tr '\n' ' ')
	for setup in $order; do boot "$setup" "$round"; done
done
for setup in $PERF_SETUPS; do boot "$setup" P; done
finish
