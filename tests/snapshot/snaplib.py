# SPDX-License-Identifier: MIT
"""Helpers of the snapshot suite (tests/snapshot/): kite through its API, snapshot files, the count guest.

Shared by every test of the suite (device tests included): start a kite with an API socket, call
it with curl, pause + create a snapshot, load one in a fresh kite, rewrite a VM-state file with
valid CRCs (to make files that only a semantic check can refuse), lay a Diff memory file over its
base, and check the count guest's console stream (guest/test_count.c).
"""
import atexit
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import api_client  # noqa: E402
from kite_run import skip  # noqa: E402,F401  (tests/lib: the one skip())

FAILS = []

HEADER = 40
SECTION_HEADER = 48
FNV_OFFSET = 0xcbf29ce484222325
FNV_PRIME = 0x100000001b3


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILS.append(what)
    return cond


def finish():
    if FAILS:
        print("%d check(s) failed:" % len(FAILS))
        for f in FAILS:
            print("  " + f)
        sys.exit(1)
    print("PASS")
    sys.exit(0)


def run_in_workdir(fn, args, prefix, keep=False):
    """fn(args, work) in a fresh temporary directory (kept when a check failed or keep), then finish()."""
    work = tempfile.mkdtemp(prefix=prefix)
    try:
        fn(args, work)
    except RuntimeError as e:
        check(False, str(e))
    finally:
        if keep or FAILS:
            print("work directory kept: " + work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    finish()


def need_kvm():
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        skip("no usable /dev/kvm")


def curl(sock, method, path, body=None):
    """(status, parsed JSON or text or None); snapshot requests may take a while (hang guard 60 s)."""
    return api_client.curl(sock, method, path, body, max_time=60)


def fault(val):
    return val.get("fault_message", "") if isinstance(val, dict) else str(val)


_started = []   # every Kite this process started: the ones still running are killed at exit


@atexit.register
def _kill_leftovers():
    """A check that fails between a start and its stop exits the test: no kite may outlive it."""
    for p in _started:
        if p.poll() is None:
            p.kill()
            p.wait()


class Kite:
    """A kite with an API socket in dir `work`, its console in a file, stderr in a file. A kite
    still running when the test process exits is killed then (a failed check leaves none behind)."""

    def __init__(self, kite, work, name, extra=()):
        self.sock = os.path.join(work, name + ".sock")
        self.console = os.path.join(work, name + ".console")
        self.stderr = os.path.join(work, name + ".stderr")
        self.err = open(self.stderr, "w")
        self.proc = subprocess.Popen([kite, "--api-sock", self.sock, "--console", "file:" + self.console] + list(extra),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.err)
        _started.append(self.proc)
        end = time.monotonic() + 30   # hang guard
        while not os.path.exists(self.sock):
            if self.proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError("kite did not open its API socket: " + self.log())
            time.sleep(0.02)

    def call(self, method, path, body=None):
        return curl(self.sock, method, path, body)

    def log(self):
        self.err.flush()
        with open(self.stderr) as f:
            return f.read()

    def text(self):
        try:
            with open(self.console, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_for(self, pattern, timeout=120):
        """Wait (hang guard, not a timing check) until the console matches; returns the match or None."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = re.search(pattern, self.text(), re.M)
            if m:
                return m
            if self.proc.poll() is not None:
                return re.search(pattern, self.text(), re.M)
            time.sleep(0.05)
        return None

    def snapshot(self, state, mem, kind="Full"):
        code, val = self.call("PATCH", "/vm", {"state": "Paused"})
        if code != 204:
            return code, val
        return self.call("PUT", "/snapshot/create", {"snapshot_type": kind, "snapshot_path": state,
                                                      "mem_file_path": mem})

    def kill9(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.err.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()


def load_body(state, mem, resume=True, diff=False):
    return {"snapshot_path": state, "mem_backend": {"backend_type": "File", "backend_path": mem},
            "enable_diff_snapshots": diff, "resume_vm": resume}


# ---- the VM-state file (include/kite/snapshot.h) ----

def parse_state(data):
    """[(name, instance, version, payload)] of a valid file, and its header fields."""
    magic, version, hsize, count, flags, body_len, body_crc, hcrc = struct.unpack_from(
        "<8sIIIIQII", data, 0)
    off, sections = HEADER, []
    for _ in range(count):
        name, inst, ver, ln, _crc, _res = struct.unpack_from("<24sIIQII", data, off)
        off += SECTION_HEADER
        sections.append((name.rstrip(b"\0").decode(), inst, ver, data[off:off + ln]))
        off += ln
    return {"magic": magic, "version": version, "flags": flags}, sections


def build_state(sections, version=1, flags=0):
    body = b""
    for name, inst, ver, payload in sections:
        body += struct.pack("<24sIIQII", name.encode(), inst, ver, len(payload), zlib.crc32(payload), 0) + payload
    head = struct.pack("<8sIIIIQI", b"KITESNAP", version, HEADER, len(sections), flags, len(body), zlib.crc32(body))
    return head + struct.pack("<I", zlib.crc32(head)) + body


def str_payload(s):
    b = s.encode()
    return struct.pack("<I", len(b)) + b


def payload_str(p):
    (n,) = struct.unpack_from("<I", p, 0)
    return p[4:4 + n].decode()


def layer_diff(base, diff, out):
    """Firecracker's way of using a Diff memory file: its data extents (not its holes) over the base."""
    shutil.copyfile(base, out)
    size = os.path.getsize(diff)
    with open(diff, "rb") as d, open(out, "r+b") as o:
        fd, off, extents = d.fileno(), 0, 0
        while off < size:
            try:
                start = os.lseek(fd, off, os.SEEK_DATA)
            except OSError:
                break
            end = os.lseek(fd, start, os.SEEK_HOLE)
            d.seek(start)
            o.seek(start)
            o.write(d.read(end - start))
            extents += 1
            off = end
    return extents


def allocated(path):
    return os.stat(path).st_blocks * 512


# ---- the count guest ----

COUNT_RE = re.compile(r"^count (\d+) sum 0x([0-9a-f]+)$")


def count_sum(n, _cache={0: FNV_OFFSET}):
    last = max(k for k in _cache if k <= n)
    s = _cache[last]
    for i in range(last + 1, n + 1):
        s = ((s ^ i) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
        if i % 1000 == 0:
            _cache[i] = s
    return s


def check_count_stream(text, what):
    """The console of one guest over its lives: 'count N sum S' for N = 1, 2, ... with no gap, no
    repeat and S right for N; exactly one start; no FAIL. Returns the last N."""
    lines = text.split("\n")
    if lines and not text.endswith("\n"):
        lines = lines[:-1]   # a line the last kite was printing when it was killed
    want, bad, starts = 1, [], 0
    for ln in lines:
        if ln.startswith("count: counting"):
            starts += 1
            continue
        if ln.startswith("count: memory checked at "):
            continue
        m = COUNT_RE.match(ln)
        if not m:
            if "FAIL" in ln:
                bad.append(ln)
            continue
        n, s = int(m.group(1)), int(m.group(2), 16)
        if n != want or s != count_sum(n):
            bad.append("%r (expected count %d sum 0x%x)" % (ln, want, count_sum(want)))
            break
        want += 1
    check(starts == 1, "%s: the guest started once (%d starts)" % (what, starts))
    check(not bad, "%s: count 1..%d continuous with the right checksums%s" % (what, want - 1,
                                                                                "" if not bad else ": " + bad[0]))
    return want - 1


def last_count(text):
    ns = [int(m.group(1)) for m in re.finditer(r"^count (\d+) sum", text, re.M)]
    return ns[-1] if ns else 0
