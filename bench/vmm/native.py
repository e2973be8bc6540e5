#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Guest CPL0 loop in kvm-pvm native mode (guest test `native`, 1e8 iterations) vs the same loop
on the host (hostloop), both timed with the TSC; median of N runs. Also the emulation counters of
the run (kite --stats). Prints `name value unit` lines.

usage: native.py KITE BZIMAGE HOSTLOOP [RUNS]
"""
import re
import subprocess
import sys

from common import kite_cmd, median, time_run


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    kite, image, hostloop = sys.argv[1:4]
    runs = int(sys.argv[4]) if len(sys.argv) > 4 else 11
    loops = 100000000
    guest, host, wall, emul = [], [], [], []
    for _ in range(runs):
        dt, out, err = time_run(kite_cmd(kite, image, "kite.test=native kite.loops=%d" % loops, 64,
                                         ["--stats"]), "kite-guest: PASS native", 0)
        m = re.search(r"loop of \d+ iterations took (\d+) TSC cycles \((\w+)", out)
        if not m:
            raise RuntimeError("no loop line in:\n" + out)
        guest.append(int(m.group(1)))
        wall.append(dt)
        e = re.search(r"vcpu0: .*insn_emulation=(\d+)", err)
        if e:
            emul.append(int(e.group(1)))
        h = subprocess.run([hostloop, str(loops)], stdout=subprocess.PIPE, check=True).stdout.decode()
        host.append(int(re.search(r"host_loop_tsc (\d+)", h).group(1)))
    print("native_mode %s" % ("pvm-native" if m.group(2) == "native" else "host-default"))
    print("native_guest_loop_tsc_median %d cycles" % median(guest))
    print("native_host_loop_tsc_median %d cycles" % median(host))
    print("native_guest_over_host_ratio %.2f x" % (median(guest) / median(host)))
    print("native_kite_run_wall_median %.1f ms" % (median(wall) * 1000))
    if emul:
        print("native_kite_insn_emulation_median %d count" % median(emul))
    print("native_runs %d runs" % runs)


if __name__ == "__main__":
    main()
