#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""virtio-net end to end: a persistent TAP made here, kite attached to it with --net, a packet
socket on the TAP's host side. The guest's frame must arrive on the host with its payload; a
5000-byte frame sent from the host must reach the guest through mergeable receive buffers (the
guest checks every byte and reports the number of buffers).

usage: net_run.py --kite KITE --kernel GUEST [--json | --qemu]
--qemu runs the same guest driver against QEMU's virtio-net-pci on the same kind of TAP.
Exit 0 = pass, 1 = fail, 77 = skip (not root, or no /dev/net/tun).
"""
import argparse
import json
import os
import random
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ETHERTYPE = 0x88b5
MAC = bytes([0x52, 0x54, 0x00, 0x12, 0x34, random.randrange(0x10, 0xf0)])


def sh(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kite", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--json", action="store_true", help="configure the NIC through a JSON file")
    ap.add_argument("--qemu", action="store_true", help="QEMU's virtio-net-pci instead of kite")
    a = ap.parse_args()
    if a.qemu and not shutil.which("qemu-system-x86_64"):
        print("SKIP: qemu-system-x86_64 is not installed")
        return 77
    if os.geteuid() != 0 or not os.path.exists("/dev/net/tun") or not shutil.which("ip"):
        print("SKIP: needs root, /dev/net/tun and ip(8) to make a TAP")
        return 77
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
    except OSError as e:
        print("SKIP: /dev/kvm cannot be opened (%s)" % e.strerror)
        return 77
    tap = "kvt%d" % (os.getpid() % 100000)
    seed = random.randrange(1, 100000)
    tmp = tempfile.mkdtemp(prefix="kite-net-")
    proc = None
    try:
        sh("ip", "tuntap", "add", "dev", tap, "mode", "tap", "vnet_hdr")
        if os.path.exists("/proc/sys/net/ipv6/conf/%s/disable_ipv6" % tap):
            with open("/proc/sys/net/ipv6/conf/%s/disable_ipv6" % tap, "w") as f:
                f.write("1")
        sh("ip", "link", "set", tap, "mtu", "9000", "up")
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETHERTYPE))
        s.bind((tap, ETHERTYPE))
        console = os.path.join(tmp, "console.txt")
        cmd = [a.kite, "--kernel", a.kernel, "--console", "file:" + console,
               "--cmdline", "kite.test=virtio-net kite.seed=%d" % seed]
        mac = ":".join("%02x" % b for b in MAC)
        if a.qemu:
            cmd = ["qemu-system-x86_64", "-accel", "tcg", "-M", "q35", "-m", "128", "-nodefaults",
                   "-display", "none", "-serial", "file:" + console, "-monitor", "none", "-no-reboot",
                   "-device", "isa-debug-exit,iobase=0x501,iosize=1", "-kernel", a.kernel,
                   "-append", "kite.test=virtio-net kite.seed=%d" % seed,
                   "-netdev", "tap,id=n0,ifname=%s,script=no,downscript=no" % tap,
                   "-device", "virtio-net-pci,netdev=n0,mac=%s,disable-legacy=on,host_mtu=9000" % mac]
        elif a.json:
            cfg = os.path.join(tmp, "kite.json")
            with open(cfg, "w") as f:
                json.dump({"net": [{"tap": tap, "mac": mac, "mtu": 9000}]}, f)
            cmd += ["--config", cfg]
        else:
            cmd += ["--net", "tap=%s,mac=%s,mtu=9000" % (tap, mac)]
        print("$ " + " ".join(cmd))
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        want = b"kite-net-tx-%d" % seed
        got = None
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None:
            r, _, _ = select.select([s], [], [], 0.5)
            if not r:
                continue
            pkt = s.recv(65536)
            if pkt[6:12] == MAC and pkt[14:14 + len(want)] == want:
                got = pkt
                break
        if got is None:
            raise RuntimeError("the guest's frame never reached the TAP")
        if got[:6] != b"\xff" * 6 or got[12:14] != bytes([ETHERTYPE >> 8, ETHERTYPE & 0xff]):
            raise RuntimeError("frame header mangled: %s" % got[:14].hex())
        payload = b"kite-net-rx-%d" % seed
        body = bytearray(MAC + bytes([0x02, 0, 0, 0, 0, 1]) + bytes([ETHERTYPE >> 8, ETHERTYPE & 0xff]) + payload)
        body += bytes(((i * 13 + seed) & 0xff) for i in range(len(body), 5000))
        s.send(bytes(body))
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        con = open(console, errors="replace").read() if os.path.exists(console) else ""
        err = err.decode(errors="replace")
        ok = (proc.returncode == (1 if a.qemu else 0) and
              re.search(r"^virtio-net: received \"kite-net-rx-%d\", 5000 bytes in 3 buffers" % seed, con, re.M) and
              (a.qemu or re.search(r"virtio-net0: [1-9]\d* frames sent, [1-9]\d* received", err)))
        if not ok:
            print("FAIL: exit %s\n--- console ---\n%s\n--- stderr ---\n%s" % (proc.returncode, con[-3000:], err[-3000:]))
            return 1
        print("PASS: frame out (%d bytes), 5000-byte frame in over 3 merged buffers" % len(got))
        return 0
    except (RuntimeError, subprocess.CalledProcessError, OSError) as e:
        print("FAIL: %s" % e)
        if proc and proc.poll() is None:
            proc.kill()
            out, err = proc.communicate()
            print(err.decode(errors="replace")[-2000:])
        return 1
    finally:
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait()
        subprocess.run(["ip", "link", "del", tap], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
