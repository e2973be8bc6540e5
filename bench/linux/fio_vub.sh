#!/bin/bash
# SPDX-License-Identifier: MIT
#
# fio_vub.sh - fio in a real Linux guest whose disk is a vhost-user-blk device served on this host
# by kite-dpu or by qemu-storage-daemon (qsd), the two alternated round by round (ABBA order).
#
# The guest is Debian's generic kernel under QEMU TCG on this host (one vCPU thread, pinned to
# --guest-cpu), no nesting: its vhost-user-blk-pci frontend is QEMU's, the same for both backends,
# and the backend runs natively, pinned to --backend-cpu. The guest's /init is fio_bench's L2 init
# (fio-l2-init.sh: libaio, O_DIRECT, the jobs one after the other on /dev/vda). The image is a
# written 64 MiB file in /dev/shm (tmpfs), as in fio_bench.sh's L1; kite-dpu serves it with its
# defaults (since 25e6697 an image on tmpfs is buffered, its reads mapped; before, O_DIRECT), qsd with
# its file driver's defaults (buffered, aio=threads).
#
# Why this and not fio_bench.sh's nested lab for this pair: in that lab (L1 under QEMU TCG's
# emulated SVM) the vhost-user set-ups lose most boots to the emulation (docs/benchmarks.md,
# "kite-dpu vs qsd in real Linux"). Here no emulated SVM is involved. The guest's TCG vCPU bounds
# IOPS for both backends, so the per-core figure is the backend's CPU time: I/Os per backend
# CPU-second (utime + stime of the backend process over the boot, from /proc).
#
# Prints the console log's figures through fio_bench.py (per job IOPS, clat, pairs kite-dpu over
# qsd), then per set-up and round "fio_vub.S.rR.backend_cpu_s", "fio_vub.S.rR.ios_per_cpu_s" and
# the pair-by-pair ratio "fio_vub.ios_per_cpu_s_kite-dpu_over_qsd" (median, min, max), and per job
# and set-up the guest's disk interrupts per I/O, "fio_vub.JOB.S.irqs_per_io_median" (min, max):
# the interrupts over the job's ramp and run time (fio-l2-init.sh) over IOPS x (runtime + ramp).
#
# --dpu-b KITE_DPU_B adds a third set-up, "dpu-b" (another kite-dpu binary, e.g. a change under test),
# in the rotation (kite-dpu qsd dpu-b, reversed on even rounds), with its ratios over qsd and kite-dpu.
# --dpu-b-volume 'MEMBERS' adds JSON members to dpu-b's volume (e.g. '"direct": true': the same binary
# with another volume setting).
#
# Usage: fio_vub.sh --dpu KITE_DPU [--dpu-b KITE_DPU_B [--dpu-b-volume MEMBERS]] [--work DIR] [--rounds N] [--jobs "name:rw:bs:qd ..."]
#                   [--runtime S] [--ramp S] [--backend-cpu N] [--guest-cpu N] [--timeout S]
# Env: KITE_KERNEL_CACHE (tests/lib/kernel/fetch.sh)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
cache=${KITE_KERNEL_CACHE:-/var/cache/kite-tests}
die() { echo "fio-vub: $*" >&2; exit 1; }

dpu="" dpu_b="" dpu_b_volume="" work=./fio-vub-work rounds=5 runtime=5 ramp=1 bcpu=0 gcpu=1 timeout_s=300
jobs="randread4k_qd1:randread:4k:1 randread4k_qd32:randread:4k:32 randwrite4k_qd1:randwrite:4k:1"
jobs="$jobs randwrite4k_qd32:randwrite:4k:32 read64k_qd32:read:64k:32"
while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || die "option $1 needs a value"
	case $1 in
	--dpu) dpu=$2 ;; --dpu-b) dpu_b=$2 ;; --work) work=$2 ;; --rounds) rounds=$2 ;; --jobs) jobs=$2 ;;
	--runtime) runtime=$2 ;; --ramp) ramp=$2 ;; --backend-cpu) bcpu=$2 ;; --guest-cpu) gcpu=$2 ;;
	--timeout) timeout_s=$2 ;; --dpu-b-volume) dpu_b_volume=$2 ;;
	*) die "unknown option $1 (see the header of $0)" ;;
	esac
	shift 2
done
[ -x "$dpu" ] || die "--dpu '$dpu': not an executable"
[ -z "$dpu_b" ] || [ -x "$dpu_b" ] || die "--dpu-b '$dpu_b': not an executable"
for n in "$rounds" "$runtime" "$ramp" "$bcpu" "$gcpu" "$timeout_s"; do
	case $n in *[!0-9]*|"") die "'$n': not a number" ;; esac
done
for t in fio qemu-storage-daemon qemu-system-x86_64 cpio busybox taskset; do
	command -v $t >/dev/null || die "$t not installed (scripts/deps.sh)"
