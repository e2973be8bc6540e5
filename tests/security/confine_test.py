#!/usr/bin/env python3
"""kite-dpu confines images and sockets to --image-dir/--socket-dir; sockets are 0600; a user
without /dev/kvm gets one line from kite (tests/security).

usage: confine_test.py --dpu KITE_DPU --kite KITE --kernel GUEST

kite-dpu runs with --image-dir IMG --socket-dir SOCK. add_volume must be refused, with one log line
naming the path, for: an image outside IMG (/etc/shadow's stand-in: a file beside IMG), an image
with "..", a symlink in IMG pointing out of it, a socket outside SOCK, a socket with "..", a socket
in a symlinked directory that points out of SOCK; port_add (vhost) with a socket outside SOCK too.
A volume inside both directories is accepted, its socket and the control socket have mode 0600, and
a symlink inside IMG to a file inside IMG is accepted. Then kite run as nobody (setpriv) with
/dev/kvm closed to it exits 1 with exactly one stderr line naming /dev/kvm and the permission.
"""
import argparse, os, shutil, stat, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from dpu_ctl import ctl_request as ctl  # noqa: E402

failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dpu", required=True)
    ap.add_argument("--kite", required=True)
    ap.add_argument("--kernel", required=True)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="kite-confine-") as tmp:
        img, sock, out = (os.path.join(tmp, d) for d in ("images", "sockets", "outside"))
        for d in (img, sock, out):
            os.mkdir(d)
        for f in (os.path.join(img, "ok.img"), os.path.join(out, "secret.img")):
            with open(f, "wb") as fh:
                fh.truncate(1 << 20)
        os.symlink(os.path.join(out, "secret.img"), os.path.join(img, "escape.img"))
        os.symlink("ok.img", os.path.join(img, "alias.img"))
        os.symlink(out, os.path.join(sock, "outdir"))
        control = os.path.join(tmp, "ctl.sock")
        log = open(os.path.join(tmp, "dpu.log"), "w+")
        p = subprocess.Popen([a.dpu, "--control", control, "--image-dir", img, "--socket-dir", sock], stderr=log)
        try:
            end = time.monotonic() + 30
            while not os.path.exists(control) and p.poll() is None and time.monotonic() < end:
                time.sleep(0.05)
            check(os.path.exists(control), "kite-dpu's control socket appeared")
            if not os.path.exists(control):
                return 1
            check(stat.S_IMODE(os.stat(control).st_mode) == 0o600, "the control socket has mode 0600 (got %o)" %
                  stat.S_IMODE(os.stat(control).st_mode))
            good_sock = os.path.join(sock, "v.sock")
            refused = [
                ("image outside --image-dir", os.path.join(out, "secret.img"), good_sock),
                ("image /etc/shadow", "/etc/shadow", good_sock),
                ("image with ..", os.path.join(img, "..", "outside", "secret.img"), good_sock),
                ("image symlink out of the dir", os.path.join(img, "escape.img"), good_sock),
                ("socket outside --socket-dir", os.path.join(img, "ok.img"), os.path.join(out, "v.sock")),
                ("socket with ..", os.path.join(img, "ok.img"), os.path.join(sock, "..", "outside", "v.sock")),
                ("socket in a symlinked dir pointing out", os.path.join(img, "ok.img"), os.path.join(sock, "outdir", "v.sock")),
            ]
            for i, (what, image, s) in enumerate(refused):
                before = open(log.name).read().count("\n")
                r = ctl(control, {"cmd": "add_volume", "name": "bad%d" % i, "image": image, "socket": s})
                lines = open(log.name).read().splitlines()[before:]
                named = [l for l in lines if (image if "image" in what else s) in l]
                check(r.get("ok") is False and ("--image-dir" in r.get("error", "") or "--socket-dir" in r.get("error", "")),
                      "%s refused: %s" % (what, r.get("error")))
                check(len(named) == 1, "one log line names the refused path (%s)" % named)
            check(not os.path.exists(os.path.join(out, "v.sock")), "no socket was created outside --socket-dir")
            r = ctl(control, {"cmd": "port_add", "name": "p0", "type": "vhost", "socket": os.path.join(out, "p.sock")})
            check(r.get("ok") is False and "--socket-dir" in r.get("error", ""), "port_add with a socket outside refused: %s" % r)
            r = ctl(control, {"cmd": "add_volume", "name": "good", "image": os.path.join(img, "ok.img"), "socket": good_sock})
            check(r.get("ok") is True, "a volume inside both directories is accepted (%s)" % r)
            check(os.path.exists(good_sock) and stat.S_IMODE(os.stat(good_sock).st_mode) == 0o600,
                  "its vhost-user socket exists with mode 0600")
            r = ctl(control, {"cmd": "add_volume", "name": "alias", "image": os.path.join(img, "alias.img"),
                              "socket": os.path.join(sock, "a.sock")})
            check(r.get("ok") is True, "a symlink inside --image-dir to a file inside is accepted (%s)" % r)
        finally:
            p.terminate()
            p.wait(timeout=30)
            if failures:
                print("--- kite-dpu log ---\n" + open(log.name).read())
        # a user without access to /dev/kvm
        if shutil.which("setpriv") and os.geteuid() == 0 and os.path.exists("/dev/kvm"):
            kvm = os.stat("/dev/kvm")
            if kvm.st_mode & 0o006:
                print("SKIP part: /dev/kvm is open to everyone here")
            else:
                r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", a.kite,
                                    "--kernel", a.kernel, "--cmdline", "kite.test=spin"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
                err = r.stderr.decode(errors="replace").splitlines()
                print("  kite as nobody: rc %d, stderr %s" % (r.returncode, err))
                check(r.returncode == 1, "kite as nobody exits 1")
                check(len(err) == 1 and "/dev/kvm" in err[0] and "permission denied" in err[0],
                      "exactly one line naming /dev/kvm and the missing permission")
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
