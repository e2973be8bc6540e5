#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kite --console socket:PATH with the test guest's serial_echo (tests/vmm, and tests/security jailed).

usage: console_sock_test.py --kite KITE --kernel GUEST [--api] [--jailer JAILER]

Runs kite with its serial console on a Unix socket and the guest's `serial_echo` test (every line
received comes back as "serial_echo: got 'LINE'", "quit" ends it), started from the command line,
through the HTTP API (--api: --api-sock, boot source and InstanceStart by curl) or under kite-jailer
(--jailer, as root: the socket inside the jail, reached through /proc/PID/root). Then:
  1. client A attaches: it gets the guest's boot lines from the first one (the banner), live or
     replayed from the ring; it sends "hello" and gets the echo: input reaches the UART.
  2. client B attaches while A is there: one line "console busy", then end of file.
  3. A shuts down its reading side, sends "late" and closes: the echo of "late" cannot go to A, so
     it is kept in the ring; client C attaches afterwards and gets it first: output made with no
     client attached is replayed to the next one.
  4. C sends "quit": the guest passes, kite exits 0 and removes the socket file.
"""
import argparse
import os
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from api_client import curl  # noqa: E402
from checks import check, end, failures, need_kvm, verdict, wait_for  # noqa: E402

class Client:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(60)
        self.s.connect(path)
        self.buf = b""

    def until(self, needle):
        """Reads until `needle` arrived (or EOF / 60 s without a byte); True if it did."""
        while needle not in self.buf:
            try:
                d = self.s.recv(4096)
            except socket.timeout:
                return False
            if not d:
                return False
            self.buf += d
        return True

    def rest(self):
        """Everything until EOF."""
        while True:
            try:
                d = self.s.recv(4096)
            except socket.timeout:
                return self.buf
            if not d:
                return self.buf
            self.buf += d

    def send(self, b):
        self.s.sendall(b)

    def close(self):
        self.s.close()


def start(a, tmp):
    """(Popen, host path of the console socket)."""
    guest = "kite.test=serial_echo"
    if a.jailer:
        vm_id = "con-%d" % os.getpid()
        base = os.path.join(tmp, "jails")
        cmd = [a.jailer, "--id", vm_id, "--exec-file", os.path.abspath(a.kite), "--uid", "4321", "--gid", "4321",
               "--chroot-base", base, "--file", a.kernel, "--",
               "--kernel", "/" + os.path.basename(a.kernel), "--cmdline", guest, "--console", "socket:/console.sock"]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        pidfile = os.path.join(base, "kite", vm_id, "kite.pid")
        if not check(wait_for(lambda: os.path.exists(pidfile) and open(pidfile).read().endswith("\n")),
                     "the jailer wrote kite's PID file"):
            return p, None
        return p, "/proc/%d/root/console.sock" % int(open(pidfile).read())
    path = os.path.join(tmp, "console.sock")
    if a.api:
        api = os.path.join(tmp, "api.sock")
        p = subprocess.Popen([a.kite, "--api-sock", api, "--console", "socket:" + path],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        check(wait_for(lambda: os.path.exists(api)), "the API socket appears")
        st, _ = curl(api, "PUT", "/boot-source", {"kernel_image_path": a.kernel, "boot_args": guest})
        check(st == 204, "PUT /boot-source (got %d)" % st)
        check(not os.path.exists(path), "no console socket before InstanceStart (the board makes it)")
        st, _ = curl(api, "PUT", "/actions", {"action_type": "InstanceStart"})
        check(st == 204, "InstanceStart (got %d)" % st)
        return p, path
    p = subprocess.Popen([a.kite, "--kernel", a.kernel, "--cmdline", guest, "--console", "socket:" + path],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return p, path


def run(a, tmp):
    p, path = start(a, tmp)
    try:
        if path is None:
            return
        if not check(wait_for(lambda: os.path.exists(path) or p.poll() is not None), "the console socket appears"):
            return
        # 1. boot lines and input
        ca = Client(path)
        check(ca.until(b"serial_echo: ready"), "client A gets the guest's lines up to 'serial_echo: ready'")
        check(ca.buf.startswith(b"kite-guest: "), "... from the first boot line on (got %r)" % ca.buf[:40])
        ca.send(b"hello\n")
        check(ca.until(b"serial_echo: got 'hello'\n"), "input from A reaches the guest and the echo comes back")
        # 2. one client at a time
        cb = Client(path)
        check(cb.rest() == b"console busy\n", "a second client gets 'console busy' and EOF (got %r)" % cb.buf)
        cb.close()
        # 3. output with no (reading) client attached waits in the ring
        ca.s.shutdown(socket.SHUT_RD)
        ca.send(b"late\n")
        ca.close()
        cc = Client(path)
        check(cc.until(b"serial_echo: got 'late'\n"), "the next client gets the output made after A left")
        check(cc.buf.startswith(b"serial_echo: got 'late'"), "... first, replayed (got %r)" % cc.buf[:60])
        check(b"hello" not in cc.buf and b"kite-guest: " not in cc.buf,
              "what A already received is not replayed again")
        # 4. the end
        cc.send(b"quit\n")
        out = cc.rest()
        check(b"kite-guest: PASS serial_echo" in out, "'quit' ends the guest's test with PASS")
        cc.close()
        rc = p.wait(timeout=60)
        check(rc == 0, "kite exits 0 (got %d)" % rc)
        if not a.jailer:
            check(not os.path.exists(path), "kite removed its console socket")
    finally:
        end(p, "kite")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kite", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--api", action="store_true")
    ap.add_argument("--jailer")
    a = ap.parse_args()
    need_kvm()
    if a.jailer and os.geteuid() != 0:
        print("SKIP: the jailer needs root")
        return 77
    a.kernel = os.path.abspath(a.kernel)
    with tempfile.TemporaryDirectory() as tmp:
        if a.jailer:
            os.chmod(tmp, 0o755)
        run(a, tmp)
    return verdict()


if __name__ == "__main__":
    sys.exit(main())
