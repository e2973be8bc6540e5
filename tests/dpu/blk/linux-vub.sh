#!/bin/bash
# SPDX-License-Identifier: MIT
#
# linux-vub.sh - a real Linux guest (Debian cloud kernel under QEMU TCG, busybox initramfs) uses two
# encrypted kite-dpu volumes through its own virtio_blk driver, as vhost-user-blk-pci devices:
#   vda: the guest reads data the host encrypted into the image, writes /bin/busybox raw, flushes,
#        drops its caches and reads it back;
#   vdb: mke2fs, mount, write files, umount, mount again, read them back.
# The host then checks the images hold AES-256-XTS ciphertext (not the plaintext) that decrypts to
# exactly what the guest wrote.
#
# Mode "restart": the guest writes 64 KiB blocks one by one (each with fsync) while the host kills
# kite-dpu with SIGKILL and starts it again; QEMU reconnects (reconnect=1), the inflight region and the
# used index let the new kite-dpu resume, and the guest then reads every block back.
#
# Usage: linux-vub.sh KITE_DPU BLK_TOOL [basic|restart] [WORKDIR]
# Env: KITE_KERNEL_CACHE (default /var/cache/kite-tests), TIMEOUT (guest seconds, default 120)
# Exit: 0 pass, 1 fail, 77 skip (no QEMU / no kernel obtainable).
set -uo pipefail

dpu=${1:?usage: linux-vub.sh KITE_DPU BLK_TOOL [basic|restart] [WORKDIR]}
tool=${2:?usage: linux-vub.sh KITE_DPU BLK_TOOL [basic|restart] [WORKDIR]}
mode=${3:-basic}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
cache=${KITE_KERNEL_CACHE:-/var/cache/kite-tests}
timeout_s=${TIMEOUT:-120}

fail() { echo "linux-vub: FAIL: $*" >&2; [ -f "$W/console.log" ] && tail -n 30 "$W/console.log" >&2; [ -f "$W/dpu.log" ] && tail -n 20 "$W/dpu.log" >&2; exit 1; }
skip() { echo "linux-vub: SKIP: $*"; exit 77; }

command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is not installed"
[ -x /bin/busybox ] && file -L /bin/busybox | grep -q 'statically linked' || skip "busybox-static is not installed"
[ -f /usr/share/qemu/qboot.rom ] || skip "qboot.rom is missing"
"$top/tests/lib/kernel/fetch.sh" cloud "$cache/kernel-cloud" || skip "cannot obtain the Debian cloud kernel"
K=$cache/kernel-cloud

W=${4:-$(mktemp -d "${TMPDIR:-/tmp}/kite-vub.XXXXXX")}
mkdir -p "$W"
DPU_PID=
QEMU_PID=
cleanup() {
	[ -n "$QEMU_PID" ] && kill -9 "$QEMU_PID" 2>/dev/null
	[ -n "$DPU_PID" ] && kill -9 "$DPU_PID" 2>/dev/null
	wait 2>/dev/null
	[ -z "${KITE_KEEP_TMP:-}" ] && [ -z "${4:-}" ] && rm -rf "$W"
}
trap cleanup EXIT

# ---- initramfs: busybox, the virtio modules, a self-test /init ----
R=$W/root
mkdir -p "$R"/{bin,dev,proc,sys,mnt,lib/modules}
cp /bin/busybox "$R/bin/busybox"
for a in sh mount umount insmod sleep cat echo dd md5sum head stat blockdev mke2fs sync poweroff seq cp mkdir ls; do
	ln -sf busybox "$R/bin/$a"
done
for m in virtio/virtio_ring virtio/virtio_pci_modern_dev virtio/virtio_pci_legacy_dev virtio/virtio \
	 virtio/virtio_pci block/virtio_blk; do
	f=$(ls "$K/modules/kernel/drivers/$m.ko"* 2>/dev/null | head -n 1)
	[ -n "$f" ] || skip "kernel module $m not found in $K"
	cp "$f" "$R/lib/modules/"
done
cat > "$R/init" <<'EOF'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in virtio_ring virtio_pci_modern_dev virtio_pci_legacy_dev virtio virtio_pci virtio_blk; do
	insmod /lib/modules/$m.ko || echo "VUB-ERR insmod $m"
