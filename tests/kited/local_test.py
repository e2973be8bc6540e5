#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kited's backend "kite" devices (in-process virtio, docs/kited.md), suite 'kited', test kited-local:
  - bad combinations (backend "kite" with a "volume", with a "vlan"; an unknown backend) get 400 and
    change nothing (the list, the state dir, no TAP);
  - a VM whose own disk has backend "kite" runs the test guest's virtio-blk test: its pattern is in the
    bytes of DIR/volumes/NAME-disk.img on the host, kite-dpu serves no volume for it; delete removes
    the image;
  - a VM whose NIC has backend "kite" gets its TAP kt-XXXXXXXX (owned by kite's uid, up, carrier on:
    kite holds it open), no kite-dpu port; after a stop, after kill -9 of its kite, and after its kite
    ended while kited was down (found at kited's start) the TAP is gone; a start makes it again.
Root (a TAP), /dev/kvm."""
import argparse
import os
import random
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kdlib  # noqa: E402
from kdlib import Fail, Kited, alive, check, start_time, wait_for  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "virtio"))
from blk_run import SECTOR, pattern_bytes  # noqa: E402  (the guest's disk pattern)
from checks import need_kvm  # noqa: E402  (tests/lib)

IDLE = "kite.test=idle"


def device(vm, kind):
    devs = [d for d in vm.get("devices") or () if d.get("type") == kind]
    check(len(devs) == 1, "VM %s: %d devices of type %s: %s" % (vm["name"], len(devs), kind, vm.get("devices")))
    return devs[0]


def sysfs(tap, what):
    with open("/sys/class/net/%s/%s" % (tap, what)) as f:
        return f.read().strip()


def taps():
    return sorted(n for n in os.listdir("/sys/class/net") if n.startswith("kt-"))


def bad_requests(kd):
    before_list, before_dir, before_taps = kd.vms(), sorted(os.listdir(os.path.join(kd.state, "vms"))), taps()
    base = {"name": "bad", "kernel": kd.a.kernel, "cmdline": IDLE, "memory_mib": 32}
    for extra, words in (({"disk": {"volume": "v1", "backend": "kite"}}, "volume"),
                         ({"net": {"vlan": 5, "backend": "kite"}}, "vlan"),
                         ({"net": {"backend": "qemu"}}, "backend"),
                         ({"disk": {"size_mib": 4, "backend": 1}}, "backend")):
        st, r = kd.req("POST", "/vms", dict(base, **extra))
        check(st == 400 and words in (r or {}).get("error", str(r)),
              "create with %s: HTTP %d %s, expected 400 naming %s" % (extra, st, r, words))
    check(kd.vms() == before_list, "the list changed after bad requests")
    check(sorted(os.listdir(os.path.join(kd.state, "vms"))) == before_dir, "the state dir changed")
    check(taps() == before_taps, "a TAP appeared after bad requests")


def disk(kd):
    seed, sector = random.randrange(1, 200), random.randrange(8, 1000)
    guest = ("kite.test=virtio-blk kite.mmio=1 kite.seed=%d kite.blk_sector=%d kite.wz_sector=%d "
             "kite.discard_sector=%d" % (seed, sector, sector + 20, sector + 40))
    img = os.path.join(kd.state, "volumes", "ldisk-disk.img")
    vm = kd.create("ldisk", guest, disk_mib=None, mem=32, disk={"size_mib": 4, "backend": "kite"})
    d = device(vm, "block")
    check(d.get("backend") == "kite" and d.get("image") == img and d.get("socket") is None,
          "the disk device: %s, expected backend kite, image %s, no socket" % (d, img))
    check("ldisk-disk" not in kd.dpu_volume_names(), "kite-dpu serves a volume for a backend kite disk")
    vm = wait_for("the guest's virtio-blk test to end",
                  lambda: (lambda v: v if v["state"] in ("stopped", "crashed") else None)(kd.vm("ldisk")))
    check(vm["state"] == "stopped" and vm.get("last_exit") == {"status": 0},
          "VM ldisk ended %s with %s, expected stopped with status 0 (the guest's PASS)" % (vm["state"],
                                                                                         vm.get("last_exit")))
    data = open(img, "rb").read()
    check(len(data) == 4 << 20, "%s: %d bytes, expected 4 MiB" % (img, len(data)))
    check(data[sector * SECTOR:(sector + 8) * SECTOR] == pattern_bytes(sector, 8, seed),
          "%s: sectors %d..%d are not the guest's pattern" % (img, sector, sector + 7))
    kd.ok("DELETE", "/vms/ldisk")
    check(not os.path.exists(img), "%s left after delete" % img)
    print("disk: the guest's pattern in %s, image removed at delete" % img)


def net(kd):
    vm = kd.create("lnet", IDLE, disk_mib=None, net={"backend": "kite"})
    d = device(vm, "net")
    tap = d.get("tap") or ""
    check(d.get("backend") == "kite" and tap.startswith("kt-") and len(tap) <= 15 and "vlan" not in d,
          "the net device: %s, expected backend kite, a tap kt-..., no vlan" % d)
    check("lnet" not in kd.dpu_port_names(), "kite-dpu has a port for a backend kite NIC")
    rc, out, err = kd.kitectl("vm", "list")
    check(rc == 0 and "tap=" + tap in out, "kitectl vm list: no tap=%s in its NET column: %r %r" % (tap, out, err))

    def held():
        return os.path.exists("/sys/class/net/" + tap) and sysfs(tap, "carrier") == "1"
    for round_ in ("stop", "kill", "adopt"):
        wait_for("TAP %s with carrier (kite holds it open)" % tap, held)
        want_uid = kd.vm("lnet")["uid"] if kd.a.jail == "on" else os.geteuid()   # the VM's own uid
        check(int(sysfs(tap, "owner")) == want_uid, "TAP %s: owner %s, expected %d" % (tap, sysfs(tap, "owner"),
                                                                                      want_uid))
        check(int(sysfs(tap, "flags"), 16) & 1, "TAP %s is not up" % tap)
        if round_ == "stop":
            kd.ok("POST", "/vms/lnet/stop", {"force": True})
        elif round_ == "kill":
            os.kill(kd.vm("lnet")["pid"], signal.SIGKILL)
            kd.wait_state("lnet", "crashed")
        else:   # the kite ends while no kited runs: the next kited's adoption finds it dead
            pid, start = kd.vm("lnet")["pid"], start_time(kd.vm("lnet")["pid"])
            kd.proc.kill()
            kd.proc.wait()
            os.kill(pid, signal.SIGKILL)
            wait_for("kite %d to end" % pid, lambda: not alive(pid, start))
            check(os.path.exists("/sys/class/net/" + tap), "TAP %s gone before kited's restart" % tap)
            kd.start()
            kd.wait_state("lnet", "crashed")
        check(not os.path.exists("/sys/class/net/" + tap), "TAP %s left after %s" % (tap, round_))
        if round_ != "adopt":
            kd.ok("POST", "/vms/lnet/start")
    kd.ok("DELETE", "/vms/lnet")
    check(not os.path.exists("/sys/class/net/" + tap), "TAP %s left after delete" % tap)
    print("net: TAP %s held by kite, gone after stop, kill -9, kited's adoption and delete" % tap)


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    kdlib.common_args(ap)
    a = ap.parse_args()
    if os.geteuid() != 0 or not os.path.exists("/dev/net/tun"):
        print("SKIP: needs root and /dev/net/tun (a TAP)")
        return 77
    need_kvm()
    kd = Kited(a)
    try:
        kd.start()
        bad_requests(kd)
        disk(kd)
        net(kd)
    except (Fail, OSError, ValueError, KeyError) as e:
        print("FAIL: %s%s" % (type(e).__name__ + ": " if not isinstance(e, Fail) else "", e))
        print(kdlib.vm_logs(kd))
        return 1
    finally:
        kd.kill_all()
        kd.remove()
    return 0


if __name__ == "__main__":
    sys.exit(main())
