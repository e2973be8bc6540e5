#!/usr/bin/env python3
"""kite-jailer runs kite in namespaces, a chroot and a cgroup with no privileges (tests/security).

usage: jailer_test.py --jailer KITE_JAILER --kite KITE --kernel GUEST

Run 1 (the test guest's spin mode, kept running): the jail's files, seen as the jailed kite sees
them (/proc/PID/root), are exactly kite, the guest kernel, the disk, dev/kvm, dev/net/tun,
dev/urandom and kite's shared libraries (*.so files under lib directories); /proc/PID/status shows
CapEff/CapPrm/CapBnd 0, NoNewPrivs 1, Seccomp 2 and the given uid/gid; kite is PID 1 of its own PID
namespace and in its own mount, IPC and UTS namespaces; its cgroup (found through /proc/PID/cgroup)
has the memory, pids and cpu limits given with --cgroup (memory.max/pids.max/cpu.max, or the v1 files
they map to); SIGTERM to the jailer ends kite (143) and the cgroup is removed; after both runs no cgroup directory
of either VM and no empty <hierarchy>/kite directory is left (ids carry the test's PID: other runs may
share the host).
Run 2 (virtio-blk mode): the jailed guest writes a pattern, write-zeroes and a discard on the disk
(a host file bind-mounted into the jail), exits 0, and the host reads the pattern and the zeroes.
"""
import argparse, errno, os, random, re, signal, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jaillib import cgroup_mounts, check, empty_cgroup_dirs, failures, wait_for  # noqa: E402

UID = GID = 4321
SPIN_ID, BLK_ID = "spin-%d" % os.getpid(), "blk-%d" % os.getpid()   # unique: other runs may share the host
MEM = 512 << 20
PIDS = 64


def jail_cmd(a, base, vm_id, files, kite_args):
    cmd = [a.jailer, "--id", vm_id, "--exec-file", os.path.abspath(a.kite), "--uid", str(UID), "--gid", str(GID),
           "--chroot-base", base, "--cgroup", "memory.max=%d" % MEM, "--cgroup", "pids.max=%d" % PIDS,
           "--cgroup", "cpu.max=200000 100000", "--resource-limit", "no-file=512"]
    for f in files:
        cmd += ["--file", f]
    return cmd + ["--"] + kite_args


def status(pid):
    st = {}
    for line in open("/proc/%d/status" % pid):
        k, _, v = line.partition(":")
        st[k] = v.strip()
    return st


def cgroup_files(pid):
    """{controller or '': directory of the process's cgroup} from /proc/PID/cgroup and /proc/mounts."""
    mounts = {}
    for line in open("/proc/mounts"):
        dev, mnt, typ, opts = line.split()[:4]
        if typ == "cgroup2" and "" not in mounts:
            mounts[""] = mnt
        elif typ == "cgroup":
            for o in opts.split(","):
                mounts.setdefault(o, mnt)
    out = {}
    for line in open("/proc/%d/cgroup" % pid):
        _, ctrls, path = line.rstrip("\n").split(":", 2)
        for c in (ctrls.split(",") if ctrls else [""]):
            if c in mounts:
                out[c] = mounts[c] + path
    return out


def read(path):
    try:
        return open(path).read().strip()
    except OSError as e:
        return "unreadable (%s)" % e.strerror


