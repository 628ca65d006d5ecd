"""Container, network and volume events of a container's life, with the attributes docker
logs (the container's labels, image and name, and each action's own), from the CLI."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.root


def events(dy, since: str, *filters: str) -> list[dict]:
    import json
    out = dy("events", "--since", since, "--until", str(int(time.time()) + 1), *filters, "--format", "{{json .}}").out
    return [json.loads(line) for line in out.splitlines()]


def test_a_containers_life_in_events(dy, busybox, tmp_path):
    since = str(int(time.time()) - 1)
    dy("network", "create", "evnet")
    dy("volume", "create", "evvol")
    cid = dy("run", "-d", "--name", "ev", "-l", "team=blue", "--network", "evnet", "-v", "evvol:/data", "busybox",
             "sh", "-c", "trap 'exit 3' TERM; while true; do sleep 0.1; done").out.strip()
    assert dy("exec", "ev", "sh", "-c", "exit 4", check=False).code == 4
    dy("top", "ev")
    (tmp_path / "in.txt").write_text("x")
    dy("cp", str(tmp_path / "in.txt"), "ev:/tmp/in.txt")
    dy("cp", "ev:/tmp/in.txt", str(tmp_path / "out.txt"))
    dy("rename", "ev", "ev2")
    dy("kill", "-s", "TERM", "ev2")
    dy("wait", "ev2")  # waiting when the container exits: it answers after the die event, as dockerd's
    assert [e["Action"] for e in events(dy, since, "--filter", f"container={cid}", "--filter", "event=die")] == ["die"]
    dy("commit", "-m", "snap", "ev2", "evimage:1")
    dy("rm", "ev2")

    seen = events(dy, since)
    container = [e for e in seen if e["Type"] == "container" and e["Actor"]["ID"] == cid]
    actions = [e["Action"] for e in container]
    assert actions == ["create", "start", "exec_create: sh -c exit 4", "exec_start: sh -c exit 4", "exec_die", "top",
                       "extract-to-dir", "archive-path", "rename", "kill", "die", "commit", "destroy"], actions
    by = {e["Action"]: e["Actor"]["Attributes"] for e in container}
    assert all(a["team"] == "blue" and a["image"] == "busybox" for a in by.values())
    assert by["create"]["name"] == "ev" and by["rename"] == {**by["rename"], "name": "ev2", "oldName": "/ev"}
    assert by["exec_die"]["exitCode"] == "4" and by["exec_die"]["execID"] == by["exec_create: sh -c exit 4"]["execID"]
    assert by["kill"]["signal"] == "15"
    assert by["die"]["exitCode"] == "3" and by["die"]["execDuration"].isdigit()
    assert by["extract-to-dir"]["path"] == "/tmp" and by["archive-path"]["path"] == "/tmp/in.txt"
    assert by["commit"]["comment"] == "snap" and by["commit"]["imageRef"] == "evimage:1"

    network = [(e["Action"], e["Actor"]["Attributes"]) for e in seen if e["Type"] == "network"]
    assert [a for a, attrs in network if attrs.get("container") == cid] == ["connect", "disconnect"]
    assert all(attrs["name"] == "evnet" and attrs["type"] == "bridge" for a, attrs in network if attrs.get("container"))
    volume = [(e["Action"], e["Actor"]["ID"], e["Actor"]["Attributes"]) for e in seen if e["Type"] == "volume"]
    assert [(a, name) for a, name, _ in volume] == [("create", "evvol"), ("mount", "evvol"), ("unmount", "evvol")]
    mount = volume[1][2]
    assert mount == {"container": cid, "destination": "/data", "driver": "local", "propagation": mount["propagation"],
                     "read/write": "true"}
    assert events(dy, since, "--filter", "event=exec_create") and \
        all(e["Action"].startswith("exec_create: ") for e in events(dy, since, "--filter", "event=exec_create"))

