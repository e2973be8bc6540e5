#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Alternate two net_switch_micro binaries (A = before, B = after) for ROUNDS rounds.

Each round runs A then B (then B then A in the next round, so that neither always goes first),
each for SECONDS per variant. Per binary: the median (min-max) over rounds of the in-process ratios
variant / plain (each one already the median of that run's 50 ms slices); and B / A of each
variant's Mpps, round by round. Prints the load average at the start and the end, and the medians
again as `name value x` lines for bench/plot.py (net_switch_<variant>_over_plain_<label>).

Usage: net_switch_ab.py A_BINARY B_BINARY [--rounds 7] [--seconds 1] [--labels a,b]
                        [--variants plain,flood2,...]   (default: every variant the binaries run)
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

def run(binary, seconds, variants):
    out = subprocess.run([binary, str(seconds)] + variants, check=True, capture_output=True, text=True).stdout
    mpps = {m[0]: float(m[1]) for m in re.findall(r"net_switch_(\w+?)_64B_mpps ([\d.]+)", out)}
    ratio = {m[0]: float(m[1]) for m in re.findall(r"net_switch_(\w+?)_vs_plain ([\d.]+)", out)}
    return mpps, ratio


def spread(values):
    return "%.3f (%.3f-%.3f)" % (statistics.median(values), min(values), max(values))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--labels", default="a,b", help="names of A and B in the plot lines")
    ap.add_argument("--variants", default="", help="comma-separated variants to run (default: all)")
    args = ap.parse_args()
    chosen = [v for v in args.variants.split(",") if v]
    labels = dict(zip(("a", "b"), args.labels.split(",", 1)))
    res = {"a": [], "b": []}
    print("load average at start: %.2f %.2f %.2f" % os.getloadavg())
    for r in range(args.rounds):
        order = ("a", "b") if r % 2 == 0 else ("b", "a")
        for which in order:
            res[which].append(run(getattr(args, which), args.seconds, chosen))
        ratios = [v for v in res["a"][0][1] if v in res["b"][0][1]]
        print("round %d: " % (r + 1) + "  ".join(
            "%s plain %.1f %s" % (w, res[w][-1][0].get("plain", 0),
                                  " ".join("%s %.3f" % (v, res[w][-1][1][v]) for v in ratios))
            for w in ("a", "b")), flush=True)
    print("load average at end: %.2f %.2f %.2f" % os.getloadavg())
    for w in ("a", "b"):
        for v in ratios:
            print("%s %s/plain %s" % (w, v, spread([x[1][v] for x in res[w]])))
    for v in [v for v in res["a"][0][0] if v in res["b"][0][0]]:
        print("b/a %s Mpps %s" % (v, spread([b[0][v] / a[0][v] for a, b in zip(res["a"], res["b"])])))
    for v in ratios:
        for w in ("a", "b"):
            print("net_switch_%s_over_plain_%s %.3f x" % (v, labels[w], statistics.median(x[1][v] for x in res[w])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
