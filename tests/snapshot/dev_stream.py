#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Device state across snapshot and restore, end to end (suite 'snapshot').
usage: dev_stream.py --kite K --kernel B [--dpu D] MODE

MODE:
  blk-pci     the test guest's write stream (guest kite.test=virtio-blk-stream: 512 write requests
              of one sector, one at a time, MSI-X completions) on a PCI virtio-blk drive: pause +
              Full snapshot after 128 writes, kill -9, a new kite loads it and the stream goes on;
              again after 320 writes into a third kite, which finishes: flush, every sector read
              back and compared by the guest, then every sector checked in the image on the host.
              The consoles joined: the stream started once, its progress lines never go back, the
              guest passed. Also: the restored kite's drive counters went on from the saved ones.
  blk-mmio    the same on a virtio-mmio drive, polled (no interrupts).
  net         in a network namespace of its own, a TAP (192.0.2.1) and a PCI virtio-net interface; the guest answers ARP and ICMP echo
              (kite.test=virtio-net-ping kite.respond=1); the host pings it 4 times, pause +
              snapshot, kill -9; a new kite on the same TAP (reopened by name) loads it and the host
              pings 4 more times: every ping answered, the guest's answer count goes on (5, 6, ...:
              no restart). Needs root and /dev/net/tun.
  vhost-blk   the blk-pci stream (4 KiB requests) on a kite-dpu volume (drive "socket"): before the
              snapshot kite stops the rings with GET_VRING_BASE; the restored kite connects to the
              same kite-dpu, starts the rings at the saved bases; every block checked in the image.
              A load whose backend socket is gone is refused with one line naming the socket.
  vhost-net   the net ping stream through a kite-dpu switch: vhost-user-net port vm0 (interface
              "socket") and a TAP uplink with 192.0.2.1; the rings are stopped for the snapshot and
              started at their bases by the restored kite on the same kite-dpu port.
Exit 0 pass, 1 fail, 77 skip.
"""
import argparse
import ctypes
import json
import os
import re
import select
import shutil
import socket as sock
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from snaplib import Kite, check, fault, load_body, need_kvm, run_in_workdir, skip  # noqa: E402

SECTOR = 512


def pattern(sector, i, seed):
    return (sector * 31 + i * 7 + seed) & 0xff


def image_bad_sectors(img, first, count, seed):
    """Sectors of [first, first + count) whose bytes are not the guest's pattern."""
    bad = []
    with open(img, "rb") as f:
        f.seek(first * SECTOR)
        data = f.read(count * SECTOR)
    for s in range(count):
        want = bytes(pattern(first + s, i, seed) for i in range(SECTOR))
        if data[s * SECTOR:(s + 1) * SECTOR] != want:
            bad.append(first + s)
    return bad


def start(args, work, name, cmdline, drives=(), ifaces=(), mem=64):
    k = Kite(args.kite, work, name)
    calls = [("PUT", "/boot-source", {"kernel_image_path": args.kernel, "boot_args": cmdline}),
             ("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": mem})]
    calls += [("PUT", "/drives/" + d["drive_id"], d) for d in drives]
    calls += [("PUT", "/network-interfaces/" + n["iface_id"], n) for n in ifaces]
    calls.append(("PUT", "/actions", {"action_type": "InstanceStart"}))
    for method, path, body in calls:
        code, val = k.call(method, path, body)
        if code != 204:
            k.stop()
            raise RuntimeError("%s %s: %s %s" % (method, path, code, val))
    return k


def snapshot_to(k, work, name):
    d = os.path.join(work, name)
    os.makedirs(d)
    code, val = k.snapshot(d + "/vm.state", d + "/vm.mem")
    check(code == 204, "%s: pause + Full snapshot -> 204 (%s %s)" % (name, code, fault(val)))
    return d


def load(args, work, name, snap):
    k = Kite(args.kite, work, name)
    code, val = k.call("PUT", "/snapshot/load", load_body(snap + "/vm.state", snap + "/vm.mem"))
    check(code == 204, "%s: PUT /snapshot/load (resume_vm) -> 204 (%s %s)" % (name, code, fault(val)))
    return k


def written(text):
    ns = [int(m.group(1)) for m in re.finditer(r"^blk-stream: (\d+) written$", text, re.M)]
    return ns