done
for i in $(seq 100); do [ -b /dev/vda ] && [ -b /dev/vdb ] && break; sleep 0.1; done
echo "VUB-SIZE $(blockdev --getsize64 /dev/vda)"
echo "VUB-HOSTDATA $(dd if=/dev/vda bs=65536 skip=512 count=16 2>/dev/null | md5sum)"
n=$(stat -c %s /bin/busybox)
dd if=/bin/busybox of=/dev/vda bs=65536 seek=16 conv=fsync 2>/dev/null || echo "VUB-ERR dd write"
blockdev --flushbufs /dev/vda
echo 3 > /proc/sys/vm/drop_caches
echo "VUB-RAW $(dd if=/dev/vda bs=65536 skip=16 2>/dev/null | head -c $n | md5sum)"
mke2fs -q /dev/vdb || echo "VUB-ERR mke2fs"
mount -t ext4 /dev/vdb /mnt || echo "VUB-ERR mount"
cp /bin/busybox /mnt/bb
echo hello-kite-dpu-file > /mnt/hello
sync
umount /mnt
blockdev --flushbufs /dev/vdb
echo 3 > /proc/sys/vm/drop_caches
mount -t ext4 /dev/vdb /mnt || echo "VUB-ERR remount"
echo "VUB-FILE $(md5sum < /mnt/bb)"
echo "VUB-HELLO $(cat /mnt/hello)"
umount /mnt
echo "VUB-DONE"
poweroff -f
EOF
if [ "$mode" = restart ]; then
	cat > "$R/init" <<'EOF'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in virtio_ring virtio_pci_modern_dev virtio_pci_legacy_dev virtio virtio_pci virtio_blk; do
	insmod /lib/modules/$m.ko || echo "VUB-ERR insmod $m"
done
for i in $(seq 100); do [ -b /dev/vda ] && break; sleep 0.1; done
for i in $(seq 0 31); do
	dd if=/bin/busybox of=/dev/vda bs=65536 skip=$i seek=$i count=1 conv=fsync 2>/dev/null || echo "VUB-ERR write $i"
	echo "VUB-PROGRESS $i"
	sleep 0.25
done
blockdev --flushbufs /dev/vda
echo 3 > /proc/sys/vm/drop_caches
echo "VUB-WANT $(head -c 2097152 /bin/busybox | md5sum)"
echo "VUB-GOT $(head -c $(head -c 2097152 /bin/busybox | wc -c) /dev/vda | md5sum)"
echo "VUB-DONE"
poweroff -f
EOF
	ln -sf busybox "$R/bin/wc"
fi
chmod +x "$R/init"
(cd "$R" && find . | cpio -o -H newc --quiet) > "$W/initrd.cpio" || fail "cannot build the initramfs"

# ---- images and kite-dpu ----
key=$(head -c 64 /dev/urandom | od -An -tx1 | tr -d ' \n')
truncate -s 64M "$W/a.img" "$W/b.img"
head -c 1048576 /bin/busybox > "$W/hostdata"
"$tool" xts-enc "$key" "$W/a.img" $((32 << 20)) "$W/hostdata" || fail "cannot prepare the host data"
start_dpu() {
	rm -f "$W/ctl.sock"
	"$dpu" --control "$W/ctl.sock" --cores 0 >> "$W/dpu.log" 2>&1 &
	DPU_PID=$!
	for i in $(seq 200); do [ -S "$W/ctl.sock" ] && break; sleep 0.05; done
	for v in a b; do
		"$tool" ctl "$W/ctl.sock" "{\"cmd\":\"add_volume\",\"name\":\"$v\",\"image\":\"$W/$v.img\",\"socket\":\"$W/$v.sock\",\"queues\":2,\"key\":\"$key\"}" \
			>/dev/null || fail "add_volume $v"
	done
}
start_dpu

# ---- the guest ----
timeout "$timeout_s" qemu-system-x86_64 -accel tcg -M q35 -m 512 -smp 1 -nodefaults -no-reboot \
	-bios /usr/share/qemu/qboot.rom -display none -monitor none -serial "file:$W/console.log" \
	-object memory-backend-memfd,id=mem,size=512M,share=on -numa node,memdev=mem \
	-chardev socket,id=ca,path="$W/a.sock",reconnect=1 -device vhost-user-blk-pci,chardev=ca,num-queues=2 \
	-chardev socket,id=cb,path="$W/b.sock",reconnect=1 -device vhost-user-blk-pci,chardev=cb,num-queues=1 \
	-kernel "$K/vmlinux" -initrd "$W/initrd.cpio" \
	-append "console=ttyS0 quiet loglevel=4 panic=-1 mitigations=off cryptomgr.notests no_timer_check tsc=reliable i8042.noaux i8042.nomux i8042.nopnp 8250.nr_uarts=1 random.trust_cpu=on audit=0" \
	> "$W/qemu.log" 2>&1 &
