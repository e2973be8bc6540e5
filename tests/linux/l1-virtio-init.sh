#!/bin/sh
# SPDX-License-Identifier: MIT
# /init of the L1 Linux of linux-virtio (under QEMU TCG with an emulated SVM CPU): load KVM and tun,
# make the two raw disk images in tmpfs (16 MiB ext2 for the PCI disk, 4 MiB zeroes for the
# virtio-mmio disk), run kite with them and a TAP kt0, give kt0 192.0.2.1/24 when it appears, then,
# after kite exits, look at the images from the host side and report kt0's packet counters.
# L2 console lines reach the harness prefixed "L2| ", results as "KITE-L1V <what> <value>".
say() { echo "KITE-L1V $*"; }
finish() { echo "KITE-L1V-DONE"; poweroff -f; }
. /etc/nested-init.sh
l1_begin

dd if=/dev/zero of=/tmp/pci.img bs=1M count=16 2>/dev/null
mke2fs -F /tmp/pci.img 16384 >/tmp/err 2>&1 || say "mke2fs-failed $(cat /tmp/err)"
dd if=/dev/zero of=/tmp/mmio.img bs=1M count=4 2>/dev/null

# kt0's counters, sampled while it exists (the TAP goes away with kite)
watch_tap() {
	while :; do
		if [ -d /sys/class/net/kt0 ]; then
			if [ ! -e /tmp/tap-up ]; then
				ip addr add 192.0.2.1/24 dev kt0 && ip link set kt0 up && : >/tmp/tap-up
			fi
			s=/sys/class/net/kt0/statistics
			rx=$(cat $s/rx_packets 2>/dev/null) tx=$(cat $s/tx_packets 2>/dev/null)
			# kept only when both reads worked (the TAP may vanish between them as kite exits)
			case "$rx:$tx" in :*|*:|*[!0-9:]*) ;; *)
				echo "rx=$rx tx=$tx" >/tmp/tap-counters.new && mv /tmp/tap-counters.new /tmp/tap-counters ;;
			esac
		fi
		sleep 0.2
	done
}
watch_tap &
watcher=$!

l1_relay
say "kite-start uptime=$(cut -d' ' -f1 /proc/uptime)"
/usr/bin/kite --kernel /l2/kernel --initrd /l2/initrd --cmdline "$L2_CMDLINE" --memory "$L2_MEMORY" \
	--cpus 1 --blk path=/tmp/pci.img --blk path=/tmp/mmio.img,transport=mmio --net tap=kt0 \
	$KITE_EXTRA </dev/null >/tmp/out 2>&1 &
pid=$!
( sleep "$L2_TIMEOUT"; [ -d /proc/$pid ] && { say "hang-guard"; kill -KILL $pid; } ) &
guard=$!
wait $pid
status=$?
kill $guard 2>/dev/null
wait $reader
kill $watcher 2>/dev/null
say "kite-status $status uptime=$(cut -d' ' -f1 /proc/uptime)"
say "tap-up $([ -e /tmp/tap-up ] && echo yes || echo no)"
say "tap $(cat /tmp/tap-counters 2>/dev/null || echo none)"
# the host side of the disks: the marker in the raw images
say "pci-image-marker $(grep -c -a "$(cat /etc/marker) ext2-file" /tmp/pci.img)"
say "mmio-image-marker $(dd if=/tmp/mmio.img bs=512 skip=2048 count=1 2>/dev/null | grep -c -a "$(cat /etc/marker) mmio-raw")"
finish
