"""Networking for a rootless root: the way out and the published ports of the user's
"rootless netns", the network namespace the user's pause process holds.

Inside that namespace the engine's own network code runs unchanged as its "root" (bridges,
veths, nftables NAT, the DNS servers); this package adds what only the host side can give:

- a link to the outside (pasta, else slirp4netns: `link.py`) whose default route the bridge
  NAT of the engine leads out through;
- published ports: a per-user forwarder on the host (`forwarder.py`) listens where `-p` asks
  and connects into the rootless netns to the container.

Both live in one helper process per user that exits when the pause process does.

How the core calls it (as the user, no root needed), e.g. with dockyard.rootless:

    # rootless/pause.py, ensure(): right after `pid = _start()`, still in the host's namespaces
    from dockyard.network import rootless as rootless_net
    try:
        rootless_net.start_outside(pid, paths.run_dir())
    except BaseException:
        os.kill(pid, signal.SIGKILL)  # a pause process with no way out is no use
        raise

    # engine.py, Engine.networks, when rootless.active(): the service wrapped, its resolvers as the
    # rootless netns sees them (a resolver on the host's loopback is reached through pasta)
    from dockyard.network.rootless import Outside
    from dockyard.network.rootless.publishing import Publishing
    outside = Outside(paths.run_dir())
    service = NetworkService(self.db, self.root, self.run_dir, config, registry=registry,
                             host_resolvers=outside.host_resolvers)
    return Publishing(Inside(service, path()), outside)

`Publishing` publishes a container's ports with its `attach` (a refusal fails the attach and
undoes it), unpublishes them with its `detach`, and brings the host's ports back in line with
the service's ports table at `connect`/`disconnect`/`reconcile`. Lower level, for callers of their own:
`publish(outside, bindings, container_ip)`, `unpublish(outside, bindings)`, `published(outside)`,
`stop(outside)` (the helper also ends by itself when the pause process does).

Errors are DockyardErrors with one line: Forbidden for a port below the host's
net.ipv4.ip_unprivileged_port_start, Conflict for a host port some process holds.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from dockyard.errors import Conflict, DockyardError, Forbidden, InvalidArgument
from dockyard.network.ports import PortBinding
from dockyard.rootless.paths import NET_HELPER_DIRNAME

CONTROL_TIMEOUT = 10.0
_ERRORS = {"forbidden": Forbidden, "conflict": Conflict, "invalid": InvalidArgument}


@dataclass(frozen=True)
class Outside:
    """The handle: everything lives in `<run_dir>/rootless-net/` (pid files, control socket,
    and `failed`: the pause process whose helper could not be started, and why)."""

    run_dir: Path

    @property
    def dir(self) -> Path:
        return Path(self.run_dir) / NET_HELPER_DIRNAME

    @property
    def forwarder_pid(self) -> int | None:
        return _pid(self.dir / "forwarder.pid")

    @property
    def link(self) -> tuple[str, int] | None:
        """(driver, pid) of the running link, "pasta" or "slirp4netns"."""
        for driver in ("pasta", "slirp4netns"):
            pid = _pid(self.dir / f"{driver}.pid")
            if pid is not None:
                return driver, pid
        return None

    @property
    def pause_pid(self) -> int | None:
        """The pause process the running helper serves."""
        pid = self.forwarder_pid
        argv = _cmdline(pid) if pid else []
        return int(argv[-2]) if len(argv) >= 2 and argv[-2].isdigit() else None

    def running(self) -> bool:
        return (self.dir / "ports.sock").exists() and self.forwarder_pid is not None

    def host_resolvers(self, read=None):
        """The host's resolvers as seen from the rootless netns, for NetworkService's
        `host_resolvers`: a server on the host's loopback (a local dnsmasq, systemd-resolved
        with no upstream list) is reached at the link's DNS address instead."""
        from dockyard.network import files
        from dockyard.network.rootless.link import DNS
        from dockyard.plainclass import replace

        host, upstream = (read or files.read_host_resolvers)()
        current = self.link
        if current is None or not any(files.is_loopback(s) for s in host.nameservers):
            return host, upstream
        if upstream and not all(files.is_loopback(s) for s in upstream.nameservers):
            return host, upstream  # systemd-resolved's own servers, which the engine swaps in
        servers = dict.fromkeys(DNS[current[0]] if files.is_loopback(s) else s for s in host.nameservers)
        return replace(host, nameservers=tuple(servers)), upstream


