#!/bin/sh
# SPDX-License-Identifier: MIT
# VMM benchmarks (issue 2): startup time, RSS overhead, native-mode loop. Usage: bench/vmm/run.sh [BUILD_DIR]
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
build="$(cd "${1:-$here/../../build}" && pwd)"
kite="$build/kite"
image="$build/guest/kite-guest.bzImage"
hostloop="$build/bench/vmm/bench-hostloop"
for f in "$kite" "$image" "$hostloop"; do
	[ -e "$f" ] || { echo "bench/vmm: $f is missing: build first (ninja -C $build)" >&2; exit 1; }
done
nice -n 5 python3 "$here/startup.py" "$kite" "$image" "${RUNS:-11}"
nice -n 5 python3 "$here/rss.py" "$kite" "$image"
python3 "$here/native.py" "$kite" "$image" "$hostloop" "${RUNS:-11}"
