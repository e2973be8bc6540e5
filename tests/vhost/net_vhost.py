#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kite's vhost-user-net on a kite-dpu switch port, pinging Linux behind kite-dpu's TAP uplink.

usage: net_vhost.py --kite KITE --dpu KITE_DPU --kernel GUEST [--mmio] [--mq]

Everything runs in a private network namespace kite-vh-<pid> (deleted at the end): kite-dpu with a
switch of two ports, vhost port vm0 (socket in a temporary directory) and TAP uplink kvu0 with
192.0.2.1/24; kite with --vhost-user-net socket=...,mac=MAC,mtu=1400 and the test guest's
virtio-net-ping (192.0.2.2). Checked: the guest sees MAC and MTU from kite's flag, gets the ARP reply
with kvu0's MAC and the ICMP echo reply through the switch; kite-dpu's counters show the frames on
both ports; kite's userspace exits do not depend on the traffic (same with 5 and 50 flood frames).
--mmio: the NIC on virtio-mmio (its call fd then goes through kite's loop: INTx-style path).
--mq: two queue pairs (kite queues=2, kite-dpu port "queues": 2) and the guest drives kite's control
queue (kite.ctrl=1, pair 1 set up too: kite.pair1=1): VQ_PAIRS_SET 2 (kite enables pair 1's rings on
kite-dpu and answers once kite-dpu acknowledged them) and 1 answered OK, 0 / 3 / 65535 / wrong data lengths / classes
not offered answered ERR (the guest checks each status), kite logs one line for those refusals; a
third run (kite.ctrl=2, no flood) then sends a command without a status byte: the device breaks
(DEVICE_NEEDS_RESET, one line naming it) and the guest's reset brings it back (not in the exit
comparison: the guest polls the status register for it); kite-dpu's vm0 reports two queue pairs,
pair 0 carrying the frames.
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
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vtlib  # noqa: E402

MAC = "52:54:00:4b:76:68"


def run_kite(a, sock, wd, flood, ctrl=1):
    con = os.path.join(wd, "console-%d.txt" % flood)
    cmd = [a.kite, "--kernel", a.kernel, "--console", "file:" + con, "--stats",
           "--vhost-user-net", "socket=%s,mac=%s,mtu=1400%s%s" % (sock, MAC, ",transport=mmio" if a.mmio else "",
                                                                 ",queues=2" if a.mq else ""),
           "--cmdline", "kite.test=virtio-net-ping kite.flood=%d%s%s" % (flood, " kite.mmio=1" if a.mmio else "",
                                                                         " kite.ctrl=%d kite.pair1=1" % ctrl if a.mq else "")]
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
        vm0_cfg = {"name": "vm0", "type": "vhost", "socket": sock}
        if a.mq:
            vm0_cfg["queues"] = 2
        dpu = netlib.Dpu(a.dpu, procs, wd, {"ports": [vm0_cfg,
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
            if a.mq:
                why = check_mq(text, err, False)
                if why:
                    return fail(why, err, text, dpu)
            runs[flood] = exits(err)
        if a.mq:
            rc, err, text = run_kite(a, sock, wd, 0, ctrl=2)
            if rc != 0 or not re.search(r"^kite-guest: PASS ", text, re.M):
                return fail("kite exit status %s or no PASS (malformed control command)" % rc, err, text, dpu)
            why = check_mq(text, err, True)
            if why:
                return fail(why, err, text, dpu)
        ports = dpu.wait_stable()
        vm0, up = ports["vm0"], ports["up"]
        # per run the guest sends ARP request, echo request and the flood frames (broadcast: to the uplink too)
        if vm0["rx_packets"] < 2 + 5 + 2 + 50 or up["tx_packets"] < 2 + 5 + 2 + 50:
            return fail("switch counters do not show the guest's frames: vm0 %s, up %s" % (vm0, up), dpu=dpu)
        if vm0["tx_packets"] < 4 or up["rx_packets"] < 4:
            return fail("switch counters do not show the replies: vm0 %s, up %s" % (vm0, up), dpu=dpu)
        if a.mq:
            qs = vm0.get("queues", [])
            if len(qs) != 2 or qs[0]["rx_packets"] < 2 + 5 + 2 + 50 or qs[0]["tx_packets"] < 4:
                return fail("kite-dpu's vm0 does not show two queue pairs with pair 0 carrying the frames: %s" % qs,
                            dpu=dpu)
            print("vm0 queue pairs (frames from / to the guest): %s" %
                  ", ".join("%d/%d" % (q["rx_packets"], q["tx_packets"]) for q in qs))
        print("userspace exits: %d with 5 flood frames, %d with 50" % (runs[5], runs[50]))
        if runs[50] > runs[5] + 10:
            return fail("kite's userspace exits grew with the traffic: %d -> %d" % (runs[5], runs[50]), dpu=dpu)
        print("PASS vhost-user-net%s%s: ARP + ICMP echo through kite-dpu, vm0 rx %d tx %d" %
              (" (mmio)" if a.mmio else "", " (2 queue pairs, control queue)" if a.mq else "",
               vm0["rx_packets"], vm0["tx_packets"]))
        return 0
    finally:
        procs.stop_all()
        shutil.rmtree(wd, ignore_errors=True)


def check_mq(text, err, malformed):
    """--mq: what the guest and kite must have said about the control queue; '' if all holds."""
    wants = ["control queue 4, max_virtqueue_pairs 2", "VQ_PAIRS_SET max_virtqueue_pairs -> OK",
             "VQ_PAIRS_SET 0 -> ERR", "VQ_PAIRS_SET max_virtqueue_pairs+1 -> ERR", "class 127 command 127 -> ERR",
             "VQ_PAIRS_SET 1 -> OK"]
    if malformed:
        wants += ["control command without a status byte: device reports DEVICE_NEEDS_RESET",
                  "after reset the device works again"]
    for want in wants:
        if "virtio-net-ping: " + want not in text and "virtio-net-ping: control queue: " + want not in text:
            return "the guest did not report '%s'" % want
    refused = re.findall(r"^.*control queue: .*(not served|refused|expected).*$", err, re.M)
    broken = re.findall(r"^.*control command with 2 readable and 0 writable bytes.*device needs reset$", err, re.M)
    if len(refused) != 1 or len(broken) != (1 if malformed else 0):
        return "kite should log one line for the refused commands and one for the broken queue: %s %s" % (refused, broken)
    return ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kite", required=True)
    ap.add_argument("--dpu", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--mmio", action="store_true")
    ap.add_argument("--mq", action="store_true")
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
    return vtlib.rerun_in_netns("kite-vh", __file__)


if __name__ == "__main__":
    sys.exit(main())
