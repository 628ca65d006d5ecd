"""Automated builds as a newcomer meets them: base images from the hub's own library, tag pushes
built by rule, build arguments and secrets, and a base that is nowhere."""

from __future__ import annotations

import json
import shutil
import subprocess

from hub_harness import busybox_layer, builds_of, commit_and_push, git, hub_cli, push, skopeo, wait_for

from dockyard.hub.state import HubState

ENDED = ("succeeded", "failed", "cancelled")


def _ended(root, sha: str, count: int = 1):
    builds = builds_of(root, sha)
    return builds if len(builds) >= count and all(b.status in ENDED for b in builds) else None


def _log(root, build) -> str:
    return HubState(root).log_path(build.id).read_text()


def test_newcomer_bootstraps_busybox_builds_from_it_and_releases_by_tag(git_source, tmp_path, start_hub):
    root = tmp_path / "hub"
    hub = start_hub()
    out = hub_cli(root, "library", "bootstrap", "busybox").stdout
    assert out.startswith("library/busybox:latest sha256:")
    work = git_source("team/app", "--release-tags")
    listed = hub_cli(root, "source", "ls").stdout
    assert "branch main -> latest; tag /^v?([0-9]+)" in listed and "{\\1}.{\\2},latest" in listed
    hub_cli(root, "vars", "set", "team/app", "GREETING", "hello-from-arg")
    assert "secret TOKEN" in hub_cli(root, "vars", "set", "team/app", "TOKEN", "--secret", stdin="s3cr3t-value\n").stdout
    listed = hub_cli(root, "vars", "ls", "team/app").stdout
    assert "s3cr3t-value" not in listed and "********" in listed and "hello-from-arg" in listed

    dockerfile = ('FROM busybox\nARG GREETING\nRUN echo "greet $GREETING"\n'
                  'RUN --mount=type=secret,id=TOKEN cat /run/secrets/TOKEN && echo\nCMD ["echo", "hi"]\n')
    sha = commit_and_push(work, dockerfile, "first app")
    [build] = wait_for(lambda: _ended(root, sha), 120, "the branch build")
    log = _log(root, build)
    assert build.status == "succeeded", (build.reason, log)
    assert "base busybox: library/busybox:latest of this hub" in log
    assert "greet hello-from-arg" in log and "s3cr3t-value" not in log and "********" in log
    assert build.tags == "latest"
    info = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{hub.host}/team/app:latest"))
    assert info["Digest"] == build.digest

    git(work, "tag", "v1.2.3")
    git(work, "push", "--quiet", "origin", "v1.2.3")
    [release] = wait_for(lambda: [b for b in _ended(root, sha, 2) or [] if b.branch == "v1.2.3"], 120, "the tag build")
    assert release.status == "succeeded", (release.reason, _log(root, release))
    assert release.tags == "1.2.3,1.2,latest"
    status, body = hub.get("/v2/team/app/tags/list")
    assert status == 200 and sorted(json.loads(body)["tags"]) == ["1.2", "1.2.3", "latest"]
    assert "rule tag /^v?([0-9]+)" in _log(root, release)
    if _docker_daemon():  # the docker CLI pulls and runs what the hub built
        ref = f"{hub.host}/team/app:1.2"
        try:
            subprocess.run(["docker", "pull", "-q", ref], check=True, capture_output=True, timeout=120)
            ran = subprocess.run(["docker", "run", "--rm", ref], check=True, capture_output=True, text=True, timeout=120)
            assert ran.stdout.strip() == "hi"
        finally:
            subprocess.run(["docker", "rmi", "-f", ref], capture_output=True, timeout=60)


def _docker_daemon() -> bool:
    return shutil.which("docker") is not None and subprocess.run(
        ["docker", "version"], capture_output=True, timeout=30).returncode == 0


def test_pushed_library_image_is_loaded_for_builds_and_a_missing_base_says_how_to_add_it(
        git_source, tmp_path, start_hub, layout):
    root = tmp_path / "hub"
    hub = start_hub()
    layout.add("base", [busybox_layer()], {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]})
    push(layout, "base", hub, "library/busybox:latest")  # a push to library/NAME fills the library
    work = git_source("team/app")
    sha = commit_and_push(work, 'FROM busybox\nRUN echo built-on-pushed-base\n', "on the pushed base")
    [build] = wait_for(lambda: _ended(root, sha), 120, "the build")
    log = _log(root, build)
    assert build.status == "succeeded", (build.reason, log)
    assert "load base busybox from library/busybox:latest of this hub" in log and "built-on-pushed-base" in log

    sha = commit_and_push(work, "FROM nosuchbase-hubtest:1\nRUN true\n", "unknown base")
    [build] = wait_for(lambda: _ended(root, sha), 120, "the failing build")
    assert build.status == "failed"
    assert build.reason.startswith("base image nosuchbase-hubtest:1 is not in the hub's library: add it with")
    assert "\n" not in build.reason and "library/nosuchbase-hubtest" in build.reason
    status, page = hub.get(f"/builds/{build.id}")
    assert status == 200 and "is not in the hub&#39;s library" in page
