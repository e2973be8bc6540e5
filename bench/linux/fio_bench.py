# SPDX-License-Identifier: MIT
"""Figures of bench/linux/fio_bench.sh from its console log on stdin:
  KITE-FIOL1 run round=R setup=S ...             a boot starts (set-up S of round R)
  L2| KITE-FIO job=J iops=N clat_mean=US clat_p50=US clat_p99=US
  L2| KITE-FIO ping n=N rtt_p50=US rtt_p99=US rtt_min=US
  KITE-FIOL1 end round=R setup=S status=N ...    the VMM exited
  KITE-FIOL1 lost round=R setup=S cause=C         the boot was lost to the lab (L1 runs it again)
  KITE-FIOBENCH lost round=R setup=S cause=C      L1 reset during the boot (a fresh L1 runs it again)
  KITE-FIOL1 failed round=R setup=S cause=C       the boot failed where kite is in it: not re-run
A boot's figures count only if it ended and was not lost (a lost boot's partial figures are dropped).
Prints "name value unit" lines: per job and set-up the rounds, the median and min-max of IOPS and
the medians of clat p50/p99 (us); per job the pair-by-pair ratios (each round's A over that
round's B: kite and its variants kite-* over qemu, kite-dpu over qsd) of IOPS as median and
min-max (unit x, > 1 = kite ahead), and at queue depth 1 the ratio of the clat p50/p99 medians
(unit x, < 1 = kite faster); per set-up with a NIC the medians of the ping round trip's p50/p99
(us) and their ratios to qemu's; per set-up the lost boots, counted ("fio.lost_boots.S N count") and
named ("# lost boots S: N (round R: CAUSE, ...)"), every one re-run; per set-up the boots started
("fio.boots.S N count", re-runs included) and the failed ones by cause ("fio.failed_boots.S N count",
"# failed boots S: N (round R: CAUSE, ...)"): kite-shared against kite tells shared RAM's failures.
With "KITE-FIOL1 kvmjob JOB start|end counter=N ..." lines (L1 KVM's counters of the VM around each
job), per job and set-up the medians of exits, interrupt injections and halt exits per I/O
("fio.J.S.exits_per_io"; I/Os = IOPS x SECONDS, the job's ramp and run time, as the counters span
both) and per second ("fio.J.S.exits_per_s": a counter that runs with time, not with I/O, such as
timer exits, inflates the per-I/O figure of the slower set-up).
Status 1 if a boot failed or gave no figure for a job.
Usage: python3 fio_bench.py [--seconds SECONDS] < console.log"""
import re
import statistics
import sys

RUN = re.compile(r"^KITE-FIOL1 run round=(\d+) setup=(\S+)")
END = re.compile(r"^KITE-FIOL1 end round=(\d+) setup=(\S+) status=(\S+)")
JOB = re.compile(r"^L2\| KITE-FIO job=(\S+) iops=([0-9.]+) clat_mean=([0-9.]+) clat_p50=([0-9.]+) "
                 r"clat_p99=([0-9.]+)")
LOST = re.compile(r"^KITE-FIO(?:L1|BENCH) lost round=(\S+) setup=(\S+) cause=(\S+)")
FAILED = re.compile(r"^KITE-FIOL1 failed round=(\S+) setup=(\S+) cause=(\S+)")
KVMJOB = re.compile(r"^KITE-FIOL1 kvmjob (\S+) (start|end)((?: \w+=\d+)+)$")
PER_IO = ("exits", "irq_injections", "halt_exits")
PING = re.compile(r"^L2\| KITE-FIO ping n=(\d+) rtt_p50=([0-9.]+) rtt_p99=([0-9.]+)")


def ratio_pairs(setups):
    """(A, B) of each ratio: kite-dpu over qsd, qemu-dpu over qemu-qsd, kite and every kite-*
    variant over qemu."""
    def peer(s):
        backend_peer = {"kite-dpu": "qsd", "qemu-dpu": "qemu-qsd"}.get(s)
        if backend_peer:
            return backend_peer
        return "qemu-shared" if s == "kite-shared" and "qemu-shared" in setups else "qemu"
    return [(s, peer(s)) for s in setups if s.startswith("kite") or s == "qemu-dpu"]


