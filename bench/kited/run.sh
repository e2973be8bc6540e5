#!/bin/sh
# SPDX-License-Identifier: MIT
# kited benchmark (issue 14): create and boot N test guests through kited vs N QEMU microvm processes,
# memory per VM, VMs per core per second (bench/kited/kited_bench.py). Usage: bench/kited/run.sh
# [BUILD_DIR]; COUNTS (default 1,16,64), ROUNDS (default 5), ROUNDS_BIG (rounds for N >= 64, default 3),
# MEMORY (MiB per guest, default 32), CONCURRENCY (kited requests at a time, default 8), JAIL (on: kites
# under kite-jailer, default off).
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/../lib.sh"
bench_build kited "${1:-}" kited/kited kite kite-dpu jailer/kite-jailer guest/kite-guest.bzImage
python3 "$here/kited_bench.py" --kited "$build/kited/kited" --kite "$build/kite" --dpu "$build/kite-dpu" \
	--kernel "$build/guest/kite-guest.bzImage" --counts "${COUNTS:-1,16,64}" --rounds "${ROUNDS:-5}" \
	--rounds-big "${ROUNDS_BIG:-3}" --memory "${MEMORY:-32}" --concurrency "${CONCURRENCY:-8}" \
	--jail "${JAIL:-off}" --jailer "$build/jailer/kite-jailer"
