#!/usr/bin/env python3
"""Every thread of a running kite and kite-dpu is under a seccomp filter (tests/security).

usage: status_test.py --kite KITE --dpu KITE_DPU --kernel GUEST

Starts kite-dpu (one volume, control socket) and three kites running the test guest's `spin` mode:
one with kite's own virtio devices (blk, rng, balloon, console) plus a vhost-user-blk disk served by
that kite-dpu; one driven by the HTTP API (--api-sock with a --config-file); one with
--seccomp-level 0. Then reads /proc/PID/task/*/status: in the first two and in kite-dpu every thread
shows "Seccomp: 2" (filter) and "NoNewPrivs: 1", and the threads expected to exist do (vCPU,
vhost-user device, the virtio-blk I/O thread, API server, pollers); the --seccomp-level 0 kite shows "Seccomp: 0", so the
check can tell the two apart. kite's virtio-blk io_uring ring has exactly its image as its one
registered file (/proc/PID/fdinfo: set up confined, docs/security.md). SIGTERM then ends each cleanly (kite 143, kite-dpu 0): shutdown paths
run under the filters too.
"""
import argparse, json, os, re, signal, subprocess, sys, tempfile, time

failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def wait_for(pred, what, limit=60):
    """Polls pred() until true; a bounded wait, not a timing assertion."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.1)
    print("gave up waiting for " + what)
    return False


def threads(pid):
    out = {}
    for tid in sorted(os.listdir("/proc/%d/task" % pid)):
        st = {}
        try:
            for line in open("/proc/%d/task/%s/status" % (pid, tid)):
                k, _, v = line.partition(":")
                st[k] = v.strip()
        except OSError:
            continue   # ended meanwhile
        out[tid] = st
    return out


def check_filtered(name, pid, want_names, level="2"):
    ts = threads(pid)
    for tid, st in ts.items():
        print("  %s thread %s %-16s Seccomp: %s NoNewPrivs: %s" % (name, tid, st.get("Name"), st.get("Seccomp"),
                                                                 st.get("NoNewPrivs")))
    names = [st.get("Name", "") for st in ts.values()]
    for w in want_names:
        check(any(n.startswith(w) for n in names), "%s has a thread named %s*" % (name, w))
    check(len(ts) > 0 and all(st.get("Seccomp") == level for st in ts.values()),
          "%s: every thread shows Seccomp: %s" % (name, level))
    if level == "2":
        check(all(st.get("NoNewPrivs") == "1" for st in ts.values()), "%s: every thread shows NoNewPrivs: 1" % name)


def uring_files(pid):
    """{fd: [the ring's registered files]} for every io_uring fd of the process (/proc/PID/fdinfo)."""
    out = {}
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)) != "anon_inode:[io_uring]":
                continue
            info = open("/proc/%d/fdinfo/%s" % (pid, fd)).read()
        except OSError:
            continue
        m = re.search(r"^UserFiles:\s*(\d+)\n((?:\s+\d+: .*\n)*)", info, re.M)
        out[fd] = [l.split(": ", 1)[1] for l in m.group(2).splitlines()] if m else None
    return out


def stop(p, name, want):
    p.send_signal(signal.SIGTERM)
    try:
        st = p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        st = p.wait()
    err = p.stderr.read().decode(errors="replace") if p.stderr else ""
    check(st == want, "%s ended with status %s after SIGTERM (got %s)" % (name, want, st))
    if st != want or "seccomp" in err:
        print("--- %s stderr ---\n%s" % (name, err))
    check("forbidden syscall" not in err, "%s logged no forbidden syscall" % name)


