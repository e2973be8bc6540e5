#!/bin/sh
# SPDX-License-Identifier: MIT
# kited benchmark (issue 14): create and boot N test guests through kited vs N QEMU microvm processes,
# memory per VM, VMs per core per second (bench/kited/kited_bench.py). Usage: bench/kited/run.sh
# [BUILD_DIR]; COUNTS (default 1,16,64), ROUNDS (default 5), ROUNDS_BIG (rounds for N >= 64, default 3),
# MEMORY (MiB per guest, default 32), CONCURRENCY (kited requests at a time, default 8).
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
build="$(cd "${1:-$here/../../build}" && pwd)"
for f in "$build/kited/kited" "$build/kite" "$build/kite-dpu" "$build/guest/kite-guest.bzImage"; do
	[ -e "$f" ] || { echo "bench/kited: $f is missing: build first (ninja -C $build)" >&2; exit 1; }
done
python3 "$here/kited_bench.py" --kited "$build/kited/kited" --kite "$build/kite" --dpu "$build/kite-dpu" \
	--kernel "$build/guest/kite-guest.bzImage" --counts "${COUNTS:-1,16,64}" --rounds "${ROUNDS:-5}" \
	--rounds-big "${ROUNDS_BIG:-3}" --memory "${MEMORY:-32}" --concurrency "${CONCURRENCY:-8}"
