# SPDX-License-Identifier: MIT
"""Helpers for the kite-dpu switch tests: start kite-dpu with a switch config, talk to its control
socket, run dpdk-testpmd virtio_user frontends and read their final counters, network namespaces."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lib"))
from dpu_ctl import ctl_request  # noqa: E402
from kite_run import skip  # noqa: E402,F401  (the one skip(); SKIP stays the status)

SKIP = 77


def need(prog):
    if not shutil.which(prog):
        skip(f"{prog} not installed (scripts/deps.sh installs it)")


class Procs:
    """Every process a test starts; all are stopped at the end, whatever happens."""

    def __init__(self):
        self.procs = []

    def add(self, p):
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        deadline = time.time() + 5
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


class Dpu:
    def __init__(self, exe, procs, workdir, switch_cfg, core=1, volumes=None):
        """switch_cfg None: no switch; volumes: block volume objects for the config file."""
        self.dir = workdir
        self.ctl_path = os.path.join(workdir, "ctl.sock")
        cfg = {"cores": [core if os.cpu_count() > core else -1]}
        if switch_cfg is not None:
            cfg["switch"] = switch_cfg
        if volumes:
            cfg["volumes"] = volumes
        cfg_path = os.path.join(workdir, "dpu.json")
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        self.log_path = os.path.join(workdir, "dpu.log")
        self.log = open(self.log_path, "w")
        self.proc = procs.add(subprocess.Popen([exe, "--config", cfg_path, "--control", self.ctl_path],
                                               stdout=self.log, stderr=subprocess.STDOUT))
        deadline = time.time() + 10
        while not os.path.exists(self.ctl_path):
            if self.proc.poll() is not None or time.time() > deadline:
                self.fail("kite-dpu did not come up")
            time.sleep(0.05)
        # the control socket listens before the config is applied: the first answer comes after it
        names = [p["name"] for p in (switch_cfg or {}).get("ports", [])]
        if switch_cfg is not None and sorted(self.ports()) != sorted(names):
            self.fail(f"kite-dpu has ports {sorted(self.ports())}, expected {sorted(names)}")
        vols = sorted(v["name"] for v in volumes or ())
        if vols and sorted(self.ok("list_volumes")["volumes"]) != vols:
            self.fail(f"kite-dpu has volumes {self.ok('list_volumes')['volumes']}, expected {vols}")

    def thread_seccomp(self):
        """{thread name: Seccomp field} of every thread of kite-dpu (/proc/PID/task/*/status)."""
        out = {}
        for tid in os.listdir("/proc/%d/task" % self.proc.pid):
            try:
                st = dict(l.rstrip("\n").split(":\t", 1) for l in open("/proc/%d/task/%s/status" % (self.proc.pid, tid))
                          if ":\t" in l)
            except OSError:
                continue
            out["%s/%s" % (st.get("Name"), tid)] = st.get("Seccomp")
        return out

    def fail(self, why):
        print(f"FAIL: {why}")
        print("---- kite-dpu log ----")
        print(open(self.log_path).read()[-3000:])
        sys.exit(1)

    def ctl(self, cmd, **args):
        return ctl_request(self.ctl_path, dict(args, cmd=cmd))

    def ok(self, cmd, **args):
        r = self.ctl(cmd, **args)
        if not r.get("ok"):
            self.fail(f"control {cmd} {args}: {r}")
        return r

    def ports(self):
        return {p["name"]: p for p in self.ok("switch_stats")["switch"]["ports"]}

    def wait_links(self, names, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            ports = self.ports()
            if all(ports[n]["link_up"] for n in names):
                return
            time.sleep(0.2)
        self.fail(f"frontends did not start the receive queues of {names}: {self.ports()}")


    def wait_for(self, what, cond, timeout=60):
        """Poll the switch counters until cond(ports) holds (the machine may be loaded: no fixed sleeps)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            ports = self.ports()
            if cond(ports):
                return ports
            time.sleep(0.2)
        self.fail(f"timed out waiting for {what}: {self.ports()}")

    def wait_stable(self, timeout=30):
        """Wait until no port counter changes for a second."""
        last, deadline = None, time.time() + timeout
        while time.time() < deadline:
            now = self.ports()
            if now == last:
                return now
            last = now
            time.sleep(1)
        return last


class Testpmd:
    """dpdk-testpmd with net_virtio_user ports (one per socket), as a VM would be."""
    _seq = 0

    def __init__(self, procs, workdir, socks, mode, core=0, extra=(), eal_extra=(), macs=None):
        Testpmd._seq += 1
        tag = f"kswt{os.getpid()}_{Testpmd._seq}"
        self.log_path = os.path.join(workdir, f"testpmd-{Testpmd._seq}-{mode}.log")
        self.log = open(self.log_path, "w")
        vdevs = []
        for i, s in enumerate(socks):
            mac = f",mac={macs[i]}" if macs and macs[i] else ""
            vdevs += ["--vdev", f"net_virtio_user{i},path={s},queues=1{mac}"]
        cmd = ["dpdk-testpmd", f"--lcores=0@{core},1@{core}", "--no-huge", "-m", "512", "--no-pci",
               f"--file-prefix={tag}", *eal_extra, *vdevs, "--", f"--forward-mode={mode}",
               "--stats-period", "1", "--total-num-mbufs=8192", *extra]
        self.proc = procs.add(subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                               stdin=subprocess.DEVNULL))

    def text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def wait_ready(self, timeout=60):
        """Until forwarding runs (the first periodic statistics block is printed)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.check_started()
            if "NIC statistics for port" in self.text():
                return
            time.sleep(0.2)
        raise SystemExit("FAIL: testpmd did not start forwarding in time")

    def check_started(self):
        t = self.text()
        if "Failed to start device" in t or (self.proc.poll() is not None and self.proc.returncode != 0):
            print(t[-3000:])
            raise SystemExit("FAIL: testpmd could not start its virtio_user device")

    def stop(self):
        """SIGINT, wait, return {port: {"rx": n, "tx": n, "rx_bytes": n}} from the final statistics."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return parse_final_stats(self.text())


def parse_final_stats(text):
    """testpmd prints, on exit, per-port blocks of 'RX-packets: N RX-dropped: N RX-total: N' /
    'TX-packets: ...'; the periodic 'NIC statistics' blocks carry RX-bytes. Take the last of each."""
    res = {}
    for m in re.finditer(r"NIC statistics for port (\d+)\s*#+\s*\n\s*RX-packets:\s*(\d+)\s+RX-missed:\s*(\d+)\s+"
                         r"RX-bytes:\s*(\d+).*?\n\s*RX-errors.*?\n.*?\n\s*TX-packets:\s*(\d+)\s+TX-errors:\s*(\d+)\s+"
                         r"TX-bytes:\s*(\d+)", text, re.S):
        port = int(m.group(1))
        res[port] = {"rx": int(m.group(2)), "rx_bytes": int(m.group(4)), "tx": int(m.group(5)),
                     "tx_bytes": int(m.group(7))}
    for m in re.finditer(r"Forward statistics for port (\d+)\s*-+\s*\n\s*RX-packets:\s*(\d+)\s+RX-dropped:\s*(\d+)"
                         r"\s+RX-total:\s*(\d+)\s*\n\s*TX-packets:\s*(\d+)\s+TX-dropped:\s*(\d+)", text):
        port = int(m.group(1))
        d = res.setdefault(port, {})
        d["fwd_rx"] = int(m.group(2))
        d["fwd_tx"] = int(m.group(5))
    return res


def workdir():
    return tempfile.mkdtemp(prefix="kite-swtest-")


def sh(*cmd, check=True, ns=None, **kw):
    if ns:
        cmd = ("ip", "netns", "exec", ns) + tuple(cmd)
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise SystemExit(f"FAIL: {' '.join(cmd)}: {r.stderr.strip()}")
    return r


def linux_guest_initrd(modules, init_text):
    """Everything a QEMU + Debian cloud kernel frontend test needs, or SKIP (77) with the reason:
    root, qemu, dpdk-testpmd, cpio, qboot, the cached kernel (tests/lib/kernel/fetch.sh) and a busybox
    initramfs holding `modules` (paths under the kernel's modules/kernel, without .ko) and /init =
    init_text. Returns (work dir, kernel dir, initrd path)."""
    if os.geteuid() != 0:
        skip("needs root")
    need("qemu-system-x86_64")
    need("dpdk-testpmd")
    need("cpio")
    if not os.path.exists("/usr/share/qemu/qboot.rom"):
        skip("qboot.rom missing")
    cache = os.environ.get("KITE_KERNEL_CACHE", "/var/cache/kite-tests")
    kdir = os.path.join(cache, "kernel-cloud")
    top = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
    if subprocess.run([os.path.join(top, "tests", "lib", "kernel", "fetch.sh"), "cloud", kdir]).returncode:
        skip("cannot obtain the Debian cloud kernel")
    busybox = shutil.which("busybox") or "/bin/busybox"
    if not os.path.exists(busybox):
        skip("busybox-static missing")

    wd = workdir()
    root = os.path.join(wd, "root")
    for d in ("bin", "dev", "proc", "sys", "tmp", "lib/modules"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    shutil.copy(busybox, os.path.join(root, "bin", "busybox"))
    for a in ("sh", "mount", "insmod", "sleep", "cat", "echo", "seq", "ip", "ping", "poweroff"):
        os.symlink("busybox", os.path.join(root, "bin", a))
    for m in modules:
        src = os.path.join(kdir, "modules", "kernel", m + ".ko")
        if not os.path.exists(src):
            skip(f"kernel module {m} not found in {kdir}")
        shutil.copy(src, os.path.join(root, "lib", "modules"))
    with open(os.path.join(root, "init"), "w") as f:
        f.write(init_text)
    os.chmod(os.path.join(root, "init"), 0o755)
    initrd = os.path.join(wd, "initrd.cpio")
    with open(initrd, "wb") as out:
        files = subprocess.run(["find", "."], cwd=root, capture_output=True).stdout
        subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], cwd=root, input=files, stdout=out, check=True)
    return wd, kdir, initrd