def run_spin(a, tmp, kernel, disk):
    base = os.path.join(tmp, "jails")
    p = subprocess.Popen(jail_cmd(a, base, SPIN_ID, [kernel, disk],
                                  ["--kernel", "/guest.bin", "--blk", "path=/disk.img", "--cmdline", "kite.test=spin"]),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pidfile = os.path.join(base, "kite", SPIN_ID, "kite.pid")
    try:
        ok = wait_for(lambda: os.path.exists(pidfile) and open(pidfile).read().endswith("\n"))
        check(ok, "the jailer wrote kite's PID file")
        if not ok:
            return
        pid = int(open(pidfile).read())
        check(wait_for(lambda: os.path.exists("/proc/%d/exe" % pid) and os.readlink("/proc/%d/exe" % pid) == "/kite"),
              "the jailed kite runs /kite of its jail")
        root = "/proc/%d/root" % pid
        files = set()
        for d, dirs, names in os.walk(root):
            for n in names:
                files.add(os.path.relpath(os.path.join(d, n), root))
        print("  the jail holds: " + " ".join(sorted(files)))
        want = {"kite", "guest.bin", "disk.img", "dev/kvm", "dev/net/tun", "dev/urandom"}
        libs = {f for f in files - want if re.fullmatch(r"(usr/)?lib[^/]*(/[^/]+)*/[^/]+\.so(\.[0-9]+)*", f)}
        check(want <= files, "the jail has kite, the kernel, the disk and the three device nodes")
        check(files - want - libs == set(), "nothing else but shared libraries (extra: %s)" % sorted(files - want - libs))
        check(any("libc.so" in f for f in libs) and any("ld-linux" in f for f in libs), "libc and the loader are there")
        # kite and its libraries are the host's files bound read-only (shared page cache, not copies)
        host, jailed = os.stat(os.path.abspath(a.kite)), os.stat(root + "/kite")
        check((host.st_dev, host.st_ino) == (jailed.st_dev, jailed.st_ino), "the jail's /kite is the host's kite file")
        ro = {}
        for ln in open("/proc/%d/mountinfo" % pid):
            f = ln.split()
            ro[f[4]] = "ro" in f[5].split(",") and "nosuid" in f[5].split(",")
        check(ro.get("/kite") is True and all(ro.get("/" + f) is True for f in libs),
              "/kite and every library are read-only nosuid mounts in the jail (%s)" %
              sorted(m for m in ["/kite"] + ["/" + f for f in libs] if ro.get(m) is not True))
        libc = root + "/" + sorted(f for f in libs if "libc.so" in f)[0]
        try:
            os.close(os.open(libc, os.O_WRONLY))
            check(False, "writing the jail's libc is refused")
        except OSError as e:
            check(e.errno == errno.EROFS, "writing the jail's libc is refused, EROFS (%s)" % e.strerror)
        # kite's main thread installs its filter once the VM is built: wait for it (bounded)
        wait_for(lambda: status(pid).get("Seccomp") == "2", 30)
        st = status(pid)
        for k in ("CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb"):
            check(st.get(k) == "0000000000000000", "%s is 0 (got %s)" % (k, st.get(k)))
        check(st.get("NoNewPrivs") == "1", "NoNewPrivs: 1")
        check(st.get("Seccomp") == "2", "Seccomp: 2 (kite's own filter inside the jail)")
        check(st.get("Uid", "").split() == [str(UID)] * 4 and st.get("Gid", "").split() == [str(GID)] * 4,
              "uid and gid are %d/%d (got %s / %s)" % (UID, GID, st.get("Uid"), st.get("Gid")))
        check(st.get("Groups", "") == "", "no supplementary groups")
        check(st.get("NSpid", "").split()[-1:] == ["1"], "kite is PID 1 of its own PID namespace (NSpid %s)" % st.get("NSpid"))
        for ns in ("mnt", "pid", "ipc", "uts"):
            check(os.readlink("/proc/%d/ns/%s" % (pid, ns)) != os.readlink("/proc/self/ns/%s" % ns),
                  "kite has its own %s namespace" % ns)
        cg = cgroup_files(pid)
        mem = cg.get("memory", cg.get(""))
        pids = cg.get("pids", cg.get(""))
        print("  cgroups: %s" % cg)
        check(mem and mem.endswith("/kite/" + SPIN_ID), "kite's memory cgroup is <hierarchy>/kite/" + SPIN_ID)
        memval = read(os.path.join(mem, "memory.max")) if os.path.exists(os.path.join(mem, "memory.max")) \
            else read(os.path.join(mem, "memory.limit_in_bytes"))
        check(memval == str(MEM), "memory limit %d in force (got %s)" % (MEM, memval))
        check(read(os.path.join(pids, "pids.max")) == str(PIDS), "pids.max %d in force (got %s)" % (PIDS, read(os.path.join(pids, "pids.max"))))
        check(0 < int(read(os.path.join(pids, "pids.current")) or 0) <= PIDS, "pids.current counts kite's threads")
        cpu = cg.get("cpu", cg.get(""))
        cpuval = read(os.path.join(cpu, "cpu.max")) if os.path.exists(os.path.join(cpu, "cpu.max")) \
            else read(os.path.join(cpu, "cpu.cfs_quota_us")) + " " + read(os.path.join(cpu, "cpu.cfs_period_us"))
        check(cpuval == "200000 100000", "cpu limit 200000/100000 in force (got %s)" % cpuval)
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=60)
        check(rc == 143, "SIGTERM to the jailer ends kite with 143 (got %s)" % rc)
        check(not os.path.exists(mem), "the VM's cgroup is removed afterwards")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        err = p.stderr.read().decode(errors="replace")
        if failures:
            print("--- stderr ---\n" + err)


