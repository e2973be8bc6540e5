#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Create and boot N test guests (kite.test=idle, 1 vCPU, MEM MiB, no devices) through kited, against
the same N QEMU microvm processes (KVM, qboot, the same bzImage and memory) started by this script.
Rounds alternate kite and QEMU. A round's time runs from its first request (kite: POST /vms with
"start": true, CONCURRENCY requests at a time; QEMU: the first Popen) to the last guest's idle line
on its console (kite: the VM's console socket; QEMU: its serial on stdout). After each round, with
every guest up: memory per VM = (PSS of the N kites + PSS of kite-dpu) / N, against the N QEMUs'
PSS / N (/proc/PID/smaps_rollup); then every VM is deleted (kite) or killed (QEMU) before the next
round. Prints `name value unit` lines: medians, min and max, the ratios (QEMU / kite: > 1 = kite
ahead), VMs per core per second beside Firecracker's published bar (5 VMs per core per second).

usage: kited_bench.py --kited K --kite KITE --dpu KITE_DPU --kernel GUEST [--counts 1,16,64]
                      [--rounds 5] [--rounds-big 3] [--big 64] [--memory 32] [--concurrency 8]
                      [--jail on|off --jailer JAILER]
The machine is shared: only the ratios of one run mean something; the load average is printed."""
import argparse
import concurrent.futures
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "kited"))
sys.path.insert(0, os.path.join(HERE, "..", "vmm"))
from kdlib import Console, Fail, Kited, check, wait_for  # noqa: E402
from common import qemu_cmd  # noqa: E402  (bench/vmm: QEMU microvm + qboot with the test guest)

IDLE = "kite.test=idle"
IDLE_LINE = r"^idle: halted with interrupts off until the VMM stops us$"
FIRECRACKER_BAR = 5.0       # VMs per core per second, Firecracker's published figure


def pss_kib(pid):
    try:
        for line in open("/proc/%d/smaps_rollup" % pid):
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    raise Fail("no PSS for pid %d (gone?)" % pid)


def loadavg():
    return float(open("/proc/loadavg").read().split()[0])


# ---- kite through kited ----

def kite_round(kd, n, mem, conc, tag):
    names = ["b%s-%03d" % (tag, i) for i in range(n)]
    t0 = time.monotonic()

    def one(name):
        kd.create(name, IDLE, disk_mib=0, mem=mem, start=True)
        c = Console(kd.console_path(name), "VM " + name).attach()
        kd.consoles.append(c)
        c.wait(IDLE_LINE)
        return time.monotonic() - t0
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(n, conc)) as ex:
        times = list(ex.map(one, names))
    elapsed = max(times)
    vms = kd.vms()
    check(sorted(v["name"] for v in vms) == names and all(v["state"] == "running" for v in vms),
          "kited: not all %d VMs running: %s" % (n, [(v["name"], v["state"]) for v in vms]))
    kite_pss = sum(pss_kib(v["pid"]) for v in vms)
    dpu_pss = pss_kib(kd.dpu()["pid"])
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(n, conc)) as ex:
        list(ex.map(lambda nm: kd.ok("DELETE", "/vms/" + nm, want=(204,)), names))
    for c in kd.consoles:
        c.close()
    kd.consoles = []
    check(kd.vms() == [], "kited: VMs left after deleting all")
    return elapsed, kite_pss / n, dpu_pss / n


# ---- the same guests under QEMU ----

def qemu_round(kernel, n, mem):
    cmd = qemu_cmd("microvm", "kvm", kernel, IDLE, mem_mib=mem)
    pat = re.compile(IDLE_LINE)
    procs, times, errors = [], [None] * n, []
    t0 = time.monotonic()

    def reader(i, p):
        for raw in p.stdout:
            if pat.search(raw.decode(errors="replace").rstrip("\r\n")):
                times[i] = time.monotonic() - t0
                break
        else:
            errors.append("QEMU %d ended (status %s) without the idle line" % (i, p.wait()))
    threads = []
    try:
        for i in range(n):
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            procs.append(p)
            t = threading.Thread(target=reader, args=(i, p), daemon=True)
            t.start()
            threads.append(t)
        for t in threads:
            t.join(300)
        check(not errors and all(x is not None for x in times), "QEMU round: %s" % (errors or "a guest never booted"))
        pss = sum(pss_kib(p.pid) for p in procs)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
        for p in procs:
            p.wait()
    return max(times), pss / n


def stats(xs):
    return statistics.median(xs), min(xs), max(xs)


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("--kited", required=True)
    ap.add_argument("--kite", required=True)
    ap.add_argument("--dpu", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--counts", default="1,16,64")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--rounds-big", type=int, default=3)
    ap.add_argument("--big", type=int, default=64, help="N from which --rounds-big applies")
    ap.add_argument("--memory", type=int, default=32)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--jail", default="off", choices=("on", "off"),
                    help="kites under kite-jailer (kited's default as root; QEMU is never jailed)")
    ap.add_argument("--jailer")
    ap.add_argument("--qemu-only", action="store_true", help="only the QEMU side (no kited needed)")
    a = ap.parse_args()
    a.kitectl = ""
    cores = os.cpu_count()
    print("# kited bench: load average %.2f at the start, %d cores, guests of %d MiB, kites jailed: %s" %
          (loadavg(), cores, a.memory, a.jail))
    print("kited_bench_load_start %.2f load" % loadavg())
    kd = None
    try:
        if not a.qemu_only:
            kd = Kited(a, prefix="kite-kited-bench-")
            kd.start()
            wait_for("kite-dpu", lambda: kd.dpu().get("state") == "running")
        for n in [int(x) for x in a.counts.split(",")]:
            rounds = a.rounds_big if n >= a.big else a.rounds
            kt, qt, kmem, dmem, qmem = [], [], [], [], []
            for r in range(rounds):
                if kd:
                    t, km, dm = kite_round(kd, n, a.memory, a.concurrency, "%d-%d" % (n, r))
                    kt.append(t), kmem.append(km), dmem.append(dm)
                    print("# N=%d round %d: kite %.3f s" % (n, r, t))
                t, qm = qemu_round(a.kernel, n, a.memory)
                qt.append(t), qmem.append(qm)
                print("# N=%d round %d: qemu %.3f s (load %.2f)" % (n, r, t, loadavg()))
                sys.stdout.flush()
            pre = "kited_boot_n%d" % n
            for who, xs in (("kite", kt), ("qemu", qt)):
                if xs:
                    med, lo, hi = stats(xs)
                    print("%s_%s_median %.3f s" % (pre, who, med))
                    print("%s_%s_min %.3f s" % (pre, who, lo))
                    print("%s_%s_max %.3f s" % (pre, who, hi))
                    print("%s_%s_rate %.2f vms/core/s" % (pre, who, n / med / cores))
            print("%s_rounds %d rounds" % (pre, rounds))
            mpre = "kited_mem_n%d" % n
            print("%s_qemu_pss_per_vm %.0f KiB" % (mpre, statistics.median(qmem)))
            if kt:
                print("%s_kite_pss_per_vm %.0f KiB" % (mpre, statistics.median(kmem)))
                print("%s_dpu_pss_per_vm %.0f KiB" % (mpre, statistics.median(dmem)))
                per_vm = statistics.median(kmem) + statistics.median(dmem)
                print("%s_kite_and_dpu_pss_per_vm %.0f KiB" % (mpre, per_vm))
                print("%s_qemu_over_kite_time %.2f x" % (pre, statistics.median(qt) / statistics.median(kt)))
                print("%s_qemu_over_kite_pss %.2f x" % (mpre, statistics.median(qmem) / per_vm))
                print("%s_kite_rate_over_firecracker_bar %.2f x" % (pre, n / statistics.median(kt) / cores /
                                                                    FIRECRACKER_BAR))
            sys.stdout.flush()
        print("kited_firecracker_bar %.1f vms/core/s" % FIRECRACKER_BAR)
        print("kited_bench_load_end %.2f load" % loadavg())
    except Fail as e:
        print("kited bench: FAIL: %s" % e, file=sys.stderr)
        if kd:
            print(kd.log(), file=sys.stderr)
        return 1
    finally:
        if kd:
            kd.kill_all()
            kd.remove()
    return 0


if __name__ == "__main__":
    sys.exit(main())
