#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kite's API (issue 10) against QEMU's QMP, same guest image, same run. Prints `name value unit` lines.

usage: api_bench.py KITE BZIMAGE [--rounds N] [--requests N] [--no-qemu]

Rounds alternate kite and the QEMU peers (>= 5 rounds; median and spread = max - min):
  sock_ready     exec -> the control socket accepts a connection: kite --api-sock vs QEMU -S -qmp
                 (microvm + qboot, KVM and TCG). Wall ms and the VMM's CPU ms (all its threads,
                 /proc/PID/task/*/schedstat, sampled at that moment).
  start_request  InstanceStart (kite: after boot-source and machine-config, PUT /actions; QEMU:
                 `cont` on the VM stopped by -S) until its reply: the VMM's work until the vCPU is
                 launched at the guest's first instruction. Wall ms and VMM CPU ms.
  start_to_output the same start until the guest's first console byte (kite-guest's first line):
                 includes the guest's entry code, which kvm-pvm emulates on the vCPU thread (its
                 CPU counts as the VMM process's).
  exec_to_launch_cpu the VMM process's whole CPU time from exec to the start reply (kite: server,
                 configuration requests, VM creation; QEMU: everything it does before and at `cont`):
                 Firecracker's "VMM start-up CPU ms" bar.
Latency: GET / and PATCH /vm (Paused, then Resumed) over one keep-alive connection, --requests each,
p50 / p99 in microseconds, while the guest writes 4 KiB blocks to a virtio-blk drive without pause
(blkbench randwrite); QEMU's reference: QMP query-status and stop/cont on a running idle guest.
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

QEMU = "qemu-system-x86_64"


def out(name, value, unit):
    print("%s %s %s" % (name, ("%.3f" % value) if isinstance(value, float) else value, unit), flush=True)


def cpu_ms(pid):
    """CPU time of every thread of pid (ns resolution), in ms."""
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total / 1e6


def wait_connect(path, proc, bound=30):
    end = time.monotonic() + bound
    while time.monotonic() < end:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
        if proc.poll() is not None:
            raise RuntimeError("%s ended (status %s) before its socket was ready" % (proc.args[0], proc.returncode))
        time.sleep(0.0005)
    raise RuntimeError("no socket at " + path)


class Http:
    """HTTP/1.1 over one keep-alive Unix-socket connection."""

    def __init__(self, sock):
        self.s = sock
        self.buf = b""

    def req(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else b""
        head = "%s %s HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n" % (method, path, len(data))
        if data:
            head += "Content-Type: application/json\r\n"
        self.s.sendall(head.encode() + b"\r\n" + data)
        while b"\r\n\r\n" not in self.buf:
            self.buf += self._recv()
        hdr, _, rest = self.buf.partition(b"\r\n\r\n")
        status = int(hdr.split(b" ")[1])
        n = 0
        for line in hdr.split(b"\r\n")[1:]:
            if line.lower().startswith(b"content-length:"):
                n = int(line.split(b":")[1])
        while len(rest) < n:
            rest += self._recv()
        self.buf = rest[n:]
        if status >= 300:
            raise RuntimeError("%s %s -> %d %s" % (method, path, status, rest[:n]))
        return rest[:n]

    def _recv(self):
        b = self.s.recv(65536)
        if not b:
            raise RuntimeError("connection closed")
        return b


class Qmp:
    def __init__(self, sock):
        self.f = sock.makefile("rwb", buffering=0)
        self.f.readline()                      # greeting
        self.cmd("qmp_capabilities")

    def cmd(self, name):
        self.f.write(json.dumps({"execute": name}).encode() + b"\n")
        while True:
            r = json.loads(self.f.readline())
            if "return" in r:
                return r
            if "error" in r:
                raise RuntimeError("QMP %s: %s" % (name, r["error"]))


def first_byte(proc):
    b = proc.stdout.read(1)
    if not b:
        raise RuntimeError("%s: no console output (status %s)" % (proc.args[0], proc.poll()))


def stop(proc):
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def kite_start(a, tmp, cmdline, drive=None):
    """(proc, http, socket-ready wall ms, VMM CPU ms at ready)."""
    sock = os.path.join(tmp, "kite.sock")
    if os.path.exists(sock):
        os.unlink(sock)
    t0 = time.monotonic()
    p = subprocess.Popen([a.kite, "--api-sock", sock, "--console", "stdio"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    s = wait_connect(sock, p)
    ready = (time.monotonic() - t0) * 1000
    cpu = cpu_ms(p.pid)
    h = Http(s)
    h.req("PUT", "/boot-source", {"kernel_image_path": a.image, "boot_args": cmdline})
    h.req("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 128})
    if drive:
        h.req("PUT", "/drives/d0", {"drive_id": "d0", "path_on_host": drive, "is_root_device": False,
                                    "transport": "pci"})
    return p, h, ready, cpu


def kite_round(a, tmp):
    p, h, ready, cpu = kite_start(a, tmp, "kite.test=idle")
    try:
        c0, t0 = cpu_ms(p.pid), time.monotonic()
        h.req("PUT", "/actions", {"action_type": "InstanceStart"})
        t1, c1 = time.monotonic(), cpu_ms(p.pid)
        first_byte(p)
        return (ready, cpu, (t1 - t0) * 1000, c1 - c0, (time.monotonic() - t0) * 1000, cpu_ms(p.pid) - c0, c1)
    finally:
        stop(p)


def qemu_round(a, tmp, accel, cmdline="kite.test=idle"):
    sock = os.path.join(tmp, "qmp.sock")
    if os.path.exists(sock):
        os.unlink(sock)
    cmd = [QEMU, "-M", "microvm", "-bios", "/usr/share/qemu/qboot.rom", "-accel", accel, "-m", "128", "-S",
           "-nodefaults", "-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot",
           "-qmp", "unix:%s,server=on,wait=off" % sock, "-kernel", a.image, "-append", cmdline]
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        s = wait_connect(sock, p)
        ready = (time.monotonic() - t0) * 1000
        cpu = cpu_ms(p.pid)
        q = Qmp(s)
        c0, t0 = cpu_ms(p.pid), time.monotonic()
        q.cmd("cont")
        t1, c1 = time.monotonic(), cpu_ms(p.pid)
        first_byte(p)
        return (ready, cpu, (t1 - t0) * 1000, c1 - c0, (time.monotonic() - t0) * 1000, cpu_ms(p.pid) - c0, c1)
    finally:
        stop(p)


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def report_lat(prefix, xs):
    out(prefix + "_p50", pct(xs, 0.5) * 1e6, "us")
    out(prefix + "_p99", pct(xs, 0.99) * 1e6, "us")


def latency(a, tmp):
    img = os.path.join(tmp, "disk.img")
    with open(img, "wb") as f:
        f.truncate(64 << 20)
    p, h, _, _ = kite_start(a, tmp, "kite.test=blkbench kite.bench=randwrite kite.ops=1000000000 kite.qd=8", img)
    try:
        h.req("PUT", "/actions", {"action_type": "InstanceStart"})
        first_byte(p)

        def writes():
            m = h.req("GET", "/metrics").decode()
            w = [l for l in m.splitlines() if l.startswith('kite_write_count{device="block_d0"}')]
            return int(w[0].split()[1]) if w else 0
        end = time.monotonic() + 60
        while writes() == 0 and time.monotonic() < end:
            time.sleep(0.05)
        w0 = writes()
        get, patch = [], []
        for _ in range(a.requests):
            t = time.monotonic()
            h.req("GET", "/")
            get.append(time.monotonic() - t)
        for _ in range(a.requests):
            for st in ("Paused", "Resumed"):
                t = time.monotonic()
                h.req("PATCH", "/vm", {"state": st})
                patch.append(time.monotonic() - t)
        out("api_guest_writes_during_latency", writes() - w0, "count")
    finally:
        stop(p)
    report_lat("api_get_root", get)
    report_lat("api_patch_vm", patch)
    if not a.qemu:
        return
    sock = os.path.join(tmp, "qmp.sock")
    if os.path.exists(sock):
        os.unlink(sock)
    cmd = [QEMU, "-M", "microvm", "-bios", "/usr/share/qemu/qboot.rom", "-accel", "tcg", "-m", "128",
           "-nodefaults", "-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot",
           "-qmp", "unix:%s,server=on,wait=off" % sock, "-kernel", a.image, "-append", "kite.test=idle"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        q = Qmp(wait_connect(sock, p))
        first_byte(p)
        status, sc = [], []
        for _ in range(a.requests):
            t = time.monotonic()
            q.cmd("query-status")
            status.append(time.monotonic() - t)
        for _ in range(a.requests):
            for c in ("stop", "cont"):
                t = time.monotonic()
                q.cmd(c)
                sc.append(time.monotonic() - t)
    finally:
        stop(p)
    report_lat("qmp_query_status", status)
    report_lat("qmp_stop_cont", sc)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kite")
    ap.add_argument("image")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--no-qemu", dest="qemu", action="store_false")
    a = ap.parse_args()
    a.kite, a.image = os.path.abspath(a.kite), os.path.abspath(a.image)
    if a.rounds < 5:
        sys.exit("at least 5 rounds")
    a.qemu = a.qemu and os.access("/usr/share/qemu/qboot.rom", os.R_OK) and \
        any(os.access(os.path.join(d, QEMU), os.X_OK) for d in os.environ.get("PATH", "").split(":"))
    tmp = tempfile.mkdtemp(prefix="kite-apibench-")
    peers = [("kite", lambda: kite_round(a, tmp))]
    if a.qemu:
        peers += [("qemu_kvm", lambda: qemu_round(a, tmp, "kvm")), ("qemu_tcg", lambda: qemu_round(a, tmp, "tcg"))]
    res = {n: [] for n, _ in peers}
    for _ in range(a.rounds):
        for n, fn in peers:
            res[n].append(fn())
    keys = ("sock_ready_wall", "sock_ready_cpu", "start_request_wall", "start_request_cpu",
            "start_to_output_wall", "start_to_output_cpu", "exec_to_launch_cpu")
    for n, _ in peers:
        for i, k in enumerate(keys):
            xs = [r[i] for r in res[n]]
            out("%s_%s_median" % (n, k), statistics.median(xs), "ms")
            out("%s_%s_spread" % (n, k), max(xs) - min(xs), "ms")
    for n, _ in peers[1:]:
        for i, k in enumerate(keys):
            out("%s_over_kite_%s" % (n, k), statistics.median([r[i] for r in res[n]]) /
                max(statistics.median([r[i] for r in res["kite"]]), 1e-9), "x")
    latency(a, tmp)
    out("api_bench_rounds", a.rounds, "rounds")
    subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
