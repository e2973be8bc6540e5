#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Snapshot benchmarks (issue 13): restore latency and kite's CPU time for it, snapshot create time
and size (Full vs Diff), against guest memory size, with QEMU's migrate-to-file as a reference.
Prints `name value unit` lines (medians of ROUNDS, alternating kite and QEMU in each round).

usage: snap_bench.py KITE BZIMAGE [ROUNDS] [--sizes=128,1024,4096] [--no-qemu] [--dirty]

The guest is kite.test=count (guest/test_count.c). Per memory size:
- create: boot through the API with dirty page tracking, let it count, pause, Full snapshot (the
  request's wall time, the memory file's allocated bytes), resume, count 40 more, pause, Diff
  snapshot (same figures);
- restore, ROUNDS times: a fresh `kite --api-sock` (already listening), the console a FIFO we
  read; t0 just before PUT /snapshot/load (resume_vm) is sent on a raw socket, t1 when the first
  byte the restored guest prints arrives (its first instructions print); kite's CPU time over
  [t0, t1] from /proc/PID/task/*/schedstat: the VMM's threads (main, API) apart from the vCPUs';
  also the load request's own wall time;
- QEMU (-M microvm -accel kvm, qboot): the same guest, `migrate exec:cat>FILE` of the running VM
  over the monitor; restore = a new QEMU with -incoming "exec:cat FILE", from process start to the
  first console byte (kite's process-start figure is given too, for the same comparison).
--dirty instead: Full and Diff create time and size of a 1 GiB guest writing 1, 64 or 1024 pages per
count step (kite.count_pages, a 256 MiB area, native mode), the Diff covering 40 steps.
"""
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "snapshot"))
from snaplib import Kite, allocated, last_count  # noqa: E402


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def raw_put(sock_path, path, body):
    """PUT over the Unix socket without spawning curl; returns the status code."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)
    data = body.encode()
    s.sendall(("PUT %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
               "Connection: close\r\n\r\n" % (path, len(data))).encode() + data)
    reply = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        reply += chunk
    s.close()
    return int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/") else 0


def task_cpu_ns(pid):
    """(non-vCPU threads, vCPU threads) CPU time in ns (schedstat's first field)."""
    vmm = vcpu = 0
    base = "/proc/%d/task" % pid
    for tid in os.listdir(base):
        try:
            with open("%s/%s/schedstat" % (base, tid)) as f:
                ns = int(f.read().split()[0])
            with open("%s/%s/comm" % (base, tid)) as f:
                comm = f.read().strip()
        except OSError:
            continue
        if comm.startswith("kite-vcpu"):
            vcpu += ns
        else:
            vmm += ns
    return vmm, vcpu


def wait_byte(fd, timeout=60):
    """Block until the FIFO has a byte; returns the monotonic time of its arrival, or None."""
    r, _, _ = select.select([fd], [], [], timeout)
    t = time.monotonic()
    if not r:
        return None
    os.read(fd, 65536)
    return t


def create_snapshots(kite, image, work, mib, cmdline="kite.test=count", tag=""):
    """Boot, Full then Diff snapshot. Returns figures and the directory of the Full snapshot."""
    d = os.path.join(work, "snap%d%s" % (mib, tag))
    os.makedirs(d, exist_ok=True)
    k = Kite(kite, work, "src%d%s" % (mib, tag))
    for method, path, body in [("PUT", "/boot-source", {"kernel_image_path": image, "boot_args": cmdline}),
                               ("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": mib,
                                                           "track_dirty_pages": True}),
                               ("PUT", "/actions", {"action_type": "InstanceStart"})]:
        code, val = k.call(method, path, body)
        if code != 204:
            raise RuntimeError("%s %s: %s" % (path, code, val))
    if not k.wait_for(r"^count 30 sum"):
        raise RuntimeError("the guest did not count: " + k.log())
    out = {}
    k.call("PATCH", "/vm", {"state": "Paused"})
    t0 = time.monotonic()
    code, val = k.call("PUT", "/snapshot/create", {"snapshot_type": "Full", "snapshot_path": d + "/vm.state",
                                                   "mem_file_path": d + "/vm.mem"})
    out["full_ms"] = (time.monotonic() - t0) * 1000
    if code != 204:
        raise RuntimeError("Full snapshot: %s %s" % (code, val))
    out["full_mem_kib"] = allocated(d + "/vm.mem") / 1024
    out["state_kib"] = os.path.getsize(d + "/vm.state") / 1024
    n = last_count(k.text())
    k.call("PATCH", "/vm", {"state": "Resumed"})
    k.wait_for(r"^count %d sum" % (n + 40))
    k.call("PATCH", "/vm", {"state": "Paused"})
    t0 = time.monotonic()
    code, val = k.call("PUT", "/snapshot/create", {"snapshot_type": "Diff", "snapshot_path": d + "/diff.state",
                                                   "mem_file_path": d + "/diff.mem"})
    out["diff_ms"] = (time.monotonic() - t0) * 1000
    if code != 204:
        raise RuntimeError("Diff snapshot: %s %s" % (code, val))
    out["diff_mem_kib"] = allocated(d + "/diff.mem") / 1024
    k.kill9()
    return out, d


def kite_restore(kite, work, d, i):
    """One restore: (load->first byte ms, process start->first byte ms, VMM CPU ms, vCPU CPU ms, load call ms)."""
    fifo = os.path.join(work, "con%d.fifo" % i)
    os.mkfifo(fifo)
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    sock = os.path.join(work, "r%d.sock" % i)
    tstart = time.monotonic()
    p = subprocess.Popen([kite, "--api-sock", sock, "--console", "file:" + fifo], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not os.path.exists(sock):
        time.sleep(0.001)
    time.sleep(0.05)   # let it settle: the API thread is listening
    vmm0, vcpu0 = task_cpu_ns(p.pid)
    body = ('{"snapshot_path": "%s/vm.state", "mem_backend": {"backend_type": "File", "backend_path": '
            '"%s/vm.mem"}, "resume_vm": true}' % (d, d))
    t0 = time.monotonic()
    code = raw_put(sock, "/snapshot/load", body)
    tcall = time.monotonic()
    t1 = wait_byte(fd)
    vmm1, vcpu1 = task_cpu_ns(p.pid)
    p.kill()
    p.wait()
    os.close(fd)
    os.unlink(fifo)
    if code != 204 or t1 is None:
        raise RuntimeError("restore %d: status %d, first byte %s" % (i, code, t1))
    return ((t1 - t0) * 1000, (t1 - tstart) * 1000 - 50, (vmm1 - vmm0) / 1e6, (vcpu1 - vcpu0) / 1e6,
            (tcall - t0) * 1000)


def qemu_base(image, mib, fifo, mon):
    return ["qemu-system-x86_64", "-M", "microvm", "-bios", "/usr/share/qemu/qboot.rom", "-accel", "kvm",
            "-m", str(mib), "-nodefaults", "-display", "none", "-chardev", "file,id=c0,path=" + fifo,
            "-serial", "chardev:c0", "-monitor", "unix:%s,server,nowait" % mon, "-no-reboot",
            "-device", "isa-debug-exit,iobase=0x501,iosize=1", "-kernel", image, "-append", "kite.test=count"]


def hmp(mon, cmd):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(mon)
    s.settimeout(30)
    out = b""
    while b"(qemu)" not in out:
        out += s.recv(4096)
    s.sendall(cmd.encode() + b"\n")
    out = b""
    while out.count(b"(qemu)") < 1:
        out += s.recv(4096)
    s.close()
    return out.decode(errors="replace")


def qemu_save(image, work, mib):
    """Boot the count guest in QEMU, migrate it (running) to a file. Returns (file, ms, bytes)."""
    con = os.path.join(work, "q%d.console" % mib)
    mon = os.path.join(work, "q%d.mon" % mib)
    state = os.path.join(work, "q%d.migrate" % mib)
    p = subprocess.Popen(qemu_base(image, mib, con, mon), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    end = time.monotonic() + 120
    while time.monotonic() < end and "count 30 sum" not in (open(con, errors="replace").read()
                                                             if os.path.exists(con) else ""):
        time.sleep(0.05)
    t0 = time.monotonic()
    hmp(mon, 'migrate "exec:cat > %s"' % state)
    while "Migration status: completed" not in hmp(mon, "info migrate"):
        time.sleep(0.005)
    ms = (time.monotonic() - t0) * 1000
    p.kill()
    p.wait()
    return state, ms, os.path.getsize(state)


def qemu_restore(image, work, mib, state, i):
    fifo = os.path.join(work, "qc%d.fifo" % i)
    os.mkfifo(fifo)
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    mon = os.path.join(work, "qr%d.mon" % i)
    t0 = time.monotonic()
    p = subprocess.Popen(qemu_base(image, mib, fifo, mon) + ["-incoming", "exec:cat %s" % state],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t1 = wait_byte(fd)
    p.kill()
    p.wait()
    os.close(fd)
    os.unlink(fifo)
    if t1 is None:
        raise RuntimeError("QEMU restore printed nothing")
    return (t1 - t0) * 1000


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) < 2:
        sys.exit(__doc__)
    kite, image = args[0], args[1]
    rounds = int(args[2]) if len(args) > 2 else 5
    sizes = [128, 1024, 4096]
    for a in sys.argv:
        if a.startswith("--sizes="):
            sizes = [int(x) for x in a.split("=", 1)[1].split(",")]
    use_qemu = "--no-qemu" not in sys.argv and shutil.which("qemu-system-x86_64")
    print("snap_loadavg_start %s" % open("/proc/loadavg").read().split()[0])
    work = tempfile.mkdtemp(prefix="kite-snapbench-")
    try:
        if "--dirty" in sys.argv:
            # dirty rate: 1 GiB guest in native mode, a 256 MiB area, K pages written per count step;
            # the Diff covers 40 steps (40 K pages) after the Full
            for per in (1, 64, 1024):
                c, d = create_snapshots(kite, image, work, 1024, "kite.test=count kite.native=1 kite.count_area_mib=256 "
                                        "kite.count_pages=%d" % per, tag="k%d" % per)
                print("snap_dirty_%dpages_per_step_diff %.1f ms" % (per, c["diff_ms"]))
                print("snap_dirty_%dpages_per_step_diff_mem %.1f kib" % (per, c["diff_mem_kib"]))
                print("snap_dirty_%dpages_per_step_full %.1f ms" % (per, c["full_ms"]))
                print("snap_dirty_%dpages_per_step_full_mem %.1f kib" % (per, c["full_mem_kib"]))
                sys.stdout.flush()
                shutil.rmtree(d, ignore_errors=True)
            return
        for mib in sizes:
            c, d = create_snapshots(kite, image, work, mib)
            for k, v in c.items():
                print("snap_%dm_create_%s %.1f %s" % (mib, k.rsplit("_", 1)[0], v, k.rsplit("_", 1)[1]))
            q = qemu_save(image, work, mib) if use_qemu else None
            if q:
                print("snap_%dm_qemu_migrate_save %.1f ms" % (mib, q[1]))
                print("snap_%dm_qemu_migrate_file %.1f kib" % (mib, q[2] / 1024))
            kr, qr = [], []
            for i in range(rounds):
                kr.append(kite_restore(kite, work, d, mib * 100 + i))
                if q:
                    qr.append(qemu_restore(image, work, mib, q[0], mib * 100 + i))
            for j, name in enumerate(["load_to_first_byte", "start_to_first_byte", "vmm_cpu", "vcpu_cpu",
                                      "load_call"]):
                print("snap_%dm_kite_restore_%s_median %.2f ms" % (mib, name, median([r[j] for r in kr])))
            if qr:
                print("snap_%dm_qemu_restore_start_to_first_byte_median %.1f ms" % (mib, median(qr)))
                print("snap_%dm_ratio_qemu_over_kite_start_to_first_byte %.1f x" %
                      (mib, median(qr) / median([r[1] for r in kr])))
            sys.stdout.flush()
            shutil.rmtree(d, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("snap_rounds %d rounds" % rounds)
    print("snap_loadavg_end %s" % open("/proc/loadavg").read().split()[0])


if __name__ == "__main__":
    main()
