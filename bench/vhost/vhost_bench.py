#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""vhost-user block benchmark (issue 9): the test guest's polling blkbench mode (4 KiB at random
offsets, guest in kvm-pvm native mode, its own split ring, no interrupts) on the same raw image
through five set-ups, alternating within each round:

  kite-dpu   kite --vhost-user-blk socket=S            + kite-dpu (one poller, "direct": false)
  kite-blk   kite --blk path=IMG,cache=writeback       (kite's in-process virtio-blk, io_uring)
  kite-qsd   kite --vhost-user-blk socket=S            + qemu-storage-daemon (cache.direct=off)
  qemu-dpu   QEMU q35 (SeaBIOS: qboot leaves the 64-bit BAR unassigned), -accel kvm,
             vhost-user-blk-pci + kite-dpu
  qemu-qsd   the same QEMU + qemu-storage-daemon

Every set-up serves the image from the page cache (a 256 MiB file read once before the first
run), so the figures compare the paths, not the disk. IOPS = ops / guest TSC time (host TSC
frequency). CPU per I/O of each process: utime + stime deltas (from /proc) over the guest run,
divided by the ops; for the VMM only its threads other than the vCPUs ("kite-vcpu*", "CPU */KVM")
count: the vCPU spins in the guest's polling loop, the rest is the VMM's own work. The backends'
pollers spin too while a frontend is connected, which their CPU figure includes.

Pinning (default with 2+ CPUs; --no-pin turns it off): kite's vCPU on CPU 0 (--pin-vcpus 0), kite-dpu's
poller on CPU 1 ("cores": [1]) and qemu-storage-daemon on CPU 1 (taskset), so the backend's poller
and the guest's polling vCPU never take turns on one core. QEMU's vCPU is not pinned.

usage: vhost_bench.py --kite K --dpu D --kernel BZIMAGE [--rounds 5] [--ops1 N] [--ops32 N]
                      [--modes randread,randwrite] [--no-qemu] [--no-pin]
Prints `name value unit` lines: per mode, queue depth and set-up the median IOPS and its spread
((max - min) / median), the CPU microseconds per I/O of each process, and kite's userspace exits
per I/O (kite --stats).
"""
import argparse
import glob
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "virtio"))
from vbench import BenchError, out, tsc_hz  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
VCPU_THREAD = re.compile(r"^(kite-vcpu\d+|CPU \d+/KVM)$")


def thread_ticks(pid, skip_vcpus):
    """{tid: utime + stime} of pid's threads (without vCPU threads if skip_vcpus); {} once it is gone."""
    res = {}
    for st in glob.glob("/proc/%d/task/*/stat" % pid):
        try:
            s = open(st).read()
        except OSError:
            continue
        comm = s[s.index("(") + 1:s.rindex(")")]
        f = s[s.rindex(")") + 2:].split()
        if not (skip_vcpus and VCPU_THREAD.match(comm)):
            res[st] = int(f[11]) + int(f[12])
    return res


class Backend:
    def __init__(self, name, cmd, sock, wd):
        self.name, self.sock = name, sock
        self.log = open(os.path.join(wd, name + ".log"), "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.time() + 20
        while not os.path.exists(sock):
            if self.proc.poll() is not None or time.time() > deadline:
                raise BenchError("%s did not start: %s" % (name, open(os.path.join(wd, name + ".log")).read()[-500:]))
            time.sleep(0.05)

    def ticks(self):
        return sum(thread_ticks(self.proc.pid, False).values())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run_vmm(cmd, is_qemu, backend, timeout=300):
    """Run one guest; returns (BENCH dict, VMM CPU ticks without vCPUs, backend CPU ticks, stderr).
    The CPU counts from the guest's "running test" line (after firmware and boot) to the VMM's exit."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    res = {"lines": []}
    started = threading.Event()

    def read_out():
        for line in p.stdout:
            res["lines"].append(line)
            if line.startswith(b"kite-guest: running test"):
                started.set()

    def read_err():
        res["err"] = p.stderr.read()
    ts = [threading.Thread(target=read_out), threading.Thread(target=read_err)]
    for t in ts:
        t.start()
    deadline = time.time() + timeout
    v0 = b0 = None
    last = {}          # every thread's latest figure: threads that end keep what they used
    while p.poll() is None:
        last.update(thread_ticks(p.pid, True))
        if v0 is None and started.is_set():
            v0, b0 = dict(last), backend.ticks() if backend else 0
        if time.time() > deadline:
            p.kill()
        time.sleep(0.02)
    for t in ts:
        t.join()
    b1 = backend.ticks() if backend else 0
    res["out"] = b"".join(res["lines"])
    o = res["out"].decode("utf-8", "replace")
    e = res["err"].decode("utf-8", "replace")
    m = re.search(r"^BENCH ops=(\d+) bytes=(\d+) tsc=(\d+) kicks=(\d+)", o, re.M)
    if p.returncode != (1 if is_qemu else 0) or not m or "kite-guest: PASS" not in o:
        raise BenchError("%s: status %s\n%s\n%s" % (" ".join(cmd), p.returncode, o[-1500:], e[-1500:]))
    r = {"ops": int(m.group(1)), "tsc": int(m.group(3)), "native": "native mode on" in o}
    s = re.search(r"vcpu0: (.*)", e)
    if s:
        for k, v in re.findall(r"(\w+)=(\d+)", s.group(1)):
            r[k] = int(v)
    if v0 is None:
        raise BenchError("%s: ended before its CPU could be sampled" % " ".join(cmd))
    return r, sum(t - v0.get(k, 0) for k, t in last.items()), b1 - b0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kite", required=True)
    ap.add_argument("--dpu", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--ops1", type=int, default=10000, help="ops per run at queue depth 1")
    ap.add_argument("--ops32", type=int, default=60000, help="ops per run at queue depth 32")
    ap.add_argument("--modes", default="randread,randwrite")
    ap.add_argument("--no-qemu", action="store_true")
    ap.add_argument("--no-pin", action="store_true", help="do not pin vCPU and backends to CPUs 0 and 1")
    a = ap.parse_args()
    pin = not a.no_pin and len(os.sched_getaffinity(0)) >= 2
    if not shutil.which("qemu-storage-daemon"):
        raise BenchError("qemu-storage-daemon is not installed")
    hz = tsc_hz()
    wd = tempfile.mkdtemp(prefix="kite-vhbench-", dir="/var/tmp")
    backends = []
    try:
        img = os.path.join(wd, "img")
        with open(img, "wb") as f:
            f.write(b"\0" * (256 << 20))
        open(img, "rb").read()              # into the page cache
        dsock, qsock = os.path.join(wd, "dpu.sock"), os.path.join(wd, "qsd.sock")
        with open(os.path.join(wd, "dpu.json"), "w") as f:
            json.dump({"cores": [1 if pin else -1], "volumes": [{"name": "bench", "image": img, "socket": dsock,
                                                  "direct": False}]}, f)
        dpu = Backend("kite-dpu", [a.dpu, "--config", os.path.join(wd, "dpu.json")], dsock, wd)
        backends.append(dpu)
        qsd = Backend("qsd", (["taskset", "-c", "1"] if pin else []) + ["qemu-storage-daemon", "--blockdev",
                              "driver=file,node-name=f0,filename=%s,cache.direct=off,aio=io_uring" % img,
                              "--export", "type=vhost-user-blk,id=e0,node-name=f0,addr.type=unix,addr.path=%s,"
                              "writable=on" % qsock], qsock, wd)
        backends.append(qsd)

        def kite(cl, dev):
            return [a.kite, "--kernel", a.kernel, "--memory", "128", "--console", "stdio", "--stats",
                    "--cmdline", cl] + (["--pin-vcpus", "0"] if pin else []) + dev

        def qemu(cl, sock):
            return ["qemu-system-x86_64", "-M", "q35", "-accel", "kvm",
                    "-m", "128", "-object", "memory-backend-memfd,id=mem,size=128M,share=on", "-numa",
                    "node,memdev=mem", "-nodefaults", "-display", "none", "-serial", "stdio", "-monitor", "none",
                    "-no-reboot", "-device", "isa-debug-exit,iobase=0x501,iosize=1", "-kernel", a.kernel,
                    "-append", cl, "-chardev", "socket,id=c0,path=%s" % sock,
                    "-device", "vhost-user-blk-pci,chardev=c0,num-queues=1,disable-legacy=on"]

        setups = [("kite-dpu", lambda cl: kite(cl, ["--vhost-user-blk", "socket=" + dsock]), False, dpu),
                  ("kite-blk", lambda cl: kite(cl, ["--blk", "path=%s,cache=writeback" % img]), False, None),
                  ("kite-qsd", lambda cl: kite(cl, ["--vhost-user-blk", "socket=" + qsock]), False, qsd)]
        if not a.no_qemu:
            setups += [("qemu-dpu", lambda cl: qemu(cl, dsock), True, dpu),
                       ("qemu-qsd", lambda cl: qemu(cl, qsock), True, qsd)]
        print("# vhost_bench: %d rounds, host TSC %.0f MHz, image %s (page cache), %s, load %s" %
              (a.rounds, hz / 1e6, img, "kite vCPU on CPU 0, backends on CPU 1" if pin else "not pinned",
               open("/proc/loadavg").read().split()[0]), flush=True)
        for mode in a.modes.split(","):
            for qd, ops in ((1, a.ops1), (32, a.ops32)):
                iops, vmm_cpu, be_cpu, exits = {}, {}, {}, {}
                for rnd in range(a.rounds):
                    order = setups if rnd % 2 == 0 else setups[::-1]      # alternate the order
                    for name, mk, is_qemu, be in order:
                        cl = "kite.test=blkbench kite.native=1 kite.bench=%s kite.ops=%d kite.qd=%d kite.seed=%d" % (
                            mode, ops, qd, rnd + 1)
                        r, vt, bt = run_vmm(mk(cl), is_qemu, be)
                        if not r["native"]:
                            raise BenchError("%s: the guest did not run in kvm-pvm native mode" % name)
                        iops.setdefault(name, []).append(r["ops"] / (r["tsc"] / hz))
                        vmm_cpu.setdefault(name, []).append(vt / TICK / r["ops"] * 1e6)
                        if be:
                            be_cpu.setdefault(name, []).append(bt / TICK / r["ops"] * 1e6)
                        if not is_qemu and "mmio_exits" in r:
                            exits.setdefault(name, []).append((r.get("mmio_exits", 0) + r.get("io_exits", 0)) / r["ops"])
                tag = "vhost_blk_%s_qd%d" % (mode, qd)
                for name, _, is_qemu, be in setups:
                    xs = iops[name]
                    m = statistics.median(xs)
                    out("%s_%s_iops" % (tag, name), m, "ops/s")
                    out("%s_%s_iops_spread" % (tag, name), (max(xs) - min(xs)) / m * 100, "%")
                    out("%s_%s_%s_cpu_per_io" % (tag, name, "qemu" if is_qemu else "kite"),
                        statistics.median(vmm_cpu[name]), "us")
                    if be:
                        out("%s_%s_%s_cpu_per_io" % (tag, name, be.name), statistics.median(be_cpu[name]), "us")
                    if name in exits:
                        out("%s_%s_kite_userspace_exits_per_io" % (tag, name), statistics.median(exits[name]), "count")
                out("%s_kite-dpu_over_kite-blk" % tag,
                    statistics.median(iops["kite-dpu"]) / statistics.median(iops["kite-blk"]), "x")
        return 0
    except BenchError as e:
        print("vhost_bench: %s" % e, file=sys.stderr)
        return 1
    finally:
        for b in backends:
            b.stop()
        shutil.rmtree(wd, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
