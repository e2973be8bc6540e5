#!/bin/sh
# SPDX-License-Identifier: MIT
# Switch throughput benchmark (see net_bench.py). Usage: net_bench.sh BUILD_DIR
set -u
build=${1:?usage: net_bench.sh BUILD_DIR}
[ -x "$build/kite-dpu" ] || { echo "net_bench: build $build first (kite-dpu)" >&2; exit 1; }
exec python3 "$(dirname "$0")/net_bench.py" "$build/kite-dpu"
