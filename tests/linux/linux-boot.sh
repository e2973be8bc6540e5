#!/bin/bash
# SPDX-License-Identifier: MIT
#
# linux-boot.sh - boot an unmodified Debian kernel with a busybox initramfs under a VMM (kite by
# default) to a shell command that prints a marker and powers off; pass iff every boot did.
#
# Usage: linux-boot.sh --kite PATH [options]
#   --kite PATH          the kite executable (required unless --vmm qemu)
#   --vmm kite|qemu      L2 VMM (qemu = reference variant, only in nested mode)      [kite]
#   --cpus "1 2"         one boot per vCPU count                                      [1 2]
#   --flavour generic|cloud   Debian kernel of the L2 guest                           [generic]
#   --image vmlinuz|vmlinux   bzImage or uncompressed ELF for the L2 guest            [vmlinuz]
#   --mode auto|nested|direct direct: kite on this host's /dev/kvm; nested: kite inside an L1 Linux
#                        under QEMU TCG with an emulated SVM CPU; auto: direct where /dev/kvm is
#                        hardware virtualization (kvm_intel / kvm_amd), else nested       [auto]
#   --work DIR           initramfs trees, images and console logs                     [./linux-work]
#   --timeout S          hang guard for the whole run (each boot gets its share)      [800]
#   --append "ARGS"      extra L2 kernel command line (e.g. "earlyprintk=serial,ttyS0 loglevel=8")
#   --kite-args "ARGS"   extra kite arguments (e.g. "--stats")
#   --qemu-cpu MODEL     -cpu of the reference QEMU inside L1 (--vmm qemu)           [host]
#   --l2-kernel PATH --l2-cmdline STR   diagnostics: boot this image with this exact command line
#                        instead of the Debian kernel (e.g. build/guest/kite-guest.bzImage with
#                        "console=ttyS0 kite.test=timer"); the marker check then fails by design
# Env: KITE_KERNEL_CACHE  where tests/lib/kernel/fetch.sh keeps kernels   [/var/cache/kite-tests]
#
# Checked for every vCPU count N (from the console log): the L2 guest printed
# "KITE-L2-OK <kernel release> cpus=N", it did not panic, and the VMM exited with status 0.
# Exit status: 0 pass, 1 fail (the reason is printed, the full console log path too).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
kite=""
vmm=kite
cpus_list="1 2"
flavour=generic
image=vmlinuz
mode=auto
work=./linux-work
timeout_s=800
append_extra=""
kite_args=""
cache=${KITE_KERNEL_CACHE:-/var/cache/kite-tests}
l2_kernel_override=""
qemu_cpu=host
l2_cmdline_override=""

die() { echo "linux-boot: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || die "option $1 needs a value"
	case $1 in
	--kite) kite=$2 ;;
	--vmm) vmm=$2 ;;
	--cpus) cpus_list=$2 ;;
	--flavour) flavour=$2 ;;
	--image) image=$2 ;;
	--mode) mode=$2 ;;
	--work) work=$2 ;;
	--timeout) timeout_s=$2 ;;
	--append) append_extra=$2 ;;
	--kite-args) kite_args=$2 ;;
	--l2-kernel) l2_kernel_override=$2 ;;
	--qemu-cpu) qemu_cpu=$2 ;;
	--l2-cmdline) l2_cmdline_override=$2 ;;
	*) die "unknown option $1 (see the header of $0)" ;;
	esac
	shift 2
done

case $vmm in kite|qemu) ;; *) die "--vmm $vmm: expected kite or qemu" ;; esac
case $image in vmlinuz|vmlinux) ;; *) die "--image $image: expected vmlinuz or vmlinux" ;; esac
for n in $cpus_list; do
	case $n in ''|*[!0-9]*) die "--cpus '$cpus_list': not a list of numbers" ;; esac
done
if [ "$vmm" = kite ]; then
	[ -n "$kite" ] || die "--kite PATH is required"
	[ -x "$kite" ] || die "$kite: not an executable"
	kite=$(cd "$(dirname "$kite")" && pwd)/$(basename "$kite")
fi

if [ "$mode" = auto ]; then
	if [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; then mode=direct; else mode=nested; fi
fi
case $mode in nested|direct) ;; *) die "--mode $mode: expected auto, nested or direct" ;; esac
[ "$mode" = direct ] && [ "$vmm" != kite ] && die "--vmm qemu exists only in nested mode"

# L2: quiet console (in nested mode every serial byte is several nested exits)
l2_cmdline="console=ttyS0 loglevel=4 panic=-1 $append_extra"
[ -n "$l2_cmdline_override" ] && l2_cmdline=$l2_cmdline_override
l2_memory=256
# per-boot hang guard: the runs share the whole budget, minus a minute for L1 and the checks
nruns=$(echo $cpus_list | wc -w)
[ "$nruns" -gt 0 ] || die "--cpus: empty list"
boot_timeout=$(( (timeout_s - 60) / nruns ))
[ $boot_timeout -ge 30 ] || boot_timeout=30

