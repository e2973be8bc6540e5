#!/bin/sh
# SPDX-License-Identifier: MIT
#
# fetch.sh - get an unmodified Debian kernel for tests, unpacked and cached.
#
# Usage: tests/lib/kernel/fetch.sh generic|cloud DEST_DIR
#   generic -> the kernel linux-image-amd64 depends on       (e.g. 6.1.0-56-amd64)
#   cloud   -> the kernel linux-image-cloud-amd64 depends on (e.g. 6.1.0-56-cloud-amd64)
#
# Result (DEST_DIR is created; if DEST_DIR/.complete exists the script does nothing):
#   DEST_DIR/vmlinuz    the bzImage as shipped (boots with the Linux boot protocol)
#   DEST_DIR/vmlinux    the uncompressed ELF from the bzImage payload (has the PVH note:
#                       `qemu -kernel vmlinux` boots it without in-guest decompression)
#   DEST_DIR/modules/   the package's lib/modules/<kver>/ (kernel/..., modules.dep, ...)
#   DEST_DIR/config     the kernel .config
#   DEST_DIR/version    <kver>, one line (what `uname -r` prints in the guest)
#   DEST_DIR/package    <package>_<version> that was unpacked
# Exit status 0 on success; 1 with one line on stderr naming what failed.
#
# Only the Debian archive is contacted (`apt-get download`, run `apt-get update` once if the
# package is unknown). Concurrent callers for the same DEST_DIR wait on DEST_DIR.lock.
set -eu

die() { echo "fetch.sh: $*" >&2; exit 1; }

[ $# -eq 2 ] || die "usage: fetch.sh generic|cloud DEST_DIR"
case $1 in
generic) meta=linux-image-amd64 ;;
cloud)   meta=linux-image-cloud-amd64 ;;
*)       die "flavour '$1': expected generic or cloud" ;;
esac
dest=$2
here=$(cd "$(dirname "$0")" && pwd)

[ -e "$dest/.complete" ] && exit 0
mkdir -p "$(dirname "$dest")" || die "$dest: cannot create parent directory"

# one fetcher per destination; the others wait, then find .complete
exec 9>"$dest.lock" || die "$dest.lock: cannot open"
flock -w 900 9 || die "$dest.lock: still locked after 900 s"
[ -e "$dest/.complete" ] && exit 0

resolve() { apt-cache depends "$meta" 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[^ ]*\)$/\1/p' | head -n 1; }
pkg=$(resolve)
if [ -z "$pkg" ]; then   # package lists missing or stale on this machine: refresh them once
	timeout 600 apt-get update -q >/dev/null 2>&1 || die "$meta: apt-get update failed"
	pkg=$(resolve)
fi
[ -n "$pkg" ] || die "$meta: no linux-image dependency known to apt, even after apt-get update"

work=$(mktemp -d "$dest.work.XXXXXX") || die "$dest: cannot create work directory"
trap 'rm -rf "$work"' EXIT INT TERM

(cd "$work" && timeout 600 apt-get download -q "$pkg" >download.log 2>&1) ||
	die "$pkg: apt-get download failed: $(tail -n 1 "$work/download.log")"
deb=$(ls "$work"/*.deb 2>/dev/null | head -n 1)
[ -n "$deb" ] || die "$pkg: apt-get download left no .deb in $work"
dpkg-deb -x "$deb" "$work/root" || die "$deb: dpkg-deb -x failed"

kver=${pkg#linux-image-}
out=$work/out
mkdir -p "$out"
[ -f "$work/root/boot/vmlinuz-$kver" ] || die "$deb: no boot/vmlinuz-$kver inside"
[ -d "$work/root/lib/modules/$kver" ] || die "$deb: no lib/modules/$kver inside"
mv "$work/root/boot/vmlinuz-$kver" "$out/vmlinuz"
mv "$work/root/boot/config-$kver" "$out/config"
mv "$work/root/lib/modules/$kver" "$out/modules"
echo "$kver" >"$out/version"
dpkg-deb -f "$deb" Package Version | sed -n 's/^Package: //p; s/^Version: //p' | paste -sd_ >"$out/package"
python3 "$here/extract-vmlinux.py" "$out/vmlinuz" "$out/vmlinux" || die "$out/vmlinuz: vmlinux extraction failed"

rm -rf "$dest"
mv "$out" "$dest" || die "$dest: cannot move the unpacked kernel into place"
touch "$dest/.complete"
echo "fetch.sh: $(cat "$dest/package") -> $dest"
