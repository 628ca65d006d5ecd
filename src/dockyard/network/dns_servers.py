"""The engine's side of the per-network DNS servers (dockyard.network.dns): start one as its
own process, find it by pid file, stop it. Apart from the server so that attaching a
container imports none of the server's machinery (threads, selectors, argparse, dnslib)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from dockyard.errors import DockyardError


class DnsServers:
    """Starts and stops the per-network servers; pid files live in <run_dir>/dns/<network id>.pid."""

    def __init__(self, run_dir: Path, db_path: str) -> None:
        self.dir = run_dir / "dns"
        self.db_path = db_path

    def start(self, network_id: str, listen: str, upstreams: list[str], names: bool, loopback6: bool = False) -> None:
        """Idempotent; returns once the server is bound and detached (setsid + double fork).
        `loopback6`: it also serves the network's published ports on [::1] (dual-stack networks)."""
        if self._pid(network_id):
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "dockyard.network.dns", "--db", self.db_path, "--network", network_id,
               "--listen", listen, "--pidfile", str(self._pidfile(network_id))]
        cmd += [a for u in upstreams for a in ("--upstream", u)]
        cmd += [] if names else ["--no-names"]
        cmd += ["--loopback6"] if loopback6 else []
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           text=True, start_new_session=True, timeout=30)
        if p.returncode != 0:
            detail = (p.stderr.strip().splitlines() or ["exited " + str(p.returncode)])[-1]
            raise DockyardError(f"cannot start the DNS server of network {network_id[:12]}: {detail}")

    def stop(self, network_id: str) -> None:
        """Idempotent; waits (up to 2 s) until the process is gone so its port is free again."""
        pid = self._pid(network_id)
        if pid:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + 2
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.01)
        self._pidfile(network_id).unlink(missing_ok=True)

    def running(self) -> set[str]:
        if not self.dir.is_dir():
            return set()
        return {p.stem for p in self.dir.glob("*.pid") if self._pid(p.stem)}

    def _pidfile(self, network_id: str) -> Path:
        return self.dir / f"{network_id}.pid"

    def _pid(self, network_id: str) -> int | None:
        """The server's pid if it is still that server (pids get reused)."""
        try:
            pid = int(self._pidfile(network_id).read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return None
        return pid if network_id.encode() in cmdline and _alive(pid) else None


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")