def start_outside(pause_pid: int, run_dir: Path) -> Outside:
    """Give the pause process's network namespace a way out and start the port forwarder;
    returns once both work. Idempotent: a helper already serving this pause process is kept."""
    outside = Outside(Path(run_dir))
    if outside.running():
        if outside.pause_pid == pause_pid:
            return outside
        stop(outside)  # the helper of a pause process that just ended, not gone yet
    p = subprocess.run([sys.executable, "-m", "dockyard.network.rootless.forwarder", str(pause_pid), str(outside.dir)],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        detail = (p.stderr.strip().splitlines() or [f"exit status {p.returncode}"])[-1]
        raise DockyardError(f"cannot set up rootless networking: {detail}")
    return outside


def publish(outside: Outside, bindings: Iterable[PortBinding], container_ip: str) -> None:
    """Forward each binding's host address and port to `container_ip` in the rootless netns
    (all or none). Publishing a host port again re-targets it."""
    wanted = [[b.host_ip, b.host_port, b.proto, container_ip, b.container_port] for b in bindings]
    if wanted:
        _request(outside, {"publish": wanted})


def unpublish(outside: Outside, bindings: Iterable[PortBinding]) -> None:
    """Stop forwarding these host ports (ports not forwarded are ignored)."""
    gone = [[b.host_ip, b.host_port, b.proto] for b in bindings]
    if gone and outside.running():
        _request(outside, {"unpublish": gone})


def published(outside: Outside) -> list[tuple[PortBinding, str]]:
    """What is forwarded now: (binding, container IP) pairs."""
    if not outside.running():
        return []
    return [(PortBinding(h, p, tp, proto), ip) for h, p, proto, ip, tp in _request(outside, {"list": True})["ports"]]


def stop(outside: Outside) -> None:
    """Stop the forwarder and the link (idempotent); waits until both are gone."""
    from dockyard.network.rootless import link

    pid = outside.forwarder_pid
    if pid is not None:
        link.terminate(pid, lambda: _is_forwarder(pid, outside.dir))
    current = outside.link
    if current is not None:  # the forwarder stops it; this is for a forwarder that was killed
        link.kill(*current)
    remove_files(outside.dir)


def remove_files(directory: Path) -> None:
    """The helper's files and its directory, once it is gone."""
    for name in ("ports.sock", "forwarder.pid", "pasta.pid", "slirp4netns.pid", "failed"):
        (directory / name).unlink(missing_ok=True)
    try:
        directory.rmdir()
    except OSError:
        pass


def _request(outside: Outside, request: dict) -> dict:
    path = outside.dir / "ports.sock"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(CONTROL_TIMEOUT)
            s.connect(str(path))
            s.sendall(json.dumps(request).encode() + b"\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        answer = json.loads(data)
    except (OSError, ValueError) as e:
        try:  # it never started for this pause process: why (rootless/pause.py wrote it)
            why = (outside.dir / "failed").read_text().splitlines()[1]
        except (OSError, IndexError):
            raise DockyardError(f"the rootless network helper does not answer at {path}: "
                                f"{getattr(e, 'strerror', None) or e}") from None
        raise DockyardError(f"the rootless network helper is not running: {why}") from None
    if "error" in answer:
        raise _ERRORS.get(answer.get("kind"), DockyardError)(answer["error"])
    return answer


def _pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if os.path.exists(f"/proc/{pid}") else None


def _cmdline(pid: int) -> list[str]:
    try:
        return os.fsdecode(Path(f"/proc/{pid}/cmdline").read_bytes()).split("\0")[:-1]
    except OSError:
        return []


def _is_forwarder(pid: int, directory: Path) -> bool:
    """Whether `pid` is still this directory's forwarder (and no zombie)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    argv = _cmdline(pid)
    return "dockyard.network.rootless.forwarder" in argv and str(directory) in argv and state not in "ZX"
