#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""virtio benchmarks (issue 3): the test guest's polling blkbench/netbench modes under kite and
under QEMU, same guest image, same disk image, same TAP, same run. Prints `name value unit` lines.

usage: vbench.py KITE BZIMAGE [--runs N] [--blk-ops N] [--net-ops N] [--qd Q] [--net-qd Q]
                              [--no-qemu-kvm] [--no-emulated] [--no-net] [--baseline KITE2]

Block: a 256 MiB fallocated raw image; modes randread, randwrite (4 KiB, random), seqread64k
(64 KiB sequential); kite `--blk path=IMG,cache=writeback` vs QEMU q35 `-drive
file=IMG,format=raw,if=none,cache=writeback -device virtio-blk-pci,disable-legacy=on`.
Guest time comes from its TSC (rdtsc; QEMU's TCG returns the host TSC too), converted with the
host's TSC frequency. VMMs:
  kite          kite, guest in kvm-pvm native mode (kite.native=1)
  kite-emul     kite, guest CPL0 emulated instruction by instruction (fewer ops)
  qemu-kvm      QEMU q35 -accel kvm (same /dev/kvm; the guest registers the PV cell itself: native)
  qemu-tcg      QEMU q35 -accel tcg
  kite-base     with --baseline KITE2: another kite binary (e.g. an older commit's), native mode, in
                the same alternation; kite_over_kite-base is the A/B ratio for regression checks
Exits per I/O: kite --stats counters of the native run minus those of a baseline run of the same
mode with qd ops (boot and setup), divided by the extra ops.
Net: a TAP in a throwaway network namespace; the guest sends N 60-byte frames; the TAP's
rx_packets must grow by N; pps = N / guest send time.
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

QEMU = "qemu-system-x86_64"
BLK_MODES = [("randread", 4096), ("randwrite", 4096), ("seqread64k", 65536)]


class BenchError(Exception):
    pass


def tsc_hz():
    """The host TSC frequency: the kernel's calibration if dmesg has it, else cpu MHz."""
    try:
        out = subprocess.run(["dmesg"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.decode()
        m = re.search(r"tsc: Refined TSC clocksource calibration: ([\d.]+) MHz", out) or \
            re.search(r"tsc: Detected ([\d.]+) MHz", out)
        if m:
            return float(m.group(1)) * 1e6
    except OSError:
        pass
    with open("/proc/cpuinfo") as f:
        m = re.search(r"cpu MHz\s*:\s*([\d.]+)", f.read())
    if not m:
        raise BenchError("cannot find the TSC frequency (dmesg, /proc/cpuinfo)")
    return float(m.group(1)) * 1e6


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


def run_guest(cmd, is_qemu, timeout):
    """Run to exit; the BENCH line and kite's stats as a dict."""
    try:
        p = subprocess.run(["nice", "-n", "10", "timeout", "-k", "5", str(timeout)] + cmd,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    except OSError as e:
        raise BenchError("%s: %s" % (cmd[0], e))
    out = p.stdout.decode("utf-8", "replace")
    err = p.stderr.decode("utf-8", "replace")
    ok_status = 1 if is_qemu else 0      # QEMU exits with (0 << 1) | 1 for a guest exit of 0
    m = re.search(r"^BENCH ops=(\d+) bytes=(\d+) tsc=(\d+) kicks=(\d+)", out, re.M)
    if p.returncode != ok_status or not m or "kite-guest: PASS" not in out:
        raise BenchError("%s: status %d\n%s\n%s" % (" ".join(cmd), p.returncode, out[-1500:], err[-1500:]))
    r = {"ops": int(m.group(1)), "bytes": int(m.group(2)), "tsc": int(m.group(3)), "kicks": int(m.group(4)),
         "native": "native mode on" in out}
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
    v = [("kite", False, True), ("qemu-tcg", True, False)]
    if not a.no_qemu_kvm:
        v.insert(1, ("qemu-kvm", True, True))
    if a.baseline:
        v.insert(1, ("kite-base", False, True))
    return v


def vmm_cmd(a, name, is_qemu, cl, qemu_dev, kite_dev, ns=None):
    if is_qemu:
        return qemu_cmd(name[5:], a.image, cl, qemu_dev, ns)
    return kite_cmd(a.baseline if name == "kite-base" else a.kite, a.image, cl, kite_dev, ns)


def bench_blk(a, hz, tmp):
    img = os.path.join(tmp, "vbench.img")
    with open(img, "wb") as f:
        os.posix_fallocate(f.fileno(), 0, 256 << 20)
    kite_dev = ["--blk", "path=%s,cache=writeback" % img]
    qemu_dev = ["-drive", "file=%s,format=raw,if=none,id=d0,cache=writeback" % img,
                "-device", "virtio-blk-pci,drive=d0,disable-legacy=on"]
    for mode, size in BLK_MODES:
        iops = {}
        for run in range(a.runs):
            for name, is_qemu, native in vmms(a):
                cl = guest_cmdline("blkbench", native, "kite.bench=%s kite.ops=%d kite.qd=%d kite.seed=%d" %
                                   (mode, a.blk_ops, a.qd, run + 1))
                cmd = vmm_cmd(a, name, is_qemu, cl, qemu_dev, kite_dev)
                r = run_guest(cmd, is_qemu, 300)
                if native and not r["native"] and name == "kite":
                    raise BenchError("kite: the guest did not enter native mode (not a kvm-pvm host?)")
                iops.setdefault(name, []).append(r["ops"] / (r["tsc"] / hz))
                if name == "kite" and run == 0:
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
            out("blk_%s_%s_throughput" % (mode, name), med(xs) * size / 1e6, "MB/s")
        for q in ("qemu-kvm", "qemu-tcg", "kite-base"):
            if q in iops:
                out("blk_%s_kite_over_%s" % (mode, q), med(iops["kite"]) / med(iops[q]), "x")


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
            for name, is_qemu, native in vmms(a):
                cl = guest_cmdline("netbench", native, "kite.ops=%d kite.qd=%d" % (a.net_ops, a.net_qd))
                before = rx_packets(ns, tap)
                cmd = vmm_cmd(a, name, is_qemu, cl, qemu_dev, kite_dev, ns)
                r = run_guest(cmd, is_qemu, 300)
                got = rx_packets(ns, tap) - before
                if got < r["ops"]:
                    raise BenchError("%s: the guest sent %d frames, the TAP received %d" % (name, r["ops"], got))
                pps.setdefault(name, []).append(r["ops"] / (r["tsc"] / hz))
                if name == "kite" and run == 0:
                    base = run_guest(kite_cmd(a.kite, a.image, guest_cmdline(
                        "netbench", True, "kite.ops=%d kite.qd=%d" % (a.net_qd, a.net_qd)), kite_dev, ns), False, 120)
                    extra = r["ops"] - base["ops"]
                    for k in ("exits", "mmio_exits", "insn_emulation"):
                        if k in r and k in base:
                            out("net_tx_kite_%s_per_frame" % k, (r[k] - base[k]) / extra, "count")
                    out("net_tx_kite_kicks_per_frame", (r["kicks"] - base["kicks"]) / extra, "count")
        for name, xs in pps.items():
            out("net_tx64_%s_pps" % name, med(xs), "frames/s")
        for q in ("qemu-kvm", "qemu-tcg", "kite-base"):
            if q in pps:
                out("net_tx64_kite_over_%s" % q, med(pps["kite"]) / med(pps[q]), "x")
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
    ap.add_argument("--no-qemu-kvm", action="store_true")
    ap.add_argument("--baseline", metavar="KITE2", help="another kite binary, run in the same alternation")
    ap.add_argument("--no-emulated", action="store_true")
    ap.add_argument("--no-net", action="store_true")
    a = ap.parse_args()
    if not shutil.which(QEMU):
        print("bench/virtio: %s is not installed" % QEMU, file=sys.stderr)
        return 1
    # SIGTERM/SIGINT: unwind through the finally blocks (namespace and image removed)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    hz = tsc_hz()
    out("virtio_tsc_hz", int(hz), "Hz")
    out("virtio_runs", a.runs, "runs")
    tmp = tempfile.mkdtemp(prefix="kite-vbench-", dir="/var/tmp")
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
