# SPDX-License-Identifier: MIT
# fio_guest_cpio KERNEL_DIR ROOT CPIO JOBS RUNTIME RAMP ENGINE PINGS: the initramfs of a guest that runs
# fio-l2-init.sh (fio's jobs on /dev/vda, then pings), for bench/linux/fio_bench.sh (its L2) and
# fio_vub.sh: busybox, the virtio modules, fio with every library it links (~80 MiB: Debian's fio links
# the ceph, gluster and rdma engines' libraries, and the loader needs them all). Source it after
# tests/lib/initramfs.sh, with $here (bench/linux) and $top set and die() defined; dies on failure.
fio_guest_cpio() {
	local k=$1 root=$2 cpio=$3 m
	new_root "$root" || die "$root: cannot build"
	install -m 755 "$here/fio-l2-init.sh" "$root/init" || die "cannot install the guest /init"
	for m in $l2_virtio_modules; do add_module "$root" "$k" "$m"; done
	add_program "$root" "$(command -v fio)" /usr/bin/fio || die "fio: cannot copy it and its libraries"
	install -m 644 "$top/tests/lib/nested-init.sh" "$root/etc/nested-init.sh" || die "cannot install nested-init.sh"
	printf 'FIO_JOBS="%s"\nFIO_RUNTIME=%s\nFIO_RAMP=%s\nFIO_ENGINE=%s\nPING_COUNT=%s\n' "$4" "$5" "$6" "$7" "$8" \
		>"$root/etc/fio.conf"
	make_cpio "$root" "$cpio" || die "guest cpio failed"
}
