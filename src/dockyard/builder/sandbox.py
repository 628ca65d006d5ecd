"""Where a RUN step's network comes from: the host's, none, or a user-defined network.

A host or none step sees the host's resolv.conf and hosts file (plus the build's extra hosts);
a step on a user-defined network is attached to it like a container for the length of the step
(its own namespace, an address, the network's DNS server, which resolves the containers on it
by name) and detached afterwards, whatever happens.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HOSTNAME = "buildkitsandbox"


@dataclass(frozen=True)
class RunNetwork:
    mode: str             # "host" or "none" (the runtime's network modes), "" for a namespace of its own
    netns_path: str       # that namespace, when mode is ""
    hosts_path: str
    resolv_conf_path: str


def check_network(engine, network: str) -> None:
    """Refuse, before the build starts, a `network` that names no network (NotFound) or that
    builds cannot use."""
    from dockyard.errors import InvalidArgument

    if network.startswith("container:"):
        raise InvalidArgument(f"network mode {network} is not supported for builds")
    if network not in ("default", "host", "none"):
        engine.networks.inspect(network)


@contextmanager
def run_network(engine, network: str, container_id: str, files_dir: Path,
                extra_hosts: list[str]) -> Iterator[RunNetwork]:
    """The network of one RUN step, `network` being host, none or a network's name or ID;
    `files_dir` receives its hosts and resolv.conf."""
    from dockyard.network import files

    if network in ("host", "none"):
        gateway = None
        if any(h.endswith("host-gateway") for h in extra_hosts):  # the host as the default bridge sees it
            gateway = engine.networks.inspect("bridge")["IPAM"]["Config"][0]["Gateway"]
        extra = [files.parse_add_host(h, gateway) for h in extra_hosts]
        hosts = Path("/etc/hosts").read_text() + "".join(f"{ip}\t{name}\n" for name, ip in extra)
        (files_dir / "hosts").write_text(hosts)
        shutil.copyfile("/etc/resolv.conf", files_dir / "resolv.conf")
        yield RunNetwork(network, "", str(files_dir / "hosts"), str(files_dir / "resolv.conf"))
        return
    att = engine.networks.attach(container_id, container_id, mode=network, hostname=HOSTNAME, files_dir=files_dir,
                                 add_hosts=extra_hosts)
    try:
        yield RunNetwork("", att.netns_path or "", str(files_dir / "hosts"), str(files_dir / "resolv.conf"))
    finally:
        engine.networks.detach(container_id)
