#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kitectl against the real kited (suite 'kited', test kitectl): test guests without devices, jailed
when run as root (kited's default), else --jail off.
  - host; vm create (stopped, and --start) printing "NAME: STATE"; vm list (the table's rows and
    --json the same as the API's GET /vms); vm info --json (name, state, pid of a live kite);
  - vm console on the serial_echo guest: attached after boot it first gets the boot lines (kite's
    ring), input reaches the guest, Ctrl-] detaches; a second console while one is attached is
    refused (exit 1, one line); attach again, "quit": the guest ends, kitectl gets the end of the
    console and exits 0, the VM becomes stopped;
  - pause / resume, snapshot (its two files) and restore (a new kite); errors from kited (unknown VM, duplicate name, missing kernel, impossible
    memory, raw on an unknown path) are exit 1 with one line "kitectl: ..." naming the object;
  - delete: the list is empty, no kite left;
  - the DPU through kitectl (kited with a real kite-dpu): dpu status; port add/list/set/info, ACL
    rules added and deleted; volume add/list/set (grow; shrinking refused); a VM with its own disk
    and a NIC on a VLAN (the list's DISK and NET, its port in the port list), a VM on a volume; the
    port and volume of a running VM cannot be deleted (exit 1, one line); deletes with --keep-image.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checks import check, end, failures, need_kvm, read_until, verdict, wait_for  # noqa: E402
from core_test import procs_under  # noqa: E402  (same folder)


class Ctl:
    def __init__(self, exe, sock):
        self.exe, self.sock = exe, sock

    def __call__(self, *args, stdin=""):
        p = subprocess.run([self.exe, "--sock", self.sock] + list(args), capture_output=True, text=True,
                           input=stdin, timeout=120)
        return p.returncode, p.stdout, p.stderr

    def json(self, *args):
        rc, out, err = self(*args, "--json")
        return json.loads(out) if rc == 0 and out else None

    def console(self, name):
        return subprocess.Popen([self.exe, "--sock", self.sock, "vm", "console", name], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def one_error(res, what, must):
    rc, out, err = res
    lines = err.splitlines()
    check(rc == 1 and len(lines) == 1 and lines[0].startswith("kitectl: ") and must in lines[0],
          "%s: exit 1, one line naming %r (got %d %r)" % (what, must, rc, err))


def state_of(k, name):
    vm = k.json("vm", "info", name)
    return vm and vm.get("state")


def run(a, k):
    rc, out, err = k("host")
    check(rc == 0 and "cores: " in out, "host: key: value lines (got %d %r)" % (rc, err))

    rc, out, err = k("vm", "create", "con1", "--kernel", a.kernel, "--cmdline", "kite.test=serial_echo",
                     "--memory", "64M", "--start")
    check(rc == 0 and out == "con1: running\n", "vm create --start: 'con1: running' (got %d %r %r)" % (rc, out, err))
    rc, out, err = k("vm", "create", "idle1", "--kernel", a.kernel, "--cmdline", "kite.test=idle", "--memory", "64")
    check(rc == 0 and out == "idle1: stopped\n", "vm create: 'idle1: stopped' (got %d %r %r)" % (rc, out, err))

    rc, out, err = k("vm", "list")
    rows = {l.split()[0]: l.split() for l in out.splitlines()[1:]}
    vm = k.json("vm", "info", "con1") or {}
    check(out.splitlines()[0].split() == ["NAME", "STATE", "PID", "CPUS", "MEM", "DISK", "NET"], "vm list: the header")
    check(rows.get("con1") == ["con1", "running", str(vm.get("pid")), "1", "64M", "-", "-"],
          "vm list: con1's row (got %s)" % rows.get("con1"))
    check(rows.get("idle1") == ["idle1", "stopped", "-", "1", "64M", "-", "-"], "vm list: idle1's row (got %s)" % rows.get("idle1"))
    rc, raw, err = k("raw", "GET", "/vms")
    check(k.json("vm", "list") == json.loads(raw), "vm list --json is the API's GET /vms")
    check(vm.get("name") == "con1" and vm.get("state") == "running" and "devices" in vm and
          isinstance(vm.get("pid"), int) and os.path.exists("/proc/%d" % vm["pid"]),
          "vm info --json: name, state, devices, the pid of a live kite (got %s)" % vm)

    # the console: boot lines replayed, input, detach
    p = k.console("con1")
    got = [b""]
    try:
        check(read_until(p.stdout, got, b"serial_echo: ready"), "vm console: the guest's boot lines, attached after boot")
        check(got[0].startswith(b"kite-guest: "), "... from its first line (got %r)" % got[0][:40])
        p.stdin.write(b"hello\n")
        p.stdin.flush()
        check(read_until(p.stdout, got, b"serial_echo: got 'hello'\n"), "vm console: input reaches the guest")
        one_error(k("vm", "console", "con1"), "a second console while one is attached", "console busy")
        p.stdin.write(b"\x1d")
        p.stdin.flush()
        check(p.wait(timeout=60) == 0, "vm console: Ctrl-] detaches with exit 0")
    finally:
        end(p, "kitectl vm console")
    check(state_of(k, "con1") == "running", "the VM runs on after the detach")
    # again: the last word ends the guest, and so the console
    p = k.console("con1")
    got = [b""]
    try:
        p.stdin.write(b"quit\n")
        p.stdin.flush()
        check(read_until(p.stdout, got, b"kite-guest: PASS serial_echo"), "vm console again: 'quit' reaches the guest")
        check(b"serial_echo: ready" not in got[0], "... and what the first console read is not replayed")
        check(p.wait(timeout=60) == 0, "the console ends with the VM, exit 0")
    finally:
        end(p, "kitectl vm console")
    check(wait_for(lambda: state_of(k, "con1") == "stopped", 60), "the VM is stopped after its guest ended")

    # pause / resume / stop
    rc, out, err = k("vm", "start", "idle1")
    check(rc == 0 and out == "idle1: running\n", "vm start (got %d %r %r)" % (rc, out, err))
    rc, out, err = k("vm", "pause", "idle1")
    check(rc == 0 and out == "idle1: paused\n", "vm pause (got %d %r %r)" % (rc, out, err))
    rc, out, err = k("vm", "resume", "idle1")
    check(rc == 0 and out == "idle1: running\n", "vm resume (got %d %r %r)" % (rc, out, err))
    # snapshot and restore: a new kite from the snapshot
    old = (k.json("vm", "info", "idle1") or {}).get("pid")
    rc, out, err = k("vm", "snapshot", "idle1")
    paths = dict(l.split(": ", 1) for l in out.splitlines() if ": " in l)
    check(rc == 0 and sorted(paths) == ["mem", "vmstate"] and all(os.path.exists(v) for v in paths.values()),
          "vm snapshot: prints the vmstate and mem files, which exist (got %d %r %r)" % (rc, out, err))
    check(state_of(k, "idle1") == "running", "the VM runs on after the snapshot")
    rc, out, err = k("vm", "restore", "idle1")
    pid = (k.json("vm", "info", "idle1") or {}).get("pid")
    check(rc == 0 and out == "idle1: running\n" and pid and pid != old,
          "vm restore: running in a new kite (pid %s, was %s; got %d %r %r)" % (pid, old, rc, out, err))
    rc, out, err = k("vm", "stop", "idle1", "--force")
    check(rc == 0 and out == "idle1: stopped\n", "vm stop --force (got %d %r %r)" % (rc, out, err))
    check(pid and wait_for(lambda: not os.path.exists("/proc/%d" % pid) or
                           open("/proc/%d/stat" % pid).read().split(") ")[1][0] == "Z", 30),
          "its kite is gone")

    # kited's errors, one line each
    one_error(k("vm", "info", "nosuch"), "vm info of an unknown VM", "nosuch")
    one_error(k("vm", "create", "idle1", "--kernel", a.kernel), "a duplicate name", "idle1")
    one_error(k("vm", "create", "nok", "--kernel", "/nonexistent/kernel"), "a missing kernel", "/nonexistent/kernel")
    one_error(k("vm", "create", "bigmem", "--kernel", a.kernel, "--memory", "4000T"), "an impossible memory size",
              "memory")
    rc, out, err = k("raw", "GET", "/nosuch")
    check(rc == 1 and "error" in out, "raw GET /nosuch: the 404's body, exit 1 (got %d %r)" % (rc, out))
    check(sorted(k("vm", "list", "--names")[1].split()) == ["con1", "idle1"], "the refused requests changed nothing")

    for name in ("con1", "idle1"):
        rc, out, err = k("vm", "delete", name)
        check(rc == 0 and out == "%s: deleted\n" % name, "vm delete %s" % name)
    check(k("vm", "list", "--names")[1] == "", "no VM left")


def run_dpu(a, k, state):
    rc, out, err = k("dpu", "status")
    check(rc == 0 and "state: running" in out, "dpu status: kite-dpu running (got %d %r %r)" % (rc, out, err))
    rc, out, err = k("dpu", "port", "add", "p1", "--vlan", "10", "--mtu", "9000")
    check(rc == 0 and out == "port p1: added\n", "dpu port add (got %d %r %r)" % (rc, out, err))
    rc, out, err = k("dpu", "port", "set", "p1", "--vlan", "20", "--rate-pps", "1000")
    check(rc == 0 and out == "port p1: set\n", "dpu port set (got %d %r %r)" % (rc, out, err))
    rc, out, err = k("dpu", "port", "list")
    rows = {l.split()[0]: l.split() for l in out.splitlines()[1:]}
    check(rows.get("p1") == ["p1", "vhost", "20", "9000", "1000", "0", "-"], "dpu port list: p1's row (got %s)" % rows)
    rc, out, err = k("dpu", "port", "acl", "p1", "add", "in", "deny proto icmp")
    check(rc == 0 and out == "port p1: in rule 0 added\n", "dpu port acl add (got %d %r %r)" % (rc, out, err))
    k("dpu", "port", "acl", "p1", "add", "in", "allow proto tcp dport 22")
    p1 = k.json("dpu", "port", "info", "p1") or {}
    check(len(p1.get("acl_in", [])) == 2 and p1.get("vlan") == 20, "dpu port info --json: two rules in, VLAN 20 (%s)" % p1)
    rc, out, err = k("dpu", "port", "info", "p1")
    check(rc == 0 and "vlan: 20" in out and "stats." in out, "dpu port info: key: value lines with kite-dpu's counters")
    rc1, _, _ = k("dpu", "port", "acl", "p1", "del", "in", "0")
    p1 = k.json("dpu", "port", "info", "p1") or {}
    rc2, _, _ = k("dpu", "port", "acl", "p1", "del", "in")
    p1b = k.json("dpu", "port", "info", "p1") or {}
    check(rc1 == 0 and len(p1.get("acl_in", [])) == 1 and rc2 == 0 and not p1b.get("acl_in"),
          "dpu port acl del: one rule by index, then all (%s / %s)" % (p1.get("acl_in"), p1b.get("acl_in")))
    one_error(k("dpu", "port", "add", "p1"), "a duplicate port", "p1")

    rc, out, err = k("dpu", "volume", "add", "v1", "--size", "16M", "--iops", "100")
    check(rc == 0 and out == "volume v1: added\n", "dpu volume add (got %d %r %r)" % (rc, out, err))
    rc, out, err = k("dpu", "volume", "set", "v1", "--size", "32M")
    check(rc == 0 and (k.json("dpu", "volume", "info", "v1") or {}).get("size_mib") == 32, "dpu volume set --size: grown")
    one_error(k("dpu", "volume", "set", "v1", "--size", "8M"), "shrinking a volume", "v1")
    rc, out, err = k("dpu", "volume", "list")
    rows = {l.split()[0]: l.split() for l in out.splitlines()[1:]}
    check(rows.get("v1") == ["v1", "32M", "no", "100", "0", "-"], "dpu volume list: v1's row (got %s)" % rows)

    rc, out, err = k("vm", "create", "w1", "--kernel", a.kernel, "--cmdline", "kite.test=idle", "--memory", "64M",
                     "--disk", "8M", "--net", "30", "--start")
    check(rc == 0 and out == "w1: running\n", "vm create with --disk and --net (got %d %r %r)" % (rc, out, err))
    rc, out, err = k("vm", "create", "w2", "--kernel", a.kernel, "--cmdline", "kite.test=idle", "--memory", "64",
                     "--volume", "v1", "--start")
    check(rc == 0 and out == "w2: running\n", "vm create with --volume (got %d %r %r)" % (rc, out, err))
    rc, out, err = k("vm", "list")
    rows = {l.split()[0]: l.split() for l in out.splitlines()[1:]}
    check(rows.get("w1", [])[5:] == ["8M", "vlan=30"] and rows.get("w2", [])[5:] == ["v1", "-"],
          "vm list: DISK and NET of w1 (own disk, VLAN 30) and w2 (volume v1) (got %s)" % rows)
    rc, out, err = k("vm", "info", "w1")
    check("block  volume w1-disk  8M  own" in out and "net    port w1" in out and "vlan 30" in out,
          "vm info: the devices (got %r)" % out[-400:])
    rows = {l.split()[0]: l.split() for l in k("dpu", "port", "list")[1].splitlines()[1:]}
    check(rows.get("w1", [None])[-1] == "w1", "dpu port list: w1's port, used by VM w1 (got %s)" % rows.get("w1"))
    one_error(k("dpu", "port", "del", "w1"), "deleting a running VM's port", "w1")
    one_error(k("dpu", "volume", "del", "v1"), "deleting a volume a VM uses", "w2")
    for name in ("w1", "w2"):
        k("vm", "delete", name)
    rc, out, err = k("dpu", "volume", "del", "v1", "--keep-image")
    check(rc == 0 and os.path.exists(os.path.join(state, "volumes", "v1.img")), "dpu volume del --keep-image keeps v1.img")
    rc, out, err = k("dpu", "port", "del", "p1")
    check(rc == 0 and out == "port p1: deleted\n", "dpu port del")
    check(k("dpu", "port", "list", "--names")[1] == "" and k("dpu", "volume", "list", "--names")[1] == "",
          "no port or volume left")


def main():
    ap = argparse.ArgumentParser()
    for o in ("--kitectl", "--kited", "--kite", "--dpu", "--jailer", "--kernel"):
        ap.add_argument(o, required=True)
    a = ap.parse_args()
    for o in ("kitectl", "kited", "kite", "dpu", "jailer", "kernel"):
        setattr(a, o, os.path.abspath(getattr(a, o)))
    need_kvm()
    work = tempfile.mkdtemp(prefix="kitectl-kited-")
    sock = os.path.join(work, "kited.sock")
    logf = open(os.path.join(work, "kited.log"), "ab")
    state = os.path.join(work, "state")
    kd = subprocess.Popen([a.kited, "--sock", sock, "--state-dir", state, "--kite", a.kite, "--kite-dpu", a.dpu,
                           "--jailer", a.jailer, "--jail", "on" if os.geteuid() == 0 else "off"],
                          stdout=logf, stderr=logf)
    try:
        if check(wait_for(lambda: os.path.exists(sock) or kd.poll() is not None, 60) and kd.poll() is None,
                 "kited serves its socket"):
            run(a, Ctl(a.kitectl, sock))
            run_dpu(a, Ctl(a.kitectl, sock), state)
    finally:
        kd.send_signal(signal.SIGTERM)
        try:
            kd.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        for pid in procs_under(work):   # kites of a failed run (kited leaves them running)
            os.kill(pid, signal.SIGKILL)
        end(kd, "kited")
        logf.close()
        if failures:
            for f in ("kited.log", "state/dpu/kite-dpu.log"):
                if os.path.exists(os.path.join(work, f)):
                    print("--- %s ---\n%s" % (f, open(os.path.join(work, f), errors="replace").read()[-20000:]))
        shutil.rmtree(work, ignore_errors=True)
    return verdict()


if __name__ == "__main__":
    sys.exit(main())
