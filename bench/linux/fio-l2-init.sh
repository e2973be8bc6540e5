#!/bin/sh
# SPDX-License-Identifier: MIT
# /init of the L2 guest of bench/linux/fio_bench.sh: Debian's kernel with its own virtio_blk driver
# runs Debian's fio on the raw disk /dev/vda, one short job after the other (the list in
# /etc/fio.conf: FIO_JOBS = "name:rw:bs:iodepth ...", FIO_RUNTIME, FIO_RAMP, FIO_ENGINE), O_DIRECT,
# one job at a time, then powers off. One line per job, from fio's terse (version 3) output:
#   KITE-FIO job=NAME iops=N clat_mean=US clat_p50=US clat_p99=US
# (the read side's fields for reads, the write side's for writes; latencies in microseconds), or
#   KITE-FIO job=NAME error=TEXT
# and "KITE-FIO disk ..." / "KITE-FIO no-disk" before the jobs, "KITE-FIO job-start NAME" before each
# (L1 reads the VM's KVM counters at it and at the job's line), and after each job the disk's
# interrupts over it (every vector of its virtio device, all CPUs; fio's set-up and ramp included):
#   KITE-FIO irqs job=NAME n=N
# With a NIC (eth0), then the round
# trip to L1 through the VMM's virtio-net and L1's TAP: 192.0.2.2/24 pings 192.0.2.1 $PING_COUNT
# times, 20 ms apart, after the first reply:
#   KITE-FIO ping n=REPLIES rtt_p50=US rtt_p99=US rtt_min=US  (nearest rank, busybox ping's times)
export PATH=/bin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /tmp && mount -t tmpfs tmpfs /tmp
say() { echo "KITE-FIO $*"; }
. /etc/fio.conf
. /etc/nested-init.sh
l2_modules
for i in $(seq 100); do [ -b /dev/vda ] && break; sleep 0.1; done
if [ ! -b /dev/vda ]; then
	say "no-disk"
	poweroff -f
fi
say "disk vda bytes=$(blockdev --getsize64 /dev/vda) sched=$(cat /sys/block/vda/queue/scheduler | tr ' ' ,)"
# no I/O scheduler: what a user benchmarking a virtio disk sets first (and both VMMs get the same)
echo none >/sys/block/vda/queue/scheduler 2>/dev/null
# the disk's virtio device (virtioN) and its interrupts so far: the lines of /proc/interrupts named
# virtioN or virtioN-... (MSI-X: -config, -req.0, ...), summed over the CPU columns
disk_dev=$(basename "$(readlink -f /sys/block/vda/device)")
disk_irqs() {
	awk -v d="$disk_dev" 'NR == 1 { ncpu = NF; next }
		{ for (i = NF; i > ncpu + 1; i--) if ($i ~ ("^" d "(-|$)")) { for (c = 2; c <= ncpu + 1; c++) n += $c; break } }
		END { print n + 0 }' /proc/interrupts
}

for spec in $FIO_JOBS; do
	IFS=: read -r name rw bs qd <<EOF
$spec
EOF
	say "job-start $name"
	irq0=$(disk_irqs)
	fio --name="$name" --filename=/dev/vda --direct=1 --ioengine="$FIO_ENGINE" --rw="$rw" --bs="$bs" \
		--iodepth="$qd" --runtime="$FIO_RUNTIME" --ramp_time="$FIO_RAMP" --time_based \
		--output-format=terse --terse-version=3 >/tmp/fio.out 2>/tmp/fio.err
	irq1=$(disk_irqs)
	# terse v3 (fio 3.33): read iops $8, clat mean $16, clat percentiles $18-$37; write iops $49,
	# clat mean $57, percentiles $59-$78 ("50.000000%=US")
	awk -F';' -v name="$name" -v rw="$rw" '
		function pct(from, p,   i) {
			for (i = from; i < from + 20; i++) if (index($i, p "%=") == 1) return substr($i, length(p) + 3)
			return "-"
		}
		$1 == "3" {
			w = (rw ~ /write/)
			printf "KITE-FIO job=%s iops=%s clat_mean=%s clat_p50=%s clat_p99=%s\n", name,
				w ? $49 : $8, w ? $57 : $16, pct(w ? 59 : 18, "50.000000"), pct(w ? 59 : 18, "99.000000")
			found = 1
		}
		END { if (!found) print "KITE-FIO job=" name " error=no-terse-line" }' /tmp/fio.out
	[ -s /tmp/fio.err ] && say "job=$name stderr $(head -c 200 /tmp/fio.err | tr '\n' ' ')"
	say "irqs job=$name n=$((irq1 - irq0))"
done
if [ -d /sys/class/net/eth0 ]; then
	ip addr add 192.0.2.2/24 dev eth0 && ip link set eth0 up
	# L1 brings its end up when it sees the TAP: retry until the first reply
	for i in $(seq 30); do ping -c 1 -W 1 192.0.2.1 >/dev/null 2>&1 && break; done
	ping -c "$PING_COUNT" -i 0.02 -W 1 192.0.2.1 >/tmp/ping 2>&1
	grep -o 'time=[0-9.]*' /tmp/ping | cut -d= -f2 | sort -n | awk '
		{ t[NR] = $1 * 1000 }
		function rank(p,   i) { i = int(NR * p + 0.999999); if (i < 1) i = 1; return t[i] }
		END { if (NR) printf "KITE-FIO ping n=%d rtt_p50=%.0f rtt_p99=%.0f rtt_min=%.0f\n", NR, rank(0.5), rank(0.99), t[1]
		      else print "KITE-FIO ping n=0" }'
fi
say "done"
poweroff -f
