#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A kite-dpu that misbehaves on its control socket, for tests/kited/dpu_test.py.

usage: fake_dpu.py MODE --control SOCK [kite-dpu's other flags, ignored]
  garbage  every request is answered with a line that is not JSON
  silent   requests are read and never answered
  nocreate switch_stats, list_volumes and help are answered as kite-dpu does (an empty switch);
           port_add and add_volume are never answered; anything else gets garbage
Runs until killed."""
import json
import os
import socket
import sys
import threading


def serve(conn, mode):
    buf = b""
    with conn:
        while True:
            data = conn.recv(65536)
            if not data:
                return
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                try:
                    cmd = json.loads(line).get("cmd")
                except ValueError:
                    cmd = None
                if mode == "silent" or (mode == "nocreate" and cmd in ("port_add", "add_volume")):
                    continue
                if mode == "nocreate" and cmd == "switch_stats":
                    reply = {"switch": {"ports": [], "fdb": {}, "pool_free": 4096, "pool_size": 4096}, "ok": True}
                elif mode == "nocreate" and cmd == "list_volumes":
                    reply = {"volumes": [], "ok": True}
                elif mode == "nocreate" and cmd == "help":
                    reply = {"commands": [], "ok": True}
                else:
                    conn.sendall(b"this is not json\n")
                    continue
                conn.sendall(json.dumps(reply).encode() + b"\n")


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    path = args[args.index("--control") + 1]
    if os.path.exists(path):
        os.unlink(path)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(16)
    while True:
        c, _ = srv.accept()
        threading.Thread(target=serve, args=(c, mode), daemon=True).start()


if __name__ == "__main__":
    main()
