# SPDX-License-Identifier: MIT
"""A private network namespace for a test (root): created by Netns(prefix) as PREFIX-<pid>, with the
TAPs and veth pairs the test asks for, and deleted again by close() or at the end of a `with`
block. close() deletes the host ends of the veth pairs it made (the namespace's own interfaces go
with it) and the namespace; it is idempotent and never raises, so it belongs in a finally. While a
namespace is open, SIGTERM (meson's timeout, a kill) ends the process through SystemExit, so that
the finally blocks, and with them the teardown, run on that path too.

Commands fail with subprocess.CalledProcessError (stderr in the message) unless check=False."""
import os
import signal
import subprocess

_open = []          # namespaces not yet closed (the SIGTERM handler is ours while one is)


def _on_term(signum, frame):
    raise SystemExit(128 + signum)


def _run(cmd, check=True):
    r = subprocess.run(list(cmd), capture_output=True, text=True)
    if check and r.returncode != 0:
        raise subprocess.CalledProcessError(r.returncode, list(cmd), r.stdout, r.stderr)
    return r


class NetnsError(Exception):
    """The namespace (or a veth pair) could not be made: typically not root, or no kernel support."""


class Netns:
    def __init__(self, prefix, name=None):
        """Creates the namespace PREFIX-<pid> (or `name`); NetnsError with ip's words if it cannot."""
        self.name = name or "%s-%d" % (prefix, os.getpid())
        self.host_links = []        # veth ends in the host namespace that close() deletes
        self.closed = False
        r = _run(["ip", "netns", "add", self.name], check=False)
        if r.returncode != 0:
            raise NetnsError("cannot create network namespace %s: %s" % (self.name, r.stderr.strip()))
        if not _open and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _on_term)
        _open.append(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    @property
    def exec_prefix(self):
        """The command prefix that runs a program inside the namespace."""
        return ["ip", "netns", "exec", self.name]

    def run(self, *cmd, check=True):
        """Runs cmd inside the namespace: the CompletedProcess (text output)."""
        return _run(self.exec_prefix + list(cmd), check)

    def ip(self, *args, check=True):
        """`ip -n NAME ARGS`: the CompletedProcess."""
        return _run(["ip", "-n", self.name] + list(args), check)

    def tap(self, dev, addr=None, vnet_hdr=True, up=True):
        """A TAP `dev` made inside the namespace (vnet_hdr unless told otherwise), with the address
        `addr` ("192.0.2.1/24") and up."""
        self.ip("tuntap", "add", "dev", dev, "mode", "tap", *(("vnet_hdr",) if vnet_hdr else ()))
        if addr:
            self.ip("addr", "add", addr, "dev", dev)
        if up:
            self.ip("link", "set", dev, "up")

    def move(self, dev):
        """Moves the host's interface `dev` (e.g. a TAP another program made) into the namespace."""
        _run(["ip", "link", "set", dev, "netns", self.name])

    def veth(self, host_dev, ns_dev):
        """A veth pair: host_dev stays in the host namespace (deleted by close()), ns_dev goes into
        this one (down: the caller sets it up). NetnsError if the pair cannot be made."""
        r = _run(["ip", "link", "add", host_dev, "type", "veth", "peer", "name", ns_dev], check=False)
        if r.returncode != 0:
            raise NetnsError("cannot create the veth pair %s/%s: %s" % (host_dev, ns_dev, r.stderr.strip()))
        self.host_links.append(host_dev)
        self.move(ns_dev)

    def close(self):
        if self.closed:
            return
        self.closed = True
        for dev in self.host_links:
            _run(["ip", "link", "del", dev], check=False)
        _run(["ip", "netns", "del", self.name], check=False)
        if self in _open:
            _open.remove(self)
        if not _open and signal.getsignal(signal.SIGTERM) is _on_term:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)

