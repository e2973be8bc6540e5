#!/bin/sh
# SPDX-License-Identifier: MIT
# /init of the L1 Linux of tests/snapshot/linux.sh (QEMU TCG, emulated SVM): kite --api-sock boots
# L2 (its /init prints a loop counter), and once L2 printed "KITE-L2-LOOP $SNAP_AT" the VM is paused
# and snapshotted (Full, into tmpfs), kite is killed with SIGKILL, a second kite loads the snapshot
# (resume_vm) and runs L2 to its power-off. Every request: "KITE-L1S api <kite> <METHOD> <path>
# <code> <reply>"; L2's console as "L2| <line>" while it runs, and at the end the two kites' logs
# ("K1| ", "K2| ") and L2's whole console as one byte stream ("L2R| <line>"). busybox sh;
# /etc/l1.conf sets L2_CMDLINE, L2_MEMORY, L2_CPUS, L2_TIMEOUT, SNAP_AT.
export PATH=/bin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /tmp /run && mount -t tmpfs tmpfs /tmp && mount -t tmpfs tmpfs /run
. /etc/l1.conf
say() { echo "KITE-L1S $*"; }
finish() { echo "KITE-L1S-DONE"; poweroff -f; }
. /etc/nested-init.sh

l1_modules || { say "no-dev-kvm"; finish; }

# api KITE METHOD PATH [BODY]
api() {
	k=$1
	shift
	if [ $# -ge 3 ]; then
		curl -s --max-time 120 --unix-socket /run/$k.sock -X "$1" -H 'Content-Type: application/json' \
			-o /tmp/reply -w '%{http_code}' "http://localhost$2" -d "$3" >/tmp/code 2>/tmp/curl-err
	else
		curl -s --max-time 120 --unix-socket /run/$k.sock -X "$1" -o /tmp/reply -w '%{http_code}' \
			"http://localhost$2" >/tmp/code 2>/tmp/curl-err
	fi
	[ -s /tmp/code ] || echo "curl-exit-$?" >/tmp/code
	say "api $k $1 $2 $(cat /tmp/code) $(tr -s '\n\t ' '   ' </tmp/reply 2>/dev/null)"
}

# start_kite NAME: kite --api-sock /run/NAME.sock; L2's console (kite's stdout) is appended to
# /tmp/l2.txt byte for byte (a line the guest was writing when it was paused goes on in the next
# kite's output) and shown live as "L2| " lines; kite's log goes to /tmp/NAME.err. Waits for the
# socket (~30 s hang guard).
start_kite() {
	rm -f /tmp/out-$1 && mkfifo /tmp/out-$1
	tee -a /tmp/l2.txt </tmp/out-$1 | while IFS= read -r line || [ -n "$line" ]; do echo "L2| $line"; done &
	/usr/bin/kite --api-sock /run/$1.sock </dev/null >/tmp/out-$1 2>/tmp/$1.err &
	pid=$!
	i=0
	while [ ! -S /run/$1.sock ] && [ $i -lt 300 ] && [ -d /proc/$pid ]; do sleep 0.1; i=$((i + 1)); done
	say "socket $1 $([ -S /run/$1.sock ] && echo yes || echo no)"
}

# wait_line PATTERN SECONDS: until /tmp/l2.txt has a line matching PATTERN (hang guard); the
# console's lines end in \r\n
wait_line() {
	i=0
	while ! grep -q -E "$1" /tmp/l2.txt 2>/dev/null && [ $i -lt $(($2 * 10)) ]; do sleep 0.1; i=$((i + 1)); done
	grep -q -E "$1" /tmp/l2.txt 2>/dev/null
}

dd if=/dev/zero of=/tmp/rootfs.img bs=1M count=4 2>/dev/null
touch /tmp/l2.txt
start_kite k1
k1=$pid
api k1 PUT /machine-config "{\"vcpu_count\": $L2_CPUS, \"mem_size_mib\": $L2_MEMORY}"
api k1 PUT /boot-source "{\"kernel_image_path\": \"/l2/kernel\", \"initrd_path\": \"/l2/initrd\", \"boot_args\": \"$L2_CMDLINE\"}"
api k1 PUT /drives/rootfs '{"drive_id": "rootfs", "path_on_host": "/tmp/rootfs.img", "is_root_device": true, "is_read_only": true}'
api k1 PUT /actions '{"action_type": "InstanceStart"}'
if wait_line "^KITE-L2-LOOP $SNAP_AT[^0-9]" "$L2_TIMEOUT"; then
	mkdir -p /tmp/snap
	api k1 PATCH /vm '{"state": "Paused"}'
	api k1 PUT /snapshot/create '{"snapshot_type": "Full", "snapshot_path": "/tmp/snap/vm.state", "mem_file_path": "/tmp/snap/vm.mem"}'
	say "loop-at-snapshot $(grep -c '^KITE-L2-LOOP ' /tmp/l2.txt)"
else
	say "loop-not-reached"
fi
kill -KILL $k1
wait $k1
say "k1-killed $?"
sleep 1
start_kite k2
k2=$pid
( sleep "$L2_TIMEOUT"; [ -d /proc/$k2 ] && { say "hang-guard"; kill -KILL $k2; } ) &
guard=$!
api k2 PUT /snapshot/load '{"snapshot_path": "/tmp/snap/vm.state", "mem_backend": {"backend_type": "File", "backend_path": "/tmp/snap/vm.mem"}, "resume_vm": true}'
api k2 GET /
wait $k2
status=$?
kill $guard 2>/dev/null
sleep 1
say "kite-status $status"
sed 's/^/K1| /' /tmp/k1.err
sed 's/^/K2| /' /tmp/k2.err
sed 's/^/L2R| /' /tmp/l2.txt
finish
