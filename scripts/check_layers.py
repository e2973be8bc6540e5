#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The folder graph of kite's product code has no circle, and device models see only the machine.

Every #include "..." of a product source (.c/.h outside tests/, guest/, bench/) becomes an edge from
its folder to the folder that owns the included header: a header in a folder belongs to it, a header
in include/kite/ belongs to the folder named in OWNER below (header-only interfaces belong to no
folder and add no edge). Sub-folders count as their top folder (vmm/x86 is vmm, dpu/blk is dpu).
Fails with one line per problem: a circle between folders, a header of include/kite/ missing from
OWNER, or a device-side folder (devices/, pci/, virtio/) that includes kite/vm.h or <linux/kvm.h>.
usage: check_layers.py [SOURCE_ROOT]
"""
import os
import re
import sys

PRODUCT = ["common", "virtio", "vhost-user", "devices", "pci", "vmm", "dpu", "api", "kited", "kitectl",
           "jailer"]
INTERFACE = None   # a header-only interface: no owner, no edge
OWNER = {
    "machine.h": INTERFACE, "platform.h": INTERFACE, "copy_small.h": INTERFACE, "virtio_ring.h": INTERFACE, "virtio_blk.h": INTERFACE,
    "virtio_transport.h": INTERFACE, "vmm_control.h": INTERFACE, "version.h": INTERFACE,
    "evloop.h": "common", "guest_mem.h": "common", "iobus.h": "common", "log.h": "common",
    "ratelimit.h": "common", "unix_socket.h": "common", "seccomp.h": "common", "snapshot.h": "common", "atomic_file.h": "common",
    "uring_restrict.h": "common",
    "iothread.h": "common",
    "poll_window.h": "common",
    "inline_io.h": "common",
    "mapped_copy.h": "common",
    "virtqueue.h": "virtio", "blk_request.h": "virtio", "virtio_dev.h": "virtio", "virtio_pci.h": "virtio",
    "virtio_mmio.h": "virtio", "virtio_net.h": "virtio", "virtio_balloon.h": "virtio",
    "virtio_blk_dev.h": "virtio", "virtio_misc.h": "virtio", "virtio_options.h": "virtio",
    "virtio_vhost_user.h": "virtio", "virtio_net_ctrl.h": "virtio",
    "vhost_user.h": "vhost-user", "vhost_user_requests.h": "vhost-user", "vhost_frontend.h": "vhost-user",
    "pci.h": "pci", "legacy_devices.h": "devices",
    "vm.h": "vmm", "vcpu.h": "vmm", "boot.h": "vmm", "config.h": "vmm", "kvm_irq.h": "vmm",
    "x86/": "vmm", "api.h": "api", "http_unix.h": "api",
}
DEVICE_SIDE = ("devices", "pci", "virtio")
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def owner_of(root, src_dir, name, problems, where):
    """The folder owning the header `name` included from `src_dir` (None for interfaces/system)."""
    if name.startswith("kite/"):
        rel = name[len("kite/"):]
        key = "x86/" if rel.startswith("x86/") else rel
        if key not in OWNER:
            problems.append(f"{where}: include/kite/{rel} is not in scripts/check_layers.py's OWNER map")
            return None
        return OWNER[key]
    path = os.path.normpath(os.path.join(src_dir, name))
    rel = os.path.relpath(path, root)
    if rel.startswith("..") or not os.path.exists(path):
        return None
    return rel.split(os.sep)[0]


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
    edges, problems = {}, []
    for top in PRODUCT:
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for f in files:
                if not f.endswith((".c", ".h")):
                    continue
                full = os.path.join(dirpath, f)
                where = os.path.relpath(full, root)
                for line in open(full, errors="replace"):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    kind, name = m.groups()
                    if top in DEVICE_SIDE and name in ("kite/vm.h", "linux/kvm.h"):
                        problems.append(f"{where}: a device-side folder includes {name} (use kite/machine.h)")
                    if kind != '"':
                        continue
                    dst = owner_of(root, dirpath, name, problems, where)
                    if dst and dst != top:
                        edges.setdefault(top, {}).setdefault(dst, where)
    # circles: depth-first search over the folder graph
    state, stack = {}, []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, {})):
            if state.get(nxt) == 1:
                cyc = stack[stack.index(nxt):] + [nxt]
                hops = ", ".join(f"{a} -> {b} ({edges[a][b]})" for a, b in zip(cyc, cyc[1:]))
                problems.append("folder circle: " + hops)
            elif not state.get(nxt):
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if not state.get(node):
            visit(node)
    for a in sorted(edges):
        print(f"{a} -> {', '.join(sorted(edges[a]))}")
    for p in problems:
        print("FAIL: " + p)
    print(f"layers: {len(edges)} folders with edges, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
