# SPDX-License-Identifier: MIT
"""kite-dpu's control socket from a test (docs/dpu.md): one JSON request line, one JSON reply line."""
import json
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
