#!/bin/sh
# SPDX-License-Identifier: MIT
# Snapshot benchmarks (issue 13): restore latency and CPU, create time and size, vs QEMU's migrate to
# a file. Usage: bench/snapshot/run.sh [BUILD_DIR]; ROUNDS (default 5), SIZES (default 128,1024,4096).
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
build="$(cd "${1:-$here/../../build}" && pwd)"
kite="$build/kite"
image="$build/guest/kite-guest.bzImage"
for f in "$kite" "$image"; do
	[ -e "$f" ] || { echo "bench/snapshot: $f is missing: build first (ninja -C $build)" >&2; exit 1; }
done
python3 "$here/snap_bench.py" "$kite" "$image" "${ROUNDS:-5}" "--sizes=${SIZES:-128,1024,4096}"
