#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Guest RAM on reserved 2 MiB huge pages (issue 12), with pages really reserved (root).

usage: hugepages_test.py --kite KITE --dpu KITE_DPU --kernel GUEST [--jailer KITE_JAILER]

Saves /proc/sys/vm/nr_hugepages, reserves RESERVE more 2 MiB pages (fails if the kernel does not
give them: a test never passes by skipping) and restores the saved value on every way out. Meson runs
it alone (is_parallel false): other kites under the default `auto` would take free huge pages.
  auto     a 64 MiB guest (count: writes a 32 MiB area, re-adds and checks it every 16 steps) with the
           pages free: kite's one notice line names 32 2 MiB huge pages; while the guest counts, kite's
           kite-guest-ram mapping has KernelPageSize 2048 kB and at least the 32 MiB area in
           Shared/Private_Hugetlb (/proc/PID/smaps), HugePages_Free - HugePages_Rsvd is down by 32
           pages (back after kite's exit); the guest checked its memory 4 times; SIGTERM: 143.
  on-short --hugepages with a 512 MiB guest (256 pages, more than RESERVE): exit 1, one stderr line
           saying how many pages are needed, no console output (nothing booted).
  auto-short the same guest under the default: the fallback notice (anonymous memory, too few free),
           the guest counts and checks its memory, no hugetlb mapping in kite; SIGTERM: 143.
  vhost    --hugepages and a kite-dpu vhost-user-blk volume: kite-dpu maps kite's hugetlb memfd (its
           own smaps show the kite-guest-ram mapping with 2 MiB pages, no "not sealed" warning), the
           guest writes its byte pattern through kite-dpu (checked in the image), PASS.
  shared   --shared-memory with the 512 MiB guest under the default (too few pages): kite's RAM is its
           kite-guest-ram memfd (no vhost-user device asks for it), 4 KiB pages, the guest's area in
           its Rss; the notice says shared memory with 4 KiB pages; SIGTERM: 143.
  jailed   (with --jailer) kite under kite-jailer (chroot without /proc or /dev/hugepages, uid 4321,
           no capabilities, a memory cgroup) by default: it cannot count free pages there, so it
           tries the hugetlb memfd (no mount needed), which reserves them: the notice says so, PASS.
