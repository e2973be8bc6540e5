#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Switch throughput, one polling core each side (loaded shared machine: numbers are noisy).
Loop: one dpdk-testpmd frontend (CPU 1) with two virtio_user ports in "mac" forwarding mode
(--tx-first), so frames circulate port 0 -> backend -> port 1 -> frontend -> port 0 ...; the backend is
kite-dpu (one poller on CPU 0: plain, or a 16-rule ACL on both ports) or the reference, dpdk-testpmd
io-forwarding between two net_vhost ports (CPU 0). Throughput = sum of both ports' receive rates.
VXLAN: one direction (txonly VM -> kite-dpu -> rxonly VM, frontends on CPU 1) with the receiving port
as a VXLAN uplink (every frame encapsulated), against the same run without VXLAN.
64-byte frames (Mpps) and 1500-byte frames (Gbit/s).
Usage: net_bench.py KITE_DPU      Env: SECONDS_PER_RUN (default 6)
Prints "name value unit" lines, then the ratios."""
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "dpu", "net"))
from netlib import Dpu, Procs, Testpmd, workdir  # noqa: E402

SECS = int(os.environ.get("SECONDS_PER_RUN", "6"))


MAC0, MAC1 = "02:4b:00:00:00:b0", "02:4b:00:00:00:b1"
ACL = [f"deny proto tcp dst 10.{i}.0.0/16 dport 1-1024" for i in range(15)] + ["allow proto udp"]


def pps_samples(tp, ports):
    """Per-second sums of Rx-pps over `ports` from the periodic statistics (after two warm-up seconds)."""
    per = {p: [int(v) for v in re.findall(
        rf"NIC statistics for port {p}\s.*?Rx-pps:\s+(\d+)", tp.text(), re.S)] for p in ports}
    n = min(len(v) for v in per.values())
    sums = [sum(per[p][i] for p in ports) for i in range(n)]
    sums = [v for v in sums if v > 0][2:]
    return statistics.median(sums) if sums else 0


def loop_frontend(procs, wd, s0, s1, size):
    fe = Testpmd(procs, wd, [s0, s1], "mac", core=1, macs=[MAC0, MAC1],
                 extra=["--tx-first", f"--txpkts={size}", f"--eth-peer=0,{MAC1}", f"--eth-peer=1,{MAC0}"])
    fe.wait_ready()
    time.sleep(SECS)
    fe.check_started()
    return pps_samples(fe, (0, 1))


def vhost(wd, name, **kw):
    return dict(name=name, type="vhost", socket=os.path.join(wd, name + ".sock"), mtu=9000, **kw)


def run_kite_loop(exe, size, acl):
    procs, wd = Procs(), workdir()
    try:
        extra = {"acl_in": ACL, "acl_in_default": "deny"} if acl else {}
        vm0, vm1 = vhost(wd, "vm0", **extra), vhost(wd, "vm1", **extra)
        dpu = Dpu(exe, procs, wd, {"ports": [vm0, vm1]}, core=0)
        pps = loop_frontend(procs, wd, vm0["socket"], vm1["socket"], size)
        drops = {n: {k: v for k, v in p["drops"].items() if v} for n, p in dpu.ports().items()}
        print(f"# kite-dpu loop {'acl' if acl else 'plain'} {size}B drops: {drops}", file=sys.stderr)
        return pps
    finally:
        procs.stop_all()
        shutil.rmtree(wd, ignore_errors=True)


def run_testpmd_loop(size):
    procs, wd = Procs(), workdir()
    try:
        s0, s1 = os.path.join(wd, "be0.sock"), os.path.join(wd, "be1.sock")
        log = open(os.path.join(wd, "backend.log"), "w")
        procs.add(subprocess.Popen(
            ["dpdk-testpmd", "--lcores=0@0,1@0", "--no-huge", "-m", "512", "--no-pci",
             f"--file-prefix=kswb{os.getpid()}", "--vdev", f"net_vhost0,iface={s0},queues=1",
             "--vdev", f"net_vhost1,iface={s1},queues=1", "--", "--forward-mode=io", "--stats-period", "1",
             "--total-num-mbufs=16384"], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        deadline = time.time() + 30
        while not (os.path.exists(s0) and os.path.exists(s1)) and time.time() < deadline:
            time.sleep(0.1)
        return loop_frontend(procs, wd, s0, s1, size)
    finally:
        procs.stop_all()
        shutil.rmtree(wd, ignore_errors=True)


def run_kite_oneway(exe, size, vxlan):
    procs, wd = Procs(), workdir()
    try:
        vm0, vm1 = vhost(wd, "vm0"), vhost(wd, "vm1")
        cfg = {"ports": [vm0, vm1]}
        if vxlan:
            vm1["vxlan"] = {"local_ip": "192.168.90.1", "local_mac": "02:4b:00:00:90:01",
                            "gw_mac": "02:4b:00:00:90:02"}
            cfg["vnis"] = [{"vni": 100, "vlan": 1, "vteps": ["192.168.90.2"]}]
        Dpu(exe, procs, wd, cfg, core=0)
        rx = Testpmd(procs, wd, [vm1["socket"]], "rxonly", core=1)
        tx = Testpmd(procs, wd, [vm0["socket"]], "txonly", core=1, extra=[f"--txpkts={size}"])
        rx.wait_ready()
        tx.wait_ready()
        time.sleep(SECS)
        return pps_samples(rx, (0,))
    finally:
        procs.stop_all()
        shutil.rmtree(wd, ignore_errors=True)


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    exe = sys.argv[1]
    if not shutil.which("dpdk-testpmd") or os.geteuid() != 0:
        print("net_bench: needs root and dpdk-testpmd", file=sys.stderr)
        sys.exit(1)
    res = {}
    for size in (64, 1500):
        res[("testpmd", size)] = run_testpmd_loop(size)
        res[("kite", size)] = run_kite_loop(exe, size, False)
        res[("kite_acl", size)] = run_kite_loop(exe, size, True)
        res[("kite_oneway", size)] = run_kite_oneway(exe, size, False)
        res[("kite_oneway_vxlan", size)] = run_kite_oneway(exe, size, True)
    for (who, size), pps in res.items():
        if size == 64:
            print(f"net_{who}_{size}B_mpps {pps / 1e6:.3f} Mpps")
        else:
            print(f"net_{who}_{size}B_gbps {pps * size * 8 / 1e9:.2f} Gbit/s")
    for size in (64, 1500):
        def ratio(a, b):
            return res[(a, size)] / res[(b, size)] if res[(b, size)] else 0
        print(f"net_ratio_kite_vs_testpmd_{size}B {ratio('kite', 'testpmd'):.2f} x")
        print(f"net_ratio_kite_acl_vs_testpmd_{size}B {ratio('kite_acl', 'testpmd'):.2f} x")
        print(f"net_ratio_kite_vxlan_vs_plain_{size}B {ratio('kite_oneway_vxlan', 'kite_oneway'):.2f} x")


if __name__ == "__main__":
    main()
