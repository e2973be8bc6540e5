#!/bin/bash
# SPDX-License-Identifier: MIT
#
# linux-virtio.sh - an unmodified Debian kernel drives kite's virtio devices with its own drivers.
# kite runs inside an L1 Linux under QEMU TCG with an emulated SVM CPU (real nested KVM, works on
# any host). L1 (l1-virtio-init.sh) makes two raw images in its tmpfs and runs
#   kite --blk path=pci.img --blk path=mmio.img,transport=mmio --net tap=kt0
# L2 (l2-virtio-init.sh) loads virtio_pci/virtio_mmio/virtio_blk/virtio_net/ext4 from its initramfs,
# writes a marker into a file on the ext2 PCI disk and raw into the virtio-mmio disk (found through
# the DSDT's LNRO0005 device), and pings L1's end of the TAP. After kite exits, L1 looks for the
# marker in the image files and reports kt0's packet counters.
#
# Usage: linux-virtio.sh --kite PATH [--flavour generic|cloud] [--work DIR] [--timeout S] [--append ARGS]
#                        [--intx yes]   (L2 gets pci=nomsi: the PCI devices interrupt through the
#                                        DSDT's _PRT, slot 1 -> GSI 16, slot 2 -> GSI 17)
# Env: KITE_KERNEL_CACHE (see tests/lib/kernel/fetch.sh)
# Pass iff: no line of L2's console or kernel log matches l2-problems.ere (RCU stall, lockup, hung
# task, unstable clocksource, "APIC timer disabled", "PCI: Fatal", WARNING/BUG/Oops, panic); kite exit status 0; L2 read its ext2 file back and L1 finds the marker in pci.img;
# the marker is at 1 MiB of mmio.img; L2 got 3 ping replies; kt0 counted rx >= 3 and tx >= 3;
# the virtio-mmio disk interrupts on IOAPIC pin 5, level (the DSDT's Interrupt descriptor);
# with --intx yes the PCI disk and NIC interrupt on IOAPIC pins 16 and 17, level (the _PRT).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
name=linux-virtio
. "$top/tests/lib/nested-run.sh"   # options, kernels, L1 launch, check, problem filter
intx=no flavour=generic
virtio_option() {
	case $1 in
	--flavour) flavour=$2 ;;
	--intx) intx=$2 ;;
	*) return 1 ;;
	esac
}
nested_options virtio_option "$@"
case $intx in yes) append_extra="$append_extra pci=nomsi" ;; no) ;; *) die "--intx $intx: expected yes or no" ;; esac
l2k=$(nested_kernel "$flavour") || exit 1
l1k=$(nested_kernel generic) || exit 1
marker="kite-lv-$(od -An -tx8 -N 8 /dev/urandom | tr -d ' ')"

. "$top/tests/lib/initramfs.sh"   # new_root, add_module, add_program, make_cpio

# L2: busybox, the virtio, virtio-net and ext4 modules (Debian ships no modules.dep: fixed order)
l2root=$work/l2-root
new_root "$l2root" || die "$l2root: cannot build"
install -m 755 "$here/l2-virtio-init.sh" "$l2root/init" && cp "$here/l2-problems.ere" "$l2root/etc/" ||
	die "cannot install the L2 /init"
for m in $l2_virtio_modules; do
	add_module "$l2root" "$l2k" $m
done
install -m 644 "$top/tests/lib/nested-init.sh" "$l2root/etc/nested-init.sh" || die "cannot install nested-init.sh"
make_cpio "$l2root" "$work/l2-initrd.cpio" || die "L2 cpio failed"

# L1: busybox, kvm-amd and tun, kite with its libraries, the L2 kernel and initramfs
l1root=$work/l1-root
new_root "$l1root" || die "$l1root: cannot build"
install -m 755 "$here/l1-virtio-init.sh" "$l1root/init" || die "cannot install the L1 /init"
nested_l1_modules "$l1root" "$l1k"
mkdir -p "$l1root/l2"
cp "$l2k/vmlinuz" "$l1root/l2/kernel" && cp "$work/l2-initrd.cpio" "$l1root/l2/initrd" || die "cannot copy L2"
add_program "$l1root" "$kite" /usr/bin/kite || die "$kite: cannot copy it and its libraries"
cat >"$l1root/etc/l1.conf" <<CONF
L2_CMDLINE="console=ttyS0 loglevel=4 panic=-1 $append_extra"
L2_MEMORY=256
L2_TIMEOUT=$((timeout_s - 60))
KITE_EXTRA=""
CONF
install -m 644 "$top/tests/lib/nested-init.sh" "$l1root/etc/nested-init.sh" || die "cannot install nested-init.sh"
make_cpio "$l1root" "$work/l1-initrd.cpio" || die "L1 cpio failed"

