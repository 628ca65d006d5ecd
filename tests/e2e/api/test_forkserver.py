"""Containers that `dockyard serve` starts with dockyard's runtime are started by its fork
server (runtime/shim/forkserver.py) and adopted by their shim, with no runtime process; the
fork server comes back when killed and goes with the server."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.api.conftest import start_server

pytestmark = pytest.mark.root


def wait_for(condition, timeout: float = 30, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def fork_servers(server_pid: int) -> list[int]:
    """The server's children running the fork server."""
    found = []
    for task in os.listdir(f"/proc/{server_pid}/task"):
        with open(f"/proc/{server_pid}/task/{task}/children") as f:
            for pid in f.read().split():
                try:
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                except FileNotFoundError:
                    continue
                if b"dockyard.runtime.shim.forkserver" in cmdline:
                    found.append(int(pid))
    return found


def adopted(dy, cid: str) -> bool:
    """Whether the container's shim took it over from its starter (`--adopt`) rather than
    running the runtime's `create` and `start` itself."""
    pid = int((dy.run_dir / "s" / cid[:16] / "shim.pid").read_text().split()[0])
    return b"--adopt" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")


def test_api_starts_go_through_the_fork_server(api, busybox, dy):
    assert len(fork_servers(api.proc.pid)) == 1
    assert api.docker("run", "--rm", "busybox", "echo", "hello").out == "hello\n"  # attached from the start
    tty = api.docker("run", "-d", "-t", "busybox", "sh", "-c", "tty; exec sleep 600").out.strip()
    plain = api.docker("run", "-d", "-i", "busybox", "sleep", "600").out.strip()
    assert adopted(dy, tty) and adopted(dy, plain)
    wait_for(lambda: "/dev/pts/0" in api.docker("logs", tty).out, what="the tty's name in the log")
    assert api.docker("exec", plain, "echo", "in").out == "in\n"
    failed = api.docker("run", "busybox", "/no/such/file", check=False)
    assert failed.code == 127 and "no such file or directory" in failed.err
    api.docker("rm", "-f", tty, plain)


def test_a_killed_fork_server_is_started_again(api, busybox, dy):
    first, = fork_servers(api.proc.pid)
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: not os.path.exists(f"/proc/{first}/cmdline") or
             Path(f"/proc/{first}/stat").read_text().split(") ")[1][0] == "Z", what="the fork server's end")
    cid = api.docker("run", "-d", "busybox", "sleep", "600").out.strip()
    assert adopted(dy, cid)
    second, = fork_servers(api.proc.pid)
    assert second != first
    api.docker("rm", "-f", cid)


def test_the_fork_server_goes_with_a_killed_server(busybox, dy, tmp_path):
    sock = tmp_path / "d.sock"
    server = start_server(dy, sock)
    fork_server, = fork_servers(server.pid)
    server.send_signal(signal.SIGKILL)
    server.wait()
    sock.unlink()
    (dy.run_dir / "hooks.sock").unlink()
    wait_for(lambda: not os.path.exists(f"/proc/{fork_server}"), what="the fork server's end")
