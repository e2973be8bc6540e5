#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kite's multiqueue virtio-net (--net tap=NAME,queues=N) on a multiqueue TAP, in a network
namespace of this process's own (unshare: nothing outside sees it, it goes away with the process).

usage: net_mq.py --kite KITE --kernel GUEST MODE
       (MODE: mq2 | mq4 | rate | nocvq | unready | persistent | snapshot)

mq2, mq4: a persistent multi_queue TAP kq0 (192.0.2.1/24), kite with queues=2 (4) and the test guest
      virtio-net-mq (guest/virtio/net_mq.c). Checked, with a packet socket on kq0 opened before kite
      starts: the guest's bad VQ_PAIRS_SET values were answered VIRTIO_NET_ERR and kite logged one
      control-queue line for all of them; K tagged frames sent on every queue pair reached kq0
      (each pair's tags, every sequence number) and kite counted K sent on every pair; 32 UDP flows
      injected into kq0 reached the guest whole, on at least 2 receive queues (the kernel steers by
      flow hash across the attached TAP queues); after VQ_PAIRS_SET 1 (mq2) or 2 (mq4) 32 more
      flows reached the guest whole and only on the pairs still running (the others' TAP queues are
      detached: a queue left attached would take frames nobody reads). kite --stats per queue pair
      (mq2, mq4, rate): the frames and bytes each pair sent equal the guest's, those it received equal
      what the guest counted on that queue over both rounds, no drops.
rate: queues=2 with pps=20,burst=5: the 30 frames the guest sends on two pairs (15 each) must obey
      one bucket for the device: C <= burst + pps * span + 2, span = first to last frame as the
      kernel timestamped them on kq0 (two buckets of the same size would pass 10 frames more).
nocvq: the guest negotiates MQ without CTRL_VQ: kite must report DEVICE_NEEDS_RESET with the reason.
unready: queues=4, the guest sets up pair 0 only and asks for 4 pairs; 32 injected flows (most
      steered to fds of pairs without a ring): the guest gets frames on queue 0 and waits ~2 s;
      kite's I/O thread must have used < 50 ms of CPU (a thread that keeps waking on fds it cannot
      serve burns the whole wait; a sound one ~5 ms).
persistent: kq1 is a persistent TAP made without multi_queue: kite with queues=2 must exit 1 with one
      error line naming kq1 and multi_queue; the TAP is still there. Then kq2, a persistent multi_queue
      TAP, with queues=1 (the default): kite says it opened it with IFF_MULTI_QUEUE, the guest's 50
      netbench frames reach kq2, and kite --stats counts 50 frames (3000 bytes) sent on pair 0.
snapshot: through the API (network interface with "queues": 2, shown by GET /vm/config) the guest
      runs 2 pairs and waits for frames; GET /metrics per pair (net_eth0_pair0/1) shows the one frame
      each pair sent; pause, Full snapshot, kill -9. Restored in a new kite, 32
      injected flows must reach the guest on both queues (the running pair count came back: pair 1's
      fd attached again; GET /metrics per pair, counted from 0 in the new kite, equals the guest's
      per-queue counts), then VQ_PAIRS_SET 1 and 32 more on queue 0 alone. The same snapshot with its
      virtio-net section rewritten as version 1 (no pair fields, as kite wrote it before multiqueue)
      restores with one pair running: all 32 flows on queue 0, none lost.
