#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kite's virtio-net against the Linux network stack, inside a private network namespace.

usage: net_ping.py --kite KITE --kernel GUEST MODE      (MODE: ping | rate | bps | evil | qemu | tso | tcprx | mmio
                                                          | packed | qemu-packed)

The namespace kite-t-<pid> gets a persistent TAP kt0 (vnet_hdr) with 192.0.2.1/24 (TEST-NET-1,
nothing leaves the namespace); kite runs inside it (ip netns exec) with --net tap=kt0,mac=MAC and
the guest test virtio-net-ping (192.0.2.2). tcpdump captures kt0 for the whole run. The namespace
is always deleted at the end.

ping: the guest sends an oversized frame (kite must drop and count it), an ARP request and an ICMP
      echo request with a device-computed checksum, then 5 flood frames. Checked: the guest printed
      the ARP reply with kt0's MAC and the echo reply (2 merged buffers); the capture holds exactly
      the guest's 7 frames from MAC (ARP request, echo request, 5 flood) and none oversized, plus
      the ARP and echo replies to MAC; kt0's RX counter is 7; kite logged 1 oversized drop.
rate: pps=20,burst=5 (given in a JSON --config file) and 60 flood frames. Frames from the guest seen by the host (C = 62) must obey
      C <= burst + pps * elapsed, elapsed being the measured kite run time, and kite must report
      throttling.
