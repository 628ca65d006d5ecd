"""The docker CLI's container commands against `dockyard serve`."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import socket
import time
import urllib.request

import pytest

from tests.e2e.api.conftest import DOCKER, container_service_has
from tests.helpers.waiting import wait_for

pytestmark = [pytest.mark.root, pytest.mark.skipif(
    bool(container_service_has("summary", "inspect", "stats", "archive_get", "archive_put")),
    reason=str(container_service_has("summary", "inspect", "stats", "archive_get", "archive_put")))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, tries: int = 30) -> str:
    for _ in range(tries):
        try:
            return urllib.request.urlopen(url, timeout=2).read().decode()
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing answered at {url}")


def exec_it(env: dict, *args: str, typed: bytes) -> bytes:
    """Run `docker ARGS` on a pseudo-terminal, type `typed`, return what the terminal showed."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(DOCKER, [DOCKER, *args], env)
    out = b""
    os.write(fd, typed)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if select.select([fd], [], [], 0.5)[0]:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    os.waitpid(pid, 0)
    os.close(fd)
    return out


def test_run_rm_prints_and_returns_the_exit_code(api, busybox):
    res = api.docker("run", "--rm", "busybox", "echo", "hi")
    assert res.out == "hi\n"
    res = api.docker("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert (res.code, res.out, res.err) == (3, "out\n", "err\n")
    assert api.docker("ps", "-aq").out == ""


def test_web_server_lifecycle(api, busybox, tmp_path):
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("served by dockyard\n")
    port = free_port()
    cid = api.docker("run", "-d", "-p", f"{port}:80", "--name", "web", "-v", f"{www}:/www",
                     "busybox", "httpd", "-f", "-v", "-h", "/www").out.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid)
    assert http_get(f"http://127.0.0.1:{port}/") == "served by dockyard\n"
    ps = api.docker("ps", "--format", "{{.Names}} {{.Status}} {{.Ports}}").out
    assert re.match(rf"web Up .* 0\.0\.0\.0:{port}->80/tcp", ps), ps
    assert api.docker("inspect", "-f", "{{.State.Status}} {{.Name}}", "web").out.strip() == "running /web"
    assert "response:200" in api.docker("logs", "web").err  # httpd -v logs each response to stderr

    assert api.docker("exec", "web", "cat", "/www/index.html").out == "served by dockyard\n"
    res = api.docker("exec", "web", "sh", "-c", "echo to-err >&2; exit 4", check=False)
    assert (res.code, res.err) == (4, "to-err\n")
    assert api.docker("exec", "-i", "web", "tr", "a-z", "A-Z", input="piped in\n").out == "PIPED IN\n"
    shown = exec_it(api.env, "exec", "-it", "web", "sh", typed=b"echo $((6*7)); exit 5\n")
    assert b"42" in shown, shown

    (tmp_path / "up.txt").write_text("copied up\n")
    api.docker("cp", str(tmp_path / "up.txt"), "web:/tmp/up.txt")
    assert api.docker("exec", "web", "cat", "/tmp/up.txt").out == "copied up\n"
    api.docker("cp", "web:/www/index.html", str(tmp_path / "down.html"))
    assert (tmp_path / "down.html").read_text() == "served by dockyard\n"

    stats = json.loads(api.docker("stats", "--no-stream", "--format", "{{json .}}", "web").out)
    assert stats["Name"] == "web" and stats["MemUsage"]

    api.docker("stop", "-t", "1", "web")
    assert api.docker("inspect", "-f", "{{.State.Status}}", "web").out.strip() == "exited"
    api.docker("start", "web")
    assert http_get(f"http://127.0.0.1:{port}/") == "served by dockyard\n"
    api.docker("restart", "-t", "1", "web")
    assert api.docker("inspect", "-f", "{{.State.Running}} {{.RestartCount}}", "web").out.split()[0] == "true"
    assert api.docker("rm", "-f", "web").out.strip() == "web"
    assert api.docker("ps", "-aq").out == ""


def test_top_through_the_api_prints_what_dockyard_top_prints(api, dy, busybox):
    """`docker top` (the docker CLI's table of the API's answer) and `dockyard top` (answered
    before click, its lines read from /proc) print the same bytes, with and without ps options."""
    api.docker("run", "-d", "--name", "tp", "busybox", "sh", "-c", "sleep 301 & sleep 302")
    wait_for(lambda: api.docker("top", "tp").out.count("sleep 30") == 2, what="both sleeps")
    for ps_args in ((), ("-o", "pid,comm"), ("-ef",)):  # again where C (CPU %) ticks down between the two
        wait_for(lambda: api.docker("top", "tp", *ps_args).out == dy("top", "tp", *ps_args).out, timeout=10,
                 what=f"top {ps_args}")
