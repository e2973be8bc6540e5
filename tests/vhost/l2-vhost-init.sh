#!/bin/sh
# SPDX-License-Identifier: MIT
# /init of the L2 guest of linux-vhost (tests/vhost/linux-vhost.sh): Linux's own virtio drivers on
# kite's vhost-user devices, all three served by kite-dpu in L1:
#   - vda (16 MiB, ext2 made by L1): mount, write a file holding the marker, sync, read back, umount;
#   - eth0 (a kite-dpu switch port): 192.0.2.2/24, ping 192.0.2.1 (L1, behind kite-dpu's TAP uplink);
#     two queue pairs and two vCPUs: Linux runs min(pairs, cpus) = 2 (its queues are listed), then
#     one ping pinned to each CPU (XPS maps CPU i to transmit queue i);
#   - vdb (4 MiB raw): a write stream of STREAM_BLOCKS 4 KiB blocks, block i at 4 KiB * i holding
#     "<marker> block <i>", each written with O_DIRECT and fsync; "ack <i>" is printed only after
#     the write returned. L1 kills kite-dpu with SIGKILL during the stream and starts it again;
#   - then eth0 again: ping L1 once more through the restarted kite-dpu, with L2's neighbour entry
#     for L1 still REACHABLE from before the restart (base_reachable_time 600 s).
# Every result is one "KITE-L2H <what> <value>" line; the checks are made by L1 and the harness.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
say() { echo "KITE-L2H $*"; }
marker=$(cat /etc/marker)
STREAM_BLOCKS=48

. /etc/nested-init.sh
l2_modules
for i in $(seq 100); do
	[ -b /dev/vda ] && [ -b /dev/vdb ] && [ -d /sys/class/net/eth0 ] && break
	sleep 0.1
done
say "disks $(cd /sys/block && echo vd*) vda=$(blockdev --getsize64 /dev/vda 2>/dev/null) vdb=$(blockdev --getsize64 /dev/vdb 2>/dev/null)"

l2_ext2_marker /dev/vda

l2_ping
say "net-queues $(cd /sys/class/net/eth0/queues 2>/dev/null && echo *) cpus=$(nproc)"
for c in 0 1; do
	taskset $((1 << c)) ping -c 3 -W 2 192.0.2.1 >/tmp/ping$c 2>&1
	say "ping-cpu$c $(grep -o '[0-9]* packets received' /tmp/ping$c | tr ' ' '_')"
done

# L2's neighbour entry for L1 stays REACHABLE across kite-dpu's restart (Linux keeps one 15-45 s; a
# fast run restarts within that): what L2 sends then goes to the MAC it resolved before the restart
echo 600000 >/proc/sys/net/ipv4/neigh/eth0/base_reachable_time_ms
say "stream-start $STREAM_BLOCKS"
i=1
while [ $i -le $STREAM_BLOCKS ]; do
	# one 4 KiB block: the text, then zero padding
	{ echo "$marker block $i"; dd if=/dev/zero bs=4000 count=1 2>/dev/null; } | dd of=/tmp/blk bs=4096 count=1 iflag=fullblock 2>/dev/null
	if dd if=/tmp/blk of=/dev/vdb bs=4096 seek=$i count=1 oflag=direct conv=fsync 2>/tmp/err; then
		say "ack $i"
	else
		say "write-error $i $(tr '\n' ' ' </tmp/err)"
	fi
	i=$((i + 1))
done
say "stream-done"
# the NIC (packed rings) came through kite-dpu's restart too, and L1's new TAP has the old one's MAC:
# L2's entry for L1 (MAC and state) is still right
say "neigh-after-stream $(ip neigh show dev eth0 | awk '$1 == "192.0.2.1" { for (i = 2; i < NF; i++) if ($i == "lladdr") m = $(i + 1); print m, $NF }')"
for i in $(seq 20); do ping -c 1 -W 1 192.0.2.1 >/dev/null 2>&1 && break; done
ping -c 3 -W 2 192.0.2.1 >/tmp/ping-again 2>&1
say "ping-after-restart $(grep -o '[0-9]* packets received' /tmp/ping-again | tr ' ' '_')"
say "done"
poweroff -f
echo "KITE-L2H poweroff-failed"
exit 1
