#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kite-dpu under kite-jailer serves a volume and switch ports (tests/security, root).

usage: jail_dpu_test.py --jailer KITE_JAILER --dpu KITE_DPU --kite KITE --kernel GUEST

The jailer starts kite-dpu as uid/gid 4321 with its config (--file), its image and socket
directories (--dir, bound at their host paths, also given as --image-dir/--socket-dir), /dev/hugepages
when the host has it mounted (--dir), and a cgroup (memory, pids). The config has one volume, two
vhost switch ports and a TAP uplink on a TAP the test made beforehand for uid 4321 (MTU set, up: the
jailed kite-dpu has no CAP_NET_ADMIN). Checked:
- the jailed kite-dpu's file system (/proc/PID/root) holds exactly kite-dpu, its libraries, the config,
  the three device nodes, the image, the control and vhost-user sockets (and /dev/hugepages' files),
  and its mount namespace has only the jail's root and the bind mounts (kite-dpu and its libraries:
  the host's files, read-only);
- every thread: Seccomp 2, NoNewPrivs 1, CapEff 0, the uid; kite-dpu is PID 1 of its PID namespace;
- a kite VM (not jailed) writes the test guest's pattern through the volume: the host image holds it;
- two kite VMs ping each other through the switch ports, and their ARP broadcast reaches the TAP
  (the host counts frames received on it);
- SIGTERM to the jailer ends kite-dpu cleanly (0), its cgroup is removed and no empty kite-dpu
  cgroup directory is left in any hierarchy.
Exit 0 pass, 1 fail, 77 skip (no root, /dev/kvm or /dev/net/tun).
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vhost"))
from jaillib import cgroup_mounts, check, empty_cgroup_dirs, failures, wait_for  # noqa: E402
from vtlib import Kite, Procs, guest_seed, pattern_bytes, random_image, workdir, SECTOR  # noqa: E402

UID = GID = 4321
MAC_A, MAC_B = "02:4b:00:00:0f:0a", "02:4b:00:00:0f:0b"
def task_status(pid):
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            out[tid] = dict(l.rstrip("\n").split(":\t", 1) for l in open("/proc/%d/task/%s/status" % (pid, tid))
                            if ":\t" in l)
        except OSError:
            pass
    return out


def jail_files(pid):
    root = "/proc/%d/root" % pid
    files = set()
    for d, dirs, names in os.walk(root):
        for n in names:
            files.add("/" + os.path.relpath(os.path.join(d, n), root))
    return files


def run(a, wd, procs):
    vm_id = "dpu-%d" % os.getpid()
    tap = "kjt%d" % (os.getpid() % 100000)
    imgdir, sockdir = os.path.join(wd, "images"), os.path.join(wd, "sockets")
    for d in (imgdir, sockdir):
        os.mkdir(d)
        os.chown(d, UID, GID)
    img = os.path.join(imgdir, "vol0.img")
    orig = random_image(img, 1 << 20)
    os.chown(img, UID, GID)
    sock = {n: os.path.join(sockdir, n + ".sock") for n in ("vol0", "vmA", "vmB")}
    ctl = os.path.join(sockdir, "ctl.sock")
    cfg = os.path.join(wd, "dpu.json")
    with open(cfg, "w") as f:
        json.dump({"cores": [-1], "control": ctl,
                   "volumes": [{"name": "vol0", "image": img, "socket": sock["vol0"]}],
                   "switch": {"ports": [{"name": "vmA", "type": "vhost", "socket": sock["vmA"]},
                                        {"name": "vmB", "type": "vhost", "socket": sock["vmB"]},
                                        {"name": "up0", "type": "tap", "ifname": tap}]}}, f)
    os.chmod(cfg, 0o644)
    subprocess.run(["ip", "tuntap", "add", "dev", tap, "mode", "tap", "user", str(UID), "group", str(GID)], check=True)
    try:
        subprocess.run(["ip", "link", "set", tap, "mtu", "1500", "up"], check=True)
        hugepages = os.path.ismount("/dev/hugepages")
        base = os.path.join(wd, "jails")
        cmd = [a.jailer, "--id", vm_id, "--exec-file", os.path.abspath(a.dpu), "--uid", str(UID), "--gid", str(GID),
               "--chroot-base", base, "--cgroup", "memory.max=%d" % (1 << 30), "--cgroup", "pids.max=64",
               "--resource-limit", "no-file=1024", "--file", cfg, "--dir", imgdir, "--dir", sockdir] + \
              (["--dir", "/dev/hugepages"] if hugepages else []) + \
              ["--", "--config", "/dpu.json", "--image-dir", imgdir, "--socket-dir", sockdir]
        print("$ " + " ".join(cmd))
        log = open(os.path.join(wd, "jailer.log"), "w")
        jp = procs.add(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        pidfile = os.path.join(base, "kite-dpu", vm_id, "kite-dpu.pid")
        up = wait_for(lambda: all(os.path.exists(s) for s in list(sock.values()) + [ctl]) or jp.poll() is not None)
        if not check(up and jp.poll() is None, "the jailed kite-dpu listens on its control and vhost-user sockets"):
            return
        pid = int(open(pidfile).read())

        # what the jailed kite-dpu sees
        files = jail_files(pid)
        print("  the jail holds: " + " ".join(sorted(files)))
        want = {"/kite-dpu", "/dpu.json", "/dev/kvm", "/dev/net/tun", "/dev/urandom", img, ctl} | set(sock.values())
        hp = {f for f in files if f.startswith("/dev/hugepages/")}
        libs = {f for f in files - want if re.fullmatch(r"/(usr/)?lib[^/]*(/[^/]+)*/[^/]+\.so(\.[0-9]+)*", f)}
        check(want <= files, "the jail has kite-dpu, its config, the image, the sockets and the device nodes "
              "(missing: %s)" % sorted(want - files))
        check(files - want - libs - hp == set(), "nothing else but shared libraries (extra: %s)" % sorted(files - want - libs - hp))
        mounts = sorted(l.split()[4] for l in open("/proc/%d/mountinfo" % pid))
        print("  its mounts: " + " ".join(mounts))
        check(mounts == sorted(["/", "/dpu.json", "/kite-dpu", imgdir, sockdir] + sorted(libs) +
                               (["/dev/hugepages"] if hugepages else [])),
              "its mount namespace holds only the jail's root and the bind mounts (kite-dpu and its libraries read-only)")
        ts = task_status(pid)
        for tid, st in sorted(ts.items()):
            print("  thread %s %-12s Seccomp %s NoNewPrivs %s CapEff %s Uid %s" % (
                tid, st.get("Name"), st.get("Seccomp"), st.get("NoNewPrivs"), st.get("CapEff"), st.get("Uid")))
        check(any(st.get("Name", "").startswith("dpu-poll") for st in ts.values()), "a poller thread runs")
        check(all(st.get("Seccomp") == "2" and st.get("NoNewPrivs") == "1" for st in ts.values()),
              "every thread: Seccomp 2, NoNewPrivs 1")
        check(all(st.get("CapEff") == "0000000000000000" and st.get("CapBnd") == "0000000000000000"
                  for st in ts.values()), "every thread: CapEff and CapBnd 0")
        check(all(st.get("Uid", "").split() == [str(UID)] * 4 for st in ts.values()), "every thread runs as uid %d" % UID)
        check(ts and list(ts.values())[0].get("NSpid", "").split()[-1:] == ["1"], "kite-dpu is PID 1 of its PID namespace")
        check(os.readlink("/proc/%d/ns/mnt" % pid) != os.readlink("/proc/self/ns/mnt"), "kite-dpu has its own mount namespace")

        # the volume: a kite VM (not jailed) writes the guest's pattern
        seed, sector = guest_seed()
        vm = Kite(a.kite, a.kernel, wd, "blk", ["--vhost-user-blk", "socket=" + sock["vol0"]],
                  "kite.test=virtio-blk kite.seed=%d kite.blk_sector=%d" % (seed, sector), procs)
        rc = vm.run(120)
        check(rc == 0 and re.search(r"^kite-guest: PASS ", vm.con(), re.M), "the VM on the jailed volume passes (%s)" % rc)
        data = open(img, "rb").read()
        s, e = sector * SECTOR, (sector + 8) * SECTOR
        check(data[s:e] == pattern_bytes(sector, 8, seed), "the host's image holds the guest's pattern at sector %d" % sector)
        check(data[:s] == orig[:s], "the image's bytes before the pattern are untouched")
        if failures:
            print(vm.dump())

        # the switch: VM A pings VM B; A's ARP broadcast is flooded to the TAP uplink
        rx0 = int(open("/sys/class/net/%s/statistics/rx_packets" % tap).read())
        b = Kite(a.kite, a.kernel, wd, "vmB", ["--vhost-user-net", "socket=%s,mac=%s" % (sock["vmB"], MAC_B)],
                 "kite.test=virtio-net-ping kite.respond=1 kite.ip_last=1", procs).start()
        check(b.wait_console(r"^virtio-net-ping: answering ARP and echo requests for 192\.0\.2\.1$", 60) is not None,
              "VM B's responder started")
        va = Kite(a.kite, a.kernel, wd, "vmA", ["--vhost-user-net", "socket=%s,mac=%s" % (sock["vmA"], MAC_A)],
                  "kite.test=virtio-net-ping kite.ip_last=2 kite.peer_ip_last=1 kite.ping_size=200", procs)
        rc = va.run(90)
        check(rc == 0 and re.search(r"^virtio-net-ping: echo reply from 192\.0\.2\.1, 200 payload bytes", va.con(), re.M),
              "VM A got VM B's echo reply through the jailed switch (%s)" % rc)
        rx1 = int(open("/sys/class/net/%s/statistics/rx_packets" % tap).read())
        check(rx1 > rx0, "frames from the switch reached the TAP uplink %s (rx_packets %d -> %d)" % (tap, rx0, rx1))
        if rc != 0:
            print(va.dump() + "\n" + b.dump())
        b.proc.kill()
        b.proc.wait()

        jp.send_signal(signal.SIGTERM)
        rc = jp.wait(60)
        check(rc == 0, "SIGTERM to the jailer ends kite-dpu cleanly (got %s)" % rc)
        check(not os.path.exists("/proc/%d" % pid), "kite-dpu is gone")
        left = [os.path.join(m, "kite-dpu", vm_id) for m in cgroup_mounts() if os.path.exists(os.path.join(m, "kite-dpu", vm_id))]
        check(left == [], "the VM's cgroup directories are removed (left: %s)" % left)
        check(empty_cgroup_dirs("kite-dpu") == [], "no empty kite-dpu cgroup directory is left (%s)" % empty_cgroup_dirs("kite-dpu"))
    finally:
        subprocess.run(["ip", "link", "del", tap], capture_output=True)
        if failures:
            print("--- jailer and kite-dpu log ---\n" + open(os.path.join(wd, "jailer.log")).read()[-4000:]
                  if os.path.exists(os.path.join(wd, "jailer.log")) else "")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jailer", required=True)
    ap.add_argument("--dpu", required=True)
    ap.add_argument("--kite", required=True)
    ap.add_argument("--kernel", required=True)
    a = ap.parse_args()
    if os.geteuid() != 0 or not os.path.exists("/dev/kvm") or not os.path.exists("/dev/net/tun"):
        print("SKIP: needs root, /dev/kvm and /dev/net/tun")
        return 77
    wd = workdir()
    procs = Procs()
    try:
        run(a, wd, procs)
    finally:
        procs.stop_all()
        shutil.rmtree(wd, ignore_errors=True)
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
