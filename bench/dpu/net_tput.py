#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Switch throughput, throughput-bound: each switch on CPU 0 with two vhost-user ports, one generator
on CPU 1. The generator is dpdk-testpmd with two net_virtio_user ports in "mac" forwarding with
crossed --eth-peer (port 0 sends to port 1's MAC and back, so learning switches see stable unicast),
--txpkts=SIZE and `start tx_first 64`: 64 bursts of 32 frames per port circulate. Throughput = the
Rx-pps of both generator ports summed, one sample per second (`show port stats all`), median over
the run after a warm-up.

Peers, alternating within each round (the order changes from round to round, bench/round_order.py):
  testpmd  dpdk-testpmd io-forwarding between two net_vhost ports (the ceiling)
  ovs      Open vSwitch with DPDK (Debian's openvswitch-switch-dpdk): bridge of datapath netdev, two
           dpdkvhostuser ports (OVS serves the sockets; see Ovs.add_ports), flow NORMAL, one PMD
           thread on CPU 0
  kite     kite-dpu, plain; kite-acl: a 16-rule ACL "in" on both ports (15 deny + allow udp, every
           frame walks them all)
VXLAN cannot run in this loop (the generator would have to decapsulate and encapsulate), so it is
measured one way: a txonly testpmd (port 0) -> kite-dpu -> an rxonly testpmd (port 1), the rxonly one on
CPU 2 where the host has it, with port 1 plain (kite-1way) or a VXLAN uplink (kite-1way-vxlan: every frame
encapsulated). Not in the default peers: on a 2-core host both generators share CPU 1 and the rxonly one
drains its ring only when the scheduler runs it (0.03-0.06 Mpps, tx_full drops in kite-dpu), which
measures that, not the switch; the run then says so on stderr.
Usage: net_tput.py KITE_DPU [--rounds 3] [--seconds 6] [--sizes 64,1500] [--peers ...]
         [--dpu LABEL=PATH ...]
Prints one line per run (a kite-dpu run adds two on stderr: its drops, and its poller's rounds, the
share that found work, its sleeps and the frames sent per busy round), then per size and peer the
median and min-max Mpps with the load average, and the ratios to testpmd and ovs, pair by pair; last
the median ratios as "name value x" lines for bench/plot.py."""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "dpu", "net"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from netlib import Dpu, Procs, Testpmd  # noqa: E402
from round_order import round_order  # noqa: E402

MAC0, MAC1 = "02:4b:00:00:00:b0", "02:4b:00:00:00:b1"
ACL = [f"deny proto tcp dst 10.{i}.0.0/16 dport 1-1024" for i in range(15)] + ["allow proto udp"]
OVS_VSWITCHD = "/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk"
OVS_SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


class Gen:
    """The generator: interactive dpdk-testpmd on CPU 1, driven through its stdin."""

    def __init__(self, procs, wd, socks, size, peer_macs=(MAC1, MAC0)):
        self.log_path = os.path.join(wd, "gen.log")
        vdevs = []
        for i, s in enumerate(socks):
            vdevs += ["--vdev", f"net_virtio_user{i},path={s},queues=1,mac={(MAC0, MAC1)[i]}"]
        # line-buffered: the script reads the answers to its commands from the log while it runs
        cmd = ["stdbuf", "-oL", "dpdk-testpmd", "--lcores=0@1,1@1", "--no-huge", "-m", "1024", "--no-pci",
               f"--file-prefix=kswg{os.getpid()}", *vdevs, "--", "-i", "--forward-mode=mac",
               f"--eth-peer=0,{peer_macs[0]}", f"--eth-peer=1,{peer_macs[1]}", f"--txpkts={size}",
               "--total-num-mbufs=32768", "--nb-cores=1"]
        self.proc = procs.add(subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=open(self.log_path, "w"),
                                               stderr=subprocess.STDOUT, text=True))

    def text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def cmd(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def wait_prompt(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"generator exited: {self.text()[-2000:]}")
            if "testpmd>" in self.text():
                return
            time.sleep(0.2)
        raise RuntimeError(f"generator did not start: {self.text()[-2000:]}")

    def wait_links(self, timeout=30):
        """Until both ports report link up (a vhost-user backend connected)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            n = len(self.text())
            self.cmd("show port summary all")
            time.sleep(0.5)
            t = self.text()[n:]
            if len(re.findall(r"^\d+\s+\S+\s+\S+\s+\S+\s+up\b", t, re.M)) >= 2:
                return
        raise RuntimeError(f"generator ports did not come up: {self.text()[-1500:]}")

    def run(self, secs, warm=2):
        """start tx_first 64, then Rx-pps of both ports summed, one sample per second; the median."""
        self.cmd("start tx_first 64")
        time.sleep(warm)
        start = len(self.text())
        self.cmd("show port stats all")      # the rates below are since this one
        for _ in range(int(secs)):
            time.sleep(1)
            self.cmd("show port stats all")
        self.cmd("stop")
        self.cmd("quit")
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            pass
        rates = [int(v) for v in re.findall(r"Rx-pps:\s+(\d+)", self.text()[start:])]
        samples = [rates[i] + rates[i + 1] for i in range(2, len(rates) - 1, 2)]
        return statistics.median(samples) if samples else 0.0


def backend_testpmd(procs, wd):
    s0, s1 = os.path.join(wd, "be0.sock"), os.path.join(wd, "be1.sock")
    procs.add(subprocess.Popen(
        ["dpdk-testpmd", "--lcores=0@0,1@0", "--no-huge", "-m", "1024", "--no-pci",
         f"--file-prefix=kswb{os.getpid()}", "--vdev", f"net_vhost0,iface={s0},queues=1",
         "--vdev", f"net_vhost1,iface={s1},queues=1", "--", "--forward-mode=io", "--nb-cores=1", "--stats-period", "1",
         "--total-num-mbufs=32768"], stdout=open(os.path.join(wd, "backend.log"), "w"),
        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
    deadline = time.time() + 30
    while not (os.path.exists(s0) and os.path.exists(s1)):
        if time.time() > deadline:
            raise RuntimeError("testpmd backend did not create its sockets")
        time.sleep(0.1)
    return s0, s1


def backend_kite(procs, wd, exe, variant):
    def port(name, **kw):
        return dict(name=name, type="vhost", socket=os.path.join(wd, name + ".sock"), mtu=9000, **kw)
    extra = {"acl_in": ACL, "acl_in_default": "deny"} if variant == "acl" else {}
    vm0, vm1 = port("vm0", **extra), port("vm1", **extra)
    cfg = {"ports": [vm0, vm1]}
    if variant == "1way-vxlan":
        vm1["vxlan"] = {"local_ip": "192.168.90.1", "local_mac": "02:4b:00:00:90:01", "gw_mac": "02:4b:00:00:90:02"}
        cfg["vnis"] = [{"vni": 100, "vlan": 1, "vteps": ["192.168.90.2"]}]
    dpu = Dpu(exe, procs, wd, cfg, core=0)
    return vm0["socket"], vm1["socket"], dpu


class Ovs:
    """A private Open vSwitch (own database, run and log directory), its PMD on CPU 0."""

    def __init__(self, procs, wd):
        self.wd, self.procs = wd, procs
        self.env = dict(os.environ, OVS_RUNDIR=wd, OVS_DBDIR=wd, OVS_LOGDIR=wd, OVS_SYSCONFDIR=wd,
                        OVS_PKGDATADIR="/usr/share/openvswitch")
        self.db = f"unix:{wd}/db.sock"
        subprocess.run(["ovsdb-tool", "create", f"{wd}/conf.db", OVS_SCHEMA], check=True, env=self.env)
        procs.add(subprocess.Popen(["ovsdb-server", f"{wd}/conf.db", f"--remote=punix:{wd}/db.sock",
                                    f"--unixctl={wd}/ovsdb.ctl", f"--log-file={wd}/ovsdb.log"],
                                   env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        self.wait_file(f"{wd}/db.sock")
        self.vsctl("--no-wait", "init")
        self.vsctl("--no-wait", "set", "Open_vSwitch", ".", "other_config:dpdk-init=true",
                   f'other_config:dpdk-extra="--no-huge --legacy-mem -m 2048 --no-pci --file-prefix ksvo{os.getpid()}"',
                   "other_config:pmd-cpu-mask=0x1", "other_config:per-port-memory=true")
        self.log_path = f"{wd}/vswitchd.log"
        # only the PMD thread is pinned (to CPU 0, like kite-dpu's poller): the main and vhost
        # threads that answer the vhost-user messages float, as kite-dpu's control thread does
        procs.add(subprocess.Popen([OVS_VSWITCHD, self.db, f"--unixctl={wd}/vswitchd.ctl",
                                    f"--log-file={self.log_path}"], env=self.env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL))
        self.vsctl("--timeout=60", "add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev")

    def wait_file(self, path, timeout=30):
        deadline = time.time() + timeout
        while not os.path.exists(path):
            if time.time() > deadline:
                raise RuntimeError(f"{path} did not appear")
            time.sleep(0.1)

    def vsctl(self, *args):
        r = subprocess.run(["ovs-vsctl", f"--db={self.db}", *args], env=self.env, capture_output=True, text=True)
        if r.returncode != 0:
            log = open(self.log_path).read()[-1500:] if os.path.exists(getattr(self, "log_path", "")) else ""
            raise RuntimeError(f"ovs-vsctl {' '.join(args)}: {r.stderr.strip()} {log}")
        return r.stdout

    def wait_rxqs(self, timeout=30):
        """Until the PMD polls a receive queue of both ports (frames sent before are lost)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            r = subprocess.run(["ovs-appctl", f"--target={self.wd}/vswitchd.ctl", "dpif-netdev/pmd-rxq-show"],
                               env=self.env, capture_output=True, text=True)
            if len(re.findall(r"port:\s+vh[01]\s+queue-id:\s+0\s+\(enabled\)", r.stdout)) == 2:
                return
            time.sleep(0.5)
        raise RuntimeError(f"OVS did not enable both ports' queues: {r.stdout.strip()} {r.stderr.strip()}")

    def add_ports(self):
        """Two dpdkvhostuser ports (OVS is the vhost-user server: sockets vh0, vh1 in its run dir).
        With dpdkvhostuserclient ports and the generator's virtio_user as server, the generator's
        first port came up without its queue enabled in OVS in 2 of 3 tries here: the server form is
        used instead; the data path in OVS is the same."""
        socks = []
        for i in range(2):
            self.vsctl("--timeout=60", "add-port", "br0", f"vh{i}", "--", "set", "Interface", f"vh{i}",
                       "type=dpdkvhostuser")
            socks.append(os.path.join(self.wd, f"vh{i}"))
            self.wait_file(socks[-1])
        return socks


def run_one(peer, exe, size, secs):
    procs = Procs()
    wd = tempfile.mkdtemp(prefix="kite-nettput.", dir=os.environ.get("TMPDIR", "/var/tmp"))
    try:
        if peer == "ovs":
            ovs = Ovs(procs, wd)
            s0, s1 = ovs.add_ports()
            gen = Gen(procs, wd, (s0, s1), size)
            gen.wait_prompt()
            ovs.wait_rxqs()
        else:
            dpu = None
            if peer == "testpmd":
                s0, s1 = backend_testpmd(procs, wd)
            else:
                s0, s1, dpu = backend_kite(procs, wd, exe, peer.split("-", 1)[1] if "-" in peer else "plain")
            if "1way" in peer:
                return oneway(procs, wd, s0, s1, size, secs, dpu)
            gen = Gen(procs, wd, (s0, s1), size)
            gen.wait_prompt()
        gen.wait_links()
        pps = gen.run(secs)
        if peer != "ovs" and dpu:
            ports = dpu.ports()
            drops = {n: {k: v for k, v in p["drops"].items() if v} for n, p in ports.items()}
            print(f"# {peer} {size} B: drops {drops}", file=sys.stderr)
            print(f"# {peer} {size} B: {poller_line(dpu, ports)}", file=sys.stderr)
        return pps
    finally:
        procs.stop_all()
        shutil.rmtree(wd, ignore_errors=True)


def poller_line(dpu, ports):
    """kite-dpu's poller 0 since its start (warm-up included): rounds, the share that found work, sleeps,
    and frames sent to the ports per busy round (the burst the loop settles at)."""
    text = dpu.ok("stats")["stats"]
    c = {m[0]: int(m[1]) for m in re.findall(r'^kite_dpu_poller_(rounds|busy_rounds|sleeps)_total\{poller="0"[^}]*\} (\d+)$',
                                               text, re.M)}
    rounds, busy, sleeps = c.get("rounds", 0), c.get("busy_rounds", 0), c.get("sleeps", 0)
    frames = sum(p["tx_packets"] for p in ports.values())
    return "poller rounds %d, busy %.1f%%, sleeps %d, frames per busy round %.1f" % (
        rounds, 100.0 * busy / rounds if rounds else 0, sleeps, frames / busy if busy else 0)


def oneway(procs, wd, s0, s1, size, secs, dpu):
    """txonly on port 0, rxonly on port 1 (two testpmd processes on CPU 1): port 1's median Rx-pps."""
    rx_core = 2 if len(os.sched_getaffinity(0)) > 2 else 1
    if rx_core == 1:
        print("# one way: txonly and rxonly share CPU 1 (no third CPU): the figure is the generators' "
              "time slicing, not the switch", file=sys.stderr)
    rx = Testpmd(procs, wd, [s1], "rxonly", core=rx_core)
    tx = Testpmd(procs, wd, [s0], "txonly", core=1, extra=[f"--txpkts={size}"])
    rx.wait_ready()
    tx.wait_ready()
    time.sleep(secs + 2)
    tx.stop()
    rx.stop()
    rates = [int(v) for v in re.findall(r"NIC statistics for port 0\s.*?Rx-pps:\s+(\d+)", rx.text(), re.S)]
    rates = [v for v in rates if v > 0][2:]
    drops = {n: {k: v for k, v in p["drops"].items() if v} for n, p in dpu.ports().items()}
    print(f"# one way {size} B: drops {drops}", file=sys.stderr)
    return statistics.median(rates) if rates else 0.0


def span(v):
    return f"{statistics.median(v):.2f} ({min(v):.2f}-{max(v):.2f})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kite_dpu")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("SECONDS_PER_RUN", "6")))
    ap.add_argument("--sizes", default="64,1500")
    ap.add_argument("--peers", default="testpmd,ovs,kite,kite-acl")
    ap.add_argument("--dpu", action="append", default=[], help="LABEL=PATH: a further kite-dpu binary (plain)")
    a = ap.parse_args()
    if not shutil.which("dpdk-testpmd") or os.geteuid() != 0:
        sys.exit("net_tput: needs root and dpdk-testpmd")
    peers = a.peers.split(",")
    if "ovs" in peers and not (os.access(OVS_VSWITCHD, os.X_OK) and shutil.which("ovsdb-server")):
        print("net_tput: no openvswitch-switch-dpdk here: skipping the ovs peer", file=sys.stderr)
        peers.remove("ovs")
    exes = {p: a.kite_dpu for p in peers}
    for d in a.dpu:
        lbl, path = d.split("=", 1)
        peers.append(lbl)
        exes[lbl] = path
    res, loads = {}, []
    for rnd in range(a.rounds):
        for size in (int(s) for s in a.sizes.split(",")):
            order = round_order(peers, rnd)
            for peer in order:
                la = loadavg()
                kind = peer if peer in ("testpmd", "ovs") or peer.startswith("kite") else "kite"
                try:
                    pps = run_one(kind, exes[peer], size, a.seconds)
                except RuntimeError as e:
                    print(f"round {rnd + 1} {size} B {peer}: FAILED: {e}", flush=True)
                    continue
                loads.append(la)
                res.setdefault((size, peer), {})[rnd] = pps / 1e6
                print(f"round {rnd + 1} {size} B {peer}: {pps / 1e6:.3f} Mpps (load {la:.1f})", flush=True)
    if not loads:
        sys.exit(1)
    ratios = []   # "name value x" lines for bench/plot.py
    print(f"\n{a.rounds} rounds of {a.seconds:g} s, load average {min(loads):.1f}-{max(loads):.1f}")
    for size in (int(s) for s in a.sizes.split(",")):
        for peer in peers:
            r = res.get((size, peer))
            if not r:
                continue
            line = f"{size} B {peer}: {span(list(r.values()))} Mpps"
            for ref in ("testpmd", "ovs", "kite", "kite-1way"):
                q = res.get((size, ref))
                if ref == peer or not q:
                    continue
                rat = [r[k] / q[k] for k in r if k in q and q[k] > 0]
                if rat:
                    line += f", /{ref} {span(rat)}"
                    ratios.append(f"net_{size}B_{peer}_over_{ref} {statistics.median(rat):.2f} x")
            print(line)
    print("\n".join(ratios))


if __name__ == "__main__":
    main()
