#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kite's Firecracker-compatible API, end to end (suite 'api'). usage: api_test.py --kite K --kernel B MODE

MODE:
  getting-started  Firecracker's getting-started sequence with curl over the socket: logger, metrics,
                   boot-source, drives (root, read-write image), network-interfaces (a TAP in a private
                   netns), machine-config, InstanceStart. The guest (kite.test=virtio-blk, mmio) writes
                   its pattern to the drive; checked on the image; the logger file got kite's lines.
  config-file      the same VM from a Firecracker-format --config-file with --no-api.
  pause            a spinning guest: GET / Running; PATCH /vm Paused: its vCPU thread's CPU time
                   (/proc/PID/task/*/stat) does not grow while paused (two samples around a wait);
                   Resumed: it grows again; idempotent pause/resume; every state transition including
                   the refused ones; every body error (400 + fault_message) with the VM unaffected;
                   slow, half-closed and oversized clients; GET /metrics; FlushMetrics; SIGTERM.
  socket           a live socket path is refused naming the path; a stale one is replaced.
  patch            run-time changes under a guest write stream (blkbench stream on a PCI drive with an
                   ops limiter, a TAP interface): GET /metrics counts the drive's writes and throttling
                   and has its I/O thread's polling counters (poll_adaptive 1: the default);
                   PATCH /drives path_on_host swaps the image mid-stream (the old image keeps the early
                   blocks and never gets the late ones, the new one gets the late ones); a bad path is
                   refused naming it, the drive unchanged; PATCH rate_limiter and PATCH
                   /network-interfaces rx limiter merge as Firecracker does (GET /vm/config) and reach
                   the devices (their log lines); unknown ids refused; the metrics file has the groups.
  vhost            a drive with "socket" (vhost-user-blk on a kite-dpu volume): the guest's write stream
                   lands in kite-dpu's image; a drive socket that is not a socket, and an interface with
                   both socket and host_dev_name, are refused; a socket nobody serves fails
                   InstanceStart without ending kite.
  poll-idle        a drive's I/O thread polls adaptively by default (GET /metrics poll_adaptive 1)
                   and an idle disk polls nothing: the guest runs 10000 qd-1 reads (poll_windows > 0:
                   windows opened), then halts with the disk quiet; while it idles, and across two
                   PATCH /drives image swaps (each pauses and resumes the I/O thread, waking it),
                   no polling counter moves (poll_windows, poll_vain_ns, ... equal before and after).
  tuning           the host-tuning extensions of /machine-config: kite's --pin-io flag is the default of
                   "pin_io"; bad pin_vcpus / pin_io / iothreads / hugepages values (wrong type, empty, out of
                   range, a host CPU that does not exist, huge_pages 2M with hugepages off) get 400 with a
                   message and change nothing; accepted ones are in GET /machine-config and /vm/config; a
                   VM with two drives: its I/O threads and vCPUs run on the pinned host CPUs
                   (/proc/PID/task/*/status Cpus_allowed_list); hugepages "on" takes hugetlb pages
                   (smaps) or, with too few reserved, fails InstanceStart saying so and kite waits, then
                   "off" gives ordinary memory without the huge-page notice; PATCH of a tuning field after
                   boot is refused naming it. The same VM from --config-file with iothreads false has no
                   I/O threads, its vCPUs pinned, and the "auto" notice line.
Exit 0 pass, 1 fail, 77 skip.
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
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import api_client  # noqa: E402
from kite_run import skip  # noqa: E402,F401  (tests/lib: the one skip())
from checks import thread_cpus  # noqa: E402
from netns import Netns, NetnsError  # noqa: E402

FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILS.append(what)


def curl(sock, method, path, body=None):
    """(status, parsed JSON or text or None) through curl, as Firecracker's docs do it."""
    return api_client.curl(sock, method, path, body)


def expect_fault(sock, method, path, body, contains, what):
    code, val = curl(sock, method, path, body)
    ok = code == 400 and isinstance(val, dict) and list(val) == ["fault_message"] and contains in val["fault_message"]
    check(ok, "%s -> 400 fault_message containing %r (got %s %s)" % (what, contains, code, val))


def wait_socket(path, proc, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if os.path.exists(path):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.01)
    return False


def vcpu_cpu_ticks(pid):
    """utime+stime of kite's vCPU threads (comm kite-vcpuN), in clock ticks."""
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                if not f.read().startswith("kite-vcpu"):
                    continue
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                fields = f.read().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total


def start_kite(a, tmp, extra, prefix=()):
    err = open(os.path.join(tmp, "kite.err"), "w")
    return subprocess.Popen(list(prefix) + [a.kite] + extra, stdout=subprocess.DEVNULL, stderr=err,
                            stdin=subprocess.DEVNULL)


def finish(p, timeout=60):
    try:
        return p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return None


def pattern_ok(img, sector=40, count=8, seed=77):
    with open(img, "rb") as f:
        f.seek(sector * 512)
        data = f.read(count * 512)
    return len(data) == count * 512 and all(data[s * 512 + i] == ((sector + s) * 31 + i * 7 + seed) & 0xff
               for s in range(count) for i in range(512))


def vm_definition(a, tmp):
    img = os.path.join(tmp, "rootfs.img")
    with open(img, "wb") as f:
        f.truncate(1 << 20)
    return img, {
        "boot-source": {"kernel_image_path": a.kernel,
                        "boot_args": "kite.test=virtio-blk kite.mmio=1 kite.seed=77 kite.blk_sector=40 console=ttyS0 reboot=k panic=1 pci=off"},
        "drives": [{"drive_id": "rootfs", "path_on_host": img, "is_root_device": True, "is_read_only": False}],
        "network-interfaces": [{"iface_id": "eth0", "guest_mac": "06:00:AC:10:00:02", "host_dev_name": "kt0"}],
        "machine-config": {"vcpu_count": 1, "mem_size_mib": 64},
    }


