#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""VMM memory overhead: RSS of the VMM process minus the guest RAM the guest touched, for a
128 MiB, 1 vCPU guest sitting in the `idle` test. Guest RAM is a memfd in kite and is made one in
QEMU too (memory-backend-memfd), so in both it is the RssShmem part of /proc/PID/status and the
overhead is VmRSS - RssShmem. Prints `name value unit` lines.

usage: rss.py KITE BZIMAGE
"""
import os
import signal
import subprocess
import sys
import time

from common import have, kite_cmd, qemu_cmd


def status_kib(pid):
    vals = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if v.strip().endswith("kB"):
                vals[k] = int(v.split()[0])
    return vals


def measure(cmd):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        line = b""
        t0 = time.monotonic()
        while b"idle: halted" not in line:
            line = p.stdout.readline()
            if not line or time.monotonic() - t0 > 120:
                raise RuntimeError("%s: guest never reached the idle test" % " ".join(cmd))
        time.sleep(1.0)
        return status_kib(p.pid)
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    kite, image = sys.argv[1], sys.argv[2]
    cmdline = "kite.test=idle"
    configs = [("kite", kite_cmd(kite, image, cmdline, mem_mib=128, extra=["--cpus", "1"]))]
    if have("qemu-system-x86_64"):
        configs += [("qemu_microvm_tcg", qemu_cmd("microvm", "tcg", image, cmdline, 128, memfd=True)),
                    ("qemu_microvm_kvm", qemu_cmd("microvm", "kvm", image, cmdline, 128, memfd=True)),
                    ("qemu_pc_tcg", qemu_cmd("pc", "tcg", image, cmdline, 128, memfd=True))]
    over = {}
    for name, cmd in configs:
        s = status_kib(os.getpid()) if False else measure(cmd)
        over[name] = s["VmRSS"] - s.get("RssShmem", 0)
        print("rss_%s_total %d KiB" % (name, s["VmRSS"]))
        print("rss_%s_guest_ram_touched %d KiB" % (name, s.get("RssShmem", 0)))
        print("rss_%s_overhead %d KiB" % (name, over[name]))
        sys.stdout.flush()
    for name, v in over.items():
        if name != "kite" and over["kite"]:
            print("rss_overhead_ratio_%s_over_kite %.1f x" % (name, v / over["kite"]))


if __name__ == "__main__":
    main()
