# SPDX-License-Identifier: MIT
"""What the jailer tests (jailer_test.py, jail_dpu_test.py) share: soft checks that collect failures,
a bounded wait, the cgroup hierarchies of the host."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checks import check, failures, wait_for  # noqa: E402,F401  (shared with the other tests)


def cgroup_mounts():
    return [l.split()[1] for l in open("/proc/mounts") if l.split()[2] in ("cgroup", "cgroup2")]


def empty_cgroup_dirs(name):
    """<hierarchy>/name directories holding no cgroup (left behind by a jailer)."""
    return [os.path.join(m, name) for m in cgroup_mounts() if os.path.isdir(os.path.join(m, name)) and
            not any(os.path.isdir(os.path.join(m, name, e)) for e in os.listdir(os.path.join(m, name)))]
