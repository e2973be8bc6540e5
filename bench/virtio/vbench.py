#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""virtio benchmarks (issue 3): the test guest's polling blkbench/netbench modes under kite and
under QEMU, same guest image, same disk image, same TAP, same run. Prints `name value unit` lines.

usage: vbench.py KITE BZIMAGE [--runs N] [--blk-ops N] [--net-ops N] [--qd Q] [--net-qd Q]
                              [--no-qemu-kvm] [--no-qemu-tcg] [--no-emulated] [--no-net]
                              [--baseline KITE2] [--modes M,M] [--neighbour off,on]
                              [--neighbour-cpu C] [--pin-vmm LIST] [--split DEV:VCPU] [--kite-args ARGS]
                              [--variant NAME=KITE2[:ARGS]]... [--net-mq N [--net-frame S]] [--image-dir DIR]

Block: a 256 MiB fallocated raw image (in --image-dir, default /var/tmp; /dev/shm for tmpfs), read once
before the runs so that it is in the page cache for all of them; modes randread, randwrite (4 KiB, random), seqread64k
(64 KiB sequential); kite `--blk path=IMG,cache=writeback` vs QEMU q35 `-drive
file=IMG,format=raw,if=none,cache=writeback -device virtio-blk-pci,disable-legacy=on`.
Guest time comes from its TSC (rdtsc; QEMU's TCG returns the host TSC too), converted with the
host's TSC frequency (measured by the build's tests/lib/tsc_khz, as the nested lab does). VMMs:
  kite          kite, guest in kvm-pvm native mode (kite.native=1)
  kite-emul     kite, guest CPL0 emulated instruction by instruction (fewer ops)
  qemu-kvm      QEMU q35 -accel kvm (same /dev/kvm; the guest registers the PV cell itself: native)
  qemu-tcg      QEMU q35 -accel tcg
  kite-base     with --baseline KITE2: another kite binary (e.g. an older commit's), native mode, in
                the same alternation; kite_over_kite-base is the A/B ratio for regression checks
  kite-NAME     with --variant NAME=KITE2[:ARGS]: another kite binary and/or extra options (ARGS
                split on spaces; blk options after a comma go into --blk, e.g. `lat=build/kite:,poll=50`)
                in the same alternation; kite_over_kite-NAME is its ratio
I/O thread CPU: kite's virtio-blk0 I/O thread logs its CPU time (and the part spent polling in
vain) at exit; per I/O is that over the guest's ops (boot and setup included, a few ms).
Latency: blkbench's per-request TSC histogram (kick to used, in the guest), p50/p99 in us.
Block ratios: kite_over_PEER (medians), _pairs (min-max and median of the round-by-round ratios) and
_by_round (each round's ratio, in round order).
Neighbour (--neighbour off,on): each round runs every VMM once per listed state; `on` keeps a
CPU-bound process (a shell busy loop, nice 10 like the VMMs) pinned to --neighbour-cpu (default 1) for the
whole VMM run; figures of that state carry the suffix _nb. --split DEV:VCPU pins the device side and the
load side apart, for every VMM alike: the guest's vCPU thread on CPU VCPU, every other thread of the VMM
(kite's I/O threads and main thread, QEMU's main loop and its aio=threads pool) on CPU DEV (kite:
`--pin-vcpus VCPU --pin-io DEV` under `taskset -c DEV`; QEMU: `taskset -c DEV` and its "CPU 0/KVM"
thread moved to VCPU as soon as it exists, before the guest has booted). --pin-vmm runs the VMM under taskset
(the device side), e.g. 0 with the neighbour on 1.
Exits per I/O: kite --stats counters of the native run minus those of a baseline run of the same
mode with qd ops (boot and setup), divided by the extra ops.
Net: a TAP in a throwaway network namespace; the guest sends N 60-byte frames; the TAP's
rx_packets must grow by N; pps = N / guest send time.
Net multiqueue (--net-mq N: this instead of the block and net runs above): netbench with kite.pairs=1
on a plain TAP (kite `--net tap=kbt0`, QEMU `-netdev tap,...,vhost=off`) against kite.pairs=N on a
multi_queue TAP (kite `--net tap=kbtm,queues=N`, QEMU `-netdev tap,...,queues=N -device
virtio-net-pci,mq=on,vectors=2N+2`); each round, per VMM (kite, then qemu-kvm): q1 with --net-qd frames
in flight, q1 with N x --net-qd (as many in flight as qN; at most 128), qN with --net-qd on each transmit
queue. Prints pps per VMM and shape, qN over q1 at both depths and kite over qemu-kvm pair by pair,
kite's virtio-net0 I/O thread CPU per frame (boot included) and the frames each pair sent.
"""
import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

QEMU = "qemu-system-x86_64"
BLK_MODES = [("randread", 4096), ("randwrite", 4096), ("seqread64k", 65536)]


class BenchError(Exception):
    pass


def tsc_hz(kite):
    """The host TSC frequency, measured by the build's tests/lib/tsc_khz (next to KITE; the helper the
    nested lab uses): the kernel log's "tsc: Detected" line is gone on a host up for hours."""
    helper = os.path.join(os.path.dirname(os.path.abspath(kite)), "tests", "lib", "tsc_khz")
    try:
        p = subprocess.run([helper], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as e:
        raise BenchError("%s: %s (build it: ninja -C BUILD tests/lib/tsc_khz)" % (helper, e.strerror))
    out = p.stdout.decode().strip()
    if p.returncode != 0 or not out.isdigit() or int(out) == 0:
        raise BenchError("%s: no TSC rate (status %d, output %r)" % (helper, p.returncode, out))
    return int(out) * 1000.0


def guest_cmdline(test, native, extra):
    return "kite.test=%s%s %s" % (test, " kite.native=1" if native else "", extra)


def kite_cmd(kite, image, cmdline, dev_args, ns=None):
    cmd = [kite, "--kernel", image, "--memory", "128", "--console", "stdio", "--stats",
           "--cmdline", cmdline] + dev_args
    return (["ip", "netns", "exec", ns] if ns else []) + cmd


def qemu_cmd(accel, image, cmdline, dev_args, ns=None):
    cmd = [QEMU, "-M", "q35", "-accel", accel, "-m", "128", "-nodefaults", "-display", "none",
           "-serial", "stdio", "-monitor", "none", "-no-reboot",
           "-device", "isa-debug-exit,iobase=0x501,iosize=1", "-kernel", image, "-append", cmdline] + dev_args
    return (["ip", "netns", "exec", ns] if ns else []) + cmd


def pin_qemu_vcpu(token, cpu, deadline):
    """Move the "CPU 0/KVM" thread of the QEMU whose command line holds `token` to `cpu`; False if it
    did not appear before `deadline` (time.monotonic())."""
    while time.monotonic() < deadline:
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    if token.encode() not in f.read() or not os.path.isdir("/proc/%s/task" % pid):
                        continue
                for tid in os.listdir("/proc/%s/task" % pid):
                    with open("/proc/%s/task/%s/comm" % (pid, tid)) as f:
                        if f.read().strip() == "CPU 0/KVM":
                            os.sched_setaffinity(int(tid), {cpu})
                            return True
            except OSError:
                continue
        time.sleep(0.002)
    return False


def run_guest(cmd, is_qemu, timeout, pin_vcpu=None):
    """Run to exit; the BENCH line and kite's stats as a dict. pin_vcpu: (token, cpu) for QEMU."""
    try:
        p = subprocess.Popen(["nice", "-n", "10", "timeout", "-k", "5", str(timeout)] + cmd,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    except OSError as e:
        raise BenchError("%s: %s" % (cmd[0], e))
    if pin_vcpu and not pin_qemu_vcpu(pin_vcpu[0], pin_vcpu[1], time.monotonic() + 10):
        p.kill()
        p.communicate()
        raise BenchError("%s: its vCPU thread did not appear within 10 s" % cmd[0])
    stdout, stderr = p.communicate()
    out = stdout.decode("utf-8", "replace")
    err = stderr.decode("utf-8", "replace")
    sent = [int(x) for x in re.findall(r"^netbench: pair \d+ sent (\d+)", out, re.M)]
    ok_status = 1 if is_qemu else 0      # QEMU exits with (0 << 1) | 1 for a guest exit of 0
    m = re.search(r"^BENCH ops=(\d+) bytes=(\d+) tsc=(\d+) kicks=(\d+)", out, re.M)
    lat = re.search(r"^BENCHLAT p50=(\d+) p99=(\d+) max=(\d+)", out, re.M)
    if p.returncode != ok_status or not m or "kite-guest: PASS" not in out:
        raise BenchError("%s: status %d\n%s\n%s" % (" ".join(cmd), p.returncode, out[-1500:], err[-1500:]))
    r = {"ops": int(m.group(1)), "bytes": int(m.group(2)), "tsc": int(m.group(3)), "kicks": int(m.group(4)),
         "native": "native mode on" in out}
    if lat:
        r["p50"], r["p99"] = int(lat.group(1)), int(lat.group(2))
    if sent:
        r["pair_sent"] = sent
    n = re.search(r"virtio-net0: its I/O thread used (\d+) us of CPU", err)
    if n:
        r["net_io_cpu_us"] = int(n.group(1))
    c = re.search(r"virtio-blk0: its I/O thread used (\d+) us of CPU \((\d+) us polling", err)
    if c:
        r["io_cpu_us"], r["io_vain_us"] = int(c.group(1)), int(c.group(2))
    s = re.search(r"vcpu0: (.*)", err)
    if s:
        for k, v in re.findall(r"(\w+)=(\d+)", s.group(1)):
            r[k] = int(v)
    return r


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def out(name, value, unit):
    print("%s %s %s" % (name, ("%.3f" % value) if isinstance(value, float) else value, unit), flush=True)


def vmms(a):
    v = [("kite", False, True)] + ([] if a.no_qemu_tcg else [("qemu-tcg", True, False)])
    if not a.no_qemu_kvm:
        v.insert(1, ("qemu-kvm", True, True))
    if a.baseline:
        v.insert(1, ("kite-base", False, True))
    for name in a.variants:
        v.insert(1, ("kite-" + name, False, True))
    return v


def parse_variants(specs):
    """NAME=KITE2[:ARGS] -> {NAME: (binary, [args], blk suffix)}; ARGS starting with ',' extend --blk."""
    out = {}
    for spec in specs:
        name, _, rest = spec.partition("=")
        path, _, args = rest.partition(":")
        if not name or not path:
            raise SystemExit("bench/virtio: --variant %s: expected NAME=KITE2[:ARGS]" % spec)
        blk = args if args.startswith(",") else ""
        out[name] = (path, [] if blk else args.split(), blk)
    return out


def others(a):
    return ["qemu-kvm", "qemu-tcg", "kite-base"] + ["kite-" + n for n in a.variants]


def vmm_cmd(a, name, is_qemu, cl, qemu_dev, kite_dev, ns=None):
    if is_qemu:
        cmd = qemu_cmd(name[5:], a.image, cl, qemu_dev, ns)
    elif name[5:] in a.variants:
        path, args, blk = a.variants[name[5:]]
        dev = [d + blk if i and kite_dev[i - 1] == "--blk" else d for i, d in enumerate(kite_dev)]
        cmd = kite_cmd(path, a.image, cl, dev + args, ns)
    else:
        cmd = kite_cmd(a.baseline if name == "kite-base" else a.kite, a.image, cl, kite_dev + a.kite_args.split(), ns)
    if a.split:
        dev, vcpu = a.split
        if is_qemu:
            cmd = cmd + ["-name", "%s,debug-threads=on" % SPLIT_TOKEN]
        else:
            cmd = cmd + ["--pin-vcpus", str(vcpu), "--pin-io", str(dev)]
        return ["taskset", "-c", str(dev)] + cmd
    return (["taskset", "-c", a.pin_vmm] if a.pin_vmm else []) + cmd


SPLIT_TOKEN = "vbench-split-%d" % os.getpid()


def split_pin(a, is_qemu):
    """run_guest's pin_vcpu argument under --split."""
    return (SPLIT_TOKEN, a.split[1]) if a.split and is_qemu else None


class Neighbour:
    """A CPU-bound process pinned to one CPU while `on` (a context manager; off: nothing)."""

    def __init__(self, on, cpu):
        self.on, self.cpu, self.p = on, cpu, None

    def __enter__(self):
        if self.on:
            # the same niceness as the VMMs (run_guest): a neighbour of equal weight
            self.p = subprocess.Popen(["nice", "-n", "10", "taskset", "-c", str(self.cpu), "sh", "-c",
                                       "while :; do :; done"])
        return self

    def __exit__(self, *exc):
        if self.p:
            self.p.kill()
            self.p.wait()


def states(a):
    """(suffix, neighbour on) for each --neighbour state."""
    return [("_nb" if st == "on" else "", st == "on") for st in a.neighbour.split(",")]


def warm_image(img):
    """Read the whole image once, so that every VMM of every round reads it from the page cache. A
    fresh fallocated image is not cached: the first VMM of a round read its seed's blocks cold (kite:
    io_uring handed each miss to an io-wq worker) and the next ones read them cached; at qd 32 that
    first run took about 2x the I/O thread's CPU per request and ran at about half the IOPS, whichever
    VMM or option it was (issue 12, docs/benchmarks.md)."""
    with open(img, "rb") as f:
        while f.read(1 << 20):
            pass


def bench_blk(a, hz, tmp):
    img = os.path.join(tmp, "vbench.img")
    with open(img, "wb") as f:
        os.posix_fallocate(f.fileno(), 0, 256 << 20)
    warm_image(img)
    kite_dev = ["--blk", "path=%s,cache=writeback" % img]
    qemu_dev = ["-drive", "file=%s,format=raw,if=none,id=d0,cache=writeback" % img,
                "-device", "virtio-blk-pci,drive=d0,disable-legacy=on"]
    for mode, size in BLK_MODES:
        if a.modes and mode not in a.modes.split(","):
            continue
        iops, lat, iocpu = {}, {}, {}
        for run in range(a.runs):
            for (suffix, nb_on), (name, is_qemu, native) in [(st, v) for st in states(a) for v in vmms(a)]:
                cl = guest_cmdline("blkbench", native, "kite.bench=%s kite.ops=%d kite.qd=%d kite.seed=%d" %
                                   (mode, a.blk_ops, a.qd, run + 1))
                cmd = vmm_cmd(a, name, is_qemu, cl, qemu_dev, kite_dev)
                with Neighbour(nb_on, a.neighbour_cpu):
                    r = run_guest(cmd, is_qemu, 300, split_pin(a, is_qemu))
                if native and not r["native"] and name == "kite":
                    raise BenchError("kite: the guest did not enter native mode (not a kvm-pvm host?)")
                iops.setdefault(name + suffix, []).append(r["ops"] / (r["tsc"] / hz))
                if "p50" in r:
                    lat.setdefault(name + suffix, []).append((r["p50"] / hz * 1e6, r["p99"] / hz * 1e6))
                if "io_cpu_us" in r:     # the whole run's (boot included) over the bench's ops
                    iocpu.setdefault(name + suffix, []).append((r["io_cpu_us"] / r["ops"], r["io_vain_us"] / r["ops"]))
                if name == "kite" and run == 0 and not suffix and not a.no_exits:
                    base = run_guest(kite_cmd(a.kite, a.image, guest_cmdline(
                        "blkbench", True, "kite.bench=%s kite.ops=%d kite.qd=%d" % (mode, a.qd, a.qd)), kite_dev),
                        False, 120)
                    extra = r["ops"] - base["ops"]
                    for k in ("exits", "mmio_exits", "io_exits", "insn_emulation"):
                        if k in r and k in base:
                            out("blk_%s_kite_%s_per_io" % (mode, k), (r[k] - base[k]) / extra, "count")
                    out("blk_%s_kite_kicks_per_io" % mode, (r["kicks"] - base["kicks"]) / extra, "count")
        if not a.no_emulated and mode == "randread":
            cl = guest_cmdline("blkbench", False, "kite.bench=%s kite.ops=%d kite.qd=%d" % (mode, a.emul_ops, a.qd))
            r = run_guest(kite_cmd(a.kite, a.image, cl, kite_dev), False, 600)
            iops["kite-emul"] = [r["ops"] / (r["tsc"] / hz)]
            out("blk_%s_kite-emul_insn_emulation_per_io" % mode, r.get("insn_emulation", 0) / r["ops"], "count")
        for name, xs in iops.items():
            out("blk_%s_%s_iops" % (mode, name), med(xs), "ops/s")
            out("blk_%s_%s_iops_min_max" % (mode, name), "%.0f-%.0f" % (min(xs), max(xs)), "ops/s")
            out("blk_%s_%s_throughput" % (mode, name), med(xs) * size / 1e6, "MB/s")
        for name, xs in iocpu.items():
            out("blk_%s_qd%d_%s_iothread_cpu_us_per_io" % (mode, a.qd, name), med([x[0] for x in xs]), "us")
            out("blk_%s_qd%d_%s_iothread_cpu_us_per_io_min_max" % (mode, a.qd, name),
                "%.2f-%.2f" % (min(x[0] for x in xs), max(x[0] for x in xs)), "us")
            out("blk_%s_qd%d_%s_iothread_vain_poll_us_per_io" % (mode, a.qd, name), med([x[1] for x in xs]), "us")
        for name, xs in lat.items():
            out("blk_%s_qd%d_%s_p50" % (mode, a.qd, name), med([x[0] for x in xs]), "us")
            out("blk_%s_qd%d_%s_p99" % (mode, a.qd, name), med([x[1] for x in xs]), "us")
        for suffix, _ in states(a):
            k = iops.get("kite" + suffix)
            for q in others(a):
                b = iops.get(q + suffix)
                if k and b:
                    pairs = sorted(x / y for x, y in zip(k, b))
                    out("blk_%s_kite_over_%s%s" % (mode, q, suffix), med(k) / med(b), "x")
                    out("blk_%s_kite_over_%s%s_pairs" % (mode, q, suffix),
                        "%.2f-%.2f(median %.2f)" % (pairs[0], pairs[-1], med(pairs)), "x")
                    out("blk_%s_kite_over_%s%s_by_round" % (mode, q, suffix),
                        ",".join("%.2f" % (x / y) for x, y in zip(k, b)), "x")
            for q in others(a):
                kl, ql = lat.get("kite" + suffix), lat.get(q + suffix)
                if kl and ql:   # latency: kite's over the peer's, lower is better
                    for i, p in ((0, "p50"), (1, "p99")):
                        out("blk_%s_qd%d_%s_latency_kite_over_%s%s" % (mode, a.qd, p, q, suffix),
                            med([x[i] for x in kl]) / med([x[i] for x in ql]), "x")


def sh(*cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode:
        raise BenchError("%s: %s" % (" ".join(cmd), p.stderr.decode(errors="replace").strip()))
    return p.stdout.decode()


def rx_packets(ns, tap):
    j = json.loads(sh("ip", "-n", ns, "-j", "-s", "link", "show", "dev", tap))
    return j[0]["stats64"]["rx"]["packets"]


def bench_net(a, hz):
    ns = "kite-bench-%d" % os.getpid()
    tap = "kbt0"
    try:
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "tuntap", "add", "dev", tap, "mode", "tap", "vnet_hdr")
        sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
        sh("ip", "-n", ns, "addr", "add", "192.0.2.1/24", "dev", tap)
        sh("ip", "-n", ns, "link", "set", tap, "up")
        kite_dev = ["--net", "tap=%s" % tap]
        qemu_dev = ["-netdev", "tap,id=n0,ifname=%s,script=no,downscript=no,vhost=off" % tap,
                    "-device", "virtio-net-pci,netdev=n0,disable-legacy=on"]
        pps = {}
        for run in range(a.runs):
            for (suffix, nb_on), (name, is_qemu, native) in [(st, v) for st in states(a) for v in vmms(a)]:
                cl = guest_cmdline("netbench", native, "kite.ops=%d kite.qd=%d" % (a.net_ops, a.net_qd))
                before = rx_packets(ns, tap)
                cmd = vmm_cmd(a, name, is_qemu, cl, qemu_dev, kite_dev, ns)
                with Neighbour(nb_on, a.neighbour_cpu):
                    r = run_guest(cmd, is_qemu, 300, split_pin(a, is_qemu))
                got = rx_packets(ns, tap) - before
                if got < r["ops"]:
                    raise BenchError("%s: the guest sent %d frames, the TAP received %d" % (name, r["ops"], got))
                pps.setdefault(name + suffix, []).append(r["ops"] / (r["tsc"] / hz))
                if name == "kite" and run == 0 and not suffix and not a.no_exits:
                    base = run_guest(kite_cmd(a.kite, a.image, guest_cmdline(
                        "netbench", True, "kite.ops=%d kite.qd=%d" % (a.net_qd, a.net_qd)), kite_dev, ns), False, 120)
                    extra = r["ops"] - base["ops"]
                    for k in ("exits", "mmio_exits", "insn_emulation"):
                        if k in r and k in base:
                            out("net_tx_kite_%s_per_frame" % k, (r[k] - base[k]) / extra, "count")
                    out("net_tx_kite_kicks_per_frame", (r["kicks"] - base["kicks"]) / extra, "count")
        for name, xs in pps.items():
            out("net_tx64_%s_pps" % name, med(xs), "frames/s")
            out("net_tx64_%s_pps_min_max" % name, "%.0f-%.0f" % (min(xs), max(xs)), "frames/s")
        for suffix, _ in states(a):
            for q in others(a):
                if q + suffix in pps and "kite" + suffix in pps:
                    pairs = sorted(x / y for x, y in zip(pps["kite" + suffix], pps[q + suffix]))
                    out("net_tx64_kite_over_%s%s" % (q, suffix), med(pps["kite" + suffix]) / med(pps[q + suffix]), "x")
                    out("net_tx64_kite_over_%s%s_pairs" % (q, suffix),
                        "%.2f-%.2f(median %.2f)" % (pairs[0], pairs[-1], med(pairs)), "x")
    finally:
        subprocess.run(["ip", "netns", "del", ns], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def bench_net_mq(a, hz):
    ns = "kite-benchmq-%d" % os.getpid()
    n = a.net_mq
    try:
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "tuntap", "add", "dev", "kbt0", "mode", "tap", "vnet_hdr")
        sh("ip", "-n", ns, "tuntap", "add", "dev", "kbtm", "mode", "tap", "multi_queue", "vnet_hdr")
        sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
        for tap in ("kbt0", "kbtm"):
            sh("ip", "-n", ns, "link", "set", tap, "up")
        devs = {1: ("kbt0", ["--net", "tap=kbt0"],
                    ["-netdev", "tap,id=n0,ifname=kbt0,script=no,downscript=no,vhost=off",
                     "-device", "virtio-net-pci,netdev=n0,disable-legacy=on"]),
                n: ("kbtm", ["--net", "tap=kbtm,queues=%d" % n],
                    ["-netdev", "tap,id=n0,ifname=kbtm,script=no,downscript=no,vhost=off,queues=%d" % n,
                     "-device", "virtio-net-pci,netdev=n0,disable-legacy=on,mq=on,vectors=%d" % (2 * n + 2)])}
        # q1 at the per-queue depth, q1 at N times it (as many frames in flight as qN), qN
        shapes = [(1, a.net_qd), (1, n * a.net_qd), (n, a.net_qd)]
        runs = [(v, v == "qemu-kvm", q, qd) for v in ["kite"] + ([] if a.no_qemu_kvm else ["qemu-kvm"])
                for q, qd in shapes]
        pps, cpu, spread, kicks = {}, {}, {}, {}
        for run in range(a.runs):
            for name, is_qemu, q, qd in runs:
                tap, kite_dev, qemu_dev = devs[q]
                cl = guest_cmdline("netbench", True, "kite.ops=%d kite.qd=%d kite.pairs=%d kite.frame=%d" %
                                   (a.net_ops, qd, q, a.net_frame))
                before = rx_packets(ns, tap)
                r = run_guest(vmm_cmd(a, name, is_qemu, cl, qemu_dev, kite_dev, ns), is_qemu, 300, split_pin(a, is_qemu))
                got = rx_packets(ns, tap) - before
                if got < r["ops"]:
                    raise BenchError("%s q%d: the guest sent %d frames, the TAP received %d" % (name, q, r["ops"], got))
                key = "%s_q%d_qd%d" % (name, q, qd)
                pps.setdefault(key, []).append(r["ops"] / (r["tsc"] / hz))
                if "net_io_cpu_us" in r:
                    cpu.setdefault(key, []).append(r["net_io_cpu_us"] * 1000.0 / r["ops"])
                kicks.setdefault(key, []).append(r["kicks"] / r["ops"])
                if q > 1:
                    spread.setdefault(key, []).append("/".join(str(x) for x in r.get("pair_sent", [])))
        for key, xs in pps.items():
            out("net_mq_tx%d_%s_pps" % (a.net_frame, key), med(xs), "frames/s")
            out("net_mq_tx%d_%s_pps_min_max" % (a.net_frame, key), "%.0f-%.0f" % (min(xs), max(xs)), "frames/s")
        for key, xs in cpu.items():
            out("net_mq_tx%d_%s_iothread_cpu_ns_per_frame" % (a.net_frame, key), med(xs), "ns")
        for key, xs in kicks.items():
            out("net_mq_tx%d_%s_kicks_per_frame" % (a.net_frame, key), med(xs), "count")
        for key, xs in spread.items():
            out("net_mq_tx%d_%s_frames_per_pair" % (a.net_frame, key), ",".join(xs), "frames")

        def ratio(name, x, y):
            if x in pps and y in pps:
                pairs = sorted(p / q for p, q in zip(pps[x], pps[y]))
                out(name, med(pps[x]) / med(pps[y]), "x")
                out(name + "_pairs", "%.2f-%.2f(median %.2f)" % (pairs[0], pairs[-1], med(pairs)), "x")
        qd, deep = a.net_qd, n * a.net_qd
        for vmm in ("kite", "qemu-kvm"):
            ratio("net_mq_tx%d_%s_q%d_over_q1" % (a.net_frame, vmm, n), "%s_q%d_qd%d" % (vmm, n, qd), "%s_q1_qd%d" % (vmm, qd))
            ratio("net_mq_tx%d_%s_q%d_over_q1_qd%d" % (a.net_frame, vmm, n, deep), "%s_q%d_qd%d" % (vmm, n, qd),
                  "%s_q1_qd%d" % (vmm, deep))
        for q, d in shapes:
            ratio("net_mq_tx%d_kite_over_qemu-kvm_q%d_qd%d" % (a.net_frame, q, d), "kite_q%d_qd%d" % (q, d),
                  "qemu-kvm_q%d_qd%d" % (q, d))
    finally:
        subprocess.run(["ip", "netns", "del", ns], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("kite")
    ap.add_argument("image")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--blk-ops", type=int, default=50000)
    ap.add_argument("--emul-ops", type=int, default=500)
    ap.add_argument("--net-ops", type=int, default=200000)
    ap.add_argument("--qd", type=int, default=16)
    ap.add_argument("--net-qd", type=int, default=64)
    ap.add_argument("--net-frame", type=int, default=60, help="--net-mq frame size (60..1514)")
    ap.add_argument("--net-mq", type=int, default=0, metavar="N",
                    help="only the multiqueue net bench: queues=1 vs queues=N (2..4)")
    ap.add_argument("--no-qemu-kvm", action="store_true")
    ap.add_argument("--baseline", metavar="KITE2", help="another kite binary, run in the same alternation")
    ap.add_argument("--no-emulated", action="store_true")
    ap.add_argument("--no-net", action="store_true")
    ap.add_argument("--no-qemu-tcg", action="store_true")
    ap.add_argument("--no-exits", action="store_true", help="skip kite's exits-per-I/O baseline runs")
    ap.add_argument("--modes", default="", help="blk modes to run (default: all)")
    ap.add_argument("--neighbour", default="off", help="off, on, or off,on (both, alternated per round)")
    ap.add_argument("--neighbour-cpu", type=int, default=1)
    ap.add_argument("--pin-vmm", default="", help="taskset CPU list for the VMM")
    ap.add_argument("--split", default="", help="DEV:VCPU: device side on CPU DEV, the vCPU on CPU VCPU")
    ap.add_argument("--kite-args", default="", help="extra kite options (split on spaces)")
    ap.add_argument("--image-dir", default="/var/tmp",
                    help="where the disk image lives (default /var/tmp; /dev/shm: tmpfs)")
    ap.add_argument("--variant", action="append", default=[], help="NAME=KITE2[:ARGS], repeatable")
    a = ap.parse_args()
    a.variants = parse_variants(a.variant)
    if a.split:
        try:
            a.split = tuple(int(x) for x in a.split.split(":"))
            assert len(a.split) == 2
        except (ValueError, AssertionError):
            raise SystemExit("bench/virtio: --split %s: expected DEV:VCPU (two CPU numbers)" % a.split)
    if not shutil.which(QEMU):
        print("bench/virtio: %s is not installed" % QEMU, file=sys.stderr)
        return 1
    # SIGTERM/SIGINT: unwind through the finally blocks (namespace and image removed)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        hz = tsc_hz(a.kite)
    except BenchError as e:
        print("bench/virtio: %s" % e, file=sys.stderr)
        return 1
    out("virtio_tsc_hz", int(hz), "Hz")
    out("virtio_runs", a.runs, "runs")
    out("virtio_loadavg", open("/proc/loadavg").read().split()[0], "load")
    if a.net_mq:
        if not 2 <= a.net_mq <= 4 or os.geteuid() != 0 or not os.path.exists("/dev/net/tun"):
            print("bench/virtio: --net-mq N needs N in 2..4, root and /dev/net/tun", file=sys.stderr)
            return 1
        try:
            bench_net_mq(a, hz)
        except BenchError as e:
            print("bench/virtio: %s" % e, file=sys.stderr)
            return 1
        return 0
    tmp = tempfile.mkdtemp(prefix="kite-vbench-", dir=a.image_dir)
    try:
        bench_blk(a, hz, tmp)
        if not a.no_net:
            if os.geteuid() != 0 or not os.path.exists("/dev/net/tun"):
                print("bench/virtio: net skipped: needs root and /dev/net/tun", file=sys.stderr)
            else:
                bench_net(a, hz)
    except BenchError as e:
        print("bench/virtio: %s" % e, file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