def main():
    cur = None
    res = {}          # (job, setup) -> {round: (iops, p50, p99)}
    jobs, setups, failed = [], [], []
    pings = {}        # setup -> [(p50, p99) per round]
    pending = []      # the current boot's figures: ("job", job, values) or ("ping", values)
    lost = {}         # setup -> ["round R: CAUSE", ...]
    fails = {}        # setup -> ["round R: CAUSE", ...]
    boots = {}        # setup -> boots started
    seconds = float(sys.argv[sys.argv.index("--seconds") + 1]) if "--seconds" in sys.argv else 0
    kvm = {}          # the current boot's counters: (job, "start"|"end") -> {counter: value}
    per_io = {}       # (job, setup) -> {counter: [per-I/O value per boot]}
    for raw in sys.stdin:
        line = raw.replace("\r", "").rstrip("\n")
        m = RUN.match(line)
        if m:
            cur, pending, kvm = (int(m.group(1)), m.group(2)), [], {}
            boots[cur[1]] = boots.get(cur[1], 0) + 1
            if cur[1] not in setups:
                setups.append(cur[1])
            continue
        m = LOST.match(line)
        if m:
            lost.setdefault(m.group(2), []).append("round %s: %s" % (m.group(1), m.group(3)))
            if m.group(2) not in setups:
                setups.append(m.group(2))
            cur, pending = None, []
            continue
        m = FAILED.match(line)
        if m:
            failed.append("round %s %s: failed, %s" % m.groups())
            fails.setdefault(m.group(2), []).append("round %s: %s" % (m.group(1), m.group(3)))
            continue
        m = END.match(line)
        if m:
            if m.group(3) != "0" and cur:
                failed.append("round %s %s: exit status %s" % (m.group(1), m.group(2), m.group(3)))
            for kind, *v in pending if cur else []:
                if kind == "ping":
                    pings.setdefault(cur[1], []).append(v[0])
                else:
                    if v[0] not in jobs:
                        jobs.append(v[0])
                    res.setdefault((v[0], cur[1]), {})[cur[0]] = v[1]
                    a, b = kvm.get((v[0], "start")), kvm.get((v[0], "end"))
                    if a and b and seconds > 0 and v[1][0] > 0:
                        for c in PER_IO:
                            if c in a and c in b:
                                d = per_io.setdefault((v[0], cur[1]), {})
                                d.setdefault(c + "_per_io", []).append((b[c] - a[c]) / (v[1][0] * seconds))
                                d.setdefault(c + "_per_s", []).append((b[c] - a[c]) / seconds)
            cur, pending = None, []
            continue
        m = KVMJOB.match(line)
        if m and cur:
            kvm[(m.group(1), m.group(2))] = {k: int(x) for k, x in
                                             (kv.split("=") for kv in m.group(3).split())}
            continue
        m = PING.match(line)
        if m and cur and int(m.group(1)) > 0:
            pending.append(("ping", (float(m.group(2)), float(m.group(3)))))
            continue
        m = JOB.match(line)
        if m and cur:
            pending.append(("job", m.group(1), tuple(float(m.group(i)) for i in (2, 4, 5))))
    if not res:
        print("fio_bench: no KITE-FIO job line in the log", file=sys.stderr)
        return 1
    rounds = sorted({r for v in res.values() for r in v})
    for job in jobs:
        for s in setups:
            got = res.get((job, s), {})
            missing = [r for r in rounds if r not in got]
            if missing:
                failed.append("%s %s: no figure in round(s) %s" % (job, s, ",".join(map(str, missing))))
            if not got:
                continue
            iops = [v[0] for v in got.values()]
            n = "fio.%s.%s" % (job, s)
            print("%s.rounds %d count" % (n, len(got)))
            print("%s.iops_median %.0f iops" % (n, statistics.median(iops)))
            print("%s.iops_min %.0f iops" % (n, min(iops)))
            print("%s.iops_max %.0f iops" % (n, max(iops)))
            print("%s.clat_p50_median %.1f us" % (n, statistics.median(v[1] for v in got.values())))
            print("%s.clat_p99_median %.1f us" % (n, statistics.median(v[2] for v in got.values())))
            for c, v in per_io.get((job, s), {}).items():
                print("%s.%s %.2f count" % (n, c, statistics.median(v)))
        for a, b in ratio_pairs(setups):
            ra, rb = res.get((job, a), {}), res.get((job, b), {})
            pairs = [ra[r][0] / rb[r][0] for r in rounds if r in ra and r in rb and rb[r][0] > 0]
            if not pairs:
                continue
            n = "fio_%s_%s_over_%s" % (job, a, b)
            print("%s %.2f x" % (n, statistics.median(pairs)))
            print("%s_pairmin %.2f x" % (n, min(pairs)))
            print("%s_pairmax %.2f x" % (n, max(pairs)))
            if job.endswith("_qd1"):
                for i, p in ((1, "p50"), (2, "p99")):
                    ma = statistics.median(v[i] for v in ra.values())
                    mb = statistics.median(v[i] for v in rb.values())
                    if mb > 0:
                        print("fio_%s_clat_%s_%s_over_%s %.2f x" % (job, p, a, b, ma / mb))
    med = {}
    for s, v in pings.items():
        med[s] = [statistics.median(x[i] for x in v) for i in (0, 1)]
        print("ping.%s.rounds %d count" % (s, len(v)))
        print("ping.%s.rtt_p50_median %.0f us" % (s, med[s][0]))
        print("ping.%s.rtt_p99_median %.0f us" % (s, med[s][1]))
    for a, b in ratio_pairs(setups):
        if a in med and b in med and med[b][0] > 0 and med[b][1] > 0:
            print("ping_rtt_p50_%s_over_%s %.2f x" % (a, b, med[a][0] / med[b][0]))
            print("ping_rtt_p99_%s_over_%s %.2f x" % (a, b, med[a][1] / med[b][1]))
    for s in setups:
        names = lost.get(s, [])
        print("fio.lost_boots.%s %d count" % (s, len(names)))
        print("# lost boots %s: %d%s" % (s, len(names), " (%s; each re-run)" % ", ".join(names) if names else ""))
        names = fails.get(s, [])
        print("fio.boots.%s %d count" % (s, boots.get(s, 0)))
        print("fio.failed_boots.%s %d count" % (s, len(names)))
        print("# failed boots %s: %d%s" % (s, len(names), " (%s)" % ", ".join(names) if names else ""))
    for f in failed:
        print("fio_bench: %s" % f, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
