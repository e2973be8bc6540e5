#!/bin/sh
# Install the Debian 12 packages kite needs to build, test and benchmark. Idempotent; run as root.
set -eu
PKGS="meson ninja-build gcc clang pkg-config binutils make
liburing-dev zlib1g-dev libseccomp-dev libcjson-dev libmicrohttpd-dev libssl-dev libcurl4-openssl-dev libcmocka-dev libclang-rt-14-dev
qemu-system-x86 qemu-system-common qemu-utils busybox-static cpio xz-utils kmod acpica-tools e2fsprogs
dpdk dpdk-dev libdpdk-dev openvswitch-switch-dpdk fio iperf3 iproute2 tcpdump valgrind python3 python3-matplotlib curl ca-certificates
linux-perf"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "deps: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing
fi
