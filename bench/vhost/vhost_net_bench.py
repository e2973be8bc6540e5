#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""VM-to-VM network benchmark (issue 9): two VMs on one host switch, the test guest's polling modes
(kvm-pvm native): VM B runs `netsink` (every receive buffer posted, frames counted), then VM A runs
`netbench` (N broadcast frames of 60 or 1514 bytes, i.e. 64 and 1518 on the wire with the FCS,
"64 B" and "1500 B" below). Rate = frames B received / B's time from its first to its last frame.

  kite      two kite VMs, --vhost-user-net on two ports of one kite-dpu switch (one poller)
  qemu      two QEMU q35 VMs (-accel kvm, SeaBIOS), vhost-user virtio-net-pci (vectors=0: QEMU 7.2
            crashes with MSI-X there) on dpdk-testpmd's two net_vhost ports, io forwarding
            (--no-huge, like kite-dpu: no hugepages on either side)

Rounds alternate kite and QEMU. usage: vhost_net_bench.py --kite K --dpu D --kernel BZIMAGE
[--rounds 5] [--frames64 N] [--frames1500 N] [--no-qemu]
Prints `name value unit`: median Mpps and Gbit/s (frame bytes without the FCS), their spread, and the
median share of A's frames that B received.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "virtio"))
from vbench import BenchError, out, tsc_hz  # noqa: E402
from vhost_bench import Backend  # noqa: E402

SIZES = ((64, 60), (1500, 1514))


def vm_cmd(a, kind, cl, sock):
    if kind == "kite":
        return [a.kite, "--kernel", a.kernel, "--memory", "128", "--console", "stdio", "--cmdline", cl,
                "--vhost-user-net", "socket=" + sock]
    return ["qemu-system-x86_64", "-M", "q35", "-accel", "kvm", "-m", "128",
            "-object", "memory-backend-memfd,id=mem,size=128M,share=on", "-numa", "node,memdev=mem",
            "-nodefaults", "-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot",
            "-device", "isa-debug-exit,iobase=0x501,iosize=1", "-kernel", a.kernel, "-append", cl,
            "-chardev", "socket,id=c0,path=%s" % sock, "-netdev", "type=vhost-user,id=n0,chardev=c0",
            "-device", "virtio-net-pci,netdev=n0,disable-legacy=on,vectors=0"]


def bench_line(path):
    text = open(path, errors="replace").read()
    m = re.search(r"^BENCH ops=(\d+) bytes=(\d+) tsc=(\d+) kicks=(\d+)", text, re.M)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None, text


def one_run(a, kind, sock_a, sock_b, frames, size, wd, n):
    """B (netsink) then A (netbench); returns (received, bytes, seconds at B, sent)."""
    ob, oa = os.path.join(wd, "b%d.txt" % n), os.path.join(wd, "a%d.txt" % n)
    pb = subprocess.Popen(vm_cmd(a, kind, "kite.test=netsink kite.native=1 kite.ops=%d" % frames, sock_b),
                          stdout=open(ob, "w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while "netsink: ready" not in open(ob, errors="replace").read():
            if pb.poll() is not None or time.time() > deadline:
                raise BenchError("%s VM B did not get ready: %s" % (kind, open(ob, errors="replace").read()[-800:]))
            time.sleep(0.1)
        pa = subprocess.run(vm_cmd(a, kind, "kite.test=netbench kite.native=1 kite.ops=%d kite.qd=64 kite.frame=%d"
                                   % (frames, size), sock_a), stdout=open(oa, "w"), stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, timeout=300)
        ra, ta = bench_line(oa)
        if not ra:
            raise BenchError("%s VM A (status %d): %s" % (kind, pa.returncode, ta[-800:]))
        pb.wait(120)
        rb, tb = bench_line(ob)
        if not rb:
            raise BenchError("%s VM B (status %s): %s" % (kind, pb.returncode, tb[-800:]))
        return rb[0], rb[1], rb[2], ra[0]
    finally:
        if pb.poll() is None:
            pb.kill()
            pb.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kite", required=True)
    ap.add_argument("--dpu", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--frames64", type=int, default=400000)
    ap.add_argument("--frames1500", type=int, default=150000)
    ap.add_argument("--no-qemu", action="store_true")
    a = ap.parse_args()
    hz = tsc_hz()
    wd = tempfile.mkdtemp(prefix="kite-vhnet-", dir="/var/tmp")
    backends = []
    try:
        socks = {k: os.path.join(wd, k + ".sock") for k in ("dA", "dB", "tA", "tB")}
        with open(os.path.join(wd, "dpu.json"), "w") as f:
            json.dump({"cores": [-1], "switch": {"pool_frames": 16384, "ports": [
                {"name": "vmA", "type": "vhost", "socket": socks["dA"]},
                {"name": "vmB", "type": "vhost", "socket": socks["dB"]}]}}, f)
        backends.append(Backend("kite-dpu", [a.dpu, "--config", os.path.join(wd, "dpu.json")], socks["dB"], wd))
        kinds = ["kite"]
        if not a.no_qemu:
            backends.append(Backend("testpmd", [
                "dpdk-testpmd", "--lcores=0@0,1@0", "--no-huge", "-m", "512", "--no-pci",
                "--file-prefix=kvhb%d" % os.getpid(), "--vdev", "net_vhost0,iface=%s,queues=1" % socks["tA"],
                "--vdev", "net_vhost1,iface=%s,queues=1" % socks["tB"], "--", "--forward-mode=io",
                "--stats-period", "1",   # without it testpmd waits for Enter on stdin and quits at EOF
                "--total-num-mbufs=16384"], socks["tB"], wd))
            kinds.append("qemu")
        print("# vhost_net_bench: %d rounds, host TSC %.0f MHz" % (a.rounds, hz / 1e6), flush=True)
        n = 0
        for wire, size in SIZES:
            frames = a.frames64 if wire == 64 else a.frames1500
            res = {}
            for rnd in range(a.rounds):
                for kind in (kinds if rnd % 2 == 0 else kinds[::-1]):
                    n += 1
                    sa, sb = (socks["dA"], socks["dB"]) if kind == "kite" else (socks["tA"], socks["tB"])
                    got, nbytes, tsc, sent = one_run(a, kind, sa, sb, frames, size, wd, n)
                    secs = tsc / hz
                    res.setdefault(kind, []).append((got / secs, nbytes * 8 / secs, got / sent))
            for kind, xs in res.items():
                pps = [x[0] for x in xs]
                m = statistics.median(pps)
                out("vhost_net_vm2vm_%dB_%s_mpps" % (wire, kind), m / 1e6, "Mpps")
                out("vhost_net_vm2vm_%dB_%s_gbps" % (wire, kind), statistics.median(x[1] for x in xs) / 1e9, "Gbit/s")
                out("vhost_net_vm2vm_%dB_%s_spread" % (wire, kind), (max(pps) - min(pps)) / m * 100, "%")
                out("vhost_net_vm2vm_%dB_%s_delivered" % (wire, kind), statistics.median(x[2] for x in xs) * 100, "%")
            if "qemu" in res:
                out("vhost_net_vm2vm_%dB_kite_over_qemu" % wire, statistics.median(x[0] for x in res["kite"]) /
                    statistics.median(x[0] for x in res["qemu"]), "x")
        return 0
    except (BenchError, subprocess.TimeoutExpired) as e:
        print("vhost_net_bench: %s" % e, file=sys.stderr)
        return 1
    finally:
        for b in backends:
            b.stop()
        shutil.rmtree(wd, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
