#!/bin/sh
# SPDX-License-Identifier: MIT
# /init of the L1 Linux of linux-api.sh (under QEMU TCG with an emulated SVM CPU): load KVM, start
# `kite --api-sock /run/kite.sock` and configure and start the L2 VM with curl over the socket,
# exactly as a Firecracker user would. Every request is reported as
#   KITE-L1A api <METHOD> <path> <HTTP code> <reply body, spaces squeezed>
# and the rest as "KITE-L1A <what> <value>"; L2's console (kite's stdout and stderr) as "L2| <line>".
# busybox sh; /etc/l1.conf sets L2_CMDLINE, L2_MEMORY, L2_CPUS, L2_TIMEOUT.
say() { echo "KITE-L1A $*"; }
finish() { echo "KITE-L1A-DONE"; poweroff -f; }
. /etc/nested-init.sh
l1_begin
sock=/run/kite.sock

# api METHOD PATH [BODY]: one request as Firecracker's docs make it; the reply goes to /tmp/reply
api() {
	if [ $# -ge 3 ]; then
		curl -s --max-time 20 --unix-socket $sock -X "$1" -H 'Content-Type: application/json' \
			-o /tmp/reply -w '%{http_code}' "http://localhost$2" -d "$3" >/tmp/code 2>/tmp/curl-err
	else
		curl -s --max-time 20 --unix-socket $sock -X "$1" -o /tmp/reply -w '%{http_code}' \
			"http://localhost$2" >/tmp/code 2>/tmp/curl-err
	fi
	[ -s /tmp/code ] || echo "curl-exit-$?" >/tmp/code
	say "api $1 $2 $(cat /tmp/code) $(tr -s '\n\t ' '   ' </tmp/reply 2>/dev/null)"
}

# a small image for the root drive (L2's /init lives in its initramfs and never mounts it)
dd if=/dev/zero of=/tmp/rootfs.img bs=1M count=4 2>/dev/null

l1_relay
say "kite-start uptime=$(cut -d' ' -f1 /proc/uptime)"
/usr/bin/kite --api-sock $sock </dev/null >/tmp/out 2>&1 &
pid=$!
( sleep "$L2_TIMEOUT"; [ -d /proc/$pid ] && { say "hang-guard"; kill -KILL $pid; } ) &
guard=$!
# the socket appears once kite listens (hang guard: ~30 s, then the requests fail and say so)
i=0
while [ ! -S $sock ] && [ $i -lt 300 ] && [ -d /proc/$pid ]; do sleep 0.1; i=$((i + 1)); done
say "socket $([ -S $sock ] && echo yes || echo no)"

api GET /
api PUT /logger '{"log_path": "/tmp/kite.log", "level": "Info", "show_level": true}'
api PUT /machine-config "{\"vcpu_count\": $L2_CPUS, \"mem_size_mib\": $L2_MEMORY}"
api PUT /boot-source "{\"kernel_image_path\": \"/l2/kernel\", \"initrd_path\": \"/l2/initrd\", \"boot_args\": \"$L2_CMDLINE\"}"
api PUT /drives/rootfs '{"drive_id": "rootfs", "path_on_host": "/tmp/rootfs.img", "is_root_device": true, "is_read_only": true}'
api GET /vm/config
api PUT /actions '{"action_type": "InstanceStart"}'
api GET /

wait $pid
status=$?
kill $guard 2>/dev/null
wait $reader
say "kite-status $status uptime=$(cut -d' ' -f1 /proc/uptime)"
say "socket-after-exit $([ -e $sock ] && echo present || echo removed)"
say "logger-started $(grep -c 'vm: started' /tmp/kite.log 2>/dev/null || echo 0)"
finish
