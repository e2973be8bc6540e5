#!/bin/sh
# SPDX-License-Identifier: MIT
# Snapshot benchmarks (issue 13): restore latency and CPU, create time and size, vs QEMU's migrate to
# a file. Usage: bench/snapshot/run.sh [BUILD_DIR]; ROUNDS (default 5), SIZES (default 128,1024,4096).
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/../lib.sh"
bench_build snapshot "${1:-}" kite guest/kite-guest.bzImage
kite="$build/kite"
image="$build/guest/kite-guest.bzImage"
python3 "$here/snap_bench.py" "$kite" "$image" "${ROUNDS:-5}" "--sizes=${SIZES:-128,1024,4096}"
