#!/bin/sh
# SPDX-License-Identifier: MIT
# DPU benchmarks: block (blk_bench.sh) and, when present, the switch/net ones (net_*.sh).
# Usage: bench/dpu/run.sh BUILD_DIR
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
status=0
sh "$here/blk_bench.sh" "$build" || status=1
for s in "$here"/net_*.sh; do
	[ -f "$s" ] || continue
	sh "$s" "$build" || status=1
done
exit $status
