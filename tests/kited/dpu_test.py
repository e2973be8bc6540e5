#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kited's DPU side end to end (suite 'kited', test kited-dpu): kited with a real kite-dpu, every
effect checked on kite-dpu's own control socket and in the state directory:
  - kited starts kite-dpu (its flags, DIR/dpu/dpu.json with pid and start time, a switch);
  - ports: create (VLAN, MTU), PATCH (VLAN, rate), ACL rules added and deleted by index and all,
    counters; volumes: create sparse with QoS, from an image in DIR/volumes (read-only), grow, QoS,
    counters; bad requests (duplicates, bad values, unknown fields, images outside DIR/volumes,
    shrinking) get their 4xx and change nothing in kite-dpu or the records;
  - VMs: one with its own disk and a NIC (the test guest streams writes to the disk), one on a
    volume: their port (on their VLAN) and volume exist while they run, 409 for deleting them or
    for a second VM on that volume, 404 for an unknown volume;
  - kill -9 of kite-dpu under the stream: a new kite-dpu (restarts 1) holds every port and volume
    again with their settings, the VM's kite reconnects, the stream completes and every block is in
    the image; at the guest's power-off the port and volume go, the image stays;
  - kited restarted: it adopts the running kite-dpu (same pid); restarted while kite-dpu is stopped
    (SIGSTOP, hung): that one is killed and replaced, everything re-applied; a kite-dpu that hangs
    under a running kited fails its health checks and is killed and restarted;
  - deletes: keep_image, a VM's own image deleted with the VM; nothing left in kite-dpu;
  - kite-dpus that misbehave (a fake: garbage replies, silence, never answering port_add): kited
    answers 503 and records nothing, never hangs, serves the rest of its API.
