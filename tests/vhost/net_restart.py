#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kill -9 of kite-dpu under a guest pinging through a kite-dpu switch port, then a restart: the
pings go on, to the MAC the guest resolved before.

usage: net_restart.py --kite KITE --dpu KITE_DPU --kernel GUEST [--split] [--pairs N]

In a private network namespace: kite-dpu with a switch of a vhost port vm0 (N queue pairs, default 2)
and a TAP uplink kvr0 that kite-dpu creates (192.0.2.1/24); kite with --vhost-user-net on vm0 running
the test guest's ping loop on packed rings (kite.ping_loop=0 kite.packed=1; --split: split rings):
one ARP resolution of 192.0.2.1, then echo requests to that MAC, each answered or not, as a neighbour
cache holds an entry it has no reason to doubt (Linux keeps one REACHABLE for 15-45 s). When some
were answered, kite-dpu gets SIGKILL and is started again on the same config (its new kvr0 gets the
address again).
Checked: echo requests sent after the kill are answered again, the restarted kite-dpu's vm0 and kvr0
counted frames both ways, kvr0 has the MAC the first one had (the guest's entry stays right), kite
logged the backend lost and back once each, the NIC needed no reset. Then the other MAC rules of TAP
ports (port_add): a configured "mac" is set, a multicast one refused, a persistent TAP keeps its own.
Exit 0 pass, 1 fail, 77 skip (not root, no ip, /dev/net/tun or /dev/kvm).
"""
import argparse
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vtlib  # noqa: E402
from vtlib import Dpu, Fail, Kite, check, run_test, wait_socket  # noqa: E402

MAC = "52:54:00:4b:76:70"
TAP = "kvr0"
PINGS = 3


def start_dpu(a, wd, procs, sock):
    for f in ("ctl.sock", "vm0.sock"):
        try:
            os.unlink(os.path.join(wd, f))
        except FileNotFoundError:
            pass
    dpu = Dpu(a.dpu, procs, wd, {"ports": [{"name": "vm0", "type": "vhost", "socket": sock, "queues": a.pairs},
                                           {"name": "up", "type": "tap", "ifname": TAP}]}, core=0)
    wait_socket(sock, dpu.proc, "kite-dpu")
    vtlib.sh("ip", "addr", "add", "192.0.2.1/24", "dev", TAP)
    vtlib.sh("ip", "link", "set", TAP, "up")
    return dpu


def tap_mac():
    return open("/sys/class/net/%s/address" % TAP).read().strip()


def loop_lines(kite):
    """[(seq, answered)] of the guest's ping loop so far."""
    return [(int(n), w == "answered") for n, w in
            re.findall(r"^virtio-net-ping: loop echo (\d+) (answered|unanswered)$", kite.con(), re.M)]


def wait_answers(what, kite, after_seq, bound=90):
    """Until PINGS echo requests with a sequence above after_seq were answered (the bound only ends a
    broken run). Returns the lines after after_seq."""
    deadline = time.time() + bound
    while time.time() < deadline:
        lines = [x for x in loop_lines(kite) if x[0] > after_seq]
        if sum(ok for _, ok in lines) >= PINGS:
            return lines
        if kite.proc.poll() is not None:
            raise Fail("%s: kite ended (status %s)\n%s" % (what, kite.proc.returncode, kite.dump()))
        time.sleep(0.1)
    lines = [x for x in loop_lines(kite) if x[0] > after_seq]
    raise Fail("%s: %d of the guest's %d echo requests since were answered, expected %d\n%s" %
               (what, sum(ok for _, ok in lines), len(lines), PINGS, kite.dump()))


def tap_mac_rules(dpu):
    """The other MAC rules of TAP ports (port_add at run time): a configured "mac" is set, a multicast
    one refused, a persistent TAP made beforehand keeps its own address."""
    r = dpu.ctl("port_add", name="up2", type="tap", ifname="kvr2", mac="02:00:00:00:4b:02")
    check(r.get("ok") and open("/sys/class/net/kvr2/address").read().strip() == "02:00:00:00:4b:02",
          "port_add with mac 02:00:00:00:4b:02: %s, kvr2 has %s" % (r, open("/sys/class/net/kvr2/address").read()))
    r = dpu.ctl("port_add", name="up3", type="tap", ifname="kvr3", mac="01:00:5e:00:00:01")
    check(not r.get("ok") and "bad mac" in r.get("error", "") and not os.path.exists("/sys/class/net/kvr3"),
          "port_add with a multicast mac was not refused: %s" % r)
    vtlib.sh("ip", "tuntap", "add", "dev", "kvr4", "mode", "tap")
    own = open("/sys/class/net/kvr4/address").read().strip()
    r = dpu.ctl("port_add", name="up4", type="tap", ifname="kvr4")
    check(r.get("ok") and open("/sys/class/net/kvr4/address").read().strip() == own,
          "port_add on the persistent kvr4 (MAC %s): %s, now %s" % (own, r, open("/sys/class/net/kvr4/address").read()))
    print("TAP MACs: configured one set, multicast one refused, a persistent TAP's own one kept")


def run(a, wd, procs):
    vtlib.sh("ip", "link", "set", "lo", "up")
    sock = os.path.join(wd, "vm0.sock")
    dpu = start_dpu(a, wd, procs, sock)
    mac1 = tap_mac()
    kite = Kite(a.kite, a.kernel, wd, "vm", ["--vhost-user-net", "socket=%s,mac=%s,queues=%d" % (sock, MAC, a.pairs)],
                "kite.test=virtio-net-ping kite.ping_loop=0" + ("" if a.split else " kite.packed=1"), procs).start()
    check(kite.wait_console(r"^virtio-net-ping: ARP reply: 192\.0\.2\.1 is at %s$" % mac1, 60),
          "the guest did not resolve %s's MAC %s\n%s" % (TAP, mac1, kite.dump()))
    if not a.split:
        check(re.search(r"driver ready, features 0x[0-9a-f]+, packed rings", kite.stderr()),
              "the NIC does not run packed rings\n%s" % kite.dump())
    wait_answers("before the restart", kite, 0)

    dpu.proc.send_signal(signal.SIGKILL)
    dpu.proc.wait()
    lines = loop_lines(kite)
    at_kill = lines[-1][0] if lines else 0
    print("kite-dpu killed after the guest's echo request %d" % at_kill)
    dpu = start_dpu(a, wd, procs, sock)
    mac2 = tap_mac()
    print("%s's MAC: %s before, %s after the restart" % (TAP, mac1, mac2))
    after = wait_answers("after the restart", kite, at_kill)
    lost = [n for n, ok in after if not ok]
    print("after the restart: echo requests %d..%d, unanswered: %s" % (after[0][0], after[-1][0], lost or "none"))
    ports = dpu.ports()      # the guest keeps pinging: these only grow
    vm0, up = ports["vm0"], ports["up"]
    print("restarted kite-dpu: vm0 from/to guest %d/%d, %s in/out %d/%d" %
          (vm0["rx_packets"], vm0["tx_packets"], TAP, up["rx_packets"], up["tx_packets"]))
    check(min(vm0["rx_packets"], vm0["tx_packets"], up["rx_packets"], up["tx_packets"]) >= PINGS,
          "the restarted kite-dpu's counters miss frames: vm0 %s, up %s" % (vm0, up))
    check(mac2 == mac1, "%s's MAC changed across the restart: %s -> %s" % (TAP, mac1, mac2))
    err = kite.stderr()
    check(len(re.findall(r"vhost-user-net0: backend .* lost", err)) == 1 and
          len(re.findall(r"vhost-user-net0: backend .* is back", err)) == 1,
          "kite did not log the backend lost and back once each\n%s" % err)
    check("device needs reset" not in err, "the NIC needed a reset\n%s" % err)
    check(kite.proc.poll() is None, "kite ended (status %s)" % kite.proc.returncode)
    tap_mac_rules(dpu)
    print("PASS: the %s-ring NIC (%d queue pairs) kept pinging %s through kite-dpu's kill -9 and restart" %
          ("split" if a.split else "packed", a.pairs, TAP))
    return 0


def main():
    def more(ap):
        ap.add_argument("--split", action="store_true")
        ap.add_argument("--pairs", type=int, default=2)
        ap.add_argument("--in-ns", action="store_true", help=argparse.SUPPRESS)
    a = vtlib.vt_args("--dpu", more=more)
    if a.in_ns:
        return run_test(run, a)
    vtlib.need_root()
    vtlib.need("ip")
    if not os.path.exists("/dev/net/tun"):
        vtlib.skip("/dev/net/tun missing")
    return vtlib.rerun_in_netns("kite-vr", __file__)


if __name__ == "__main__":
    sys.exit(main())
