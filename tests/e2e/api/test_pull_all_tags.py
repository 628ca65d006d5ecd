"""`pull --all-tags`: dockyard's CLI, and the docker CLI against `dockyard serve` (no tag in
POST /images/create pulls every tag, as dockerd does)."""

from __future__ import annotations

import pytest

from tests.conftest import Dockyard
from tests.integration.distribution.test_cli_push_pull import own_registry  # noqa: F401 - a fixture

pytestmark = pytest.mark.root


def _tags(run, repo: str) -> list[str]:
    out = run("images", "--format", "{{.Repository}}:{{.Tag}}").out.split()
    return sorted(t for t in out if t.startswith(repo + ":"))


def test_pull_all_tags_cli_and_api(dy, api, busybox, own_registry, tmp_path):  # noqa: F811
    repo = f"{own_registry}/team/all"
    dy("run", "--name", "changer", "--network", "none", "busybox", "touch", "/changed")
    dy("commit", "changer", f"{repo}:3")
    for tag in ("1", "2"):
        dy("tag", "busybox", f"{repo}:{tag}")
    for tag in ("1", "2", "3"):
        dy("push", "-q", f"{repo}:{tag}")

    other = Dockyard(tmp_path / "root2", tmp_path / "run2")
    out = other("pull", "-a", repo).out
    assert "1: Pulling from team/all" in out and "3: Pulling from team/all" in out
    assert out.count("Digest: sha256:") == 3 and f"Status: Downloaded newer image for {repo}" in out
    assert out.endswith(repo + "\n")
    assert _tags(other, repo) == [f"{repo}:1", f"{repo}:2", f"{repo}:3"]
    assert "Image is up to date" in other("pull", "--all-tags", repo).out
    bad = other("pull", "-a", f"{repo}:1", check=False)
    assert bad.code != 0 and "--all-tags" in bad.err

    for tag in ("1", "2", "3"):
        dy("rmi", f"{repo}:{tag}")
    out = api.docker("pull", "--all-tags", repo).out
    assert f"Status: Downloaded newer image for {repo}" in out
    assert _tags(api.docker, repo) == [f"{repo}:1", f"{repo}:2", f"{repo}:3"]
