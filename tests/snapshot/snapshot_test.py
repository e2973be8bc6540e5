#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Snapshot and restore, end to end (suite 'snapshot'). usage: snapshot_test.py --kite K --kernel B MODE

MODE:
  count     the count guest (guest/test_count.c, 2 vCPUs, dirty page tracking on) boots through the
            API; mid-count: pause, Full snapshot, kill -9; a new kite loads it (PUT /snapshot/load,
            resume_vm, enable_diff_snapshots); it counts on; pause, Diff snapshot, kill -9; the Diff
            memory file is laid over the Full one (its data extents) and a third kite resumes it with
            `kite --restore DIR`. The three consoles joined are one stream: count 1, 2, 3, ... with no
            gap, no repeat, the right checksum for every N, one start, and the guest's own check of its
            4 MiB area passing after each restore. The Diff file holds only the pages written since.
  refuse    from one good snapshot (a VM with a virtio-blk drive): a truncated state file, a flipped
            byte, another format version, an unknown section flag, a memory file one page short, a
            configuration whose vCPU count differs from the saved vCPUs, a RAM size that differs, a
            leftover section, the drive's image missing, a Uffd backend: each load is refused with one
            400 naming the cause, the guest never runs (its console stays empty), the kite stays "Not
            started" and refuses InstanceStart and a second load.
  api       the requests' rules: create before boot, on a running VM, Diff without dirty tracking,
            body errors (missing and unknown fields, bad snapshot_type, both or neither of
            mem_file_path/mem_backend), load after configuring, mem_file_path (Firecracker's older
            field) works like mem_backend, resume_vm false leaves the VM Paused until PATCH Resumed, a
            snapshot onto the memory file the restored VM runs from is refused.
  native    the count guest in kvm-pvm native mode (kite.native=1: its kernel-mode code runs natively
            once it registered its PV cell, an MSR outside KVM's list): restored, it counts on
            without a gap and stays native: KVM emulated fewer than 500 instructions per console line
            after the restore (emulated, one line costs thousands; on hardware KVM, none at all).
Exit 0 pass, 1 fail, 77 skip.
"""
import argparse
import json
import os
import re
import shutil
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from snaplib import (Kite, allocated, build_state, check, check_count_stream, fault,  # noqa: E402
                     last_count, layer_diff, load_body, need_kvm, parse_state, payload_str, run_in_workdir,
                     str_payload)


def boot(args, work, name, machine, drives=(), cmdline="kite.test=count"):
    k = Kite(args.kite, work, name)
    calls = [("PUT", "/boot-source", {"kernel_image_path": args.kernel, "boot_args": cmdline}),
             ("PUT", "/machine-config", machine)]
    for d in drives:
        calls.append(("PUT", "/drives/" + d["drive_id"], d))
    calls.append(("PUT", "/actions", {"action_type": "InstanceStart"}))
    for method, path, body in calls:
        code, val = k.call(method, path, body)
        if code != 204:
            k.stop()
            raise RuntimeError("%s %s: %s %s" % (method, path, code, val))
    return k


def mode_count(args, work):
    full = os.path.join(work, "full")
    d2 = os.path.join(work, "d2")
    os.makedirs(full)
    os.makedirs(d2)
    k1 = boot(args, work, "life1", {"vcpu_count": 2, "mem_size_mib": 128, "track_dirty_pages": True})
    check(k1.wait_for(r"^count 40 sum") is not None, "life 1: the guest counts to 40")
    code, val = k1.snapshot(full + "/vm.state", full + "/vm.mem", "Full")
    check(code == 204, "life 1: pause + Full snapshot -> 204 (%s %s)" % (code, val))
    n1 = last_count(k1.text())
    k1.kill9()
    check(os.path.getsize(full + "/vm.mem") == 128 << 20, "Full memory file is the RAM's size (128 MiB)")

    k2 = Kite(args.kite, work, "life2")
    code, val = k2.call("PUT", "/snapshot/load", load_body(full + "/vm.state", full + "/vm.mem", diff=True))
    check(code == 204, "life 2: PUT /snapshot/load (resume_vm, enable_diff_snapshots) -> 204 (%s %s)" % (code, val))
    code, val = k2.call("GET", "/")
    check(code == 200 and val.get("state") == "Running", "life 2: GET / says Running (%s)" % val)
    code, val = k2.call("GET", "/vm/config")
    check(code == 200 and val["machine-config"]["vcpu_count"] == 2 and val["machine-config"]["mem_size_mib"] == 128,
          "life 2: GET /vm/config has the snapshot's machine (2 vCPUs, 128 MiB)")
    want = n1 + 40
    check(k2.wait_for(r"^count %d sum" % want) is not None, "life 2: counts on to %d" % want)
    check(k2.wait_for(r"^count: memory checked at \d+") is not None, "life 2: the guest's memory check passed")
    code, val = k2.snapshot(d2 + "/vm.state", d2 + "/diff.mem", "Diff")
    check(code == 204, "life 2: pause + Diff snapshot -> 204 (%s %s)" % (code, val))
    k2.kill9()
    _, secs = parse_state(open(d2 + "/vm.state", "rb").read())
    vm = [p for n, i, v, p in secs if n == "vm"][0]
    check(vm[-5] == 1, "the Diff state file says Diff")
    # a count step writes one page of its area; the Diff holds those, plus the few pages of stack,
    # page tables and data KVM logs (about 100 here): bounded by the steps life 2 counted, not by RAM
    steps = last_count(k2.text()) - n1
    check(0 < allocated(d2 + "/diff.mem") <= (steps + 256) * 4096,
          "the Diff memory file holds only the pages written since (%d bytes allocated for %d steps; Full: %d)" %
          (allocated(d2 + "/diff.mem"), steps, allocated(full + "/vm.mem")))
    extents = layer_diff(full + "/vm.mem", d2 + "/diff.mem", d2 + "/vm.mem")
    check(extents > 0, "the Diff memory file has data extents to lay over the Full one (%d)" % extents)

    # the third life through the flag, without the API
    con3 = os.path.join(work, "life3.console")
    with open(os.path.join(work, "life3.stderr"), "w") as err:
        p3 = subprocess.Popen([args.kite, "--restore", d2, "--console", "file:" + con3], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=err)
        want3 = last_count(k2.text()) + 40
        k3_text = ""
        import time
        end = time.monotonic() + 120   # hang guard
        while time.monotonic() < end and p3.poll() is None:
            k3_text = open(con3, errors="replace").read() if os.path.exists(con3) else ""
            # whole lines only: the stream check below reads every line of the joined consoles
            if re.search(r"^count %d sum [^\n]*\n" % want3, k3_text, re.M) and "memory checked" in k3_text:
                break
            time.sleep(0.05)
        p3.kill()
        p3.wait()
    k3_text = open(con3, errors="replace").read() if os.path.exists(con3) else ""
    check("count %d sum" % want3 in k3_text, "life 3 (kite --restore DIR): counts on to %d" % want3)
    text = k1.text() + k2.text() + k3_text
    last = check_count_stream(text, "three lives joined")
    check(last >= want3, "the joined stream reaches %d (%d)" % (want3, last))


def refused(args, work, name, body, contains, what, console_check=True):
    k = Kite(args.kite, work, name)
    code, val = k.call("PUT", "/snapshot/load", body)
    msg = fault(val)
    check(code == 400 and contains in msg, "%s: load -> 400 containing %r (%s %s)" % (what, contains, code, msg))
    check("\n" not in msg, "%s: the error is one line" % what)
    code, val = k.call("GET", "/")
    check(code == 200 and val.get("state") == "Not started", "%s: kite stays Not started (%s)" % (what, val))
    code, val = k.call("PUT", "/actions", {"action_type": "InstanceStart"})
    check(code == 400, "%s: InstanceStart is refused afterwards (%s)" % (what, fault(val)))
    code, val = k.call("PUT", "/snapshot/load", body)
    check(code == 400, "%s: a second load is refused (%s)" % (what, fault(val)))
    if console_check:
        check(k.text() == "", "%s: no guest code ran (console empty)" % what)
    k.stop()


def mode_refuse(args, work):
    good = os.path.join(work, "good")
    os.makedirs(good)
    img = os.path.join(work, "disk.img")
    with open(img, "wb") as f:
        f.truncate(1 << 20)
    k = boot(args, work, "src", {"vcpu_count": 1, "mem_size_mib": 64},
             drives=[{"drive_id": "d0", "path_on_host": img, "is_root_device": False, "is_read_only": False}])
    check(k.wait_for(r"^count 5 sum") is not None, "source VM counts")
    code, val = k.snapshot(good + "/vm.state", good + "/vm.mem")
    check(code == 204, "source: Full snapshot -> 204 (%s %s)" % (code, val))
    k.kill9()
    state = open(good + "/vm.state", "rb").read()
    hdr, secs = parse_state(state)
    mem = good + "/vm.mem"

    def variant(name, data):
        p = os.path.join(work, name + ".state")
        with open(p, "wb") as f:
            f.write(data)
        return p

    refused(args, work, "trunc", load_body(variant("trunc", state[:len(state) - 100]), mem), "truncated",
            "truncated state file")
    flipped = bytearray(state)
    flipped[len(state) // 2] ^= 0x10
    refused(args, work, "flip", load_body(variant("flip", bytes(flipped)), mem), "checksum", "corrupted state file")
    refused(args, work, "version", load_body(variant("version", build_state(secs, version=2)), mem), "version",
            "format version 2")
    refused(args, work, "flags", load_body(variant("flags", build_state(secs, flags=4)), mem), "flag",
            "unknown header flag")
    short = os.path.join(work, "short.mem")
    shutil.copyfile(mem, short)
    os.truncate(short, os.path.getsize(mem) - 4096)
    refused(args, work, "short", load_body(good + "/vm.state", short), "holds", "memory file one page short")
    refused(args, work, "nomem", load_body(good + "/vm.state", os.path.join(work, "nosuch.mem")), "nosuch.mem",
            "memory file missing")

    def with_config(edit):
        out = []
        for n, i, v, p in secs:
            if n == "config":
                cfg = json.loads(payload_str(p))
                edit(cfg)
                p = str_payload(json.dumps(cfg))
            out.append((n, i, v, p))
        return build_state(out)

    refused(args, work, "vcpus", load_body(variant("vcpus", with_config(
        lambda c: c["machine-config"].update(vcpu_count=2))), mem), "vCPU", "vCPU count differs")
    refused(args, work, "ramsize", load_body(variant("ramsize", with_config(
        lambda c: c["machine-config"].update(mem_size_mib=128))), mem), "RAM", "RAM size differs")
    extra = build_state(secs + [("nosuchdevice", 0, 1, b"\0" * 8)])
    refused(args, work, "extra", load_body(variant("extra", extra), mem), "nosuchdevice", "leftover section")
    os.unlink(img)
    refused(args, work, "noimg", load_body(good + "/vm.state", mem), "disk.img", "drive image missing")
    body = load_body(good + "/vm.state", mem)
    body["mem_backend"]["backend_type"] = "Uffd"
    refused(args, work, "uffd", body, "Uffd", "Uffd backend")


def mode_api(args, work):
    d = os.path.join(work, "s")
    os.makedirs(d)
    k = Kite(args.kite, work, "fresh")
    create = {"snapshot_type": "Full", "snapshot_path": d + "/vm.state", "mem_file_path": d + "/vm.mem"}
    code, val = k.call("PUT", "/snapshot/create", create)
    check(code == 400 and "before starting" in fault(val), "create before boot -> 400 (%s)" % fault(val))
    for body, contains, what in [
            ({"snapshot_path": "a"}, "missing field `mem_file_path`", "create without mem_file_path"),
            (dict(create, snapshot_type="Half"), "unknown variant `Half`", "bad snapshot_type"),
            (dict(create, foo=1), "unknown field `foo`", "unknown field"),
    ]:
        code, val = k.call("PUT", "/snapshot/create", body)
        check(code == 400 and contains in fault(val), "%s -> 400 %r (%s)" % (what, contains, fault(val)))
    for body, contains, what in [
            ({"snapshot_path": "a", "mem_file_path": "b", "mem_backend": {"backend_type": "File", "backend_path": "b"}},
             "either `mem_backend` or `mem_file_path` exclusively", "load with both memory fields"),
            ({"snapshot_path": "a"}, "either `mem_backend` or `mem_file_path` is required", "load with neither"),
            ({"snapshot_path": "a", "mem_backend": {"backend_path": "b"}}, "missing field `backend_type`",
             "mem_backend without backend_type"),
    ]:
        code, val = k.call("PUT", "/snapshot/load", body)
        check(code == 400 and contains in fault(val), "%s -> 400 %r (%s)" % (what, contains, fault(val)))
    code, val = k.call("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 64})
    code, val = k.call("PUT", "/boot-source", {"kernel_image_path": args.kernel, "boot_args": "kite.test=count"})
    code, val = k.call("PUT", "/snapshot/load", load_body(d + "/vm.state", d + "/vm.mem"))
    check(code == 400 and "not allowed after configuring boot-specific resources" in fault(val),
          "load after configuring -> Firecracker's refusal (%s)" % fault(val))
    code, val = k.call("PUT", "/actions", {"action_type": "InstanceStart"})
    check(code == 204, "InstanceStart still works after the refused load")
    check(k.wait_for(r"^count 3 sum") is not None, "the guest counts")
    code, val = k.call("PUT", "/snapshot/create", create)
    check(code == 400 and "paused" in fault(val), "create on a running VM -> 400 (%s)" % fault(val))
    code, val = k.snapshot(d + "/vm.state", d + "/vm.mem", "Diff")
    check(code == 400 and "dirty page tracking disabled" in fault(val), "Diff without tracking -> 400 (%s)" % fault(val))
    code, val = k.call("PUT", "/snapshot/create", dict(create, mem_file_path=d + "/vm.state"))
    check(code == 400 and "same file" in fault(val), "state and memory the same file -> 400 (%s)" % fault(val))
    code, val = k.call("PUT", "/snapshot/create", create)
    check(code == 204, "Full snapshot of the paused VM -> 204 (%s)" % fault(val))
    n = last_count(k.text())
    k.kill9()

    k2 = Kite(args.kite, work, "paused")
    code, val = k2.call("PUT", "/snapshot/load", {"snapshot_path": d + "/vm.state", "mem_file_path": d + "/vm.mem"})
    check(code == 204, "load with mem_file_path, resume_vm absent -> 204 (%s)" % fault(val))
    code, val = k2.call("GET", "/")
    check(val.get("state") == "Paused", "the loaded VM is Paused (%s)" % val)
    check(last_count(k2.text()) == 0, "nothing counted while paused")
    code, val = k2.call("PUT", "/snapshot/create", {"snapshot_path": d + "/again.state", "mem_file_path": d + "/vm.mem"})
    check(code == 400 and "restored from" in fault(val),
          "a snapshot onto the memory file the VM runs from -> 400 (%s)" % fault(val))
    code, val = k2.call("PATCH", "/vm", {"state": "Resumed"})
    check(code == 204, "PATCH /vm Resumed -> 204")
    check(k2.wait_for(r"^count %d sum" % (n + 5)) is not None, "after Resumed it counts on from %d" % n)
    check_count_stream(k.text() + k2.text(), "two lives joined")
    k2.stop()


def insn_emulation(k):
    code, text = k.call("GET", "/metrics")
    m = re.search(r'^kite_insn_emulation\{device="vcpu0"\} (\d+)', text if isinstance(text, str) else "", re.M)
    return int(m.group(1)) if m else None


def mode_native(args, work):
    d = os.path.join(work, "s")
    os.makedirs(d)
    k = boot(args, work, "life1", {"vcpu_count": 1, "mem_size_mib": 64}, cmdline="kite.test=count kite.native=1")
    check(k.wait_for(r"^count 10 sum") is not None, "life 1: the native guest counts")
    code, val = k.snapshot(d + "/vm.state", d + "/vm.mem")
    check(code == 204, "life 1: Full snapshot -> 204 (%s)" % fault(val))
    k.kill9()
    k2 = Kite(args.kite, work, "life2")
    code, val = k2.call("PUT", "/snapshot/load", load_body(d + "/vm.state", d + "/vm.mem", resume=False))
    check(code == 204, "life 2: load, paused -> 204 (%s)" % fault(val))
    e0 = insn_emulation(k2)
    k2.call("PATCH", "/vm", {"state": "Resumed"})
    n = last_count(k.text())
    check(k2.wait_for(r"^count %d sum" % (n + 50)) is not None, "life 2: counts on 50 more")
    k2.call("PATCH", "/vm", {"state": "Paused"})
    e1 = insn_emulation(k2)
    lines = len([ln for ln in k2.text().split("\n") if ln.startswith("count ")])
    check(e0 is not None and e1 is not None and lines > 0 and (e1 - e0) < 500 * lines,
          "life 2 stays native: %s emulated instructions for %d lines" % (None if e0 is None or e1 is None else e1 - e0,
                                                                           lines))
    check_count_stream(k.text() + k2.text(), "two lives joined")
    k2.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kite", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("mode", choices=["count", "refuse", "api", "native"])
    args = ap.parse_args()
    need_kvm()
    run_in_workdir({"count": mode_count, "refuse": mode_refuse, "api": mode_api, "native": mode_native}[args.mode],
                   args, "kite-snap-", args.keep)


if __name__ == "__main__":
    main()
