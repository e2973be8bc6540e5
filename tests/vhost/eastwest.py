#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""VM to VM through kite-dpu's switch (the east-west path): two kite VMs, each with one
--vhost-user-net port on the same kite-dpu switch. VM B (192.0.2.1) runs the test guest's responder
(kite.respond=1: ARP and ICMP echo replies); VM A (192.0.2.2) resolves B and pings it.

Phase 1: A's ping is answered (A PASSes with the echo reply, B logged the echo it answered, both
switch ports counted the frames). Phase 2: an ACL rule "deny proto icmp" on A's port (direction in)
over the control socket; A runs again: ARP still works, the echo request is dropped, so A ends
without a reply; the rule's packet counter and the port's acl drop counter count the echo request,
and B answered no second echo.

--packed: both guests drive packed rings (kite.packed=1; RING_PACKED through kite to kite-dpu).

usage: eastwest.py --kite KITE --dpu KITE_DPU --kernel GUEST [--packed]
Exit 0 pass, 1 fail, 77 skip (no KVM)."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vtlib import Dpu, Kite, check, run_test, vt_args, wait_socket  # noqa: E402

MAC_A, MAC_B = "02:4b:00:00:0e:0a", "02:4b:00:00:0e:0b"
GUEST_TIMEOUT_EXIT = 5      # GUEST_EXIT_TIMEOUT: a device (here: the peer) did not answer


def main():
    return run_test(run, vt_args("--dpu", more=lambda ap: ap.add_argument("--packed", action="store_true")))


def counters(dpu):
    ports = dpu.ports()
    return {n: (p["rx_packets"], p["tx_packets"]) for n, p in ports.items()}, ports


def run(a, wd, procs):
    sock = {n: os.path.join(wd, n + ".sock") for n in ("vmA", "vmB")}
    packed = " kite.packed=1" if a.packed else ""
    dpu = Dpu(a.dpu, procs, wd, {"ports": [{"name": n, "type": "vhost", "socket": s} for n, s in sock.items()]})
    for s in sock.values():
        wait_socket(s, dpu.proc, "kite-dpu")
    b = Kite(a.kite, a.kernel, wd, "vmB", ["--vhost-user-net", "socket=%s,mac=%s" % (sock["vmB"], MAC_B)],
             "kite.test=virtio-net-ping kite.respond=1 kite.ip_last=1" + packed, procs).start()
    check(b.wait_console(r"^virtio-net-ping: answering ARP and echo requests for 192\.0\.2\.1$", 60),
          "VM B's responder did not start")
    vm_a = ["--vhost-user-net", "socket=%s,mac=%s" % (sock["vmA"], MAC_A)]
    ping = "kite.test=virtio-net-ping kite.ip_last=2 kite.peer_ip_last=1 kite.ping_size=200" + packed

    # phase 1: A reaches B
    a1 = Kite(a.kite, a.kernel, wd, "vmA-1", vm_a, ping, procs)
    rc = a1.run(90)
    check(rc == 0, "VM A (no ACL): exit status %s, expected 0\n%s" % (rc, a1.dump()))
    check(re.search(r"^virtio-net-ping: ARP reply: 192\.0\.2\.1 is at %s$" % MAC_B, a1.con(), re.M),
          "VM A did not learn VM B's MAC")
    check(re.search(r"^virtio-net-ping: echo reply from 192\.0\.2\.1, 200 payload bytes", a1.con(), re.M),
          "VM A got no echo reply from VM B")
    check(re.search(r"^virtio-net-ping: answered echo request 1 from 192\.0\.2\.2 \(200 payload bytes\)$", b.con(), re.M),
          "VM B did not log the echo request it answered")
    c1, _ = counters(dpu)
    check(all(rx >= 2 and tx >= 2 for rx, tx in c1.values()),
          "switch ports did not count ARP and ICMP both ways: %s" % c1)
    if a.packed:
        check(re.search(r"^virtio: slot \d+ queue 1: packed ring", a1.con(), re.M) and
              re.search(r"driver ready, features 0x[0-9a-f]+, packed rings", a1.stderr()),
              "VM A did not run packed rings")

    # phase 2: ICMP from A denied at A's port
    idx = dpu.ok("acl_add", port="vmA", dir="in", rule="deny proto icmp")["index"]
    a2 = Kite(a.kite, a.kernel, wd, "vmA-2", vm_a, ping, procs)
    rc = a2.run(90)
    con2 = a2.con()
    check(re.search(r"^virtio-net-ping: ARP reply: 192\.0\.2\.1 is at %s$" % MAC_B, con2, re.M),
          "with the ICMP rule, ARP should still pass\n%s" % a2.dump())
    check(re.search(r"^virtio-net-ping: echo request with 200 payload bytes sent", con2, re.M),
          "VM A did not send its echo request\n%s" % a2.dump())
    check(not re.search(r"echo reply from", con2), "VM A got an echo reply through the deny rule")
    check(rc == GUEST_TIMEOUT_EXIT, "VM A (ACL): exit status %s, expected %d (no reply)\n%s" %
          (rc, GUEST_TIMEOUT_EXIT, a2.dump()))
    _, ports = counters(dpu)
    rule = ports["vmA"]["acl_in"]["rules"][idx]
    check(rule["packets"] >= 1 and rule["bytes"] >= 228,
          "the deny rule counted %d packets / %d bytes, expected the echo request (228 IP bytes)" %
          (rule["packets"], rule["bytes"]))
    check(ports["vmA"]["drops"]["acl"] >= 1, "port vmA counted no acl drop: %s" % ports["vmA"]["drops"])
    check(not re.search(r"answered echo request 2 ", b.con()), "VM B answered an echo through the deny rule")
    check(b.proc.poll() is None, "VM B ended (status %s)\n%s" % (b.proc.returncode, b.dump()))
    print("PASS: VM A pinged VM B through kite-dpu; with 'deny proto icmp' on vmA the echo was dropped "
          "(rule: %d packets, %d bytes)" % (rule["packets"], rule["bytes"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