Exit 0 pass, 1 fail, 77 skip (no /dev/kvm)."""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "vhost"))
from vtlib import (Dpu, Fail, Kite, Procs, check, check_pattern, guest_seed, need_kvm,  # noqa: E402
                   random_image, wait_socket, workdir)

NR = "/proc/sys/vm/nr_hugepages"
GUEST_MIB, GUEST_PAGES = 64, 32
RESERVE = 128                     # pages: the guest's 32 and room for another kite on the host
SHORT_MIB = 4 * RESERVE           # 256 pages: more than this test ever has free
AREA_MIB = 32                     # the count guest's area (at 16 MiB), 256 pages a step: 32 steps a round
COUNT = "kite.test=count kite.count_area_mib=%d kite.count_pages=256" % AREA_MIB


def meminfo(key):
    m = re.search(r"^%s:\s*(\d+)" % key, open("/proc/meminfo").read(), re.M)
    return int(m.group(1)) if m else 0


def ram_mapping(pid):
    """kite-guest-ram's mappings in /proc/PID/smaps: {"page_kib" (-1 if they differ), "hugetlb_kib"
    (Shared_ + Private_Hugetlb, summed), "rss_kib"}, or None."""
    found, cur = None, None
    for line in open("/proc/%d/smaps" % pid):
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            cur = None
            if "kite-guest-ram" in line:
                cur = found = found or {"page_kib": 0, "hugetlb_kib": 0, "rss_kib": 0}
        elif cur is not None:
            k, _, v = line.partition(":")
            if k == "KernelPageSize":
                kib = int(v.split()[0])
                cur["page_kib"] = kib if cur["page_kib"] in (0, kib) else -1     # -1: mixed sizes
            elif k in ("Shared_Hugetlb", "Private_Hugetlb"):
                cur["hugetlb_kib"] += int(v.split()[0])
            elif k == "Rss":
                cur["rss_kib"] += int(v.split()[0])
    return found


def notices(err):
    return [l for l in err.splitlines() if "guest RAM" in l]


def counting(vm, what):
    """The count guest has checked its memory 4 times (64 steps, the area written twice)."""
    check(vm.wait_console(r"^count: memory checked at 64$", 120),
          "%s: the count guest did not check its memory 4 times\n%s" % (what, vm.dump()))


def stop(vm, what):
    vm.proc.send_signal(signal.SIGTERM)
    rc = vm.wait(30)
    check(rc == 143, "%s: kite exit status %s after SIGTERM, expected 143\n%s" % (what, rc, vm.dump()))
    check("FAIL" not in vm.con(), "%s: the guest failed\n%s" % (what, vm.dump()))


def available():
    return meminfo("HugePages_Free") - meminfo("HugePages_Rsvd")


def part_auto(a, wd, procs):
    before = available()
    vm = Kite(a.kite, a.kernel, wd, "auto", ["--memory", str(GUEST_MIB)], COUNT, procs).start()
    counting(vm, "auto")
    ram = ram_mapping(vm.proc.pid)
    used = meminfo("HugePages_Total") - meminfo("HugePages_Free")
    check(ram is not None and ram["page_kib"] == 2048,
          "auto: kite's guest RAM is not a hugetlb mapping with 2 MiB pages (%s)\n%s" % (ram, vm.dump()))
    check(ram["hugetlb_kib"] >= AREA_MIB * 1024,
          "auto: %d KiB of kite's guest RAM on huge pages, the guest wrote %d MiB" % (ram["hugetlb_kib"], AREA_MIB))
    check(used * 2048 >= ram["hugetlb_kib"], "auto: /proc/meminfo counts %d huge pages in use" % used)
    check(available() <= before - GUEST_PAGES, "auto: %d huge pages available while the guest runs, %d before"
          % (available(), before))
    stop(vm, "auto")
    check(available() >= before, "auto: %d huge pages available after kite's exit, %d before" % (available(), before))
    n = notices(vm.stderr())
    check(len(n) == 1 and re.search(r"vm: guest RAM on %d 2 MiB huge pages \(hugetlb, \d+ were free\); "
                                    r"--hugepages=off for ordinary memory$" % GUEST_PAGES, n[0]),
          "auto: the notice lines %s" % n)
    print("PASS auto: %s; smaps: %d kB pages, %d KiB hugetlb" % (n[0].strip(), ram["page_kib"], ram["hugetlb_kib"]))


def part_on_short(a, wd, procs):
    free = available()
    vm = Kite(a.kite, a.kernel, wd, "on-short", ["--memory", str(SHORT_MIB), "--hugepages"], COUNT, procs)
    rc = vm.run(60)
    err = vm.stderr().strip().splitlines()
    check(rc == 1, "on-short: kite exit status %s, expected 1\n%s" % (rc, vm.dump()))
    check(len(err) == 1 and re.search(r"huge pages required \(--hugepages, hugepages \"on\"\): %d free 2 MiB huge "
                                      r"pages needed, \d+ reserved and free" % (SHORT_MIB // 2), err[0]),
          "on-short: stderr is not the one refusal line (%d were free): %s" % (free, err))
    check(vm.con() == "", "on-short: the guest printed something although kite refused\n%s" % vm.dump())
    print("PASS on-short: %s" % err[0])


def part_auto_short(a, wd, procs):
    vm = Kite(a.kite, a.kernel, wd, "auto-short", ["--memory", str(SHORT_MIB)], COUNT, procs).start()
    counting(vm, "auto-short")
    ram = ram_mapping(vm.proc.pid)
    check(ram is None, "auto-short: kite maps a guest RAM memfd (%s)" % ram)
    stop(vm, "auto-short")
    n = notices(vm.stderr())
    check(len(n) == 1 and n[0].endswith("vm: guest RAM: anonymous memory with transparent huge pages "
                                        "(too few 2 MiB huge pages free)"), "auto-short: the notice lines %s" % n)
    print("PASS auto-short: %s" % n[0].strip())


def part_shared(a, wd, procs):
    vm = Kite(a.kite, a.kernel, wd, "shared", ["--memory", str(SHORT_MIB), "--shared-memory"], COUNT, procs).start()
    counting(vm, "shared")
    ram = ram_mapping(vm.proc.pid)
    check(ram is not None and ram["page_kib"] == 4,
          "shared: kite's guest RAM is not its kite-guest-ram memfd with 4 KiB pages (%s)\n%s" % (ram, vm.dump()))
    check(ram["rss_kib"] >= AREA_MIB * 1024,
          "shared: %d KiB of the memfd resident, the guest wrote %d MiB" % (ram["rss_kib"], AREA_MIB))
    stop(vm, "shared")
    n = notices(vm.stderr())
    check(len(n) == 1 and n[0].endswith("vm: guest RAM: shared memory (a memfd: 4 KiB pages unless shmem THP is on) "
                                        "(too few 2 MiB huge pages free)"), "shared: the notice lines %s" % n)
    print("PASS shared: %s; smaps: %d kB pages, %d KiB resident" % (n[0].strip(), ram["page_kib"], ram["rss_kib"]))


def wait_for(cond, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    return cond()


def part_vhost(a, wd, procs):
    old, new = 1 << 20, 2 << 20
    seed, sector = guest_seed()
    img, sock = os.path.join(wd, "vol0.img"), os.path.join(wd, "vol0.sock")
    orig = random_image(img, old)
    dpu = Dpu(a.dpu, procs, wd, None, core=0, volumes=[{"name": "vol0", "image": img, "socket": sock}])
    wait_socket(sock, dpu.proc, "kite-dpu")
    vm = Kite(a.kite, a.kernel, wd, "vhost", ["--memory", str(GUEST_MIB), "--hugepages", "--vhost-user-blk",
                                              "socket=" + sock],
              "kite.test=virtio-blk kite.resize_wait=1 kite.seed=%d kite.blk_sector=%d" % (seed, sector), procs).start()
    check(vm.wait_console(r"waiting for a configuration change", 120), "vhost: the guest never started the disk\n" + vm.dump())
    # the memory table follows DRIVER_OK on kite's device thread: wait until kite-dpu mapped it
    dram = wait_for(lambda: ram_mapping(dpu.proc.pid), 30)
    kram = ram_mapping(vm.proc.pid)
    check(kram is not None and kram["page_kib"] == 2048, "vhost: kite's guest RAM is not on 2 MiB pages (%s)" % kram)
    check(dram is not None and dram["page_kib"] == 2048,
          "vhost: kite-dpu did not map kite's guest RAM with 2 MiB pages (%s)\n%s" % (dram, open(dpu.log_path).read()))
    dpu.ok("volume_resize", name="vol0", size=new)    # the guest goes on: pattern, write-zeroes, read back
    rc = vm.wait(120)
    check(rc == 0 and re.search(r"^kite-guest: PASS ", vm.con(), re.M), "vhost: kite status %s\n%s" % (rc, vm.dump()))
    data = open(img, "rb").read()
    check_pattern(data[:old], orig, sector, 8, seed, "vhost: kite-dpu's image")
    check(data[old:] == bytes(new - old), "vhost: the grown part of the image is not zero")
    n = notices(vm.stderr())
    check(len(n) == 1 and re.search(r"vm: guest RAM on %d 2 MiB huge pages \(hugetlb, \d+ were free\)$" % GUEST_PAGES,
                                    n[0]), "vhost: the notice lines %s" % n)
    dlog = open(dpu.log_path).read()
    check("not sealed" not in dlog, "vhost: kite-dpu warned that kite's hugetlb memfd is not sealed")
    print("PASS vhost: kite-dpu mapped the hugetlb guest RAM (%d kB pages), the pattern at sector %d is in the image"
          % (dram["page_kib"], sector))


def part_jailed(a, wd):
    base, vm_id = os.path.join(wd, "jails"), "hp-%d" % os.getpid()
    cmd = [a.jailer, "--id", vm_id, "--exec-file", os.path.abspath(a.kite), "--uid", "4321", "--gid", "4321",
           "--chroot-base", base, "--cgroup", "memory.max=%d" % (256 << 20), "--cgroup", "pids.max=64",
           "--resource-limit", "no-file=512", "--file", os.path.abspath(a.kernel), "--",
           "--kernel", "/" + os.path.basename(a.kernel), "--memory", str(GUEST_MIB),
           "--cmdline", COUNT + " kite.count_stop=64"]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=120)
    out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    check(p.returncode == 0 and "count: memory checked at 64" in out and re.search(r"^kite-guest: PASS", out, re.M),
          "jailed: status %d\n%s\n--- stderr ---\n%s" % (p.returncode, out[-2000:], err[-2000:]))
    n = notices(err)
    # no /proc in the jail: kite cannot count the free pages, tries, and the reservation succeeds
    check(len(n) == 1 and n[0].endswith("vm: guest RAM on %d 2 MiB huge pages (hugetlb, free ones not counted: "
                                        "no /proc/meminfo); --hugepages=off for ordinary memory" % GUEST_PAGES),
          "jailed: the notice lines %s\n%s" % (n, err[-2000:]))
    print("PASS jailed: %s" % n[0].strip())


def main():
    ap = argparse.ArgumentParser()
    for opt in ("--kite", "--dpu", "--kernel"):
        ap.add_argument(opt, required=True)
    ap.add_argument("--jailer")
    a = ap.parse_args()
    need_kvm()
    if os.geteuid() != 0:
        print("FAIL: reserving huge pages needs root")
        return 1
    saved = open(NR).read().strip()
    wd, procs, rc = workdir(), Procs(), 1
    try:
        with open(NR, "w") as f:
            f.write(str(int(saved) + RESERVE))
        total, free = meminfo("HugePages_Total"), available()
        print("nr_hugepages %s -> %d: HugePages_Total %d, free and unreserved %d" % (saved, int(saved) + RESERVE, total, free))
        check(total >= int(saved) + RESERVE and free >= GUEST_PAGES + 16,
              "could not reserve %d 2 MiB huge pages (total %d, free %d)" % (RESERVE, total, free))
        check(free < SHORT_MIB // 2, "%d huge pages free: the short cases need fewer than %d" % (free, SHORT_MIB // 2))
        part_auto(a, wd, procs)
        part_on_short(a, wd, procs)
        part_auto_short(a, wd, procs)
        part_shared(a, wd, procs)
        part_vhost(a, wd, procs)
        if a.jailer:
            part_jailed(a, wd)
        rc = 0
    except Fail as e:
        print("FAIL: %s" % e)
    finally:
        procs.stop_all()
        shutil.rmtree(wd, ignore_errors=True)
        try:
            with open(NR, "w") as f:
                f.write(saved)
        except OSError as e:
            print("FAIL: restoring nr_hugepages to %s: %s" % (saved, e))
            rc = 1
        now = open(NR).read().strip()
        if now != saved:
            print("FAIL: nr_hugepages is %s after restoring %s" % (now, saved))
            rc = 1
    if rc == 0:
        print("PASS: hugepages auto, on (refused), auto (fallback), shared memory, vhost-user%s; nr_hugepages back to %s"
              % (", jailed" if a.jailer else "", saved))
    return rc


if __name__ == "__main__":
    sys.exit(main())
