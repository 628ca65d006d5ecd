"""Events and state of a container's life, the same from dockyard as from dockerd: detached
execs, restarts by policy, exits. Each test runs against `dockyard serve` and, where it is
installed, the host's dockerd (the anchor), with the real docker CLI and docker-py."""

from __future__ import annotations

import secrets
import time

import pytest

pytestmark = pytest.mark.root


def until(condition, timeout: float = 30):
    """Poll `condition` until it returns something true; that value."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return value


def events(engine, since: str, name: str, fmt: str = "{{.Action}} {{.Actor.Attributes.exitCode}}") -> list[str]:
    out = engine.docker("events", "--since", since, "--until", f"{time.time():.3f}", "--filter",
                        f"container={name}", "--format", fmt).out
    return [line.strip() for line in out.splitlines()]


def test_detached_exec_ends_with_exec_die(engine_api):
    """`exec -d` (the API's exec start with Detach) records the command's end: exec_die with
    its code, and exec inspect's Running and ExitCode; with a terminal too."""
    d, name = engine_api.docker, f"parx-{secrets.token_hex(3)}"
    d("run", "-d", "--name", name, "busybox", "sleep", "300")
    since = f"{time.time():.3f}"
    d("exec", "-d", name, "sh", "-c", "sleep 0.3; exit 4")
    d("exec", "-dt", name, "sh", "-c", "yes | head -c 200000; exit 5")  # more than a pty holds unread
    api = engine_api.client().api
    eid = api.exec_create(name, ["sh", "-c", "exit 6"])["Id"]
    assert not api.exec_start(eid, detach=True)
    assert until(lambda: not api.exec_inspect(eid)["Running"] and api.exec_inspect(eid))["ExitCode"] == 6
    shown = until(lambda: (e := events(engine_api, since, name)) and sum(x.startswith("exec_die") for x in e) == 3 and e)
    assert sorted(e for e in shown if e.startswith("exec_die")) == ["exec_die 4", "exec_die 5", "exec_die 6"]
    assert [e.split(":")[0] for e in shown if not e.startswith("exec_die")] == ["exec_create", "exec_start"] * 3
