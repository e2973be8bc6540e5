#!/bin/sh
# SPDX-License-Identifier: MIT
# Linux guest benchmark (issue 8): the same unmodified Debian kernels (cloud and generic) with 1, 2
# and 4 vCPUs booted by kite and by QEMU (-accel kvm -cpu host) alternating in one nested L1 run
# per flavour (tests/linux/linux-boot.sh --vmm kite,qemu --repeat N), each boot running a short
# workload in L2 (kite.work=1: md5sum on every CPU, 50 timed 10 ms waits). Prints "name value unit"
# lines (lbench.py): medians of the time to the marker, to power-off and of the workload, the
# kite/QEMU ratios, stall and failure counts.
# Then (issue 12) fio in the same kind of nested L2 (fio_bench.sh): kite vs QEMU with in-process
# virtio-blk, kite-dpu vs qemu-storage-daemon behind kite's vhost-user-blk, alternating, and the
# ping round trip through virtio-net and a TAP; figures by fio_bench.py. Then fio_vub.sh: the same fio
# jobs in Debian under QEMU TCG on this host, its vhost-user-blk disk served by kite-dpu and by qsd
# (no nesting: the nested lab loses most of its vhost-user boots, docs/benchmarks.md).
# Usage: bench/linux/run.sh [BUILD_DIR]
# Env: RUNS (boots per VMM and vCPU count, default 5), FLAVOURS ("cloud generic"), CPUS ("1 2 4"),
#      L1_CPUS (vCPUs of the L1, default 1), WORK (work dir, default BUILD_DIR/bench-linux),
#      PARTS ("boot fio vub": which of the three to run), FIO_ROUNDS (default 5), FIO_ARGS (more
#      fio_bench.sh options, e.g. "--runtime 10 --perf kite-dpu")
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
build="$(cd "${1:-$here/../../build}" && pwd)"
kite="$build/kite"
[ -x "$kite" ] || { echo "bench/linux: $kite is missing: build first (ninja -C $build)" >&2; exit 1; }
work=${WORK:-$build/bench-linux}
mkdir -p "$work"
status=0
parts=" ${PARTS:-boot fio vub} "
flavours=${FLAVOURS:-cloud generic}
case $parts in *" boot "*) ;; *) flavours="" ;; esac
for flavour in $flavours; do
	out=$work/boot-$flavour.txt
	start=$(date +%s)
	"$here/../../tests/linux/linux-boot.sh" --kite "$kite" --vmm kite,qemu --flavour "$flavour" \
		--cpus "${CPUS:-1 2 4}" --repeat "${RUNS:-5}" --l1-cpus "${L1_CPUS:-1}" --append "kite.work=1" \
		--timeout 3000 --work "$work/$flavour" >"$out" 2>&1 || status=1
	python3 "$here/lbench.py" "$flavour" <"$out" || status=1
	echo "linux.$flavour.bench_wall $(( $(date +%s) - start )) s"
done
case $parts in *" fio "*)
	start=$(date +%s)
	# shellcheck disable=SC2086
	"$here/fio_bench.sh" --kite "$kite" --dpu "$build/kite-dpu" --rounds "${FIO_ROUNDS:-5}" \
		--work "$work/fio" ${FIO_ARGS:-} || status=1
	echo "linux.fio.bench_wall $(( $(date +%s) - start )) s" ;;
esac
case $parts in *" vub "*)
	start=$(date +%s)
	"$here/fio_vub.sh" --dpu "$build/kite-dpu" --rounds "${FIO_ROUNDS:-5}" --work "$work/vub" || status=1
	echo "linux.vub.bench_wall $(( $(date +%s) - start )) s" ;;
esac
[ $status = 0 ] || echo "bench/linux: some boots failed (see $work/boot-*.txt)" >&2
exit $status
