"""Automated builds: a `git push` to a bare repository with the hub's hook builds and publishes an image."""

from __future__ import annotations

import json
import subprocess

import pytest
from hub_harness import DOCKYARD, builds_of, commit_and_push, hub_cli, skopeo, wait_for
from selenium.webdriver.common.by import By

from dockyard.hub.state import RESTARTED, HubState, Source


def _has_build() -> bool:
    return subprocess.run([*DOCKYARD, "build", "--help"], capture_output=True).returncode == 0


needs_build = pytest.mark.skipif(not _has_build(), reason="`dockyard build` is not available yet (issue: build CLI)")


@pytest.fixture
def repo(git_source):
    """A bare repository registered as source team/app and a clone to commit in."""
    return git_source("team/app", "--tag-rule", "latest,{branch}-{short_sha}")


def _build(root, sha: str):
    return next(iter(builds_of(root, sha)), None)


def test_push_queues_while_the_hub_is_down_and_runs_when_it_starts(repo, tmp_path, start_hub):
    root = tmp_path / "hub"
    # a build that was running when an earlier hub died cannot resume: it is failed with the reason
    state = HubState(root)
    state.add_source(Source("other/app", str(tmp_path / "nowhere"), "main", "Dockerfile", ".", "latest", ""))
    interrupted = state.enqueue("other/app", "f" * 40, "main")
    assert state.claim_next().id == interrupted

    sha = commit_and_push(repo, "FROM busybox\n", "first")
    assert _build(root, sha) is None  # spooled by the hook
    listed = hub_cli(root, "builds").stdout  # which queues what the hook spooled
    queued = _build(root, sha)
    assert queued is not None and queued.status == "queued" and queued.branch == "main"
    assert f"{queued.id}" in listed and "queued" in listed

    start_hub()
    assert state.build(interrupted).status == "failed" and state.build(interrupted).reason == RESTARTED
    wait_for(lambda: _build(root, sha).status in ("succeeded", "failed"), 60, "the queued build to run")
    assert _build(root, sha).message == "first"


@needs_build
def test_pushed_commit_becomes_a_pullable_image_with_its_log(repo, tmp_path, start_hub, browser, screenshot):
    root = tmp_path / "hub"
    subprocess.run([*DOCKYARD, "--root", str(root / "hub" / "engine"), "--run-dir", str(root / "hub" / "run"),
                    "image", "bootstrap", "busybox"], check=True, capture_output=True)
    hub = start_hub()
    sha = commit_and_push(repo, "FROM busybox\nLABEL built.by=hub\nCMD [\"echo\", \"hello\"]\n", "add app")
    wait_for(lambda: _build(root, sha) and _build(root, sha).status in ("succeeded", "failed"), 120, "the build")
    build = _build(root, sha)
    assert build.status == "succeeded", (build.reason, (root / "hub" / "logs" / f"{build.id}.log").read_text())
    assert build.tags == f"latest,main-{sha[:7]}"
    info = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{hub.host}/team/app:main-{sha[:7]}"))
    assert info["Digest"] == build.digest and info["Labels"]["built.by"] == "hub"

    browser.get(f"{hub.url}/builds/{build.id}")
    assert "succeeded" in browser.find_element(By.TAG_NAME, "h1").text
    assert "==> build" in browser.find_element(By.ID, "log").text
    screenshot("succeeded")


@needs_build
def test_failing_dockerfile_shows_failed_status_and_the_failing_line(repo, tmp_path, start_hub, browser, screenshot):
    root = tmp_path / "hub"
    subprocess.run([*DOCKYARD, "--root", str(root / "hub" / "engine"), "--run-dir", str(root / "hub" / "run"),
                    "image", "bootstrap", "busybox"], check=True, capture_output=True)
    hub = start_hub()
    sha = commit_and_push(repo, "FROM busybox\nRUN echo fine\nRUN exit 3\nCMD [\"sh\"]\n", "break it")
    wait_for(lambda: _build(root, sha) and _build(root, sha).status in ("succeeded", "failed"), 120, "the build")
    build = _build(root, sha)
    assert build.status == "failed"
    assert build.failing_line == "Dockerfile line 3: RUN exit 3"
    browser.get(f"{hub.url}/builds/{build.id}")
    assert browser.find_element(By.ID, "failing-line").text == "Dockerfile line 3: RUN exit 3"
    assert "Dockerfile:3: RUN exit code 3" in browser.find_element(By.ID, "failing-log-line").text  # marked in the log
    screenshot("failed")
    assert "Dockerfile line 3" in hub_cli(root, "builds").stdout
