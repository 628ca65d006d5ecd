"""Forgetting an address's connections (network/conntrack.py) against the kernel's table, with
entries made and listed by the conntrack tool: what `conntrack -D -s IP` and `-D -r IP` delete
goes, in every protocol shape and zone, IPv6 too, and nothing else does."""

from __future__ import annotations

import os
import random
import subprocess

import pytest

from dockyard.network import conntrack

pytestmark = pytest.mark.root


@pytest.fixture
def addrs():
    """Three IPv4 and two IPv6 addresses of a test's own (a random slice of the documentation
    ranges); every entry of theirs is deleted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    base = random.randrange(0, 250, 3)
    four, six = [f"198.51.100.{base + i}" for i in range(3)], [f"2001:db8:{base:x}::{i}" for i in (1, 2)]
    yield four, six
    for ip in four + six:
        for flag in ("-s", "-d"):
            subprocess.run(["conntrack", "-D", flag, ip], capture_output=True)


def insert(*args: str) -> None:
    subprocess.run(["conntrack", "-I", *args, "-t", "60"], check=True, capture_output=True)


def listed(*addresses: str) -> list[str]:
    out = subprocess.run(["conntrack", "-L", "-f", "ipv4"], capture_output=True, text=True).stdout
    out += subprocess.run(["conntrack", "-L", "-f", "ipv6"], capture_output=True, text=True).stdout
    return sorted(line.split()[0] + " " + line.split("src=", 1)[1].split()[0] for line in out.splitlines()
                  if any(f"src={a} " in line for a in addresses))


def test_forget_deletes_what_conntrack_dash_d_s_and_r_would(addrs):
    (gone, peer, kept), (gone6, peer6) = addrs
    udp = ["-p", "udp", "--sport", "1000", "--dport", "2000"]
    insert("-s", gone, "-d", peer, *udp)                                            # it opened
    insert("-s", peer, "-d", kept, "-r", gone, "-q", peer, "-p", "tcp", "--sport", "1001", "--dport", "80",
           "--reply-port-src", "80", "--reply-port-dst", "1001", "--state", "ESTABLISHED")  # DNATed to it
    insert("-s", gone, "-d", peer, *udp, "-w", "7")                                 # another zone
    insert("-s", gone, "-d", peer, "-p", "icmp", "--icmp-type", "8", "--icmp-code", "0", "--icmp-id", "55")
    insert("-s", gone6, "-d", peer6, "-p", "icmpv6", "--icmpv6-type", "128", "--icmpv6-code", "0", "--icmpv6-id", "7")
    insert("-s", gone6, "-d", peer6, *udp)
    insert("-s", kept, "-d", peer, *udp)
    insert("-s", peer, "-d", gone, "-p", "udp", "--sport", "1002", "--dport", "53")  # to it: its reply's source
    assert len(listed(gone, peer, kept, gone6)) == 8

    conntrack.forget([gone, gone6])
    assert listed(gone, peer, kept, gone6) == [f"udp {kept}"]


def test_a_protocol_without_a_written_tuple_is_found_by_a_dump(addrs):
    (gone, peer, _), _ = addrs
    insert("-s", gone, "-d", peer, "-p", "gre", "--srckey", "5", "--dstkey", "6")
    insert("-s", gone, "-d", peer, "-p", "udp", "--sport", "1000", "--dport", "2000")
    assert len(listed(gone)) == 2
    conntrack.forget([gone])
    assert listed(gone) == []
