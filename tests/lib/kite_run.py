#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Run a VMM (kite or QEMU) with a guest under a timeout and check what it did.

usage: kite_run.py [options] -- COMMAND [ARGS...]

Placeholders in COMMAND, --expect and --write: {tmp} (a private temporary directory, removed at the
end), {console} (a console file in it, for kite's --console file:{console}), {initrd} /
{initrd_size} / {initrd_fnv} (a file of --initrd-bytes pseudo-random bytes, its size and FNV-1a 32
hash), {longcmdline} (4096 characters), and --define NAME VALUE. --needs-kvm skips (77) when
/dev/kvm cannot be opened, --needs PROG when PROG is not installed.

Checks: exit status (--exit), regular expressions that must match a console/stdout line (--expect),
must not match (--reject), must match a stderr line (--stderr), number of stderr lines
(--stderr-lines), --sigterm-after REGEX (send SIGTERM once a line matches and require the process
to end within --timeout). Exit 0 = pass, 1 = fail (everything printed), 77 = skip (reason printed).
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time


def fnv1a32(data):
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) & 0xffffffff
    return h


def skip(why):
    print("SKIP: " + why)
    sys.exit(77)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--exit", type=int, default=0, help="expected exit status")
    ap.add_argument("--expect", action="append", default=[])
    ap.add_argument("--reject", action="append", default=[])
    ap.add_argument("--stderr", action="append", default=[])
    ap.add_argument("--stderr-lines", type=int, default=None)
    ap.add_argument("--initrd-bytes", type=int, default=0)
    ap.add_argument("--needs-kvm", action="store_true")
    ap.add_argument("--needs", action="append", default=[], help="program that must exist")
    ap.add_argument("--sigterm-after", default=None)
    ap.add_argument("--write", action="append", default=[],
                    help="NAME=TEXT: write TEXT (placeholders expanded) to {tmp}/NAME first")
    ap.add_argument("--define", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="placeholder {NAME} = VALUE")
    ap.add_argument("--truncate", nargs=3, action="append", default=[], metavar=("NAME", "SRC", "BYTES"),
                    help="{tmp}/NAME = the first BYTES bytes of SRC")
    ap.add_argument("--sparse", nargs=2, action="append", default=[], metavar=("NAME", "BYTES"),
                    help="{tmp}/NAME = a sparse file of BYTES bytes")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        ap.error("no command")

    if a.needs_kvm:
        try:
            os.close(os.open("/dev/kvm", os.O_RDWR))
        except OSError as e:
            skip("/dev/kvm cannot be opened (%s): this test needs KVM" % e.strerror)
    for prog in a.needs:
        if not shutil.which(prog):
            skip("%s is not installed" % prog)

    tmp = tempfile.mkdtemp(prefix="kite-test-")
    try:
        return run(a, cmd, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(a, cmd, tmp):
    subst = {"tmp": tmp, "console": os.path.join(tmp, "console.txt"), "longcmdline": "a" * 4096}
    subst.update(dict(a.define))
    for name, src, n in a.truncate:
        for k, v in subst.items():
            src = src.replace("{%s}" % k, v)
        with open(src, "rb") as f, open(os.path.join(tmp, name), "wb") as g:
            g.write(f.read(int(n)))
    for name, n in a.sparse:
        with open(os.path.join(tmp, name), "wb") as g:
            g.truncate(int(n))
    if a.initrd_bytes:
        # deterministic content: an LCG, so a failure can be reproduced
        x, data = 12345, bytearray()
        for _ in range(a.initrd_bytes):
            x = (x * 1103515245 + 12345) & 0x7fffffff
            data.append(x >> 16 & 0xff)
        path = os.path.join(tmp, "initrd.bin")
        with open(path, "wb") as f:
            f.write(data)
        subst.update(initrd=path, initrd_size=str(len(data)), initrd_fnv="0x%08x" % fnv1a32(data))

    def expand(s):
        for k, v in subst.items():
            s = s.replace("{%s}" % k, v)
        return s

    for w in a.write:
        name, _, text = w.partition("=")
        with open(os.path.join(tmp, name), "w") as f:
            f.write(expand(text))
    cmd = [expand(c) for c in cmd]
    expects = [expand(e) for e in a.expect]
    a.stderr = [expand(e) for e in a.stderr]
    print("run: " + " ".join(cmd))

    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    timed_out = False
    sent_term = False
    out_chunks = []
    if a.sigterm_after:
        # read stdout (or the console file) until the line shows up, then SIGTERM
        pat = re.compile(a.sigterm_after)
        buf = b""
        os.set_blocking(p.stdout.fileno(), False)
        while time.monotonic() - t0 < a.timeout and p.poll() is None:
            try:
                chunk = p.stdout.read()
            except BlockingIOError:
                chunk = None
            if chunk:
                buf += chunk
            text = buf.decode("utf-8", "replace")
            cons = subst["console"]
            if os.path.exists(cons):
                text += open(cons, "rb").read().decode("utf-8", "replace")
            if any(pat.search(l) for l in text.splitlines()):
                p.send_signal(signal.SIGTERM)
                sent_term = True
                break
            time.sleep(0.05)
        os.set_blocking(p.stdout.fileno(), True)
        out_chunks.append(buf)
    try:
        out, err = p.communicate(timeout=max(1, a.timeout - (time.monotonic() - t0)))
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
    elapsed = time.monotonic() - t0
    out = b"".join(out_chunks) + out
    console = out.decode("utf-8", "replace")
    if os.path.exists(subst["console"]):
        console += open(subst["console"], "rb").read().decode("utf-8", "replace")
    err = err.decode("utf-8", "replace")
    lines = console.splitlines()
    elines = [l for l in err.splitlines() if l.strip()]

    problems = []
    if timed_out:
        problems.append("timed out after %.0f s (killed)" % a.timeout)
    elif p.returncode != a.exit:
        problems.append("exit status %d, expected %d" % (p.returncode, a.exit))
    if a.sigterm_after and not sent_term:
        problems.append("never saw a line matching %r to send SIGTERM after" % a.sigterm_after)
    for e in expects:
        if not any(re.search(e, l) for l in lines):
            problems.append("no output line matches %r" % e)
    for r in a.reject:
        if any(re.search(r, l) for l in lines):
            problems.append("an output line matches %r" % r)
    for e in a.stderr:
        if not any(re.search(e, l) for l in elines):
            problems.append("no stderr line matches %r" % e)
    if a.stderr_lines is not None and len(elines) != a.stderr_lines:
        problems.append("%d stderr lines, expected %d" % (len(elines), a.stderr_lines))
    if sent_term:
        # no leftovers: the whole process group is gone
        try:
            os.killpg(p.pid, 0)
            problems.append("processes of the group %d are still alive after exit" % p.pid)
        except ProcessLookupError:
            pass

    print("exit status %d after %.2f s" % (p.returncode, elapsed))
    print("--- output ---\n" + console.rstrip())
    print("--- stderr ---\n" + err.rstrip())
    if problems:
        for pr in problems:
            print("FAIL: " + pr)
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
