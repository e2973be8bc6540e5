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
#   kite-dpu  kite --vhost-user-blk, the volume served by kite-dpu (one poller pinned to L1 CPU 1)
#   qsd       kite --vhost-user-blk, the volume served by qemu-storage-daemon (taskset to L1 CPU 1)
# In the vhost-user set-ups kite runs on L1 CPU 0 (taskset), the backend on CPU 1; kite and QEMU in
# their in-process set-ups are not pinned (as a user runs them). L1 gives the TAP kt0 192.0.2.1/24
# whenever it appears (L2 pings it). Every L2 console line is relayed prefixed "L2| "; around each
# boot: "KITE-FIOL1 run round=R setup=S" and "KITE-FIOL1 end round=R setup=S status=N", and the
# CPU time of every thread of the VMM and the backend over the boot ("KITE-FIOL1 cpu setup=S WHO
# comm=ticks ...", 10 ms ticks of L1 time).
# $PERF_SETUPS: after the measured rounds, one more boot of each of these set-ups ("profile
# round=P" instead of "run": not counted) under `perf record -a` in L1, then the top of
# `perf report` ("KITE-FIOPERF S ..."): where L1's two CPUs spent the boot. Then KITE-FIOL1-DONE.
say() { echo "KITE-FIOL1 $*"; }
finish() { echo "KITE-FIOL1-DONE"; poweroff -f; }
. /etc/nested-init.sh
l1_begin
say "cpus $(nproc) kernel $(uname -r)"
dd if=/dev/zero of=/tmp/disk.img bs=1M count="$DISK_MB" 2>/dev/null || say "disk-image-failed"

# start_backend SETUP: the vhost-user-blk backend of SETUP, its pid in $backend; waits for the socket
start_backend() {
	rm -f /tmp/d0.sock
	case $1 in
	kite-dpu)
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

l2="--kernel /l2/kernel --initrd /l2/initrd --cmdline"
run() {
	local setup=$1 round=$2 pid guard backend="" perf="" kind=run opt
	case $setup in
	kite|kite-sync|kite-poll)
		case $setup in kite) opt="" ;; kite-sync) opt=,aio=sync ;; kite-poll) opt=,poll=50 ;; esac
		set -- /usr/bin/kite $l2 "$L2_CMDLINE" --memory "$L2_MEMORY" --cpus 1 --blk path=/tmp/disk.img$opt \
			--net tap=kt0 ;;
	qemu) set -- /usr/bin/qemu-system-x86_64 -L /usr/share/qemu -accel kvm -cpu host -m "$L2_MEMORY" -smp 1 \
		-display none -no-reboot -nodefaults -serial stdio -kernel /l2/kernel -initrd /l2/initrd \
		-append "$L2_CMDLINE" -drive file=/tmp/disk.img,if=none,id=d0,format=raw -device virtio-blk-pci,drive=d0 \
		-netdev tap,id=n0,ifname=kt0,script=no,downscript=no -device virtio-net-pci,netdev=n0,romfile= ;;
	kite-dpu|qsd)
		start_backend "$setup"
		set -- taskset -c 0 /usr/bin/kite $l2 "$L2_CMDLINE" --memory "$L2_MEMORY" --cpus 1 \
			--vhost-user-blk socket=/tmp/d0.sock ;;
	*) say "unknown setup $setup"; return ;;
	esac
	[ "$round" = P ] && kind=profile
	say "$kind round=$round setup=$setup uptime=$(cut -d' ' -f1 /proc/uptime)"
	l1_relay
	if [ $kind = profile ]; then
		/usr/bin/perf record -a -F 499 -o /tmp/perf.data >/tmp/perf.log 2>&1 &
		perf=$!
	fi
	"$@" </dev/null >/tmp/out 2>&1 &
	pid=$!
	# the threads' CPU time just before the VMM exits (sampled every 2 s while it runs)
	( while [ -d /proc/$pid ]; do
		{ thread_cpu vmm $pid; if [ -n "$backend" ]; then thread_cpu backend $backend; fi; } >/tmp/cpu.new 2>/dev/null &&
			mv /tmp/cpu.new /tmp/cpu.last
		sleep 2
	  done ) &
	sampler=$!
	( sleep "$L2_TIMEOUT"; [ -d /proc/$pid ] && { say "hang-guard setup=$setup"; kill -KILL $pid; } ) &
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
	say "end round=$round setup=$setup status=$status uptime=$(cut -d' ' -f1 /proc/uptime)"
}

for round in $(seq "$ROUNDS"); do
	order=$SETUPS
	[ $((round % 2)) = 0 ] && order=$(echo $SETUPS | tr ' ' '\n' | tac | tr '\n' ' ')
	for setup in $order; do run "$setup" "$round"; done
done
for setup in $PERF_SETUPS; do run "$setup" P; done
finish