def blk_stream(args, work, transport, irq, socket=None, img=None, step=1, seed=0x51):
    count = 512
    if img is None:
        img = os.path.join(work, "disk.img")
        with open(img, "wb") as f:
            f.truncate(count * step * SECTOR)
    cmdline = "kite.test=virtio-blk-stream kite.blk_count=%d kite.blk_step=%d kite.seed=%d%s%s" % (
        count, step, seed, " kite.irq=1" if irq else "", " kite.mmio=1" if transport == "mmio" else "")
    drive = {"drive_id": "d0", "is_root_device": False, "transport": transport}
    if socket:
        drive["socket"] = socket
    else:
        drive.update(path_on_host=img, is_read_only=False)
    lives = [start(args, work, "life1", cmdline, drives=[drive])]
    for n, at in ((2, 128), (3, 320)):
        k = lives[-1]
        check(k.wait_for(r"^blk-stream: %d written$" % at, timeout=600) is not None,
              "life %d: the stream reaches %d writes" % (n - 1, at))
        snap = snapshot_to(k, work, "snap%d" % n)
        before = written(k.text())
        cfg = k.call("GET", "/vm/config")[1]
        k.kill9()
        k = load(args, work, "life%d" % n, snap)
        lives.append(k)
        now = k.call("GET", "/vm/config")[1]
        # boot-source: a restored VM was not booted (Firecracker shows none either)
        diff = sorted(key for key in set(cfg) | set(now) if cfg.get(key) != now.get(key) and key != "boot-source")
        check(not diff, "life %d: GET /vm/config has the snapshot's devices and machine (differs in %s: %s / %s)" % (
            n, diff, [cfg.get(x) for x in diff], [now.get(x) for x in diff]))
        check(k.wait_for(r"^blk-stream: %d written$" % (before[-1] + 64), timeout=600) is not None,
              "life %d: the stream goes on past %d writes" % (n, before[-1]))
    k = lives[-1]
    done = k.wait_for(r"^blk-stream: %d requests checked" % count, timeout=900)
    check(done is not None, "life 3: the guest read every request back and found its pattern")
    check(k.wait_for(r"PASS virtio-blk-stream", timeout=60) is not None, "life 3: the guest passed")
    k.stop()
    text = "".join(x.text() for x in lives)
    check(text.count("running test virtio-blk-stream") == 1, "the stream started once over three lives")
    ns = written(text)
    check(ns == list(range(64, count + 1, 64)), "progress lines 64..%d, each once, in order (%s)" % (count, ns))
    check("FAIL" not in text, "no FAIL on any console")
    if socket is None:
        bad = image_bad_sectors(img, 0, count * step, seed)
        check(not bad, "every one of the %d sectors holds its pattern in the image (bad: %s)" % (count * step, bad[:8]))
    return img


def mode_blk(args, work, transport, irq):
    blk_stream(args, work, transport, irq)


def mode_vhost_blk(args, work):
    if not args.dpu:
        skip("no --dpu (kite-dpu) given")
    step, count, seed = 8, 512, 0x52
    vol, vsock = os.path.join(work, "vol0.img"), os.path.join(work, "vol0.sock")
    with open(vol, "wb") as f:
        f.truncate(count * step * SECTOR)
    dcfg = os.path.join(work, "dpu.json")
    with open(dcfg, "w") as f:
        json.dump({"cores": [-1], "volumes": [{"name": "vol0", "image": vol, "socket": vsock}]}, f)
    dpu = subprocess.Popen([args.dpu, "--config", dcfg], stdout=subprocess.DEVNULL,
                           stderr=open(os.path.join(work, "dpu.err"), "w"))
    try:
        end = time.monotonic() + 30   # hang guard
        while not os.path.exists(vsock) and dpu.poll() is None and time.monotonic() < end:
            time.sleep(0.02)
        check(os.path.exists(vsock), "kite-dpu's volume socket appears")
        blk_stream(args, work, "pci", True, socket=vsock, step=step, seed=seed)
        dpu.terminate()
        dpu.wait(timeout=30)
        bad = image_bad_sectors(vol, 0, count * step, seed)
        check(not bad, "every one of the %d sectors holds its pattern in kite-dpu's image (bad: %s)" %
              (count * step, bad[:8]))
        # the last snapshot taken on kite-dpu, loaded with kite-dpu gone: refused naming the socket
        k = Kite(args.kite, work, "nodpu")
        code, val = k.call("PUT", "/snapshot/load", load_body(work + "/snap3/vm.state", work + "/snap3/vm.mem"))
        check(code == 400 and vsock in fault(val) and "\n" not in fault(val),
              "a load without the backend is refused in one line naming its socket (%s %s)" % (code, fault(val)))
        check(k.text() == "", "... and no guest code ran")
        k.stop()
    finally:
        if dpu.poll() is None:
            dpu.kill()
            dpu.wait()


