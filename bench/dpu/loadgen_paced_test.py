#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Test of blk_loadgen's --pace-us mode (the slow-guest load of blk_bench.py --pace-us) against
kite-dpu: the generator keeps to its schedule (never more requests than one per pace), takes
completions on interrupts (the call fd woke it for at least a tenth of them, and kite-dpu counted at
least those calls), and every request came back OK and was served by the volume; the pollers' spin
window stays within "spin_usecs" (default 10 us; 0: none).
Usage: loadgen_paced_test.py KITE_DPU BLK_LOADGEN"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "lib"))
from dpu_ctl import ctl_request, metrics  # noqa: E402

PACE_US, SECONDS = 1000, 1.0


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


def volume_counters(ctl):
    return {n[len("kite_dpu_blk_"):]: int(v) for n, lab, v in metrics(ctl_request(ctl, {"cmd": "stats"})["stats"])
            if n.startswith("kite_dpu_blk_") and lab.get("volume") == "b"}


def spin_windows(ctl):
    return [int(v) for n, _, v in metrics(ctl_request(ctl, {"cmd": "stats"})["stats"]) if n == "kite_dpu_poller_spin_ns"]


def start(dpu, wd, img, sock, ctl, extra):
    cfg = os.path.join(wd, "cfg.json")
    with open(cfg, "w") as f:
        json.dump(dict({"control": ctl, "volumes": [{"name": "b", "image": img, "socket": sock}]}, **extra), f)
    for p in (sock, ctl):
        if os.path.exists(p):
            os.unlink(p)
    proc = subprocess.Popen([dpu, "--config", cfg], stdout=open(os.path.join(wd, "log"), "w"),
                            stderr=subprocess.STDOUT)
    for _ in range(200):
        if os.path.exists(sock) and os.path.exists(ctl) or proc.poll() is not None:
            break
        time.sleep(0.05)
    if proc.poll() is not None or not os.path.exists(sock):
        fail(f"kite-dpu did not start: {open(os.path.join(wd, 'log')).read()[-300:]}")
    return proc


def stop(proc):
    if proc and proc.poll() is None:
        proc.terminate()
        proc.wait(10)


def main():
    dpu, gen = sys.argv[1], sys.argv[2]
    wd = tempfile.mkdtemp(prefix="kite-loadgen-paced.", dir="/dev/shm")
    proc = None
    try:
        img, sock, ctl = (os.path.join(wd, n) for n in ("img", "sock", "ctl"))
        with open(img, "wb") as f:
            f.truncate(16 << 20)
        proc = start(dpu, wd, img, sock, ctl, {})
        done = 0
        for rw in ("randwrite", "randread"):
            out = subprocess.run([gen, "--socket", sock, "--rw", rw, "--qd", "4", "--seconds", str(SECONDS),
                                  "--pace-us", str(PACE_US)], capture_output=True, text=True, timeout=60)
            vals = dict(line.split(None, 1) for line in out.stdout.splitlines() if " " in line)
            print(f"{rw}: exit {out.returncode}, {out.stdout.split()} {out.stderr.strip()}")
            if out.returncode != 0 or vals.get("errors") != "0":
                fail(f"{rw}: the generator failed")
            iops, irqs = float(vals["iops"]), int(vals["interrupts"])
            # open loop: at most one request per pace, from the start (+1), over a run of >= SECONDS
            if not 0 < iops <= (SECONDS * 1e6 / PACE_US + 1) / SECONDS:
                fail(f"{rw}: {iops} IOPS, not within (0, one per {PACE_US} us]")
            # the backend is asleep when each request comes (one per ms), so most completions come after
            # the generator armed its interrupt (about 60% here); without interrupts it saw 1 of 1000
            if irqs < iops * SECONDS / 10:
                fail(f"{rw}: only {irqs} of about {iops * SECONDS:.0f} completions came by interrupt")
            c = volume_counters(ctl)
            done += round(iops * SECONDS)
            if c.get("notifications_total", 0) < irqs:
                fail(f"{rw}: the generator took {irqs} interrupts, kite-dpu sent {c.get('notifications_total', 0)}")
            served = c.get("reads_total", 0) + c.get("writes_total", 0)
            if served < done * 0.9:   # iops is over the elapsed time, a little over SECONDS
                fail(f"{rw}: kite-dpu served {served} requests, the generator counted about {done}")
        # the pollers' spin window: bounded by the default "spin_usecs" (10 us) after this load, and
        # 0 with "spin_usecs": 0 (such a poller sleeps as soon as a round finds nothing)
        if not spin_windows(ctl) or max(spin_windows(ctl)) > 10000:
            fail(f"spin windows {spin_windows(ctl)} ns, not within the default bound of 10 us")
        stop(proc)
        proc = start(dpu, wd, img, sock, ctl, {"spin_usecs": 0})
        out = subprocess.run([gen, "--socket", sock, "--rw", "randread", "--qd", "1", "--seconds", "0.3",
                              "--pace-us", str(PACE_US)], capture_output=True, text=True, timeout=60)
        if out.returncode != 0 or spin_windows(ctl) != [0]:
            fail(f"spin_usecs 0: generator exit {out.returncode}, spin windows {spin_windows(ctl)} ns")
        print("PASS")
    finally:
        stop(proc)
        shutil.rmtree(wd, ignore_errors=True)


if __name__ == "__main__":
    main()
