#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Block I/O per polling core: kite-dpu (one poller, CPU 0) vs qemu-storage-daemon (one I/O thread,
CPU 0) exporting the same image, driven by blk_loadgen (CPU 1). The set-ups alternate within each
round (the order changes from round to round, bench/round_order.py: each runs first, and after each
other one, equally often), so that the load of a shared machine, and what one run leaves behind, hits
all alike.

Backings: "direct" = O_DIRECT on an image file on the disk (the disk's latency bounds both), "mem" =
buffered I/O on an image in /dev/shm (tmpfs: no disk, the CPU cost of the data path bounds both; tmpfs
has no non-blocking read or write path, so io_uring hands every request to an io-wq worker; kite-dpu
does them in its poller instead, docs/dpu.md "Buffered reads and writes"), "cache" = buffered I/O
on an image file on the disk's file system, in the page cache (written just before: reads are page-cache
hits that io_uring completes inline, writes dirty the cache; what a host with free RAM serves). Before
each cache run the image's file system is written back (settle): every run starts from clean cached
pages with no writeback under way, whatever ran before it.

Usage: blk_bench.py BUILD_DIR [--rounds 5] [--seconds 5] [--qd 1,32] [--rw randread,randwrite]
                    [--backing direct,mem,cache] [--dpu LABEL=PATH ...] [--no-qsd] [--img-mb 512]
                    [--no-cache-sync] [--pace-us N]
