# SPDX-License-Identifier: MIT
"""What the kited tests (suite_test.py) and the kited benchmark (bench/kited/) share: a kited started
in a private directory (state dir, API socket), its HTTP API over the Unix socket, kitectl, the
serial console of a VM through its console socket, kite-dpu's control socket, and the processes
that belong to one kited (found by the private directory in their command line, signalled by pid).

Waits are bounded polls (a broken run must not hang the suite), never timing assertions."""
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from dpu_ctl import ctl_request  # noqa: E402  (kite-dpu's control socket, one JSON line each way)
from core_test import call, procs_under, start_time  # noqa: E402  (HTTP on a Unix socket, /proc)

WAIT = 120          # bound of every poll: only keeps a broken run from hanging


class Fail(Exception):
    pass


def check(ok, why):
    if not ok:
        raise Fail(why)


def wait_for(what, cond, bound=WAIT, every=0.05):
    """Poll cond() until it gives something true; Fail naming `what` when the bound passes."""
    end = time.monotonic() + bound
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            raise Fail("gave up waiting (%d s) for %s" % (bound, what))
        time.sleep(every)


# ---- processes ----

def alive(pid, start):
    """The same process still exists (pid and start time) and is not a zombie."""
    return start is not None and start_time(pid) == start


def argv_of(pid):
    try:
        return open("/proc/%d/cmdline" % pid, "rb").read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "(gone)"


def fds_to(pid, target):
    """How many of the process's fds point at `target` (e.g. /dev/net/tun)."""
    n = 0
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == target:
                    n += 1
            except OSError:
                pass
    except OSError:
        pass
    return n


def sockets_under(top):
    """Every Unix socket file below `top` (relative paths)."""
    out = []
    for d, _, files in os.walk(top):
        for f in files:
            p = os.path.join(d, f)
            try:
                if stat.S_ISSOCK(os.lstat(p).st_mode):
                    out.append(os.path.relpath(p, top))
            except OSError:
                pass
    return sorted(out)


# ---- HTTP over a Unix socket ----

def http_unix(sock, method, path, body=None, raw=None):
    """(status, parsed JSON | text | None): tests/kited/core_test.py's client of a Unix socket."""
    return call(sock, method, path, body, raw)


def dpu_ctl(ctl, cmd, **args):
    return ctl_request(ctl, dict(args, cmd=cmd))


# ---- the serial console of a VM (kite --console socket:PATH) ----

class Console:
    """Everything a VM's console socket says, gathered by a thread. attach() waits for the socket
    (it exists while the VM's kite runs); kite keeps what the guest printed before a client came
    (docs/vmm.md), so a late attach still sees the boot lines."""

    def __init__(self, path, what):
        self.path, self.what = path, what
        self.buf = b""
        self.lock = threading.Lock()
        self.attached = threading.Event()
        self.closed = threading.Event()
        self.error = None
        self.sock = None

    def attach(self, bound=WAIT):
        """Start the reader thread: it connects as soon as the socket answers."""
        threading.Thread(target=self._run, args=(bound,), daemon=True).start()
        return self

    def _run(self, bound):
        end = time.monotonic() + bound
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.path)
                break
            except OSError as e:
                s.close()
                if time.monotonic() > end:
                    self.error = "%s: cannot connect to %s: %s" % (self.what, self.path, e.strerror)
                    self.closed.set()
                    return
                time.sleep(0.002)
        self.sock = s
        self.attached.set()
        while True:
            try:
                chunk = s.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            with self.lock:
                self.buf += chunk
        s.close()
        self.closed.set()

    def text(self):
        with self.lock:
            return self.buf.decode(errors="replace").replace("\r\n", "\n")

    def wait(self, regex, bound=WAIT):
        """The first match of regex (multi-line) in what the console said; Fail if the console closes
        or the bound passes without it."""
        pat = re.compile(regex, re.M)
        end = time.monotonic() + bound
        while True:
            m = pat.search(self.text())
            if m:
                return m
            if self.closed.is_set():
                m = pat.search(self.text())
                if m:
                    return m
                raise Fail("%s: the console closed without a line matching %r%s\n--- console ---\n%s" %
                           (self.what, regex, " (" + self.error + ")" if self.error else "", self.text()[-2000:]))
            if time.monotonic() > end:
                raise Fail("%s: no console line matching %r in %d s\n--- console ---\n%s" %
                           (self.what, regex, bound, self.text()[-2000:]))
            time.sleep(0.05)

    def close(self):
        if self.sock:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


