#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A kite-dpu volume grows while the test guest runs: kite-dpu sends CONFIG_CHANGE_MSG on the
backend channel (VHOST_USER_PROTOCOL_F_BACKEND_REQ), kite reads the configuration again and raises
the configuration-change interrupt, the guest sees the new capacity and reads the new last sector.

usage: blk_resize.py --kite KITE --dpu KITE_DPU --kernel GUEST

The guest (kite.test=virtio-blk kite.resize_wait=1) prints that it waits; the host then sends
{"cmd":"volume_resize","name":"vol0","size":...} on kite-dpu's control socket. Checked: the guest
reports the new capacity (and PASS), kite logs the configuration change with both capacities,
kite-dpu logs that the frontend was told, and the image file has the new size.
Exit 0 pass, 1 fail, 77 skip (no /dev/kvm).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vtlib import Dpu, Kite, check, random_image, run_test, vt_args, wait_socket  # noqa: E402

OLD, NEW = 1 << 20, 3 << 20


def run(a, wd, procs):
    img, sock = os.path.join(wd, "vol0.img"), os.path.join(wd, "vol0.sock")
    random_image(img, OLD)
    dpu = Dpu(a.dpu, procs, wd, None, core=0, volumes=[{"name": "vol0", "image": img, "socket": sock}])
    wait_socket(sock, dpu.proc, "kite-dpu")
    vm = Kite(a.kite, a.kernel, wd, "vm", ["--vhost-user-blk", "socket=" + sock],
              "kite.test=virtio-blk kite.resize_wait=1", procs).start()
    check(vm.wait_console(r"waiting for a configuration change", 120), "the guest never waited for the change\n" + vm.dump())
    dpu.ok("volume_resize", name="vol0", size=NEW)
    rc = vm.wait(120)
    want = "virtio-blk: configuration change: %d sectors (was %d)" % (NEW // 512, OLD // 512)
    check(rc == 0 and want in vm.con() and "kite-guest: PASS " in vm.con(),
          "the guest did not see the new capacity (kite status %s)\n%s" % (rc, vm.dump()))
    check("vhost-user-blk0: configuration change from the backend: capacity %d sectors (was %d)"
          % (NEW // 512, OLD // 512) in vm.stderr(), "kite did not log the configuration change\n" + vm.dump())
    check("vol0: resized from %d to %d sectors, frontend told" % (OLD // 512, NEW // 512)
          in open(dpu.log_path).read(), "kite-dpu did not tell the frontend")
    check(os.path.getsize(img) == NEW, "the image has %d bytes, not %d" % (os.path.getsize(img), NEW))
    print(want)
    print("PASS: the guest saw the resized kite-dpu volume after the configuration-change interrupt")
    return 0


def main():
    return run_test(run, vt_args("--dpu"))


if __name__ == "__main__":
    sys.exit(main())