--dpu adds further kite-dpu binaries (e.g. a baseline build) to the alternation; for each, the ratio
kite-dpu / LABEL (IOPS, pair by pair) is printed as well. LABEL=PATH:KEY=JSON[,KEY=JSON] also sets those
keys in its volume object (e.g. `--dpu nomap=build/kite-dpu:map=false`: the same binary, reads not
mapped).
Prints one line per run, then per (backing, rw, set-up) the median and min-max IOPS, the IOPS per
CPU-second of the backend, the medians of the per-request latency p50/p99 (blk_loadgen's), and the
ratios to qemu-storage-daemon, pair by pair (same round); last the median ratios as "name value x"
lines for bench/plot.py (latency ratios *_lat_p50/p99_over_qsd: < 1 = kite-dpu faster) and the
latency medians as "name value us" lines. A kite-dpu run's line ends with its volume's counters from the
control socket's `stats`, read after the load ended: how many reads/writes its poller did itself
(inline) and how many of those slept past 500 us (slow: each sent that direction to io_uring's workers
for 100 ms), e.g. "[writes 612,345: inline 611,900, slow 2]" (docs/dpu.md "Prometheus counters").

--pace-us N: the generator sends one request every N us and takes completions on interrupts
(blk_loadgen.c), as a slow guest does; the IOPS are then the pace's, and the measure is the backend's
CPU per request (IOPS per CPU-second; names get a _paceNus suffix). Use longer --seconds (10): CPU
time is read in 10 ms ticks."""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "lib"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from dpu_ctl import ctl_request, metrics  # noqa: E402
from round_order import round_order  # noqa: E402


def cpu_ticks(pid):
    """utime + stime of a whole process (all threads), in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


class Backend:
    def __init__(self, label, wd, img, direct):
        self.label, self.wd, self.img, self.direct = label, wd, img, direct
        self.sock = os.path.join(wd, "sock")
        self.proc = None

    def wait_socket(self, log):
        for _ in range(200):
            if os.path.exists(self.sock):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        with open(log) as f:
            raise RuntimeError(f"{self.label} did not start: {f.read()[-300:]}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if os.path.exists(self.sock):
            os.unlink(self.sock)


class KiteDpu(Backend):
    def __init__(self, label, exe, wd, img, direct, extra=None):
        super().__init__(label, wd, img, direct)
        self.exe = exe
        self.extra = extra or {}
        self.ctl = os.path.join(wd, "ctl")

    def start(self):
        cfg = os.path.join(self.wd, "cfg.json")
        with open(cfg, "w") as f:
            json.dump({"cores": [0], "control": self.ctl,
                       "volumes": [dict({"name": "b", "image": self.img, "socket": self.sock,
                                         "direct": self.direct}, **self.extra)]}, f)
        log = os.path.join(self.wd, self.label + ".log")
        self.proc = subprocess.Popen([self.exe, "--config", cfg], stdout=open(log, "w"), stderr=subprocess.STDOUT)
        self.wait_socket(log)

    def counters(self, rw):
        """The volume's request count of rw's direction, how many the poller did inline, how many of
        those slept (kite_dpu_blk_* in `stats`), as a note for the run's line."""
        d = "writes" if rw == "randwrite" else "reads"
        c = {n[len("kite_dpu_blk_"):]: int(v) for n, lab, v in metrics(ctl_request(self.ctl, {"cmd": "stats"})["stats"])
             if n.startswith("kite_dpu_blk_") and lab.get("volume") == "b"}
        return (f" [{d} {c.get(d + '_total', 0):,}: inline {c.get('inline_' + d + '_total', 0):,}, "
                f"slow {c.get('inline_slow_total', 0):,}]")

    def stop(self):
        super().stop()
        if os.path.exists(self.ctl):
            os.unlink(self.ctl)


class Qsd(Backend):
    def start(self):
        log = os.path.join(self.wd, "qsd.log")
        direct = "on" if self.direct else "off"
        self.proc = subprocess.Popen(
            ["taskset", "-c", "0", "qemu-storage-daemon", "--blockdev",
             f"driver=file,node-name=f0,filename={self.img},cache.direct={direct},aio=io_uring",
             "--export", f"type=vhost-user-blk,id=e0,node-name=f0,addr.type=unix,addr.path={self.sock},writable=on"],
            stdout=open(log, "w"), stderr=subprocess.STDOUT)
        self.wait_socket(log)


def settle(img):
    """Writes back what earlier runs dirtied in the image's file system and waits (syncfs(2) through
    sync -f): the run then starts with the image's pages cached and clean and no writeback under way.
    Without it a "cache" run inherits the dirty pages of the runs before it (which set-up ran just
    before decides how many) and may meet the flusher writing them back (dirty_expire_centisecs after
    the file was first dirtied, whichever run that falls into): kite-dpu's inline writes then sleep
    and its guard sends them to io-wq workers for 100 ms (36 of 113 kite-dpu write runs had such
    writes without this, 0 of 66 with it; docs/benchmarks.md, issue 12 page-cache writes)."""
    subprocess.run(["sync", "-f", img], check=True)


def run_one(gen, be, rw, qd, secs, sync, pace_us=0):
    if sync:
        settle(be.img)
    be.start()
    try:
        t0 = cpu_ticks(be.proc.pid)
        out = subprocess.run(["taskset", "-c", "1", gen, "--socket", be.sock, "--rw", rw, "--qd", str(qd),
                              "--seconds", str(secs), "--cpu", "1"] + (["--pace-us", f"{pace_us:g}"] if pace_us else []),
                             capture_output=True, text=True, timeout=secs + 60)
        ticks = cpu_ticks(be.proc.pid) - t0
        note = be.counters(rw) if out.returncode == 0 and isinstance(be, KiteDpu) else ""
    finally:
        be.stop()
    vals = dict(line.split(None, 1) for line in out.stdout.splitlines() if " " in line)
    if out.returncode != 0 or "iops" not in vals or int(vals.get("errors", "0")) != 0:
        raise RuntimeError(f"load generator failed against {be.label}: {out.stderr.strip()[-300:]} {out.stdout.strip()}")
    iops = float(vals["iops"])
    cpu_s = ticks / os.sysconf("SC_CLK_TCK")
    lat = (float(vals.get("lat_p50_us", "nan")), float(vals.get("lat_p99_us", "nan")))
    # the generator's run includes connection set-up; cpu-seconds are over the same span
    return iops, iops * secs / cpu_s if cpu_s > 0 else float("nan"), lat, note


def span(v):
    return f"{statistics.median(v):,.0f} ({min(v):,.0f}-{max(v):,.0f})"


def dpu_arg(d):
    """--dpu LABEL=PATH[:KEY=JSON,...] -> (label, path, {key: value})."""
    label, rest = d.split("=", 1)
    path, _, keys = rest.partition(":")
    extra = {}
    for kv in filter(None, keys.split(",")):
        k, _, v = kv.partition("=")
        extra[k] = json.loads(v)
    return label, path, extra


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("SECONDS_PER_RUN", "5")))
    ap.add_argument("--qd", default="32", help="queue depths, comma-separated (qd 1 = latency: 1 / IOPS)")
    ap.add_argument("--rw", default="randread,randwrite")
    ap.add_argument("--backing", default="direct,mem")
    ap.add_argument("--dpu", action="append", default=[], help="LABEL=PATH of a further kite-dpu binary")
    ap.add_argument("--no-qsd", action="store_true")
    ap.add_argument("--no-cache-sync", action="store_true",
                    help="do not write the cache image back before each run (the method before; see settle)")
    ap.add_argument("--img-mb", type=int, default=int(os.environ.get("IMG_MB", "512")))
    ap.add_argument("--pace-us", type=float, default=0,
                    help="one request every N us, completions on interrupts (a slow guest); 0: saturate")
    a = ap.parse_args()
    pace = f"_pace{a.pace_us:g}us" if a.pace_us else ""

    gen = os.path.join(a.build, "bench", "dpu", "blk_loadgen")
    dpus = [("kite-dpu", os.path.join(a.build, "kite-dpu"), {})] + [dpu_arg(d) for d in a.dpu]
    for _, exe, _ in dpus + [("gen", gen, None)]:
        if not os.access(exe, os.X_OK):
            sys.exit(f"blk_bench: {exe} missing: build {a.build} first")
    use_qsd = not a.no_qsd and shutil.which("qemu-storage-daemon")
    wd = tempfile.mkdtemp(prefix="kite-blkbench.", dir=os.environ.get("TMPDIR", "/var/tmp"))
    shm = tempfile.mkdtemp(prefix="kite-blkbench.", dir="/dev/shm") if "mem" in a.backing else None
    try:
        imgs = {}
        for backing in a.backing.split(","):
            # fully allocated (random reads must reach the disk, not holes)
            imgs[backing] = os.path.join(shm if backing == "mem" else wd, "img-" + backing)
            subprocess.run(["dd", "if=/dev/zero", f"of={imgs[backing]}", "bs=1M", f"count={a.img_mb}",
                            "status=none", "conv=fsync"], check=True)
        res = {}   # (backing, rw, label) -> [(round, iops, iops per cpu-s)]
        lats = {}  # (backing, rw, label) -> [(p50 us, p99 us)]
        loads = []
        for rnd in range(a.rounds):
            for backing in a.backing.split(","):
                direct, img = backing == "direct", imgs[backing]
                bes = [KiteDpu(lbl, exe, wd, img, direct, extra) for lbl, exe, extra in dpus]
                if use_qsd:
                    bes.append(Qsd("qsd", wd, img, direct))
                bes = round_order(bes, rnd)
                for rw in [f"{r}@{q}" for q in a.qd.split(",") for r in a.rw.split(",")]:
                    for be in bes:
                        la = loadavg()
                        iops, per_cpu, lat, note = run_one(gen, be, rw.split("@")[0], int(rw.split("@")[1]), a.seconds,
                                                            backing == "cache" and not a.no_cache_sync, a.pace_us)
                        loads.append(float(la))
                        res.setdefault((backing, rw, be.label), []).append((rnd, iops, per_cpu))
                        lats.setdefault((backing, rw, be.label), []).append(lat)
                        print(f"round {rnd + 1} {backing} {rw} {be.label}: {iops:,.0f} IOPS, "
                              f"{per_cpu:,.0f} IOPS per CPU-s, p50 {lat[0]:.1f} us, p99 {lat[1]:.1f} us "
                              f"(load {la}){note}", flush=True)
        ratios = []   # "name value x" lines for bench/plot.py
        print(f"\n4 KiB (rw@queue depth), {a.rounds} rounds of {a.seconds:g} s"
              f"{f', one request every {a.pace_us:g} us' if a.pace_us else ''}, load average {min(loads):.1f}-{max(loads):.1f}")
        for backing in a.backing.split(","):
            for rw in [f"{r}@{q}" for q in a.qd.split(",") for r in a.rw.split(",")]:
                q = {r: (i, c) for r, i, c in res.get((backing, rw, "qsd"), [])}
                name = f"dpu_blk_{backing}_{rw.replace('@', '_qd')}{pace}"
                for lbl, _, _ in dpus + ([("qsd", None, None)] if use_qsd else []):
                    rows = res[(backing, rw, lbl)]
                    lat = [statistics.median(x[i] for x in lats[(backing, rw, lbl)]) for i in (0, 1)]
                    line = (f"{backing} {rw} {lbl}: IOPS {span([i for _, i, _ in rows])}, "
                            f"per CPU-s {span([c for _, _, c in rows])}, latency p50 {lat[0]:.1f} us, "
                            f"p99 {lat[1]:.1f} us (medians)")
                    tag = f"{name}_{lbl}"
                    ratios.append(f"{tag}_lat_p50 {lat[0]:.1f} us")
                    ratios.append(f"{tag}_lat_p99 {lat[1]:.1f} us")
                    if q and lbl != "qsd":
                        ri = [i / q[r][0] for r, i, _ in rows if r in q]
                        rc = [c / q[r][1] for r, _, c in rows if r in q]
                        line += (f", /qsd IOPS {statistics.median(ri):.2f} ({min(ri):.2f}-{max(ri):.2f})"
                                 f", /qsd per CPU-s {statistics.median(rc):.2f} ({min(rc):.2f}-{max(rc):.2f})")
                        ratios.append(f"{tag}_over_qsd {statistics.median(ri):.2f} x")
                        ratios.append(f"{tag}_per_cpu_over_qsd {statistics.median(rc):.2f} x")
                        ql = [statistics.median(x[i] for x in lats[(backing, rw, "qsd")]) for i in (0, 1)]
                        if ql[0] > 0 and ql[1] > 0:
                            ratios.append(f"{tag}_lat_p50_over_qsd {lat[0] / ql[0]:.2f} x")
                            ratios.append(f"{tag}_lat_p99_over_qsd {lat[1] / ql[1]:.2f} x")
                    print(line)
                k = {r: (i, c) for r, i, c in res[(backing, rw, "kite-dpu")]}
                for lbl, _, _ in dpus[1:]:
                    rb = [k[r][0] / i for r, i, _ in res[(backing, rw, lbl)] if r in k and i > 0]
                    rc = [k[r][1] / c for r, _, c in res[(backing, rw, lbl)] if r in k and c > 0]
                    if rb:
                        print(f"{backing} {rw} kite-dpu/{lbl} IOPS {statistics.median(rb):.2f} ({min(rb):.2f}-{max(rb):.2f})"
                              f", per CPU-s {statistics.median(rc):.2f} ({min(rc):.2f}-{max(rc):.2f})")
                        ratios.append(f"{name}_kite-dpu_over_{lbl} {statistics.median(rb):.2f} x")
                        ratios.append(f"{name}_kite-dpu_per_cpu_over_{lbl} {statistics.median(rc):.2f} x")
        print("\n".join(ratios))
    finally:
        shutil.rmtree(wd, ignore_errors=True)
        if shm:
            shutil.rmtree(shm, ignore_errors=True)


if __name__ == "__main__":
    main()
