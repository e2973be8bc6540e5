#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Turn benchmark output (`name value unit` lines, as every bench/*/run.sh prints) into pictures.

usage: bench/plot.py OUT.png RESULTS.txt [RESULTS.txt ...] [--title TEXT] [--match REGEX]
                     [--lower-better] [--tag-files]

One horizontal bar per ratio line (unit `x`: kite over its peer, e.g. blk_randread_kite_over_qemu-kvm),
with a line at 1.0 (parity) and the value printed at the bar's end. --match keeps only the names
that match. --lower-better colours the bars below 1.0 as the good ones (latency ratios);
--tag-files puts each results file's name (without .txt) before its names (several runs in one
picture). Lines that are not `name value unit` (comments, `# area` headers, logs) are ignored, so
a saved `bench/run.sh` transcript can be passed as it is. Needs Debian's python3-matplotlib, hence /usr/bin/python3 in the first line (run it as bench/plot.py).
Exit status 1 with one line when no ratio was found or a file cannot be read.
"""
import argparse
import re
import sys

LINE = re.compile(r"^([A-Za-z0-9_.+-]+) (-?[0-9.]+(?:e[-+]?[0-9]+)?) (\S+)\s*$")


def read_ratios(paths, match, tag_files=False):
    out = []
    for path in paths:
        try:
            lines = open(path).read().splitlines()
        except OSError as e:
            raise SystemExit("bench/plot.py: %s: %s" % (path, e.strerror))
        for line in lines:
            m = LINE.match(line.strip())
            if m and m.group(3) == "x" and (not match or re.search(match, m.group(1))):
                tag = re.sub(r"\.txt$", "", path.rsplit("/", 1)[-1]) + ": " if tag_files else ""
                out.append((tag + m.group(1), float(m.group(2))))
    return out


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("out")
    ap.add_argument("results", nargs="+")
    ap.add_argument("--title", default="kite / peer (same run; > 1 = kite ahead)")
    ap.add_argument("--match")
    ap.add_argument("--lower-better", action="store_true")
    ap.add_argument("--tag-files", action="store_true")
    a = ap.parse_args()
    ratios = read_ratios(a.results, a.match, a.tag_files)
    if not ratios:
        print("bench/plot.py: no ratio lines (unit x) in %s" % ", ".join(a.results), file=sys.stderr)
        return 1
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = [n for n, _ in ratios]
    values = [v for _, v in ratios]
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(ratios) + 1.2))
    colors = ["#2a7" if (v <= 1 if a.lower_better else v >= 1) else "#c54" for v in values]
    ax.barh(range(len(values)), values, color=colors)
    ax.set_yticks(range(len(values)))
    ax.set_yticklabels(names, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(1.0, color="black", linewidth=0.8)
    for i, v in enumerate(values):
        ax.text(v, i, " %.2f" % v, va="center", fontsize=8)
    ax.set_xlabel("ratio")
    ax.set_title(a.title, fontsize=10)
    ax.set_xlim(0, max(values + [1.0]) * 1.15)
    fig.tight_layout()
    fig.savefig(a.out, dpi=100)
    print("bench/plot.py: %d ratios -> %s" % (len(ratios), a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
