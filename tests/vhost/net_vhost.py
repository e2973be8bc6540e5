#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kite's vhost-user-net on a kite-dpu switch port, pinging Linux behind kite-dpu's TAP uplink.

usage: net_vhost.py --kite KITE --dpu KITE_DPU --kernel GUEST [--mmio]

Everything runs in a private network namespace kite-vh-<pid> (deleted at the end): kite-dpu with a
switch of two ports, vhost port vm0 (socket in a temporary directory) and TAP uplink kvu0 with
192.0.2.1/24; kite with --vhost-user-net socket=...,mac=MAC,mtu=1400 and the test guest's
virtio-net-ping (192.0.2.2). Checked: the guest sees MAC and MTU from kite's flag, gets the ARP reply
with kvu0's MAC and the ICMP echo reply through the switch; kite-dpu's counters show the frames on
both ports; kite's userspace exits do not depend on the traffic (same with 5 and 50 flood frames).
--mmio: the NIC on virtio-mmio (its call fd then goes through kite's loop: INTx-style path).
Exit 0 pass, 1 fail, 77 skip (not root, no ip, /dev/net/tun or /dev/kvm).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "dpu", "net"))
import netlib  # noqa: E402

MAC = "52:54:00:4b:76:68"


def run_kite(a, sock, wd, flood):
    con = os.path.join(wd, "console-%d.txt" % flood)
    cmd = [a.kite, "--kernel", a.kernel, "--console", "file:" + con, "--stats",
           "--vhost-user-net", "socket=%s,mac=%s,mtu=1400%s" % (sock, MAC, ",transport=mmio" if a.mmio else ""),
           "--cmdline", "kite.test=virtio-net-ping kite.flood=%d%s" % (flood, " kite.mmio=1" if a.mmio else "")]
    print("$ " + " ".join(cmd))
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        rc, err = p.returncode, p.stderr
    except subprocess.TimeoutExpired as e:
        rc, err = "timeout", (e.stderr or b"").decode(errors="replace")
    text = open(con, errors="replace").read() if os.path.exists(con) else ""
    return rc, err, text


def fail(why, err="", text="", dpu=None):
    print("FAIL: " + why)
    print("--- console ---\n" + text[-2500:] + "\n--- kite ---\n" + err[-2500:])
    if dpu:
        print("--- kite-dpu ---\n" + open(dpu.log_path, errors="replace").read()[-2500:])
    return 1


def exits(err):
    return sum(int(x) + int(y) for x, y in re.findall(r"io_exits=(\d+) mmio_exits=(\d+)", err))


def in_namespace(a):
    procs = netlib.Procs()
    wd = netlib.workdir()
    sock = os.path.join(wd, "vm0.sock")
    try:
        netlib.sh("ip", "link", "set", "lo", "up")
        dpu = netlib.Dpu(a.dpu, procs, wd, {"ports": [{"name": "vm0", "type": "vhost", "socket": sock},
                                                     {"name": "up", "type": "tap", "ifname": "kvu0"}]}, core=0)
        netlib.sh("ip", "addr", "add", "192.0.2.1/24", "dev", "kvu0")
        netlib.sh("ip", "link", "set", "kvu0", "up")
        host_mac = open("/sys/class/net/kvu0/address").read().strip()
        runs = {}
        for flood in (5, 50):
            rc, err, text = run_kite(a, sock, wd, flood)
            if rc != 0 or not re.search(r"^kite-guest: PASS ", text, re.M):
                return fail("kite exit status %s or no PASS (flood %d)" % (rc, flood), err, text, dpu)
            if "virtio-net-ping: MAC %s MTU 1400" % MAC not in text:
                return fail("the guest did not see the MAC and MTU of the flag", err, text, dpu)
            if "ARP reply: 192.0.2.1 is at %s" % host_mac not in text:
                return fail("no ARP reply from kvu0 (%s) through the switch" % host_mac, err, text, dpu)
            if "echo reply from 192.0.2.1" not in text:
                return fail("no ICMP echo reply through the switch", err, text, dpu)
            if "not sealed" in open(dpu.log_path, errors="replace").read():
                return fail("kite-dpu warned about an unsealed guest RAM memfd", err, text, dpu)
            runs[flood] = exits(err)
        ports = dpu.wait_stable()
        vm0, up = ports["vm0"], ports["up"]
        # per run the guest sends ARP request, echo request and the flood frames (broadcast: to the uplink too)
        if vm0["rx_packets"] < 2 + 5 + 2 + 50 or up["tx_packets"] < 2 + 5 + 2 + 50:
            return fail("switch counters do not show the guest's frames: vm0 %s, up %s" % (vm0, up), dpu=dpu)
        if vm0["tx_packets"] < 4 or up["rx_packets"] < 4:
            return fail("switch counters do not show the replies: vm0 %s, up %s" % (vm0, up), dpu=dpu)
        print("userspace exits: %d with 5 flood frames, %d with 50" % (runs[5], runs[50]))
        if runs[50] > runs[5] + 10:
            return fail("kite's userspace exits grew with the traffic: %d -> %d" % (runs[5], runs[50]), dpu=dpu)
        print("PASS vhost-user-net%s: ARP + ICMP echo through kite-dpu, vm0 rx %d tx %d" %
              (" (mmio)" if a.mmio else "", vm0["rx_packets"], vm0["tx_packets"]))
        return 0
    finally:
        procs.stop_all()
        shutil.rmtree(wd, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kite", required=True)
    ap.add_argument("--dpu", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--mmio", action="store_true")
    ap.add_argument("--in-ns", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.in_ns:
        return in_namespace(a)
    if os.geteuid() != 0:
        netlib.skip("needs root (network namespace, TAP)")
    netlib.need("ip")
    for dev in ("/dev/net/tun", "/dev/kvm"):
        if not os.path.exists(dev):
            netlib.skip(dev + " missing")
    ns = "kite-vh-%d" % os.getpid()
    netlib.sh("ip", "netns", "add", ns)
    try:
        return subprocess.run(["ip", "netns", "exec", ns, sys.executable, os.path.abspath(__file__), "--in-ns"] +
                              sys.argv[1:]).returncode
    finally:
        subprocess.run(["ip", "netns", "del", ns])


if __name__ == "__main__":
    sys.exit(main())
