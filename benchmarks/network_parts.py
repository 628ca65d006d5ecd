"""The kernel work of a container's network start and exit, each part done as the engine does it
now (in-process: rtnetlink, libnftables, ctnetlink) and as it was done before (a process each:
`ip -batch`, `nft -j -f` of the whole table, two `conntrack -D`), taking turns round by round.
Prints the wall time and the CPU (this process's and its children's) of each, medians.

Parts: the veth pair with its address and default route inside a new namespace; a published
port added (its map elements, against the whole table rewritten with it); the same port
removed; the conntrack entries of one address deleted (one entry in the table).

Usage (as root): .venv/bin/python benchmarks/network_parts.py [ROUNDS=20]
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dockyard.network import conntrack, firewall, netns
from dockyard.network.bridge import KernelNetlink
from dockyard.network.firewall import ActiveNetwork, NftFirewall, PortRule
from dockyard.network.ports import PortBinding

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 20
TAG = f"dynp{os.getpid()}"
SUBNET, GATEWAY, ADDRESS = "10.213.254.0/24", "10.213.254.1", "10.213.254.2"


def measured(fn) -> tuple[float, float]:
    """(wall ms, CPU ms of this process and its children) of fn()."""
    r0, c0 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    fn()
    wall = (time.perf_counter() - t) * 1000
    r1, c1 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = sum(getattr(b, f) - getattr(a, f) for a, b in ((r0, r1), (c0, c1)) for f in ("ru_utime", "ru_stime"))
    return wall, cpu * 1000


def veth_by_ip(netns_path: str, host_ifname: str) -> None:
    """What KernelNetlink.add_endpoint did before: one `ip -batch`, started by a thread inside the namespace."""
    batch = (f"link add eth0 address 02:42:0a:d5:fe:02 mtu 1500 type veth peer name {host_ifname} mtu 1500 "
             f"netns {os.getpid()}\naddr add {ADDRESS}/24 dev eth0\nlink set dev eth0 up\n"
             f"route add default via {GATEWAY}\n")
    netns.run_in(netns_path, lambda: subprocess.run(["ip", "-batch", "-"], input=batch, text=True, check=True))


def nft_process(commands: list[dict]) -> None:
    subprocess.run(["nft", "-j", "-f", "-"], input=json.dumps({"nftables": commands}), text=True, check=True)


def conntrack_processes(ip: str) -> None:
    procs = [subprocess.Popen(["conntrack", "-D", flag, ip], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for flag in ("-s", "-r")]
    for p in procs:
        p.wait()


def main() -> None:
    kn, fw = KernelNetlink(), NftFirewall()
    net = [ActiveNetwork(TAG, SUBNET, False)]
    others = [PortRule(PortBinding("", 20000 + i, 80, "tcp"), f"10.213.254.{10 + i}") for i in range(10)]
    port = PortRule(PortBinding("", 30000, 80, "tcp"), ADDRESS)
    table = firewall.ruleset(TAG, net, others)
    times: dict[str, list[tuple[float, float]]] = {}
    subprocess.run(["ip", "link", "add", TAG, "type", "bridge"], check=True)
    try:
        with tempfile.TemporaryDirectory(prefix="dynp-") as tmp:
            for i in range(ROUNDS + 1):
                parts = []
                for how in ("in-process", "a process"):
                    ns = Path(tmp) / f"ns{i}{how[0]}"
                    kn.create_netns(ns)
                    host_ifname = f"dynp{i}{how[0]}"
                    if how == "in-process":
                        parts.append(("veth, address, route", how, lambda: kn.add_endpoint(
                            host_ifname=host_ifname, bridge=TAG, netns_path=str(ns), ifname="eth0",
                            mac="02:42:0a:d5:fe:02", address=ADDRESS, prefixlen=24, gateway=GATEWAY, tag=TAG,
                            mtu=1500)))
                    else:
                        parts.append(("veth, address, route", how, lambda: veth_by_ip(str(ns), host_ifname)))
                    fw.apply(table)
                    if how == "in-process":
                        parts.append(("publish a port", how, lambda: fw.apply(
                            firewall.element_changes(TAG, [], firewall.port_elements([port])))))
                        parts.append(("unpublish it", how, lambda: fw.apply(
                            firewall.element_changes(TAG, firewall.port_elements([port]), []))))
                    else:
                        parts.append(("publish a port", how, lambda: nft_process(firewall.ruleset(TAG, net, [*others, port]))))
                        parts.append(("unpublish it", how, lambda: nft_process(table)))
                    subprocess.run(["conntrack", "-I", "-s", ADDRESS, "-d", "10.213.254.99", "-p", "udp", "--sport", "1",
                                    "--dport", "2", "-t", "30"], capture_output=True)
                    parts.append(("forget one address's connections", how,
                                  (lambda: conntrack.forget([ADDRESS])) if how == "in-process"
                                  else (lambda: conntrack_processes(ADDRESS))))
                    for name, way, fn in parts[-4:]:
                        result = measured(fn)
                        if i:
                            times.setdefault(f"{name:34} {way}", []).append(result)
                    kn.remove_netns(ns)
    finally:
        fw.apply(firewall.teardown(TAG))
        subprocess.run(["ip", "link", "del", TAG])
    print(f"load average: {os.getloadavg()[0]:.1f}; medians of {ROUNDS}")
    for key, xs in times.items():
        print(f"  {key:48} wall {statistics.median(x[0] for x in xs):6.2f} ms   CPU {statistics.median(x[1] for x in xs):6.2f} ms")


if __name__ == "__main__":
    main()
