#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kite virtio-blk inline reads and writes (kite/inline_io.h, docs/vmm.md "Buffered reads and writes"):
the guest's blkbench stream (N sequential 4 KiB writes from block 0, 16 in flight, every 8-byte word of
block b holding b * 0x9e3779b97f4a7c15 ^ S) on a buffered image on tmpfs (/dev/shm): io_uring would
hand each write to a worker, so the I/O thread writes them itself: with map=off by pwritev2 (one log
line says the probe found no non-blocking path), by default by a copy into a writable mapping of the
image (one log line says so; no probe). After each of the two boots (each its own seed) every block
holds its stamp, the blocks after the stream hold their old bytes, and kite --stats' counters say the
writes went inline (at least one, the others through io_uring: one that slept sends the next writes
there for 100 ms, and a batch that spent 100 us inline sends its rest). A third boot reads the N blocks
back twice (blkbench streamread: the guest checks every word against its stamp): with map=off, tmpfs
has no non-blocking buffered read either, so the reads go inline the same way (inline_reads); by
default the I/O thread copies them from a mapping of the image (one log line says so), and they count
as inline reads as well. With cache=none (O_DIRECT) on the same file system neither a write nor a read
goes inline, nothing is mapped, and the bytes are the same.

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


def boot(a, img, con, bench, seed, extra=""):
    """One kite run of blkbench mode bench over the stream (extra: more --blk keys); (rc, kite's
    stderr, the console)."""
    blk = "path=%s%s%s" % (img, ",cache=none" if a.mode == "nocache" else "", extra)
    cmd = [a.kite, "--kernel", a.kernel, "--console", "file:" + con, "--stats", "--blk", blk,
           "--cmdline", "kite.test=blkbench kite.bench=%s kite.ops=%d kite.qd=%d kite.seed=%d kite.progress=0"
           % (bench, OPS, QD, seed)]
    print("$ " + " ".join(cmd))
    if os.path.exists(con):
        os.unlink(con)
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=a.timeout)
        rc, err = p.returncode, p.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired as e:
        rc, err = "timeout", (e.stderr or b"").decode(errors="replace")
    text = open(con, errors="replace").read() if os.path.exists(con) else ""
    return rc, err, text


STATS = re.compile(r"kite: stats: blk:virtio-blk0: requests=(\d+) reads=(\d+) writes=(\d+) flushes=\d+ errors=(\d+) "
                   r"throttled=\d+ inline_writes=(\d+) inline_reads=(\d+) inline_slow=(\d+)")


MAPPED = "virtio-blk0: reads are copied from a mapping of"
MAPPED_W = ", writes into it (map=off"
PROBE_W = "buffered writes on this file system would go"
EXIT = re.compile(r"virtio-blk0: (\d+) of (\d+) requests served through io_uring")


def inline_why(a, what, done, inl, slow, err, logged):
    """Why the inline count of one direction is wrong, or None. On tmpfs every request goes inline
    but those a slept one's guard sends to io_uring (100 ms) and the rest of a batch that spent its
    100 us (IW_ROUND_NS; deterministic in virtio-blk-inline-unit): at least one, and each request
    either way (the exit line's io_uring count)."""
    m = EXIT.search(err)
    uring = int(m.group(1)) if m else None
    if a.mode == "nocache":
        if inl or slow:
            return "cache=none, yet %d %ss went inline (%d slept)" % (inl, what, slow)
        if logged in err:
            return "cache=none, yet kite logged that the I/O thread does the %ss itself" % what
    elif not 1 <= inl <= done:
        return "%d of %d %ss went inline on tmpfs (%d slept), expected 1..%d" % (inl, done, what, slow, done)
    elif uring is None or inl + uring != done:
        return "%d %ss inline and %s through io_uring, expected %d in all" % (inl, what, uring, done)
    elif logged not in err:
        return "kite did not log the inline %s mode of virtio-blk0" % what
    return None