done
mkdir -p "$work" && work=$(cd "$work" && pwd) || die "$work: cannot create"
"$top/tests/lib/kernel/fetch.sh" generic "$cache/kernel-generic" >&2 || die "cannot get the generic kernel"
k=$cache/kernel-generic
marker=kite-fio-vub
. "$top/tests/lib/initramfs.sh"   # new_root, add_module, add_program, make_cpio, $l2_virtio_modules

. "$here/fio-guest.sh"   # fio_guest_cpio
fio_guest_cpio "$k" "$work/guest-root" "$work/guest-initrd.cpio" "$jobs" "$runtime" "$ramp" libaio 0

img=/dev/shm/kite-fio-vub.$$.img sock=$work/vub.sock log=$work/console.log
dd if=/dev/zero of="$img" bs=1M count=64 status=none || die "$img: cannot write"
backend=""
cleanup() {
	[ -n "$backend" ] && kill -9 "$backend" 2>/dev/null
	rm -f "$img"
}
trap cleanup EXIT
dpu_config() {   # dpu_config [MEMBERS]: kite-dpu's config, the volume with MEMBERS added
	printf '{"cores": [%s], "volumes": [{"name": "d0", "image": "%s", "socket": "%s"%s}]}\n' \
		"$bcpu" "$img" "$sock" "${1:+, $1}"
}
dpu_config >"$work/dpu.json"
dpu_config "$dpu_b_volume" >"$work/dpu-b.json"
python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$work/dpu-b.json" 2>/dev/null ||
	die "--dpu-b-volume '$dpu_b_volume': the volume is not valid JSON with it"

# cpu_s PID: the process's utime + stime so far, in seconds
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.3f\n", ($12 + $13) / hz }' "/proc/$1/stat"; }

boot() {   # boot SETUP ROUND
	local s=$1 r=$2 c0 c1 cpu st
	rm -f "$sock"
	case $s in
	kite-dpu) "$dpu" --config "$work/dpu.json" >"$work/backend.$s.$r.log" 2>&1 & ;;
	dpu-b) "$dpu_b" --config "$work/dpu-b.json" >"$work/backend.$s.$r.log" 2>&1 & ;;
	qsd) taskset -c "$bcpu" qemu-storage-daemon --blockdev driver=file,node-name=f0,filename="$img" \
		--export type=vhost-user-blk,id=e0,node-name=f0,addr.type=unix,addr.path="$sock",writable=on \
		>"$work/backend.$s.$r.log" 2>&1 & ;;
	esac
	backend=$!
	for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
	[ -S "$sock" ] || die "$s: no socket $sock: $(head -c 300 "$work/backend.$s.$r.log")"
	c0=$(cpu_s "$backend")
	echo "KITE-FIOL1 run round=$r setup=$s" >>"$log"
	timeout -k 5 "$timeout_s" taskset -c "$gcpu" qemu-system-x86_64 -accel tcg -cpu EPYC -m 512 -smp 1 \
		-object memory-backend-memfd,id=ram0,size=512M,share=on -machine memory-backend=ram0 \
		-nodefaults -display none -no-reboot -serial stdio -kernel "$k/vmlinux" \
		-initrd "$work/guest-initrd.cpio" -append "console=ttyS0 loglevel=4 panic=-1" \
		-chardev socket,id=c0,path="$sock" -device vhost-user-blk-pci,chardev=c0,num-queues=1 \
		</dev/null 2>&1 | tr -d '\r' | sed -u 's/^/L2| /' >>"$log"
	st=${PIPESTATUS[0]}
	c1=$(cpu_s "$backend")
	kill "$backend" 2>/dev/null; wait "$backend" 2>/dev/null; backend=""
	grep -q "^L2| KITE-FIO done" <(sed -n "/^KITE-FIOL1 run round=$r setup=$s\$/,\$p" "$log") ||
		echo "KITE-FIOL1 failed round=$r setup=$s cause=guest-unfinished" >>"$log"
	cpu=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.3f", b - a }')
	echo "KITE-FIOL1 cpu setup=$s round=$r backend_cpu_s=$cpu" >>"$log"
	echo "KITE-FIOL1 end round=$r setup=$s status=$st" >>"$log"
	echo "# fio-vub: round $r $s: exit $st, backend CPU $cpu s" >&2
}

: >"$log"
echo "# fio-vub: guest Debian $(cat "$k/version") under QEMU TCG on CPU $gcpu, backend on CPU $bcpu;" \
	"$rounds rounds of kite-dpu, qsd${dpu_b:+, dpu-b ($dpu_b${dpu_b_volume:+, volume $dpu_b_volume})} (reversed on even rounds); jobs: $jobs; runtime ${runtime}s ramp ${ramp}s, libaio, direct;" \
	"64 MiB image in /dev/shm; load average at start $(cut -d' ' -f1-3 /proc/loadavg) ($(date -u +%H:%M:%S) UTC)"
