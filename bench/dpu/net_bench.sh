#!/bin/sh
# SPDX-License-Identifier: MIT
# Switch throughput benchmarks: net_switch_micro (pipeline alone) and net_bench.py (through virtio). Usage: net_bench.sh BUILD_DIR
set -u
build=${1:?usage: net_bench.sh BUILD_DIR}
[ -x "$build/kite-dpu" ] || { echo "net_bench: build $build first (kite-dpu)" >&2; exit 1; }
status=0
# the switch pipeline alone (one thread, no virtio)
if [ -x "$build/bench/dpu/net_switch_micro" ]; then
	"$build/bench/dpu/net_switch_micro" 1 || status=1
fi
python3 "$(dirname "$0")/net_bench.py" "$build/kite-dpu" || status=1
exit $status
