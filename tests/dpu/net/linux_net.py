#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A real Linux guest on the switch: Debian's cloud kernel under QEMU TCG (busybox initramfs) with
its own virtio_net driver on a kite-dpu vhost-user-net port (VLAN 10) pings a dpdk-testpmd icmpecho
"VM" on another port of VLAN 10 (small and 1400-byte pings); a third port in VLAN 20 must see nothing.
mq: the guest's port has two queue pairs, QEMU (queues=2, mq=on, 2 vCPUs) serves the control queue;
Linux must run both pairs (eth0's queues) and a ping pinned to each CPU must get its replies, each of
the port's two transmit queues carrying frames (kite-dpu's per-pair counters).
Usage: linux_net.py KITE_DPU [mq]     Env: KITE_KERNEL_CACHE (default /var/cache/kite-tests)
Exit: 0 pass, 1 fail, 77 skip (no QEMU / kernel not obtainable / not root)."""
import os
import shutil
import subprocess
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from netlib import Dpu, Procs, Testpmd, linux_guest_initrd  # noqa: E402

GUEST_MAC, ECHO_MAC = "02:4b:00:00:01:01", "02:4b:00:00:01:02"
MODULES = ["drivers/virtio/virtio_ring", "drivers/virtio/virtio_pci_modern_dev",
           "drivers/virtio/virtio_pci_legacy_dev", "drivers/virtio/virtio", "drivers/virtio/virtio_pci",
           "net/core/failover", "drivers/net/net_failover", "drivers/net/virtio_net"]
INIT = """#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in %s; do insmod /lib/modules/$m.ko || echo "NET-ERR insmod $m"; done
for i in $(seq 100); do [ -e /sys/class/net/eth0 ] && break; sleep 0.1; done
echo "NET-MAC $(cat /sys/class/net/eth0/address)"
ip link set lo up
ip link set eth0 up
ip addr add 10.77.0.1/24 dev eth0
ping -c 3 -W 3 10.77.0.2 > /tmp/p1 2>&1; echo "NET-PING $?"
ping -c 2 -W 3 -s 1400 10.77.0.2 > /tmp/p2 2>&1; echo "NET-PING-BIG $?"
if [ "$(nproc)" = 2 ]; then
    echo "NET-QUEUES $(cd /sys/class/net/eth0/queues && echo * | tr ' ' ,)"
    for c in 0 1; do taskset $((1 << c)) ping -c 3 -W 3 10.77.0.2 > /tmp/pc$c 2>&1; echo "NET-PING-CPU$c $?"; done