mkdir -p "$work" || die "$work: cannot create"
work=$(cd "$work" && pwd)
log=$work/console-$mode-$vmm-$flavour-$image.log

# ---------------------------------------------------------------- kernels
"$top/tests/lib/kernel/fetch.sh" "$flavour" "$cache/kernel-$flavour" || die "cannot get the $flavour kernel"
l2k=$cache/kernel-$flavour
l2_release=$(cat "$l2k/version")
l2_image=$l2k/$image
if [ -n "$l2_kernel_override" ]; then
	[ -r "$l2_kernel_override" ] || die "$l2_kernel_override: not readable"
	l2_image=$l2_kernel_override
fi
if [ "$mode" = nested ]; then
	"$top/tests/lib/kernel/fetch.sh" generic "$cache/kernel-generic" || die "cannot get the generic kernel for L1"
	l1k=$cache/kernel-generic
fi

# ---------------------------------------------------------------- initramfs helpers
# a root tree with static busybox, its applet links and the device nodes the kernel needs
# before devtmpfs is mounted (/dev/console for init's stdio)
new_root() {
	local r=$1 a
	rm -rf "$r" && mkdir -p "$r"/{bin,dev,proc,sys,tmp,etc,usr/bin,lib/modules} || return 1
	cp /bin/busybox "$r/bin/busybox" || return 1
	file -L "$r/bin/busybox" | grep -q 'statically linked' || { echo "/bin/busybox is not static" >&2; return 1; }
	for a in $("$r/bin/busybox" --list); do
		[ "$a" = busybox ] || ln -s busybox "$r/bin/$a"
	done
	mknod -m 600 "$r/dev/console" c 5 1 && mknod -m 666 "$r/dev/null" c 1 3
}

# copy a dynamically linked executable and every shared object it loads, at the same paths
add_program() {
	local r=$1 exe=$2 dst=$3 lib
	mkdir -p "$r$(dirname "$dst")" && cp -L "$exe" "$r$dst" || return 1
	for lib in $(ldd "$exe" | grep -o '/[^ ]*'); do
		mkdir -p "$r$(dirname "$lib")" && cp -L "$lib" "$r$lib" || return 1
	done
}

# uncompressed newc cpio: the cheapest for a TCG-emulated kernel to unpack
make_cpio() {
	(cd "$1" && find . -print0 | LC_ALL=C sort -z |
		cpio --null -o -H newc -R 0:0 --quiet) >"$2.tmp" && mv "$2.tmp" "$2"
}

# ---------------------------------------------------------------- L2 initramfs
l2root=$work/l2-root
new_root "$l2root" || die "$l2root: cannot build the L2 tree"
install -m 755 "$here/l2-init.sh" "$l2root/init" || die "$l2root/init: cannot install"
make_cpio "$l2root" "$work/l2-initrd.cpio" || die "$work/l2-initrd.cpio: cpio failed"

