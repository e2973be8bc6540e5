#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kite's vhost-user devices against backends nobody here wrote.

qsd:     qemu-storage-daemon --export type=vhost-user-blk on a raw image; the test guest writes its
         pattern (one 4-descriptor request), flushes, reads back and compares, then write-zeroes one
         sector. The host checks the image: the pattern, the zeroed sector, every other byte as before.
testpmd: dpdk-testpmd with a net_vhost port (testpmd is the vhost-user server) in icmpecho mode,
         which answers ARP and ICMP echo requests. The guest resolves 192.0.2.1, pings it with 1200
         payload bytes (every byte of the reply checked), then sends 40 broadcast frames. testpmd's
         final statistics must count exactly the frames the guest sent (ARP + echo + 40) on RX and
         its two answers on TX.

usage: peers.py --kite KITE --kernel GUEST qsd|testpmd
Exit 0 pass, 1 fail, 77 skip (no KVM, or the peer is not installed)."""
import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vtlib import (SECTOR, Kite, check, check_pattern, guest_seed, need, random_image, run_test,  # noqa: E402
                   vt_args, wait_socket)
from netlib import parse_final_stats  # noqa: E402

IMG_BYTES = 1 << 20
FLOOD = 40
MAC = "02:4b:00:00:0d:01"


def qsd(a, wd, procs):
    seed, sector = guest_seed()
    wz = sector + 20
    img, sock = os.path.join(wd, "disk.img"), os.path.join(wd, "qsd.sock")
    orig = random_image(img, IMG_BYTES)
    log = open(os.path.join(wd, "qsd.log"), "w")
    d = procs.add(subprocess.Popen(
        ["qemu-storage-daemon", "--blockdev", "driver=file,node-name=f0,filename=%s,cache.direct=off" % img,
         "--export", "type=vhost-user-blk,id=e0,node-name=f0,addr.type=unix,addr.path=%s,writable=on" % sock],
        stdout=log, stderr=subprocess.STDOUT))
    wait_socket(sock, d, "qemu-storage-daemon")
    vm = Kite(a.kite, a.kernel, wd, "kite", ["--vhost-user-blk", "socket=" + sock],
              "kite.test=virtio-blk kite.seed=%d kite.blk_sector=%d kite.wz_sector=%d" % (seed, sector, wz), procs)
    rc = vm.run(90)
    con = vm.con()
    check(rc == 0, "kite exit status %s, expected 0\n%s" % (rc, vm.dump()))
    check(re.search(r"^kite-guest: PASS virtio-blk$", con, re.M), "the guest did not PASS")
    check(re.search(r"^virtio-blk: write-zeroes of sector %d done$" % wz, con, re.M), "no write-zeroes")
    check(d.poll() is None, "qemu-storage-daemon ended (status %s)" % d.returncode)
    # qsd writes through its own cache: stop it before reading the image
    d.send_signal(signal.SIGTERM)
    d.wait(20)
    data = open(img, "rb").read()
    check(data[wz * SECTOR:(wz + 1) * SECTOR] == bytes(SECTOR), "sector %d was not zeroed" % wz)
    zeroed = orig[:wz * SECTOR] + bytes(SECTOR) + orig[(wz + 1) * SECTOR:]
    check_pattern(data, zeroed, sector, 8, seed, "qemu-storage-daemon's image")
    print("PASS qsd: pattern in sectors %d..%d, sector %d zeroed, nothing else changed" % (sector, sector + 7, wz))
    return 0


def testpmd(a, wd, procs):
    sock = os.path.join(wd, "vhost.sock")
    log_path = os.path.join(wd, "testpmd.log")
    log = open(log_path, "w")
    core = 1 if os.cpu_count() > 1 else 0
    t = procs.add(subprocess.Popen(
        ["dpdk-testpmd", "--lcores=0@%d,1@%d" % (core, core), "--no-huge", "-m", "512", "--no-pci",
         "--file-prefix=kvt%d" % os.getpid(), "--vdev", "net_vhost0,iface=%s,queues=1" % sock, "--",
         "--forward-mode=icmpecho", "--stats-period", "1", "--total-num-mbufs=8192"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
    wait_socket(sock, t, "dpdk-testpmd")
    vm = Kite(a.kite, a.kernel, wd, "kite", ["--vhost-user-net", "socket=%s,mac=%s" % (sock, MAC)],
              "kite.test=virtio-net-ping kite.flood=%d" % FLOOD, procs)
    rc = vm.run(90)
    con = vm.con()
    check(rc == 0, "kite exit status %s, expected 0\n%s" % (rc, vm.dump()))
    check(re.search(r"^virtio-net-ping: echo reply from 192\.0\.2\.1, 1200 payload bytes", con, re.M),
          "the guest got no echo reply from testpmd")
    check(re.search(r"^virtio-net-ping: %d flood frames of 60 bytes sent$" % FLOOD, con, re.M),
          "the guest did not send its flood frames")
    check(t.poll() is None, "dpdk-testpmd ended (status %s)" % t.returncode)
    t.send_signal(signal.SIGINT)
    t.wait(20)
    text = open(log_path, errors="replace").read()
    check("Failed to start device" not in text, "testpmd could not start its port")
    st = parse_final_stats(text).get(0, {})
    check(st.get("fwd_rx") == FLOOD + 2, "testpmd received %s frames, the guest sent %d (ARP, echo, %d flood)"
          % (st.get("fwd_rx"), FLOOD + 2, FLOOD))
    check(st.get("fwd_tx") == 2, "testpmd sent %s frames, expected its ARP and echo replies" % st.get("fwd_tx"))
    print("PASS testpmd: guest ping answered; testpmd counted %d frames in, %d out" % (st["fwd_rx"], st["fwd_tx"]))
    return 0


def main():
    a = vt_args(more=lambda ap: ap.add_argument("peer", choices=("qsd", "testpmd")))
    need("qemu-storage-daemon" if a.peer == "qsd" else "dpdk-testpmd")
    return run_test({"qsd": qsd, "testpmd": testpmd}[a.peer], a)


if __name__ == "__main__":
    sys.exit(main())
