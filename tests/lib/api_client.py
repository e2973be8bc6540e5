# SPDX-License-Identifier: MIT
"""kite's HTTP API from a test, through curl on the Unix socket (as Firecracker's docs do it)."""
import json
import subprocess


def curl(sock, method, path, body=None, max_time=20):
    """(status, parsed JSON or text or None)."""
    cmd = ["curl", "-s", "--max-time", str(max_time), "--unix-socket", sock, "-X", method, "-w", "\n%{http_code}",
           "http://localhost" + path]
    if body is not None:
        cmd += ["-H", "Content-Type: application/json", "-d", body if isinstance(body, str) else json.dumps(body)]
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    text, _, code = out.rpartition("\n")
    try:
        val = json.loads(text) if text else None
    except ValueError:
        val = text
    return int(code or 0), val
