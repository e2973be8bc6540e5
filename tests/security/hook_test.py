#!/usr/bin/env python3
"""A device thread that calls execve dies by SIGSYS, and the log names the call (tests/security).

usage: hook_test.py --kite KITE --dpu KITE_DPU --kernel GUEST {kite,dpu} LEVEL

Needs a -Dtest_hooks=true build. kite: the test guest's exec-hook mode writes kite's test-only port
and kite's device thread calls execve("/bin/echo"). kite-dpu: the control command test_execve makes
poller 0 call it. With LEVEL 1 or 2 the process must end by SIGSYS with one stderr line naming the
thread kind and "59 (execve)"; with LEVEL 0 the execve must happen (/bin/echo's line on stdout,
exit 0), which shows that the hook really reaches execve.
"""
import argparse, json, os, signal, socket, subprocess, sys, tempfile, time


def wait_path(path, proc, limit=30):
    end = time.monotonic() + limit
    while time.monotonic() < end and proc.poll() is None:
        if os.path.exists(path):
            return True
        time.sleep(0.05)
    return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kite", required=True)
    ap.add_argument("--dpu", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("program", choices=["kite", "dpu"])
    ap.add_argument("level", choices=["0", "1", "2"])
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="kite-hook-") as tmp:
        if a.program == "kite":
            if not os.access("/dev/kvm", os.R_OK | os.W_OK):
                print("SKIP: /dev/kvm not usable")
                return 77
            con = os.path.join(tmp, "con.txt")
            cmd = [a.kite, "--seccomp-level", a.level, "--kernel", a.kernel, "--cmdline", "kite.test=exec-hook",
                   "--console", "file:" + con]
            print("run: " + " ".join(cmd))
            p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            kind, echo = "vmm", "kite-test-hook: execve ran"
        else:
            ctl = os.path.join(tmp, "ctl.sock")
            cmd = [a.dpu, "--seccomp-level", a.level, "--control", ctl]
            print("run: " + " ".join(cmd))
            p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            if not wait_path(ctl, p):
                p.kill()
                print("FAIL: kite-dpu's control socket did not appear\n" + p.communicate()[1].decode())
                return 1
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(ctl)
            s.sendall(json.dumps({"cmd": "test_execve"}).encode() + b"\n")
            kind, echo = "poller", "kite-dpu-test-hook: execve ran"
        try:
            out, err = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        out, err = out.decode(errors="replace"), err.decode(errors="replace")
        print("--- stdout ---\n" + out + "--- stderr ---\n" + err + "--- status %s ---" % p.returncode)
        ok = True
        if a.level == "0":
            ok &= p.returncode == 0 and echo in out
            ok &= "forbidden syscall" not in err
        else:
            ok &= p.returncode == -signal.SIGSYS
            ok &= ("seccomp: %s thread made forbidden syscall 59 (execve)" % kind) in err
            ok &= echo not in out
        print("PASS" if ok else "FAIL")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
