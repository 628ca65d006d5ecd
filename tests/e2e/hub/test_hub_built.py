"""An image the hub builds from a git push is, on a hub with accounts, audited as the build's push,
found by search at once, and shows the README of its source."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.integration.hub.hub_harness import DOCKYARD, builds_of, commit_and_push, hub_cli, wait_for

pytestmark = pytest.mark.root


def test_a_built_image_is_audited_searchable_and_shows_its_readme(accounts_hub, people, git_source):
    root = people.root
    subprocess.run([*DOCKYARD, "--root", str(root / "hub" / "engine"), "--run-dir", str(root / "hub" / "run"),
                    "image", "bootstrap", "busybox"], check=True, capture_output=True)
    work = git_source("team/built")
    sha = commit_and_push(work, "FROM busybox\nCMD [\"true\"]\n", "build me",
                          {"README.md": "# Built here\n\nFrom *git*.\n"})
    wait_for(lambda: builds_of(root, sha) and builds_of(root, sha)[0].status in ("succeeded", "failed"), 180, "the build")
    build = builds_of(root, sha)[0]
    assert build.status == "succeeded", build.reason

    status, body = accounts_hub.get("/v1/search?q=built")
    assert status == 200 and [r["name"] for r in json.loads(body)["results"]] == ["team/built"]
    assert json.loads(body)["results"][0]["is_automated"] is True
    entry = next(line for line in hub_cli(root, "audit", "--repo", "team/built").stdout.splitlines() if "push" in line)
    assert f"build #{build.id}" in entry and build.digest in entry
    status, page = accounts_hub.get("/r/team/built")
    assert status == 200 and "<h1>Built here</h1>" in page and "<em>git</em>" in page