def spinning(con):
    return lambda: os.path.exists(con) and "spin" in open(con, errors="replace").read()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kite", required=True)
    ap.add_argument("--dpu", required=True)
    ap.add_argument("--kernel", required=True)
    a = ap.parse_args()
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("SKIP: /dev/kvm not usable")
        return 77
    with tempfile.TemporaryDirectory(prefix="kite-sec-") as tmp:
        disk, vol = os.path.join(tmp, "disk.img"), os.path.join(tmp, "vol.img")
        for f in (disk, vol):
            with open(f, "wb") as fh:
                fh.truncate(1 << 20)
        vsock, ctl = os.path.join(tmp, "vol.sock"), os.path.join(tmp, "ctl.sock")
        cfg = os.path.join(tmp, "dpu.json")
        with open(cfg, "w") as f:
            json.dump({"cores": [-1], "control": ctl, "volumes": [{"name": "vol0", "image": vol, "socket": vsock}]}, f)
        dpu = subprocess.Popen([a.dpu, "--config", cfg], stderr=subprocess.PIPE)
        procs = [(dpu, "kite-dpu", 0)]
        try:
            if not wait_for(lambda: os.path.exists(vsock) and os.path.exists(ctl), "kite-dpu's sockets"):
                check(False, "kite-dpu started")
                return 1
            con = os.path.join(tmp, "con1.txt")
            k1 = subprocess.Popen([a.kite, "--kernel", a.kernel, "--cmdline", "kite.test=spin", "--console", "file:" + con,
                                   "--blk", "path=" + disk, "--rng", "--balloon", "--console-virtio", "file:" + os.path.join(tmp, "hvc0.txt"),
                                   "--vhost-user-blk", "socket=" + vsock], stderr=subprocess.PIPE)
            procs.append((k1, "kite (devices)", 143))
            fc = {"boot-source": {"kernel_image_path": a.kernel, "boot_args": "kite.test=spin"},
                  "drives": [{"drive_id": "root", "path_on_host": disk + ".2", "is_root_device": False,
                              "is_read_only": False}],
                  "machine-config": {"vcpu_count": 2, "mem_size_mib": 64}}
            with open(disk + ".2", "wb") as fh:
                fh.truncate(1 << 20)
            fcfile = os.path.join(tmp, "vm.json")
            with open(fcfile, "w") as f:
                json.dump(fc, f)
            con2 = os.path.join(tmp, "con2.txt")
            k2 = subprocess.Popen([a.kite, "--api-sock", os.path.join(tmp, "api.sock"), "--config-file", fcfile,
                                   "--console", "file:" + con2], stderr=subprocess.PIPE)
            procs.append((k2, "kite (API)", 143))
            con3 = os.path.join(tmp, "con3.txt")
            k3 = subprocess.Popen([a.kite, "--seccomp-level", "0", "--kernel", a.kernel, "--cmdline", "kite.test=spin",
                                   "--console", "file:" + con3], stderr=subprocess.PIPE)
            procs.append((k3, "kite (--seccomp-level 0)", 143))
            ok = all([wait_for(spinning(c), "the guest of " + c) for c in (con, con2, con3)])
            check(ok, "the three guests run")
            if ok:
                check_filtered("kite (devices)", k1.pid, ["kite", "kite-vcpu0", "vu-blk0", "io:virtio-blk0"])
                check_filtered("kite (API)", k2.pid, ["kite", "kite-vcpu0", "kite-vcpu1", "MHD", "io:virtio-blk0"])
                check_filtered("kite-dpu", dpu.pid, ["kite-dpu", "dpu-poll"])
                check_filtered("kite (--seccomp-level 0)", k3.pid, ["kite", "kite-vcpu0"], level="0")
                # io_uring: kite's virtio-blk ring has exactly its image registered (it was set up
                # through common/uring_restrict.c: fixed file only, restricted opcodes)
                rings = uring_files(k1.pid)
                print("  kite (devices) io_uring rings: %s" % rings)
                check(len(rings) >= 1 and all(f == [disk] for f in rings.values()),
                      "kite's io_uring ring(s) hold exactly the disk image as their one fixed file")
        finally:
            for p, name, want in reversed(procs):
                stop(p, name, want)
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
