#!/bin/bash
# SPDX-License-Identifier: MIT
#
# linux-vhost.sh - an unmodified Debian kernel on kite's vhost-user devices, all served by kite-dpu.
# Nested (as tests/linux/linux-virtio.sh): L1 Linux under QEMU TCG with an emulated SVM CPU runs
# kite-dpu and kite (l1-vhost-init.sh); L2 (l2-vhost-init.sh) is Debian's kernel with its own
# virtio_blk / virtio_net drivers:
#   - disk vda: kite-dpu volume on a 16 MiB ext2 image: mount, write a marker file, sync, umount;
#   - eth0: a kite-dpu switch port with two queue pairs (kite queues=2, L2 has 2 vCPUs); L2 pings L1
#     (192.0.2.1) behind kite-dpu's TAP uplink ku0, then once from each CPU;
#   - disk vdb: kite-dpu volume on a 4 MiB raw image, packed rings: a stream of 48 O_DIRECT+fsync 4 KiB writes;
#     after the 12th is acknowledged L1 kills kite-dpu with SIGKILL and starts it again; kite
#     reconnects and the stream goes on; then L2 pings L1 again through the restarted switch, its
#     neighbour entry for L1 still REACHABLE from before (so to the MAC ku0 had then).
# Usage: linux-vhost.sh --kite KITE --dpu KITE_DPU --tool BLK_TOOL [--work DIR] [--timeout S]
#        (BLK_TOOL: tests/dpu/blk's blk_tool, the control-socket client used inside L1)
# Env: KITE_KERNEL_CACHE (see tests/lib/kernel/fetch.sh)
# Pass iff: kite exit status 0; L2 read its ext2 file back and L1 finds the marker in fs.img; L2 got
# 3 ping replies, and 3 from each CPU; eth0 has queues rx-0 rx-1 tx-0 tx-1 (Linux enabled both pairs
# through kite's control queue); kite-dpu's vm0 and up0 ports and the TAP ku0 counted >= 3 packets each
# way, vm0's transmit queues 0 and 1 each carried >= 3 frames, and the fs volume counted writes; no
# control-queue refusal in kite's log; every one of the 48 stream blocks was acknowledged (no write error) and
# every acknowledged block holds its text in raw.img; kite-dpu was killed after block 12 and came
# back; kite logged the backend lost and back; no disk and no NIC needed a reset; vdb and eth0 ran
# packed rings (so both resumed from kite-dpu's inflight region); the restarted kite-dpu's ku0 has
# the first one's MAC, which L2's still REACHABLE entry for L1 holds; L2 pinged L1 again after the
# restart; L2 did not panic.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
name=linux-vhost
. "$top/tests/lib/nested-run.sh"   # options, kernels, L1 launch, check
timeout_s=500 dpu="" tool=""
kill_at=12 blocks=48
vhost_option() {
	case $1 in
	--dpu) dpu=$2 ;;
	--tool) tool=$2 ;;
	*) return 1 ;;
	esac
}
nested_options vhost_option "$@"
for x in "$dpu" "$tool"; do [ -x "$x" ] || die "'$x': not an executable (--dpu, --tool)"; done
k=$(nested_kernel generic) || exit 1
marker="kite-lh-$(od -An -tx8 -N 8 /dev/urandom | tr -d ' ')"
. "$top/tests/lib/initramfs.sh"   # new_root, add_module, add_program, make_cpio, $l2_virtio_modules

l2root=$work/l2-root
new_root "$l2root" || die "$l2root: cannot build"
install -m 755 "$here/l2-vhost-init.sh" "$l2root/init" || die "cannot install the L2 /init"
sed -i "s/^STREAM_BLOCKS=.*/STREAM_BLOCKS=$blocks/" "$l2root/init"
for m in $l2_virtio_modules; do add_module "$l2root" "$k" $m; done
install -m 644 "$top/tests/lib/nested-init.sh" "$l2root/etc/nested-init.sh" || die "cannot install nested-init.sh"
make_cpio "$l2root" "$work/l2-initrd.cpio" || die "L2 cpio failed"

