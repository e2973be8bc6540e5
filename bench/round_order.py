# SPDX-License-Identifier: MIT
"""The order in which a benchmark runs its set-ups in one round (bench/dpu/blk_bench.py, net_tput.py).

A plain rotation (ABC, BCA, CAB) runs each set-up after the same neighbour in every round, so the
state one leaves behind (dirty pages, a warm cache, a busy core winding down) always falls on the
same next one. round_order uses a balanced Latin square (Williams' design) instead: the first round
is A, B, Z, C, Y, ... (0, 1, n-1, 2, n-2, ...), each later round adds 1 to every position (mod n), and
with an odd number of set-ups every second round is the previous one reversed. Over n rounds (2n if n
is odd) each set-up runs first equally often and directly after each other one equally often: two
set-ups run AB BA AB BA, three ABC CBA BCA ACB CAB BAC."""


def round_order(items, rnd):
    """items (a sequence) in round rnd's order (rnd from 0, any int >= 0); a new list."""
    items = list(items)
    n = len(items)
    if n < 2:
        return items
    base, lo, hi = [0], 1, n - 1
    while len(base) < n:
        base.append(lo)
        lo += 1
        if len(base) < n:
            base.append(hi)
            hi -= 1
    row = rnd % n if n % 2 == 0 else (rnd // 2) % n
    out = [items[(b + row) % n] for b in base]
    return out[::-1] if n % 2 and rnd % 2 else out
