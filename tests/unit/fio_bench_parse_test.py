# SPDX-License-Identifier: MIT
"""bench/linux/fio_bench.py on made-up console logs: a boot lost to the lab (in L1, or by an L1
reset) and run again counts once, with the re-run's figures only (the lost boot's partial figures
are dropped), and is counted and named per set-up; a boot that failed where kite is in it makes the
status 1, and boots and failed boots are counted per set-up (kite-shared's ratio is over
qemu-shared); KVM's counters around a job become per-I/O figures. Usage: python3 fio_bench_parse_test.py SOURCE_ROOT"""
import os
import subprocess
import sys


def boot(rnd, setup, iops, seq, end=True, status=0, extra=()):
    lines = ["KITE-FIOL1 run round=%d setup=%s seq=%d uptime=1.0" % (rnd, setup, seq),
             "L2| KITE-FIO job=j iops=%d clat_mean=1.0 clat_p50=10 clat_p99=20" % iops]
    lines += list(extra)
    if end:
        lines.append("KITE-FIOL1 end round=%d setup=%s status=%d uptime=2.0" % (rnd, setup, status))
    return lines


def parse(script, lines, *args):
    p = subprocess.run([sys.executable, script, *args], input="\n".join(lines) + "\n", capture_output=True,
                       text=True, check=False)
    out = dict(line.split()[:2] for line in p.stdout.splitlines() if line and not line.startswith("#"))
    return p.returncode, out, p.stdout, p.stderr


def main():
    script = os.path.join(sys.argv[1], "bench", "linux", "fio_bench.py")
    log = boot(1, "kite", 100, 1) + boot(1, "qemu", 50, 2)
    # round 2, qemu: L2 panicked after one figure (9999, dropped), L1 ran it again
    log += boot(2, "qemu", 9999, 3, end=False) + [
        "KITE-FIOL1 lost round=2 setup=qemu cause=l2-panic-under-qemu",
        "KITE-FIOL1 end round=2 setup=qemu status=0 uptime=3.0",
        "KITE-FIOL1 rerun round=2 setup=qemu try=2"] + boot(2, "qemu", 40, 3)
    # round 2, kite: L1 reset mid-boot (7777, dropped); a fresh L1 ran it again
    log += boot(2, "kite", 7777, 4, end=False) + [
        "KITE-FIOBENCH lost round=2 setup=kite cause=l1-reset"] + boot(2, "kite", 120, 4)
    rc, out, text, err = parse(script, log)
    fails = []

    def want(name, value):
        if out.get(name) != value:
            fails.append("%s = %s, want %s" % (name, out.get(name), value))
    want("fio.j.kite.rounds", "2")
    want("fio.j.kite.iops_max", "120")
    want("fio.j.qemu.rounds", "2")
    want("fio.j.qemu.iops_max", "50")
    want("fio_j_kite_over_qemu_pairmax", "3.00")      # round 2: 120 / 40
    want("fio.lost_boots.qemu", "1")
    want("fio.lost_boots.kite", "1")
    if "# lost boots kite: 1 (round 2: l1-reset; each re-run)" not in text.splitlines():
        fails.append("no lost-boots line naming kite's round 2: %r" % text)
    if rc != 0:
        fails.append("status %d with every boot re-run, want 0 (%s)" % (rc, err.strip()))
    # a boot that failed where kite is in it: not re-run, status 1, the others still printed
    rc2, out2, _, err2 = parse(script, boot(1, "kite", 100, 1, extra=[
        "KITE-FIOL1 failed round=1 setup=kite cause=hang"], status=137) + boot(1, "qemu", 50, 2))
    if rc2 != 1 or "failed, hang" not in err2:
        fails.append("a failed kite boot gave status %d, stderr %r; want 1 and 'failed, hang'" % (rc2, err2))
    if out2.get("fio.j.qemu.rounds") != "1":
        fails.append("the other set-up's figures are missing after a failed boot")
    if (out2.get("fio.boots.kite"), out2.get("fio.failed_boots.kite"), out2.get("fio.failed_boots.qemu")) != ("1", "1", "0"):
        fails.append("boots and failed boots per set-up: %r" % out2)
    # the shared-memory controls: kite-shared over qemu-shared (not qemu), a triple fault named per set-up
    rc4, out4, text4, _ = parse(script, boot(1, "kite-shared", 90, 1) + boot(1, "qemu-shared", 30, 2) +
                                boot(1, "qemu", 60, 3) + boot(2, "kite-shared", 1, 4, extra=[
                                    "KITE-FIOL1 failed round=2 setup=kite-shared cause=l2-triple-fault"], status=0))
    want4 = {"fio_j_kite-shared_over_qemu-shared": "3.00", "fio.boots.kite-shared": "2",
             "fio.failed_boots.kite-shared": "1", "fio.boots.qemu-shared": "1"}
    for k, v in want4.items():
        if out4.get(k) != v:
            fails.append("controls: %s = %s, want %s" % (k, out4.get(k), v))
    if rc4 != 1 or "# failed boots kite-shared: 1 (round 2: l2-triple-fault)" not in text4.splitlines():
        fails.append("controls: status %d, no failed-boots line naming the triple fault: %r" % (rc4, text4))
    # L1 KVM's counters around a job: per I/O over IOPS x seconds (100 IOPS x 6 s = 600 I/Os)
    _, out3, _, _ = parse(script, ["KITE-FIOL1 run round=1 setup=kite seq=1 uptime=1.0",
                                   "KITE-FIOL1 kvmjob j start exits=100 irq_injections=7 halt_exits=0",
                                   "L2| KITE-FIO job=j iops=100 clat_mean=1.0 clat_p50=10 clat_p99=20",
                                   "KITE-FIOL1 kvmjob j end exits=1300 irq_injections=307 halt_exits=60",
                                   "KITE-FIOL1 end round=1 setup=kite status=0 uptime=2.0"], "--seconds", "6")
    for c, v in (("exits", "2.00"), ("irq_injections", "0.50"), ("halt_exits", "0.10")):
        if out3.get("fio.j.kite.%s_per_io" % c) != v:
            fails.append("fio.j.kite.%s_per_io = %s, want %s" % (c, out3.get("fio.j.kite.%s_per_io" % c), v))
    for f in fails:
        print("FAIL " + f)
    print("ok fio_bench.py: lost boots dropped, counted and named; a failed boot is status 1" if not fails else "")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