l1root=$work/l1-root
new_root "$l1root" || die "$l1root: cannot build"
install -m 755 "$here/l1-vhost-init.sh" "$l1root/init" || die "cannot install the L1 /init"
nested_l1_modules "$l1root" "$k"
mkdir -p "$l1root/l2"
cp "$k/vmlinuz" "$l1root/l2/kernel" && cp "$work/l2-initrd.cpio" "$l1root/l2/initrd" || die "cannot copy L2"
add_program "$l1root" "$kite" /usr/bin/kite || die "$kite: cannot copy it and its libraries"
add_program "$l1root" "$dpu" /usr/bin/kite-dpu || die "$dpu: cannot copy it and its libraries"
add_program "$l1root" "$tool" /usr/bin/blk_tool || die "$tool: cannot copy it and its libraries"
cat >"$l1root/etc/l1.conf" <<CONF
L2_CMDLINE="console=ttyS0 loglevel=4 panic=-1"
L2_MEMORY=256
L2_TIMEOUT=$((timeout_s - 60))
KILL_AT=$kill_at
CONF
install -m 644 "$top/tests/lib/nested-init.sh" "$l1root/etc/nested-init.sh" || die "cannot install nested-init.sh"
make_cpio "$l1root" "$work/l1-initrd.cpio" || die "L1 cpio failed"

echo "linux-vhost: L1 and L2 $(cat "$k/version"); kite-dpu and kite in L1; log $log"
t0=$(date +%s)
nested_l1_start "$log" "$k" "$work/l1-initrd.cpio" "$timeout_s"
wait $nested_l1_pid
echo "linux-vhost: L1 QEMU exit $? after $(( $(date +%s) - t0 )) s"
tr -d '\r' <"$log" | grep -a -E '^(KITE-L1H|L2\| (KITE-L2H (disks|ext2|ping|net-queues|neigh|stream|write-error)|kite: (warning|error)))'

# ---- checks: every line below must hold
clean() { tr -d '\r' <"$log"; }
v() { clean | grep -a "^$1 " | tail -n 1 | cut -d' ' -f$2-; }
num() { echo "$1" | sed -n "s/.*$2=\([0-9]*\).*/\1/p"; }
atleast() { [ "${1:-0}" -ge "$2" ] 2>/dev/null && echo yes || echo "no (${1:-none})"; }
check "L1 finished" "$(clean | grep -a -c '^KITE-L1H-DONE')" 1
check "kite exit status" "$(v 'KITE-L1H kite-status' 3 | cut -d' ' -f1)" 0
check "L2 read its ext2 file back" "$(v 'L2| KITE-L2H ext2-read' 4)" "${marker}_ext2-file"
check "L2 unmounted the ext2 disk" "$(v 'L2| KITE-L2H ext2-umount' 4)" ok
check "ext2 file marker in kite-dpu's fs.img" "$(v 'KITE-L1H fs-image-marker' 3)" 1
check "L2 ping replies from L1 through the switch and ku0" "$(v 'L2| KITE-L2H ping' 4)" 3_packets_received
check "eth0 runs two queue pairs on two CPUs" "$(v 'L2| KITE-L2H net-queues' 4)" "rx-0 rx-1 tx-0 tx-1 cpus=2"
check "L2 ping replies from CPU 0" "$(v 'L2| KITE-L2H ping-cpu0' 4)" 3_packets_received
check "L2 ping replies from CPU 1" "$(v 'L2| KITE-L2H ping-cpu1' 4)" 3_packets_received
vq=$(v 'KITE-L1H vm0-queues' 3)
check "vm0 transmit queue 0 carried >= 3 frames" "$(atleast "$(num "$vq" txq0)" 3)" yes
check "vm0 transmit queue 1 carried >= 3 frames" "$(atleast "$(num "$vq" txq1)" 3)" yes
check "kite refused no control-queue command" "$(clean | grep -a -c 'control queue:')" 0
sw=$(v 'KITE-L1H switch' 3) tap=$(v 'KITE-L1H tap' 3)
check "switch port vm0 counted >= 3 frames in" "$(atleast "$(num "$sw" 'vm0 rx')" 3)" yes
check "switch port vm0 counted >= 3 frames out" "$(atleast "$(echo "$sw" | sed -n 's/.*vm0 rx=[0-9]* tx=\([0-9]*\).*/\1/p')" 3)" yes
check "switch port up0 counted >= 3 frames each way" \
	"$(atleast "$(echo "$sw" | sed -n 's/.*up0 rx=\([0-9]*\) tx=\([0-9]*\).*/\1\n\2/p' | sort -n | head -n 1)" 3)" yes
