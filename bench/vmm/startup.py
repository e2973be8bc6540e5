#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Process start to guest exit for the hello guest: kite vs QEMU (-M microvm with qboot, -M pc),
median of N runs each. Prints `name value unit` lines.

usage: startup.py KITE BZIMAGE [RUNS] [--with-qemu-kvm-pc]
QEMU with -accel kvm on -M pc runs SeaBIOS, which kvm-pvm emulates instruction by instruction
(~14 s per boot here), so it is only measured when asked.
"""
import re
import sys

from common import have, kite_cmd, median, qemu_cmd, time_run


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) < 2:
        sys.exit(__doc__)
    kite, image = args[0], args[1]
    runs = int(args[2]) if len(args) > 2 else 11
    cmdline = "kite.test=hello"
    configs = [("kite", kite_cmd(kite, image, cmdline, extra=["--console", "stdio"]), 0),
               # the guest registers the kvm-pvm PV cell early: the rest of its CPL0 code runs natively
               ("kite_native", kite_cmd(kite, image, cmdline + " kite.native=1", extra=["--console", "stdio"]), 0)]
    if have("qemu-system-x86_64"):
        configs += [
            ("qemu_microvm_kvm", qemu_cmd("microvm", "kvm", image, cmdline), 1),
            ("qemu_microvm_tcg", qemu_cmd("microvm", "tcg", image, cmdline), 1),
            ("qemu_pc_tcg", qemu_cmd("pc", "tcg", image, cmdline), 1),
        ]
        if "--with-qemu-kvm-pc" in sys.argv:
            configs.append(("qemu_pc_kvm", qemu_cmd("pc", "kvm", image, cmdline), 1))
    results = {}
    for name, cmd, status in configs:
        times = []
        for _ in range(runs):
            dt, _, _ = time_run(cmd, "kite-guest: PASS hello", status)
            times.append(dt)
        results[name] = median(times)
        print("startup_%s_median %.1f ms" % (name, results[name] * 1000))
        print("startup_%s_min %.1f ms" % (name, min(times) * 1000))
        sys.stdout.flush()
    # KVM exit statistics of one kite run of each kind (never used as a test assertion)
    for name, extra in (("kite", ""), ("kite_native", " kite.native=1")):
        _, _, err = time_run(kite_cmd(kite, image, cmdline + extra, extra=["--stats"]), "kite-guest: PASS hello", 0)
        m = re.search(r"vcpu0: exits=(\d+) insn_emulation=(\d+)", err)
        if m:
            print("startup_%s_exits %s count" % (name, m.group(1)))
            print("startup_%s_insn_emulation %s count" % (name, m.group(2)))
    for name, t in results.items():
        if not name.startswith("kite"):
            print("startup_ratio_%s_over_kite %.2f x" % (name, t / results["kite"]))
    print("startup_runs %d runs" % runs)


if __name__ == "__main__":
    main()
