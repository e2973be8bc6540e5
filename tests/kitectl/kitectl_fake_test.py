#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kitectl against a fake kited (tests/kitectl, suite 'kitectl').

usage: kitectl_fake_test.py --kitectl KITECTL --completion scripts/kitectl.bash

A small HTTP server on a Unix socket (Python's http.server) stands in for kited: it records every
request (method, path, JSON body) and answers with canned replies. Every kitectl command is run and
checked for the request it makes (method, path, body), its human output, its --json output, its
exit status (0, 1 with one stderr line "kitectl: <the API's error>", 2 for usage errors, with no
request made), and `vm console` against a fake console socket (boot line, input, Ctrl-] detach,
end of input, "console busy"). The bash completion script is run with made-up command lines.
"""
import argparse
import json
import os
import pty
import socket
import socketserver
import subprocess
import sys
import tempfile
import termios
import threading
from http.server import BaseHTTPRequestHandler

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checks import check, read_until, verdict  # noqa: E402

VM1 = {"name": "web1", "state": "running", "pid": 4242, "started_at": 1764650000, "cpus": 1, "memory_mib": 128,
       "kernel": "/srv/guest.bzImage", "initrd": None, "cmdline": "kite.test=idle", "jailed": False,
       "api_sock": "/s/vms/web1/run/api.sock", "console_sock": None,
       "devices": [{"type": "block", "volume": "web1-disk", "socket": "/s/dpu/sockets/vol-web1-disk.sock",
                    "size_mib": 64, "ephemeral": False, "owned": True},
                   {"type": "net", "port": "web1", "mac": "52:54:00:00:00:01", "vlan": 0,
                    "socket": "/s/dpu/sockets/port-web1.sock"}],
       "last_exit": None, "error": None}
VM2 = {"name": "db", "state": "stopped", "pid": 0, "cpus": 2, "memory_mib": 1024, "kernel": "/k",
       "devices": [{"type": "block", "volume": "dbvol", "owned": False}], "last_exit": {"signal": 9}, "error": None}
PORTS = [{"name": "web1", "type": "vhost", "socket": "/s/dpu/sockets/port-web1.sock", "vlan": 1, "mtu": 1500,
          "rate_pps": 0, "rate_bps": 0, "acl_in": [], "acl_out": [], "vm": "web1"},
         {"name": "up0", "type": "tap", "tap": "tap0", "vlan": 3, "mtu": 9000, "rate_pps": 1000, "rate_bps": 0,
          "acl_in": ["deny proto icmp"], "acl_out": [], "vm": None}]
VOLUMES = [{"name": "web1-disk", "size_mib": 64, "readonly": False, "iops": 0, "bps": 0, "vm": "web1"},
           {"name": "dbvol", "size_mib": 2048, "readonly": True, "iops": 100, "bps": 0, "vm": None}]
HOST = {"cores": 2, "cpus_online": 2, "memory_mib": 7900, "hugepages": {"size_kib": 2048, "total": 0, "free": 0},
        "kvm": {"path": "/dev/kvm", "available": True, "api_version": 12}}


class Fake:
    """What the fake kited answers and what it was asked."""
    def __init__(self):
        self.requests = []
        self.replies = {}
        self.lock = threading.Lock()

    def reply(self, method, path, status, body):
        self.replies[(method, path)] = (status, body)

    def take(self):
        with self.lock:
            r, self.requests = self.requests, []
        return r


fake = Fake()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def address_string(self):
        return "unix"

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        with fake.lock:
            fake.requests.append((self.command, self.path, body))
        status, out = fake.replies.get((self.command, self.path),
                                       (404, {"error": "no route %s %s" % (self.command, self.path)}))
        data = out if isinstance(out, bytes) else (json.dumps(out).encode() if out is not None else b"")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class Kitectl:
    def __init__(self, exe, sock):
        self.exe, self.sock = exe, sock

    def __call__(self, *args, sock=True, stdin=None, env=None):
        cmd = [self.exe] + (["--sock", self.sock] if sock else []) + list(args)
        p = subprocess.run(cmd, capture_output=True, text=True, input=stdin, timeout=30, env=env)
        return p.returncode, p.stdout, p.stderr


def one_error(rc, err, text, what):
    lines = err.splitlines()
    check(rc == 1 and len(lines) == 1 and lines[0] == "kitectl: " + text,
          "%s: exit 1 and the one line 'kitectl: %s' (got %d, %r)" % (what, text, rc, err))


def test_vm(k, tmp):
    fake.reply("GET", "/vms", 200, [VM2, VM1])
    rc, out, err = k("vm", "list")
    lines = [l.split() for l in out.splitlines()]
    check(rc == 0 and fake.take() == [("GET", "/vms", None)], "vm list: GET /vms")
    check(lines[:1] == [["NAME", "STATE", "PID", "CPUS", "MEM", "DISK", "NET"]], "vm list: the header (got %r)" % lines[:1])
    check(["web1", "running", "4242", "1", "128M", "64M", "vlan=0"] in lines, "vm list: web1's row (got %r)" % lines)
    check(["db", "stopped", "-", "2", "1G", "dbvol", "-"] in lines, "vm list: db's row (a volume, no NIC, no pid)")
    for args in (("vm", "list", "--json"), ("--json", "vm", "list")):
        rc, out, err = k(*args)
        check(rc == 0 and json.loads(out) == [VM2, VM1], "%s: the API's JSON list" % " ".join(args))
    rc, out, err = k("vm", "list", "--names")
    check(rc == 0 and out.split() == ["db", "web1"], "vm list --names: one name a line")
    fake.take()

    fake.reply("GET", "/vms/web1", 200, VM1)
    rc, out, err = k("vm", "info", "web1")
    check(rc == 0 and fake.take() == [("GET", "/vms/web1", None)], "vm info: GET /vms/web1")
    check("state        running" in out and "pid          4242" in out and "memory       128M" in out,
          "vm info: key/value lines (got %r)" % out[:200])
    check("block  volume web1-disk  64M  own" in out and "net    port web1  mac 52:54:00:00:00:01  vlan 0" in out,
          "vm info: its devices")
    rc, out, err = k("vm", "info", "web1", "--json")
    check(rc == 0 and json.loads(out) == VM1, "vm info --json: the API's object")
    fake.take()

    fake.reply("GET", "/vms/nosuch", 404, {"error": "VM nosuch: no such VM"})
    rc, out, err = k("vm", "info", "nosuch")
    one_error(rc, err, "VM nosuch: no such VM", "vm info of an unknown VM (404)")
    check(out == "", "... and nothing on stdout")
    fake.take()
    k("vm", "info", "a/b?c=..")
    check(fake.take() == [("GET", "/vms/a%2Fb%3Fc%3D%2E%2E", None)], "a name cannot add path segments or a query")

    kernel = os.path.join(tmp, "guest.bzImage")
    open(kernel, "w").close()
    created = dict(VM1, name="web2")
    fake.reply("POST", "/vms", 201, created)
    rc, out, err = k("vm", "create", "web2", "--kernel", os.path.relpath(kernel), "--disk", "1G", "--net", "5",
                     "--cpus", "2", "--memory", "256M", "--cmdline", "kite.test=idle", "--start")
    reqs = fake.take()
    check(rc == 0 and out == "web2: running\n", "vm create: 'web2: running' (got %d %r %r)" % (rc, out, err))
    check(reqs == [("POST", "/vms", {"name": "web2", "kernel": kernel, "cmdline": "kite.test=idle", "cpus": 2,
                                     "memory_mib": 256, "disk": {"size_mib": 1024, "ephemeral": False},
                                     "net": {"vlan": 5}, "start": True})],
          "vm create: POST /vms with the absolute kernel path, sizes in MiB, VLAN, start (got %r)" % reqs)
    rc, out, err = k("vm", "create", "web3", "--kernel", "/k", "--net", "--volume", "v1", "--initrd", "/i",
                     "--mac", "52:54:00:12:34:56")
    reqs = fake.take()
    check(reqs == [("POST", "/vms", {"name": "web3", "kernel": "/k", "initrd": "/i", "disk": {"volume": "v1"},
                                     "net": {"mac": "52:54:00:12:34:56"}, "start": False})],
          "vm create: --net without a VLAN, --volume, --initrd, --mac (got %r)" % reqs)
    k("vm", "create", "web4", "--kernel", "/k", "--disk", "64M", "--ephemeral", "--memory", "512")
    reqs = fake.take()
    check(reqs and reqs[0][2].get("disk") == {"size_mib": 64, "ephemeral": True} and reqs[0][2].get("memory_mib") == 512,
          "vm create: --ephemeral disk, --memory in MiB")
    k("vm", "create", "web5", "--kernel", "/k", "--disk", "8M", "--disk-backend", "kite", "--net", "--net-backend",
      "kite")
    reqs = fake.take()
    check(reqs and reqs[0][2].get("disk") == {"size_mib": 8, "ephemeral": False, "backend": "kite"} and
          reqs[0][2].get("net") == {"backend": "kite"}, "vm create: --disk-backend, --net-backend (got %r)" % reqs)
    k("vm", "create", "web6", "--kernel", "/k", "--pin-vcpus", "1,0", "--pin-io=1", "--iothreads", "off",
      "--hugepages", "on")
    reqs = fake.take()
    check(reqs and {key: reqs[0][2].get(key) for key in ("pin_vcpus", "pin_io", "iothreads", "hugepages")} ==
          {"pin_vcpus": [1, 0], "pin_io": [1], "iothreads": False, "hugepages": "on"},
          "vm create: --pin-vcpus, --pin-io, --iothreads, --hugepages (got %r)" % reqs)
    k("vm", "create", "web7", "--kernel", "/k", "--iothreads", "on", "--hugepages", "auto")
    reqs = fake.take()
    check(reqs and reqs[0][2].get("iothreads") is True and reqs[0][2].get("hugepages") == "auto" and
          "pin_io" not in reqs[0][2], "vm create: --iothreads on, --hugepages auto, no pin_io unless asked (got %r)" % reqs)
    fake.reply("GET", "/vms/web6", 200, dict(VM1, name="web6", pin_vcpus=[1, 0], pin_io=None, iothreads=False,
                                             hugepages="on"))
    rc, out, err = k("vm", "info", "web6")
    check(rc == 0 and "pin vcpus    1,0\n" in out and "pin io       -\n" in out and "iothreads    no\n" in out and
          "hugepages    on\n" in out, "vm info: the host tuning lines (got %r)" % out)
    fake.take()
    fake.reply("POST", "/vms", 409, {"error": "VM web1: a VM of this name exists"})
    rc, out, err = k("vm", "create", "web1", "--kernel", "/k")
    one_error(rc, err, "VM web1: a VM of this name exists", "vm create of a duplicate (409)")
    fake.take()

    for action, state in (("start", "running"), ("pause", "paused"), ("resume", "running"), ("restore", "running")):
        fake.reply("POST", "/vms/web1/" + action, 200, dict(VM1, state=state))
        rc, out, err = k("vm", action, "web1")
        reqs = fake.take()
        check(rc == 0 and out == "web1: %s\n" % state and len(reqs) == 1 and reqs[0][:2] == ("POST", "/vms/web1/" + action),
              "vm %s: POST /vms/web1/%s, prints 'web1: %s'" % (action, action, state))
    fake.reply("POST", "/vms/web1/stop", 200, dict(VM1, state="stopped", pid=0))
    rc, out, err = k("vm", "stop", "web1")
    check(fake.take() == [("POST", "/vms/web1/stop", {"force": False})] and out == "web1: stopped\n", "vm stop: graceful")
    rc, out, err = k("vm", "stop", "--force", "web1", "--timeout", "5")
    check(fake.take() == [("POST", "/vms/web1/stop", {"force": True, "timeout_s": 5})], "vm stop --force --timeout 5")
    rc, out, err = k("vm", "stop", "web1", "--json")
    check(rc == 0 and json.loads(out)["state"] == "stopped", "vm stop --json: the API's object")
    fake.take()

    fake.reply("DELETE", "/vms/web1", 204, None)
    rc, out, err = k("vm", "delete", "web1")
    check(rc == 0 and out == "web1: deleted\n" and fake.take() == [("DELETE", "/vms/web1", None)], "vm delete: DELETE /vms/web1")
    fake.reply("POST", "/vms/web1/snapshot", 200, {"vmstate": "/s/vms/web1/snapshot/vmstate",
                                                    "mem": "/s/vms/web1/snapshot/mem"})
    rc, out, err = k("vm", "snapshot", "web1")
    check(rc == 0 and out == "vmstate: /s/vms/web1/snapshot/vmstate\nmem: /s/vms/web1/snapshot/mem\n" and
          [r[:2] for r in fake.take()] == [("POST", "/vms/web1/snapshot")], "vm snapshot: POST, the two paths printed")


def test_dpu(k):
    fake.reply("GET", "/dpu", 200, {"state": "running", "pid": 77, "restarts": 1, "control": "/s/dpu/ctl.sock"})
    rc, out, err = k("dpu", "status")
    check(rc == 0 and "state: running" in out and "restarts: 1" in out, "dpu status: GET /dpu as key: value")
    fake.reply("GET", "/dpu/ports", 200, PORTS)
    rc, out, err = k("dpu", "port", "list")
    lines = [l.split() for l in out.splitlines()]
    check(lines[:1] == [["NAME", "TYPE", "VLAN", "MTU", "RATE-PPS", "RATE-BPS", "VM"]] and
          ["web1", "vhost", "1", "1500", "0", "0", "web1"] in lines and
          ["up0", "tap:tap0", "3", "9000", "1000", "0", "-"] in lines, "dpu port list: the table (got %r)" % lines)
    rc, out, err = k("dpu", "port", "list", "--names")
    check(out.split() == ["web1", "up0"], "dpu port list --names")
    fake.take()
    fake.reply("POST", "/dpu/ports", 201, PORTS[1])
    rc, out, err = k("dpu", "port", "add", "up0", "--tap", "tap0", "--vlan", "3", "--mtu", "9000")
    check(rc == 0 and out == "port up0: added\n" and
          fake.take() == [("POST", "/dpu/ports", {"name": "up0", "type": "tap", "tap": "tap0", "vlan": 3, "mtu": 9000})],
          "dpu port add --tap --vlan --mtu: POST /dpu/ports")
    k("dpu", "port", "add", "p2", "--rate-pps", "1000")
    check(fake.take() == [("POST", "/dpu/ports", {"name": "p2", "type": "vhost", "rate_pps": 1000})],
          "dpu port add: a vhost port with a rate")
    fake.reply("PATCH", "/dpu/ports/up0", 200, PORTS[1])
    rc, out, err = k("dpu", "port", "set", "up0", "--vlan", "4", "--rate-bps", "1000000")
    check(rc == 0 and fake.take() == [("PATCH", "/dpu/ports/up0", {"vlan": 4, "rate_bps": 1000000})],
          "dpu port set: PATCH /dpu/ports/up0")
    fake.reply("DELETE", "/dpu/ports/up0", 204, None)
    rc, out, err = k("dpu", "port", "del", "up0")
    check(rc == 0 and out == "port up0: deleted\n" and fake.take() == [("DELETE", "/dpu/ports/up0", None)],
          "dpu port del: DELETE")
    fake.reply("DELETE", "/dpu/ports/web1", 409, {"error": "port web1: in use by running VM web1"})
    rc, out, err = k("dpu", "port", "del", "web1")
    one_error(rc, err, "port web1: in use by running VM web1", "dpu port del of a running VM's port (409)")
    fake.take()
    fake.reply("POST", "/dpu/ports/web1/acl", 201, {"index": 0})
    rc, out, err = k("dpu", "port", "acl", "web1", "add", "in", "deny proto icmp")
    check(rc == 0 and out == "port web1: in rule 0 added\n" and
          fake.take() == [("POST", "/dpu/ports/web1/acl", {"dir": "in", "rule": "deny proto icmp"})],
          "dpu port acl add: POST /dpu/ports/web1/acl")
    fake.reply("DELETE", "/dpu/ports/web1/acl/out/2", 204, None)
    fake.reply("DELETE", "/dpu/ports/web1/acl/in", 204, None)
    rc1, _, _ = k("dpu", "port", "acl", "web1", "del", "out", "2")
    rc2, _, _ = k("dpu", "port", "acl", "web1", "del", "in")
    check(rc1 == 0 and rc2 == 0 and [r[:2] for r in fake.take()] ==
          [("DELETE", "/dpu/ports/web1/acl/out/2"), ("DELETE", "/dpu/ports/web1/acl/in")], "dpu port acl del: one rule, all")

    fake.reply("GET", "/dpu/volumes", 200, VOLUMES)
    rc, out, err = k("dpu", "volume", "list")
    lines = [l.split() for l in out.splitlines()]
    check(lines[:1] == [["NAME", "SIZE", "RO", "IOPS", "BPS", "VM"]] and
          ["web1-disk", "64M", "no", "0", "0", "web1"] in lines and
          ["dbvol", "2G", "yes", "100", "0", "-"] in lines, "dpu volume list: the table (got %r)" % lines)
    rc, out, err = k("--json", "dpu", "volume", "list")
    check(json.loads(out) == VOLUMES, "dpu volume list --json")
    fake.take()
    fake.reply("POST", "/dpu/volumes", 201, VOLUMES[0])
    k("dpu", "volume", "add", "v1", "--size", "64M", "--readonly", "--iops", "500")
    check(fake.take() == [("POST", "/dpu/volumes", {"name": "v1", "readonly": True, "size_mib": 64, "iops": 500})],
          "dpu volume add --size --readonly --iops")
    k("dpu", "volume", "add", "v2", "--image", "base.img")
    check(fake.take() == [("POST", "/dpu/volumes", {"name": "v2", "image": "base.img"})], "dpu volume add --image")
    fake.reply("PATCH", "/dpu/volumes/v1", 200, VOLUMES[0])
    k("dpu", "volume", "set", "v1", "--size", "2G", "--bps", "1048576")
    check(fake.take() == [("PATCH", "/dpu/volumes/v1", {"bps": 1048576, "size_mib": 2048})], "dpu volume set: PATCH")
    fake.reply("DELETE", "/dpu/volumes/v1?keep_image=true", 204, None)
    fake.reply("DELETE", "/dpu/volumes/v2", 204, None)
    rc1, _, _ = k("dpu", "volume", "del", "v1", "--keep-image")
    rc2, _, _ = k("dpu", "volume", "del", "v2")
    check(rc1 == 0 and rc2 == 0 and [r[:2] for r in fake.take()] ==
          [("DELETE", "/dpu/volumes/v1?keep_image=true"), ("DELETE", "/dpu/volumes/v2")], "dpu volume del [--keep-image]")
    fake.reply("GET", "/dpu/volumes/dbvol", 200, dict(VOLUMES[1], stats={"reads": 5, "writes": 6}))
    rc, out, err = k("dpu", "volume", "info", "dbvol")
    check(rc == 0 and "size_mib: 2048" in out and "readonly: yes" in out and "stats.writes: 6" in out,
          "dpu volume info: key: value lines, counters as stats.NAME")
    fake.reply("GET", "/dpu/ports/up0", 200, dict(PORTS[1], stats={"rx_packets": 1, "drops": {"acl": 2}}))
    rc, out, err = k("dpu", "port", "info", "up0")
    check(rc == 0 and "mtu: 9000" in out and 'acl_in: ["deny proto icmp"]' in out and "stats.drops.acl: 2" in out,
          "dpu port info: key: value lines, lists as JSON, nested counters (got %r)" % out)
    fake.take()


def test_host_raw_errors(k, sock):
    fake.reply("GET", "/host", 200, HOST)
    rc, out, err = k("host")
    check(rc == 0 and "cores: 2" in out and "hugepages.size_kib: 2048" in out and "kvm.available: yes" in out,
          "host: nested members as key.sub: value")
    rc, out, err = k("host", "--json")
    check(rc == 0 and json.loads(out) == HOST, "host --json")
    rc, out, err = k("raw", "GET", "/host")
    check(rc == 0 and json.loads(out) == HOST, "raw GET /host: the body")
    fake.reply("POST", "/vms", 400, {"error": "field 'x' is unknown"})
    rc, out, err = k("raw", "POST", "/vms", '{"x": 1}')
    check(rc == 1 and json.loads(out) == {"error": "field 'x' is unknown"}, "raw: a 400's body is printed, exit 1")
    rc, out, err = k("raw", "PUT", "/vms", "-", stdin='{"from": "stdin"}')
    check(fake.take()[-1] == ("PUT", "/vms", {"from": "stdin"}), "raw with BODY '-' reads standard input")
    fake.reply("GET", "/metrics", 500, b"<html>internal trouble</html>\nmore")
    rc, out, err = k("raw", "GET", "/metrics")
    check(rc == 1 and out.startswith("<html>"), "raw: a 500 is exit 1")
    fake.reply("GET", "/vms", 500, b"<html>internal trouble</html>\nmore")
    rc, out, err = k("vm", "list")
    one_error(rc, err, "HTTP 500: <html>internal trouble</html>", "a non-JSON error body: its status and first line")
    fake.reply("GET", "/vms", 200, b"not json")
    rc, out, err = k("vm", "list")
    one_error(rc, err, "kited's reply is not JSON: not json", "a 200 that is not JSON")
    fake.take()

    # usage errors: exit 2, one line, no request made
    for args in (["vm", "create", "x"], ["vm", "create", "x", "--kernel", "/k", "--disk", "12Q"],
                 ["vm", "create", "x", "--kernel", "/k", "--memory", "0"],
                 ["vm", "create", "x", "--kernel", "/k", "--disk", "1G", "--volume", "v"],
                 ["vm", "create", "x", "--kernel", "/k", "--net", "4095"],
                 ["vm", "create", "x", "--kernel", "/k", "--disk", "1G", "--disk-backend", "qemu"],
                 ["vm", "create", "x", "--kernel", "/k", "--volume", "v", "--disk-backend", "kite"],
                 ["vm", "create", "x", "--kernel", "/k", "--net-backend", "kite"],
                 ["vm", "create", "x", "--kernel", "/k", "--cpus", "two"], ["vm"], ["vm", "frobnicate", "x"],
                 ["vm", "create", "x", "--kernel", "/k", "--pin-vcpus", "0,,1"],
                 ["vm", "create", "x", "--kernel", "/k", "--pin-io", "1024"],
                 ["vm", "create", "x", "--kernel", "/k", "--pin-io", ""],
                 ["vm", "create", "x", "--kernel", "/k", "--iothreads", "yes"],
                 ["vm", "create", "x", "--kernel", "/k", "--hugepages", "2M"],
                 ["vm", "info"], ["vm", "info", "a", "b"], ["vm", "start", "x", "--force"], ["bogus"], [],
                 ["--nosuch", "vm", "list"], ["vm", "list", "--sock"], ["dpu", "port", "set", "p"],
                 ["dpu", "port", "acl", "p", "add", "sideways", "deny"], ["dpu", "volume", "add", "v"],
                 ["dpu", "volume", "set", "v", "--size", "-1"], ["raw", "get", "/x"], ["raw", "GET", "x"]):
        rc, out, err = k(*args)
        check(rc == 2 and len(err.splitlines()) == 1 and err.startswith("kitectl: "),
              "usage error %r: exit 2, one line (got %d %r)" % (args, rc, err))
    check(fake.take() == [], "usage errors make no request")

    rc, out, err = k("--help")
    check(rc == 0 and out.startswith("usage: kitectl") and "vm console NAME" in out, "--help")
    # the socket: --sock=PATH, $KITED_SOCK, and an absent kited
    env = dict(os.environ, KITED_SOCK=sock)
    fake.reply("GET", "/vms", 200, [])
    rc, out, err = k("vm", "list", sock=False, env=env)
    check(rc == 0 and out.split() == ["NAME", "STATE", "PID", "CPUS", "MEM", "DISK", "NET"], "KITED_SOCK names the socket")
    rc, out, err = k("--sock=" + sock, "vm", "list", sock=False)
    check(rc == 0, "--sock=PATH")
    rc, out, err = k("vm", "list", sock=False, env=dict(os.environ, KITED_SOCK=sock + ".absent"))
    one_error(rc, err, "cannot reach kited at %s.absent: No such file or directory" % sock, "no kited at the socket")
    fake.take()


def console_server(path, mode, seen):
    """A fake console socket: 'echo' sends a boot line, then echoes lines back until the client
    closes or shuts down its side (then says 'bye' and closes); 'busy' refuses as kite does."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)

    def serve():
        c, _ = srv.accept()
        if mode == "busy":
            c.sendall(b"console busy\n")
            c.close()
            return
        c.sendall(b"guest: boot line\n")
        buf = b""
        while True:
            d = c.recv(4096)
            if not d:
                break
            seen.append(d)
            buf += d
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                c.sendall(b"echo: " + line + b"\n")
        try:
            c.sendall(b"bye\n")
        except OSError:
            pass
        c.close()
        srv.close()
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return t


