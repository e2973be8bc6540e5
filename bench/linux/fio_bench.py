# SPDX-License-Identifier: MIT
"""Figures of bench/linux/fio_bench.sh from its console log on stdin:
  KITE-FIOL1 run round=R setup=S ...             a boot starts (set-up S of round R)
  L2| KITE-FIO job=J iops=N clat_mean=US clat_p50=US clat_p99=US
  L2| KITE-FIO ping n=N rtt_p50=US rtt_p99=US rtt_min=US
  KITE-FIOL1 end round=R setup=S status=N ...    the VMM exited
Prints "name value unit" lines: per job and set-up the rounds, the median and min-max of IOPS and
the medians of clat p50/p99 (us); per job the pair-by-pair ratios (each round's A over that
round's B: kite and its variants kite-* over qemu, kite-dpu over qsd) of IOPS as median and
min-max (unit x, > 1 = kite ahead), and at queue depth 1 the ratio of the clat p50/p99 medians
(unit x, < 1 = kite faster); per set-up with a NIC the medians of the ping round trip's p50/p99
(us) and their ratios to qemu's.
Status 1 if a boot failed or gave no figure for a job.
Usage: python3 fio_bench.py < console.log"""
import re
import statistics
import sys

RUN = re.compile(r"^KITE-FIOL1 run round=(\d+) setup=(\S+)")
END = re.compile(r"^KITE-FIOL1 end round=(\d+) setup=(\S+) status=(\S+)")
JOB = re.compile(r"^L2\| KITE-FIO job=(\S+) iops=([0-9.]+) clat_mean=([0-9.]+) clat_p50=([0-9.]+) "
                 r"clat_p99=([0-9.]+)")
PING = re.compile(r"^L2\| KITE-FIO ping n=(\d+) rtt_p50=([0-9.]+) rtt_p99=([0-9.]+)")


def ratio_pairs(setups):
    """(A, B) of each ratio: kite-dpu over qsd, kite and every kite-* variant over qemu."""
    return [(s, "qsd" if s == "kite-dpu" else "qemu") for s in setups if s.startswith("kite")]


def main():
    cur = None
    res = {}          # (job, setup) -> {round: (iops, p50, p99)}
    jobs, setups, failed = [], [], []
    pings = {}        # setup -> [(p50, p99) per round]
    for raw in sys.stdin:
        line = raw.replace("\r", "").rstrip("\n")
        m = RUN.match(line)
        if m:
            cur = (int(m.group(1)), m.group(2))
            if cur[1] not in setups:
                setups.append(cur[1])
            continue
        m = END.match(line)
        if m:
            if m.group(3) != "0":
                failed.append("round %s %s: exit status %s" % (m.group(1), m.group(2), m.group(3)))
            cur = None
            continue
        m = PING.match(line)
        if m and cur and int(m.group(1)) > 0:
            pings.setdefault(cur[1], []).append((float(m.group(2)), float(m.group(3))))
            continue
        m = JOB.match(line)
        if m and cur:
            job = m.group(1)
            if job not in jobs:
                jobs.append(job)
            res.setdefault((job, cur[1]), {})[cur[0]] = tuple(float(m.group(i)) for i in (2, 4, 5))
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
    for f in failed:
        print("fio_bench: %s" % f, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