QEMU_PID=$!
if [ "$mode" = restart ]; then
	# kill -9 kite-dpu while the guest is writing, then bring it back
	for i in $(seq 600); do
		grep -aq "VUB-PROGRESS 8" "$W/console.log" 2>/dev/null && break
		kill -0 "$QEMU_PID" 2>/dev/null || break
		sleep 0.1
	done
	grep -aq "VUB-PROGRESS 8" "$W/console.log" || fail "the guest never got to write block 8"
	grep -aq "VUB-PROGRESS 31" "$W/console.log" && fail "the guest finished before kite-dpu could be killed"
	kill -9 "$DPU_PID"
	wait "$DPU_PID" 2>/dev/null
	killed_at=$(grep -a "VUB-PROGRESS" "$W/console.log" | tail -n 1)
	sleep 1
	start_dpu
	echo "linux-vub: killed kite-dpu after '$killed_at', restarted it" >&2
fi
wait "$QEMU_PID"
rc=$?
QEMU_PID=
[ $rc -eq 124 ] && fail "the guest did not finish within ${timeout_s}s"
grep -q "VUB-DONE" "$W/console.log" || fail "the guest did not finish its script (qemu exit $rc: $(tail -n 3 "$W/qemu.log"))"
grep "VUB-ERR" "$W/console.log" && fail "the guest reported errors"

# ---- checks ----
val() { sed -n "s/^$1 \([^ ]*\).*/\1/p" "$W/console.log" | tr -d '\r' | head -n 1; }
if [ "$mode" = restart ]; then
	[ "$(val VUB-GOT)" = "$(val VUB-WANT)" ] || fail "the guest read back different data after the restart"
	head -c 2097152 /bin/busybox > "$W/want"
	"$tool" xts-check "$key" "$W/a.img" 0 "$W/want" || fail "the image does not hold the guest's data after the restart"
	[ "$(grep -c "frontend connected on $W/a.sock" "$W/dpu.log")" -ge 2 ] || fail "QEMU never reconnected"
	kill -TERM "$DPU_PID"
	wait "$DPU_PID"
	rc=$?
	DPU_PID=
	[ $rc -eq 0 ] || fail "kite-dpu exited with $rc"
	echo "linux-vub: PASS (kite-dpu killed with SIGKILL under a writing Linux guest and restarted; nothing lost)"
	exit 0
fi
[ "$(val VUB-SIZE)" = $((64 << 20)) ] || fail "guest sees capacity $(val VUB-SIZE)"
[ "$(val VUB-HOSTDATA)" = "$(md5sum < "$W/hostdata" | cut -d' ' -f1)" ] || fail "guest read of host-encrypted data differs"
bb_md5=$(md5sum < /bin/busybox | cut -d' ' -f1)
[ "$(val VUB-RAW)" = "$bb_md5" ] || fail "raw round trip through vda differs"
[ "$(val VUB-FILE)" = "$bb_md5" ] || fail "file round trip through ext2 on vdb differs"
[ "$(val VUB-HELLO)" = hello-kite-dpu-file ] || fail "small file on vdb differs"
# the image holds ciphertext that decrypts to what the guest wrote
"$tool" xts-check "$key" "$W/a.img" $((1 << 20)) /bin/busybox || fail "vda image is not the ciphertext of the guest's write"
grep -qa hello-kite-dpu-file "$W/b.img" && fail "vdb image holds plaintext"
"$tool" xts-dec "$key" "$W/b.img" 0 $((16 << 20)) "$W/b.plain" || fail "cannot decrypt vdb"
grep -qa hello-kite-dpu-file "$W/b.plain" || fail "decrypted vdb lacks the guest's file"
[ "$(od -An -tx2 -j 1080 -N 2 "$W/b.plain" | tr -d ' ')" = ef53 ] || fail "decrypted vdb has no ext2 superblock"
[ "$(od -An -tx2 -j 1080 -N 2 "$W/b.img" | tr -d ' ')" != ef53 ] || fail "vdb superblock is in plaintext"
grep -q "$key" "$W/dpu.log" && fail "the key appears in the kite-dpu log"
stats=$("$tool" ctl "$W/ctl.sock" '{"cmd":"stats"}') || fail "stats"
echo "$stats" | grep -q 'kite_dpu_blk_writes_total{volume=\\"b\\"} [1-9]' || fail "no writes counted on b"

kill -TERM "$DPU_PID"
wait "$DPU_PID"
rc=$?
DPU_PID=
[ $rc -eq 0 ] || fail "kite-dpu exited with $rc"
echo "linux-vub: PASS (guest wrote/read raw and ext2 data on two AES-XTS volumes)"
exit 0
