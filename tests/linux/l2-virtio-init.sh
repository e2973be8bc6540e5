#!/bin/sh
# SPDX-License-Identifier: MIT
# /init of the L2 guest of linux-virtio: load Linux's own virtio drivers, then use kite's devices:
#   - the PCI disk (16 MiB, ext2 made by L1): mount, write a file holding the marker, sync, umount;
#   - the virtio-mmio disk (4 MiB, found through the DSDT's LNRO0005 entry): the marker at 1 MiB raw;
#   - virtio-net: address 192.0.2.2/24, ping L1's end of the TAP (192.0.2.1) three times.
# Every result is one "KITE-L2V <what> <value>" line; the checks are made by L1 and the harness.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
say() { echo "KITE-L2V $*"; }
marker=$(cat /etc/marker)

. /etc/nested-init.sh
l2_modules
# devices probe asynchronously: wait (bounded) for two disks and eth0
for i in $(seq 100); do
	[ -b /dev/vda ] && [ -b /dev/vdb ] && [ -d /sys/class/net/eth0 ] && break
	sleep 0.1
done
pcidisk="" mmiodisk=""
for d in /sys/block/vd*; do
	[ -d "$d" ] || continue
	n=${d##*/}
	bus=$(readlink -f "$d/device")
	say "disk $n bytes=$(blockdev --getsize64 /dev/$n) path=$bus"
	case $bus in
	*/virtio_mmio.*|*/LNRO0005:*) mmiodisk=$n ;;
	*/pci0000:00/*) pcidisk=$n ;;
	esac
done
say "pci-disk ${pcidisk:-none} mmio-disk ${mmiodisk:-none}"
# how the kernel found the PCI bus (config access, the root bridge's windows, interrupts used)
dmesg | grep -E 'PCI: (Using|Fatal)|PCI Root Bridge|root bus resource|ACPI: PCI|no compatible bridge|BAR [0-9].*(failed|can.t)' |
	sed 's/^\[[ 0-9.]*\] /KITE-L2V dmesg /'
# kernel warnings and errors about the devices (a kite device bug shows here first)
dmesg -r | grep -E '^<[0-4]>' | grep -i -E 'pci|virtio|acpi|blk|vd[ab]|eth0|irq' | head -n 20 |
	sed 's/^<\([0-9]\)>\[[ 0-9.]*\] /KITE-L2V warn<\1> /'
say "irqs $(grep -E 'virtio' /proc/interrupts | awk '{ printf "%s/%s/%s ", $1, $(NF-1), $NF }')"

[ -n "$pcidisk" ] && l2_ext2_marker /dev/$pcidisk
if [ -n "$mmiodisk" ]; then
	echo "$marker mmio-raw" | dd of=/dev/$mmiodisk bs=512 seek=2048 conv=fsync 2>/dev/null &&
		say "mmio-write ok"
	say "mmio-read $(dd if=/dev/$mmiodisk bs=512 skip=2048 count=1 2>/dev/null | head -n 1 | tr ' ' '_')"
fi

l2_ping
say "done"
# kernel log lines the harness fails on (see l2-problems.ere; the console shows only errors)
dmesg | grep -E -f /etc/l2-problems.ere | sed 's/^/KITE-L2-DMESG /'
poweroff -f
echo "KITE-L2V poweroff-failed"
exit 1
