#!/bin/sh
# SPDX-License-Identifier: MIT
# 4 KiB random read / write IOPS per polling core: kite-dpu (one poller) vs qemu-storage-daemon (one
# I/O thread) on the same image, both with O_DIRECT + io_uring, driven by blk_loadgen (QD 32).
# Usage: blk_bench.sh BUILD_DIR    Env: SECONDS_PER_RUN (default 5), IMG_MB (default 512)
# Prints "name value unit" lines, then the ratios kite-dpu / qemu-storage-daemon.
set -u
build=${1:?usage: blk_bench.sh BUILD_DIR}
dpu=$build/kite-dpu
gen=$build/bench/dpu/blk_loadgen
secs=${SECONDS_PER_RUN:-5}
[ -x "$dpu" ] && [ -x "$gen" ] || { echo "blk_bench: build $build first (kite-dpu, blk_loadgen)" >&2; exit 1; }
W=$(mktemp -d "${TMPDIR:-/var/tmp}/kite-blkbench.XXXXXX")
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT INT TERM
# a fully allocated image (random reads must hit the disk path, not holes)
dd if=/dev/zero of="$W/img" bs=1M count="${IMG_MB:-512}" status=none conv=fsync

# backend on CPU 0, load generator on CPU 1
run_gen() { # label rw
	out=$(taskset -c 1 "$gen" --socket "$W/sock" --rw "$2" --qd 32 --seconds "$secs" --cpu 1) || {
		echo "blk_bench: load generator failed against $1" >&2; return 1; }
	echo "$out" | sed -n 's/^iops //p'
}
start_dpu() {
	cat > "$W/cfg.json" <<EOC
{"cores": [0], "volumes": [{"name": "b", "image": "$W/img", "socket": "$W/sock"}]}
EOC
	"$dpu" --config "$W/cfg.json" > "$W/dpu.log" 2>&1 &
	PID=$!
	for i in $(seq 100); do [ -S "$W/sock" ] && return 0; sleep 0.05; done
	echo "blk_bench: kite-dpu did not start: $(tail -n 3 "$W/dpu.log")" >&2; return 1
}
start_qsd() {
	rm -f "$W/sock"
	taskset -c 0 qemu-storage-daemon \
		--blockdev driver=file,node-name=f0,filename="$W/img",cache.direct=on,aio=io_uring \
		--export type=vhost-user-blk,id=e0,node-name=f0,addr.type=unix,addr.path="$W/sock",writable=on \
		> "$W/qsd.log" 2>&1 &
	PID=$!
	for i in $(seq 100); do [ -S "$W/sock" ] && return 0; sleep 0.05; done
	echo "blk_bench: qemu-storage-daemon did not start: $(tail -n 3 "$W/qsd.log")" >&2; return 1
}
stop() { kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; PID=; }

status=0
for rw in randread randwrite; do
	start_dpu || exit 1
	k=$(run_gen kite-dpu $rw) || status=1
	stop
	if command -v qemu-storage-daemon >/dev/null && start_qsd; then
		q=$(run_gen qemu-storage-daemon $rw) || status=1
		stop
	else
		q=
	fi
	echo "dpu_blk_4k_${rw}_kite_dpu ${k:-0} iops"
	[ -n "$q" ] && echo "dpu_blk_4k_${rw}_qsd $q iops"
	[ -n "$q" ] && [ -n "$k" ] && awk -v k="$k" -v q="$q" -v n="dpu_blk_4k_${rw}_ratio" \
		'BEGIN { if (q > 0) printf "%s %.2f kite-dpu/qsd\n", n, k / q }'
done
exit $status
