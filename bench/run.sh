#!/bin/sh
# SPDX-License-Identifier: MIT
# Run every area's benchmarks (bench/*/run.sh) against a build dir (default build/). Each prints
# machine-readable lines "name value unit". Usage: bench/run.sh [BUILD_DIR]
set -u
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-$here/../build}"
status=0
for script in "$here"/*/run.sh; do
	[ -f "$script" ] || continue
	echo "# $(basename "$(dirname "$script")")"
	sh "$script" "$build" || { echo "bench: $script failed" >&2; status=1; }
done
exit $status
