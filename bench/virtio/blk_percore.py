#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Device-side CPU of kite virtio-blk: two kite binaries (NEW and BASE), alternating, the polling test
guest's blkbench (kite.native=1, 4 KiB, MODE randwrite|randread, queue depth QD) on a 256 MiB
fallocated image in --image-dir (default /dev/shm: tmpfs), device side on CPU 0 (`taskset -c 0`,
--pin-io 0), the vCPU on CPU 1 (--pin-vcpus 1), normal priority. IOPS from the guest's TSC; device
CPU = the sum over every thread of the kite process but the vCPU (I/O thread, main loop, io_uring's
iou-wrk workers) of /proc/PID/task/TID/schedstat, sampled every 20 ms (boot included). Prints
`name value unit` lines: per binary median (min-max) of IOPS and device CPU seconds, and NEW/BASE pair
by pair, median (min-max), of IOPS and of ops per device CPU second ("per core").

usage: blk_percore.py NEW BASE BZIMAGE [--qd Q] [--rounds N] [--ops N] [--mode M] [--image-dir D]
"""
import argparse
import os
import re
import statistics
import subprocess
import tempfile


def tsc_hz(kite):
    khz = os.path.join(os.path.dirname(os.path.abspath(kite)), "tests", "lib", "tsc_khz")
    return float(subprocess.check_output([khz]).split()[0]) * 1000


def one(a, kite, img):
    cmd = ["taskset", "-c", "0", kite, "--kernel", a.bzimage, "--memory", "128", "--console", "stdio",
           "--pin-vcpus", "1", "--pin-io", "0", "--blk", "path=%s,cache=writeback" % img, "--cmdline",
           "kite.test=blkbench kite.native=1 kite.bench=%s kite.ops=%d kite.qd=%d kite.seed=5" % (a.mode, a.ops, a.qd)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    last = {}
    while p.poll() is None:
        try:
            tids = os.listdir("/proc/%d/task" % p.pid)
        except OSError:
            tids = []
        for t in tids:
            try:
                name = open("/proc/%d/task/%s/comm" % (p.pid, t)).read().strip()
                last[t] = (name, int(open("/proc/%d/task/%s/schedstat" % (p.pid, t)).read().split()[0]))
            except (OSError, ValueError):
                pass
        try:
            p.wait(timeout=0.02)
        except subprocess.TimeoutExpired:
            pass
    out = p.stdout.read().decode(errors="replace")
    m = re.search(r"BENCH ops=(\d+) bytes=\d+ tsc=(\d+)", out)
    if p.returncode != 0 or not m:
        raise SystemExit("bench/virtio/blk_percore: %s failed (exit %s):\n%s" % (kite, p.returncode, out[-2000:]))
    return int(m.group(1)) / (int(m.group(2)) / a.hz), sum(ns for n, ns in last.values() if "vcpu" not in n) / 1e9


def spread(xs):
    return "%.3f %.3f-%.3f" % (statistics.median(xs), min(xs), max(xs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("new")
    ap.add_argument("base")
    ap.add_argument("bzimage")
    ap.add_argument("--qd", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--ops", type=int, default=50000)
    ap.add_argument("--mode", default="randwrite")
    ap.add_argument("--image-dir", default="/dev/shm")
    a = ap.parse_args()
    a.hz = tsc_hz(a.new)
    print("blk_percore_loadavg %s load" % open("/proc/loadavg").read().split()[0])
    tmp = tempfile.mkdtemp(prefix="kite-percore-", dir=a.image_dir)
    img = os.path.join(tmp, "img")
    try:
        with open(img, "wb") as f:
            os.posix_fallocate(f.fileno(), 0, 256 << 20)
        res = {"new": [], "base": []}
        for r in range(a.rounds):
            for k in (("new", "base") if r % 2 == 0 else ("base", "new")):
                res[k].append(one(a, a.new if k == "new" else a.base, img))
    finally:
        if os.path.exists(img):
            os.unlink(img)
        os.rmdir(tmp)
    tag = "blk_%s_qd%d" % (a.mode, a.qd)
    for k, v in res.items():
        print("%s_%s_iops %s ops/s" % (tag, k, spread([x[0] for x in v])))
        print("%s_%s_device_cpu %s s" % (tag, k, spread([x[1] for x in v])))
    iops = [n[0] / b[0] for n, b in zip(res["new"], res["base"])]
    core = [b[1] / n[1] for n, b in zip(res["new"], res["base"])]    # same ops: ratio of CPU seconds
    print("%s_new_over_base_iops %s x" % (tag, spread(iops)))
    print("%s_new_over_base_per_core %s x" % (tag, spread(core)))
    print("blk_percore_loadavg_end %s load" % open("/proc/loadavg").read().split()[0])


if __name__ == "__main__":
    main()
