"""Debian in the hub's library, bootstrapped from the Debian mirror this host's apt uses (skipped
when the mirror does not answer): the image is stored as library/debian:SUITE, its tag page lists
its OS and its dpkg packages, and a build `FROM debian:bookworm` starts from it."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
from hub_harness import builds_of, commit_and_push, hub_cli, wait_for

from dockyard.hub.state import HubState

ENDED = ("succeeded", "failed", "cancelled")


def _mirror() -> str:
    """The host's Debian mirror, if it answers within a few seconds; the test is skipped otherwise."""
    uri = "http://deb.debian.org/debian"
    for f in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        uris = [line.split()[1] for line in f.read_text().splitlines() if line.startswith("URIs:") and line.split()[1:]]
        if uris and not uris[0].rstrip("/").endswith("-security"):
            uri = uris[0].rstrip("/")
            break
    try:
        with urllib.request.urlopen(f"{uri}/dists/bookworm/Release", timeout=5) as r:
            r.readline()
    except OSError as e:
        pytest.skip(f"the Debian mirror {uri} does not answer: {e}")
    return uri


@pytest.mark.network
@pytest.mark.timeout(900)  # debootstrap: about a minute on an idle host, minutes on a loaded one
def test_debian_bootstrapped_into_the_library_lists_its_packages_and_builds_start_from_it(git_source, tmp_path, start_hub):
    mirror = _mirror()
    root = tmp_path / "hub"
    hub = start_hub()
    out = hub_cli(root, "library", "bootstrap", "debian:bookworm", "--mirror", mirror, timeout=900).stdout
    assert out.startswith("library/debian:bookworm sha256:")
    assert any(line.startswith("debian:bookworm ") for line in hub_cli(root, "library", "ls").stdout.splitlines())

    status, page = hub.get("/r/library/debian/-/image/bookworm")
    assert status == 200 and 'id="os">Debian GNU/Linux 12 (bookworm)<' in page
    for package in ("base-files", "dpkg", "apt", "libc6"):
        assert f'data-package="{package}"' in page, package

    work = git_source("team/app")
    sha = commit_and_push(work, "FROM debian:bookworm\nRUN dpkg-query -W -f='${Version}' base-files > /base-files\n",
                          "on debian")
    [build] = wait_for(lambda: [b for b in builds_of(root, sha) if b.status in ENDED], 300, "the build")
    log = HubState(root).log_path(build.id).read_text()
    assert build.status == "succeeded", (build.reason, log)
    assert "base debian:bookworm: library/debian:bookworm of this hub" in log
