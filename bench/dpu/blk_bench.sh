#!/bin/sh
# SPDX-License-Identifier: MIT
# 4 KiB random read / write IOPS per polling core: kite-dpu vs qemu-storage-daemon, alternating rounds
# (see blk_bench.py). Usage: blk_bench.sh BUILD_DIR [blk_bench.py options]
#   Env: SECONDS_PER_RUN (default 5), IMG_MB (default 512), BLK_ROUNDS (default 5)
set -u
build=${1:?usage: blk_bench.sh BUILD_DIR [options]}
shift
exec python3 "$(dirname "$0")/blk_bench.py" "$build" --rounds "${BLK_ROUNDS:-5}" "$@"