def test_console(k, tmp):
    # attach, boot line, input, echo, Ctrl-] detaches (the key itself is not sent)
    path, seen = os.path.join(tmp, "con1.sock"), []
    t = console_server(path, "echo", seen)
    fake.reply("GET", "/vms/web1", 200, dict(VM1, console_sock=path))
    p = subprocess.Popen([k.exe, "--sock", k.sock, "vm", "console", "web1"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    got = [b""]

    def until(needle):
        return read_until(p.stdout, got, needle)
    check(until(b"guest: boot line\n"), "vm console: the guest's output on stdout")
    p.stdin.write(b"hello\n")
    p.stdin.flush()
    check(until(b"echo: hello\n"), "vm console: stdin reaches the console, its answer comes back")
    p.stdin.write(b"x\x1dnot sent\n")
    p.stdin.flush()
    rc = p.wait(timeout=30)
    t.join(30)
    check(rc == 0, "vm console: Ctrl-] detaches, exit 0 (got %s)" % rc)
    check(b"".join(seen) == b"hello\nx", "vm console: what followed Ctrl-] was not sent (got %r)" % b"".join(seen))

    # not a terminal, input ends: the output is still read until the console closes
    path2, seen2 = os.path.join(tmp, "con2.sock"), []
    console_server(path2, "echo", seen2)
    fake.reply("GET", "/vms/web1", 200, dict(VM1, console_sock=path2))
    rc, out, err = k("vm", "console", "web1", stdin="one\ntwo\n")
    check(rc == 0 and out == "guest: boot line\necho: one\necho: two\nbye\n",
          "vm console: at the end of stdin the output is read to the end (got %d %r %r)" % (rc, out, err))

    # on a terminal: raw mode while attached (no line editing, no echo), restored after Ctrl-]
    path4, seen4 = os.path.join(tmp, "con4.sock"), []
    console_server(path4, "echo", seen4)
    fake.reply("GET", "/vms/web1", 200, dict(VM1, console_sock=path4))
    master, slave = pty.openpty()
    before = termios.tcgetattr(slave)
    p = subprocess.Popen([k.exe, "--sock", k.sock, "vm", "console", "web1"], stdin=slave, stdout=slave,
                         stderr=slave)
    got = b""
    while b"guest: boot line" not in got:
        try:
            d = os.read(master, 4096)
        except OSError:
            break
        if not d:
            break
        got += d
    during = termios.tcgetattr(slave)
    check(b"Ctrl-] detaches" in got and not during[3] & (termios.ICANON | termios.ECHO),
          "vm console on a terminal: raw mode while attached (lflag %#x)" % during[3])
    os.write(master, b"ab\x1d")
    rc = p.wait(timeout=30)
    after = termios.tcgetattr(slave)
    check(rc == 0 and after == before, "vm console on a terminal: Ctrl-] detaches, the terminal is restored")
    os.close(master)
    os.close(slave)

    path3 = os.path.join(tmp, "con3.sock")
    console_server(path3, "busy", [])
    fake.reply("GET", "/vms/web1", 200, dict(VM1, console_sock=path3))
    rc, out, err = k("vm", "console", "web1", stdin="")
    one_error(rc, err, "VM web1: console busy (another client is attached)", "vm console: a busy console")
    check(out == "", "... its line is not printed as output")
    fake.reply("GET", "/vms/db", 200, VM2)
    rc, out, err = k("vm", "console", "db", stdin="")
    one_error(rc, err, "VM db is stopped: no console to attach to", "vm console of a stopped VM")
    fake.take()


def test_completion(comp, k):
    def complete(*words):
        line = " ".join(words)
        script = ('source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); '
                  'COMP_LINE="$*"; _kitectl; printf "%s\\n" "${COMPREPLY[@]}"')
        env = dict(os.environ, PATH=os.path.dirname(os.path.abspath(k.exe)) + ":" + os.environ["PATH"])
        p = subprocess.run(["bash", "-c", script, "bash", comp, "kitectl"] + list(words), capture_output=True,
                           text=True, env=env, timeout=30)
        return sorted(w for w in p.stdout.split("\n") if w), line
    fake.reply("GET", "/vms", 200, [VM2, VM1])
    fake.reply("GET", "/dpu/ports", 200, PORTS)
    for words, want in ((("",), ["dpu", "host", "raw", "vm"]),
                        (("vm", "st"), ["start", "stop"]),
                        (("vm", "create", "x", "--e"), ["--ephemeral"]),
                        (("vm", "create", "x", "--disk-b"), ["--disk-backend"]),
                        (("vm", "create", "x", "--net-backend", ""), ["dpu", "kite"]),
                        (("vm", "create", "x", "--pin"), ["--pin-io", "--pin-vcpus"]),
                        (("vm", "create", "x", "--iothreads", ""), ["off", "on"]),
                        (("vm", "create", "x", "--hugepages", ""), ["auto", "off", "on"]),
                        (("vm", "create", "x", "--pin-io", "0", "--hu"), ["--hugepages"]),
                        (("--sock", k.sock, "vm", "info", ""), ["db", "web1"]),
                        (("--sock", k.sock, "vm", "console", "w"), ["web1"]),
                        (("--sock", k.sock, "dpu", "port", "del", ""), ["up0", "web1"]),
                        (("dpu", "port", "acl", "web1", "add", ""), ["in", "out"]),
                        (("dpu", "volume", "del", "v", "--"), ["--json", "--keep-image", "--sock"]),
                        (("raw", "P"), ["PATCH", "POST", "PUT"])):
        got, line = complete(*words)
        check(got == want, "completion of 'kitectl %s': %s (got %s)" % (line, want, got))
    fake.take()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kitectl", required=True)
    ap.add_argument("--completion", required=True)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sock = os.path.join(tmp, "kited.sock")
        srv = Server(sock, Handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        k = Kitectl(a.kitectl, sock)
        try:
            test_vm(k, tmp)
            test_dpu(k)
            test_host_raw_errors(k, sock)
            test_console(k, tmp)
            test_completion(a.completion, k)
        finally:
            srv.shutdown()
            srv.server_close()
    return verdict()


if __name__ == "__main__":
    sys.exit(main())
