#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kited's DPU side (kited/dpu_*.c) against a real kite-dpu, through tests/kited/dpu_driver.c (which
plays kited's VM side).

usage: dpu_test.py --driver DPU_DRIVER --dpu KITE_DPU [--kite KITE --kernel GUEST]

Checked, each on kite-dpu's own control socket and in the state directory:
- start: a kite-dpu runs with kited's flags, DIR/dpu/dpu.json names its pid and start time, its
  switch exists; a VM's port (its VLAN) and own disk (a sparse image of the asked size) are made and
  recorded in DIR/dpu/ports.json / volumes.json; a second VM's ephemeral disk too;
- kill -9 of kite-dpu: a new one runs (restarts 1) and holds every port (same VLAN) and volume again;
  with --kite/--kernel, a kite whose test guest streams writes to the VM's disk reconnects and the
  stream completes with every block in the image;
- a new kited (driver) adopts the running kite-dpu (same pid), removes a port kited never recorded;
- a hung kite-dpu (SIGSTOP) is not adopted: it is killed and replaced, everything re-applied;
- refused requests (unknown volume, a port name taken) change nothing;
- release: port and volume gone from kite-dpu and the records, the image kept (deleted for an
  ephemeral disk); release again is harmless; forget deletes the VM's own image;
- dpu_call against bad peers: garbage, a non-object, two lines, "ok": false without an error, a
  closed connection, a reply that never comes (bounded by the timeout), a missing socket: each is an
  error, never a hang or a crash.
Exit 0 pass, 1 fail.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time


