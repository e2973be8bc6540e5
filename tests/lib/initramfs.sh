# SPDX-License-Identifier: MIT
# Shell functions that build the busybox initramfs images of the nested Linux tests
# (tests/linux/linux-virtio.sh, tests/vhost/linux-vhost.sh). Source it; the caller defines
# die() and $marker (written to /etc/marker of every root).
#   new_root ROOT                 empty root with busybox and its applets, /dev/console, /dev/null
#   add_module ROOT KDIR MOD      KDIR/modules/kernel/MOD.ko into ROOT/lib/modules (built-in: nothing)
#   add_program ROOT EXE DST      EXE as ROOT/DST with the shared libraries ldd names
#   make_cpio ROOT OUT            uncompressed newc cpio of ROOT, owned by root, sorted
#   $l2_virtio_modules            an L2's virtio, virtio-blk, virtio-net and ext4 modules in load order
#                                 (Debian ships no modules.dep), paths for add_module

new_root() {
	local r=$1 a
	rm -rf "$r" && mkdir -p "$r"/{bin,dev,proc,sys,tmp,etc,usr/bin,lib/modules} || return 1
	cp /bin/busybox "$r/bin/busybox" || return 1
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
	(cd "$1" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --quiet) >"$2"
}

l2_virtio_modules="drivers/virtio/virtio_ring drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci_legacy_dev
	drivers/virtio/virtio drivers/virtio/virtio_pci drivers/virtio/virtio_mmio drivers/block/virtio_blk
	net/core/failover drivers/net/net_failover drivers/net/virtio_net lib/crc16 fs/mbcache fs/jbd2/jbd2
	crypto/crc32c_generic fs/ext4/ext4"
