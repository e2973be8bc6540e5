#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kite-dpu restart under a live Linux guest: Debian's cloud kernel under QEMU TCG, its virtio_net on
a kite-dpu vhost-user-net port through `-chardev socket,...,reconnect=1`, pings a dpdk-testpmd
icmpecho "VM" on another port once per ~0.3 s and prints each result on its console. The test waits
for replies, kills kite-dpu with SIGKILL, starts it again with the same config (and a new testpmd:
DPDK's virtio_user client does not reconnect), and requires replies again after the restart.
Usage: restart_test.py KITE_DPU     Env: KITE_KERNEL_CACHE (default /var/cache/kite-tests)
Exit: 0 pass, 1 fail, 77 skip (no QEMU / kernel not obtainable / not root)."""
import os
import shutil
import signal
import subprocess
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from netlib import Dpu, Procs, Testpmd, linux_guest_initrd  # noqa: E402
from linux_net import MODULES  # noqa: E402

GUEST_MAC, ECHO_MAC = "02:4b:00:00:02:01", "02:4b:00:00:02:02"
INIT = """#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in %s; do insmod /lib/modules/$m.ko || echo "NET-ERR insmod $m"; done
for i in $(seq 100); do [ -e /sys/class/net/eth0 ] && break; sleep 0.1; done
ip link set lo up
ip link set eth0 up
ip addr add 10.79.0.1/24 dev eth0
echo "NET-UP"
n=0
while [ $n -lt 2000 ]; do
	if ping -c 1 -W 1 10.79.0.2 > /dev/null 2>&1; then echo "PING-OK $n"; else echo "PING-LOST $n"; fi
	n=$((n + 1))
	sleep 0.3
done
poweroff -f
""" % " ".join(os.path.basename(m) for m in MODULES)


def fail(why, wd=None):
    print(f"net-restart: FAIL: {why}")
    if wd:
        for f in ("console.log", "dpu.log", "dpu-1.log", "qemu.log"):
            p = os.path.join(wd, f)
            if os.path.exists(p):
                print(f"---- {f} ----")
                print(open(p, errors="replace").read()[-2500:])
    sys.exit(1)


def console_lines(path):
    return open(path, errors="replace").read().splitlines() if os.path.exists(path) else []


def wait_console(path, what, cond, deadline, qemu, wd):
    while time.time() < deadline:
        lines = console_lines(path)
        if cond(lines):
            return lines
        if qemu.poll() is not None:
            fail(f"QEMU exited ({qemu.returncode}) while waiting for {what}", wd)
        time.sleep(0.3)
    fail(f"timed out waiting for {what}", wd)


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    exe = sys.argv[1]
    wd, kdir, initrd = linux_guest_initrd(MODULES, INIT)

    procs = Procs()
    try:
        socks = {n: os.path.join(wd, n + ".sock") for n in ("vm0", "vm1")}
        cfg = {"ports": [
            {"name": "vm0", "type": "vhost", "socket": socks["vm0"], "mac": GUEST_MAC},
            {"name": "vm1", "type": "vhost", "socket": socks["vm1"]}]}
        dpu = Dpu(exe, procs, wd, cfg, core=0)
        echo = Testpmd(procs, wd, [socks["vm1"]], "icmpecho", macs=[ECHO_MAC])
        echo.wait_ready()
        console = os.path.join(wd, "console.log")
        qemu = procs.add(subprocess.Popen(
            ["timeout", "250", "qemu-system-x86_64", "-accel", "tcg", "-M", "q35", "-m", "512", "-smp", "1",
             "-nodefaults", "-no-reboot", "-bios", "/usr/share/qemu/qboot.rom", "-display", "none",
             "-monitor", "none", "-serial", f"file:{console}",
             "-object", "memory-backend-memfd,id=mem,size=512M,share=on", "-numa", "node,memdev=mem",
             "-chardev", f"socket,id=c0,path={socks['vm0']},reconnect=1",
             "-netdev", "type=vhost-user,id=n0,chardev=c0",
             # vectors=0: QEMU 7.2 crashes with vhost-user virtio-net-pci and MSI-X (PLATFORM.md)
             "-device", f"virtio-net-pci,netdev=n0,mac={GUEST_MAC},vectors=0",
             "-kernel", os.path.join(kdir, "vmlinux"), "-initrd", initrd,
             "-append", "console=ttyS0 quiet loglevel=4 panic=-1 mitigations=off cryptomgr.notests "
                        "no_timer_check tsc=reliable i8042.noaux i8042.nomux i8042.nopnp 8250.nr_uarts=1 "
                        "random.trust_cpu=on audit=0"],
            stdout=open(os.path.join(wd, "qemu.log"), "w"), stderr=subprocess.STDOUT))
        deadline = time.time() + 200

        def oks(lines):
            return [ln for ln in lines if ln.startswith("PING-OK ")]
        wait_console(console, "3 replies before the restart", lambda ls: len(oks(ls)) >= 3, deadline, qemu, wd)
        if any(ln.startswith("NET-ERR") for ln in console_lines(console)):
            fail("the guest reported errors", wd)
        before = dpu.ports()["vm0"]
        # kill -9: no chance to say goodbye; the guest's queues keep their state in guest memory
        dpu.proc.send_signal(signal.SIGKILL)
        dpu.proc.wait(10)
        echo.stop()
        mark = len(console_lines(console))
        os.rename(dpu.log_path, os.path.join(wd, "dpu-1.log"))
        os.unlink(dpu.ctl_path)
        dpu = Dpu(exe, procs, wd, cfg, core=0)
        echo = Testpmd(procs, wd, [socks["vm1"]], "icmpecho", macs=[ECHO_MAC])
        echo.wait_ready()
        lines = wait_console(console, "replies after the restart", lambda ls: len(oks(ls[mark:])) >= 3,
                             deadline, qemu, wd)
        after = dpu.ports()["vm0"]
        lost = [ln for ln in lines[mark:] if ln.startswith("PING-LOST")]
        print(f"before the restart: {len(oks(lines[:mark]))} replies, vm0 rx/tx {before['rx_packets']}/"
              f"{before['tx_packets']}; after: {len(oks(lines[mark:]))} replies ({len(lost)} lost while "
              f"restarting), new kite-dpu vm0 rx/tx {after['rx_packets']}/{after['tx_packets']}")
        if after["rx_packets"] < 3 or after["tx_packets"] < 3:
            fail("the restarted kite-dpu's counters do not show the guest's pings", wd)
        qemu.send_signal(signal.SIGTERM)
        qemu.wait(20)
        echo.stop()
        print("net-restart: PASS (the guest's pings resumed after kite-dpu was killed and restarted)")
        shutil.rmtree(wd, ignore_errors=True)
    finally:
        procs.stop_all()


if __name__ == "__main__":
    main()