def with_netns(fn):
    """fn(prefix) with prefix running a program in a private namespace holding the TAP kt0 (up)."""
    if shutil.which("ip") is None:
        skip("iproute2 not installed")
    try:
        ns = Netns("kite-api")
    except NetnsError:
        skip("cannot create a network namespace (needs root)")
    with ns:
        ns.tap("kt0")
        return fn(ns.exec_prefix)


def mode_getting_started(a, tmp):
    sock = os.path.join(tmp, "api.sock")
    img, vm = vm_definition(a, tmp)
    log = os.path.join(tmp, "kite.log")
    metrics = os.path.join(tmp, "metrics.json")
    con = os.path.join(tmp, "console.txt")

    def run(prefix):
        p = start_kite(a, tmp, ["--api-sock", sock, "--console", "file:" + con], prefix)
        check(wait_socket(sock, p), "API socket appears")
        check(curl(sock, "GET", "/")[1].get("state") == "Not started", "GET / before start: Not started")
        check(curl(sock, "PUT", "/logger", {"log_path": log, "level": "Info"})[0] == 204, "PUT /logger")
        check(curl(sock, "PUT", "/metrics", {"metrics_path": metrics})[0] == 204, "PUT /metrics")
        check(curl(sock, "PUT", "/boot-source", vm["boot-source"])[0] == 204, "PUT /boot-source")
        check(curl(sock, "PUT", "/drives/rootfs", vm["drives"][0])[0] == 204, "PUT /drives/rootfs")
        check(curl(sock, "PUT", "/network-interfaces/eth0", vm["network-interfaces"][0])[0] == 204,
              "PUT /network-interfaces/eth0")
        check(curl(sock, "PUT", "/machine-config", vm["machine-config"])[0] == 204, "PUT /machine-config")
        cfg = curl(sock, "GET", "/vm/config")[1]
        check(cfg["drives"][0]["drive_id"] == "rootfs" and cfg["network-interfaces"][0]["host_dev_name"] == "kt0",
              "GET /vm/config shows the drive and the interface")
        code, _ = curl(sock, "PUT", "/actions", {"action_type": "InstanceStart"})
        check(code == 204, "InstanceStart -> 204")
        st = finish(p)
        check(st == 0, "guest ended with status 0 (got %s)" % st)
        return st

    with_netns(run)
    text = open(con).read() if os.path.exists(con) else ""
    check("kite-guest: PASS virtio-blk" in text, "guest passed its virtio-blk test on the API's drive")
    check("root=/dev/vda rw" in text, "root device words on the command line")
    check(pattern_ok(img), "the guest's pattern is on the image")
    logtext = open(log).read() if os.path.exists(log) else ""
    check("virtio-net0" in logtext and "vm: started" in logtext, "logger file has kite's lines (net device, start)")
    check(not os.path.exists(sock), "socket removed at exit")


def mode_config_file(a, tmp):
    img, vm = vm_definition(a, tmp)
    cfg = os.path.join(tmp, "vm.json")
    con = os.path.join(tmp, "console.txt")
    with open(cfg, "w") as f:
        json.dump(vm, f)

    def run(prefix):
        p = start_kite(a, tmp, ["--no-api", "--config-file", cfg, "--console", "file:" + con], prefix)
        return finish(p)

    st = with_netns(run)
    check(st == 0, "--config-file VM ended with status 0 (got %s)" % st)
    text = open(con).read() if os.path.exists(con) else ""
    check("kite-guest: PASS virtio-blk" in text, "guest passed on the config file's drive")
    check(pattern_ok(img), "the guest's pattern is on the image")
    bad = os.path.join(tmp, "bad.json")
    with open(bad, "w") as f:
        json.dump(dict(vm, **{"machine-config": {"vcpu_count": 1, "mem_size_mib": 64, "bogus": 1}}), f)
    p = start_kite(a, tmp, ["--no-api", "--config-file", bad, "--console", "none"])
    check(finish(p) == 1, "config file with an unknown field refused (exit 1)")
    check("unknown field `bogus`" in open(os.path.join(tmp, "kite.err")).read(), "... naming the field")


