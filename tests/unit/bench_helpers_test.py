# SPDX-License-Identifier: MIT
"""The Python helpers the benchmarks and tests share: bench/round_order.py (every set-up once per
round; over the rounds each runs first, and after each other one, equally often) and tests/lib/dpu_ctl.py's
metrics/metric (Prometheus text -> samples: labels matched as a set, comments and junk left out).
Usage: python3 bench_helpers_test.py SOURCE_ROOT"""
import collections
import itertools
import os
import sys


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def main():
    root = sys.argv[1]
    sys.path.insert(0, os.path.join(root, "bench"))
    sys.path.insert(0, os.path.join(root, "tests", "lib"))
    from round_order import round_order
    from dpu_ctl import metric, metrics

    for n in range(1, 6):
        items = list("ABCDE"[:n])
        rounds = [round_order(items, r) for r in range(2 * n)]
        if any(sorted(o) != items for o in rounds):
            fail("%d set-ups: a round does not run each once: %s" % (n, rounds))
        if items != list("ABCDE"[:n]):
            fail("round_order changed its argument")
        # over 2n rounds (the period for odd n; twice it for even n) each set-up runs first equally
        # often, and each set-up runs directly after each other one
        firsts = [o[0] for o in rounds]
        if any(firsts.count(x) != 2 for x in items):
            fail("%d set-ups: who runs first is unbalanced: %s" % (n, firsts))
        follows = collections.Counter((o[i], o[i + 1]) for o in rounds for i in range(len(o) - 1))
        want = set(itertools.permutations(items, 2))
        if set(follows) != want or len(set(follows.values())) > 1:
            fail("%d set-ups: neighbour pairs %s, expected each of %s equally often (rounds %s)" %
                 (n, dict(follows), sorted(want), rounds))
    if round_order([], 3) != []:
        fail("no set-ups: not an empty order")
    if ["".join(round_order("AB", r)) for r in range(4)] != ["AB", "BA", "AB", "BA"]:
        fail("two set-ups do not alternate")
    if ["".join(round_order("ABC", r)) for r in range(6)] != ["ABC", "CBA", "BCA", "ACB", "CAB", "BAC"]:
        fail("three set-ups do not run all six orders")

    text = "\n".join([
        "# HELP kite_dpu_blk_writes_total writes",
        "# TYPE kite_dpu_blk_writes_total counter",
        'kite_dpu_blk_writes_total{volume="bad",queue="0"} 7',
        'kite_dpu_blk_writes_total{queue="0",volume="good"} 12',
        'kite_dpu_blk_resubmitted_total{volume="vol0"} 3',
        "kite_dpu_up 1",
        "not a sample",
        "kite_dpu_x{volume=\"v\"} notanumber",
        'kite_dpu_rate{path="a\\"b"} 0.5',
    ])
    got = metrics(text)
    if len(got) != 5:
        fail("metrics: %d samples, expected 5: %s" % (len(got), got))
    if metric(text, "kite_dpu_blk_writes_total", volume="good") != 12:
        fail("metric: labels in another order were not matched")
    if metric(text, "kite_dpu_blk_writes_total", volume="good", queue="1") is not None:
        fail("metric: a label that differs matched")
    if metric(text, "kite_dpu_blk_writes_total") != 7:
        fail("metric: without labels, not the first sample")
    if metric(text, "kite_dpu_up") != 1 or metric(text, "kite_dpu_down") is not None:
        fail("metric: a sample without labels, or a missing name")
    if metric(text, "kite_dpu_rate", path='a\\"b') != 0.5:
        fail("metric: an escaped quote in a label value")
    print("PASS: round_order over 1-5 set-ups, metrics/metric on %d samples" % len(got))


if __name__ == "__main__":
    main()
