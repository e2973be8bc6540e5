#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kited's VM side end to end (suite 'kited', test kited-core), with test guests in idle mode and no
devices (the DPU side has its own tests):
  - bad requests (not JSON, unknown field, missing kernel, impossible memory, unknown VM, wrong
    method, body over 64 KiB) get their 4xx and change nothing (list and state dir);
  - create (stopped), create with start, a duplicate name (409), start, pause/resume (kite's own
    GET / says Paused/Running), GET /host and /metrics (the VMs' kite samples with vm="NAME");
  - kill -9 of one kite: that VM becomes crashed (signal 9), the other runs on, same process;
  - kited restarted (SIGTERM: exit 0, its kites live on; then SIGKILL): the running VM is adopted
    (same pid and start time, kite not restarted), the list is the same before and after;
  - stop (force), delete of a running VM: no process, socket or jail left;
  - kited's HTTP threads run under its seccomp filter (level 2) and serve all of the above.
Run as root the kites are jailed (kited's default: the cgroup limits from the definition are checked),
else --jail off."""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "security"))
from checks import check, end, failures, need_kvm, wait_for  # noqa: E402
from jailer_test import cgroup_files, read  # noqa: E402

import http.client  # noqa: E402


class UnixConn(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=120)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def call(sock, method, path, body=None, raw=None):
    """(status, JSON or text or None)."""
    c = UnixConn(sock)
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    try:
        c.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
        r = c.getresponse()
        text = r.read().decode(errors="replace")
    finally:
        c.close()
    try:
        return r.status, json.loads(text) if text else None
    except ValueError:
        return r.status, text


def start_time(pid):
    try:
        s = open("/proc/%d/stat" % pid).read()
    except OSError:
        return None
    f = s[s.rindex(")") + 2:].split()
    return None if f[0] == "Z" else int(f[19])


def procs_under(top):
    """pids whose command line names a path under `top` (kited, kites, jailers)."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) != os.getpid():
            try:
                if top.encode() in open("/proc/%s/cmdline" % d, "rb").read() and start_time(int(d)):
                    out.append(int(d))
            except OSError:
                pass
    return out


def main():
    ap = argparse.ArgumentParser()
    for a in ("--kited", "--kite", "--jailer", "--kernel"):
        ap.add_argument(a, required=True)
    args = ap.parse_args()
    for a in ("kited", "kite", "jailer", "kernel"):
        setattr(args, a, os.path.abspath(getattr(args, a)))
    need_kvm()
    work = tempfile.mkdtemp(prefix="kited-core-")
    state, sock = os.path.join(work, "state"), os.path.join(work, "kited.sock")
    jail = os.geteuid() == 0
    cmd = [args.kited, "--sock", sock, "--state-dir", state, "--kite", args.kite, "--jailer", args.jailer,
           "--jail", "on" if jail else "off"]
    logf = open(os.path.join(work, "kited.log"), "ab")

    def answers():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(sock)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def start_kited():
        """A kited, once its socket answers (a killed one leaves a stale socket file)."""
        p = subprocess.Popen(cmd, stdout=logf, stderr=logf)
        wait_for(lambda: answers() or p.poll() is not None, 60)
        return p

    kd = start_kited()
    try:
        run(args, work, state, sock, kd, start_kited, jail)
    finally:
        for p in procs_under(work):
            os.kill(p, signal.SIGKILL)
        end(kd, "kited")
        logf.close()
        if failures:
            print(open(os.path.join(work, "kited.log")).read())
        shutil.rmtree(work, ignore_errors=True)
    print("%d failure(s)" % len(failures))
    sys.exit(1 if failures else 0)


def run(args, work, state, sock, kd, start_kited, jail):
    check(kd.poll() is None and os.path.exists(sock), "kited serves its socket")
    idle = {"kernel": args.kernel, "cmdline": "kite.test=idle", "memory_mib": 64}
    call(sock, "GET", "/host")   # a connection thread exists now

    def seccomp_of(pid):
        out = {}
        for t in os.listdir("/proc/%d/task" % pid):
            try:
                st = dict(l.split(":\t", 1) for l in open("/proc/%d/task/%s/status" % (pid, t)).read().splitlines()
                          if ":\t" in l)
            except OSError:
                continue
            out[int(t)] = (st["Name"].strip(), st["Seccomp"].strip())
        return out
    sc = seccomp_of(kd.pid)
    names = dict(sc.values())
    check(sc[kd.pid][1] == "0" and names.get("kd-spawn") == "0" and names.get("MHD-listen") == "2" and
          all(s == "2" for n, s in sc.values() if n.startswith("MHD")),
          "kited: the HTTP threads run under seccomp level 2, main and kd-spawn do not (%s)" % sorted(sc.values()))

    # ---- bad requests change nothing ----
    bad = [
        ("POST", "/vms", None, b"{not json", 400, "not a JSON object"),
        ("POST", "/vms", dict(idle, name="x", colour=1), None, 400, "unknown field \"colour\""),
        ("POST", "/vms", {"name": "x"}, None, 400, "missing field \"kernel\""),
        ("POST", "/vms", dict(idle, name="x", kernel="/nonexistent/kernel"), None, 400, "/nonexistent/kernel"),
        ("POST", "/vms", dict(idle, name="x", memory_mib=1 << 30), None, 400, "host's RAM"),
        ("POST", "/vms", dict(idle, name="x/y"), None, 400, "letters, digits and hyphens"),
        ("GET", "/vms/nosuch", None, None, 404, "nosuch"),
        ("POST", "/vms/nosuch/start", None, None, 404, "nosuch"),
        ("DELETE", "/vms/nosuch", None, None, 404, "nosuch"),
        ("PUT", "/vms", None, None, 405, "not allowed"),
        ("GET", "/nothing", None, None, 404, "no such path"),
        ("POST", "/vms", None, b"{\"name\": \"" + b"a" * 70000 + b"\"}", 413, "over the limit"),
    ]
    for method, path, body, raw, want, words in bad:
        st, rep = call(sock, method, path, body, raw)
        check(st == want and isinstance(rep, dict) and words in rep.get("error", ""),
              "%s %s -> %d naming %r (got %d %s)" % (method, path, want, words, st, str(rep)[:120]))
    st, vms = call(sock, "GET", "/vms")
    check(st == 200 and vms == [], "after the bad requests: no VM")
    check(os.listdir(os.path.join(state, "vms")) == [], "after the bad requests: nothing in the state dir")

    # ---- create, start, duplicate ----
    st, a = call(sock, "POST", "/vms", dict(idle, name="a"))
    check(st == 201 and a["state"] == "stopped" and a["pid"] is None and a["jailed"] == jail,
          "create a: 201, stopped, no pid (%d %s)" % (st, a))
    check(os.path.isfile(os.path.join(state, "vms", "a", "vm.json")), "a's vm.json written")
    st, b = call(sock, "POST", "/vms", dict(idle, name="b", start=True))
    check(st == 201 and b["state"] == "running" and b["pid"] and start_time(b["pid"]),
          "create b with start: 201, running, its kite lives (%d %s)" % (st, str(b)[:200]))
    st, rep = call(sock, "POST", "/vms", dict(idle, name="a", cpus=2))
    st2, a2 = call(sock, "GET", "/vms/a")
    check(st == 409 and "already exists" in rep["error"] and a2["cpus"] == 1, "duplicate a: 409, a unchanged")
    st, a = call(sock, "POST", "/vms/a/start")
    check(st == 200 and a["state"] == "running" and start_time(a["pid"]), "start a: running")
    st, rep = call(sock, "POST", "/vms/a/start")
    check(st == 409, "start of a running VM: 409")
    st, rep = call(sock, "POST", "/vms/a/start", {"x": 1})
    check(st == 400 and "unknown field" in rep["error"], "start with a body field: 400")
    check(os.path.exists(a["api_sock"]) and a["api_sock"].startswith(state), "a's api_sock is a host path")
    if a.get("console_sock"):
        check(os.path.exists(a["console_sock"]), "a's console socket exists")
    if jail:
        seen = sorted(os.listdir("/proc/%d/root" % a["pid"]))
        check("kite" in seen and "etc" not in seen and "proc" not in seen, "a's kite runs in its jail (%s)" % seen)
        cg = cgroup_files(a["pid"])
        mem, cpu, pids = (cg.get(c, cg.get("")) for c in ("memory", "cpu", "pids"))
        check(mem and os.path.basename(mem).startswith("a-"), "a's cgroup is <hierarchy>/kite/a-HASH (%s)" % mem)
        memval = read(os.path.join(mem, "memory.max")) if os.path.exists(os.path.join(mem, "memory.max")) \
            else read(os.path.join(mem, "memory.limit_in_bytes"))
        check(memval == str((64 + 96) << 20), "a's memory limit: 64 MiB of RAM + 96 MiB (got %s)" % memval)
        cpuval = read(os.path.join(cpu, "cpu.max")) if os.path.exists(os.path.join(cpu, "cpu.max")) \
            else read(os.path.join(cpu, "cpu.cfs_quota_us")) + " " + read(os.path.join(cpu, "cpu.cfs_period_us"))
        check(cpuval == "100000 100000", "a's cpu limit: 1 CPU (got %s)" % cpuval)
        check(read(os.path.join(pids, "pids.max")) == "66", "a's pids.max 66 (got %s)" % read(os.path.join(pids, "pids.max")))

    # ---- pause, resume: kite's own state agrees ----
    st, a = call(sock, "POST", "/vms/a/pause")
    ks, kst = call(a["api_sock"], "GET", "/")
    check(st == 200 and a["state"] == "paused" and kst["state"] == "Paused", "pause a: paused (kite: %s)" % kst)
    st, a = call(sock, "POST", "/vms/a/pause")
    check(st == 200 and a["state"] == "paused", "pause again: idempotent")
    st, a = call(sock, "POST", "/vms/a/resume")
    ks, kst = call(a["api_sock"], "GET", "/")
    check(st == 200 and a["state"] == "running" and kst["state"] == "Running", "resume a: running")

    # ---- snapshot, restore (twice: the second snapshot is taken from a restored kite) ----
    st, rep = call(sock, "POST", "/vms/a/restore")
    check(st == 409 and "no snapshot" in rep["error"], "restore without a snapshot: 409")
    for i in (1, 2):
        old_pid = a["pid"]
        st, snap = call(sock, "POST", "/vms/a/snapshot")
        check(st == 200 and os.path.getsize(snap["mem"]) == 64 << 20 and os.path.isfile(snap["vmstate"]),
              "snapshot %d of a: 200, memory file of 64 MiB (%d %s)" % (i, st, snap))
        st, a = call(sock, "GET", "/vms/a")
        check(a["state"] == "running", "a runs on after its snapshot")
        st, a = call(sock, "POST", "/vms/a/restore")
        ks, kst = call(a["api_sock"], "GET", "/") if st == 200 else (0, {})
        check(st == 200 and a["state"] == "running" and a["pid"] != old_pid and start_time(old_pid) is None and
              kst.get("state") == "Running", "restore %d of a: a new kite runs it, the old one ended" % i)

    # ---- host, metrics ----
    st, host = call(sock, "GET", "/host")
    check(st == 200 and host["cores"] >= 1 and host["memory_mib"] > 0 and host["kvm"]["available"] and
          host["kited"]["state_dir"] == state and "state" in host["dpu"], "GET /host")
    st, text = call(sock, "GET", "/metrics")
    check(st == 200 and 'kited_vms{state="running"} 2' in text, "metrics: kited_vms running 2")
    check('vm="a"' in text and 'vm="b"' in text, "metrics: kite samples labelled vm=a and vm=b")
    types = [l for l in text.splitlines() if l.startswith("# TYPE ")]
    check(len(types) == len(set(types)), "metrics: each TYPE line once")

    # ---- kill -9 one kite ----
    a_pid, a_start = a["pid"], start_time(a["pid"])
    os.kill(b["pid"], signal.SIGKILL)
    check(wait_for(lambda: call(sock, "GET", "/vms/b")[1]["state"] == "crashed", 60), "kill -9 b: crashed")
    st, b = call(sock, "GET", "/vms/b")
    check(b["last_exit"] == {"signal": 9} and b["pid"] is None and "signal 9" in (b["error"] or ""),
          "b: last_exit signal 9, error says so (%s, %s)" % (b["last_exit"], b["error"]))
    if jail:
        check(wait_for(lambda: not [j for j in os.listdir(os.path.join(state, "jail", "kite")) if j.startswith("b-")], 30),
              "b's jail removed")
    st, a = call(sock, "GET", "/vms/a")
    check(a["state"] == "running" and a["pid"] == a_pid and start_time(a_pid) == a_start, "a untouched")

    # ---- kited restart: a adopted, not restarted ----
    st, before = call(sock, "GET", "/vms")
    kd.send_signal(signal.SIGTERM)
    check(kd.wait(30) == 0, "kited: SIGTERM -> exit 0")
    check(start_time(a_pid) == a_start, "a's kite lives on without kited")
    kd2 = start_kited()
    try:
        st, after = call(sock, "GET", "/vms")
        check(st == 200 and after == before, "the list is the same after the restart")
        check(after[0]["pid"] == a_pid and start_time(a_pid) == a_start, "a adopted: same pid and start time")
        st, a = call(sock, "POST", "/vms/a/pause")
        check(st == 200 and a["state"] == "paused", "the adopted a pauses")
        call(sock, "POST", "/vms/a/resume")
        # kill -9 of kited: its lock and socket are left behind, the next one takes both over
        st, before = call(sock, "GET", "/vms")
        kd2.kill()
        kd2.wait()
        kd2 = start_kited()
        st, after = call(sock, "GET", "/vms")
        check(st == 200 and after == before and start_time(a_pid) == a_start,
              "kited killed with SIGKILL and started again: the same list, a adopted again")
        # a crash of an adopted kite is seen too (not kited's child: no status)
        os.kill(a_pid, signal.SIGKILL)
        check(wait_for(lambda: call(sock, "GET", "/vms/a")[1]["state"] == "crashed", 60),
              "kill -9 of the adopted a: crashed")

        # ---- stop, delete ----
        st, a = call(sock, "POST", "/vms/a/start")
        check(st == 200 and a["state"] == "running", "a starts again after its crash")
        st, a = call(sock, "POST", "/vms/a/stop", {"force": True})
        check(st == 200 and a["state"] == "stopped" and a["pid"] is None, "stop a (force): stopped")
        st, rep = call(sock, "POST", "/vms/a/stop", {"force": "yes"})
        check(st == 400, "stop with a bad field: 400")
        st, b = call(sock, "POST", "/vms/b/start")
        b_pid = b["pid"]
        st, rep = call(sock, "DELETE", "/vms/b")
        check(st == 204 and start_time(b_pid) is None, "delete of a running b: 204, its kite gone")
        st, rep = call(sock, "DELETE", "/vms/a")
        check(st == 204, "delete a: 204")
        st, vms = call(sock, "GET", "/vms")
        check(vms == [] and os.listdir(os.path.join(state, "vms")) == [], "no VM left, nothing in vms/")
        # kite-dpu (and its control socket) outlive VMs and kited by design
        dpu_ctl = os.path.join(state, "dpu", "ctl.sock")
        dpu_pid = json.load(open(os.path.join(state, "dpu", "dpu.json")))["pid"] \
            if os.path.exists(os.path.join(state, "dpu", "dpu.json")) else None
        left = [p for p in procs_under(work) if p not in (kd2.pid, dpu_pid)]
        check(left == [], "no process left but kited and kite-dpu (%s)" % left)
        socks = [os.path.join(d, f) for d, _, fs in os.walk(state) for f in fs if f.endswith(".sock")]
        check([s for s in socks if s != dpu_ctl] == [], "no socket left in the state dir but kite-dpu's control (%s)"
              % socks)
        if jail:
            jd = os.path.join(state, "jail", "kite")
            check(not os.path.isdir(jd) or os.listdir(jd) == [], "no jail left")
    finally:
        end(kd2, "kited")


if __name__ == "__main__":
    main()