fi
cat /tmp/p1 /tmp/p2
echo "NET-DONE"
poweroff -f
""" % " ".join(os.path.basename(m) for m in MODULES)


def fail(why, wd=None):
    print(f"linux-net: FAIL: {why}")
    if wd:
        for f in ("console.log", "dpu.log", "qemu.log"):
            p = os.path.join(wd, f)
            if os.path.exists(p):
                print(f"---- {f} ----")
                print(open(p, errors="replace").read()[-2500:])
    sys.exit(1)


def main():
    if len(sys.argv) not in (2, 3) or sys.argv[2:] not in ([], ["mq"]):
        print(__doc__)
        sys.exit(2)
    exe = sys.argv[1]
    mq = sys.argv[2:] == ["mq"]
    wd, kdir, initrd = linux_guest_initrd(MODULES, INIT)

    procs = Procs()
    try:
        socks = {n: os.path.join(wd, n + ".sock") for n in ("vm0", "vm1", "vm2")}
        dpu = Dpu(exe, procs, wd, {"ports": [
            dict({"name": "vm0", "type": "vhost", "socket": socks["vm0"], "vlan": 10, "mac": GUEST_MAC},
                 **({"queues": 2} if mq else {})),
            {"name": "vm1", "type": "vhost", "socket": socks["vm1"], "vlan": 10},
            {"name": "vm2", "type": "vhost", "socket": socks["vm2"], "vlan": 20}]}, core=0)
        echo = Testpmd(procs, wd, [socks["vm1"]], "icmpecho", macs=[ECHO_MAC])
        other = Testpmd(procs, wd, [socks["vm2"]], "rxonly")
        echo.wait_ready()
        other.wait_ready()
        console = os.path.join(wd, "console.log")
        qemu = procs.add(subprocess.Popen(
            ["timeout", "150", "qemu-system-x86_64", "-accel", "tcg", "-M", "q35", "-m", "512", "-smp", "2" if mq else "1",
             "-nodefaults", "-no-reboot", "-bios", "/usr/share/qemu/qboot.rom", "-display", "none",
             "-monitor", "none", "-serial", f"file:{console}",
             "-object", "memory-backend-memfd,id=mem,size=512M,share=on", "-numa", "node,memdev=mem",
             "-chardev", f"socket,id=c0,path={socks['vm0']}",
             "-netdev", "type=vhost-user,id=n0,chardev=c0" + (",queues=2" if mq else ""),
             # vectors=0: QEMU 7.2 crashes with vhost-user virtio-net-pci and MSI-X (PLATFORM.md)
             "-device", f"virtio-net-pci,netdev=n0,mac={GUEST_MAC},vectors=0" + (",mq=on" if mq else ""),
             "-kernel", os.path.join(kdir, "vmlinux"), "-initrd", initrd,
             "-append", "console=ttyS0 quiet loglevel=4 panic=-1 mitigations=off cryptomgr.notests "
                        "no_timer_check tsc=reliable i8042.noaux i8042.nomux i8042.nopnp 8250.nr_uarts=1 "
                        "random.trust_cpu=on audit=0"],
            stdout=open(os.path.join(wd, "qemu.log"), "w"), stderr=subprocess.STDOUT))
        rc = qemu.wait()
        text = open(console, errors="replace").read() if os.path.exists(console) else ""
        if rc == 124:
            fail("the guest did not finish within 150 s", wd)
        if "NET-DONE" not in text:
            fail(f"the guest did not finish its script (qemu exit {rc})", wd)
        if "NET-ERR" in text:
            fail("the guest reported errors", wd)

        def val(key):
            for line in text.splitlines():
                if line.startswith(key + " "):
                    return line.split()[1].strip()
            return None
        ports = dpu.ports()
        echo.stop()
        got_other = other.stop()[0]["fwd_rx"]
        print({n: (p["rx_packets"], p["tx_packets"], {k: v for k, v in p["drops"].items() if v})
               for n, p in ports.items()})
        if val("NET-MAC") != GUEST_MAC:
            fail(f"guest MAC {val('NET-MAC')}", wd)
        if val("NET-PING") != "0":
            fail("ping through kite-dpu failed", wd)
        if val("NET-PING-BIG") != "0":
            fail("1400-byte ping through kite-dpu failed", wd)
        if ports["vm0"]["rx_packets"] < 5 or ports["vm0"]["tx_packets"] < 5:
            fail("switch counters on the guest's port do not show the pings", wd)
        if got_other != 0 or ports["vm2"]["tx_packets"] != 0:
            fail("the VLAN 20 port received frames from VLAN 10", wd)
        if mq:
            qs = ports["vm0"].get("queues", [])
            print("vm0 queue pairs (frames from / to the guest):", [(q["rx_packets"], q["tx_packets"]) for q in qs])
            if val("NET-QUEUES") != "rx-0,rx-1,tx-0,tx-1":
                fail(f"eth0's queues are {val('NET-QUEUES')}, not two pairs", wd)
            if val("NET-PING-CPU0") != "0" or val("NET-PING-CPU1") != "0":
                fail("a ping pinned to one CPU failed", wd)
            if len(qs) != 2 or qs[0]["rx_packets"] < 3 or qs[1]["rx_packets"] < 3:
                fail(f"the port's two transmit queues did not each carry the pings: {qs}", wd)
        print("linux-net: PASS (Linux virtio_net pinged a testpmd VM through kite-dpu, VLAN 20 untouched%s)" %
              (", two queue pairs, both transmit queues used" if mq else ""))
        shutil.rmtree(wd, ignore_errors=True)
    finally:
        procs.stop_all()


if __name__ == "__main__":
    main()
