#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kill -9 of kite-dpu under a guest write stream, then a restart: kite's vhost-user-blk reconnects,
the stream completes, and every block acknowledged to the guest is in the image.

usage: blk_restart.py --kite KITE --dpu KITE_DPU --kernel GUEST

The test guest writes N sequential 4 KiB blocks (blkbench kite.bench=stream, 8 in flight, each block
stamped with its number), printing a line every PROGRESS completions. The first kite-dpu has a QoS limit
(iops): the request the limiter stops waits popped, so there is always a request in flight in the
inflight region. When the first line appears, kite-dpu gets SIGKILL; the blocks acknowledged by then
must already be in the image; kite-dpu is started again on the same volume, without the limit.
Checked: kite logs the loss and the reconnection once each, the restarted kite-dpu logs that it
resubmits at least one in-flight request from the inflight region (and counts them in
kite_dpu_blk_resubmitted_total), the guest completes all N writes without an error, and the image
holds every block's stamp.
Exit 0 pass, 1 fail, 77 skip (no /dev/kvm).
"""
import json
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vtlib import vt_args  # noqa: E402
from dpu_ctl import ctl_request, metric  # noqa: E402
from image_blocks import bad_blocks  # noqa: E402

OPS = 1000
PROGRESS = 10
IOPS = 5            # the first kite-dpu's limit: well below the test guest's stream (tens per second
                    # under kvm-pvm), so requests queue up behind the limiter
BLOCK = 4096


def stamp(blk, seed):
    return struct.pack("<Q", (blk * 0x9e3779b97f4a7c15 ^ seed) & (2**64 - 1)) * (BLOCK // 8)


def stamped(img, upto, seed):
    """The blocks among the first `upto` that do not hold their stamp."""
    return bad_blocks(img, upto, BLOCK, lambda b: stamp(b, seed))


def resubmitted_counter(ctl):
    """kite_dpu_blk_resubmitted_total of vol0 from the control socket's stats command."""
    n = metric(ctl_request(ctl, {"cmd": "stats"})["stats"], "kite_dpu_blk_resubmitted_total", volume="vol0")
    return int(n) if n is not None else None


def start_dpu(exe, cfg, log):
    return subprocess.Popen([exe, "--config", cfg], stdout=subprocess.DEVNULL, stderr=open(log, "a"))


def wait_for(what, cond, proc, bound=120):
    """Poll cond() until it holds; the bound only keeps a broken run from hanging the suite."""
    end = time.monotonic() + bound
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        if proc.poll() is not None:
            raise RuntimeError("kite ended (status %s) while waiting for %s" % (proc.returncode, what))
        time.sleep(0.01)
    raise RuntimeError("gave up waiting for " + what)


def main():
    a = vt_args("--dpu")
    tmp = tempfile.mkdtemp(prefix="kite-vhost-restart-")
    seed = random.randrange(1, 2**62) | 1
    img, sock = os.path.join(tmp, "vol0.img"), os.path.join(tmp, "vol0.sock")
    cfg, dlog = os.path.join(tmp, "dpu.json"), os.path.join(tmp, "dpu.log")
    con, klog = os.path.join(tmp, "console.txt"), os.path.join(tmp, "kite.log")
    with open(img, "wb") as f:
        f.write(os.urandom((OPS + 64) * BLOCK))
    slow_cfg, ctl = os.path.join(tmp, "dpu-slow.json"), os.path.join(tmp, "ctl.sock")
    vol = {"name": "vol0", "image": img, "socket": sock}
    with open(cfg, "w") as f:
        json.dump({"cores": [-1], "control": ctl, "volumes": [vol]}, f)
    with open(slow_cfg, "w") as f:
        json.dump({"cores": [-1], "volumes": [dict(vol, iops=IOPS)]}, f)
    dpu = start_dpu(a.dpu, slow_cfg, dlog)
    kite = None
    why = None
    try:
        wait_for("kite-dpu's socket", lambda: os.path.exists(sock), dpu, 30)
        cmd = [a.kite, "--kernel", a.kernel, "--console", "file:" + con, "--vhost-user-blk", "socket=" + sock,
               "--cmdline", "kite.test=blkbench kite.bench=stream kite.ops=%d kite.qd=8 kite.seed=%d kite.progress=%d"
               % (OPS, seed, PROGRESS)]
        print("$ " + " ".join(cmd))
        kite = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(klog, "w"))

        def acked():
            m = re.findall(r"^blkbench: (\d+) acked$", open(con, errors="replace").read() if os.path.exists(con) else "",
                           re.M)
            return int(m[-1]) if m else 0
        wait_for("the first %d completions" % PROGRESS, acked, kite)
        time.sleep(random.uniform(0.005, 0.05))     # somewhere in the stream, not right after a print
        dpu.send_signal(signal.SIGKILL)
        dpu.wait()
        at_kill = acked()
        print("kite-dpu killed after %d acknowledged writes" % at_kill)
        if at_kill >= OPS:
            raise RuntimeError("the stream ended before kite-dpu was killed")
        bad = stamped(img, at_kill, seed)
        if bad:
            raise RuntimeError("%d acknowledged blocks are not in the image at the kill (first %d)" % (len(bad), bad[0]))
        os.unlink(sock)
        dpu = start_dpu(a.dpu, cfg, dlog)
        kite.wait(timeout=180)
        text = open(con, errors="replace").read()
        err = open(klog, errors="replace").read()
        if kite.returncode != 0 or "BENCH ops=%d " % OPS not in text:
            raise RuntimeError("the stream did not complete (kite status %d)" % kite.returncode)
        if len(re.findall(r"vhost-user-blk0: backend .* lost", err)) != 1 or \
           len(re.findall(r"vhost-user-blk0: backend .* is back", err)) != 1:
            raise RuntimeError("kite did not log the loss and the reconnection once each")
        m = re.findall(r"vol0: queue 0: resubmitting (\d+) in-flight requests from the inflight region "
                       r"\(resuming at used index (\d+)", open(dlog).read())
        if len(m) != 1 or int(m[0][0]) < 1:
            raise RuntimeError("the restarted kite-dpu did not log one resubmission of in-flight requests: %s" % m)
        print("restarted kite-dpu resubmitted %s in-flight requests, resuming at used index %s" % m[0])
        n = resubmitted_counter(ctl)
        if n != int(m[0][0]):
            raise RuntimeError("kite_dpu_blk_resubmitted_total is %s, the log says %s" % (n, m[0][0]))
        bad = stamped(img, OPS, seed)
        if bad:
            raise RuntimeError("%d of %d written blocks are not in the image (first %d)" % (len(bad), OPS, bad[0]))
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        why = str(e)
    finally:
        for p in (kite, dpu):
            if p and p.poll() is None:
                p.kill()
                p.wait()
    if why:
        print("FAIL: " + why)
        for name, path in (("console", con), ("kite", klog), ("kite-dpu", dlog)):
            print("--- %s ---\n%s" % (name, open(path, errors="replace").read()[-2500:] if os.path.exists(path) else ""))
        shutil.rmtree(tmp, ignore_errors=True)
        return 1
    print(open(klog).read()[-600:])
    print("PASS: %d writes completed across a kite-dpu kill -9 + restart, every block in the image" % OPS)
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
