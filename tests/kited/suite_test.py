#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The kited suite (issue 14): kited, started here with a private state dir and API socket, runs test
guests (kite.test=idle, virtio-net-ping, blkbench) as VMs with kite-dpu volumes and switch ports.

usage: suite_test.py --kited K --kitectl C --kite KITE --dpu KITE_DPU --kernel GUEST [--jail on|off] SCENARIO

Scenarios (each its own kited; each ends by deleting every VM and checking that nothing is left:
no kite process, no socket in the state dir but kite-dpu's control socket, no kite-dpu port or
volume in kited's /dpu nor on kite-dpu's control socket, no TAP, no image; then kited exits 0 on
SIGTERM and kite-dpu is stopped):
  lifecycle   16 VMs with a disk and a port each (14 idle, a responder and a pinger on VLAN 7), a
              TAP port: the list (kitectl and API), the ping (pinger's and responder's consoles,
              the responder's port counters), pause/resume (kited's state and kite's own GET /),
              delete all.
  crash       kill -9 of one kite: kited says crashed (signal 9), its port and volume are released
              (the image is kept), the others run on with the same pids; the crashed VM starts again.
  restart     SIGTERM to kited while VMs run: they run on; a new kited adopts them (kitectl vm list
              --json identical, kite-dpu not restarted), pauses one, sees an adopted kite's kill -9.
  dpu-restart kill -9 of kite-dpu under a guest's block write stream: kited restarts it, the stream
              completes, every acknowledged block is in the image (read on the host); a responder
              that lived through the restart answers a new pinger.
  bad-requests unknown VM (404), duplicate name (409), impossible memory (400), missing or bad kernel
              (400), malformed JSON (400), bad host tuning (a missing host CPU, a pin list that is no
              array, an unknown hugepages mode: 400), through the API and kitectl: a clear one-line error,
              and nothing changed (VMs, processes, files, ports, volumes).
The kites run under kite-jailer when root (kited's default; --jail off: directly). kited wires disks and
NICs through kite's API, so they are virtio-mmio devices: the guests run with kite.mmio=1.
Exit 0 pass, 1 fail, 77 skip (no /dev/kvm)."""
import argparse
import json
import os
import re
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kdlib  # noqa: E402
from kdlib import alive, check, fds_to, http_unix, sockets_under, start_time, wait_for  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "virtio"))
from blk_run import SECTOR, pattern_bytes  # noqa: E402  (the guest's disk pattern)
from checks import need_kvm  # noqa: E402  (tests/lib)

IDLE = "kite.test=idle"
IDLE_LINE = r"^idle: halted with interrupts off until the VMM stops us$"
PING_VLAN = 7
MAC_RESP, MAC_PING = "02:4b:00:00:0e:0b", "02:4b:00:00:0e:0a"
# kited wires disks and NICs through kite's API, which makes them virtio-mmio (as Firecracker): kite.mmio=1
RESPONDER = "kite.test=virtio-net-ping kite.mmio=1 kite.respond=1 kite.ip_last=1"
# one ARP and one echo, then the guest's PASS ends its kite (status 0: the VM is stopped); kite keeps
# the console's output for a client that attaches late
PINGER = "kite.test=virtio-net-ping kite.mmio=1 kite.ip_last=2 kite.peer_ip_last=1 kite.ping_size=200"
ANSWERING = r"^virtio-net-ping: answering ARP and echo requests for 192\.0\.2\.1$"
# the guest's write stream (virtio-blk-stream; its pattern loops are emulated under kvm-pvm: some ms per
# sector): STREAM_REQS requests of STREAM_STEP sectors, one at a
# time, a line every 64 completions
STREAM_REQS, STREAM_STEP, STREAM_IOPS = 320, 1, 20


# ---- the VM object ----

def device(vm, kind):
    devs = [d for d in vm.get("devices") or () if d.get("type") == kind]
    check(len(devs) == 1, "VM %s: %d devices of type %s, expected 1: %s" % (vm["name"], len(devs), kind,
                                                                       vm.get("devices")))
    return devs[0]


def kite_api_state(vm):
    """The state kite itself reports on its API socket (GET /): Running, Paused, ..."""
    st, r = http_unix(vm["api_sock"], "GET", "/")
    check(st == 200 and isinstance(r, dict), "VM %s: kite's GET / gave HTTP %d: %s" % (vm["name"], st, r))
    return r.get("state")


def names(reply, key):
    """Names in a list reply of /dpu/ports or /dpu/volumes (a list, or {key: list})."""
    items = reply.get(key) if isinstance(reply, dict) else reply
    check(isinstance(items, list), "GET /dpu/%s: not a list: %s" % (key, reply))
    return sorted(i["name"] for i in items)


def port_counters(kd, port):
    p = kd.ok("GET", "/dpu/ports/" + port)
    src = p.get("stats", p) if isinstance(p.get("stats"), dict) else p
    check("rx_packets" in src and "tx_packets" in src,
          "GET /dpu/ports/%s has no rx_packets/tx_packets counters: %s" % (port, p))
    return src["rx_packets"], src["tx_packets"]


def image_path(kd, vm):
    return os.path.join(kd.state, "volumes", device(vm, "block")["volume"] + ".img")


def dpu_sockets(kd, vm):
    """Where kite-dpu serves a VM's port and volume (docs/kited.md, state directory)."""
    out = [os.path.join(kd.state, "dpu", "sockets", "port-%s.sock" % vm["name"])]
    if [d for d in vm.get("devices") or () if d.get("type") == "block"]:
        out.append(os.path.join(kd.state, "dpu", "sockets", "vol-%s.sock" % device(vm, "block")["volume"]))
    return out


def check_released(kd, vm):
    """A VM that ended (vm: its object now): no port, its volume not served (sockets gone, null in
    the object), its image kept."""
    name, vol = vm["name"], device(vm, "block")["volume"]
    st, r = kd.req("GET", "/dpu/ports/" + name)
    check(st == 404, "VM %s ended, but GET /dpu/ports/%s gave HTTP %d (expected 404): %s" % (name, name, st, r))
    check(name not in kd.dpu_port_names(), "VM %s ended, but kite-dpu still has its port" % name)
    check(vol not in kd.dpu_volume_names(), "VM %s ended, but kite-dpu still serves its volume %s" % (name, vol))
    for path in dpu_sockets(kd, vm):
        check(not os.path.exists(path), "VM %s ended, but %s is still there" % (name, path))
    check(all(d.get("socket") is None for d in vm["devices"]),
          "VM %s ended, but its object still names device sockets: %s" % (name, vm["devices"]))
    check(os.path.exists(image_path(kd, vm)), "VM %s ended: its image %s should be kept" % (name, image_path(kd, vm)))


def check_wired(kd, vm):
    """A running VM: its port on kite-dpu's switch, its volume served, both sockets there."""
    name, vol = vm["name"], device(vm, "block")["volume"]
    check(device(vm, "net")["port"] == name, "VM %s: its port is named %s" % (name, device(vm, "net")["port"]))
    check(kd.ok("GET", "/dpu/ports/" + name).get("name") == name, "GET /dpu/ports/%s: not that port" % name)
    check(name in kd.dpu_port_names(), "VM %s runs, but kite-dpu has no port %s" % (name, name))
    check(vol in kd.dpu_volume_names(), "VM %s runs, but kite-dpu does not serve its volume %s" % (name, vol))
    for d, path in zip(sorted(vm["devices"], key=lambda d: d["type"] != "net"), dpu_sockets(kd, vm)):
        check(d["socket"] == path and os.path.exists(path),
              "VM %s runs: its %s device's socket is %s, expected %s (there)" % (name, d["type"], d["socket"], path))


def ident(vm):
    check(isinstance(vm.get("pid"), int) and vm["pid"] > 0, "VM %s: no pid: %s" % (vm["name"], vm))
    st = start_time(vm["pid"])
    check(st is not None, "VM %s: its pid %d does not exist" % (vm["name"], vm["pid"]))
    return vm["pid"], st


def wait_ended(kd, name):
    """Until the VM is neither running nor paused (nor on its way somewhere): the VM object."""
    return wait_for("VM %s's end to be seen by kited" % name,
                    lambda: (lambda v: v if v["state"] in ("stopped", "crashed") else None)(kd.vm(name)))


# ---- the end of every scenario ----

def teardown_and_check(kd, seen):
    """Delete every VM, then nothing of theirs may be left. seen: (pid, start) of every kite seen."""
    for vm in kd.vms():
        st, r = kd.req("DELETE", "/vms/" + vm["name"])
        check(st == 204, "DELETE /vms/%s: HTTP %d: %s" % (vm["name"], st, r))
    check(kd.vms() == [], "VMs left after deleting all: %s" % kd.vms())
    for pid, st in seen:
        check(not alive(pid, st), "kite %d still runs after every VM was deleted" % pid)
    dpu = kd.dpu()
    check(dpu.get("state") == "running", "kite-dpu is %s, expected running: %s" % (dpu.get("state"), dpu))
    left = {p: a for p, a in kd.mine().items() if p not in (kd.proc.pid, dpu["pid"])}
    check(not left, "processes left after deleting every VM: %s" % left)
    socks = sockets_under(kd.state)
    check(socks == ["dpu/ctl.sock"], "sockets left in the state dir (only dpu/ctl.sock may be): %s" % socks)
    for key in ("ports", "volumes"):
        check(names(kd.ok("GET", "/dpu/" + key), key) == [], "kited still has DPU %s: %s" %
              (key, kd.ok("GET", "/dpu/" + key)))
    check(kd.dpu_port_names() == [], "kite-dpu still has ports: %s" % kd.dpu_port_names())
    check(kd.dpu_volume_names() == [], "kite-dpu still serves volumes: %s" % kd.dpu_volume_names())
    check(fds_to(dpu["pid"], "/dev/net/tun") == 0, "kite-dpu still holds a TAP (/dev/net/tun fd)")
    for t in kd.taps:
        check(not os.path.exists("/sys/class/net/" + t), "TAP %s is still there" % t)
    vms_dir, vol_dir = os.path.join(kd.state, "vms"), os.path.join(kd.state, "volumes")
    check(not os.path.isdir(vms_dir) or os.listdir(vms_dir) == [], "left in %s: %s" %
          (vms_dir, os.listdir(vms_dir) if os.path.isdir(vms_dir) else ""))
    check(not os.path.isdir(vol_dir) or os.listdir(vol_dir) == [], "images left in %s: %s" %
          (vol_dir, os.listdir(vol_dir) if os.path.isdir(vol_dir) else ""))
    jails = os.path.join(kd.state, "jail", "kite")
    check(not os.path.isdir(jails) or os.listdir(jails) == [], "jails left in %s: %s" %
          (jails, os.listdir(jails) if os.path.isdir(jails) else ""))
    dpu_ident = (dpu["pid"], start_time(dpu["pid"]))
    kd.stop()
    check(alive(*dpu_ident), "kite-dpu ended with kited (it must outlive kited)")
    os.kill(dpu["pid"], signal.SIGTERM)
    wait_for("kite-dpu to end on SIGTERM", lambda: not alive(*dpu_ident))
    check(not kd.mine(), "processes left at the end: %s" % kd.mine())


# ---- scenarios ----

def lifecycle(kd):
    seen = []
    tap = "kdt%d" % (os.getpid() % 100000)
    kd.taps.append(tap)
    kd.ok("POST", "/dpu/ports", {"name": "uplink", "type": "tap", "tap": tap, "vlan": 0}, want=(201,))
    check(os.path.exists("/sys/class/net/" + tap), "POST /dpu/ports type tap: no TAP %s on the host" % tap)
    check(fds_to(kd.dpu()["pid"], "/dev/net/tun") >= 1, "POST /dpu/ports type tap: kite-dpu holds no TAP fd")
    idle = ["idle%02d" % i for i in range(14)]
    for n in idle:
        kd.create(n, IDLE, net={"vlan": 0})
    kd.create("resp", RESPONDER, net={"vlan": PING_VLAN, "mac": MAC_RESP})
    resp_con = kd.console("resp")
    resp_con.wait(ANSWERING)
    ping_con = kd.console("ping")       # attaches as soon as the pinger's kite listens
    kd.create("ping", PINGER, net={"vlan": PING_VLAN, "mac": MAC_PING})
    everyone = sorted(idle + ["resp", "ping"])

    # the list: 16 VMs, all running (the pinger may have done its job already: then stopped, status 0)
    vms = kd.vms()
    check([v["name"] for v in vms] == everyone, "GET /vms lists %s, expected %s" % ([v["name"] for v in vms], everyone))
    for v in vms:
        if v["name"] == "ping" and v["state"] == "stopped":
            check(v.get("last_exit") == {"status": 0}, "the pinger stopped with %s" % v.get("last_exit"))
            continue
        check(v["state"] == "running", "VM %s is %s, expected running" % (v["name"], v["state"]))
        seen.append(ident(v))
        check(device(v, "block").get("size_mib") == 4, "VM %s: disk of %s MiB, expected 4" %
              (v["name"], device(v, "block").get("size_mib")))
        if v["name"] != "ping":
            check_wired(kd, v)
    check(len({p for p, _ in seen}) == len(seen), "two VMs share a pid: %s" % seen)
    want = sorted(set(everyone + ["uplink"]) - {"ping"})
    check(sorted(set(kd.dpu_port_names()) - {"ping"}) == want, "kite-dpu's ports: %s, expected %s (and maybe ping)" %
          (kd.dpu_port_names(), want))
    rc, out, err = kd.kitectl("vm", "list")
    check(rc == 0, "kitectl vm list: status %d: %s" % (rc, err.strip()))
    for n in everyone:
        check(re.search(r"^\s*%s\s" % n, out, re.M), "kitectl vm list has no row for %s:\n%s" % (n, out))
    listed = kd.kitectl_json("vm", "list")
    check(sorted((v["name"], v["pid"]) for v in listed if v["name"] != "ping") ==
          sorted((v["name"], v["pid"]) for v in vms if v["name"] != "ping"),
          "kitectl --json vm list and GET /vms differ:\n%s\n%s" % (listed, vms))

    # the ping, through the switch
    ping = wait_ended(kd, "ping")
    check(ping["state"] == "stopped" and ping.get("last_exit") == {"status": 0},
          "the pinger ended %s with %s, expected stopped with status 0 (the guest's PASS)\n%s" %
          (ping["state"], ping.get("last_exit"), ping_con.text()[-2000:]))
    ping_con.wait(r"^virtio-net-ping: ARP reply: 192\.0\.2\.1 is at %s$" % MAC_RESP)
    ping_con.wait(r"^virtio-net-ping: echo reply from 192\.0\.2\.1, 200 payload bytes")
    ping_con.wait(r"^kite-guest: PASS virtio-net-ping$")
    resp_con.wait(r"^virtio-net-ping: answered echo request 1 from 192\.0\.2\.2 \(200 payload bytes\)$")
    rx, tx = port_counters(kd, "resp")
    check(rx >= 2 and tx >= 2, "port resp counted rx %d tx %d, expected the ARP and the echo both ways" % (rx, tx))
    check_released(kd, ping)

    # pause and resume one
    name = "idle03"
    before = kd.vm(name)
    v = kd.ok("POST", "/vms/%s/pause" % name)
    check(v["state"] == "paused", "POST pause: the reply says %s" % v["state"])
    check(kd.vm(name)["state"] == "paused", "GET /vms/%s after pause: %s" % (name, kd.vm(name)["state"]))
    states = {x["name"]: x["state"] for x in kd.vms()}
    check(states[name] == "paused" and all(s == "running" for n, s in states.items() if n not in (name, "ping")),
          "GET /vms after pausing %s: %s" % (name, states))
    check(kite_api_state(before) == "Paused", "kite of %s says %s after pause" % (name, kite_api_state(before)))
    rc, _, err = kd.kitectl("vm", "resume", name)
    check(rc == 0, "kitectl vm resume %s: status %d: %s" % (name, rc, err.strip()))
    info = kd.kitectl_json("vm", "info", name)
    check(info["state"] == "running", "kitectl vm info %s after resume: %s" % (name, info["state"]))
    check(kite_api_state(before) == "Running", "kite of %s says %s after resume" % (name, kite_api_state(before)))
    check(kd.vm(name)["pid"] == before["pid"], "pause/resume changed %s's pid" % name)

    # delete: one through kitectl, the rest (and the check) in teardown
    rc, _, err = kd.kitectl("vm", "delete", "idle00")
    check(rc == 0, "kitectl vm delete idle00: status %d: %s" % (rc, err.strip()))
    st, _ = kd.req("GET", "/vms/idle00")
    check(st == 404, "GET /vms/idle00 after kitectl vm delete: HTTP %d, expected 404" % st)
    kd.ok("DELETE", "/dpu/ports/uplink", want=(204,))
    teardown_and_check(kd, seen)
    print("PASS: 16 VMs created, listed, pinged through kite-dpu, one paused and resumed, all deleted; nothing left")


def crash(kd):
    names_ = ["vm-a", "vm-b", "vm-c"]
    for n in names_:
        kd.create(n, IDLE, net={"vlan": 0})
    vms = {v["name"]: v for v in kd.vms()}
    ids = {n: ident(vms[n]) for n in names_}
    for n in names_:
        kd.console(n).wait(IDLE_LINE)
        check_wired(kd, vms[n])
    os.kill(vms["vm-b"]["pid"], signal.SIGKILL)
    b = wait_ended(kd, "vm-b")
    check(b["state"] == "crashed", "kill -9 of vm-b's kite: kited says %s, expected crashed" % b["state"])
    check(b.get("last_exit") == {"signal": 9}, "vm-b's last_exit is %s, expected {\"signal\": 9}" % b.get("last_exit"))
    check_released(kd, b)
    info = kd.kitectl_json("vm", "info", "vm-b")
    check(info["state"] == "crashed", "kitectl vm info vm-b: %s" % info["state"])
    for n in ("vm-a", "vm-c"):
        v = kd.vm(n)
        check(v["state"] == "running" and v["pid"] == ids[n][0] and alive(*ids[n]),
              "%s should run on untouched after vm-b's crash: %s, pid %s (was %d)" % (n, v["state"], v["pid"], ids[n][0]))
        check_wired(kd, v)
    # it can be started again, with its port and volume back
    b = kd.ok("POST", "/vms/vm-b/start")
    check(b["state"] == "running" and b["pid"] != ids["vm-b"][0],
          "vm-b after start: %s, pid %s" % (b["state"], b["pid"]))
    kd.console("vm-b").wait(IDLE_LINE)
    check_wired(kd, b)
    teardown_and_check(kd, list(ids.values()) + [ident(b)])
    print("PASS: kill -9 of a kite: crashed (signal 9), port and volume released, image kept, others untouched, "
          "started again")


def restart(kd):
    names_ = ["vm-a", "vm-b", "vm-c"]
    for n in names_:
        kd.create(n, IDLE, net={"vlan": 0})
    for n in names_:
        kd.console(n).wait(IDLE_LINE)
    before = kd.kitectl_json("vm", "list")
    ids = {v["name"]: ident(v) for v in kd.vms()}
    dpu = kd.dpu()
    dpu_ident = (dpu["pid"], start_time(dpu["pid"]))
    kd.stop()
    for n, i in ids.items():
        check(alive(*i), "VM %s's kite ended with kited" % n)
    check(alive(*dpu_ident), "kite-dpu ended with kited")
    kd.start()
    after = kd.kitectl_json("vm", "list")
    check(after == before, "kitectl --json vm list differs after kited's restart:\nbefore %s\nafter  %s" %
          (json.dumps(before, sort_keys=True), json.dumps(after, sort_keys=True)))
    d2 = kd.dpu()
    check(d2["pid"] == dpu["pid"] and alive(*dpu_ident) and d2["state"] == "running",
          "kite-dpu was not adopted: before %s, after %s" % (dpu, d2))
    for n, i in ids.items():
        check(alive(*i), "VM %s's kite ended at kited's restart" % n)
        check_wired(kd, kd.vm(n))
    # the adopted VMs are managed: pause/resume, and an adopted kite's end is seen
    v = kd.ok("POST", "/vms/vm-b/pause")
    check(v["state"] == "paused" and kite_api_state(v) == "Paused",
          "adopted vm-b after pause: kited %s, kite %s" % (v["state"], kite_api_state(v)))
    v = kd.ok("POST", "/vms/vm-b/resume")
    check(v["state"] == "running" and kite_api_state(v) == "Running",
          "adopted vm-b after resume: kited %s, kite %s" % (v["state"], kite_api_state(v)))
    os.kill(ids["vm-c"][0], signal.SIGKILL)
    c = wait_ended(kd, "vm-c")
    check(c["state"] == "crashed", "kill -9 of adopted vm-c: kited says %s, expected crashed" % c["state"])
    check_released(kd, c)
    check(kd.vm("vm-a")["state"] == "running" and alive(*ids["vm-a"]), "vm-a did not run on")
    teardown_and_check(kd, list(ids.values()))
    print("PASS: kited restarted under 3 running VMs: adopted (kitectl vm list --json identical, kite-dpu kept), "
          "pause/resume and a crash of an adopted kite handled")


def bad_sectors(img, reqs, seed):
    """Requests among the first `reqs` whose sectors in the image do not hold the guest's pattern."""
    data = open(img, "rb").read()
    n = STREAM_STEP * SECTOR
    return [r for r in range(reqs) if data[r * n:(r + 1) * n] != pattern_bytes(r * STREAM_STEP, STREAM_STEP, seed)]


def dpu_restart(kd):
    seed = int.from_bytes(os.urandom(1), "little") + 1
    kd.create("resp", RESPONDER, net={"vlan": PING_VLAN, "mac": MAC_RESP}, disk_mib=0)
    resp_con = kd.console("resp")
    resp_con.wait(ANSWERING)
    resp_id = ident(kd.vm("resp"))
    stream = "kite.test=virtio-blk-stream kite.mmio=1 kite.blk_count=%d kite.blk_step=%d kite.seed=%d" % (
        STREAM_REQS, STREAM_STEP, seed)
    # the stream's disk is a volume of its own, made first with an iops limit: requests wait popped
    # behind the limiter (so some are in flight at the kill), and the stream cannot end before it
    kd.ok("POST", "/dpu/volumes", {"name": "stream", "size_mib": STREAM_REQS * STREAM_STEP * SECTOR // (1 << 20) + 1,
                                   "iops": STREAM_IOPS}, want=(201,))
    blk = kd.create("blk", stream, disk_mib=0, disk={"volume": "stream"})
    blk_id = ident(blk)
    check(device(blk, "block")["volume"] == "stream", "VM blk's disk: %s" % device(blk, "block"))
    img = image_path(kd, blk)
    con = kd.console("blk")

    def acked():
        m = re.findall(r"^blk-stream: (\d+) written$", con.text(), re.M)
        return int(m[-1]) if m else 0
    wait_for("the stream's first 64 completions", acked)
    dpu = kd.dpu()
    old = (dpu["pid"], start_time(dpu["pid"]))
    os.kill(dpu["pid"], signal.SIGKILL)
    wait_for("kite-dpu's end", lambda: not alive(*old))
    at_kill = acked()
    check(at_kill < STREAM_REQS, "the stream ended before kite-dpu was killed")
    bad = bad_sectors(img, at_kill, seed)
    check(not bad, "%d acknowledged writes are not in %s at the kill (first: request %d)" % (len(bad), img, (bad or [-1])[0]))
    print("kite-dpu %d killed after %d acknowledged writes" % (old[0], at_kill))
    d2 = wait_for("kited to restart kite-dpu",
                  lambda: (lambda d: d if d["state"] == "running" and d["pid"] not in (None, old[0]) else None)(kd.dpu()))
    check(d2.get("restarts", 0) >= 1, "GET /dpu after the restart: %s (restarts should count it)" % d2)
    vol = kd.ok("GET", "/dpu/volumes/stream")
    check(vol.get("iops") == STREAM_IOPS, "kited re-applied volume stream without its iops limit: %s" % vol)
    kd.ok("PATCH", "/dpu/volumes/stream", {"iops": 0})      # the rest of the stream at full speed
    b = wait_ended(kd, "blk")
    check(b["state"] == "stopped" and b.get("last_exit") == {"status": 0},
          "the stream's VM ended %s with %s, expected stopped with status 0 (the guest read every request back)\n%s" %
          (b["state"], b.get("last_exit"), con.text()[-2000:]))
    con.wait(r"^blk-stream: %d requests checked" % STREAM_REQS)
    bad = bad_sectors(img, STREAM_REQS, seed)
    check(not bad, "%d of %d writes are not in %s (first: request %d)" % (len(bad), STREAM_REQS, img, (bad or [-1])[0]))
    check("stream" in kd.dpu_volume_names(), "volume stream is no longer served after its VM ended")
    klog = open(os.path.join(kd.state, "vms", "blk", "kite.log"), errors="replace").read()
    check(re.search(r"vhost-user-blk0: backend .* lost", klog) and re.search(r"vhost-user-blk0: backend .* is back", klog),
          "blk's kite did not log the loss and the return of its backend:\n%s" % klog[-2000:])
    # the responder's NIC lived through the restart: a new pinger gets its answer
    check(alive(*resp_id) and kd.vm("resp")["state"] == "running", "the responder did not run on")
    check_wired_net(kd, "resp")
    ping_con = kd.console("ping")
    kd.create("ping", PINGER, net={"vlan": PING_VLAN, "mac": MAC_PING}, disk_mib=0)
    p = wait_ended(kd, "ping")
    check(p["state"] == "stopped" and p.get("last_exit") == {"status": 0},
          "the pinger after kite-dpu's restart ended %s with %s\n%s" % (p["state"], p.get("last_exit"),
                                                                        ping_con.text()[-2000:]))
    ping_con.wait(r"^virtio-net-ping: echo reply from 192\.0\.2\.1, 200 payload bytes")
    resp_con.wait(r"^virtio-net-ping: answered echo request 1 from 192\.0\.2\.2 \(200 payload bytes\)$")
    st, r = kd.req("DELETE", "/dpu/volumes/stream")
    check(st == 204, "DELETE /dpu/volumes/stream: HTTP %d: %s" % (st, r))
    teardown_and_check(kd, [resp_id, blk_id])
    print("PASS: kite-dpu killed under a %d-write stream: restarted by kited, the stream completed with every "
          "write in the image, the responder answered a new pinger" % STREAM_REQS)


def check_wired_net(kd, name):
    check(name in kd.dpu_port_names(), "VM %s runs, but kite-dpu has no port %s" % (name, name))
    check(os.path.exists(device(kd.vm(name), "net")["socket"]), "VM %s: its port's socket is missing" % name)


def bad_requests(kd):
    kd.create("ok1", IDLE, net={"vlan": 0})
    kd.console("ok1").wait(IDLE_LINE)
    ok1 = kd.vm("ok1")

    def world():
        return {"vms": kd.vms(), "procs": sorted(kd.mine()),
                "files": sorted(os.path.relpath(os.path.join(d, f), kd.state)
                                for d, _, fs in os.walk(kd.state) for f in fs),
                "dpu_ports": names(kd.ok("GET", "/dpu/ports"), "ports"),
                "dpu_volumes": names(kd.ok("GET", "/dpu/volumes"), "volumes"),
                "ctl": (kd.dpu_port_names(), kd.dpu_volume_names())}
    w0 = world()
    mem_mib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1 << 20)
    good = {"name": "new1", "kernel": kd.a.kernel, "cmdline": IDLE, "memory_mib": 32, "disk": {"size_mib": 4},
            "net": {"vlan": 0}, "start": True}
    cases = [
        ("unknown VM (GET)", "GET", "/vms/nosuch", None, None, 404, "nosuch"),
        ("unknown VM (pause)", "POST", "/vms/nosuch/pause", None, None, 404, "nosuch"),
        ("unknown VM (DELETE)", "DELETE", "/vms/nosuch", None, None, 404, "nosuch"),
        ("duplicate name", "POST", "/vms", dict(good, name="ok1"), None, 409, "ok1"),
        ("memory above the host's RAM", "POST", "/vms", dict(good, memory_mib=mem_mib * 4), None, 400, "memory"),
        ("memory 1 MiB", "POST", "/vms", dict(good, memory_mib=1), None, 400, "memory"),
        ("no kernel", "POST", "/vms", {k: v for k, v in good.items() if k != "kernel"}, None, 400, "kernel"),
        ("kernel missing on disk", "POST", "/vms", dict(good, kernel="/nonexistent/kite-guest.bzImage"), None, 400,
         "kernel"),
        ("relative kernel path", "POST", "/vms", dict(good, kernel="kite-guest.bzImage"), None, 400, "kernel"),
        ("malformed JSON", "POST", "/vms", None, b'{"name": "new1", "kernel": ', 400, None),
        ("JSON not an object", "POST", "/vms", None, b'["new1"]', 400, None),
        ("pinned to a host CPU that does not exist", "POST", "/vms",
         dict(good, pin_io=[os.sysconf("SC_NPROCESSORS_CONF")]), None, 400, "pin_io"),
        ("pin_vcpus not an array", "POST", "/vms", dict(good, pin_vcpus="0,1"), None, 400, "pin_vcpus"),
        ("unknown hugepages mode", "POST", "/vms", dict(good, hugepages="always"), None, 400, "hugepages"),
    ]
    for what, method, path, body, raw, want, word in cases:
        st, r = kd.req(method, path, body, raw)
        check(st == want, "%s: %s %s gave HTTP %d, expected %d: %s" % (what, method, path, st, want, r))
        check(isinstance(r, dict) and isinstance(r.get("error"), str) and r["error"].strip()
              and "\n" not in r["error"].strip(), "%s: the reply is not {\"error\": one line}: %r" % (what, r))
        if word:
            check(word in r["error"], "%s: the error does not name %r: %r" % (what, word, r["error"]))
        print("ok   %s: HTTP %d %s" % (what, st, r["error"]))
        w = world()
        check(w == w0, "%s changed something:\nbefore %s\nafter  %s" % (what, w0, w))
    # kitectl: exit status 1 and one line naming the problem
    for what, args, word in [("unknown VM", ["vm", "info", "nosuch"], "nosuch"),
                             ("duplicate name", ["vm", "create", "ok1", "--kernel", kd.a.kernel], "ok1"),
                             ("memory", ["vm", "create", "new2", "--kernel", kd.a.kernel, "--memory",
                                         str(mem_mib * 4)], "memory"),
                             ("pin", ["vm", "create", "new2", "--kernel", kd.a.kernel, "--pin-io",
                                      str(os.sysconf("SC_NPROCESSORS_CONF"))], "pin_io")]:
        rc, out, err = kd.kitectl(*args)
        lines = [l for l in err.splitlines() if l.strip()]
        check(rc == 1 and len(lines) == 1 and lines[0].startswith("kitectl:") and word in lines[0],
              "kitectl %s (%s): status %d, stderr %r (expected 1 and one line 'kitectl: ...' naming %s)" %
              (" ".join(args), what, rc, err, word))
        print("ok   kitectl %s: %s" % (what, lines[0]))
        check(world() == w0, "kitectl %s changed something" % what)
    check(alive(*ident(ok1)), "ok1 did not survive the bad requests")
    teardown_and_check(kd, [ident(ok1)])
    print("PASS: %d bad requests and 4 bad kitectl commands refused with one clear line, nothing changed" % len(cases))


SCENARIOS = {"lifecycle": lifecycle, "crash": crash, "restart": restart, "dpu-restart": dpu_restart,
             "bad-requests": bad_requests}


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    kdlib.common_args(ap)
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    a = ap.parse_args()
    for p in (a.kite, a.dpu, a.kernel):
        if not os.path.exists(p):
            print("FAIL: %s is not built" % p)
            return 1
    need_kvm()
    return kdlib.run_scenario(a, a.scenario, SCENARIOS[a.scenario])


if __name__ == "__main__":
    sys.exit(main())