def run_blk(a, tmp, kernel, disk):
    seed, sector = random.randrange(1, 200), random.randrange(8, 1000)
    wz = sector + 20
    data = os.urandom(1 << 20)
    with open(disk, "wb") as f:
        f.write(data)
    guest = "kite.test=virtio-blk kite.seed=%d kite.blk_sector=%d kite.wz_sector=%d kite.discard_sector=%d" % (
        seed, sector, wz, sector + 40)
    p = subprocess.run(jail_cmd(a, os.path.join(tmp, "jails"), BLK_ID, [kernel, disk],
                                ["--kernel", "/guest.bin", "--blk", "path=/disk.img", "--cmdline", guest]),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    out = p.stdout.decode(errors="replace")
    check(p.returncode == 0, "the jailed virtio-blk guest exits 0 (got %d)" % p.returncode)
    check(re.search(r"^kite-guest: PASS ", out, re.M) is not None, "the guest passes")
    img = open(disk, "rb").read()
    want = bytes((s * 31 + i * 7 + seed) & 0xff for s in range(sector, sector + 8) for i in range(512))
    check(img[sector * 512:(sector + 8) * 512] == want, "the host's disk holds the guest's pattern at sector %d" % sector)
    check(img[wz * 512:(wz + 1) * 512] == bytes(512), "write-zeroes reached the host's disk")
    check(img[:sector * 512] == data[:sector * 512], "bytes before the pattern are untouched")
    if failures:
        print(out + "\n--- stderr ---\n" + p.stderr.decode(errors="replace"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jailer", required=True)
    ap.add_argument("--kite", required=True)
    ap.add_argument("--kernel", required=True)
    a = ap.parse_args()
    if os.geteuid() != 0 or not os.path.exists("/dev/kvm"):
        print("SKIP: needs root and /dev/kvm")
        return 77
    for m in cgroup_mounts():   # empty ones left by an older jailer (before it removed them itself)
        try:
            os.rmdir(os.path.join(m, "kite"))
            print("removed a stale empty cgroup directory %s/kite" % m)
        except OSError:
            pass
    with tempfile.TemporaryDirectory(prefix="kite-jail-") as tmp:
        kernel, disk = os.path.join(tmp, "guest.bin"), os.path.join(tmp, "disk.img")
        with open(a.kernel, "rb") as src, open(kernel, "wb") as dst:
            dst.write(src.read())
        with open(disk, "wb") as f:
            f.truncate(1 << 20)
        os.chmod(kernel, 0o644)
        os.chown(disk, UID, GID)
        run_spin(a, tmp, kernel, disk)
        run_blk(a, tmp, kernel, disk)
    left = [os.path.join(m, "kite", i) for m in cgroup_mounts() for i in (SPIN_ID, BLK_ID)
            if os.path.exists(os.path.join(m, "kite", i))]
    check(left == [], "no cgroup directory of either VM is left (%s)" % left)
    empty = empty_cgroup_dirs("kite")
    check(empty == [], "no empty <hierarchy>/kite cgroup directory is left (%s)" % empty)
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
