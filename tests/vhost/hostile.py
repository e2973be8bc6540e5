#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kite with two vhost-user disks: disk 0 served by tests/vhost/hostile_backend (one misbehaviour,
CASE), disk 1 by kite-dpu. The test guest (kite.test=virtio-blk-evil kite.evil=backend) starts disk 0,
which must report DEVICE_NEEDS_RESET, then writes, flushes and reads back its pattern on disk 1.

Checked: the backend logged that its misbehaviour happened; kite exited 0 (no crash, no hang); the
guest PASSed and saw NEEDS_RESET on disk 0; kite logged exactly one line about breaking
vhost-user-blk0 and none about vhost-user-blk1; kite-dpu's image holds the pattern, nothing else
changed, and kite-dpu counted the writes.
Cases misbehaving while kite starts (GET_FEATURES, GET_CONFIG are read then): kite must refuse to
start with status 1 and one error line naming the device, instead of running with a device it
cannot describe to the guest. ("hangup" is not a case here: a lost backend is one kite waits for
and reconnects to.) stall-mem (SET_MEM_TABLE never answered) runs with mem_timeout=1, so that the
long deadline of that reply (30 s by default) is seen to apply and to end in a broken device,
named in kite's line, in 1 s.

usage: hostile.py --kite KITE --dpu KITE_DPU --backend HOSTILE_BACKEND --kernel GUEST CASE
Exit 0 pass, 1 fail, 77 skip (no KVM)."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vtlib import (Dpu, HostileBackend, Kite, check, check_pattern, guest_seed, random_image,  # noqa: E402
                   run_test, vt_args, wait_socket)
from dpu_ctl import metric  # noqa: E402  (tests/lib, on the path through vtlib)

AT_START = ("features", "big-config", "huge-config")
IMG_BYTES = 1 << 20


def main():
    return run_test(run, vt_args("--dpu", "--backend", more=lambda ap: ap.add_argument("case")))


def run(a, wd, procs):
    seed, sector = guest_seed()
    img = os.path.join(wd, "good.img")
    orig = random_image(img, IMG_BYTES)
    good_sock, bad_sock = os.path.join(wd, "good.sock"), os.path.join(wd, "hostile.sock")
    dpu = Dpu(a.dpu, procs, wd, None, volumes=[{"name": "good", "image": img, "socket": good_sock}])
    backend = HostileBackend(a.backend, wd, bad_sock, a.case, procs)
    wait_socket(good_sock, dpu.proc, "kite-dpu")
    bad_opts = ",mem_timeout=1" if a.case == "stall-mem" else ""
    vm = Kite(a.kite, a.kernel, wd, "kite", ["--vhost-user-blk", "socket=" + bad_sock + bad_opts,
                                             "--vhost-user-blk", "socket=" + good_sock],
              "kite.test=virtio-blk-evil kite.evil=backend kite.seed=%d kite.blk_sector=%d" % (seed, sector), procs)
    rc = vm.run(90)
    backend.check_exercised()
    check(dpu.proc.poll() is None, "kite-dpu died (status %s)" % dpu.proc.returncode)
    err, con = vm.stderr(), vm.con()
    blk0 = [l for l in err.splitlines() if "vhost-user-blk0" in l]
    if a.case in AT_START:
        check(rc == 1, "kite exit status %s, expected 1 (refused at start-up)" % rc)
        check(any(bad_sock in l or "vhost-user-blk0" in l for l in err.splitlines()),
              "no log line names the hostile device")
        check("kite-guest:" not in con, "the guest ran although a device could not be set up")
        print("PASS %s: kite refused to start: %s" % (a.case, err.strip().splitlines()[-1]))
        return 0
    check(rc == 0, "kite exit status %s, expected 0" % rc)
    check(re.search(r"^kite-guest: PASS ", con, re.M), "the guest did not PASS")
    check(re.search(r"^virtio-blk-evil: backend: disk 0 reports DEVICE_NEEDS_RESET", con, re.M),
          "the guest did not see DEVICE_NEEDS_RESET on disk 0")
    broke = [l for l in blk0 if re.search(r"needs reset|NEEDS_RESET|broken", l, re.I)]
    check(len(broke) == 1, "%d log lines about vhost-user-blk0 breaking, expected 1: %s" % (len(broke), broke))
    check(a.case != "stall-mem" or "SET_MEM_TABLE: reply: no reply within 1 s" in broke[0],
          "the line does not name SET_MEM_TABLE's 1 s deadline (mem_timeout=1): %s" % broke[0])
    check(not any(re.search(r"vhost-user-blk1.*(needs reset|broken|error|fail)", l, re.I) for l in err.splitlines()),
          "the good disk (vhost-user-blk1) logged trouble")
    check_pattern(open(img, "rb").read(), orig, sector, 4, seed, "kite-dpu's image")
    stats = dpu.ok("stats")["stats"]
    n = metric(stats, "kite_dpu_blk_writes_total", volume="good")
    check(n is not None and n >= 1, "kite-dpu counted no writes on the good volume")
    print("PASS %s: disk 0 broke (%s), disk 1 served the pattern (seed %d, sector %d)" %
          (a.case, broke[0].strip(), seed, sector))
    return 0


if __name__ == "__main__":
    sys.exit(main())
