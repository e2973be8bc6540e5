#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kited's per-VM uids (issue 14, docs/kited.md "One uid per VM"): every jailed VM runs as its own uid,
owns its own vhost-user sockets, and cannot reach another VM's sockets nor a user volume's.

usage: isolation_test.py --kited K --kitectl C --kite KITE --dpu KITE_DPU --jailer J --kernel GUEST

One kited with kite-dpu, root, jailed VMs:
  - user volumes "bvol" (VM b's disk) and "free" (no VM's); VM a (its own disk and a port), VM b
    (volume bvol and a port), both idle guests;
  - a and b have different uids from the range, their kites run as them (/proc/PID/status Uid and Gid,
    all four ids), and their run/ directories are theirs (0700);
  - a's port and disk sockets are a's uid's, b's port and bvol's are b's, "free"'s is root's, all 0600;
  - a process running as a's uid connects to a's port and disk sockets (and closes at once: kite-dpu
    refuses a second frontend) but gets EACCES on b's port, bvol and "free";
  - kill -9 of kite-dpu: once kited says it runs again (restarted, everything re-applied), the
    re-created sockets have the same owners and the same connects pass and fail;
  - kited restarted: the VMs keep their uids; b stopped: bvol's socket is root's again and a's uid
    cannot reach it; b deleted, c created: c gets the uid b had (a deleted VM's uid comes back).
Exit 0 pass, 1 fail, 77 skip (no /dev/kvm, not root)."""
import argparse
import errno
import os
import signal
import socket
import stat
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kdlib  # noqa: E402
from kdlib import check, wait_for  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "virtio"))
from checks import need_kvm  # noqa: E402  (tests/lib)

IDLE = "kite.test=idle"
UID_BASE, UID_COUNT = 100000, 65536     # kited's defaults

def ids_of(pid):
    """(uids, gids) of a process: the four ids of each (real, effective, saved, file system)."""
    uids = gids = None
    for line in open("/proc/%d/status" % pid):
        if line.startswith("Uid:"):
            uids = tuple(int(x) for x in line.split()[1:5])
        elif line.startswith("Gid:"):
            gids = tuple(int(x) for x in line.split()[1:5])
    return uids, gids


def connect_as(uid, paths):
    """{path: "ok" | errno name} of connect() from a forked child running as uid:uid with no other
    groups (a fork, not an exec: the python binary may be out of that uid's reach); "ok" closes at
    once (kite-dpu refuses a second frontend anyway). The child enters DIR/dpu/sockets as root and
    connects by file name: the state dir above is root's 0700, and a jailed kite, too, reaches only
    that directory (bound into its jail), so only the sockets' own owners and modes decide."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.chdir(os.path.dirname(paths[0]))
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            out = []
            for p in paths:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    s.connect(os.path.basename(p))
                    out.append("ok")
                except OSError as e:
                    out.append(errno.errorcode.get(e.errno, str(e.errno)))
                finally:
                    s.close()
            os.write(w, " ".join(out).encode())
        finally:
            os._exit(0)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 4096)
        if not chunk:
            break
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    out = data.decode().split()
    check(len(out) == len(paths), "the probe as uid %d gave %r for %d paths" % (uid, data, len(paths)))
    return dict(zip(paths, out))


def owner(path):
    st = os.lstat(path)
    check(stat.S_ISSOCK(st.st_mode), "%s is not a socket" % path)
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


def sock(kd, name):
    return os.path.join(kd.state, "dpu", "sockets", name)


def check_world(kd, uid_a, uid_b, when):
    """Owners and modes of the four kinds of socket, and what a's uid can connect to."""
    mine = [sock(kd, "port-a.sock"), sock(kd, "vol-a-disk.sock")]
    others = [sock(kd, "port-b.sock"), sock(kd, "vol-bvol.sock"), sock(kd, "vol-free.sock")]
    want = {mine[0]: uid_a, mine[1]: uid_a, others[0]: uid_b, others[1]: uid_b, others[2]: 0}
    for path, uid in want.items():
        got = owner(path)
        check(got == (uid, uid, 0o600), "%s: %s is %d:%d mode %o, expected %d:%d mode 600" %
              (when, os.path.basename(path), got[0], got[1], got[2], uid, uid))
    res = connect_as(uid_a, mine + others)
    for path in mine:
        check(res[path] == "ok", "%s: uid %d (VM a's) cannot connect to its own %s: %s" %
              (when, uid_a, os.path.basename(path), res[path]))
    for path in others:
        check(res[path] == "EACCES", "%s: uid %d (VM a's) connecting to %s: %s, expected EACCES" %
              (when, uid_a, os.path.basename(path), res[path]))


def run(kd):
    kd.ok("POST", "/dpu/volumes", {"name": "bvol", "size_mib": 4}, want=(201,))
    kd.ok("POST", "/dpu/volumes", {"name": "free", "size_mib": 4}, want=(201,))
    kd.create("a", IDLE, net={"vlan": 0})
    kd.create("b", IDLE, disk_mib=0, disk={"volume": "bvol"}, net={"vlan": 0})
    a, b = kd.wait_state("a", "running"), kd.wait_state("b", "running")
    check(a["jailed"] and b["jailed"], "the VMs are not jailed: a %s, b %s" % (a["jailed"], b["jailed"]))
    uid_a, uid_b = a["uid"], b["uid"]
    check(uid_a != uid_b, "VMs a and b have one uid, %d" % uid_a)
    for n, u in (("a", uid_a), ("b", uid_b)):
        check(UID_BASE <= u < UID_BASE + UID_COUNT, "VM %s's uid %d is outside the range" % (n, u))
    for v, u in ((a, uid_a), (b, uid_b)):
        uids, gids = ids_of(v["pid"])
        check(uids == (u,) * 4 and gids == (u,) * 4, "VM %s's kite %d runs as uids %s gids %s, expected %d" %
              (v["name"], v["pid"], uids, gids, u))
        run_dir = os.stat(os.path.join(kd.state, "vms", v["name"], "run"))
        check((run_dir.st_uid, run_dir.st_gid, stat.S_IMODE(run_dir.st_mode)) == (u, u, 0o700),
              "VM %s's run/ is %d:%d mode %o" % (v["name"], run_dir.st_uid, run_dir.st_gid,
                                                  stat.S_IMODE(run_dir.st_mode)))
    check_world(kd, uid_a, uid_b, "two running VMs")
    print("PASS: VMs a and b run as uids %d and %d; each owns its sockets, a's uid reaches only its own" %
          (uid_a, uid_b))

    dpu = kd.dpu()
    os.kill(dpu["pid"], signal.SIGKILL)
    wait_for("kited to restart kite-dpu", lambda: (lambda d: d["state"] == "running" and d["pid"] != dpu["pid"]
                                                   and d["restarts"] > dpu["restarts"])(kd.dpu()))
    check_world(kd, uid_a, uid_b, "after kite-dpu's kill -9 and restart")
    for n in ("a", "b"):
        check(kd.vm(n)["state"] == "running", "VM %s is %s after kite-dpu's restart" % (n, kd.vm(n)["state"]))
    print("PASS: kite-dpu killed and restarted: the re-created sockets have the same owners")

    kd.stop()
    kd.start()
    check((kd.vm("a")["uid"], kd.vm("b")["uid"]) == (uid_a, uid_b), "kited restarted: the uids changed to %s, %s" %
          (kd.vm("a")["uid"], kd.vm("b")["uid"]))
    kd.ok("POST", "/vms/b/stop")
    kd.wait_state("b", ("stopped", "crashed"))
    check(owner(sock(kd, "vol-bvol.sock")) == (0, 0, 0o600), "VM b stopped: bvol's socket is %d:%d mode %o" %
          owner(sock(kd, "vol-bvol.sock")))
    check(not os.path.exists(sock(kd, "port-b.sock")), "VM b stopped: its port socket is still there")
    res = connect_as(uid_a, [sock(kd, "vol-bvol.sock")])
    check(res[sock(kd, "vol-bvol.sock")] == "EACCES", "VM b stopped: uid %d (VM a's) connecting to bvol: %s" %
          (uid_a, res[sock(kd, "vol-bvol.sock")]))
    kd.ok("DELETE", "/vms/b")
    c = kd.create("c", IDLE, start=False)
    check(c["uid"] == uid_b and c["uid"] != uid_a, "VM c got uid %d, expected deleted b's %d" % (c["uid"], uid_b))
    print("PASS: uids kept across kited's restart; b stopped: bvol root's again; b deleted: c got its uid %d" % uid_b)


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    kdlib.common_args(ap)
    a = ap.parse_args()
    if os.geteuid() != 0 or a.jail != "on":
        print("SKIP: per-VM uids need root and jails")
        return 77
    for p in (a.kite, a.dpu, a.kernel):
        if not os.path.exists(p):
            print("FAIL: %s is not built" % p)
            return 1
    need_kvm()
    return kdlib.run_scenario(a, "isolation", run)


if __name__ == "__main__":
    sys.exit(main())
