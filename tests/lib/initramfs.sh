# SPDX-License-Identifier: MIT
# Shell functions that build the busybox initramfs images of the nested Linux tests
# (tests/linux/linux-boot.sh, linux-virtio.sh, tests/vhost/linux-vhost.sh, tests/api/linux-api.sh).
# Source it; the caller defines die() and $marker (written to /etc/marker of every root).
#   new_root ROOT                 empty root with static busybox and its applets, /dev/console and
#                                 /dev/null (the kernel needs them before devtmpfs is mounted)
#   add_module ROOT KDIR MOD      KDIR/modules/kernel/MOD.ko into ROOT/lib/modules (built-in: nothing)
#   add_program ROOT EXE DST      EXE as ROOT/DST with the shared libraries ldd names
#   make_cpio ROOT OUT            uncompressed newc cpio of ROOT, owned by root, sorted (the cheapest
#                                 for a TCG-emulated kernel to unpack)
#   api_lab_roots WORK L1K L2K L2INIT L1INIT KITE
#                                 the API lab (tests/api/linux-api.sh, tests/snapshot/linux.sh):
#                                 WORK/l2-initrd.cpio (busybox, L2INIT as /init, tests/linux's
#                                 l2-problems.ere) and WORK/l1-root (busybox, kvm-amd and tun, KITE and
#                                 curl with their libraries, L2K's kernel and that initramfs in /l2,
#                                 L1INIT as /init, nested-init.sh); the caller adds /etc/l1.conf and
#                                 runs make_cpio. Status 1 after die() on a failure.
#   $l2_virtio_modules            an L2's virtio, virtio-blk, virtio-net and ext4 modules in load order
#                                 (Debian ships no modules.dep), paths for add_module

new_root() {
	local r=$1 a
	rm -rf "$r" && mkdir -p "$r"/{bin,dev,proc,sys,tmp,etc,usr/bin,lib/modules} || return 1
	cp /bin/busybox "$r/bin/busybox" || return 1
	file -L "$r/bin/busybox" | grep -q 'statically linked' || { echo "/bin/busybox is not static" >&2; return 1; }
	for a in $("$r/bin/busybox" --list); do [ "$a" = busybox ] || ln -s busybox "$r/bin/$a"; done
	mknod -m 600 "$r/dev/console" c 5 1 && mknod -m 666 "$r/dev/null" c 1 3 &&
		echo "$marker" >"$r/etc/marker"
}
add_module() {
	grep -qx "kernel/$3.ko" "$2/modules/modules.builtin" 2>/dev/null && return 0
	cp "$2/modules/kernel/$3.ko" "$1/lib/modules/" || die "$2: no module $3.ko"
}
add_program() {
	local r=$1 exe=$2 dst=$3 lib
	mkdir -p "$r$(dirname "$dst")" && cp -L "$exe" "$r$dst" || return 1
	for lib in $(ldd "$exe" | grep -o '/[^ ]*'); do
		mkdir -p "$r$(dirname "$lib")" && cp -L "$lib" "$r$lib" || return 1
	done
}
make_cpio() {
	(cd "$1" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --quiet) >"$2.tmp" &&
		mv "$2.tmp" "$2"
}

lab_lib=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
api_lab_roots() {
	local work=$1 l1k=$2 l2k=$3 l2init=$4 l1init=$5 kite=$6 m
	new_root "$work/l2-root" || die "$work/l2-root: cannot build"
	install -m 755 "$l2init" "$work/l2-root/init" && cp "$lab_lib/../linux/l2-problems.ere" "$work/l2-root/etc/" ||
		die "cannot install the L2 /init"
	make_cpio "$work/l2-root" "$work/l2-initrd.cpio" || die "L2 cpio failed"
	new_root "$work/l1-root" || die "$work/l1-root: cannot build"
	install -m 755 "$l1init" "$work/l1-root/init" || die "cannot install the L1 /init"
	for m in virt/lib/irqbypass arch/x86/kvm/kvm drivers/crypto/ccp/ccp arch/x86/kvm/kvm-amd drivers/net/tun; do
		add_module "$work/l1-root" "$l1k" $m
	done
	mkdir -p "$work/l1-root/l2"
	cp "$l2k/vmlinuz" "$work/l1-root/l2/kernel" && cp "$work/l2-initrd.cpio" "$work/l1-root/l2/initrd" ||
		die "cannot copy L2"
	add_program "$work/l1-root" "$kite" /usr/bin/kite || die "$kite: cannot copy it and its libraries"
	add_program "$work/l1-root" "$(command -v curl)" /usr/bin/curl || die "curl: cannot copy it and its libraries"
	install -m 644 "$lab_lib/nested-init.sh" "$work/l1-root/etc/nested-init.sh" || die "cannot install nested-init.sh"
}

l2_virtio_modules="drivers/virtio/virtio_ring drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci_legacy_dev
	drivers/virtio/virtio drivers/virtio/virtio_pci drivers/virtio/virtio_mmio drivers/block/virtio_blk
	net/core/failover drivers/net/net_failover drivers/net/virtio_net lib/crc16 fs/mbcache fs/jbd2/jbd2
	crypto/crc32c_generic fs/ext4/ext4"
