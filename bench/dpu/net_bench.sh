#!/bin/sh
# SPDX-License-Identifier: MIT
# Switch throughput benchmarks: net_switch_micro (the pipeline alone: plain, ACL, VXLAN encap/decap)
# and net_tput.py (through virtio, throughput-bound, against testpmd io-fwd and OVS-DPDK).
# Usage: net_bench.sh BUILD_DIR [net_tput.py options]    Env: NET_ROUNDS (default 3)
set -u
build=${1:?usage: net_bench.sh BUILD_DIR [options]}
shift
[ -x "$build/kite-dpu" ] || { echo "net_bench: build $build first (kite-dpu)" >&2; exit 1; }
status=0
# the switch pipeline alone (one thread, no virtio)
if [ -x "$build/bench/dpu/net_switch_micro" ]; then
	"$build/bench/dpu/net_switch_micro" 1 || status=1
fi
python3 "$(dirname "$0")/net_tput.py" "$build/kite-dpu" --rounds "${NET_ROUNDS:-3}" "$@" || status=1
exit $status