def raw_request(sock, data, shut=False, pause=0.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(sock)
    for chunk in data if isinstance(data, list) else [data]:
        s.sendall(chunk)
        time.sleep(pause)
    if shut:
        s.shutdown(socket.SHUT_WR)
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
            if b"\r\n\r\n" in out:
                head, _, body = out.partition(b"\r\n\r\n")
                cl = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                if cl and len(body) >= int(cl[0].split(b":")[1]):
                    break
    except socket.timeout:
        pass
    s.close()
    return out


def mode_pause(a, tmp):
    sock = os.path.join(tmp, "api.sock")
    p = start_kite(a, tmp, ["--api-sock", sock, "--console", "file:" + os.path.join(tmp, "con.txt")])
    check(wait_socket(sock, p), "API socket appears")
    metrics = os.path.join(tmp, "metrics.json")
    # refused before start
    expect_fault(sock, "PATCH", "/vm", {"state": "Paused"}, "not supported before starting", "pause before start")
    expect_fault(sock, "PATCH", "/vm", {"state": "Resumed"}, "not supported before starting", "resume before start")
    expect_fault(sock, "PUT", "/actions", {"action_type": "SendCtrlAltDel"}, "before starting", "CtrlAltDel before start")
    expect_fault(sock, "PUT", "/actions", {"action_type": "FlushMetrics"}, "before starting", "FlushMetrics before start")
    expect_fault(sock, "PATCH", "/drives/x", {"drive_id": "x"}, "before starting", "PATCH drive before start")
    expect_fault(sock, "PUT", "/actions", {"action_type": "InstanceStart"}, "Missing kernel", "start without kernel")
    # body errors (before start)
    expect_fault(sock, "PUT", "/boot-source", {"kernel_image_path": a.kernel, "x": 1}, "unknown field `x`", "unknown field")
    expect_fault(sock, "PUT", "/machine-config", {"vcpu_count": True, "mem_size_mib": 64}, "invalid type: boolean", "wrong type")
    expect_fault(sock, "PUT", "/machine-config", {"vcpu_count": 1}, "missing field `mem_size_mib`", "missing field")
    expect_fault(sock, "PUT", "/boot-source", "{not json", "deserializing", "non-JSON body")
    expect_fault(sock, "PUT", "/boot-source", "[1,2]", "expected struct", "JSON that is not an object")
    expect_fault(sock, "PUT", "/drives/a", {"drive_id": "b", "path_on_host": a.kernel, "is_root_device": False},
                 "does not match the id from the body", "path id != body id")
    expect_fault(sock, "PUT", "/drives/a-b", {"drive_id": "a-b", "path_on_host": a.kernel, "is_root_device": False},
                 "alphanumeric", "bad id characters")
    expect_fault(sock, "PUT", "/drives", {"drive_id": "a"}, "The ID cannot be empty", "missing id")
    expect_fault(sock, "PUT", "/actions", {"action_type": "Explode"}, "unknown variant `Explode`", "unknown action")
    expect_fault(sock, "GET", "/nope", None, "Invalid request method and/or path: GET nope.", "unknown path")
    expect_fault(sock, "DELETE", "/", None, "Invalid request method and/or path", "unknown method")
    expect_fault(sock, "PUT", "/boot-source", None, "Empty PUT request.", "PUT without body")
    expect_fault(sock, "PUT", "/machine-config", {"vcpu_count": 0, "mem_size_mib": 64}, "vCPU number is invalid",
                 "0 vCPUs")
    big = json.dumps({"kernel_image_path": "x" * 60000})
    expect_fault(sock, "PUT", "/boot-source", big, "larger than the limit of 51200", "oversized body")
    # slow client (headers byte by byte) still answered; half-closed mid-body is dropped harmlessly
    req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    out = raw_request(sock, [req[i:i + 1] for i in range(len(req))], pause=0.01)
    check(b"200 OK" in out and b"Not started" in out, "slow client answered")
    out = raw_request(sock, b"PUT /boot-source HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"kern", shut=True)
    check(b"204" not in out, "half-closed client with a partial body: no command ran")
    # configure and start a spinning guest
    check(curl(sock, "PUT", "/metrics", {"metrics_path": metrics})[0] == 204, "PUT /metrics")
    check(curl(sock, "PUT", "/boot-source", {"kernel_image_path": a.kernel, "boot_args": "kite.test=spin"})[0] == 204,
          "PUT /boot-source spin guest")
    check(curl(sock, "PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 32})[0] == 204, "PUT /machine-config")
    check(curl(sock, "PUT", "/actions", {"action_type": "InstanceStart"})[0] == 204, "InstanceStart")
    check(curl(sock, "GET", "/")[1].get("state") == "Running", "GET / after start: Running")
    expect_fault(sock, "PUT", "/actions", {"action_type": "InstanceStart"}, "after starting", "second InstanceStart")
    expect_fault(sock, "PUT", "/boot-source", {"kernel_image_path": a.kernel}, "after starting", "boot-source after start")
    expect_fault(sock, "PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 32}, "after starting",
                 "machine-config after start")
    expect_fault(sock, "PUT", "/drives/d", {"drive_id": "d", "path_on_host": a.kernel, "is_root_device": False},
                 "after starting", "PUT drive after start")
    expect_fault(sock, "PUT", "/logger", {"level": "Info"}, "after starting", "logger after start")
    expect_fault(sock, "PATCH", "/vm", {"state": "Frozen"}, "unknown variant `Frozen`", "bad state")
    # the guest spins: its vCPU time grows
    t0 = vcpu_cpu_ticks(p.pid)
    time.sleep(0.5)
    t1 = vcpu_cpu_ticks(p.pid)
    check(t1 > t0, "running guest uses CPU (%d -> %d ticks)" % (t0, t1))
    check(curl(sock, "PATCH", "/vm", {"state": "Paused"})[0] == 204, "PATCH /vm Paused")
    check(curl(sock, "PATCH", "/vm", {"state": "Paused"})[0] == 204, "PATCH /vm Paused again (idempotent)")
    check(curl(sock, "GET", "/")[1].get("state") == "Paused", "GET /: Paused")
    expect_fault(sock, "PUT", "/nope", {"a": 1}, "Invalid request", "errors while paused")
    p0 = vcpu_cpu_ticks(p.pid)
    time.sleep(1.0)
    p1 = vcpu_cpu_ticks(p.pid)
    check(p1 == p0, "paused guest's vCPU time does not grow (%d -> %d ticks)" % (p0, p1))
    prom = curl(sock, "GET", "/metrics")[1]
    check(isinstance(prom, str) and 'kite_vcpus_parked 1' in prom and 'kite_exits{device="vcpu0"}' in prom,
          "GET /metrics (Prometheus) while paused: vCPU parked, exits per vCPU")
    check(curl(sock, "PUT", "/actions", {"action_type": "FlushMetrics"})[0] == 204, "FlushMetrics")
    check(curl(sock, "PATCH", "/vm", {"state": "Resumed"})[0] == 204, "PATCH /vm Resumed")
    check(curl(sock, "PATCH", "/vm", {"state": "Resumed"})[0] == 204, "PATCH /vm Resumed again (idempotent)")
    check(curl(sock, "GET", "/")[1].get("state") == "Running", "GET /: Running after resume")
    r0 = vcpu_cpu_ticks(p.pid)
    time.sleep(0.5)
    r1 = vcpu_cpu_ticks(p.pid)
    check(r1 > r0, "resumed guest uses CPU again (%d -> %d ticks)" % (r0, r1))
    lines = open(metrics).read().splitlines() if os.path.exists(metrics) else []
    check(len(lines) >= 1 and "vcpu0" in json.loads(lines[-1]), "metrics file has a JSON line with vcpu0")
    check(curl(sock, "PUT", "/actions", {"action_type": "SendCtrlAltDel"})[0] == 204, "SendCtrlAltDel after start")
    check(p.poll() is None, "VM still running after every refused request")
    p.send_signal(signal.SIGTERM)
    st = finish(p, 10)
    check(st == 143, "SIGTERM: exit 143 (guest without a keyboard driver: no grace wait) (got %s)" % st)


def mode_socket(a, tmp):
    sock = os.path.join(tmp, "api.sock")
    live = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    live.bind(sock)
    live.listen(1)
    p = start_kite(a, tmp, ["--api-sock", sock, "--console", "none"])
    st = finish(p, 20)
    err = open(os.path.join(tmp, "kite.err")).read()
    check(st == 1 and sock in err and "never takes over a live socket" in err,
          "live socket refused, naming the path (exit %s)" % st)
    live.close()   # now stale: the file stays, nobody listens
    check(os.path.exists(sock), "stale socket file left behind")
    p = start_kite(a, tmp, ["--api-sock", sock, "--console", "none"])
    ok = False
    end = time.monotonic() + 20
    while time.monotonic() < end and not ok:
        code, val = curl(sock, "GET", "/")
        ok = code == 200
        time.sleep(0.05)
    check(ok, "stale socket replaced and served")
    p.send_signal(signal.SIGTERM)
    check(finish(p, 10) == 143, "pre-boot SIGTERM: exit 143")
    notsock = os.path.join(tmp, "file")
    open(notsock, "w").close()
    p = start_kite(a, tmp, ["--api-sock", notsock, "--console", "none"])
    check(finish(p, 20) == 1 and os.path.exists(notsock), "a path that is not a socket is refused and kept")


BLOCK = 4096


def stamp(blk, seed):
    return struct.pack("<Q", (blk * 0x9e3779b97f4a7c15 ^ seed) & (2**64 - 1)) * (BLOCK // 8)


def block_is(img, blk, data):
    with open(img, "rb") as f:
        f.seek(blk * BLOCK)
        return f.read(BLOCK) == data


def acked(con):
    text = open(con, errors="replace").read() if os.path.exists(con) else ""
    m = re.findall(r"^blkbench: (\d+) acked$", text, re.M)
    return int(m[-1]) if m else 0


def wait_until(cond, p, bound=120):
    """Poll cond() until it holds; the bound only keeps a broken run from hanging the suite."""
    end = time.monotonic() + bound
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        if p.poll() is not None:
            return cond()
        time.sleep(0.02)
    return cond()


POLL_STATS = ("poll_windows", "poll_found", "poll_useful_ns", "poll_vain_ns", "poll_window_ns", "poll_last_ns",
              "poll_budget_cuts", "poll_backoff_skips")


def prom_value(sock, name, device):
    text = curl(sock, "GET", "/metrics")[1]
    m = re.search(r'^kite_%s\{device="%s"\} (\d+)$' % (name, device), text if isinstance(text, str) else "", re.M)
    return int(m.group(1)) if m else None


def mode_patch(a, tmp):
    sock = os.path.join(tmp, "api.sock")
    con = os.path.join(tmp, "console.txt")
    metrics = os.path.join(tmp, "metrics.json")
    old, new = os.path.join(tmp, "old.img"), os.path.join(tmp, "new.img")
    blocks, seed = 256, 0x5eed1
    for img in (old, new):
        with open(img, "wb") as f:
            f.truncate(blocks * BLOCK)
    slow = {"ops": {"size": 5, "refill_time": 1000}}

    def run(prefix):
        p = start_kite(a, tmp, ["--api-sock", sock, "--console", "file:" + con], prefix)
        check(wait_socket(sock, p), "API socket appears")
        check(curl(sock, "PUT", "/metrics", {"metrics_path": metrics})[0] == 204, "PUT /metrics")
        args = "kite.test=blkbench kite.bench=stream kite.ops=%d kite.qd=4 kite.seed=%d kite.progress=16" % (blocks, seed)
        check(curl(sock, "PUT", "/boot-source", {"kernel_image_path": a.kernel, "boot_args": args})[0] == 204,
              "PUT /boot-source (write stream)")
        check(curl(sock, "PUT", "/drives/data", {"drive_id": "data", "path_on_host": old, "is_root_device": False,
                                                 "rate_limiter": slow, "transport": "pci", "io_engine": "Async"})[0] == 204,
              "PUT /drives/data with an ops limiter (5/s), io_uring (the swap keeps the ring: no io_uring_setup after the filters)")
        check(curl(sock, "PUT", "/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": "kt0",
                                                              "tx_rate_limiter": {"bandwidth": {"size": 1000000, "refill_time": 1000}}})[0] == 204,
              "PUT /network-interfaces/eth0 with a tx limiter")
        expect_fault(sock, "PATCH", "/network-interfaces/eth0", {"iface_id": "eth0"}, "before starting",
                     "PATCH interface before start")
        check(curl(sock, "PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 32})[0] == 204, "PUT /machine-config")
        check(curl(sock, "PUT", "/actions", {"action_type": "InstanceStart"})[0] == 204, "InstanceStart")
        check(wait_until(lambda: acked(con) >= 20, p), "the guest's stream runs (20 writes acknowledged)")
        w = prom_value(sock, "write_count", "block_data")
        check(w is not None and w >= 20, "GET /metrics: kite_write_count{device=\"block_data\"} counts them (%s)" % w)
        check((prom_value(sock, "write_bytes", "block_data") or 0) >= 20 * BLOCK, "... and their bytes")
        check(wait_until(lambda: (prom_value(sock, "rate_limiter_throttled_events", "block_data") or 0) > 0, p, 30),
              "... and the limiter's refusals (5 ops/s against a queue of 4)")
        check(prom_value(sock, "tx_packets_count", "net_eth0") is not None, "per-interface counters for net_eth0")
        # the drive's I/O thread's polling window (docs/vmm.md): adaptive, the default, and every
        # counter (whether a window opened depends on the scheduling); none for the interface, whose
        # thread never polls
        polls = {n: prom_value(sock, n, "block_data") for n in POLL_STATS}
        check(None not in polls.values() and polls["poll_found"] <= polls["poll_windows"],
              "GET /metrics: block_data's polling counters (%s)" % polls)
        check(prom_value(sock, "poll_adaptive", "block_data") == 1, "GET /metrics: block_data polls adaptively (the default)")
        check(prom_value(sock, "poll_windows", "net_eth0") is None, "no polling counters for net_eth0")
        missing = os.path.join(tmp, "missing.img")
        expect_fault(sock, "PATCH", "/drives/data", {"drive_id": "data", "path_on_host": missing}, missing,
                     "PATCH to a missing image: refused naming it")
        expect_fault(sock, "PATCH", "/drives/nope", {"drive_id": "nope", "path_on_host": new}, "No block device",
                     "PATCH of an unknown drive")
        expect_fault(sock, "PATCH", "/drives/data", {"drive_id": "data"}, "Please verify the request arguments",
                     "PATCH with nothing to change")
        expect_fault(sock, "PATCH", "/drives/data", {"drive_id": "data", "is_read_only": True}, "unknown field `is_read_only`",
                     "PATCH with a pre-boot-only field")
        check(curl(sock, "GET", "/vm/config")[1]["drives"][0]["path_on_host"] == old, "the refused PATCH left the drive alone")
        check(curl(sock, "PATCH", "/drives/data", {"drive_id": "data", "path_on_host": new})[0] == 204,
              "PATCH /drives/data path_on_host -> the new image (mid-stream)")
        at_swap = acked(con)
        check(at_swap < blocks, "the swap happened mid-stream (%d of %d acknowledged)" % (at_swap, blocks))
        check(curl(sock, "GET", "/vm/config")[1]["drives"][0]["path_on_host"] == new, "GET /vm/config shows the new path")
        check(prom_value(sock, "update_count", "block_data") == 1, "update_count 1")
        check(curl(sock, "PATCH", "/drives/data", {"drive_id": "data", "rate_limiter": {"bandwidth": {"size": 1 << 30, "refill_time": 1000}}})[0] == 204,
              "PATCH /drives/data rate_limiter (bandwidth only)")
        rl = curl(sock, "GET", "/vm/config")[1]["drives"][0]["rate_limiter"]
        check(rl["ops"]["size"] == 5 and rl["bandwidth"]["size"] == 1 << 30,
              "the limiter update kept the ops bucket and added bandwidth, as Firecracker merges (%s)" % rl)
        check(curl(sock, "PATCH", "/drives/data", {"drive_id": "data", "rate_limiter": {"ops": {"size": 0, "refill_time": 0}}})[0] == 204,
              "PATCH ops bucket size 0: ops limit off")
        check(curl(sock, "PATCH", "/network-interfaces/eth0", {"iface_id": "eth0", "rx_rate_limiter": {"ops": {"size": 100, "refill_time": 100}}})[0] == 204,
              "PATCH /network-interfaces/eth0 rx_rate_limiter")
        n = curl(sock, "GET", "/vm/config")[1]["network-interfaces"][0]
        check(n["rx_rate_limiter"]["ops"]["size"] == 100 and n["tx_rate_limiter"]["bandwidth"]["size"] == 1000000,
              "rx limiter set, tx limiter kept (%s)" % n)
        expect_fault(sock, "PATCH", "/network-interfaces/eth9", {"iface_id": "eth9"}, "not found", "PATCH of an unknown interface")
        expect_fault(sock, "PATCH", "/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": "x"},
                     "unknown field `host_dev_name`", "PATCH interface with a pre-boot-only field")
        expect_fault(sock, "PUT", "/network-interfaces/q", {"iface_id": "q", "host_dev_name": "kq", "queues": 0},
                     "queues 0 is below 1", "interface with queues 0")
        expect_fault(sock, "PUT", "/network-interfaces/q", {"iface_id": "q", "host_dev_name": "kq", "queues": 9},
                     "expected u8 (1..8)", "interface with queues 9")
        check(curl(sock, "PUT", "/actions", {"action_type": "FlushMetrics"})[0] == 204, "FlushMetrics")
        st = finish(p, 120)
        check(st == 0, "the guest finished its stream on the new image (status %s)" % st)

    with_netns(run)
    done = acked(con)
    check(done == blocks, "the guest acknowledged the whole stream (%d)" % done)
    check(block_is(old, 0, stamp(0, seed)), "old image: block 0 (before the swap) written")
    check(block_is(old, blocks - 1, bytes(BLOCK)), "old image: the last block (after the swap) never written")
    check(block_is(new, blocks - 1, stamp(blocks - 1, seed)), "new image: the last block written")
    check(block_is(new, 0, bytes(BLOCK)), "new image: block 0 (before the swap) not written")
    err = open(os.path.join(tmp, "kite.err")).read()
    check("image is now " + new in err, "kite logged the swap")
    # reads and writes that io_uring would punt (ext4, tmpfs) are done by the I/O thread itself, only
    # while the drive has its ring (kite/inline_io.h): any count shows the engine survived the swap
    m = re.search(r": (\d+) of (\d+) requests served through io_uring, (\d+) writes inline \(\d+ slept\), "
                  r"(\d+) reads inline", err)
    check(m and int(m.group(1)) + int(m.group(3)) + int(m.group(4)) > 0 and "synchronous I/O" not in err,
          "the drive's io_uring engine served requests across the swap (%s)" % (m.group(0) if m else "no count"))
    check("rate limit now 0 requests/s" in err, "the ops bucket off reached the device")
    check("rate limits now rx 1000 frames/s 0 bytes/s, tx 0 frames/s 1000000 bytes/s" in err,
          "the interface got its own rx and tx limits (start), then the patched rx")
    lines = open(metrics).read().splitlines() if os.path.exists(metrics) else []
    last = json.loads(lines[-1]) if lines else {}
    check("block_data" in last and "net_eth0" in last and last["block_data"].get("write_count", 0) > 0,
          "metrics file: block_data and net_eth0 groups with Firecracker's names")
    check(all(isinstance(last.get("block_data", {}).get(n), int) for n in POLL_STATS + ("poll_adaptive",)),
          "metrics file: block_data's polling counters")


def mode_poll_idle(a, tmp):
    sock = os.path.join(tmp, "api.sock")
    con = os.path.join(tmp, "console.txt")
    imgs = [os.path.join(tmp, "a.img"), os.path.join(tmp, "b.img")]
    for img in imgs:
        with open(img, "wb") as f:
            f.truncate(16 << 20)
    p = start_kite(a, tmp, ["--api-sock", sock, "--console", "file:" + con])
    try:
        check(wait_socket(sock, p), "API socket appears")
        args = "kite.test=blkbench kite.bench=randread kite.ops=10000 kite.qd=1 kite.then_idle=1 kite.native=1"
        check(curl(sock, "PUT", "/boot-source", {"kernel_image_path": a.kernel, "boot_args": args})[0] == 204,
              "PUT /boot-source (10000 reads, then idle)")
        check(curl(sock, "PUT", "/drives/data", {"drive_id": "data", "path_on_host": imgs[0], "is_root_device": False,
                                                 "transport": "pci", "io_engine": "Async"})[0] == 204,
              "PUT /drives/data (no polling option: the API has none)")
        check(curl(sock, "PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 32})[0] == 204, "PUT /machine-config")
        check(curl(sock, "PUT", "/actions", {"action_type": "InstanceStart"})[0] == 204, "InstanceStart")
        idle = lambda: "idle: halted" in (open(con, errors="replace").read() if os.path.exists(con) else "")
        check(wait_until(idle, p), "the guest read 10000 blocks and halted")
        check(prom_value(sock, "poll_adaptive", "block_data") == 1,
              "GET /metrics: kite_poll_adaptive{device=\"block_data\"} 1 (adaptive polling is the default)")
        before = {n: prom_value(sock, n, "block_data") for n in POLL_STATS}
        print("after the reads: %s" % before)
        check(before["poll_windows"] and before["poll_windows"] > 0,
              "the reads opened polling windows (else the idle check below proves nothing)")
        # the disk is quiet from here; the swaps wake the I/O thread (pause, resume) without a request
        for img in (imgs[1], imgs[0]):
            check(curl(sock, "PATCH", "/drives/data", {"drive_id": "data", "path_on_host": img})[0] == 204,
                  "PATCH /drives/data path_on_host (the I/O thread paused and resumed)")
        time.sleep(1)
        after = {n: prom_value(sock, n, "block_data") for n in POLL_STATS}
        print("idle, after two swaps: %s" % after)
        for n in ("poll_windows", "poll_found", "poll_useful_ns", "poll_vain_ns", "poll_budget_cuts"):
            check(after[n] == before[n], "idle disk: %s unchanged (%s -> %s)" % (n, before[n], after[n]))
        check(prom_value(sock, "read_count", "block_data") == 10000, "GET /metrics: the 10000 reads and no other")
        check(p.poll() is None, "kite still runs the idle guest")
    finally:
        p.send_signal(signal.SIGTERM)
        st = finish(p, 30)
    check(st == 143, "SIGTERM: exit 143 (got %s)" % st)


def mode_vhost(a, tmp):
    if not a.dpu:
        skip("no --dpu (kite-dpu) given")
    sock = os.path.join(tmp, "api.sock")
    con = os.path.join(tmp, "console.txt")
    vol, vsock = os.path.join(tmp, "vol0.img"), os.path.join(tmp, "vol0.sock")
    dcfg = os.path.join(tmp, "dpu.json")
    blocks, seed = 64, 0x7777
    with open(vol, "wb") as f:
        f.truncate(blocks * 2 * BLOCK)
    with open(dcfg, "w") as f:
        json.dump({"cores": [-1], "volumes": [{"name": "vol0", "image": vol, "socket": vsock}]}, f)
    dpu = subprocess.Popen([a.dpu, "--config", dcfg], stdout=subprocess.DEVNULL,
                           stderr=open(os.path.join(tmp, "dpu.err"), "w"))
    p = None
    try:
        check(wait_until(lambda: os.path.exists(vsock), dpu, 30), "kite-dpu's volume socket appears")
        p = start_kite(a, tmp, ["--api-sock", sock, "--console", "file:" + con])
        check(wait_socket(sock, p), "API socket appears")
        expect_fault(sock, "PUT", "/drives/v", {"drive_id": "v", "socket": vol, "is_root_device": False},
                     "is not a Unix socket", "drive socket that is a file")
        expect_fault(sock, "PUT", "/drives/v", {"drive_id": "v", "socket": vsock, "path_on_host": vol,
                                                "is_root_device": False}, "takes none of", "socket and path_on_host")
        expect_fault(sock, "PUT", "/network-interfaces/n", {"iface_id": "n", "socket": vsock, "host_dev_name": "x"},
                     "takes no host_dev_name", "interface with socket and host_dev_name")
        expect_fault(sock, "PUT", "/network-interfaces/n", {"iface_id": "n"}, "missing field `host_dev_name`",
                     "interface without host_dev_name or socket")
        # a socket that nobody serves as vhost-user: InstanceStart fails, kite stays
        dead = os.path.join(tmp, "dead.sock")
        ds = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        ds.bind(dead)
        ds.close()
        args = "kite.test=blkbench kite.bench=stream kite.ops=%d kite.qd=4 kite.seed=%d kite.progress=16" % (blocks, seed)
        check(curl(sock, "PUT", "/boot-source", {"kernel_image_path": a.kernel, "boot_args": args})[0] == 204, "PUT /boot-source")
        check(curl(sock, "PUT", "/drives/v", {"drive_id": "v", "socket": dead, "is_root_device": False,
                                              "transport": "pci"})[0] == 204, "PUT a drive on a dead socket")
        expect_fault(sock, "PUT", "/actions", {"action_type": "InstanceStart"}, "Start microvm error",
                     "InstanceStart with a dead vhost-user socket fails")
        check(p.poll() is None and curl(sock, "GET", "/")[1].get("state") == "Not started", "... and kite waits, Not started")
        check(curl(sock, "PUT", "/drives/v", {"drive_id": "v", "socket": vsock, "is_root_device": False,
                                              "transport": "pci"})[0] == 204, "PUT /drives/v socket = kite-dpu's volume")
        cfg = curl(sock, "GET", "/vm/config")[1]
        check(cfg["drives"][0]["socket"] == vsock and cfg["drives"][0]["path_on_host"] is None, "GET /vm/config: socket drive")
        check(curl(sock, "PUT", "/actions", {"action_type": "InstanceStart"})[0] == 204, "InstanceStart (vhost-user-blk)")
        expect_fault(sock, "PATCH", "/drives/v", {"drive_id": "v", "path_on_host": vol}, "vhost-user-blk",
                     "PATCH path of a vhost-user drive refused")
        st = finish(p, 120)
        check(st == 0, "guest ended with status 0 (got %s)" % st)
    finally:
        if p and p.poll() is None:
            p.kill()
        dpu.terminate()
        dpu.wait()
    check(acked(con) == blocks, "the guest acknowledged %d writes" % blocks)
    check(all(block_is(vol, b, stamp(b, seed)) for b in range(blocks)), "every block is in kite-dpu's image")
    err = open(os.path.join(tmp, "kite.err")).read()
    check("vhost-user-blk0" in err, "kite created vhost-user-blk0")


def hugetlb_ram(pid):
    """True when guest RAM is a hugetlb mapping (the memfd kite-guest-ram with 2 MiB kernel pages)."""
    cur = None
    for line in open("/proc/%d/smaps" % pid):
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            cur = line
        elif line.startswith("KernelPageSize:") and cur and "kite-guest-ram" in cur and line.split()[1] == "2048":
            return True
    return False


def free_hugepages():
    m = re.search(r"^HugePages_Free:\s*(\d+)", open("/proc/meminfo").read(), re.M)
    return int(m.group(1)) if m else 0


def mode_tuning(a, tmp):
    sock = os.path.join(tmp, "api.sock")
    ncpu = os.sysconf("SC_NPROCESSORS_CONF")
    if ncpu < 2 or len(os.sched_getaffinity(0)) < 2:
        skip("pinning is seen only with 2 host CPUs or more")
    last = ncpu - 1
    img = os.path.join(tmp, "d.img")
    with open(img, "wb") as f:
        f.truncate(1 << 20)
    p = start_kite(a, tmp, ["--api-sock", sock, "--console", "none", "--pin-io", "0"])
    check(wait_socket(sock, p), "API socket appears")
    mc = curl(sock, "GET", "/machine-config")[1]
    check(mc.get("pin_io") == [0] and mc.get("iothreads") is True and mc.get("hugepages") == "auto"
          and "pin_vcpus" not in mc, "defaults: --pin-io 0 as pin_io, iothreads true, hugepages auto (%s)" % mc)
    base = {"vcpu_count": 2, "mem_size_mib": 32}
    check(curl(sock, "PUT", "/machine-config", base)[0] == 204, "PUT /machine-config without tuning fields")
    before = curl(sock, "GET", "/machine-config")[1]
    check(before.get("pin_io") == [0], "a PUT without pin_io keeps the flag's default (%s)" % before)
    for body, contains, what in [
            ({"pin_io": []}, "pin_io is empty", "empty pin_io"),
            ({"pin_io": "0,1"}, "invalid type: string \"0,1\", expected a sequence", "pin_io as a string"),
            ({"pin_io": [-1]}, "pin_io must be at most 64 host CPU numbers", "negative host CPU"),
            ({"pin_io": [0.5]}, "pin_io must be at most 64 host CPU numbers", "fractional host CPU"),
            ({"pin_io": [0] * 65}, "pin_io must be at most 64 host CPU numbers", "65 entries"),
            ({"pin_io": [ncpu]}, "pin_io names host CPU %d, which does not exist" % ncpu, "a host CPU that does not exist"),
            ({"pin_vcpus": [ncpu]}, "pin_vcpus names host CPU %d, which does not exist" % ncpu,
             "pin_vcpus: a host CPU that does not exist"),
            ({"iothreads": "yes"}, "invalid type: string \"yes\", expected a boolean", "iothreads as a string"),
            ({"hugepages": "maybe"}, "unknown variant `maybe`, expected one of `auto`, `on`, `off`", "unknown hugepages"),
            ({"hugepages": True}, "expected a string", "hugepages as a boolean"),
            ({"huge_pages": "2M", "hugepages": "off"}, "contradict each other", "huge_pages 2M with hugepages off")]:
        expect_fault(sock, "PATCH", "/machine-config", body, contains, what)
    check(curl(sock, "GET", "/machine-config")[1] == before, "the refused requests changed nothing")
    free = free_hugepages()
    tuned = dict(base, pin_vcpus=[last], pin_io=[last, 0], iothreads=True, hugepages="on")
    check(curl(sock, "PUT", "/machine-config", tuned)[0] == 204, "PUT /machine-config with every tuning field")
    mc = curl(sock, "GET", "/machine-config")[1]
    check(all(mc.get(k) == v for k, v in tuned.items()), "GET /machine-config shows them (%s)" % mc)
    check(curl(sock, "PATCH", "/machine-config", {"iothreads": False})[0] == 204 and
          curl(sock, "GET", "/machine-config")[1].get("iothreads") is False, "PATCH iothreads false")
    check(curl(sock, "PATCH", "/machine-config", {"iothreads": True})[0] == 204 and
          curl(sock, "GET", "/vm/config")[1]["machine-config"] == mc, "PATCH iothreads true; GET /vm/config agrees")
    check(curl(sock, "PUT", "/boot-source", {"kernel_image_path": a.kernel, "boot_args": "kite.test=idle"})[0] == 204,
          "PUT /boot-source (idle guest)")
    for i, ro in enumerate([False, True]):
        check(curl(sock, "PUT", "/drives/d%d" % i, {"drive_id": "d%d" % i, "path_on_host": img, "is_root_device": False,
                                                     "is_read_only": ro})[0] == 204, "PUT /drives/d%d" % i)
    huge = free >= 16
    if not huge:
        expect_fault(sock, "PUT", "/actions", {"action_type": "InstanceStart"}, "huge pages required (--hugepages, hugepages \"on\")",
                     "hugepages on with %d free huge pages: InstanceStart refused saying why" % free)
        check(p.poll() is None and curl(sock, "GET", "/")[1].get("state") == "Not started", "... and kite waits, Not started")
        check(curl(sock, "PATCH", "/machine-config", {"hugepages": "off"})[0] == 204, "PATCH hugepages off")
    check(curl(sock, "PUT", "/actions", {"action_type": "InstanceStart"})[0] == 204, "InstanceStart")
    th = thread_cpus(p.pid, ("kite-vcpu0", "kite-vcpu1", "io:virtio-blk0", "io:virtio-blk1"))
    check(th.get("io:virtio-blk0") == str(last) and th.get("io:virtio-blk1") == "0",
          "I/O threads on pin_io's CPUs %d and 0 (%s)" % (last, th))
    check(th.get("kite-vcpu0") == str(last) and th.get("kite-vcpu1") == str(last),
          "vCPUs on pin_vcpus' CPU %d (%s)" % (last, th))
    if huge:
        check(hugetlb_ram(p.pid), "hugepages on: guest RAM is on 2 MiB hugetlb pages (smaps)")
    else:
        check(not hugetlb_ram(p.pid), "hugepages off: guest RAM is not on hugetlb pages (smaps)")
    expect_fault(sock, "PATCH", "/machine-config", {"pin_io": [0]}, "after starting the microVM. (pin_io: host tuning",
                 "PATCH pin_io after boot refused naming it")
    expect_fault(sock, "PUT", "/machine-config", dict(base, hugepages="auto", iothreads=False),
                 "(iothreads, hugepages: host tuning", "PUT with tuning fields after boot refused naming them")
    check(curl(sock, "GET", "/machine-config")[1].get("pin_io") == [last, 0], "... pin_io unchanged")
    p.send_signal(signal.SIGTERM)
    check(finish(p, 10) == 143, "SIGTERM: exit 143")
    err = open(os.path.join(tmp, "kite.err")).read()
    check(("vm: guest RAM on" in err) if huge else ("guest RAM:" not in err and "guest RAM on" not in err),
          "the huge-page notice: %s" % ("hugetlb named" if huge else "none with hugepages off"))
    check("virtio-blk0's I/O thread pinned to host CPU %d" % last in err, "kite logged the I/O thread's CPU")

    # the --config-file path: the same fields, iothreads off, hugepages auto
    cfg = os.path.join(tmp, "vm.json")
    vm = {"boot-source": {"kernel_image_path": a.kernel, "boot_args": "kite.test=idle"},
          "drives": [{"drive_id": "d0", "path_on_host": img, "is_root_device": False}],
          "machine-config": dict(base, pin_vcpus=[0], iothreads=False, hugepages="auto")}
    with open(cfg, "w") as f:
        json.dump(vm, f)
    p = start_kite(a, tmp, ["--api-sock", sock, "--config-file", cfg, "--console", "none"])
    check(wait_socket(sock, p), "API socket appears (--config-file)")
    ok = wait_until(lambda: curl(sock, "GET", "/")[1].get("state") == "Running", p, 60)
    check(ok, "the --config-file VM runs")
    th = thread_cpus(p.pid, ("kite-vcpu0", "kite-vcpu1"))
    check(not any(k.startswith("io:") for k in th) and th.get("kite-vcpu0") == "0" and th.get("kite-vcpu1") == "0",
          "iothreads false: no I/O thread; vCPUs on CPU 0 (%s)" % th)
    mc = curl(sock, "GET", "/machine-config")[1]
    check(mc.get("iothreads") is False and mc.get("hugepages") == "auto" and mc.get("pin_vcpus") == [0],
          "GET /machine-config of the config file's VM (%s)" % mc)
    p.send_signal(signal.SIGTERM)
    check(finish(p, 10) == 143, "SIGTERM: exit 143")
    err = open(os.path.join(tmp, "kite.err")).read()
    check(re.search(r"vm: guest RAM(:| on)", err) is not None, "hugepages auto: the notice line says which memory")
    with open(cfg, "w") as f:
        json.dump(dict(vm, **{"machine-config": dict(base, pin_io=[ncpu])}), f)
    p = start_kite(a, tmp, ["--no-api", "--config-file", cfg, "--console", "none"])
    check(finish(p) == 1 and "pin_io names host CPU %d" % ncpu in open(os.path.join(tmp, "kite.err")).read(),
          "a config file pinning to a missing host CPU: exit 1 naming it")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kite", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--dpu", help="kite-dpu, for mode vhost")
    ap.add_argument("mode", choices=["getting-started", "config-file", "pause", "socket", "patch", "vhost", "tuning",
                                    "poll-idle"])
    a = ap.parse_args()
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
    except OSError as e:
        skip("/dev/kvm: %s" % e.strerror)
    if shutil.which("curl") is None:
        skip("curl not installed")
    a.kite = os.path.abspath(a.kite)
    a.kernel = os.path.abspath(a.kernel)
    tmp = tempfile.mkdtemp(prefix="kite-api-")
    try:
        {"getting-started": mode_getting_started, "config-file": mode_config_file, "pause": mode_pause,
         "socket": mode_socket, "patch": mode_patch, "vhost": mode_vhost, "tuning": mode_tuning,
         "poll-idle": mode_poll_idle}[a.mode](a, tmp)
        if FAILS and os.path.exists(os.path.join(tmp, "kite.err")):
            print("--- kite stderr ---\n" + open(os.path.join(tmp, "kite.err")).read())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d failed" % len(FAILS))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