check "TAP ku0 counted >= 3 packets each way" \
	"$(atleast "$(echo "$tap" | sed -n 's/.*rx=\([0-9]*\) tx=\([0-9]*\).*/\1\n\2/p' | sort -n | head -n 1)" 3)" yes
check "kite-dpu counted writes on the fs volume" "$(atleast "$(num "$(v 'KITE-L1H volume' 3)" writes)" 1)" yes
check "kite-dpu killed after block $kill_at" "$(v 'KITE-L1H dpu-killed' 3)" "after-ack $kill_at"
check "kite-dpu came back with its three sockets" "$(v 'KITE-L1H dpu-2' 3 | cut -d' ' -f1-2)" "up sockets=4"
check "L2's stream finished" "$(clean | grep -a -c '^L2| KITE-L2H stream-done')" 1
check "no write error in the stream" "$(clean | grep -a -c '^L2| KITE-L2H write-error')" 0
check "every stream block acknowledged, each in raw.img" "$(v 'KITE-L1H stream' 3)" \
	"acked=$blocks present=$blocks missing=none"
check "kite logged a lost backend" "$(atleast "$(clean | grep -a -c '^L2| kite: warning: .*lost')" 1)" yes
check "kite logged the backend back" "$(atleast "$(clean | grep -a -c '^L2| kite: .* is back')" 1)" yes
check "no disk needed a reset" "$(clean | grep -a -c 'vhost-user-blk.*device needs reset')" 0
check "the stream disk ran packed rings" "$(atleast "$(clean | grep -a -c 'vhost-user-blk1: driver ready.*packed rings')" 1)" yes
check "the NIC ran packed rings" "$(atleast "$(clean | grep -a -c 'vhost-user-net0: driver ready.*packed rings')" 1)" yes
check "the NIC needed no reset" "$(clean | grep -a -c 'vhost-user-net.*device needs reset')" 0
mac1=$(v 'KITE-L1H dpu-1' 3 | sed -n 's/.* mac=\([0-9a-f:]*\).*/\1/p')
check "ku0 has its MAC again after kite-dpu's restart" "$(v 'KITE-L1H dpu-2' 3 | sed -n 's/.* mac=\([0-9a-f:]*\).*/\1/p')" "${mac1:-none}"
check "L2's neighbour entry for L1 after the stream: that MAC, REACHABLE" "$(v 'L2| KITE-L2H neigh-after-stream' 4)" "${mac1:-none} REACHABLE"
check "L2 pinged L1 again after kite-dpu's restart" "$(v 'L2| KITE-L2H ping-after-restart' 4)" 3_packets_received
if clean | grep -a -q '^L2| .*Kernel panic'; then echo "linux-vhost: FAIL L2 panicked"; fail=1; fi
if [ $fail != 0 ]; then
	echo "---- tail of $log"; clean | grep -v "TCG doesn't support" | tail -n 60
	echo "linux-vhost: FAIL"; exit 1
fi
echo "linux-vhost: PASS"
