# SPDX-License-Identifier: MIT
"""kite-dpu's control socket from a test (docs/dpu.md): one JSON request line, one JSON reply line."""
import json
import re
import socket


def ctl_request(path, req, timeout=10):
    """Sends the request (a dict, with its "cmd") on the control socket at `path`; returns the reply
    (a dict). The timeout bounds each socket operation: a silent kite-dpu raises socket.timeout
    instead of hanging the test."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(json.dumps(req).encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            buf += chunk
    return json.loads(buf)


_SAMPLE = re.compile(r'^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{([^}]*)\})?\s+(\S+)$')
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


def metrics(text):
    """The samples of a Prometheus text (kite-dpu's `stats` reply, kite's GET /metrics) as a list of
    (name, {label: value}, float); comment lines and lines that are no sample are left out."""
    out = []
    for line in text.splitlines():
        m = _SAMPLE.match(line.strip())    # no match for comments: '#' starts no metric name
        if not m:
            continue
        try:
            val = float(m.group(3))
        except ValueError:
            continue
        out.append((m.group(1), dict(_LABEL.findall(m.group(2) or "")), val))
    return out


def metric(text, name, **labels):
    """The value of the first sample called `name` whose labels include `labels`; None if none."""
    for n, lab, val in metrics(text):
        if n == name and all(lab.get(k) == v for k, v in labels.items()):
            return val
    return None
