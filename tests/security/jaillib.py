# SPDX-License-Identifier: MIT
"""What the jailer tests (jailer_test.py, jail_dpu_test.py) share: soft checks that collect failures,
a bounded wait, the cgroup hierarchies of the host."""
import os
import time

failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)
    return ok


def wait_for(pred, limit=60):
    """A bounded wait, not a timing assertion."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.1)
    return False


def cgroup_mounts():
    return [l.split()[1] for l in open("/proc/mounts") if l.split()[2] in ("cgroup", "cgroup2")]


def empty_cgroup_dirs(name):
    """<hierarchy>/name directories holding no cgroup (left behind by a jailer)."""
    return [os.path.join(m, name) for m in cgroup_mounts() if os.path.isdir(os.path.join(m, name)) and
            not any(os.path.isdir(os.path.join(m, name, e)) for e in os.listdir(os.path.join(m, name)))]
