#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kited's host tuning (docs/kited.md "Host tuning"), suite 'kited', test kited-tuning:
  - a VM created through the API with pin_vcpus, pin_io, iothreads true and hugepages "off" and an
    in-process disk (backend "kite": a virtio-blk device with an I/O thread in kite): its kite's vCPU
    threads and I/O thread run on exactly the pinned host CPUs (/proc/PID/task/*/status
    Cpus_allowed_list), kite's own GET /machine-config has the values, the VM object and vm.json's
    definition keep them, `kitectl vm info` prints them;
  - bad values (a host CPU that does not exist, an empty list, a string, an unknown hugepages mode,
    a non-boolean iothreads, hugepages "on" with an odd memory_mib) get 400 naming the field and
    change nothing (the list, the state dir);
  - `kitectl vm create --pin-vcpus 0 --iothreads off --hugepages auto`: no I/O thread in its kite,
    its vCPUs on CPU 0;
  - a vm.json without the fields (an older kited's) loads with the defaults after a kited restart
    (no pinning, I/O threads, hugepages auto) and its VM starts so.
Needs 2 host CPUs (else the pinning is not visible) and /dev/kvm."""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kdlib  # noqa: E402
from kdlib import check, http_unix  # noqa: E402
from checks import need_kvm, thread_cpus  # noqa: E402  (tests/lib)

IDLE = "kite.test=idle"
TUNING = ("pin_vcpus", "pin_io", "iothreads", "hugepages")


def definition(kd, name):
    with open(os.path.join(kd.state, "vms", name, "vm.json")) as f:
        return json.load(f)["definition"]


def tuning(kd):
    ncpu = os.sysconf("SC_NPROCESSORS_CONF")
    last = ncpu - 1
    base = {"name": "t1", "kernel": kd.a.kernel, "cmdline": IDLE, "memory_mib": 32, "cpus": 2,
            "disk": {"size_mib": 4, "backend": "kite"}}

    # bad values: 400 naming the field, nothing changed
    before = (kd.vms(), sorted(os.listdir(os.path.join(kd.state, "vms"))))
    for extra, words in (({"pin_io": [0, ncpu]}, "pin_io: host CPU %d does not exist" % ncpu),
                         ({"pin_vcpus": []}, "pin_vcpus: an empty list"),
                         ({"pin_vcpus": "0"}, "pin_vcpus: expected an array"),
                         ({"pin_io": [1.5]}, "pin_io: expected 1 to 64 host CPU numbers"),
                         ({"hugepages": "2M"}, "hugepages 2M: expected"),
                         ({"iothreads": "on"}, "iothreads: expected true or false"),
                         ({"hugepages": "on", "memory_mib": 33}, "hugepages \"on\" needs memory_mib")):
        st, r = kd.req("POST", "/vms", dict(base, **extra))
        check(st == 400 and words in (r or {}).get("error", ""),
              "create with %s: HTTP %d %s, expected 400 naming %r" % (extra, st, r, words))
        print("ok   create with %s: 400 %s" % (extra, r["error"]))
    check((kd.vms(), sorted(os.listdir(os.path.join(kd.state, "vms")))) == before,
          "the bad requests changed the list or the state dir")

    # the API: every field; the kite's threads on the pinned CPUs
    want = {"pin_vcpus": [last], "pin_io": [0], "iothreads": True, "hugepages": "off"}
    kd.create("t1", IDLE, disk_mib=0, cpus=2, disk={"size_mib": 4, "backend": "kite"}, **want)
    vm = kd.wait_state("t1", "running")
    check({k: vm.get(k) for k in TUNING} == want, "GET /vms/t1: %s, expected %s" % ({k: vm.get(k) for k in TUNING}, want))
    check({k: definition(kd, "t1").get(k) for k in TUNING} == want, "vm.json's definition lacks the tuning: %s" %
          definition(kd, "t1"))
    th = thread_cpus(vm["pid"], ("kite-vcpu0", "kite-vcpu1", "io:virtio-blk0"))
    check(th.get("io:virtio-blk0") == "0", "t1's I/O thread on %s, expected host CPU 0 (%s)" % (th.get("io:virtio-blk0"), th))
    check(th.get("kite-vcpu0") == str(last) and th.get("kite-vcpu1") == str(last),
          "t1's vCPUs not on host CPU %d: %s" % (last, th))
    st, mc = http_unix(vm["api_sock"], "GET", "/machine-config")
    check(st == 200 and {k: mc.get(k) for k in TUNING} == want, "kite's own GET /machine-config: %s" % mc)
    print("ok   t1: vCPUs on CPU %d, its I/O thread on CPU 0, kite's machine-config %s" % (last, mc))
    rc, out, err = kd.kitectl("vm", "info", "t1")
    check(rc == 0 and "pin vcpus    %d\n" % last in out and "pin io       0\n" in out and "iothreads    yes\n" in out
          and "hugepages    off\n" in out, "kitectl vm info t1: %d %r %r" % (rc, out, err))

    # kitectl: iothreads off, vCPUs on CPU 0
    rc, out, err = kd.kitectl("vm", "create", "t2", "--kernel", kd.a.kernel, "--cmdline", IDLE, "--memory", "32M",
                              "--cpus", "2", "--disk", "4M", "--disk-backend", "kite", "--pin-vcpus", "0",
                              "--iothreads", "off", "--hugepages", "auto", "--start")
    check(rc == 0, "kitectl vm create t2: %d %r %r" % (rc, out, err))
    vm = kd.wait_state("t2", "running")
    th = thread_cpus(vm["pid"], ("kite-vcpu0", "kite-vcpu1"))
    check(not any(k.startswith("io:") for k in th), "t2 (iothreads off) has an I/O thread: %s" % th)
    check(th.get("kite-vcpu0") == "0" and th.get("kite-vcpu1") == "0", "t2's vCPUs not on CPU 0: %s" % th)
    check(vm.get("pin_io") is None and vm.get("iothreads") is False and vm.get("hugepages") == "auto",
          "GET /vms/t2: %s" % {k: vm.get(k) for k in TUNING})
    print("ok   t2 (kitectl): no I/O thread, vCPUs on CPU 0")

    # an older kited's vm.json (no tuning fields) loads with the defaults and starts so
    kd.ok("POST", "/vms/t2/stop", {"force": True})
    kd.wait_state("t2", "stopped")
    kd.stop()
    path = os.path.join(kd.state, "vms", "t2", "vm.json")
    with open(path) as f:
        j = json.load(f)
    for k in TUNING:
        j["definition"].pop(k, None)
    with open(path, "w") as f:
        json.dump(j, f)
    kd.start()
    vm = kd.vm("t2")
    check(vm["state"] == "stopped" and vm.get("pin_vcpus") is None and vm.get("pin_io") is None and
          vm.get("iothreads") is True and vm.get("hugepages") == "auto",
          "t2 read back from an old vm.json: %s" % {k: vm.get(k) for k in TUNING + ("state",)})
    check(kd.vm("t1")["state"] == "running", "t1 not adopted")
    kd.ok("POST", "/vms/t2/start")
    vm = kd.wait_state("t2", "running")
    th = thread_cpus(vm["pid"], ("kite-vcpu0", "io:virtio-blk0"))
    check("io:virtio-blk0" in th, "t2 started with the defaults has no I/O thread: %s" % th)
    print("ok   an old vm.json: defaults, started with its I/O thread (%s)" % th)
    for name in ("t1", "t2"):
        kd.ok("POST", "/vms/%s/stop" % name, {"force": True})
        kd.wait_state(name, "stopped")
        kd.ok("DELETE", "/vms/" + name)
    check(kd.vms() == [], "VMs left: %s" % kd.vms())


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    kdlib.common_args(ap)
    a = ap.parse_args()
    if os.sysconf("SC_NPROCESSORS_CONF") < 2 or len(os.sched_getaffinity(0)) < 2:
        print("SKIP: pinning is seen only with 2 host CPUs or more")
        return 77
    need_kvm()
    return kdlib.run_scenario(a, "tuning", tuning)


if __name__ == "__main__":
    sys.exit(main())
