#!/bin/sh
# SPDX-License-Identifier: MIT
# VMM benchmarks (issue 2): startup time, RSS overhead, native-mode loop. Usage: bench/vmm/run.sh [BUILD_DIR]
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/../lib.sh"
bench_build vmm "${1:-}" kite guest/kite-guest.bzImage bench/vmm/bench-hostloop
kite="$build/kite"
image="$build/guest/kite-guest.bzImage"
hostloop="$build/bench/vmm/bench-hostloop"
nice -n 5 python3 "$here/startup.py" "$kite" "$image" "${RUNS:-11}"
nice -n 5 python3 "$here/rss.py" "$kite" "$image"
python3 "$here/native.py" "$kite" "$image" "$hostloop" "${RUNS:-11}"