Exit 0 pass, 1 fail, 77 skip (not root, no ip, no /dev/net/tun or /dev/kvm).
"""
import argparse
import ctypes
import json
import os
import queue
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lib"))
from kite_run import skip  # noqa: E402

MAC = "52:54:00:4b:6d:71"
HOST_IP, GUEST_IP = "192.0.2.1", "192.0.2.2"
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SO_TIMESTAMPNS = 35


def sh(*args):
    r = subprocess.run(list(args), capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(args), r.returncode, r.stderr.strip()))
    return r.stdout


def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def udp_frame(dst_mac, src_mac, sport):
    """An IPv4 UDP frame 192.0.2.1:sport -> 192.0.2.2:7001 with 18 payload bytes."""
    payload = b"kite-mq-rx-%07d" % sport
    udp = struct.pack("!HHHH", sport, 7001, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0,
                     socket.inet_aton(HOST_IP), socket.inet_aton(GUEST_IP))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return dst_mac + src_mac + b"\x08\x00" + ip + udp


class Capture:
    """Frames kq0 received from kite (not the ones this process injected), with kernel timestamps."""

    def __init__(self, ifname):
        self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
        self.s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.s.bind((ifname, 0))
        self.s.setblocking(False)

    def drain(self):
        frames = []
        while True:
            try:
                data, anc, _, addr = self.s.recvmsg(4096, 64)
            except BlockingIOError:
                return frames
            if addr[2] == PACKET_OUTGOING:
                continue
            ts = None
            for lvl, typ, val in anc:
                if lvl == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS and len(val) >= 16:
                    sec, nsec = struct.unpack("qq", val[:16])
                    ts = sec + nsec / 1e9
            frames.append((data, ts))


def run_guest(a, spec, cmdline, inject_to=None, src_mac=None, timeout=90, ready=None):
    """Run kite with the guest; on each 'ready for N frames' line (or a line matching `ready`: 32)
    inject N UDP flows (fresh source ports each round) into kq0. Returns (exit status, stdout, stderr)."""
    cmd = ["timeout", str(timeout), a.kite, "--kernel", a.kernel, "--console", "stdio", "--memory", "64", "--stats",
           "--cmdline", "kite.test=virtio-net-mq kite.native=1 " + cmdline]
    cmd += ["--config", spec] if spec.endswith(".json") else ["--net", spec]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines, out = queue.Queue(), []
    err_box = []
    threading.Thread(target=lambda: err_box.append(p.stderr.read()), daemon=True).start()

    def reader():
        for line in p.stdout:
            lines.put(line)
        lines.put(None)
    threading.Thread(target=reader, daemon=True).start()
    inj = None
    if inject_to:
        inj = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        inj.bind((inject_to, 0))
    sport = 20000
    while True:
        line = lines.get()
        if line is None:
            break
        out.append(line)
        m = re.match(r"virtio-net-mq: ready for (\d+) frames", line)
        n = int(m.group(1)) if m else 32 if ready and re.match(ready, line) else 0
        if n and inj:
            for _ in range(n):
                inj.send(udp_frame(bytes.fromhex(MAC.replace(":", "")), src_mac, sport))
                sport += 1
    p.wait()
    time.sleep(0.1)
    return p.returncode, "".join(out), err_box[0] if err_box else ""


def pair_stats(err):
    """kite --stats' per queue pair lines of virtio-net0: {pair: {counter: value}}."""
    return {int(m.group(1)): {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
            for m in re.finditer(r"^kite: stats: net:virtio-net0: pair=(\d+) (.*)$", err, re.M)}


def pair_metrics(text, iface):
    """GET /metrics' per queue pair counters of `iface`: {pair: {counter: value}}."""
    out = {}
    for m in re.finditer(r'^kite_(\w+)\{device="net_%s_pair(\d+)"\} (\d+)$' % re.escape(iface), text, re.M):
        out.setdefault(int(m.group(2)), {})[m.group(1)] = int(m.group(3))
    return out


def check_pairs(check, where, got, want_tx, want_rx, frame=60):
    """Per-pair counters `got` ({pair: {...}}) against the frames the guest sent (want_tx[p]) and counted
    (want_rx[p]) on each pair: exact counts, bytes of `frame`-byte frames, no drops."""
    check(sorted(got) == list(range(len(want_tx))), "%s: counters for pairs %s, want 0..%d" %
          (where, sorted(got), len(want_tx) - 1))
    for p in range(len(want_tx)):
        c = got.get(p, {})
        want = {"tx_packets_count": want_tx[p], "tx_bytes_count": want_tx[p] * frame, "tx_fails": 0,
                "rx_packets_count": want_rx[p], "rx_bytes_count": want_rx[p] * frame, "rx_fails": 0}
        check(all(c.get(k) == v for k, v in want.items()), "%s: pair %d counted %s, want %s" % (where, p, c, want))


def per_queue(out):
    return [[int(x) for x in m.group(2).split()] for m in
            re.finditer(r"^virtio-net-mq: received (\d+) frames, per queue:((?: \d+)+)$", out, re.M)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kite", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("mode", choices=["mq2", "mq4", "rate", "nocvq", "unready", "persistent", "snapshot"])
    a = ap.parse_args()
    if os.geteuid() != 0:
        skip("needs root (network namespace, TAP)")
    if not shutil.which("ip"):
        skip("ip is not installed")
    for dev in ("/dev/net/tun", "/dev/kvm"):
        try:
            os.close(os.open(dev, os.O_RDWR))
        except OSError as e:
            skip("%s cannot be opened (%s)" % (dev, e.strerror))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x40000000) != 0:   # CLONE_NEWNET: this process alone
        skip("cannot make a network namespace: %s" % os.strerror(ctypes.get_errno()))
    sh("ip", "link", "set", "lo", "up")
    sh("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
    sh("sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")
    fails = []

    def check(ok, what):
        if not ok:
            fails.append(what)
        return ok

    if a.mode == "persistent":
        sh("ip", "tuntap", "add", "dev", "kq1", "mode", "tap", "vnet_hdr")
        rc, out, err = run_guest(a, "tap=kq1,queues=2", "", timeout=30)
        print(out + err)
        check(rc == 1, "kite exited with %d, want 1" % rc)
        lines = [l for l in err.splitlines() if "kq1" in l and "multi_queue" in l]
        check(len(lines) == 1 and "queues=2 needs a multiqueue TAP" in lines[0],
              "no single error line naming kq1 and multi_queue: %s" % lines)
        check("kite-guest:" not in out, "the guest ran")
        check(subprocess.run(["ip", "link", "show", "kq1"], capture_output=True).returncode == 0,
              "the persistent TAP kq1 is gone")
        # the reverse: a persistent multi_queue TAP with queues=1 (the default) refuses a plain open;
        # kite opens its one queue with IFF_MULTI_QUEUE, and the guest's frames reach it
        sh("ip", "tuntap", "add", "dev", "kq2", "mode", "tap", "multi_queue", "vnet_hdr")
        sh("ip", "link", "set", "kq2", "up")
        cap2 = Capture("kq2")
        r = subprocess.run(["timeout", "30", a.kite, "--kernel", a.kernel, "--console", "stdio", "--memory", "64",
                            "--stats", "--net", "tap=kq2", "--cmdline",
                            "kite.test=netbench kite.native=1 kite.ops=50 kite.qd=8"], capture_output=True, text=True)
        print(r.stdout + r.stderr)
        sent = [f for f, _ in cap2.drain() if len(f) >= 27 and f[12:14] == b"\x88\xb5" and f[14:27] == b"kite-netbench"]
        check(r.returncode == 0 and "kite-guest: PASS" in r.stdout, "queues=1 on multi_queue kq2: kite exited %d" %
              r.returncode)
        check("virtio-net0: TAP kq2 is a multiqueue TAP: its queue opened with IFF_MULTI_QUEUE" in r.stderr,
              "kite did not say it opened kq2 as a multiqueue TAP")
        check(len(sent) == 50, "kq2 got %d of the guest's 50 frames" % len(sent))
        check_pairs(check, "queues=1 on kq2 (--stats)", pair_stats(r.stderr), [50], [0])
        return report(fails)

    sh("ip", "tuntap", "add", "dev", "kq0", "mode", "tap", "multi_queue", "vnet_hdr")
    sh("ip", "addr", "add", HOST_IP + "/24", "dev", "kq0")
    sh("ip", "link", "set", "kq0", "up")
    host_mac = bytes.fromhex(json.loads(sh("ip", "-j", "link", "show", "kq0"))[0]["address"].replace(":", ""))
    cap = Capture("kq0")

    if a.mode == "snapshot":
        mode_snapshot(a, host_mac, check)
        return report(fails)

    if a.mode == "unready":
        rc, out, err = run_guest(a, "tap=kq0,queues=4,mac=" + MAC, "kite.mq_unready=1 kite.mq_rx=32",
                                 inject_to="kq0", src_mac=host_mac, ready=r"virtio-net-mq: ready with pairs")
        print(out + err)
        check(rc == 0 and "kite-guest: PASS virtio-net-mq" in out, "the guest did not pass (exit %d)" % rc)
        m = re.search(r"virtio-net0: its I/O thread used (\d+) us of CPU", err)
        check(m and int(m.group(1)) < 50000, "kite's I/O thread used %s us of CPU (< 50000 wanted)" %
              (m.group(1) if m else "?"))
        return report(fails)

    if a.mode == "nocvq":
        rc, out, err = run_guest(a, "tap=kq0,queues=2,mac=" + MAC, "kite.mq_nocvq=1", timeout=60)
        print(out + err)
        check(rc == 0 and "kite-guest: PASS virtio-net-mq" in out, "the guest did not pass (exit %d)" % rc)
        check("MQ without CTRL_VQ: device reports DEVICE_NEEDS_RESET" in out, "the guest saw no DEVICE_NEEDS_RESET")
        check(re.search(r"virtio-net0: driver took VIRTIO_NET_F_MQ without VIRTIO_NET_F_CTRL_VQ .*device needs reset",
                        err), "kite did not log why the device needs a reset")
        return report(fails)

    pairs, fewer, ntx, nrx = {"mq2": (2, 1, 8, 32), "mq4": (4, 2, 8, 32), "rate": (2, 0, 15, 4)}[a.mode]
    spec = "tap=kq0,queues=%d,mac=%s" % (pairs, MAC)
    if a.mode == "rate":
        conf = "/tmp/kite-net-mq-%d.json" % os.getpid()
        with open(conf, "w") as f:
            json.dump({"net": [{"tap": "kq0", "mac": MAC, "queues": pairs, "pps": 20, "burst": 5}]}, f)
        spec = conf
    try:
        rc, out, err = run_guest(a, spec, "kite.mq_tx=%d kite.mq_rx=%d kite.mq_fewer=%d" % (ntx, nrx, fewer),
                                 inject_to="kq0", src_mac=host_mac)
    finally:
        if a.mode == "rate":
            os.unlink(conf)
    print(out + err)
    frames = cap.drain()
    tagged = [(f, ts) for f, ts in frames if len(f) >= 20 and f[12:14] == b"\x88\xb5" and f[14:17] == b"kmq"]
    print("kq0 got %d frames from kite, %d tagged" % (len(frames), len(tagged)))
    check(rc == 0 and "kite-guest: PASS virtio-net-mq" in out, "the guest did not pass (exit %d)" % rc)
    check(("%d queue pairs (multiqueue TAP)" % pairs) in err, "kite did not report %d queue pairs" % pairs)
    for p in range(pairs):
        seqs = sorted(f[18] << 8 | f[19] for f, _ in tagged if f[17] == p)
        check(seqs == list(range(ntx)), "pair %d: kq0 got sequences %s, want 0..%d" % (p, seqs, ntx - 1))
        check(re.search(r"[;,] pair %d: %d sent, " % (p, ntx), err), "kite did not count %d frames sent on pair %d" % (ntx, p))
    check(len(tagged) == pairs * ntx, "%d tagged frames on kq0, want %d" % (len(tagged), pairs * ntx))
    for what in ("VQ_PAIRS_SET 0 -> ERR", "VQ_PAIRS_SET max_virtqueue_pairs+1 -> ERR", "VQ_PAIRS_SET 65535 -> ERR",
                 "VQ_PAIRS_SET with 3 data bytes -> ERR", "class 127 command 127 -> ERR",
                 "VQ_PAIRS_SET %d -> OK" % pairs):
        check(what in out, "the guest did not print '%s'" % what)
    ctrl_lines = [l for l in err.splitlines() if "control queue:" in l]
    check(len(ctrl_lines) == 1 and "refused" in ctrl_lines[0],
          "kite logged %d control-queue lines (one for all refusals wanted): %s" % (len(ctrl_lines), ctrl_lines))
    rounds = per_queue(out)
    check(len(rounds) == (2 if fewer else 1), "the guest reported %d receive rounds" % len(rounds))
    if rounds:
        check(sum(rounds[0]) == nrx, "round 1: %d of %d frames" % (sum(rounds[0]), nrx))
        if a.mode != "rate":
            check(sum(1 for c in rounds[0] if c) >= 2, "round 1: all flows on one queue %s" % rounds[0])
    if fewer and len(rounds) == 2:
        check(sum(rounds[1]) == nrx, "round 2: %d of %d frames" % (sum(rounds[1]), nrx))
        check(all(c == 0 for c in rounds[1][fewer:]), "round 2: frames on pairs past %d: %s" % (fewer, rounds[1]))
        check("VQ_PAIRS_SET %d -> OK" % fewer in out, "the guest did not print VQ_PAIRS_SET %d -> OK" % fewer)
    rxq = [sum(r[p] for r in rounds) for p in range(pairs)]
    print("per-pair --stats: %s; the guest counted %s received per queue" % (pair_stats(err), rxq))
    check_pairs(check, "--stats", pair_stats(err), [ntx] * pairs, rxq)
    if a.mode == "rate":
        ts = sorted(t for _, t in tagged if t is not None)
        span = ts[-1] - ts[0] if len(ts) >= 2 else 0.0
        bound = 5 + 20 * span + 2
        print("rate: %d frames from two pairs in %.3f s; bound burst + pps * span + 2 = %.1f" % (len(tagged), span, bound))
        check(len(ts) == len(tagged), "frames without a kernel timestamp")
        check(len(tagged) <= bound, "%d frames exceed the bound %.1f: the pairs do not share one bucket" %
              (len(tagged), bound))
        m = re.search(r"throttled (\d+) times", err)
        check(m and int(m.group(1)) > 0, "kite never throttled")
    return report(fails)


def inject(src_mac, sport, count=32):
    """count UDP flows (source ports sport..) into kq0, for the guest."""
    inj = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    inj.bind(("kq0", 0))
    for i in range(count):
        inj.send(udp_frame(bytes.fromhex(MAC.replace(":", "")), src_mac, sport + i))
    inj.close()


def mode_snapshot(a, host_mac, check):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "snapshot"))
    import snaplib   # noqa: E402  (the snapshot suite's helpers)

    work = tempfile.mkdtemp(prefix="kite-net-mq-snap-")
    kites = []
    try:
        k = snaplib.Kite(a.kite, work, "life1")
        kites.append(k)
        iface = {"iface_id": "eth0", "host_dev_name": "kq0", "guest_mac": MAC, "transport": "pci", "queues": 2}
        for method, path, body in [
                ("PUT", "/boot-source", {"kernel_image_path": a.kernel,
                                         "boot_args": "kite.test=virtio-net-mq kite.mq_tx=1 kite.mq_rx=32 kite.mq_fewer=1"}),
                ("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 64}),
                ("PUT", "/network-interfaces/eth0", iface),
                ("PUT", "/actions", {"action_type": "InstanceStart"})]:
            code, val = k.call(method, path, body)
            if not check(code == 204, "%s %s -> 204 (%s %s)" % (method, path, code, val)):
                return
        code, conf = k.call("GET", "/vm/config")
        check(code == 200 and conf["network-interfaces"][0].get("queues") == 2,
              "GET /vm/config shows queues 2 (%s)" % conf)
        if not check(k.wait_for(r"^virtio-net-mq: ready for 32 frames on 2 pairs$") is not None,
                     "life 1: the guest runs 2 pairs and waits for frames"):
            print(k.text() + k.log())
            return
        code, text = k.call("GET", "/metrics")
        print("life1 per-pair metrics: %s" % pair_metrics(str(text), "eth0"))
        check(code == 200, "life1: GET /metrics -> 200 (%s)" % code)
        check_pairs(check, "life1 GET /metrics", pair_metrics(str(text), "eth0"), [1, 1], [0, 0])
        snap = os.path.join(work, "snap")
        os.makedirs(snap)
        code, val = k.snapshot(snap + "/vm.state", snap + "/vm.mem")
        check(code == 204, "pause + Full snapshot -> 204 (%s %s)" % (code, val))
        k.kill9()

        # the same snapshot as kite wrote it before multiqueue: virtio-net section version 1
        old = os.path.join(work, "old")
        os.makedirs(old)
        with open(snap + "/vm.state", "rb") as f:
            head, sections = snaplib.parse_state(f.read())
        rewritten, tails = [], []
        for name, inst, ver, payload in sections:
            if name == "virtio-net":
                tails.append((ver, payload[-12:]))
                ver, payload = 1, payload[:-12]        # npairs, running pairs, pair 1's empty frame
            rewritten.append((name, inst, ver, payload))
        check(tails == [(2, struct.pack("<III", 2, 2, 0))],
              "the virtio-net section is version 2 ending with 2 pairs, 2 running, no frame waiting (%s)" % tails)
        with open(old + "/vm.state", "wb") as f:
            f.write(snaplib.build_state(rewritten, head["version"], head["flags"]))
        os.link(snap + "/vm.mem", old + "/vm.mem")

        for life, d, want_split in (("life2", snap, True), ("life3", old, False)):
            k = snaplib.Kite(a.kite, work, life)
            kites.append(k)
            code, val = k.call("PUT", "/snapshot/load", snaplib.load_body(d + "/vm.state", d + "/vm.mem"))
            if not check(code == 204, "%s: PUT /snapshot/load -> 204 (%s %s)" % (life, code, val)):
                print(k.log())
                continue
            inject(host_mac, 30000)          # the restored guest waits for them (its "ready" line was life 1's)
            if check(k.wait_for(r"^virtio-net-mq: ready for 32 frames on 1 pairs$") is not None,
                     "%s: the guest got the 32 flows and set 1 pair" % life):
                # the pair counters start at 0 in a restored kite (not in the snapshot): the 32 flows
                code, text = k.call("GET", "/metrics")
                got, first = pair_metrics(str(text), "eth0"), per_queue(k.text())
                print("%s per-pair metrics: %s; the guest counted %s" % (life, got, first))
                if check(code == 200 and len(first) == 1, "%s: GET /metrics -> 200 (%s), one round" % (life, code)):
                    check_pairs(check, life + " GET /metrics", got, [0, 0], first[0])
                inject(host_mac, 31000)
            k.proc.wait(timeout=120)
            out = k.text()
            print("%s console:\n%s%s" % (life, out, k.log()))
            rounds = per_queue(out)
            check(k.proc.returncode == 0 and "kite-guest: PASS virtio-net-mq" in out,
                  "%s: the guest passed (exit %s)" % (life, k.proc.returncode))
            check(len(rounds) == 2 and all(sum(r) == 32 for r in rounds), "%s: 32 + 32 frames (%s)" % (life, rounds))
            if len(rounds) == 2:
                if want_split:
                    check(all(rounds[0]), "life2: after the restore both pairs get frames (%s)" % rounds[0])
                else:
                    check(rounds[0][1] == 0, "life3: a version-1 section restores one pair running (%s)" % rounds[0])
                check(rounds[1][1] == 0, "%s: after VQ_PAIRS_SET 1 queue 0 alone (%s)" % (life, rounds[1]))
    finally:
        for k in kites:
            k.stop()
        shutil.rmtree(work, ignore_errors=True)


def report(fails):
    for f in fails:
        print("FAIL: " + f)
    if not fails:
        print("PASS")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
