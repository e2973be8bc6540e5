# SPDX-License-Identifier: MIT
# Functions for the /init scripts of the nested Linux tests and benchmarks (tests/linux/linux-boot.sh,
# linux-virtio.sh, tests/vhost/linux-vhost.sh, tests/api/linux-api.sh, bench/linux/fio_bench.sh
# copy this file into each initramfs as /etc/nested-init.sh; the /init sources it, and defines
# say() and $marker before it uses them).
# busybox sh.
#   l1_begin           L1's opening: PATH, /proc, /sys, /dev, tmpfs on /tmp and /run, /etc/l1.conf,
#                      l1_modules; without /dev/kvm it says "no-dev-kvm" and calls finish (the /init
#                      defines say() and finish() first)
#   l1_modules         L1: load irqbypass ccp kvm kvm-amd tun, make /dev/net/tun; status 1 without /dev/kvm
#   l1_relay           L1: a FIFO /tmp/out for the VMM's output and, in the background ($reader), one
#                      awk that copies its lines to the console prefixed "L2| "
#   thread_ticks PID   L1: " comm=ticks" for every thread of PID (user+system, 10 ms ticks), one line
#   l2_modules         L2: load the virtio, virtio-blk, virtio-net and ext4 modules present
#   l2_ext2_marker DEV L2: mount the ext2 disk DEV, write "$marker ext2-file" to a file, sync, read it
#                      back, umount ("ext2-read ...", "ext2-umount ok" or "ext2-mount-failed")
#   l2_ping            L2: eth0 = 192.0.2.2/24, ping 192.0.2.1 until the first reply (~20 tries),
#                      then 3 more ("ping N_packets_received" or "no-eth0")

l1_begin() {
	export PATH=/bin:/usr/bin
	mount -t proc proc /proc
	mount -t sysfs sysfs /sys
	mount -t devtmpfs devtmpfs /dev
	mkdir -p /tmp /run && mount -t tmpfs tmpfs /tmp && mount -t tmpfs tmpfs /run
	. /etc/l1.conf
	l1_modules || { say "no-dev-kvm"; finish; }
}

# one awk, not a shell read loop: a shell reads a pipe byte by byte and, sharing L1's CPU with a busy
# L2, lagged L2's console by tens of seconds
l1_relay() {
	rm -f /tmp/out && mkfifo /tmp/out
	awk '{ print "L2| " $0; fflush() }' </tmp/out &
	reader=$!
}

l1_modules() {
	for m in irqbypass ccp kvm kvm-amd tun; do
		insmod /lib/modules/$m.ko 2>/tmp/err || say "insmod-failed $m $(cat /tmp/err)"
	done
	[ -c /dev/kvm ] || return 1
	mkdir -p /dev/net
	[ -c /dev/net/tun ] || mknod /dev/net/tun c 10 200
}

thread_ticks() {
	local t line="" st
	for t in /proc/$1/task/*; do
		st=$(cat $t/stat 2>/dev/null) || continue
		line="$line $(tr ' ' '_' <$t/comm)=$(echo "${st##*) }" | awk '{ print $12 + $13 }')"
	done
	echo "$line"
}

l2_modules() {
	for m in virtio_ring virtio_pci_modern_dev virtio_pci_legacy_dev virtio virtio_pci virtio_mmio \
		 virtio_blk failover net_failover virtio_net crc16 mbcache jbd2 crc32c_generic ext4; do
		[ -e /lib/modules/$m.ko ] || continue    # built into this kernel
		insmod /lib/modules/$m.ko 2>/tmp/err || say "insmod-failed $m $(cat /tmp/err)"
	done
}

l2_ext2_marker() {
	mkdir -p /mnt
	if mount -t ext2 "$1" /mnt; then
		echo "$marker ext2-file" >/mnt/kite-marker.txt && sync
		say "ext2-read $(cat /mnt/kite-marker.txt | tr ' ' '_')"
		umount /mnt && say "ext2-umount ok"
	else
		say "ext2-mount-failed"
	fi
}

l2_ping() {
	if [ -d /sys/class/net/eth0 ]; then
		ip addr add 192.0.2.2/24 dev eth0 && ip link set eth0 up
		# L1 brings its end up when it sees it: retry until the first reply or ~20 tries
		for i in $(seq 20); do ping -c 1 -W 1 192.0.2.1 >/dev/null 2>&1 && break; done
		ping -c 3 -W 2 192.0.2.1 >/tmp/ping 2>&1
		say "ping $(grep -o '[0-9]* packets received' /tmp/ping | tr ' ' '_')"
	else
		say "no-eth0"
	fi
}
