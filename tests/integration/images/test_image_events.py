"""Image events come from every dockyard process, the CLI included, as docker logs them."""

from __future__ import annotations

import pytest

from tests.integration.distribution.test_cli_push_pull import own_registry  # noqa: F401 - a fixture

pytestmark = pytest.mark.root


def events(dy, since: str) -> list[str]:
    return dy("events", "--since", since, "--until", "0s", "--filter", "type=image",
              "--format", "{{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}}").out.splitlines()


def test_cli_image_commands_log_docker_events(dy, busybox, own_registry, tmp_path):  # noqa: F811
    since = str(int(__import__("time").time()) - 1)
    ref = f"{own_registry}/ev/bb:1"
    dy("tag", "busybox", ref)
    dy("push", ref)
    dy("rmi", ref)
    dy("pull", ref)
    dy("save", "-o", str(tmp_path / "bb.tar"), "busybox")
    dy("load", "-i", str(tmp_path / "bb.tar"))
    dy("export", "-o", str(tmp_path / "fs.tar"), dy("create", "busybox").out.strip())
    imported = dy("import", str(tmp_path / "fs.tar")).out.strip()
    lines = events(dy, since)
    actions = [line.split()[0] for line in lines]
    assert actions == ["tag", "push", "untag", "pull", "save", "load", "import"], lines
    assert f"push {ref} {ref}" in lines and f"pull {ref} {ref}" in lines
    assert f"save {busybox} {busybox}" in lines and f"load {busybox} {busybox}" in lines
    assert f"import {imported} {imported}" in lines