bps:  bps=20000 (burst: one second's worth) and 60 flood frames of 1000 bytes: the bytes of the
      frames from the guest must obey B <= 20000 + 20000 * elapsed.
evil: after the ping the guest publishes a transmit descriptor outside its RAM: kite must report
      the broken queue and DEVICE_NEEDS_RESET; after a reset the guest's second ARP exchange works.
tso:  after the ping one 3054-byte TCP frame with a GSO header (TCPV4, gso_size 1000, device
      checksum) to the closed port 9: it must reach the host whole (captured, > MTU) and Linux must
      answer with a reset acknowledging all 3000 bytes (checked by the guest).
mmio: ARP + ICMP echo with the device on virtio-mmio (transport=mmio) instead of PCI.
tcprx: GUEST_CSUM + GUEST_TSO4: a Python server in the namespace (192.0.2.1:5000) sends 5000 bytes
      over TCP to the guest, which must get them whole and in order with at least one GSO frame
      (the TAP offload follows the negotiated features, kite passes the large frame over merged
      buffers).
qemu: the same guest driver (ARP + ICMP echo with device checksum, merged buffers) against QEMU's
      virtio-net-pci on the same TAP: the driver follows the spec, not just kite.
packed, qemu-packed: ping and qemu with the guest driver on packed rings (kite.packed=1: RING_PACKED
      must be negotiated; QEMU's device gets packed=on).
Exit 0 pass, 1 fail, 77 skip (not root, no ip/tcpdump, no /dev/net/tun or /dev/kvm).
"""
import argparse
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lib"))
from netns import Netns  # noqa: E402
from kite_run import skip  # noqa: E402

MAC = "52:54:00:4b:69:74"
# tcprx: accept one connection on 192.0.2.1:5000, send N pattern bytes, wait for the guest's reset.
SERVER = """
import socket, sys
n = int(sys.argv[1])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("192.0.2.1", 5000))
s.listen(1)
s.settimeout(60)
print("listening", flush=True)
c, addr = s.accept()
c.sendall(bytes((i * 5) % 251 for i in range(n)))
c.settimeout(30)
try:
    c.recv(1)
except OSError:
    pass
print("sent %d to %s" % (n, addr[0]), flush=True)
"""
HOST_IP = "192.0.2.1"


def read_pcap(path):
    """Frames of a classic pcap file (Ethernet link type)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return []
    magic = struct.unpack("<I", data[:4])[0]
    end = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
    frames, off = [], 24
    while off + 16 <= len(data):
        _, _, incl, orig = struct.unpack(end + "IIII", data[off:off + 16])
        frames.append((data[off + 16:off + 16 + incl], orig))
        off += 16 + incl
    return frames


def mac_bytes(s):
    return bytes(int(x, 16) for x in s.split(":"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kite", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("mode", choices=["ping", "rate", "bps", "evil", "qemu", "tso", "tcprx", "mmio", "packed", "qemu-packed"])
    a = ap.parse_args()
    a.packed = a.mode.endswith("packed")
    a.mode = {"packed": "ping", "qemu-packed": "qemu"}.get(a.mode, a.mode)

    if os.geteuid() != 0:
        skip("needs root (network namespaces, TAP)")
    for prog in ("ip", "tcpdump") + (("qemu-system-x86_64",) if a.mode == "qemu" else ()):
        if not shutil.which(prog):
            skip("%s is not installed" % prog)
    for dev in ("/dev/net/tun", "/dev/kvm"):
        try:
            os.close(os.open(dev, os.O_RDWR))
        except OSError as e:
            skip("%s cannot be opened (%s)" % (dev, e.strerror))

    tmp = tempfile.mkdtemp(prefix="kite-net-")
    cap = srv = ns = None
    try:
        ns = Netns("kite-t")
        ns.tap("kt0", up=False)
        ns.run("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
        ns.ip("addr", "add", HOST_IP + "/24", "dev", "kt0")
        ns.ip("link", "set", "kt0", "up")
        host_mac = json.loads(ns.ip("-j", "link", "show", "kt0").stdout)[0]["address"]

        pcap = os.path.join(tmp, "kt0.pcap")
        cap = subprocess.Popen(ns.exec_prefix + ["tcpdump", "-Z", "root", "--immediate-mode", "-n", "-U", "-s", "256", "-i", "kt0",
                                "-w", pcap], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        line = cap.stderr.readline()       # "listening on kt0 ..." once the capture runs
        if "listening" not in line:
            print("FAIL: tcpdump did not start: " + line.strip())
            return 1

        cmdline = "kite.test=virtio-net-ping kite.native=1 kite.csum=1"
        if a.packed:
            cmdline += " kite.packed=1"
        spec = "tap=kt0,mac=" + MAC
        arps, flood = 1, 0
        if a.mode == "ping":
            cmdline += " kite.oversize=1 kite.flood=5"
            flood = 5
        elif a.mode == "evil":
            cmdline += " kite.evil=1"
            flood, arps = 0, 2
        elif a.mode == "qemu":
            flood = 0
        elif a.mode == "tso":
            cmdline += " kite.tso=3000"
            flood = 1                      # the TSO frame counts like one more frame from the guest
        elif a.mode == "tcprx":
            cmdline += " kite.tcp_rx=5000"
            srv = subprocess.Popen(ns.exec_prefix + ["python3", "-c", SERVER, "5000"],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if "listening" not in srv.stdout.readline():
                print("FAIL: the TCP server did not start")
                return 1
        elif a.mode == "bps":
            bps, flood = 20000, 60
            cmdline += " kite.flood=60 kite.flood_size=1000"
            spec += ",bps=%d" % bps
        elif a.mode == "rate":
            pps, burst, flood = 20, 5, 60
            cmdline += " kite.flood=%d" % flood
            spec = None                    # the device comes from a JSON file this time
            conf = os.path.join(tmp, "kite.json")
            with open(conf, "w") as f:
                json.dump({"net": [{"tap": "kt0", "mac": MAC, "pps": pps, "burst": burst}]}, f)
        if a.mode == "mmio":
            cmdline += " kite.mmio=1"
            spec += ",transport=mmio"
        cmd = ns.exec_prefix + ["timeout", "90", a.kite, "--kernel", a.kernel, "--console", "stdio",
               "--cmdline", cmdline] + (["--net", spec] if spec else ["--config", conf])
        if a.mode == "qemu":
            cmd = ns.exec_prefix + ["timeout", "90", "qemu-system-x86_64", "-accel", "tcg", "-M", "q35",
                   "-m", "128", "-nodefaults", "-nographic", "-serial", "stdio", "-monitor", "none",
                   "-device", "isa-debug-exit,iobase=0x501,iosize=1", "-kernel", a.kernel, "-append", cmdline,
                   "-netdev", "tap,id=n0,ifname=kt0,script=no,downscript=no,vnet_hdr=on",
                   "-device", "virtio-net-pci,netdev=n0,mac=%s,disable-legacy=on%s" % (MAC, ",packed=on" if a.packed else "")]
        t0 = time.monotonic()
        r = subprocess.run(cmd, capture_output=True, text=True)
        elapsed = time.monotonic() - t0
        time.sleep(0.5)                    # let tcpdump write the last frames
        stats = json.loads(ns.ip("-s", "-j", "link", "show", "kt0").stdout)[0]["stats64"]
        cap.terminate()
        cap.wait(timeout=10)
        cap = None
        out, err = r.stdout, r.stderr
        print(out + err)
        print("elapsed %.3f s, kt0 stats %s" % (elapsed, stats))

        fails = []
        if r.returncode != (1 if a.mode == "qemu" else 0):      # QEMU's debug exit: (0 << 1) | 1
            fails.append("the VMM exited with %d" % r.returncode)
        if "kite-guest: PASS virtio-net-ping" not in out:
            fails.append("the guest did not pass")
        if ("ARP reply: %s is at %s" % (HOST_IP, host_mac)) not in out:
            fails.append("no ARP reply with kt0's MAC %s in the guest's output" % host_mac)
        if not re.search(r"echo reply from 192\.0\.2\.1, 1200 payload bytes in [2-9] buffers", out):
            fails.append("no echo reply over merged buffers in the guest's output")

        frames = read_pcap(pcap)
        mine, to_me = mac_bytes(MAC), mac_bytes(MAC)
        from_guest = [(f, n) for f, n in frames if f[6:12] == mine]
        to_guest = [f for f, _ in frames if f[0:6] == to_me]
        arp_req = [f for f, _ in from_guest if f[12:14] == b"\x08\x06" and f[20:22] == b"\x00\x01"]
        icmp_req = [f for f, _ in from_guest if f[12:14] == b"\x08\x00" and len(f) > 34 and f[23] == 1 and f[34] == 8]
        arp_rep = [f for f in to_guest if f[12:14] == b"\x08\x06" and f[20:22] == b"\x00\x02"]
        icmp_rep = [f for f in to_guest if f[12:14] == b"\x08\x00" and len(f) > 34 and f[23] == 1 and f[34] == 0]
        print("capture: %d frames, %d from %s, %d to it" % (len(frames), len(from_guest), MAC, len(to_guest)))
        want = flood + arps + 1
        if len(arp_req) != arps or len(icmp_req) != 1 or len(arp_rep) < 1 or len(icmp_rep) < 1:
            fails.append("capture: ARP req %d, echo req %d, ARP reply %d, echo reply %d (want %d, 1, >=1, >=1)" %
                         (len(arp_req), len(icmp_req), len(arp_rep), len(icmp_rep), arps))
        if a.mode == "tcprx":
            want = len(from_guest)         # SYN, ACKs and RST besides ARP and ICMP: not counted
            srv_out = srv.communicate(timeout=30)[0]
            srv = None
            if "sent 5000 to 192.0.2.2" not in srv_out:
                fails.append("the TCP server did not send its 5000 bytes: " + srv_out.strip())
            if not re.search(r"received 5000 TCP bytes in \d+ frames, [1-9]\d* of them GSO", out):
                fails.append("the guest did not receive the 5000 bytes with a GSO frame")
        if len(from_guest) != want:
            fails.append("capture: %d frames from %s, want %d" % (len(from_guest), MAC, want))
        if stats["rx"]["packets"] != want:
            fails.append("kt0 received %d packets, want %d" % (stats["rx"]["packets"], want))
        if a.mode == "tso":
            big = [n for f, n in from_guest if n == 3054 and f[12:14] == b"\x08\x00" and f[23] == 6]
            if len(big) != 1:
                fails.append("the 3054-byte TSO frame was not captured whole (%s)" % [n for _, n in from_guest])
            if "TSO frame answered by a TCP reset acknowledging all 3000 bytes" not in out:
                fails.append("the guest saw no reset acknowledging the whole TSO frame")
            if "0 bad headers" not in err:
                fails.append("kite dropped the TSO frame's header")
        elif any(n > 1518 for _, n in from_guest):
            fails.append("an oversized frame reached the host")

        if a.packed:
            if len(re.findall(r"^virtio: slot \d+ queue [01]: packed ring of \d+$", out, re.M)) != 2:
                fails.append("the guest driver did not set up two packed rings")
            if a.mode != "qemu" and not re.search(r"virtio-net0: driver ready, features 0x[0-9a-f]+, packed rings", err):
                fails.append("kite did not report RING_PACKED negotiated")
        if a.mode == "ping":
            if "virtio-net0: 7 frames sent, 2 received, 1 dropped (1 oversized, 0 bad headers)" not in err:
                fails.append("kite did not count the oversized frame as dropped")
        elif a.mode == "evil":
            if not re.search(r"virtio-net0: queue 1 broken by the driver: .*device needs reset", err):
                fails.append("kite did not report the broken transmit queue")
            for line in ("descriptor outside RAM: device reports DEVICE_NEEDS_RESET",
                         "after reset the device works again"):
                if "virtio-net-ping: " + line not in out:
                    fails.append("guest did not print '%s'" % line)
        elif a.mode == "bps":
            nbytes = sum(n for _, n in from_guest)
            bound = bps + bps * elapsed
            print("bps: %d bytes from the guest in %.3f s; bound burst + bps * elapsed = %.0f" %
                  (nbytes, elapsed, bound))
            if nbytes > bound:
                fails.append("%d bytes exceed the bound %.0f" % (nbytes, bound))
            m = re.search(r"throttled (\d+) times", err)
            if not m or int(m.group(1)) == 0:
                fails.append("kite never throttled")
        elif a.mode == "rate":
            bound = burst + pps * elapsed
            print("rate: %d frames from the guest in %.3f s; bound burst + pps * elapsed = %.1f" %
                  (len(from_guest), elapsed, bound))
            if len(from_guest) > bound:
                fails.append("%d frames exceed the bound %.1f" % (len(from_guest), bound))
            m = re.search(r"throttled (\d+) times", err)
            if not m or int(m.group(1)) == 0:
                fails.append("kite never throttled")
        for f in fails:
            print("FAIL: " + f)
        return 1 if fails else 0
    finally:
        for p in (cap, srv):
            if p:
                p.terminate()
                p.wait(timeout=10)
        if ns:
            ns.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
