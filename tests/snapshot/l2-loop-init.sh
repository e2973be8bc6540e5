#!/bin/sh
# SPDX-License-Identifier: MIT
# /init of the L2 guest of tests/snapshot/linux.sh (busybox initramfs): the marker, then a shell
# loop that prints "KITE-L2-LOOP <n>" every 0.2 s (sleep: the guest's timers and clock run across
# the snapshot) up to n = kite.loops (default 60); a "KITE-L2-OK" line again would mean a second
# boot. Then the kernel log lines matching /etc/l2-problems.ere as "KITE-L2-DMESG <line>" and
# power-off.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
echo "KITE-L2-OK $(uname -r) cpus=$(nproc)"
loops=60
for w in $(cat /proc/cmdline); do
	case $w in kite.loops=*) loops=${w#kite.loops=} ;; esac
done
i=0
while [ $i -lt "$loops" ]; do
	i=$((i + 1))
	echo "KITE-L2-LOOP $i"
	sleep 0.2
done
echo "KITE-L2-LOOP-DONE $i"
dmesg | grep -E -f /etc/l2-problems.ere | sed 's/^/KITE-L2-DMESG /'
poweroff -f
echo "KITE-L2-POWEROFF-FAILED"
exit 1