def sh(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def icmp_checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff


def ping(addr, seq, timeout=10):
    """One ICMP echo from the host's stack (raw socket); True when the matching reply came back.
    timeout is a hang guard: an unanswered echo is a failure whatever the delay."""
    ident = os.getpid() & 0xffff
    payload = b"kite-snapshot-%d" % seq
    hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    pkt = struct.pack("!BBHHH", 8, 0, icmp_checksum(hdr + payload), ident, seq) + payload
    s = sock.socket(sock.AF_INET, sock.SOCK_RAW, sock.IPPROTO_ICMP)
    try:
        s.sendto(pkt, (addr, 0))
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            r, _, _ = select.select([s], [], [], 0.5)
            if not r:
                continue
            data, src = s.recvfrom(4096)
            ihl = (data[0] & 0x0f) * 4
            typ, _, _, rid, rseq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
            if src[0] == addr and typ == 0 and rid == ident and rseq == seq and data[ihl + 8:] == payload:
                return True
        return False
    finally:
        s.close()


def answered(text):
    return [int(m.group(1)) for m in re.finditer(r"^virtio-net-ping: answered echo request (\d+) ", text, re.M)]


def ping_stream(args, work, iface):
    """The guest answers echo requests: 4 pings, snapshot, kill -9, restore, 4 more."""
    k = start(args, work, "life1", "kite.test=virtio-net-ping kite.respond=1", ifaces=[iface])
    check(k.wait_for(r"^virtio-net-ping: answering ARP", timeout=300) is not None, "life 1: the guest answers")
    ok1 = [ping("192.0.2.2", i) for i in range(1, 5)]
    check(all(ok1), "life 1: 4 pings answered (%s)" % ok1)
    # The guest prints its answer line after the reply left: wait (hang guard) for 4 whole lines, or
    # the snapshot can cut the last one in the middle and the count below misses it.
    end = time.monotonic() + 30
    while len(re.findall(r"^virtio-net-ping: answered echo request \d+ .*\n", k.text(), re.M)) < 4 \
            and time.monotonic() < end:
        time.sleep(0.05)
    snap = snapshot_to(k, work, "snap")
    n1 = answered(k.text())
    k.kill9()
    k2 = load(args, work, "life2", snap)
    ok2 = [ping("192.0.2.2", i) for i in range(5, 9)]
    check(all(ok2), "life 2: 4 pings answered by the restored guest (%s)" % ok2)
    log = k2.log()
    k2.stop()
    n2 = answered(k2.text())
    check(n1 and n2 and n2[0] == n1[-1] + 1 and n2 == list(range(n2[0], n2[0] + len(n2))),
          "the guest's answer count goes on across the restore (%s then %s)" % (n1, n2))
    check("running test" not in k2.text(), "life 2: the guest did not start again")
    return log


def own_netns():
    """A network namespace of our own (inherited by the kites and kite-dpu): 192.0.2.0/24 is ours
    alone there."""
    if os.geteuid() != 0 or not os.path.exists("/dev/net/tun") or not shutil.which("ip"):
        skip("needs root, /dev/net/tun and ip(8)")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x40000000) != 0:   # CLONE_NEWNET
        skip("cannot make a network namespace: %s" % os.strerror(ctypes.get_errno()))
    sh("ip", "link", "set", "lo", "up")


def mode_net(args, work):
    own_netns()
    tap = "ksn%d" % (os.getpid() % 100000)
    try:
        sh("ip", "tuntap", "add", "dev", tap, "mode", "tap", "vnet_hdr")
        sh("ip", "addr", "add", "192.0.2.1/24", "dev", tap)
        sh("ip", "link", "set", tap, "up")
        ping_stream(args, work, {"iface_id": "eth0", "host_dev_name": tap, "guest_mac": "52:54:00:4b:54:02",
                                 "transport": "pci"})
    finally:
        subprocess.run(["ip", "link", "del", tap], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def mode_vhost_net(args, work):
    if not args.dpu:
        skip("no --dpu (kite-dpu) given")
    own_netns()
    sock = os.path.join(work, "vm0.sock")
    cfg = os.path.join(work, "dpu.json")
    with open(cfg, "w") as f:
        json.dump({"cores": [-1], "switch": {"ports": [{"name": "vm0", "type": "vhost", "socket": sock},
                                                       {"name": "up", "type": "tap", "ifname": "ksu0"}]}}, f)
    dpu = subprocess.Popen([args.dpu, "--config", cfg], stdout=subprocess.DEVNULL,
                           stderr=open(os.path.join(work, "dpu.err"), "w"))
    try:
        end = time.monotonic() + 30   # hang guard
        while not (os.path.exists(sock) and os.path.exists("/sys/class/net/ksu0")) and dpu.poll() is None \
                and time.monotonic() < end:
            time.sleep(0.02)
        check(os.path.exists(sock), "kite-dpu's switch port socket appears")
        sh("ip", "addr", "add", "192.0.2.1/24", "dev", "ksu0")
        sh("ip", "link", "set", "ksu0", "up")
        log = ping_stream(args, work, {"iface_id": "eth0", "socket": sock, "guest_mac": "52:54:00:4b:54:03",
                                       "transport": "pci"})
        check(re.search(r"vhost-user-net0: rings restored on backend " + re.escape(sock), log) is not None,
              "life 2: kite started the rings on kite-dpu at the snapshot's bases")
    finally:
        if dpu.poll() is None:
            dpu.kill()
            dpu.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kite", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--dpu")
    ap.add_argument("mode", choices=["blk-pci", "blk-mmio", "net", "vhost-blk", "vhost-net"])
    args = ap.parse_args()
    need_kvm()
    modes = {"blk-pci": lambda a, w: mode_blk(a, w, "pci", True), "blk-mmio": lambda a, w: mode_blk(a, w, "mmio", False),
             "net": mode_net, "vhost-blk": mode_vhost_blk, "vhost-net": mode_vhost_net}
    run_in_workdir(modes[args.mode], args, "kite-snapdev-")

if __name__ == "__main__":
    main()
