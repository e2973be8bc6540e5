#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kite's vhost-user-net acknowledges VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET only after the backend applied
it: the backend (tests/vhost/hostile_backend, case enable-nack: a net backend with 2 queue pairs)
answers the REPLY_ACK of the first SET_VRING_ENABLE 1 of a ring of pair 1 with a failure. The test
guest (kite.ctrl=1 kite.pair1=1: pair 1 set up, so VQ_PAIRS_SET 2 makes kite enable its rings) must
get VIRTIO_NET_ERR for that VQ_PAIRS_SET (a kite that acked when it posted the change gave OK), kite
must log one line breaking vhost-user-net0 and end with the guest's failure status (no crash, no
hang). --case enable-nack-late: the backend answers SET_MEM_TABLE 1 s late, so the VQ_PAIRS_SET
reaches kite while the rings are still starting (a kite that acked at once there gave OK).

usage: net_ack.py --kite KITE --backend HOSTILE_BACKEND --kernel GUEST [--case enable-nack-late]
Exit 0 pass, 1 fail, 77 skip (no KVM)."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vtlib import HostileBackend, Kite, check, run_test, vt_args  # noqa: E402

GUEST_EXIT_CHECK = 4


def run(a, wd, procs):
    sock = os.path.join(wd, "hostile.sock")
    backend = HostileBackend(a.backend, wd, sock, a.case, procs)
    vm = Kite(a.kite, a.kernel, wd, "kite", ["--vhost-user-net", "socket=%s,queues=2" % sock],
              "kite.test=virtio-net-ping kite.ctrl=1 kite.pair1=1", procs)
    rc = vm.run(90)
    err, con = vm.stderr(), vm.con()
    backend.check_exercised("SET_VRING_ENABLE")
    check("VQ_PAIRS_SET max_virtqueue_pairs -> OK" not in con,
          "the guest got OK for a VQ_PAIRS_SET the backend refused")
    check(re.search(r"control queue: VQ_PAIRS_SET max_virtqueue_pairs: status 1, expected 0", con),
          "the guest did not get VIRTIO_NET_ERR for the refused VQ_PAIRS_SET")
    check(rc == GUEST_EXIT_CHECK, "kite exit status %s, expected the guest's %d" % (rc, GUEST_EXIT_CHECK))
    broke = [l for l in err.splitlines() if re.search(r"vhost-user-net0.*needs reset", l)]
    check(len(broke) == 1, "%d log lines about vhost-user-net0 breaking, expected 1: %s" % (len(broke), broke))
    print("PASS: VQ_PAIRS_SET answered VIRTIO_NET_ERR after the backend refused SET_VRING_ENABLE (%s)" %
          broke[0].strip())
    return 0


def main():
    return run_test(run, vt_args("--backend", more=lambda ap: ap.add_argument(
        "--case", choices=("enable-nack", "enable-nack-late"), default="enable-nack")))


if __name__ == "__main__":
    sys.exit(main())
