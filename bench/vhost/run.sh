#!/bin/sh
# SPDX-License-Identifier: MIT
# vhost-user benchmarks (issue 9): block through kite-dpu / qemu-storage-daemon / kite's own
# virtio-blk under kite and QEMU (vhost_bench.py), VM to VM through kite-dpu's switch vs QEMU +
# dpdk-testpmd (vhost_net_bench.py). Prints `name value unit` lines.
# Usage: bench/vhost/run.sh [BUILD_DIR]   (ROUNDS=N, default 5; VHOST_BENCH_ARGS, VHOST_NET_BENCH_ARGS)
set -u
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/../lib.sh"
bench_build vhost "${1:-}" kite kite-dpu guest/kite-guest.bzImage
set -- --kite "$build/kite" --dpu "$build/kite-dpu" --kernel "$build/guest/kite-guest.bzImage" --rounds "${ROUNDS:-5}"
status=0
# shellcheck disable=SC2086
python3 "$here/vhost_bench.py" "$@" ${VHOST_BENCH_ARGS:-} || status=1
# shellcheck disable=SC2086
python3 "$here/vhost_net_bench.py" "$@" ${VHOST_NET_BENCH_ARGS:-} || status=1
exit $status
