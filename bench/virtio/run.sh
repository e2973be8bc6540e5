#!/bin/sh
# SPDX-License-Identifier: MIT
# virtio benchmarks (issue 3): virtio-blk IOPS/throughput and virtio-net TX pps from the polling
# test guest, kite vs QEMU in the same run; exits per I/O from kite --stats. Needs root (netns, TAP).
# Then one core's copy ceiling for 64 KiB page-cache reads (copy_ceiling on CPU 0: kite's mapped
# copy against preadv, the bound of seqread64k once the device side has one core).
# Usage: bench/virtio/run.sh [BUILD_DIR]   (RUNS=N, default 3; VBENCH_ARGS for vbench.py options, e.g.
# "--neighbour off,on --modes randread --qd 1" or "--variant nopoll=build/kite:,poll=0")
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/../lib.sh"
bench_build virtio "${1:-}" kite guest/kite-guest.bzImage tests/lib/tsc_khz bench/virtio/copy_ceiling
kite="$build/kite"
image="$build/guest/kite-guest.bzImage"
# shellcheck disable=SC2086
python3 "$here/vbench.py" "$kite" "$image" --runs "${RUNS:-3}" ${VBENCH_ARGS:-}
img=$(mktemp /var/tmp/copy-ceiling.XXXXXX)
trap 'rm -f "$img"' EXIT
dd if=/dev/urandom of="$img" bs=1M count=256 status=none
cat "$img" >/dev/null
taskset -c 0 "$build/bench/virtio/copy_ceiling" "$img" 7
