#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kite virtio-blk inline writes (kite/inline_write.h, docs/vmm.md "Buffered writes"): the guest's
blkbench stream (N sequential 4 KiB writes from block 0, 16 in flight, every 8-byte word of block b
holding b * 0x9e3779b97f4a7c15 ^ S) on a buffered image on tmpfs (/dev/shm): io_uring would hand each
write to a worker, so the I/O thread writes them itself. Afterwards every block holds its stamp, the
blocks after the stream hold their old bytes, and kite --stats' counters say the writes went inline
(all N unless one slept, which sends the next writes to io_uring for 100 ms: then at least one).
With cache=none (O_DIRECT) on the same file system no write goes inline, and the bytes are the same.

usage: blk_inline.py --kite KITE --kernel GUEST [buffered|nocache]
Exit 0 = pass, 1 = fail (the reason and kite's log printed), 77 = skip (no /dev/kvm).
"""
import argparse
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile

BLOCK = 4096
OPS = 2000
QD = 16
SPARE = 64          # blocks after the stream: must keep their bytes


def stamp(blk, seed):
    return struct.pack("<Q", (blk * 0x9e3779b97f4a7c15 ^ seed) & (2**64 - 1)) * (BLOCK // 8)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kite", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--timeout", type=float, default=90)
    ap.add_argument("mode", choices=["buffered", "nocache"])
    a = ap.parse_args()
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
    except OSError as e:
        print("SKIP: /dev/kvm cannot be opened (%s): this test needs KVM" % e.strerror)
        return 77
    if not os.path.isdir("/dev/shm"):
        print("FAIL: no /dev/shm (tmpfs) for the image")
        return 1
    tmp = tempfile.mkdtemp(prefix="kite-blk-inline-", dir="/dev/shm")
    try:
        return run(a, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(a, tmp):
    img, con = os.path.join(tmp, "disk.img"), os.path.join(tmp, "console.txt")
    orig = os.urandom((OPS + SPARE) * BLOCK)
    with open(img, "wb") as f:
        f.write(orig)
    seed = random.randrange(1, 1 << 32) | 1
    blk = "path=%s%s" % (img, ",cache=none" if a.mode == "nocache" else "")
    cmd = [a.kite, "--kernel", a.kernel, "--console", "file:" + con, "--stats", "--blk", blk,
           "--cmdline", "kite.test=blkbench kite.bench=stream kite.ops=%d kite.qd=%d kite.seed=%d kite.progress=0"
           % (OPS, QD, seed)]
    print("$ " + " ".join(cmd))
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=a.timeout)
        rc, err = p.returncode, p.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired as e:
        rc, err = "timeout", (e.stderr or b"").decode(errors="replace")
    text = open(con, errors="replace").read() if os.path.exists(con) else ""
    data = open(img, "rb").read()
    why = None
    m = re.search(r"kite: stats: blk:virtio-blk0: requests=(\d+) reads=\d+ writes=(\d+) flushes=\d+ errors=(\d+) "
                  r"throttled=\d+ inline_writes=(\d+) inline_slow=(\d+)", err)
    bad = [b for b in range(OPS) if data[b * BLOCK:(b + 1) * BLOCK] != stamp(b, seed)]
    if rc != 0:
        why = "kite exited with %s" % rc
    elif not re.search(r"^BENCH ops=%d " % OPS, text, re.M):
        why = "the guest did not finish the stream"
    elif bad:
        why = "%d of %d blocks do not hold their stamp (first: block %d)" % (len(bad), OPS, bad[0])
    elif data[OPS * BLOCK:] != orig[OPS * BLOCK:]:
        why = "the blocks after the stream changed"
    elif len(data) != len(orig):
        why = "the image's size changed"
    elif not m:
        why = "kite --stats printed no counter line for virtio-blk0"
    elif int(m.group(2)) != OPS or int(m.group(3)):
        why = "writes=%s errors=%s, expected %d and 0" % (m.group(2), m.group(3), OPS)
    else:
        inl, slow = int(m.group(4)), int(m.group(5))
        print("inline writes: %d of %d, %d slept" % (inl, OPS, slow))
        if a.mode == "nocache":
            if inl or slow:
                why = "cache=none, yet %d writes went inline" % inl
            elif "writes them itself" in err:
                why = "cache=none, yet kite logged that the I/O thread writes them itself"
        elif not slow and inl != OPS:
            why = "only %d of %d writes went inline on tmpfs (none slept)" % (inl, OPS)
        elif slow and not 1 <= inl < OPS:
            why = "%d writes slept, yet %d of %d went inline" % (slow, inl, OPS)
        elif "writes them itself" not in err:
            why = "kite did not log the inline mode of virtio-blk0"
    if why:
        print("FAIL: " + why)
        print("--- kite ---\n" + err[-4000:] + "\n--- console ---\n" + text[-2000:])
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
