#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What a 4 KiB buffered pwrite costs on this host's file system, by the size of the page-cache folios
under it: a 512 MiB file written with 1 MiB writes (dd's way: ext4 on kernel 6.16+ caches it in large
folios), then the same file dropped from the cache and read back page by page with FADV_RANDOM (small
folios). 20,000 random 4 KiB pwrites each, from Python (about 1 us of the figure is the interpreter's).
docs/dpu.md "Mapped writes" says why it matters. Needs root (drop_caches).
Usage: pwrite_folio.py [DIR] (default $TMPDIR or /var/tmp); pin it: taskset -c 0 ..."""
import os
import random
import sys
import tempfile
import time

SIZE = 512 << 20
WRITES = 20000


def timed_writes(path):
    fd = os.open(path, os.O_RDWR)
    buf = b"x" * 4096
    rnd = random.Random(1)
    t = time.perf_counter()
    for _ in range(WRITES):
        os.pwrite(fd, buf, rnd.randrange(SIZE // 4096) * 4096)
    dt = time.perf_counter() - t
    os.close(fd)
    return dt / WRITES * 1e6


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("TMPDIR", "/var/tmp")
    fd, path = tempfile.mkstemp(prefix="kite-pwrite-folio.", dir=d)
    try:
        chunk = b"\0" * (1 << 20)
        for _ in range(SIZE >> 20):
            os.write(fd, chunk)
        os.close(fd)
        os.sync()
        print(f"pwrite4k_large_folios_us {timed_writes(path):.1f} us")
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("1")
        fd = os.open(path, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        for off in range(0, SIZE, 4096):
            os.pread(fd, 1, off)
        os.close(fd)
        print(f"pwrite4k_small_folios_us {timed_writes(path):.1f} us")
    finally:
        os.unlink(path)


if __name__ == "__main__":
    main()
