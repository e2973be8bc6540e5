# SPDX-License-Identifier: MIT
"""Helpers of the vhost suite's tests that put kite and a vhost-user backend together (hostile.py,
peers.py, eastwest.py, net_ack.py, blk_resize.py, ...): kite-dpu comes from tests/dpu/net/netlib.py,
the test guest's disk pattern from tests/virtio/blk_run.py, the KVM skip from tests/lib/checks.py;
this adds the tests' command line, kite itself (a VM with a console file and a stderr file), the
hostile backend, waiting for backend sockets, and image checks."""
import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "dpu", "net"))
sys.path.insert(0, os.path.join(TOP, "tests", "virtio"))
sys.path.insert(0, os.path.join(TOP, "tests", "lib"))
from netlib import Dpu, Procs, need, sh, skip, workdir  # noqa: E402,F401
from blk_run import SECTOR, Fail, check, fnv1a32, pattern_bytes  # noqa: E402,F401
from checks import need_kvm  # noqa: E402,F401
from netns import Netns  # noqa: E402


def vt_args(*programs, more=None):
    """The command line of a vhost test that runs the test guest: --kite, --kernel and each of
    `programs` (e.g. "--dpu", "--backend"), all required; more(ap) adds the test's own arguments.
    Exits 77 (skip) when /dev/kvm cannot be opened. Returns the parsed arguments."""
    ap = argparse.ArgumentParser()
    for opt in ("--kite", *programs, "--kernel"):
        ap.add_argument(opt, required=True)
    if more:
        more(ap)
    a = ap.parse_args()
    need_kvm()
    return a


def run_test(body, *args):
    """body(*args, wd, procs) in a fresh work dir; every process it started is stopped and the dir
    removed afterwards. A Fail prints its reason and the work dir's logs (*.txt, *.log): exit 1."""
    wd = workdir()
    procs = Procs()
    try:
        return body(*args, wd, procs)
    except Fail as e:
        print("FAIL: %s" % e)
        for f in sorted(os.listdir(wd)):
            if f.endswith((".txt", ".log")):
                print("---- %s ----\n%s" % (f, open(os.path.join(wd, f), errors="replace").read()[-3000:]))
        return 1
    finally:
        procs.stop_all()
        shutil.rmtree(wd, ignore_errors=True)


def need_root():
    if os.geteuid() != 0:
        skip("needs root")


def rerun_in_netns(prefix, script):
    """Runs script (a test's own file) again with this process's arguments and --in-ns, in a private
    network namespace PREFIX-<pid> that is deleted afterwards. Returns its exit status."""
    with Netns(prefix) as ns:
        return subprocess.run(ns.exec_prefix + [sys.executable, os.path.abspath(script), "--in-ns"] +
                              sys.argv[1:]).returncode


def wait_socket(path, proc, what, timeout=20):
    """Until a backend's listening socket exists (the backend process must stay alive)."""
    deadline = time.time() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None:
            raise Fail("%s exited with status %s before listening on %s" % (what, proc.returncode, path))
        if time.time() > deadline:
            raise Fail("%s never listened on %s" % (what, path))
        time.sleep(0.05)


class HostileBackend:
    """tests/vhost/hostile_backend misbehaving as CASE on the socket `sock` (its log in {wd}/backend.log):
    listening once the constructor returns."""

    def __init__(self, exe, wd, sock, case, procs):
        self.case = case
        self.log_path = os.path.join(wd, "backend.log")
        self.log = open(self.log_path, "w")
        self.proc = procs.add(subprocess.Popen([exe, "--socket", sock, "--case", case], stderr=self.log,
                                               stdout=subprocess.DEVNULL))
        wait_socket(sock, self.proc, "hostile_backend")

    def text(self):
        self.log.flush()
        return open(self.log_path, errors="replace").read()

    def check_exercised(self, at=""):
        """The backend still runs and logged that its misbehaviour happened (at a message starting
        with `at`): else Fail."""
        check(self.proc.poll() is None, "the hostile backend died (status %s)" % self.proc.returncode)
        check(re.search(r"^hostile-backend: %s done at %s" % (re.escape(self.case), re.escape(at)), self.text(), re.M),
              "the backend never misbehaved%s: the case %s was not exercised" % (" at " + at if at else "", self.case))


def random_image(path, nbytes):
    data = os.urandom(nbytes)
    with open(path, "wb") as f:
        f.write(data)
    return data


class Kite:
    """One kite VM running the test guest: console in {dir}/{name}-console.txt, stderr in
    {dir}/{name}-stderr.txt. start() returns at once; wait() gives the exit status (or "timeout")."""

    def __init__(self, exe, kernel, wd, name, args, cmdline, procs):
        self.name = name
        self.console = os.path.join(wd, name + "-console.txt")
        self.stderr_path = os.path.join(wd, name + "-stderr.txt")
        self.cmd = [exe, "--kernel", kernel, "--console", "file:" + self.console, *args, "--cmdline", cmdline]
        self.procs = procs
        self.proc = None

    def start(self):
        print("$ " + " ".join(self.cmd))
        self.err = open(self.stderr_path, "w")
        self.proc = self.procs.add(subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=self.err,
                                                    stdin=subprocess.DEVNULL))
        return self

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return "timeout"

    def run(self, timeout):
        return self.start().wait(timeout)

    def con(self):
        return open(self.console, errors="replace").read() if os.path.exists(self.console) else ""

    def stderr(self):
        return open(self.stderr_path, errors="replace").read() if os.path.exists(self.stderr_path) else ""

    def wait_console(self, regex, timeout):
        """Until a console line matches (or kite ends / the time is up): the match or None."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = re.search(regex, self.con(), re.M)
            if m:
                return m
            if self.proc.poll() is not None:
                return re.search(regex, self.con(), re.M)
            time.sleep(0.1)
        return None

    def dump(self):
        return "--- %s console ---\n%s\n--- %s stderr ---\n%s" % (self.name, self.con()[-3000:], self.name,
                                                                   self.stderr()[-3000:])


def check_pattern(img, orig, sector, count, seed, what):
    """The test guest's pattern in sectors [sector, sector+count) of img, every other byte as orig."""
    start, end = sector * SECTOR, (sector + count) * SECTOR
    check(img[start:end] == pattern_bytes(sector, count, seed),
          "%s: sectors %d..%d do not hold the guest's pattern" % (what, sector, sector + count - 1))
    check(img[:start] == orig[:start] and img[end:] == orig[end:], "%s: bytes outside the pattern changed" % what)


def guest_seed():
    return random.randrange(1, 200), random.randrange(8, 1000)