# ---------------------------------------------------------------- check one console log
# check_log LOG: for every N in $cpus_list one "KITE-L1-RESULT vmm=$vmm cpus=N status=0" whose run
# printed "L2| KITE-L2-OK $l2_release cpus=N" and no "Kernel panic".
check_log() {
	local lg=$1 n fail=0 verdict
	for n in $cpus_list; do
		verdict=$(tr -d '\r' <"$lg" | awk -v vmm="$vmm" -v n="$n" -v rel="$l2_release" '
			$0 ~ "^L1: run vmm=" vmm " cpus=" n " start" { inrun = 1; ok = 0; panic = 0; next }
			inrun && index($0, "L2| KITE-L2-OK " rel " cpus=" n " ") == 1 { ok = 1 }
			inrun && /^L2\| .*Kernel panic/ { panic = 1 }
			inrun && $0 ~ "^KITE-L1-RESULT vmm=" vmm " cpus=" n " " {
				inrun = 0; st = $4; sub("status=", "", st)
				if (!ok) res = "no marker line \"KITE-L2-OK " rel " cpus=" n "\" from L2"
				else if (panic) res = "L2 kernel panicked (poweroff failed?)"
				else if (st != "0") res = "VMM exit status " st
				else res = "PASS"
				done = 1
			}
			END {
				if (!done) res = inrun ? "run started but never finished (hang guard hit?)" : "run never started"
				print res
			}')
		if [ "$verdict" = PASS ]; then
			echo "linux-boot: PASS vmm=$vmm cpus=$n kernel=$l2_release image=$image"
		else
			echo "linux-boot: FAIL vmm=$vmm cpus=$n kernel=$l2_release image=$image: $verdict"
			fail=1
		fi
	done
	return $fail
}

# ---------------------------------------------------------------- direct mode
if [ "$mode" = direct ]; then
	: >"$log"
	for n in $cpus_list; do
		echo "L1: run vmm=kite cpus=$n start" >>"$log"
		# shellcheck disable=SC2086
		timeout -k 5 "$boot_timeout" "$kite" --kernel "$l2_image" --initrd "$work/l2-initrd.cpio" \
			--cmdline "$l2_cmdline" --memory "$l2_memory" --cpus "$n" $kite_args </dev/null 2>&1 |
			sed 's/^/L2| /' >>"$log"
		echo "KITE-L1-RESULT vmm=kite cpus=$n status=${PIPESTATUS[0]}" >>"$log"
	done
	check_log "$log"; rc=$?
	[ $rc = 0 ] || { echo "---- tail of $log"; tail -n 40 "$log"; }
	echo "linux-boot: console log $log"
	exit $rc
fi

# ---------------------------------------------------------------- L1 initramfs (nested mode)
l1root=$work/l1-root
new_root "$l1root" || die "$l1root: cannot build the L1 tree"
install -m 755 "$here/l1-init.sh" "$l1root/init" || die "$l1root/init: cannot install"
# kvm-amd needs kvm and ccp, kvm needs irqbypass (Debian ships no modules.dep: order is fixed here)
for m in virt/lib/irqbypass arch/x86/kvm/kvm drivers/crypto/ccp/ccp arch/x86/kvm/kvm-amd; do
	cp "$l1k/modules/kernel/$m.ko" "$l1root/lib/modules/" || die "$l1k: no module $m.ko"
done
mkdir -p "$l1root/l2"
cp "$l2_image" "$l1root/l2/kernel" && cp "$work/l2-initrd.cpio" "$l1root/l2/initrd" ||
	die "$l1root/l2: cannot copy the L2 kernel and initramfs"
runs=""
for n in $cpus_list; do runs="$runs $vmm:$n"; done
if [ "$vmm" = kite ]; then
	add_program "$l1root" "$kite" /usr/bin/kite || die "$kite: cannot copy it and its libraries"
else
	add_program "$l1root" "$(command -v qemu-system-x86_64)" /usr/bin/qemu-system-x86_64 ||
		die "qemu-system-x86_64: cannot copy it and its libraries"
	mkdir -p "$l1root/usr/share/qemu"
	for f in /usr/share/seabios/bios-256k.bin /usr/share/qemu/{linuxboot_dma,linuxboot,kvmvapic,pvh}.bin; do
		cp -L "$f" "$l1root/usr/share/qemu/" || die "$f: cannot copy QEMU firmware"
	done
fi
cat >"$l1root/etc/l1.conf" <<EOF
RUNS="$runs"
L2_CMDLINE="$l2_cmdline"
L2_MEMORY=$l2_memory
L2_TIMEOUT=$boot_timeout
KITE_EXTRA="$kite_args"
QEMU_CPU="$qemu_cpu"
QEMU_EXTRA="${QEMU_EXTRA:-}"
L1_SHMEM_THP="${L1_SHMEM_THP:-}"
EOF
make_cpio "$l1root" "$work/l1-initrd.cpio" || die "$work/l1-initrd.cpio: cpio failed"

# ---------------------------------------------------------------- run L1 under QEMU TCG
echo "linux-boot: nested: L1 $(cat "$l1k/version") under QEMU TCG (-cpu EPYC), L2 $l2_release" \
	"($image) under $vmm, runs:$runs; console log $log"
t0=$(date +%s.%N)
timeout -k 10 "$timeout_s" qemu-system-x86_64 -accel tcg -cpu EPYC -m 2048 -smp 1 \
	-nodefaults -display none -no-reboot -serial stdio \
	-kernel "$l1k/vmlinux" -initrd "$work/l1-initrd.cpio" \
	-append "console=ttyS0 panic=-1 loglevel=4 mitigations=off" </dev/null >"$log" 2>&1
qrc=$?
t1=$(date +%s.%N)
check_log "$log"; rc=$?
grep -a -q '^KITE-L1-DONE' "$log" || { echo "linux-boot: FAIL: L1 never printed KITE-L1-DONE"; rc=1; }
[ $qrc = 0 ] || { echo "linux-boot: FAIL: L1 QEMU exit status $qrc (124 = hang guard of ${timeout_s} s)"; rc=1; }
grep -a -E '^(L1: |KITE-L1-RESULT)' "$log" | tr -d '\r'
echo "linux-boot: L1 QEMU wall time $(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }") s"
[ $rc = 0 ] || { echo "---- tail of $log"; tr -d '\r' <"$log" | grep -v "TCG doesn't support" | tail -n 40; }
exit $rc
