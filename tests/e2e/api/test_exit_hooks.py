"""The shims' exit and health hooks run inside `dockyard serve` (containers/hooks.py) while it
listens on <run-dir>/hooks.sock, as processes when it does not, and a server's start finishes
the exits nobody handled."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time

import pytest

from tests.e2e.api.conftest import start_server

pytestmark = pytest.mark.root


@pytest.fixture
def serve_options() -> tuple[str, ...]:
    return ("--log-level", "debug")  # the server logs each hook it ran in-process


def wait_for(condition, timeout: float = 30, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def container_ids(dy) -> list[str]:
    return dy("ps", "-aq", "--no-trunc").out.split()


def test_exits_and_health_changes_are_handled_in_the_server(api, busybox, dy):
    api.docker("run", "--rm", "--name", "gone", "busybox", "true")
    cid = api.docker("run", "-d", "--name", "kept", "busybox", "sh", "-c", "exit 3").out.strip()
    by_cli = dy("run", "-d", "--rm", "busybox", "true").out.strip()  # a CLI's container: the server's hook too
    wait_for(lambda: f"ran hook cleanup {cid}" in api.log, what="the exit hook in the server")
    wait_for(lambda: f"ran hook cleanup {by_cli}" in api.log, what="the CLI container's exit hook in the server")
    wait_for(lambda: container_ids(dy) == [cid], what="only the kept container left")
    assert api.docker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", cid).out.split() == ["exited", "3"]
    assert "hook cleanup" in api.log and "failed" not in api.log

    healthy = api.docker("run", "-d", "--health-cmd", "true", "--health-interval", "100ms",
                         "busybox", "sleep", "60").out.strip()
    wait_for(lambda: f"ran hook health-event {healthy}" in api.log, what="the health hook in the server")
    events = api.docker("events", "--since", "0", "--until", str(int(time.time()) + 1),
                        "--filter", f"container={healthy}", "--filter", "event=health_status").out
    assert "health_status: healthy" in events


def test_without_a_listening_server_the_shim_runs_the_hook_process(busybox, dy, tmp_path):
    sock = tmp_path / "d.sock"
    hooks_sock = dy.run_dir / "hooks.sock"
    server = start_server(dy, sock)
    try:
        cid = dy("run", "-d", "--rm", "busybox", "sleep", "600").out.strip()
        assert hooks_sock.is_socket()
    finally:
        server.send_signal(signal.SIGKILL)  # leaves hooks.sock behind: a shim's connect is refused
        server.wait()
        sock.unlink()
    assert hooks_sock.is_socket()
    dy("kill", cid)
    wait_for(lambda: not container_ids(dy), what="the --rm container removed by the hook process")


def test_a_server_start_finishes_exits_no_server_handled(busybox, dy, tmp_path):
    # a server that took the hooks and died before running them (here: one that never runs them)
    taken: list[bytes] = []
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(dy.run_dir / "hooks.sock"))
    listener.listen()

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                data = b""
                while chunk := conn.recv(4096):
                    data += chunk
                conn.sendall(b"ok\n")
                taken.append(data)

    threading.Thread(target=accept, daemon=True).start()
    try:
        removed = dy("run", "-d", "--rm", "busybox", "true").out.strip()
        kept = dy("create", "busybox", "sh", "-c", "exit 7").out.strip()
        dy("start", kept)
        wait_for(lambda: len(taken) == 2, what="both exit hooks taken")
    finally:
        listener.shutdown(socket.SHUT_RDWR)  # wakes the accept: nothing here may answer the server's probe
        listener.close()
    assert all(b"\0cleanup\0" in data for data in taken)
    for cid in (removed, kept):  # exited, nobody recorded it: its shim is gone, its state says running
        wait_for(lambda: not (dy.run_dir / "s" / cid[:16] / "shim.pid").exists(), what="the shim's end")
    sock = tmp_path / "d.sock"
    server = start_server(dy, sock)
    try:
        assert container_ids(dy) == [kept]
        assert dy("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", kept).out.split() == ["exited", "7"]
        assert not list((dy.run_dir / "containers").glob(f"{removed}*"))
    finally:
        server.terminate()
        server.wait(10)
    assert not (dy.run_dir / "hooks.sock").exists() and not sock.exists()
    assert os.listdir(dy.run_dir / "s") == [kept[:16]] or not os.listdir(dy.run_dir / "s")
