# SPDX-License-Identifier: MIT
"""Small helpers of the Python tests: soft checks that collect failures, a bounded wait, the KVM
skip, reading a child's output up to a marker, ending a child that is still running, and the CPUs
a process's threads may run on."""
import os
import re
import sys
import time

failures = []


def check(ok, what):
    """Prints ok/FAIL and the claim; a failure is kept for the exit status."""
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)
    return ok


def wait_for(pred, limit=60, step=0.05):
    """Polls pred() until true: a bounded wait, not a timing assertion."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return False


def need_kvm():
    """Exits 77 (meson's skip) when /dev/kvm cannot be opened."""
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
    except OSError as e:
        print("SKIP: /dev/kvm cannot be opened (%s)" % e.strerror)
        sys.exit(77)


def end(p, name="process"):
    """Kills the Popen p if it still runs; returns its stderr text (if piped), printed when a
    check failed."""
    if p.poll() is None:
        p.kill()
        p.wait()
    err = p.stderr.read().decode(errors="replace") if p.stderr else ""
    if failures:
        print("--- %s stderr ---\n%s" % (name, err))
    return err


def read_until(stream, got, needle):
    """Reads the binary stream (a Popen's stdout) into got[0] until needle is there (True) or the
    stream ends (False)."""
    while needle not in got[0]:
        d = stream.read1(4096)
        if not d:
            return False
        got[0] += d
    return True


def verdict():
    """The exit status: 0 when every check passed."""
    print("FAILED: %d check(s)" % len(failures) if failures else "PASS")
    return 1 if failures else 0


def thread_cpus(pid, want=("kite-vcpu0",), wait_s=20):
    """{comm: Cpus_allowed_list} of a process's threads (kite's vCPUs are kite-vcpuN, its I/O threads
    io:DEVICE): the host CPUs each may run on, as /proc/PID/task/TID/status says ("0-1", "1").
    A thread is named by itself after it started: the threads named in want are waited for (up to
    wait_s, a hang guard, not a timing check); what is missing then is simply absent."""
    deadline = time.monotonic() + wait_s
    while True:
        out = _thread_cpus_now(pid)
        if all(w in out for w in want) or time.monotonic() > deadline:
            return out
        time.sleep(0.05)


def _thread_cpus_now(pid):
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                comm = f.read().strip()
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                m = re.search(r"^Cpus_allowed_list:\s*(\S+)$", f.read(), re.M)
            out[comm] = m.group(1) if m else None
        except OSError:
            pass
    return out
