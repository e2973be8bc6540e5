# SPDX-License-Identifier: MIT
"""Figures of bench/linux from tests/linux/linux-boot.sh's per-boot lines on stdin:
  linux-boot: PASS|FAIL run=K vmm=V cpus=N ... marker=S poweroff=S vmm-wall=S stalls=C exits=E
              l0cpu-marker=S l0cpu-kernel=S l0cpu-run=S [work=...]
Prints "name value unit" lines: per flavour, vCPU count and VMM the boots, failures, stalls and the
medians (marker, poweroff, vmm_wall, compute, sleep, exits, and the host CPU seconds the L1 took
from the VMM's start and from the L2 kernel's start to the marker and for the whole run:
l0cpu_marker, l0cpu_kernel, l0cpu_run, the figures the host's load does not move); per flavour and vCPU count the kite/QEMU ratios of the medians. The first boot of the L1 (run=1) is left out of the figures: it pays L1's
own warm-up (a 2-vCPU cloud boot took 7.3 s of host CPU from kernel to marker as run 1, 3.5-6.0 s
later, 2026-12-02) whichever VMM it boots; its failures and stalls still count.
Usage: python3 lbench.py FLAVOUR < linux-boot-output"""
import re
import statistics
import sys

LINE = re.compile(r"^linux-boot: (PASS|FAIL) run=\d+ vmm=(\w+) cpus=(\d+) .*?marker=(\S+) "
                  r"poweroff=(\S+) vmm-wall=(\S+) stalls=(\d+)(?: exits=(\S+))?"
                  r"(?: l0cpu-marker=(\S+) l0cpu-kernel=(\S+) l0cpu-run=(\S+))?(?: work=(\S+?))?(?::|$)")
FIELDS = ("marker", "poweroff", "vmm_wall", "compute", "sleep", "exits", "l0cpu_marker", "l0cpu_kernel",
          "l0cpu_run")
UNITS = {"exits": "count"}


def number(s):
    try:
        return float(s)
    except ValueError:
        return None


def main():
    flavour = sys.argv[1]
    runs = {}
    for line in sys.stdin:
        m = LINE.match(line.strip())
        if not m:
            continue
        verdict, vmm, cpus, marker, off, wall, stalls, exits, cpu_marker, cpu_kernel, cpu_run, work = m.groups()
        r = runs.setdefault((int(cpus), vmm), {"boots": 0, "fail": 0, "stalls": 0,
                                               **{f: [] for f in FIELDS}})
        r["boots"] += 1
        r["fail"] += verdict == "FAIL"
        r["stalls"] += int(stalls)
        if line.startswith("linux-boot: %s run=1 " % verdict):
            r["warmup"] = 1
            continue
        w = dict(kv.split("=", 1) for kv in (work or "").split(",") if "=" in kv)
        for f, v in (("marker", marker), ("poweroff", off), ("vmm_wall", wall),
                     ("compute", w.get("compute", "-")), ("sleep", w.get("sleep", "-")),
                     ("exits", exits or "-"), ("l0cpu_marker", cpu_marker or "-"),
                     ("l0cpu_kernel", cpu_kernel or "-"), ("l0cpu_run", cpu_run or "-")):
            x = number(v)
            if x is not None:
                r[f].append(x)
    if not runs:
        print("lbench: no boot lines on stdin", file=sys.stderr)
        return 1
    med = {}
    for (cpus, vmm), r in sorted(runs.items()):
        name = "linux.%s.%dcpu.%s" % (flavour, cpus, vmm)
        print("%s.boots %d count" % (name, r["boots"]))
        print("%s.failures %d count" % (name, r["fail"]))
        print("%s.stalls %d count" % (name, r["stalls"]))
        if r.get("warmup"):
            print("%s.warmup_boots_left_out 1 count" % name)
        for f in FIELDS:
            if r[f]:
                med[(cpus, vmm, f)] = statistics.median(r[f])
                unit = UNITS.get(f, "s")
                fmt = "%s.%s_median %.0f %s" if unit == "count" else "%s.%s_median %.2f %s"
                print(fmt % (name, f, med[(cpus, vmm, f)], unit))
    for cpus in sorted({c for c, _ in runs}):
        for f in FIELDS:
            k, q = med.get((cpus, "kite", f)), med.get((cpus, "qemu", f))
            if k is not None and q:
                print("linux.%s.%dcpu.kite_qemu_ratio_%s %.2f x" % (flavour, cpus, f, k / q))
    return 0


if __name__ == "__main__":
    sys.exit(main())
