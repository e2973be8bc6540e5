#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kite-dpu switch against real virtio-net frontends (dpdk-testpmd net_virtio_user as the VMs).

  net_test.py KITE_DPU l2vlan   frames between two ports of one VLAN, none into another VLAN, tagged
                                (4 bytes longer) on a trunk, counters of switch and testpmd agree
  net_test.py KITE_DPU aclrate  an ACL deny rule drops (and counts) the traffic; a rate limit holds
                                (passed <= burst + rate * measured elapsed)
  net_test.py KITE_DPU jumbo    8000-byte frames: multi-segment TX chains, mergeable RX buffers
  net_test.py KITE_DPU packed   the packed virtqueue layout (VIRTIO_F_RING_PACKED)
  net_test.py KITE_DPU vxlan    VLAN 10 <-> VNI 5000 over a TAP uplink moved into a network namespace
                                whose Linux vxlan device pings a testpmd icmpecho "VM"; tcpdump
                                capture checked for the VXLAN header and VNI; the namespace resolves
                                the VTEP address through kite-dpu's ARP responder
"""
import os
import shutil
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netlib import Dpu, Procs, Testpmd, need, sh, skip, workdir  # noqa: E402
from netns import Netns, NetnsError  # noqa: E402  (tests/lib, on the path through netlib)

MIN_FRAMES = 2000
RX_RING = 256   # testpmd's default receive ring size


def vhost(name, wd, **kw):
    return dict(name=name, type="vhost", socket=os.path.join(wd, name + ".sock"), **kw)


def run_tx(dpu, tx, rx_list, cond):
    """Let tx send until cond(ports) holds, stop it, let the receivers drain, stop them."""
    tx.check_started()
    for r in rx_list:
        r.check_started()
    dpu.wait_for("traffic through the switch", cond)
    time.sleep(1)
    tx_stats = tx.stop()
    dpu.wait_stable()
    time.sleep(1)
    return tx_stats, [r.stop() for r in rx_list]


def test_l2vlan(exe):
    procs, wd = Procs(), workdir()
    try:
        dpu = Dpu(exe, procs, wd, {"ports": [
            vhost("vm0", wd, vlan=10), vhost("vm1", wd, vlan=10), vhost("vm2", wd, vlan=20),
            vhost("tr0", wd, trunk=[10, 20])]})
        rx = Testpmd(procs, wd, [os.path.join(wd, n + ".sock") for n in ("vm1", "vm2", "tr0")], "rxonly")
        dpu.wait_links(["vm1", "vm2", "tr0"])
        tx = Testpmd(procs, wd, [os.path.join(wd, "vm0.sock")], "txonly", core=1 if os.cpu_count() > 1 else 0)
        tx_stats, (rx_stats,) = run_tx(dpu, tx, [rx], lambda p: p["vm1"]["tx_packets"] >= MIN_FRAMES and
                                       p["tr0"]["tx_packets"] >= MIN_FRAMES)
        ports = dpu.ports()
        sent = tx_stats[0]["fwd_tx"]
        got_vm1, got_vm2, got_tr = rx_stats[0]["fwd_rx"], rx_stats[1]["fwd_rx"], rx_stats[2]["fwd_rx"]
        print(f"testpmd sent {sent} from vm0; vm1 got {got_vm1}, vm2 got {got_vm2}, trunk got {got_tr}")
        print({n: (p["rx_packets"], p["tx_packets"], {k: v for k, v in p["drops"].items() if v})
               for n, p in ports.items()})
        assert sent > 0, "testpmd sent nothing"
        # frames still in vm0's TX ring when its frontend went away are never seen: < one ring
        assert sent - RX_RING <= ports["vm0"]["rx_packets"] <= sent, "switch rx on vm0 != testpmd tx"
        taken = ports["vm0"]["rx_packets"]
        assert got_vm1 > 0, "nothing reached vm1 (same VLAN)"
        assert got_tr > 0, "nothing reached the trunk"
        assert got_vm2 == 0 and ports["vm2"]["tx_packets"] == 0, "frames leaked into VLAN 20"
        # what the switch put in a receive ring the app had not counted when it stopped: a ring's worth
        # of used buffers plus (rarely, on a loaded machine) a ring being refilled
        for n, got in (("vm1", got_vm1), ("tr0", got_tr)):
            assert got <= ports[n]["tx_packets"] <= got + 2 * RX_RING, f"switch tx on {n} does not match testpmd rx"
        # every frame was flooded (unknown destination) to vm1 and tr0: delivered or counted
        for n in ("vm1", "tr0"):
            p = ports[n]
            assert p["tx_packets"] + p["drops"]["tx_full"] == taken, f"{n}: frames lost without a count"
        # access port frames are untagged, trunk frames carry a 4-byte 802.1Q tag
        if rx_stats[0].get("rx") and rx_stats[2].get("rx"):
            l_acc = rx_stats[0]["rx_bytes"] / rx_stats[0]["rx"]
            l_tr = rx_stats[2]["rx_bytes"] / rx_stats[2]["rx"]
            print(f"mean frame length: access {l_acc:.1f}, trunk {l_tr:.1f}")
            assert abs(l_tr - l_acc - 4) < 0.01, "trunk frames are not 4 bytes longer (802.1Q tag)"
        print("PASS l2vlan")
        shutil.rmtree(wd, ignore_errors=True)
    finally:
        procs.stop_all()


def test_pair(exe, packed, jumbo):
    """vm0 -> vm1 with the packed ring, or with 8000-byte frames (multi-segment TX chains, mergeable
    RX buffers over 2 KiB mbufs) on MTU 9000 ports; on the split ring through DPDK's in-order paths."""
    procs, wd = Procs(), workdir()
    try:
        dpu = Dpu(exe, procs, wd, {"ports": [vhost("vm0", wd, mtu=9000), vhost("vm1", wd, mtu=9000)]})
        sfx = ",packed_vq=1" if packed else ""
        ex = ["--max-pkt-len=9100", "--enable-scatter"]
        size = 8000 if jumbo else 64
        # the virtio PMD names the receive and transmit paths it picked (VIRTIO_F_IN_ORDER: the in-order ones)
        eal = ["--log-level=pmd.net.virtio.init:info"]
        rx = Testpmd(procs, wd, [os.path.join(wd, "vm1.sock") + sfx], "rxonly", extra=ex, eal_extra=eal)
        dpu.wait_links(["vm1"])
        tx = Testpmd(procs, wd, [os.path.join(wd, "vm0.sock") + sfx], "txonly", core=1 if os.cpu_count() > 1 else 0,
                     extra=ex + (["--txpkts=2000,2000,2000,2000"] if jumbo else []), eal_extra=eal)
        tx_stats, (rx_stats,) = run_tx(dpu, tx, [rx], lambda p: p["vm1"]["tx_packets"] >= MIN_FRAMES // 4)
        ports = dpu.ports()
        sent, got = tx_stats[0]["fwd_tx"], rx_stats[0]["fwd_rx"]
        print(f"{'packed' if packed else 'split'} ring, {size}-byte frames: sent {sent}, received {got}; "
              f"vm0 rx {ports['vm0']['rx_packets']} ({ports['vm0']['rx_bytes']} B), vm1 tx {ports['vm1']['tx_packets']}")
        taken = ports["vm0"]["rx_packets"]
        assert sent - RX_RING <= taken <= sent and ports["vm0"]["rx_bytes"] == taken * size, "TX frames lost or cut"
        assert got > 0 and got <= ports["vm1"]["tx_packets"] <= got + 2 * RX_RING
        if rx_stats[0].get("rx"):
            mean = rx_stats[0]["rx_bytes"] / rx_stats[0]["rx"]
            assert abs(mean - size) < 0.01, f"received frames are {mean:.1f} bytes, not {size}"
        if not packed:
            # split ring: kite-dpu offers IN_ORDER, so DPDK drives it as it drives DPDK's vhost library
            assert "using inorder Rx path" in rx.text(), "the receiving PMD did not take its in-order path"
            assert "using inorder Tx path" in tx.text(), "the sending PMD did not take its in-order path"
        print("PASS")
        shutil.rmtree(wd, ignore_errors=True)
    finally:
        procs.stop_all()


def test_aclrate(exe):
    procs, wd = Procs(), workdir()
    try:
        dpu = Dpu(exe, procs, wd, {"ports": [vhost("vm0", wd), vhost("vm1", wd)]})
        # testpmd txonly sends UDP 198.18.0.1:9 -> 198.18.0.2:9
        dpu.ok("acl_add", port="vm0", dir="in", rule="deny proto udp dst 198.18.0.0/24 dport 9")
        rx = Testpmd(procs, wd, [os.path.join(wd, "vm1.sock")], "rxonly")
        dpu.wait_links(["vm1"])
        tx = Testpmd(procs, wd, [os.path.join(wd, "vm0.sock")], "txonly", core=1 if os.cpu_count() > 1 else 0)
        tx.check_started()
        dpu.wait_for("denied traffic", lambda p: p["vm0"]["rx_packets"] >= MIN_FRAMES)
        ports = dpu.ports()
        rule = ports["vm0"]["acl_in"]["rules"][0]
        print(f"ACL phase: vm0 rx {ports['vm0']['rx_packets']}, acl drops {ports['vm0']['drops']['acl']}, "
              f"rule hits {rule['packets']}, vm1 tx {ports['vm1']['tx_packets']}")
        assert ports["vm0"]["rx_packets"] > 0, "no traffic"
        assert ports["vm1"]["tx_packets"] == 0, "denied traffic reached vm1"
        assert rule["packets"] == ports["vm0"]["drops"]["acl"] > 0, "rule counter != acl drops"
        assert ports["vm0"]["drops"]["acl"] == ports["vm0"]["rx_packets"], "frames neither denied nor counted"

        # rate limit phase: allow everything, limit vm0 to 2000 packets/s with a burst of 100
        dpu.ok("acl_clear", port="vm0", dir="in")
        dpu.ok("port_set", name="vm0", rate_pps=2000, rate_pps_burst=100)
        # count from a moment after the limit is in force: over any interval at most burst + rate * t pass
        t0 = time.monotonic()
        p1 = dpu.ports()["vm1"]
        base = p1["tx_packets"] + p1["drops"]["tx_full"]
        time.sleep(2)
        ports = dpu.ports()
        elapsed = time.monotonic() - t0
        passed = ports["vm1"]["tx_packets"] + ports["vm1"]["drops"]["tx_full"] - base
        limited = ports["vm0"]["drops"]["ratelimit"]
        bound = 100 + 2000 * elapsed
        print(f"rate phase: {passed} passed in {elapsed:.2f}s (bound {bound:.0f}), {limited} rate-limited")
        assert limited > 0, "nothing was rate limited"
        assert passed > 0, "nothing passed the limiter"
        assert passed <= bound, "rate limit exceeded"
        tx.stop()
        rx.stop()

        # control socket: ports come and go at run time, bad requests are refused with a reason
        sock9 = os.path.join(wd, "vm9.sock")
        dpu.ok("port_add", name="vm9", type="vhost", socket=sock9, vlan=5, mtu=9000)
        p9 = dpu.ports()["vm9"]
        assert p9["vlan"] == 5 and p9["mtu"] == 9000 and os.path.exists(sock9)
        for bad in ({"cmd": "port_add", "name": "vm9", "socket": sock9},
                    {"cmd": "port_add", "name": "vmx", "socket": sock9 + "x", "vlan": 5000},
                    {"cmd": "acl_add", "port": "vm9", "dir": "in", "rule": "allow src 10.0.0.0/40"},
                    {"cmd": "acl_add", "port": "nope", "dir": "in", "rule": "allow"},
                    {"cmd": "port_set", "name": "vm9", "trunk": [1, 4095]}):
            r = dpu.ctl(bad.pop("cmd"), **bad)
            assert r.get("ok") is False and r.get("error"), f"accepted a bad request: {bad} -> {r}"
        assert "vmx" not in dpu.ports(), "a refused port_add left a port behind"
        dpu.ok("port_del", name="vm9")
        assert "vm9" not in dpu.ports() and not os.path.exists(sock9)
        print("PASS aclrate")
        shutil.rmtree(wd, ignore_errors=True)
    finally:
        procs.stop_all()


def read_pcap(path):
    """Yield frames of a classic pcap file."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
    off = 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        off += 16
        yield data[off:off + incl]
        off += incl


def test_vxlan(exe):
    need("tcpdump")
    ping = ["ping", "-c", "3", "-W", "2", "-i", "0.3"] if shutil.which("ping") else ["busybox", "ping", "-c", "3", "-W", "2"]
    need(ping[0])
    if not os.path.exists("/dev/net/tun"):
        skip("/dev/net/tun missing")
    tap = f"kup{os.getpid() % 100000}"
    local_mac, ns_mac = "02:4b:00:00:00:01", "02:4b:00:00:00:02"
    procs, wd = Procs(), workdir()
    try:
        netns = Netns("kswt", name=f"kswt{os.getpid()}")
    except NetnsError:
        skip("cannot create a network namespace (needs root)")
    ns = netns.name
    try:
        dpu = Dpu(exe, procs, wd, {
            "vnis": [{"vni": 5000, "vlan": 10, "vteps": ["192.168.77.2"]}],
            "ports": [vhost("vm0", wd, vlan=10, mac="02:4b:00:00:10:00"),
                      {"name": "up0", "type": "tap", "ifname": tap, "mtu": 1600,
                       "vxlan": {"local_ip": "192.168.77.1", "local_mac": local_mac, "gw_mac": ns_mac}}]})
        # the far side: the TAP in a namespace with a Linux VXLAN device on top
        netns.move(tap)
        sh("ip", "link", "set", "lo", "up", ns=ns)
        sh("ip", "link", "set", tap, "address", ns_mac, "mtu", "1600", "up", ns=ns)
        sh("ip", "addr", "add", "192.168.77.2/24", "dev", tap, ns=ns)
        # no static neighbour: Linux resolves the VTEP address through kite-dpu's ARP responder
        sh("ip", "link", "add", "vx0", "type", "vxlan", "id", "5000", "local", "192.168.77.2",
           "remote", "192.168.77.1", "dstport", "4789", "dev", tap, ns=ns)
        sh("ip", "link", "set", "vx0", "address", "02:4b:00:00:20:00", "up", ns=ns)
        sh("ip", "addr", "add", "10.77.0.2/24", "dev", "vx0", ns=ns)
        pcap = os.path.join(wd, "uplink.pcap")
        dump = procs.add(subprocess.Popen(
            netns.exec_prefix + ["tcpdump", "-i", tap, "-w", pcap, "-U", "-n", "udp", "port", "4789"],
            stdout=open(os.path.join(wd, "tcpdump.log"), "w"), stderr=subprocess.STDOUT))
        echo = Testpmd(procs, wd, [os.path.join(wd, "vm0.sock")], "icmpecho", macs=["02:4b:00:00:10:00"])
        dpu.wait_links(["vm0"])
        time.sleep(1)
        echo.check_started()
        # Linux -> VXLAN -> kite-dpu -> VLAN 10 -> testpmd answers ARP and ICMP -> back through VXLAN.
        # A loaded host may take a while to get testpmd polling: wait for a first answer (bounded),
        # then the three pings must all be answered.
        for _ in range(20):
            once = (["ping"] if shutil.which("ping") else ["busybox", "ping"]) + ["-c", "1", "-W", "1"]
            if sh(*once, "10.77.0.1", ns=ns, check=False).returncode == 0:
                break
        r = sh(*ping, "10.77.0.1", ns=ns, check=False)
        print(r.stdout.strip().splitlines()[-2] if r.stdout.strip() else r.stderr)
        ports = dpu.ports()
        print({n: (p["rx_packets"], p["tx_packets"], {k: v for k, v in p["drops"].items() if v})
               for n, p in ports.items()})

        def split(frames):
            return ([f for f in frames if len(f) >= 50 and f[26:30] == bytes([192, 168, 77, 1])],
                    [f for f in frames if len(f) >= 50 and f[30:34] == bytes([192, 168, 77, 1])])
        # tcpdump writes each frame as it reads it (-U); on a loaded host it may lag: wait (bounded)
        # until both directions are in the file before stopping it
        deadline = time.time() + 10
        while time.time() < deadline and not all(split(read_pcap(pcap))):
            time.sleep(0.2)
        dump.send_signal(2)
        dump.wait(5)
        echo.stop()
        assert r.returncode == 0, "ping through the VXLAN uplink failed"
        frames = list(read_pcap(pcap))
        from_kite, to_kite = split(frames)
        print(f"capture: {len(frames)} VXLAN frames, {len(from_kite)} from kite-dpu, {len(to_kite)} to it")
        assert from_kite and to_kite, "no VXLAN traffic in both directions on the uplink"
        vm_mac = bytes.fromhex("024b00001000")
        for f in from_kite:
            assert f[0:6] == bytes.fromhex(ns_mac.replace(":", "")), "outer destination MAC"
            assert f[6:12] == bytes.fromhex(local_mac.replace(":", "")), "outer source MAC"
            assert f[12:14] == b"\x08\x00" and f[14] == 0x45 and f[23] == 17, "outer IPv4/UDP"
            assert struct.unpack(">H", f[36:38])[0] == 4789, "UDP destination port"
            assert f[42] == 0x08 and int.from_bytes(f[46:49], "big") == 5000, "VXLAN flags / VNI"
            assert f[50 + 6:50 + 12] == vm_mac, f"inner source {f[56:62].hex()} is not the VM {vm_mac.hex()}"
        assert ports["up0"]["tx_packets"] >= 4 and ports["vm0"]["tx_packets"] >= 4
        assert ports["up0"]["arp_replies"] >= 1, "the VTEP address was not resolved through kite-dpu"
        neigh = sh("ip", "neigh", "show", "192.168.77.1", ns=ns).stdout
        assert local_mac in neigh.lower(), f"namespace neighbour entry: {neigh!r}"
        print("PASS vxlan")
        shutil.rmtree(wd, ignore_errors=True)
    finally:
        procs.stop_all()
        netns.close()


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    exe, which = sys.argv[1], sys.argv[2]
    if os.geteuid() != 0:
        skip("needs root (testpmd memory, TAP, namespaces)")
    need("dpdk-testpmd")
    tests = {"l2vlan": test_l2vlan, "aclrate": test_aclrate, "vxlan": test_vxlan,
             "jumbo": lambda e: test_pair(e, False, True), "packed": lambda e: test_pair(e, True, False)}
    tests[which](exe)


if __name__ == "__main__":
    main()
