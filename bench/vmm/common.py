# SPDX-License-Identifier: MIT
"""Helpers shared by the VMM benchmarks: the VMM command lines and a run-until-exit timer."""
import os
import statistics
import subprocess
import time

QEMU = "qemu-system-x86_64"


def qemu_cmd(machine, accel, image, cmdline, mem_mib=128, memfd=False):
    """QEMU with the test guest; microvm boots the bzImage through qboot (its default firmware
    cannot: it needs a PVH ELF)."""
    cmd = [QEMU, "-accel", accel, "-m", str(mem_mib), "-nodefaults", "-display", "none",
           "-serial", "stdio", "-monitor", "none", "-no-reboot",
           "-device", "isa-debug-exit,iobase=0x501,iosize=1", "-kernel", image, "-append", cmdline]
    if machine == "microvm":
        cmd[1:1] = ["-M", "microvm" + (",memory-backend=mem" if memfd else ""), "-bios", "/usr/share/qemu/qboot.rom"]
    else:
        cmd[1:1] = ["-M", machine + (",memory-backend=mem" if memfd else "")]
    if memfd:
        cmd += ["-object", "memory-backend-memfd,id=mem,size=%dM" % mem_mib]
    return cmd


def kite_cmd(kite, image, cmdline, mem_mib=128, extra=()):
    return [kite, "--kernel", image, "--cmdline", cmdline, "--memory", str(mem_mib)] + list(extra)


def time_run(cmd, expect, ok_status, timeout=300):
    """Seconds from process start to exit; raises if the guest did not print expect."""
    t0 = time.monotonic()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                       timeout=timeout)
    dt = time.monotonic() - t0
    out = p.stdout.decode("utf-8", "replace")
    if p.returncode != ok_status or expect not in out:
        raise RuntimeError("%s: status %d, output:\n%s\n%s" % (" ".join(cmd), p.returncode, out,
                                                              p.stderr.decode("utf-8", "replace")))
    return dt, out, p.stderr.decode("utf-8", "replace")


def median(xs):
    return statistics.median(xs)


def have(prog):
    return any(os.access(os.path.join(d, prog), os.X_OK) for d in os.environ.get("PATH", "").split(":"))