# ---- kited ----

class Kited:
    """A kited of its own: state dir DIR/state, API socket DIR/kited.sock, stderr DIR/kited.log."""

    def __init__(self, a, prefix="kite-kited-"):
        for k in ("kited", "kitectl", "kite", "dpu", "jailer", "kernel"):
            if getattr(a, k, None):
                setattr(a, k, os.path.abspath(getattr(a, k)))
        self.a = a
        self.dir = tempfile.mkdtemp(prefix=prefix)
        self.state = os.path.join(self.dir, "state")
        self.sock = os.path.join(self.dir, "kited.sock")
        self.log_path = os.path.join(self.dir, "kited.log")
        self.proc = None
        self.dpu_exe = a.dpu        # the kite-dpu kited starts (a test may put a fake in its place)
        self.consoles = []
        self.taps = []              # TAP devices a test asked for (deleted at the end if left)

    # -- the daemon --
    def cmd(self):
        c = [self.a.kited, "--sock", self.sock, "--state-dir", self.state, "--kite", self.a.kite,
             "--kite-dpu", self.dpu_exe, "--jail", self.a.jail]
        if getattr(self.a, "jailer", None):
            c += ["--jailer", self.a.jailer]
        return c

    def start(self):
        check(os.access(self.a.kited, os.X_OK), "kited is not built: %s" % self.a.kited)
        log = open(self.log_path, "a")
        print("$ " + " ".join(self.cmd()))
        self.proc = subprocess.Popen(self.cmd(), stdin=subprocess.DEVNULL, stdout=log, stderr=log)

        def up():
            if self.proc.poll() is not None:
                raise Fail("kited exited with status %s at start\n%s" % (self.proc.returncode, self.log()))
            try:
                return self.req("GET", "/host")[0] == 200
            except OSError:
                return False
        wait_for("kited's API at " + self.sock, up)
        return self

    def terminate(self):
        """SIGTERM; kited's exit status (VMs and kite-dpu keep running)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(WAIT)
        except subprocess.TimeoutExpired:
            raise Fail("kited did not exit within %d s of SIGTERM" % WAIT)

    def stop(self):
        """SIGTERM; kited must exit 0 (VMs and kite-dpu keep running)."""
        rc = self.terminate()
        check(rc == 0, "kited exited with status %s after SIGTERM, expected 0\n%s" % (rc, self.log()))

    def log(self):
        return open(self.log_path, errors="replace").read()[-4000:] if os.path.exists(self.log_path) else ""

    # -- its API --
    def req(self, method, path, body=None, raw=None):
        return http_unix(self.sock, method, path, body, raw)

    def ok(self, method, path, body=None, want=(200, 201, 204)):
        st, r = self.req(method, path, body)
        check(st in want, "%s %s: HTTP %d, expected %s: %s" % (method, path, st, "/".join(map(str, want)), r))
        return r

    def vms(self):
        return self.ok("GET", "/vms")

    def vm(self, name):
        return self.ok("GET", "/vms/" + name)

    def create(self, name, cmdline, disk_mib=4, net=None, mem=32, start=True, **extra):
        body = {"name": name, "kernel": self.a.kernel, "cmdline": cmdline, "memory_mib": mem, "cpus": 1,
                "start": start}
        if disk_mib:
            body["disk"] = {"size_mib": disk_mib}
        body.update(extra)
        if net is not None:
            body["net"] = net
        st, r = self.req("POST", "/vms", body)
        check(st == 201, "POST /vms %s: HTTP %d, expected 201: %s\n--- kited ---\n%s" % (name, st, r, self.log()))
        return r

    def wait_state(self, name, states, bound=WAIT):
        states = (states,) if isinstance(states, str) else states
        return wait_for("VM %s to be %s" % (name, "/".join(states)),
                        lambda: (lambda v: v if v["state"] in states else None)(self.vm(name)), bound)

    def console(self, name, path=None):
        c = Console(path or self.console_path(name), "VM " + name).attach()
        self.consoles.append(c)
        return c

    def console_path(self, name):
        """Where the contract (docs/kited.md, state directory) puts a VM's console socket."""
        return os.path.join(self.state, "vms", name, "run", "console.sock")

    def dpu(self):
        return self.ok("GET", "/dpu")

    def ctl(self, cmd, **args):
        """kite-dpu's own control socket (DIR/dpu/ctl.sock), not through kited."""
        r = dpu_ctl(os.path.join(self.state, "dpu", "ctl.sock"), cmd, **args)
        check(r.get("ok"), "kite-dpu control %s: %s" % (cmd, r))
        return r

    def dpu_port_names(self):
        return sorted(p["name"] for p in self.ctl("switch_stats")["switch"]["ports"])

    def dpu_volume_names(self):
        return sorted(self.ctl("list_volumes")["volumes"])

    # -- kitectl --
    def kitectl(self, *args):
        """(exit status, stdout, stderr) of kitectl --sock SOCK ARGS."""
        check(os.access(self.a.kitectl, os.X_OK), "kitectl is not built: %s" % self.a.kitectl)
        p = subprocess.run([self.a.kitectl, "--sock", self.sock, *args], capture_output=True, text=True,
                           timeout=WAIT, stdin=subprocess.DEVNULL)
        return p.returncode, p.stdout, p.stderr

    def kitectl_json(self, *args):
        rc, out, err = self.kitectl("--json", *args)
        check(rc == 0, "kitectl --json %s: status %d: %s" % (" ".join(args), rc, err.strip()))
        try:
            return json.loads(out)
        except ValueError:
            raise Fail("kitectl --json %s printed no JSON: %r" % (" ".join(args), out[:300]))

    # -- the end --
    def mine(self):
        """{pid: command line} of the processes of this kited's world (kited, kite-dpu, kites, jailers)."""
        return {p: argv_of(p) for p in procs_under(self.dir)}

    def kill_all(self):
        """Whatever is left (a failed run): SIGKILL by pid to every process of this world."""
        for c in self.consoles:
            c.close()
        for pid in self.mine():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
        if self.proc:
            self.proc.wait()
        wait_for("the processes of %s to end" % self.dir, lambda: not self.mine(), 30)
        for t in self.taps:
            if os.path.exists("/sys/class/net/" + t):
                subprocess.run(["ip", "link", "del", t], capture_output=True)

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def vm_logs(kd):
    """kited's log and every VM's kite.log (for a failure report)."""
    out = ["--- kited.log ---\n" + kd.log()]
    vms = os.path.join(kd.state, "vms")
    for n in sorted(os.listdir(vms)) if os.path.isdir(vms) else []:
        p = os.path.join(vms, n, "kite.log")
        if os.path.exists(p):
            out.append("--- %s/kite.log ---\n%s" % (n, open(p, errors="replace").read()[-1500:]))
    return "\n".join(out)


def run_scenario(a, name, fn):
    """A kited of its own for fn(kd): started, fn run, then every process of its world killed and its
    directory removed. 0 pass, 1 fail (the failure and the logs printed)."""
    kd = Kited(a)
    t0 = time.monotonic()
    try:
        kd.start()
        fn(kd)
    except (Fail, OSError, ValueError, KeyError, subprocess.SubprocessError) as e:
        print("FAIL: %s: %s%s" % (name, type(e).__name__ + ": " if not isinstance(e, Fail) else "", e))
        print(vm_logs(kd))
        return 1
    finally:
        kd.kill_all()
        kd.remove()
        print("%s took %.1f s" % (name, time.monotonic() - t0))
    return 0


def common_args(ap):
    ap.add_argument("--kited", required=True)
    ap.add_argument("--kitectl", required=True)
    ap.add_argument("--kite", required=True)
    ap.add_argument("--dpu", required=True)
    ap.add_argument("--jailer")
    ap.add_argument("--kernel", required=True)
    # kited's own default: kites under kite-jailer when root
    ap.add_argument("--jail", default="on" if os.geteuid() == 0 else "off", choices=("on", "off"))
