"""Exec output framing follows the start request's Tty; detach keys end an attach or exec
connection and leave the container and the process running, as dockerd does."""

from __future__ import annotations

import json
import os
import pty
import select
import socket
import time

import pytest

from tests.e2e.api.conftest import DOCKER
from tests.helpers.rawhttp import http, upgraded
from tests.helpers.waiting import wait_for

pytestmark = pytest.mark.root


def exec_output(api, cid: str, create_tty: bool, start_tty: bool) -> bytes:
    status, body = http(api.sock, "POST", f"/v1.47/containers/{cid}/exec",
                        {"Cmd": ["echo", "framed?"], "Tty": create_tty, "AttachStdout": True, "AttachStderr": True})
    assert status == 201, body
    eid = json.loads(body)["Id"]
    status, out = http(api.sock, "POST", f"/v1.47/exec/{eid}/start", {"Detach": False, "Tty": start_tty})
    assert status == 200
    return out


def test_exec_framing_follows_the_start_request(api, busybox):
    cid = api.docker("run", "-d", "busybox", "sleep", "300").out.strip()
    # pipes, framed: stdout frame header (1, 0, 0, 0, length)
    assert exec_output(api, cid, False, False) == b"\x01\x00\x00\x00\x00\x00\x00\x08framed?\n"
    # pipes, but the start asked for a raw stream
    assert exec_output(api, cid, False, True) == b"framed?\n"
    # a terminal (\r\n), framed because the start did not say Tty
    assert exec_output(api, cid, True, False) == b"\x01\x00\x00\x00\x00\x00\x00\x09framed?\r\n"
    assert exec_output(api, cid, True, True) == b"framed?\r\n"


class Terminal:
    """The docker CLI under a pseudo-terminal, as a user at a terminal runs it."""

    def __init__(self, env: dict, *args: str) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execve(DOCKER, [DOCKER, *args], env)
        self.seen = b""

    def read_until(self, text: bytes, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"no {text!r} in {self.seen!r}"
            if select.select([self.fd], [], [], left)[0]:
                try:
                    self.seen += os.read(self.fd, 4096)
                except OSError:
                    break
        assert text in self.seen, f"no {text!r} in {self.seen!r}"

    def type(self, data: bytes) -> None:
        os.write(self.fd, data)

    def wait(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                try:
                    while select.select([self.fd], [], [], 0.1)[0]:
                        self.seen += os.read(self.fd, 4096)
                except OSError:
                    pass
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.05)
        os.kill(self.pid, 9)
        os.waitpid(self.pid, 0)
        raise AssertionError(f"docker did not end: {self.seen!r}")


def test_detach_keys_end_attach_and_exec(api, busybox):
    api.docker("run", "-dit", "--name", "term", "busybox", "sh")
    attach = Terminal(api.env, "attach", "term")
    attach.type(b"echo one-$((1+1))\r")
    attach.read_until(b"one-2")
    attach.type(b"\x10\x11")
    assert attach.wait() == 1  # the docker CLI's own status for a detach, whatever the engine
    assert b"read escape sequence" in attach.seen
    assert json.loads(api.docker("inspect", "term").out)[0]["State"]["Running"]

    attach = Terminal(api.env, "attach", "--detach-keys", "ctrl-a,x", "term")
    attach.type(b"echo two-$((1+2))\r")
    attach.read_until(b"two-3")
    attach.type(b"\x01x")
    assert attach.wait() == 1 and b"read escape sequence" in attach.seen

    exec_ = Terminal(api.env, "exec", "-it", "term", "sh", "-c", "echo in-exec; exec sleep 300")
    exec_.read_until(b"in-exec")
    exec_.type(b"\x10\x11")
    assert exec_.wait() == 1 and b"read escape sequence" in exec_.seen
    assert "sleep 300" in api.docker("top", "term").out  # the exec'd process runs on
    assert json.loads(api.docker("inspect", "term").out)[0]["State"]["Running"]


def test_invalid_detach_keys_are_refused(api, busybox):
    cid = api.docker("run", "-dit", "busybox", "sh").out.strip()
    r = api.docker("exec", "--detach-keys", "ctrl-pq", cid, "true", check=False)
    assert r.code != 0 and "Invalid escape keys (ctrl-pq) provided" in r.err
    status, body = http(api.sock, "POST", f"/v1.47/containers/{cid}/attach?stream=1&stdin=1&detachKeys=nope")
    assert status == 400 and b"Invalid detach keys (nope) provided" in body
    wait_for(lambda: "Traceback" not in api.log, what="a clean server log")


def closed_by_server(s: socket.socket) -> bool:
    try:
        while s.recv(65536):
            pass
        return True
    except TimeoutError:
        return False


def test_the_server_itself_honours_detach_keys(api, busybox):
    cid = api.docker("run", "-dit", "busybox", "sh").out.strip()
    s = upgraded(api.sock, f"/v1.47/containers/{cid}/attach?stream=1&stdin=1&stdout=1&detachKeys=ctrl-x,y")
    s.sendall(b"\x18y")
    assert closed_by_server(s)
    status, body = http(api.sock, "POST", f"/v1.47/containers/{cid}/exec",
                        {"Cmd": ["sh"], "Tty": True, "AttachStdin": True, "AttachStdout": True})
    eid = json.loads(body)["Id"]
    s = upgraded(api.sock, f"/v1.47/exec/{eid}/start", {"Detach": False, "Tty": True})
    s.sendall(b"\x10\x11")
    assert closed_by_server(s)
    assert json.loads(api.docker("inspect", cid).out)[0]["State"]["Running"]
    assert json.loads(http(api.sock, "GET", f"/v1.47/exec/{eid}/json")[1])["Running"]