for r in $(seq "$rounds"); do
	order="kite-dpu qsd${dpu_b:+ dpu-b}"
	[ $((r % 2)) = 1 ] || order=$(echo $order | tr ' ' '\n' | tac | tr '\n' ' ')
	for s in $order; do boot "$s" "$r"; done
done
rc=0
python3 "$here/fio_bench.py" --seconds $((runtime + ramp)) <"$log" || rc=1
# I/Os per backend CPU-second: each boot's I/Os (sum over jobs of IOPS x run time) over its backend's CPU
python3 - "$log" "$runtime" "$ramp" <<'PY' || rc=1
import re, statistics, sys
log, runtime, ramp = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
cpu, cur, job_iops, job_irqs = {}, None, {}, {}
for line in open(log, errors="replace"):
    m = re.match(r"KITE-FIOL1 run round=(\d+) setup=(\S+)", line)
    if m:
        cur = (m.group(2), int(m.group(1))); continue
    m = re.match(r"L2\| KITE-FIO job=(\S+) iops=([0-9.]+)", line)
    if m and cur:
        job_iops[(m.group(1), cur[0], cur[1])] = float(m.group(2)); continue
    m = re.match(r"L2\| KITE-FIO irqs job=(\S+) n=(\d+)", line)
    if m and cur:
        job_irqs[(m.group(1), cur[0], cur[1])] = int(m.group(2)); continue
    m = re.match(r"KITE-FIOL1 cpu setup=(\S+) round=(\d+) backend_cpu_s=([0-9.]+)", line)
    if m:
        cpu[(m.group(1), int(m.group(2)))] = float(m.group(3))
ios = {}   # each boot's I/Os: its jobs' IOPS x run time
for (job, s, r), v in job_iops.items():
    ios[(s, r)] = ios.get((s, r), 0.0) + v * runtime
per = {}
for key, c in sorted(cpu.items()):
    if c > 0 and ios.get(key):
        per[key] = ios[key] / c
        print("fio_vub.%s.r%d.backend_cpu_s %.2f s" % (key[0], key[1], c))
        print("fio_vub.%s.r%d.ios_per_cpu_s %.0f ios/s" % (key[0], key[1], per[key]))
# the guest's disk interrupts per I/O: over the job's ramp and run time, at the job's IOPS
irq_per = {}
for (job, s, r), n in sorted(job_irqs.items()):
    if job_iops.get((job, s, r)):
        irq_per.setdefault((job, s), []).append(n / (job_iops[(job, s, r)] * (runtime + ramp)))
for (job, s), v in sorted(irq_per.items()):
    print("fio_vub.%s.%s.irqs_per_io_median %.3f irq/io" % (job, s, statistics.median(v)))
    print("fio_vub.%s.%s.irqs_per_io_min %.3f irq/io" % (job, s, min(v)))
    print("fio_vub.%s.%s.irqs_per_io_max %.3f irq/io" % (job, s, max(v)))
rc = 0
for a, b in (("kite-dpu", "qsd"), ("dpu-b", "qsd"), ("dpu-b", "kite-dpu")):
    if not any(s == a for s, _ in cpu):
        continue
    pairs = [per[(a, r)] / per[(b, r)] for (s, r) in sorted(per) if s == a and (b, r) in per]
    if not pairs:
        print("fio_vub: no round with both %s's and %s's figures" % (a, b), file=sys.stderr)
        rc = 1
        continue
    n = "fio_vub.ios_per_cpu_s_%s_over_%s" % (a, b)
    print("%s %.2f x" % (n, statistics.median(pairs)))
    print("%s_pairmin %.2f x" % (n, min(pairs)))
    print("%s_pairmax %.2f x" % (n, max(pairs)))
    print("# ios per backend CPU-second, %s over %s, pairs in round order: %s" %
          (a, b, ", ".join("%.2f" % p for p in pairs)))
    if a != "dpu-b":
        continue   # fio_bench.py above gives kite-dpu over qsd per job
    for job in sorted({j for j, _, _ in job_iops}):
        jp = [job_iops[(job, a, r)] / job_iops[(job, b, r)] for (j, s, r) in sorted(job_iops)
              if j == job and s == a and (job, b, r) in job_iops and job_iops[(job, b, r)] > 0]
        if jp:
            print("fio_vub.%s_%s_over_%s %.2f x" % (job, a, b, statistics.median(jp)))
            print("fio_vub.%s_%s_over_%s_pairmin %.2f x" % (job, a, b, min(jp)))
            print("fio_vub.%s_%s_over_%s_pairmax %.2f x" % (job, a, b, max(jp)))
sys.exit(rc)
PY
exit $rc