class Driver:
    def __init__(self, exe, state, dpu, log):
        self.p = subprocess.Popen([exe, state, dpu], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=open(log, "a"), text=True)

    def cmd(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        out = self.p.stdout.readline()
        if not out:
            raise RuntimeError("dpu_driver ended (status %s) at '%s'" % (self.p.wait(), line))
        return json.loads(out)

    def stop(self):
        if self.p.poll() is None:
            self.cmd("stop")
            self.p.wait(timeout=30)


def ctl(path, req):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(path)
        s.sendall(json.dumps(req).encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            buf += chunk
    return json.loads(buf)


def held(path):
    """(ports {name: vlan}, volumes [names]) that kite-dpu holds."""
    sw = ctl(path, {"cmd": "switch_stats"})["switch"]
    vols = ctl(path, {"cmd": "list_volumes"})["volumes"]
    return {p["name"]: p.get("vlan") for p in sw["ports"]}, sorted(vols)


def wait_for(what, cond, bound=60):
    """Poll cond() until it holds; the bound only keeps a broken run from hanging the suite."""
    end = time.monotonic() + bound
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.02)
    raise RuntimeError("gave up waiting for " + what)


def check(cond, msg):
    if not cond:
        raise RuntimeError(msg)


def start_time(pid):
    try:
        s = open("/proc/%d/stat" % pid).read()
    except OSError:
        return None
    return int(s[s.rindex(")") + 2:].split()[19])


def alive(pid):
    return start_time(pid) is not None and open("/proc/%d/stat" % pid).read().split(")")[1].split()[0] != "Z"


def records(state):
    ports = json.load(open(os.path.join(state, "dpu", "ports.json")))["ports"]
    vols = json.load(open(os.path.join(state, "dpu", "volumes.json")))["volumes"]
    return {p["name"]: p for p in ports}, {v["name"]: v for v in vols}


# ---- bad peers for dpu_call ----

def fake_server(path, behaviour):
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(4)
    conns = []

    def run():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            conns.append(c)
            c.recv(65536)
            if behaviour == "silent":
                continue            # keeps the connection open, never answers
            c.sendall(behaviour)
            c.close()
    threading.Thread(target=run, daemon=True).start()
    return srv, conns


def bad_peers(drv, tmp):
    cases = [(b"not json\n", "bad reply"), (b"[1,2]\n", "bad reply"), (b'{"ok":true}\n{"ok":true}\n', "more than one"),
             (b'{"ok":false}\n', "bad reply"), (b'{"ok":"yes"}\n', "bad reply"), (b"", "closed"),
             (b'{"ok":true', "closed"), ("silent", "no reply within")]
    for i, (beh, want) in enumerate(cases):
        path = os.path.join(tmp, "fake%d.sock" % i)
        srv, conns = fake_server(path, beh)
        r = drv.cmd("call %s 500 {\"cmd\":\"help\"}" % path)
        srv.close()
        for c in conns:
            c.close()
        check(r["r"] == -2 and want in r["error"], "dpu_call on a peer sending %r: %s" % (beh, r))
    r = drv.cmd("call %s 500 {\"cmd\":\"help\"}" % os.path.join(tmp, "nothing.sock"))
    check(r["r"] == -2 and "connect" in r["error"], "dpu_call without a socket: %s" % r)
    path = os.path.join(tmp, "fake-refuse.sock")
    srv, conns = fake_server(path, b'{"ok":false,"error":"no port x"}\n')
    r = drv.cmd("call %s 500 {\"cmd\":\"port_del\",\"name\":\"x\"}" % path)
    srv.close()
    check(r["r"] == -1 and r["error"] == "no port x", "dpu_call refused: %s" % r)
    print("dpu_call: every bad peer is an error, a refusal carries kite-dpu's reason")


# ---- a frontend across the restart: kite + the test guest's write stream ----

OPS, PROGRESS, BLOCK = 300, 10, 4096


def stamp(blk, seed):
    return struct.pack("<Q", (blk * 0x9e3779b97f4a7c15 ^ seed) & (2**64 - 1)) * (BLOCK // 8)


def start_stream(a, tmp, sock):
    seed = 0x5eed1234abcd | 1
    con, klog = os.path.join(tmp, "console.txt"), os.path.join(tmp, "kite.log")
    cmd = [a.kite, "--kernel", a.kernel, "--console", "file:" + con, "--vhost-user-blk", "socket=" + sock,
           "--cmdline", "kite.test=blkbench kite.bench=stream kite.ops=%d kite.qd=8 kite.seed=%d kite.progress=%d"
           % (OPS, seed, PROGRESS)]
    kite = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(klog, "w"))

    def acked():
        t = open(con, errors="replace").read() if os.path.exists(con) else ""
        m = re.findall(r"^blkbench: (\d+) acked$", t, re.M)
        if kite.poll() is not None:
            raise RuntimeError("kite ended (status %s) before the kill: %s" % (kite.returncode, t[-500:]))
        return int(m[-1]) if m else 0
    return kite, seed, con, klog, acked


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--driver", required=True)
    ap.add_argument("--dpu", required=True)
    ap.add_argument("--kite")
    ap.add_argument("--kernel")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="kd-dpu-")
    state = os.path.join(tmp, "s")
    os.mkdir(state)
    log = os.path.join(tmp, "driver.log")
    ctlp = os.path.join(state, "dpu", "ctl.sock")
    stream = a.kite and a.kernel and os.access("/dev/kvm", os.R_OK | os.W_OK)
    drv = kite = None
    pids = []
    why = None
    try:
        drv = Driver(a.driver, state, a.dpu, log)
        bad_peers(drv, tmp)

        # start
        check(drv.cmd("start")["r"] == 0, "dpu_start failed")
        st = drv.cmd("status")
        check(st["state"] == "running" and st["restarts"] == 0 and st["control"] == ctlp, "status %s" % st)
        pid1 = st["pid"]
        pids.append(pid1)
        rec = json.load(open(os.path.join(state, "dpu", "dpu.json")))
        check(rec["pid"] == pid1 and rec["start"] == start_time(pid1), "dpu.json %s, pid %d" % (rec, pid1))
        args = open("/proc/%d/cmdline" % pid1).read().split("\0")
        check(args[1:7] == ["--control", ctlp, "--image-dir", os.path.join(state, "volumes"), "--socket-dir",
                            os.path.join(state, "dpu", "sockets")], "kite-dpu's arguments %s" % args)
        check(held(ctlp) == ({}, []), "a new kite-dpu holds %s" % (held(ctlp),))

        # a VM's port and own disk, a second VM's ephemeral disk
        r = drv.cmd("acquire vm1 10 own:8")
        check(r["status"] == 0, "acquire vm1: %s" % r)
        res1 = r["res"]
        check(res1["port"] == "vm1" and res1["volume"] == "vm1-disk" and res1["served_for_vm"] and
              res1["port_sock"] == os.path.join(state, "dpu", "sockets", "port-vm1.sock") and
              res1["volume_sock"] == os.path.join(state, "dpu", "sockets", "vol-vm1-disk.sock"), "res %s" % res1)
        img1 = os.path.join(state, "volumes", "vm1-disk.img")
        check(os.path.getsize(img1) == 8 << 20 and os.stat(img1).st_blocks == 0, "vm1's image is not sparse 8 MiB")
        r = drv.cmd("acquire vm2 - own:4:eph")
        check(r["status"] == 0 and "port" not in r["res"], "acquire vm2: %s" % r)
        img2 = os.path.join(state, "volumes", "vm2-disk.img")
        want = ({"vm1": 10}, ["vm1-disk", "vm2-disk"])
        check(held(ctlp) == want, "kite-dpu holds %s, not %s" % (held(ctlp), want))
        ports, vols = records(state)
        check(set(ports) == {"vm1"} and ports["vm1"]["vm"] == "vm1" and set(vols) == {"vm1-disk", "vm2-disk"} and
              vols["vm2-disk"]["ephemeral"], "records %s %s" % (ports, vols))
        check(all(os.path.exists(s) for s in (res1["port_sock"], res1["volume_sock"])), "sockets missing")

        # refused requests change nothing
        before = (held(ctlp), records(state))
        r = drv.cmd("acquire vm3 5 vol:nosuch")
        check(r["status"] == 404 and "nosuch" in r["error"] and r["res"] == {}, "unknown volume: %s" % r)
        check(held(ctlp) == before[0] and records(state) == before[1], "a refused acquire changed something")

        # kill -9: restarted with everything back; a kite's disk reconnects and its stream completes
        if stream:
            kite, seed, con, klog, acked = start_stream(a, tmp, res1["volume_sock"])
            wait_for("the first %d completions" % PROGRESS, acked, 120)
        os.kill(pid1, signal.SIGKILL)
        st = wait_for("a restarted kite-dpu", lambda: (lambda s: s if s["state"] == "running" and
                                                        s["pid"] != pid1 else None)(drv.cmd("status")))
        pid2 = st["pid"]
        pids.append(pid2)
        check(st["restarts"] == 1 and not alive(pid1), "after the kill: %s" % st)
        check(held(ctlp) == want, "the restarted kite-dpu holds %s, not %s" % (held(ctlp), want))
        check(json.load(open(os.path.join(state, "dpu", "dpu.json")))["pid"] == pid2, "dpu.json not updated")
        if stream:
            kite.wait(timeout=300)
            text = open(con, errors="replace").read()
            check(kite.returncode == 0 and "BENCH ops=%d " % OPS in text,
                  "the guest's stream did not complete across the restart (kite %s): %s" % (kite.returncode, text[-800:]))
            data = open(img1, "rb").read()
            bad = [b for b in range(OPS) if data[b * BLOCK:(b + 1) * BLOCK] != stamp(b, seed)]
            check(not bad, "%d written blocks are not in vm1's image" % len(bad))
            err = open(klog, errors="replace").read()
            check(re.search(r"backend .* is back", err), "kite did not log the reconnection")
            print("a kite's disk reconnected to the restarted kite-dpu, %d writes in the image" % OPS)

        # a new kited adopts the running kite-dpu, and drops what it has no record of
        drv.stop()
        check(alive(pid2), "kite-dpu ended with kited")
        ctl(ctlp, {"cmd": "port_add", "name": "orphan", "type": "vhost",
                   "socket": os.path.join(state, "dpu", "sockets", "port-orphan.sock")})
        drv = Driver(a.driver, state, a.dpu, log)
        check(drv.cmd("start")["r"] == 0, "dpu_start (adopt) failed")
        st = drv.cmd("status")
        check(st["pid"] == pid2 and st["restarts"] == 1, "not adopted: %s" % st)
        check(held(ctlp) == want, "after the adoption kite-dpu holds %s" % (held(ctlp),))

        # a hung kite-dpu is replaced
        drv.stop()
        os.kill(pid2, signal.SIGSTOP)
        drv = Driver(a.driver, state, a.dpu, log)
        check(drv.cmd("start")["r"] == 0, "dpu_start (hung kite-dpu) failed")
        st = drv.cmd("status")
        pids.append(st["pid"])
        check(st["pid"] != pid2 and not alive(pid2), "the hung kite-dpu was not replaced: %s" % st)
        check(held(ctlp) == want, "the replacement holds %s" % (held(ctlp),))
        for i in range(2):   # the driver's VM table is new: the VMs are acquired again (idempotent)
            check(drv.cmd("acquire vm1 10 own:8")["status"] == 0, "acquire vm1 again")
            check(drv.cmd("acquire vm2 - own:4:eph")["status"] == 0, "acquire vm2 again")
        check(held(ctlp) == want, "acquiring again changed %s" % (held(ctlp),))
        r = drv.cmd("stats")
        check(r["stats"] and 'kite_dpu_blk_reads_total{volume="vm1-disk"}' in r["stats"] and
              'kite_vswitch_rx_packets{port="vm1"}' in r["stats"], "stats: %s" % (r["stats"] or "")[:300])

        # release, forget
        drv.cmd("release vm1")
        drv.cmd("release vm2")
        check(held(ctlp) == ({}, []), "after release kite-dpu holds %s" % (held(ctlp),))
        check(records(state) == ({}, {}), "after release the records hold %s" % (records(state),))
        check(os.path.exists(img1) and not os.path.exists(img2), "release: vm1's image must stay, vm2's go")
        drv.cmd("release vm1")
        drv.cmd("forget vm1")
        check(not os.path.exists(img1), "forget kept vm1's image")
        drv.stop()
        drv = None
        print("start, restart after kill -9 (pids %s), adoption, hung kite-dpu replaced, release: ok" % pids)
    except (RuntimeError, OSError, ValueError, KeyError, subprocess.TimeoutExpired) as e:
        why = "%s: %s" % (type(e).__name__, e)
    finally:
        if kite and kite.poll() is None:
            kite.kill()
            kite.wait()
        if drv and drv.p.poll() is None:
            drv.p.kill()
            drv.p.wait()
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    if why:
        print("FAIL: " + why)
        for name, path in (("driver", log), ("kite-dpu", os.path.join(state, "dpu", "kite-dpu.log"))):
            print("--- %s ---\n%s" % (name, open(path, errors="replace").read()[-3000:] if os.path.exists(path) else ""))
        shutil.rmtree(tmp, ignore_errors=True)
        return 1
    print("PASS")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