echo "linux-virtio: L1 $(cat "$l1k/version") (QEMU TCG, -cpu EPYC), L2 $(cat "$l2k/version") under kite; log $log"
t0=$(date +%s)
nested_l1_start "$log" "$l1k" "$work/l1-initrd.cpio" "$timeout_s"
wait $nested_l1_pid
qrc=$?
echo "linux-virtio: L1 QEMU exit $qrc after $(( $(date +%s) - t0 )) s"
tr -d '\r' <"$log" | grep -a -E '^(KITE-L1V|L2\| KITE-L2V)'

# ---- checks: every line below must hold
v() { tr -d '\r' <"$log" | grep -a "^$1 " | tail -n 1 | cut -d' ' -f$2-; }
check "L1 finished" "$(tr -d '\r' <"$log" | grep -a -c '^KITE-L1V-DONE')" 1
st=$(tr -d '\r' <"$log" | grep -a '^KITE-L1V kite-status' | cut -d' ' -f3)
check "kite exit status" "$st" 0
check "L2 found the PCI and the virtio-mmio disk" "$(v 'L2| KITE-L2V pci-disk' 4)" "vda mmio-disk vdb"
check "L2 read its ext2 file back" "$(v 'L2| KITE-L2V ext2-read' 4)" "${marker}_ext2-file"
check "L2 unmounted the ext2 disk" "$(v 'L2| KITE-L2V ext2-umount' 4)" ok
check "L2 read the virtio-mmio disk back" "$(v 'L2| KITE-L2V mmio-read' 4)" "${marker}_mmio-raw"
check "ext2 file marker in L1's pci.img" "$(v 'KITE-L1V pci-image-marker' 3)" 1
check "raw marker at 1 MiB of L1's mmio.img" "$(v 'KITE-L1V mmio-image-marker' 3)" 1
check "L2 ping replies from L1 over virtio-net" "$(v 'L2| KITE-L2V ping' 4)" 3_packets_received
counters=$(v 'KITE-L1V tap' 3)
rx=$(echo "$counters" | sed -n 's/.*rx=\([0-9]*\).*/\1/p') tx=$(echo "$counters" | sed -n 's/.*tx=\([0-9]*\).*/\1/p')
check "kt0 received >= 3 packets from L2" "$([ "${rx:-0}" -ge 3 ] && echo yes || echo "no ($counters)")" yes
check "kt0 sent >= 3 packets to L2" "$([ "${tx:-0}" -ge 3 ] && echo yes || echo "no ($counters)")" yes
irqs=" $(v 'L2| KITE-L2V irqs' 4) "
check "virtio-mmio disk on IOAPIC pin 5, level" "$(echo "$irqs" | grep -c ' 5:/5-fasteoi/virtio2 ')" 1
if [ $intx = yes ]; then
	check "PCI disk INTx on IOAPIC pin 16" "$(echo "$irqs" | grep -c ' 16:/16-fasteoi/virtio0 ')" 1
	check "PCI NIC INTx on IOAPIC pin 17" "$(echo "$irqs" | grep -c ' 17:/17-fasteoi/virtio1 ')" 1
fi
# strict: no RCU stall, lockup, hung task, unstable clocksource, WARNING/BUG/Oops or panic in L2's
# console or kernel log (l2-problems.ere; the L1-made lines of l2-known-nested.ere do not count)
problems=$(nested_problems "$log")
check "no RCU stall, lockup, WARNING, BUG, panic... from L2" "$(echo "$problems" | grep -c .)" 0
[ -n "$problems" ] && echo "$problems" | sed 's/^/linux-virtio:   L2: /'
if [ $fail != 0 ]; then
	echo "---- tail of $log"; tr -d '\r' <"$log" | grep -v "TCG doesn't support" | tail -n 40
	echo "linux-virtio: FAIL"; exit 1
fi
echo "linux-virtio: PASS"
