#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kite-dpu's "dpdk" uplink (any DPDK PMD; here net_af_packet on one end of a veth pair).

  uplink_test.py KITE_DPU plain  the other veth end sits in a network namespace as 192.0.2.2/24; a
                                 dpdk-testpmd icmpecho "VM" on a vhost port answers ARP and ping:
                                 the namespace's ping must succeed (frames both ways through the
                                 PMD), tcpdump in the namespace must see frames from the VM's MAC,
                                 testpmd's and the switch's counters must show the traffic
  uplink_test.py KITE_DPU vxlan  the same uplink as a VXLAN uplink (VLAN 10 <-> VNI 5000), the
                                 namespace runs a Linux vxlan device over the veth: VXLAN frames with
                                 VNI 5000 from kite-dpu's VTEP address in the capture, ping succeeds
  uplink_test.py KITE_DPU badcfg a dpdk uplink naming an ethdev the EAL does not have: kite-dpu must
                                 refuse the config (non-zero exit) with a log line naming it
"""
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netlib import Dpu, Procs, Testpmd, need, sh, skip, workdir  # noqa: E402
from netns import Netns, NetnsError  # noqa: E402  (tests/lib, on the path through netlib)
from net_test import read_pcap  # noqa: E402

VM_MAC = "02:4b:00:00:10:00"
NS_MAC = "02:4b:00:00:00:02"
LOCAL_MAC = "02:4b:00:00:00:01"


def mac_bytes(m):
    return bytes.fromhex(m.replace(":", ""))


def wait_listening(log, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if "listening on" in open(log, errors="replace").read():
            return
        time.sleep(0.1)
    raise SystemExit("FAIL: tcpdump did not start capturing")


def run(exe, vxlan):
    need("tcpdump")
    ping = ["ping", "-c", "5", "-W", "2", "-i", "0.3"] if shutil.which("ping") else ["busybox", "ping", "-c", "5", "-W", "2"]
    need(ping[0])
    host_if, ns_if = f"kdp{os.getpid() % 100000}", f"kdn{os.getpid() % 100000}"
    procs, wd = Procs(), workdir()
    try:
        netns = Netns("kupt", name=f"kupt{os.getpid()}")
    except NetnsError:
        skip("cannot create a network namespace (needs root)")
    ns = netns.name
    try:
        try:
            netns.veth(host_if, ns_if)
        except NetnsError:
            skip("cannot create a veth pair")
        sh("ip", "link", "set", host_if, "mtu", "1600", "up")
        sh("ip", "link", "set", "lo", "up", ns=ns)
        sh("ip", "link", "set", ns_if, "address", NS_MAC, "mtu", "1600", "up", ns=ns)
        uplink = {"name": "up0", "type": "dpdk", "device": "net_af_packet0", "mtu": 1600,
                  "eal": ["--no-huge", "-m", "256", "--no-pci", "--no-shconf",
                          f"--vdev=net_af_packet0,iface={host_if}"]}
        cfg = {"ports": [dict(name="vm0", type="vhost", socket=os.path.join(wd, "vm0.sock"), mac=VM_MAC), uplink]}
        if vxlan:
            cfg["ports"][0]["vlan"] = 10
            cfg["vnis"] = [{"vni": 5000, "vlan": 10, "vteps": ["192.0.2.2"]}]
            uplink["vxlan"] = {"local_ip": "192.0.2.1", "local_mac": LOCAL_MAC, "gw_mac": NS_MAC}
            sh("ip", "addr", "add", "192.0.2.2/24", "dev", ns_if, ns=ns)
            sh("ip", "link", "add", "vx0", "type", "vxlan", "id", "5000", "local", "192.0.2.2",
               "remote", "192.0.2.1", "dstport", "4789", "dev", ns_if, ns=ns)
            sh("ip", "link", "set", "vx0", "address", "02:4b:00:00:20:00", "up", ns=ns)
            sh("ip", "addr", "add", "10.78.0.2/24", "dev", "vx0", ns=ns)
            target, filt = "10.78.0.1", ["udp", "port", "4789"]
        else:
            sh("ip", "addr", "add", "192.0.2.2/24", "dev", ns_if, ns=ns)
            target, filt = "192.0.2.1", []
        dpu = Dpu(exe, procs, wd, cfg)
        pcap = os.path.join(wd, "uplink.pcap")
        dump = procs.add(subprocess.Popen(
            netns.exec_prefix + ["tcpdump", "--immediate-mode", "-i", ns_if, "-w", pcap, "-U", "-n", *filt],
            stdout=open(os.path.join(wd, "tcpdump.log"), "w"), stderr=subprocess.STDOUT))
        wait_listening(os.path.join(wd, "tcpdump.log"))
        echo = Testpmd(procs, wd, [os.path.join(wd, "vm0.sock")], "icmpecho", macs=[VM_MAC])
        dpu.wait_links(["vm0"])
        echo.wait_ready()
        # namespace -> veth -> af_packet PMD -> switch -> vm0 (testpmd answers) -> PMD -> veth
        r = sh(*ping, target, ns=ns, check=False)
        print(r.stdout.strip().splitlines()[-2] if r.stdout.strip() else r.stderr)
        ports = dpu.ports()
        print({n: (p["rx_packets"], p["tx_packets"], {k: v for k, v in p["drops"].items() if v})
               for n, p in ports.items()})
        time.sleep(0.5)
        dump.send_signal(2)
        dump.wait(5)
        vm_stats = echo.stop()
        print(f"testpmd: {vm_stats}")
        assert r.returncode == 0, f"ping {target} through the dpdk uplink failed"
        assert vm_stats.get(0, {}).get("fwd_rx", 0) >= 5, "the VM port received fewer frames than pings sent"
        assert vm_stats[0].get("fwd_tx", 0) >= 5, "the VM port answered fewer frames than pings sent"
        assert ports["up0"]["rx_packets"] >= 5 and ports["up0"]["tx_packets"] >= 5, "uplink counters"
        assert ports["vm0"]["tx_packets"] >= 5 and ports["vm0"]["rx_packets"] >= 5, "vm0 counters"
        frames = list(read_pcap(pcap))
        if vxlan:
            from_kite = [f for f in frames if len(f) >= 62 and f[26:30] == bytes([192, 0, 2, 1])]
            print(f"capture: {len(frames)} VXLAN frames, {len(from_kite)} from kite-dpu")
            assert from_kite, "no VXLAN frame from kite-dpu on the namespace side"
            for f in from_kite:
                assert f[0:6] == mac_bytes(NS_MAC) and f[6:12] == mac_bytes(LOCAL_MAC), "outer MACs"
                assert f[12:14] == b"\x08\x00" and f[23] == 17 and f[36:38] == b"\x12\xb5", "outer IPv4/UDP 4789"
                assert f[42] == 0x08 and int.from_bytes(f[46:49], "big") == 5000, "VXLAN flags / VNI"
                assert f[56:62] == mac_bytes(VM_MAC), "inner source is not the VM"
            assert ports["up0"]["arp_replies"] >= 1, "the VTEP address was not resolved through kite-dpu"
        else:
            from_vm = [f for f in frames if len(f) >= 14 and f[6:12] == mac_bytes(VM_MAC)]
            replies = [f for f in from_vm if len(f) >= 35 and f[12:14] == b"\x08\x00" and f[23] == 1 and f[34] == 0]
            print(f"capture: {len(frames)} frames, {len(from_vm)} from the VM, {len(replies)} ICMP echo replies")
            if len(replies) < 5:
                print(sh("tcpdump", "-r", pcap, "-n", "-e", check=False).stdout)
            assert len(replies) >= 5, "the namespace did not see the VM's echo replies"
            assert all(f[0:6] == mac_bytes(NS_MAC) for f in replies), "replies not addressed to the namespace"
        # every thread under a filter, DPDK's interrupt thread included (default --seccomp-level 2)
        ts = dpu.thread_seccomp()
        print(f"kite-dpu threads: {ts}")
        assert any(n.startswith("eal-intr") for n in ts), "no DPDK interrupt thread"
        assert all(v == "2" for v in ts.values()), "a kite-dpu thread runs without its seccomp filter"
        dpu.proc.send_signal(15)   # the ports' teardown runs under the filters too
        rc = dpu.proc.wait(30)
        log = open(dpu.log_path).read()
        assert "forbidden syscall" not in log, "kite-dpu logged a forbidden syscall:\n" + log[-2000:]
        assert rc == 0, f"kite-dpu exited with {rc} after SIGTERM"
        print(f"PASS {'vxlan' if vxlan else 'plain'}")
        shutil.rmtree(wd, ignore_errors=True)
    finally:
        procs.stop_all()
        netns.close()


def badcfg(exe):
    wd = workdir()
    cfg = os.path.join(wd, "dpu.json")
    with open(cfg, "w") as f:
        json.dump({"switch": {"ports": [{"name": "up0", "type": "dpdk", "device": "net_nope0",
                                         "eal": ["--no-huge", "-m", "64", "--no-pci", "--no-shconf"]}]}}, f)
    try:
        r = subprocess.run([exe, "--config", cfg, "--control", os.path.join(wd, "ctl.sock")],
                           capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise SystemExit("FAIL: kite-dpu kept running with an unknown ethdev in its config")
    log = r.stdout + r.stderr
    print(f"kite-dpu exit {r.returncode}: " + " | ".join(ln for ln in log.splitlines() if "error" in ln))
    assert r.returncode != 0, "kite-dpu accepted a dpdk uplink on a missing ethdev"
    assert "no ethdev named 'net_nope0'" in log, "the error does not name the missing device"
    # at run time (the filters are on) a dpdk port is refused with one line, and kite-dpu lives on
    procs = Procs()
    try:
        dpu = Dpu(exe, procs, wd, {"ports": []})
        r = dpu.ctl("port_add", name="up1", type="dpdk", device="net_af_packet0",
                    eal=["--no-huge", "-m", "64", "--no-pci", "--no-shconf"])
        print(f"run-time port_add: {r}")
        assert not r.get("ok") and "config file" in open(dpu.log_path).read(), "a run-time dpdk port was not refused"
        assert dpu.proc.poll() is None and dpu.ports() == {}, "kite-dpu did not survive the refused port"
    finally:
        procs.stop_all()
    print("PASS badcfg")
    shutil.rmtree(wd, ignore_errors=True)


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in ("plain", "vxlan", "badcfg"):
        print(__doc__)
        sys.exit(2)
    if os.geteuid() != 0:
        skip("needs root (veth, namespaces, testpmd memory)")
    if sys.argv[2] == "badcfg":
        return badcfg(sys.argv[1])
    need("dpdk-testpmd")
    run(sys.argv[1], sys.argv[2] == "vxlan")


if __name__ == "__main__":
    main()
