#!/bin/sh
# SPDX-License-Identifier: MIT
# /init of the L1 Linux of linux-vhost (tests/vhost/linux-vhost.sh; QEMU TCG with an emulated SVM
# CPU): load KVM and tun, make two raw images in tmpfs (16 MiB ext2 "fs", 4 MiB zeroes "raw"), start
# kite-dpu serving both as vhost-user-blk volumes ("raw" offers packed rings, which Linux takes) and a switch with one vhost-user port (vm0) and a
# TAP uplink (ku0, given 192.0.2.1/24 here), then run kite (2 vCPUs) with the three vhost-user
# devices, the NIC with two queue pairs.
# While kite runs, L2's lines pass through here ("L2| " prefix): after L2's pings the switch and TAP
# counters (vm0's per queue pair too) are sampled; when L2 acknowledges stream block $KILL_AT, kite-dpu is killed with SIGKILL
# and started again on the same config. After kite exits, L1 looks at the images from the host side.
# Results: "KITE-L1H <what> <value>" lines, then KITE-L1H-DONE.
say() { echo "KITE-L1H $*"; }
finish() { echo "KITE-L1H-DONE"; poweroff -f; }
. /etc/nested-init.sh
l1_begin
marker=$(cat /etc/marker)
cr=$(printf '\r')

dd if=/dev/zero of=/tmp/fs.img bs=1M count=16 2>/dev/null
mke2fs -F /tmp/fs.img 16384 >/tmp/err 2>&1 || say "mke2fs-failed $(cat /tmp/err)"
dd if=/dev/zero of=/tmp/raw.img bs=1M count=4 2>/dev/null
cat >/tmp/dpu.json <<EOF
{"cores": [-1], "control": "/tmp/ctl.sock",
 "volumes": [{"name": "fs", "image": "/tmp/fs.img", "socket": "/tmp/fs.sock"},
             {"name": "raw", "image": "/tmp/raw.img", "socket": "/tmp/raw.sock", "packed": true}],
 "switch": {"ports": [{"name": "vm0", "type": "vhost", "socket": "/tmp/vm0.sock", "queues": 2},
                      {"name": "up0", "type": "tap", "ifname": "ku0"}]}}
EOF

# start kite-dpu (instance N) and wait until its sockets and the TAP exist; the TAP gets L1's address
start_dpu() {
	rm -f /tmp/fs.sock /tmp/raw.sock /tmp/vm0.sock /tmp/ctl.sock
	/usr/bin/kite-dpu --config /tmp/dpu.json >/tmp/dpu-$1.log 2>&1 &
	echo $! >/tmp/dpu.pid
	for i in $(seq 300); do
		[ -S /tmp/fs.sock ] && [ -S /tmp/raw.sock ] && [ -S /tmp/vm0.sock ] && [ -d /sys/class/net/ku0 ] && break
		sleep 0.1
	done
	ip addr add 192.0.2.1/24 dev ku0 2>/dev/null
	ip link set ku0 up
	say "dpu-$1 up sockets=$(ls /tmp/*.sock 2>/dev/null | wc -l) ku0=$(cat /sys/class/net/ku0/operstate 2>/dev/null) mac=$(cat /sys/class/net/ku0/address 2>/dev/null)"
}
# one number out of a control reply: port NAME's field, or a Prometheus counter line
port_field() { grep -o "\"name\":\"$1\",[^{]*" /tmp/sw.json | grep -o "\"$2\":[0-9]*" | cut -d: -f2; }
# vm0's frames from the guest on queue pair $1 (1-based: the n-th entry of its "queues")
vm0_queue_rx() {
	grep -o '"name":"vm0",.*' /tmp/sw.json | grep -o '"queues":\[[^]]*\]' | head -n 1 |
		grep -o '"rx_packets":[0-9]*' | sed -n "$1p" | cut -d: -f2
}
sample_counters() {
	/usr/bin/blk_tool ctl /tmp/ctl.sock '{"cmd":"switch_stats"}' >/tmp/sw.json 2>&1
	s=/sys/class/net/ku0/statistics
	say "switch vm0 rx=$(port_field vm0 rx_packets) tx=$(port_field vm0 tx_packets) up0 rx=$(port_field up0 rx_packets) tx=$(port_field up0 tx_packets)"
	say "vm0-queues txq0=$(vm0_queue_rx 1) txq1=$(vm0_queue_rx 2)"
	say "tap ku0 rx=$(cat $s/rx_packets) tx=$(cat $s/tx_packets)"
	/usr/bin/blk_tool ctl /tmp/ctl.sock '{"cmd":"stats"}' >/tmp/stats.json 2>&1
	say "volume fs writes=$(grep -o 'kite_dpu_blk_writes_total{volume=\\"fs\\"[^}]*} [0-9]*' /tmp/stats.json | grep -o '[0-9]*$')"
}

start_dpu 1
rm -f /tmp/out /tmp/acks && mkfifo /tmp/out && : >/tmp/acks
while IFS= read -r line || [ -n "$line" ]; do
	echo "L2| $line"
	line=${line%"$cr"}
	case $line in
	"KITE-L2H ping-cpu1 "*) sample_counters ;;
	"KITE-L2H ack "*)
		n=${line#KITE-L2H ack }
		echo "$n" >>/tmp/acks
		if [ "$n" = "$KILL_AT" ]; then
			kill -KILL "$(cat /tmp/dpu.pid)" && say "dpu-killed after-ack $n"
			start_dpu 2
		fi ;;
	esac
done </tmp/out &
reader=$!
say "kite-start uptime=$(cut -d' ' -f1 /proc/uptime)"
/usr/bin/kite --kernel /l2/kernel --initrd /l2/initrd --cmdline "$L2_CMDLINE" --memory "$L2_MEMORY" --cpus 2 \
	--vhost-user-blk socket=/tmp/fs.sock --vhost-user-blk socket=/tmp/raw.sock \
	--vhost-user-net socket=/tmp/vm0.sock,mac=52:54:00:12:34:56,queues=2 </dev/null >/tmp/out 2>/tmp/kite.err &
pid=$!
( sleep "$L2_TIMEOUT"; [ -d /proc/$pid ] && { say "hang-guard"; kill -KILL $pid; } ) &
guard=$!
wait $pid
status=$?
kill $guard 2>/dev/null
wait $reader
# kite's own log lines went to their own file: interleaved with the guest's console on one pipe, a
# log line could split an "ack N" line and lose that ack
sed 's/^/L2| /' /tmp/kite.err
say "kite-status $status uptime=$(cut -d' ' -f1 /proc/uptime)"
kill "$(cat /tmp/dpu.pid)" 2>/dev/null
sed 's/^/dpu-log /' /tmp/dpu-*.log | grep -v ' info: ' | head -n 20 | while IFS= read -r l; do say "$l"; done
# the host side of the disks: the ext2 file's marker, and every acknowledged stream block
say "fs-image-marker $(grep -c -a "$marker ext2-file" /tmp/fs.img)"
acked=0 present=0 missing=""
for i in $(cat /tmp/acks); do
	acked=$((acked + 1))
	if [ "$(dd if=/tmp/raw.img bs=4096 skip="$i" count=1 2>/dev/null | head -n 1)" = "$marker block $i" ]; then
		present=$((present + 1))
	else
		missing="$missing $i"
	fi
done
say "stream acked=$acked present=$present missing=${missing:-none}"
finish
