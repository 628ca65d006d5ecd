"""The API's list and inspect answers come from a copy while nothing changed (api/containercache.py):
a change made anywhere else shows in the very next answer."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.root


def _shim_pid(dy, cid: str) -> int:
    return int((dy.run_dir / "s" / cid[:16] / "shim.pid").read_text().split()[0])


def _gone(pid: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists():
        assert time.monotonic() < deadline, f"process {pid} did not end"
        time.sleep(0.01)


def _state(client, cid: str) -> tuple[str, str]:
    """(inspect's, list's): inspect first, as its copy is kept for as long as nothing changes,
    where the list's also ends when a running container's "Up N seconds" would read otherwise."""
    inspected = client.api.inspect_container(cid)["State"]["Status"]
    return inspected, {c["Id"]: c["State"] for c in client.api.containers(all=True)}[cid]


@pytest.mark.parametrize("kill", ["container", "shim"])
def test_a_container_killed_from_outside_shows_exited_in_the_next_answer(api, dy, busybox, kill):
    client = api.client()
    c = client.containers.run("busybox", ["sleep", "300"], detach=True)
    for _ in range(3):  # the copies are made and reused
        assert _state(client, c.id) == ("running", "running")
    shim = _shim_pid(dy, c.id)
    if kill == "container":
        os.kill(client.api.inspect_container(c.id)["State"]["Pid"], signal.SIGKILL)
    else:  # a shim that dies records nothing: its pidfd tells
        os.kill(shim, signal.SIGKILL)
    _gone(shim)
    assert _state(client, c.id) == ("exited", "exited")
    c.remove(force=True)


def test_changes_from_a_cli_process_show_in_the_next_answer(api, dy, busybox):
    client = api.client()
    assert client.api.containers(all=True) == []
    cid = dy("create", "--name", "made-by-cli", "-l", "k=v", "busybox", "true").out.strip()
    (listed,) = client.api.containers(all=True)
    assert (listed["Id"], listed["Names"], listed["Labels"], listed["Status"]) == (cid, ["/made-by-cli"], {"k": "v"},
                                                                                 "Created")
    assert client.api.inspect_container("made-by-cli")["Name"] == "/made-by-cli"
    dy("rename", "made-by-cli", "renamed")
    assert client.api.containers(all=True)[0]["Names"] == ["/renamed"]
    assert client.api.inspect_container(cid)["Name"] == "/renamed"
    dy("rm", cid)
    assert client.api.containers(all=True) == []
    with pytest.raises(Exception, match="No such container"):
        client.api.inspect_container(cid)