def write_boot(a, img, con, orig, extra, logged, not_logged):
    """One boot writing the stream with a fresh seed (extra: more --blk keys); (why or None, seed, the
    image's bytes)."""
    seed = random.randrange(1, 1 << 32) | 1
    rc, err, text = boot(a, img, con, "stream", seed, extra)
    data = open(img, "rb").read()
    what = "stream%s" % (" (%s)" % extra[1:] if extra else "")
    m = STATS.search(err)
    bad = [b for b in range(OPS) if data[b * BLOCK:(b + 1) * BLOCK] != stamp(b, seed)]
    if rc != 0:
        return "%s: kite exited with %s" % (what, rc), seed, data
    if not re.search(r"^BENCH ops=%d " % OPS, text, re.M):
        return "%s: the guest did not finish the stream" % what, seed, data
    if bad:
        return "%s: %d of %d blocks do not hold their stamp (first: block %d)" % (what, len(bad), OPS, bad[0]), seed, data
    if data[OPS * BLOCK:] != orig[OPS * BLOCK:]:
        return "%s: the blocks after the stream changed" % what, seed, data
    if len(data) != len(orig):
        return "%s: the image's size changed" % what, seed, data
    if not m:
        return "%s: kite --stats printed no counter line for virtio-blk0" % what, seed, data
    if int(m.group(3)) != OPS or int(m.group(4)):
        return "%s: writes=%s errors=%s, expected %d and 0" % (what, m.group(3), m.group(4), OPS), seed, data
    if not_logged and not_logged in err:
        return "%s: kite logged '%s'" % (what, not_logged), seed, data
    inl, slow = int(m.group(5)), int(m.group(7))
    print("%s: inline writes: %d of %d, %d slept" % (what, inl, OPS, slow))
    why = inline_why(a, "write", OPS, inl, slow, err, logged)
    return ("%s: %s" % (what, why) if why else None), seed, data


def run(a, tmp):
    img, con = os.path.join(tmp, "disk.img"), os.path.join(tmp, "console.txt")
    orig = os.urandom((OPS + SPARE) * BLOCK)
    with open(img, "wb") as f:
        f.write(orig)
    # the stream written: with map=off by pwritev2 after the probe, by default into the mapping
    # (cache=none: neither; the probe's line must not appear, inline_why)
    why = None
    for extra, logged, not_logged in [(",map=off", PROBE_W, MAPPED_W), ("", MAPPED_W, PROBE_W)] \
            if a.mode == "buffered" else [("", PROBE_W, MAPPED_W)]:
        why, seed, data = write_boot(a, img, con, orig, extra, logged, not_logged)
        if why:
            break
    # the stream read back (the guest checks every word of every block): with map=off the I/O thread
    # reads with preadv2 (tmpfs has no non-blocking buffered read); by default it copies from a
    # mapping of the image, which counts as inline reads too (cache=none maps nothing)
    variants = [(",map=off", "buffered reads on this file system would go", MAPPED),
                ("", MAPPED, "buffered reads on this file system would go")]
    for extra, logged, not_logged in variants if a.mode == "buffered" else [
            ("", MAPPED, "buffered reads on this file system would go")]:
        if why:
            break
        rc, err, text = boot(a, img, con, "streamread", seed, extra)
        m = STATS.search(err)
        what = "read-back%s" % (" (%s)" % extra[1:] if extra else "")
        if rc != 0:
            why = "%s: kite exited with %s" % (what, rc)
        elif not re.search(r"^BENCH ops=%d " % OPS, text, re.M):
            why = "%s: the guest did not read the stream back whole" % what
        elif open(img, "rb").read() != data:
            why = "%s: the image changed" % what
        elif not m:
            why = "%s: kite --stats printed no counter line for virtio-blk0" % what
        elif int(m.group(2)) != OPS or int(m.group(3)) or int(m.group(4)) or int(m.group(5)):
            why = "%s: reads=%s writes=%s errors=%s inline_writes=%s, expected %d, 0, 0, 0" % (
                what, m.group(2), m.group(3), m.group(4), m.group(5), OPS)
        elif not_logged and not_logged in err:
            why = "%s: kite logged '%s'" % (what, not_logged)
        else:
            inl, slow = int(m.group(6)), int(m.group(7))
            print("%s: inline reads: %d of %d, %d slept" % (what, inl, OPS, slow))
            why = inline_why(a, "read", OPS, inl, slow, err, logged)
    if why:
        print("FAIL: " + why)
        print("--- kite ---\n" + err[-4000:] + "\n--- console ---\n" + text[-2000:])
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