As root the VMs are jailed (kited's default): their kites reach kite-dpu's sockets as the jail's uid,
across the restart too; else --jail off."""
import argparse
import json
import os
import re
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "virtio"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kdlib  # noqa: E402  (Kited, Console: shared with the other kited tests)
from checks import check, failures, need_kvm, wait_for  # noqa: E402
from core_test import start_time  # noqa: E402
from dpu_ctl import ctl_request as ctl  # noqa: E402
from image_blocks import bad_blocks  # noqa: E402
from blk_run import SECTOR, pattern_bytes  # noqa: E402  (the test guest's virtio-blk pattern)

BLOCKS, SEED = 1024, 77      # the guest's virtio-blk-stream: BLOCKS one-sector writes, then all read back


def held(path):
    """({port name: its switch_stats object}, sorted volume names) that kite-dpu holds."""
    sw = ctl(path, {"cmd": "switch_stats"})["switch"]
    return {p["name"]: p for p in sw["ports"]}, sorted(ctl(path, {"cmd": "list_volumes"})["volumes"])


def names(path):
    p, v = held(path)
    return sorted(p), v


def records(state):
    d = os.path.join(state, "dpu")
    try:
        return (json.load(open(os.path.join(d, "ports.json")))["ports"],
                json.load(open(os.path.join(d, "volumes.json")))["volumes"])
    except OSError:
        return [], []


def expect(kd, cases):
    """Requests that must be refused: (method, path, body, status, words in the error)."""
    for method, path, body, want, words in cases:
        st, rep = kd.req(method, path, body)
        check(st == want and words in (rep or {}).get("error", ""),
              "%s %s %s -> %d naming %r (got %d %s)" % (method, path, body, want, words, st, rep))


def written(con):
    """How many writes the guest's virtio-blk-stream reported on its console."""
    m = re.findall(r"blk-stream: (\d+) written", con.text())
    return int(m[-1]) if m else 0


def dump(kd):
    for path in (kd.log_path, os.path.join(kd.state, "dpu", "kite-dpu.log")):
        print("--- %s ---\n%s" % (path, open(path, errors="replace").read()[-4000:] if os.path.exists(path) else ""))


def finish(kd):
    """Every process of kd's world killed, its directory removed (the logs printed first on a failure)."""
    try:
        kd.kill_all()
    finally:
        if failures:
            dump(kd)
        kd.remove()


def main():
    ap = argparse.ArgumentParser()
    for a in ("--kited", "--kite", "--dpu", "--jailer", "--kernel"):
        ap.add_argument(a, required=True)
    args = ap.parse_args()
    args.jail = "on" if os.geteuid() == 0 else "off"
    need_kvm()
    kd = kdlib.Kited(args, "kited-dpu-")
    try:
        kd.start()
        run(args, kd)
        kd.terminate()
        fakes(args)
    except kdlib.Fail as e:
        check(False, str(e))
    finally:
        finish(kd)
    print("%d failure(s)" % len(failures))
    sys.exit(1 if failures else 0)


def run(args, kd):
    state = kd.state
    ctlp = os.path.join(state, "dpu", "ctl.sock")
    socks = os.path.join(state, "dpu", "sockets")
    vols = os.path.join(state, "volumes")

    # ---- kited starts kite-dpu ----
    st, dpu = kd.req("GET", "/dpu")
    check(st == 200 and dpu["state"] == "running" and dpu["restarts"] == 0 and dpu["control"] == ctlp,
          "GET /dpu: running, no restart (%s)" % dpu)
    pid1 = dpu["pid"]
    rec = json.load(open(os.path.join(state, "dpu", "dpu.json")))
    check(rec["pid"] == pid1 and rec["start"] == start_time(pid1), "dpu.json: pid and start time (%s)" % rec)
    argv = open("/proc/%d/cmdline" % pid1).read().split("\0")
    check(argv[1:7] == ["--control", ctlp, "--image-dir", vols, "--socket-dir", socks],
          "kite-dpu's flags (%s)" % argv)
    check(names(ctlp) == ([], []), "kite-dpu has a switch and nothing on it")

    # ---- ports ----
    st, p1 = kd.req("POST", "/dpu/ports", {"name": "p1", "vlan": 10, "mtu": 9000})
    hp = held(ctlp)[0]
    check(st == 201 and p1["socket"] == os.path.join(socks, "port-p1.sock") and os.path.exists(p1["socket"]),
          "POST port p1: 201, its socket (%d %s)" % (st, p1))
    check("p1" in hp and hp["p1"]["vlan"] == 10 and hp["p1"]["mtu"] == 9000, "kite-dpu: p1 on VLAN 10, MTU 9000")
    before = (held(ctlp), records(state))
    bad = [("POST", "/dpu/ports", {"name": "p1"}, 409, "exists"),
           ("POST", "/dpu/ports", {"name": "p2", "vlan": 5000}, 400, "vlan"),
           ("POST", "/dpu/ports", {"name": "p2", "mtu": 20}, 400, "mtu"),
           ("POST", "/dpu/ports", {"name": "p2", "colour": 1}, 400, "unknown field"),
           ("POST", "/dpu/ports", {"name": "p_2"}, 400, "letters, digits"),
           ("POST", "/dpu/ports", {"name": "p2", "type": "dpdk"}, 400, "vhost or tap"),
           ("POST", "/dpu/ports", {"name": "p2", "tap": "t0"}, 400, "type tap"),
           ("POST", "/dpu/ports", {"vlan": 3}, 400, "name"),
           ("PATCH", "/dpu/ports/p1", {"mtu": 10}, 400, "mtu"),
           ("PATCH", "/dpu/ports/p1", {"name": "x"}, 400, "unknown field"),
           ("PATCH", "/dpu/ports/nosuch", {"vlan": 3}, 404, "nosuch"),
           ("POST", "/dpu/ports/p1/acl", {"dir": "in", "rule": "deny proto bogus"}, 400, "p1"),
           ("POST", "/dpu/ports/p1/acl", {"dir": "up", "rule": "deny proto icmp"}, 400, "in or out"),
           ("POST", "/dpu/ports/p1/acl", {"rule": "deny proto icmp"}, 400, "dir"),
           ("DELETE", "/dpu/ports/p1/acl/in/0", None, 404, "no in rule 0"),
           ("DELETE", "/dpu/ports/p1/acl/in/x", None, 400, "index"),
           ("DELETE", "/dpu/ports/nosuch", None, 404, "nosuch")]
    expect(kd, bad)
    check((held(ctlp), records(state)) == before, "after the bad port requests: kite-dpu and the records unchanged")
    st, p1 = kd.req("PATCH", "/dpu/ports/p1", {"vlan": 20, "rate_pps": 1000})
    hp = held(ctlp)[0]["p1"]
    check(st == 200 and p1["vlan"] == 20 and hp["vlan"] == 20 and hp["rate_pps"] == 1000,
          "PATCH p1: VLAN 20, 1000 pps in kite-dpu (%s)" % hp)
    st, a0 = kd.req("POST", "/dpu/ports/p1/acl", {"dir": "in", "rule": "deny proto icmp"})
    st1, a1 = kd.req("POST", "/dpu/ports/p1/acl", {"dir": "in", "rule": "allow proto tcp dport 22"})
    rules = [r["rule"] for r in held(ctlp)[0]["p1"]["acl_in"]["rules"]]
    check(st == st1 == 201 and a0["index"] == 0 and a1["index"] == 1 and len(rules) == 2,
          "two ACL rules in: indexes 0, 1 (%s)" % rules)
    st, _ = kd.req("DELETE", "/dpu/ports/p1/acl/in/0")
    rules = [r["rule"] for r in held(ctlp)[0]["p1"]["acl_in"]["rules"]]
    _, p1 = kd.req("GET", "/dpu/ports/p1")
    check(st == 204 and len(rules) == 1 and "dport 22" in rules[0] and p1["acl_in"] == ["allow proto tcp dport 22"],
          "ACL rule 0 deleted: the tcp rule is left (%s)" % rules)
    kd.req("POST", "/dpu/ports/p1/acl", {"dir": "out", "rule": "deny proto udp"})
    st, _ = kd.req("DELETE", "/dpu/ports/p1/acl/out")
    check(st == 204 and held(ctlp)[0]["p1"]["acl_out"]["rules"] == [], "ACL out cleared")
    check(isinstance(p1.get("stats"), dict) and "rx_packets" in p1["stats"], "GET p1 has kite-dpu's counters")

    # a TAP port: the interface appears on the host, and goes with the port
    tap = "kdt%d" % (os.getpid() % 100000)
    st, t = kd.req("POST", "/dpu/ports", {"name": "t1", "type": "tap", "tap": tap})
    check(st == 201 and t["tap"] == tap and os.path.exists("/sys/class/net/" + tap) and "t1" in held(ctlp)[0],
          "POST a tap port: interface %s made (%d %s)" % (tap, st, t))
    st, _ = kd.req("DELETE", "/dpu/ports/t1")
    check(st == 204 and not os.path.exists("/sys/class/net/" + tap) and "t1" not in held(ctlp)[0],
          "DELETE the tap port: interface gone")

    # ---- volumes ----
    st, v1 = kd.req("POST", "/dpu/volumes", {"name": "v1", "size_mib": 16, "iops": 100})
    img1 = os.path.join(vols, "v1.img")
    check(st == 201 and v1["image"] == img1 and os.path.getsize(img1) == 16 << 20 and os.stat(img1).st_blocks == 0,
          "POST volume v1: 201, a sparse 16 MiB image (%d %s)" % (st, v1))
    check("v1" in held(ctlp)[1], "kite-dpu serves v1")
    with open(os.path.join(vols, "base.img"), "wb") as f:
        f.truncate(4 << 20)
    with open(os.path.join(state, "outside.img"), "wb") as f:
        f.truncate(4 << 20)
    before = (held(ctlp), records(state), sorted(os.listdir(vols)))
    bad = [("POST", "/dpu/volumes", {"name": "v1", "size_mib": 1}, 409, "exists"),
           ("POST", "/dpu/volumes", {"name": "v3", "size_mib": 1, "image": "base.img"}, 400, "one of them"),
           ("POST", "/dpu/volumes", {"name": "v3"}, 400, "one of them"),
           ("POST", "/dpu/volumes", {"name": "v3", "size_mib": 0}, 400, "size_mib"),
           ("POST", "/dpu/volumes", {"name": "v3", "image": "../outside.img"}, 400, "a file in"),
           ("POST", "/dpu/volumes", {"name": "v3", "image": os.path.join(state, "outside.img")}, 400, "not in"),
           ("POST", "/dpu/volumes", {"name": "v3", "image": "nothing.img"}, 400, "no such file"),
           ("POST", "/dpu/volumes", {"name": "v3", "size_mib": 1, "iops": -1}, 400, "iops"),
           ("POST", "/dpu/volumes", {"name": "base", "size_mib": 1}, 409, "exists"),
           ("PATCH", "/dpu/volumes/v1", {"size_mib": 8}, 400, "grow only"),
           ("PATCH", "/dpu/volumes/v1", {"readonly": True}, 400, "unknown field"),
           ("DELETE", "/dpu/volumes/v1?keep_image=maybe", None, 400, "keep_image"),
           ("GET", "/dpu/volumes/nosuch", None, 404, "nosuch")]
    expect(kd, bad)
    check((held(ctlp), records(state), sorted(os.listdir(vols))) == before,
          "after the bad volume requests: kite-dpu, the records and DIR/volumes unchanged")
    st, v2 = kd.req("POST", "/dpu/volumes", {"name": "v2", "image": "base.img", "readonly": True})
    check(st == 201 and v2["size_mib"] == 4 and v2["readonly"] and "v2" in held(ctlp)[1],
          "POST v2 from base.img, read-only: served (%d %s)" % (st, v2))
    st, v1 = kd.req("PATCH", "/dpu/volumes/v1", {"size_mib": 32, "iops": 0, "bps": 1 << 20})
    check(st == 200 and v1["size_mib"] == 32 and os.path.getsize(img1) == 32 << 20 and v1["bps"] == 1 << 20,
          "PATCH v1: grown to 32 MiB, QoS set (%d %s)" % (st, v1))
    st, v1 = kd.req("GET", "/dpu/volumes/v1")
    check(st == 200 and (v1.get("stats") or {}).get("capacity_sectors") == 65536,
          "GET v1: kite-dpu's counters, capacity 32 MiB (%s)" % v1.get("stats"))

    # ---- VMs: own disk + NIC (a write stream), and one on v1 ----
    stream = "kite.test=virtio-blk-stream kite.mmio=1 kite.blk_count=%d kite.seed=%d" % (BLOCKS, SEED)
    st, w1 = kd.req("POST", "/vms", {"name": "w1", "kernel": args.kernel, "cmdline": stream, "memory_mib": 64,
                                 "disk": {"size_mib": 8}, "net": {"vlan": 30}, "start": True})
    check(st == 201 and w1["state"] == "running", "VM w1 (own disk, NIC on VLAN 30) runs (%d %s)" % (st, str(w1)[:300]))
    con = kd.console("w1", w1["console_sock"]) if st == 201 and w1.get("console_sock") else None
    hp, hv = held(ctlp)
    check("w1" in hp and hp["w1"]["vlan"] == 30 and "w1-disk" in hv, "kite-dpu: port w1 on VLAN 30, volume w1-disk")
    wimg = os.path.join(vols, "w1-disk.img")
    check(os.path.getsize(wimg) == 8 << 20, "w1's image: 8 MiB")
    idle = {"kernel": args.kernel, "cmdline": "kite.test=idle", "memory_mib": 64}
    st, w2 = kd.req("POST", "/vms", dict(idle, name="w2", disk={"volume": "v1"}, start=True))
    check(st == 201 and w2["state"] == "running", "VM w2 on volume v1 runs (%d %s)" % (st, str(w2)[:300]))
    before = (held(ctlp), records(state))
    expect(kd, [("DELETE", "/dpu/ports/w1", None, 409, "VM w1"),
                ("DELETE", "/dpu/volumes/w1-disk", None, 409, "VM w1"),
                ("DELETE", "/dpu/volumes/v1", None, 409, "VM w2"),
                ("POST", "/vms", dict(idle, name="w3", disk={"volume": "v1"}, start=True), 409, "in use by VM w2"),
                ("POST", "/vms", dict(idle, name="w4", disk={"volume": "nosuch"}, start=True), 404, "nosuch")])
    for n in ("w3", "w4"):
        st, w = kd.req("GET", "/vms/" + n)
        check(st == 404 or (w["state"] == "stopped" and w["pid"] is None), "%s: not running after the refusal" % n)
        kd.req("DELETE", "/vms/" + n)
    check((held(ctlp), records(state)) == before, "after the refusals: kite-dpu and the records unchanged")

    # an ephemeral disk: made at the start, deleted at the end
    st, e1 = kd.req("POST", "/vms", dict(idle, name="e1", disk={"size_mib": 4, "ephemeral": True}, start=True))
    eimg = os.path.join(vols, "e1-disk.img")
    check(st == 201 and e1["state"] == "running" and os.path.exists(eimg), "VM e1 with an ephemeral disk runs")
    st, e1 = kd.req("POST", "/vms/e1/stop", {"force": True})
    check(st == 200 and not os.path.exists(eimg) and "e1-disk" not in held(ctlp)[1],
          "e1 stopped: its ephemeral disk's image and volume gone")
    kd.req("DELETE", "/vms/e1")

    # ---- kill -9 of kite-dpu under w1's stream ----
    if not check(con is not None and wait_for(lambda: written(con) >= 64, 180), "w1's guest writes"):
        log = os.path.join(state, "vms", "w1", "kite.log")
        print("--- w1's kite.log ---\n%s\n--- console ---\n%s" % (
            open(log, errors="replace").read()[-3000:] if os.path.exists(log) else "", con.text()[-3000:] if con else ""))
    os.kill(pid1, signal.SIGKILL)
    at_kill = written(con) if con else 0
    check(wait_for(lambda: (lambda d: d["state"] == "running" and d["pid"] != pid1)(kd.req("GET", "/dpu")[1]), 60),
          "kite-dpu restarted")
    _, dpu = kd.req("GET", "/dpu")
    pid2 = dpu["pid"]
    hp, hv = held(ctlp)
    check(dpu["restarts"] == 1 and start_time(pid1) is None, "restarts 1, the old one gone (%s)" % dpu)
    check(sorted(hp) == ["p1", "w1"] and hv == ["v1", "v2", "w1-disk"], "the new kite-dpu holds every port and volume")
    check(hp.get("p1", {}).get("vlan") == 20 and hp.get("p1", {}).get("rate_pps") == 1000 and
          len(hp.get("p1", {}).get("acl_in", {}).get("rules", [])) == 1 and hp.get("w1", {}).get("vlan") == 30,
          "with their settings (VLAN, rate, ACL)")
    check(wait_for(lambda: kd.req("GET", "/vms/w1")[1]["state"] in ("stopped", "crashed"), 300), "w1's stream ends (power-off)")
    _, w1 = kd.req("GET", "/vms/w1")
    check(w1["state"] == "stopped" and "blk-stream: %d requests checked" % BLOCKS in con.text(),
          "w1 stopped after its %d writes read back right, across the restart (%s)" % (BLOCKS, w1["state"]))
    klog = open(os.path.join(state, "vms", "w1", "kite.log"), errors="replace").read()
    check(at_kill < BLOCKS and re.search(r"vhost-user-blk0: backend .* is back", klog) and
          re.search(r"vhost-user-net0: backend .* is back", klog),
          "kite-dpu was killed after %d of %d writes, w1's kite reconnected its disk and its NIC" % (at_kill, BLOCKS))
    bad = bad_blocks(wimg, BLOCKS, SECTOR, lambda b: pattern_bytes(b, 1, SEED))
    check(not bad, "every written sector is in w1's image (%d wrong)" % len(bad))
    check(names(ctlp) == (["p1"], ["v1", "v2"]) and os.path.exists(wimg),
          "w1 ended: its port and volume gone, its image kept (%s)" % (names(ctlp),))

    # ---- /metrics ----
    st, text = kd.req("GET", "/metrics")
    check(st == 200 and 'volume="v1"' in text and 'port="p1"' in text, "GET /metrics has kite-dpu's counters")

    # ---- kited restart: adopted; with kite-dpu hung: replaced ----
    check(kd.terminate() == 0 and start_time(pid2), "kited ends with 0, kite-dpu runs on")
    kd.start()
    _, dpu = kd.req("GET", "/dpu")
    check(dpu["pid"] == pid2 and dpu["restarts"] == 1, "the new kited adopted kite-dpu %d (%s)" % (pid2, dpu))
    ctl(ctlp, {"cmd": "port_add", "name": "orphan", "type": "vhost", "socket": os.path.join(socks, "port-orphan.sock")})
    kd.terminate()
    os.kill(pid2, signal.SIGSTOP)
    kd.start()
    _, dpu = kd.req("GET", "/dpu")
    check(dpu["state"] == "running" and dpu["pid"] != pid2 and start_time(pid2) is None,
          "kited replaced the hung kite-dpu (%s)" % dpu)
    check(names(ctlp) == (["p1"], ["v1", "v2"]), "the replacement holds p1, v1, v2, not the orphan (%s)" % (names(ctlp),))
    # a kite-dpu that hangs while kited runs: its health checks fail, it is killed and restarted
    pid3 = dpu["pid"]
    os.kill(pid3, signal.SIGSTOP)
    check(wait_for(lambda: (lambda d: d["state"] == "running" and d["pid"] != pid3)(kd.req("GET", "/dpu")[1]), 120),
          "a kite-dpu hung under kited is restarted")
    _, dpu = kd.req("GET", "/dpu")
    check(dpu["restarts"] == 2 and start_time(pid3) is None and names(ctlp) == (["p1"], ["v1", "v2"]),
          "restarts 2, the hung one gone, p1, v1, v2 back (%s, %s)" % (dpu, names(ctlp)))

    # ---- deletes ----
    st, _ = kd.req("DELETE", "/vms/w2")
    check(st == 204, "delete w2 (running)")
    st, _ = kd.req("DELETE", "/dpu/volumes/v1")
    st2, _ = kd.req("DELETE", "/dpu/volumes/v2?keep_image=true")
    st3, _ = kd.req("DELETE", "/dpu/ports/p1")
    check(st == st2 == st3 == 204, "delete v1, v2 (keep its image), p1")
    check(not os.path.exists(img1) and os.path.exists(os.path.join(vols, "base.img")), "v1's image gone, base.img kept")
    st, _ = kd.req("DELETE", "/vms/w1")
    check(st == 204 and not os.path.exists(wimg), "delete w1: its own image gone")
    check(names(ctlp) == ([], []) and records(state) == ([], []), "nothing left in kite-dpu or the records")


def fakes(args):
    """kite-dpus that misbehave: 503 and nothing recorded, never a hang."""
    fake = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_dpu.py")
    for mode in ("garbage", "silent", "nocreate"):
        kd = kdlib.Kited(args, "kited-dpu-fake-")
        kd.dpu_exe = os.path.join(kd.dir, "fake-dpu")
        with open(kd.dpu_exe, "w") as f:
            f.write("#!/bin/sh\nexec %s %s %s \"$@\"\n" % (sys.executable, fake, mode))
        os.chmod(kd.dpu_exe, 0o755)
        try:
            kd.start()
            st, dpu = kd.req("GET", "/dpu")
            want = "running" if mode == "nocreate" else "restarting"
            check(st == 200 and dpu["state"] == want, "fake %s: GET /dpu says %s (%s)" % (mode, want, dpu))
            st, rep = kd.req("POST", "/dpu/ports", {"name": "p1"})
            st2, rep2 = kd.req("POST", "/dpu/volumes", {"name": "v1", "size_mib": 1})
            check(st == st2 == 503, "fake %s: POST port and volume -> 503 (%s, %s)" % (mode, rep, rep2))
            check(kd.req("GET", "/dpu/ports") == (200, []) and kd.req("GET", "/dpu/volumes") == (200, []) and
                  not os.path.exists(os.path.join(kd.state, "volumes", "v1.img")),
                  "fake %s: nothing recorded, no image left" % mode)
            st, rep = kd.req("POST", "/vms", {"name": "x", "kernel": args.kernel, "net": {}, "start": True})
            check(st == 503 and kd.req("GET", "/vms/x")[1].get("state", "stopped") == "stopped",
                  "fake %s: a VM with a NIC: 503, not running (%s)" % (mode, rep))
            check(kd.terminate() == 0, "fake %s: kited still serves and ends cleanly" % mode)
        finally:
            finish(kd)


if __name__ == "__main__":
    main()
