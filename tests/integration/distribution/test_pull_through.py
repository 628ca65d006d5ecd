"""`registry serve --proxy-remote`: a dockyard registry as a pull-through cache of the reference
registry (Debian's docker-registry). Transfers are counted on the upstream's access log."""

from __future__ import annotations

import json
import shutil
import subprocess

import httpx
import pytest

from tests.conftest import DOCKYARD, Dockyard
from tests.integration.distribution.distribution_support import start_registry
from tests.integration.distribution.test_cli_push_pull import running_registry
from tests.integration.registry.registry_harness import skopeo

pytestmark = pytest.mark.root


def _fetches(log) -> list[str]:
    """The upstream's GET requests for manifests and blobs, from its access log."""
    return [line for line in log.read_text().splitlines()
            if '"GET /v2/' in line and ("/blobs/" in line or "/manifests/" in line)]


def test_pull_through_cache(dy, busybox, tmp_path):
    gen = start_registry(tmp_path)
    upstream = next(gen)
    try:
        dy("tag", "busybox", f"{upstream.host}/lib/bb:1")
        dy("push", "-q", f"{upstream.host}/lib/bb:1")
        with running_registry(dy, tmp_path / "cache", "--proxy-remote", f"http://{upstream.host}") as mirror:
            ref = f"{mirror}/lib/bb:1"
            first = Dockyard(tmp_path / "first", tmp_path / "run-first")
            before = len(_fetches(upstream.log))
            first("pull", ref)
            assert first("images", "-q", "--no-trunc").out.strip() == busybox
            fetched = _fetches(upstream.log)[before:]
            assert any("/blobs/" in line for line in fetched)

            second = Dockyard(tmp_path / "second", tmp_path / "run-second")
            before = len(_fetches(upstream.log))
            second("pull", ref)
            assert second("images", "-q", "--no-trunc").out.strip() == busybox
            assert _fetches(upstream.log)[before:] == []  # the tag revalidated by a HEAD, nothing fetched

            # writes are refused as the reference registry's proxy mode refuses them
            resp = httpx.post(f"http://{mirror}/v2/lib/bb/blobs/uploads/")
            assert resp.status_code == 405 and resp.json()["errors"][0]["code"] == "UNSUPPORTED"
            second("tag", ref, f"{mirror}/lib/bb:mine")
            pushed = second("push", f"{mirror}/lib/bb:mine", check=False)
            assert pushed.code != 0 and "Traceback" not in pushed.err
            assert httpx.get(f"http://{mirror}/v2/lib/bb/tags/list").json()["tags"] == ["1"]

            # the tag moves upstream: with a TTL of 0 the next pull through the cache follows it
            dy("run", "--name", "changer", "--network", "none", "busybox", "touch", "/moved")
            dy("commit", "changer", f"{upstream.host}/lib/bb:1")
            dy("push", "-q", f"{upstream.host}/lib/bb:1")
            moved = dy("image", "inspect", "-f", "{{.Id}}", f"{upstream.host}/lib/bb:1").out.strip()
            second("pull", ref)
            assert second("image", "inspect", "-f", "{{.Id}}", ref).out.strip() == moved

            # with a TTL, a tag cached within it is answered without asking upstream at all
            asked = len([line for line in upstream.log.read_text().splitlines() if '"HEAD /v2/' in line])
            assert asked > 0  # the revalidations above were HEAD requests, and the log shows them
            with running_registry(dy, tmp_path / "cache", "--proxy-remote", f"http://{upstream.host}",
                                  "--proxy-ttl", "1h") as within_ttl:
                head = httpx.head(f"http://{within_ttl}/v2/lib/bb/manifests/1")
                assert head.status_code == 200
            assert len([line for line in upstream.log.read_text().splitlines() if '"HEAD /v2/' in line]) == asked

            # skopeo reads through the cache too
            raw = json.loads(skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{ref}").stdout)
            assert raw["layers"]
    finally:
        gen.close()
    # upstream gone: what is cached is still served (the tag from the cache, after the failed revalidation)
    with running_registry(dy, tmp_path / "cache", "--proxy-remote", f"http://{upstream.host}") as mirror:
        third = Dockyard(tmp_path / "third", tmp_path / "run-third")
        third("pull", f"{mirror}/lib/bb:1")
        assert third("images", "-q", "--no-trunc").out.strip() == moved
        missing = third("pull", f"{mirror}/lib/other:1", check=False)
        assert missing.code != 0 and "Traceback" not in missing.err


def test_upstream_credentials(dy, busybox, tmp_path):
    """An upstream that wants a login gets the proxy's; the proxy's clients need none."""
    if shutil.which("htpasswd") is None:
        pytest.skip("htpasswd (Debian package apache2-utils) is not installed")
    users = tmp_path / "htpasswd"
    users.write_text(subprocess.run(["htpasswd", "-Bbn", "alice", "s3cret"], capture_output=True, text=True,
                                    check=True).stdout)
    gen = start_registry(tmp_path, htpasswd=users)
    upstream = next(gen)
    try:
        login = subprocess.run([DOCKYARD, "login", "-u", "alice", "--password-stdin", upstream.host], input="s3cret",
                               capture_output=True, text=True, env={**dy.env, "DOCKER_CONFIG": str(tmp_path / "dc")})
        assert login.returncode == 0, login.stderr
        dy("tag", "busybox", f"{upstream.host}/lib/bb:1")
        subprocess.run([DOCKYARD, "push", "-q", f"{upstream.host}/lib/bb:1"], check=True, capture_output=True,
                       env={**dy.env, "DOCKER_CONFIG": str(tmp_path / "dc")})
        args = ("--proxy-remote", f"http://{upstream.host}", "--proxy-username", "alice")
        with running_registry(dy, tmp_path / "cache", *args, "--proxy-password", "s3cret") as mirror:
            other = Dockyard(tmp_path / "other", tmp_path / "run-other")
            other("pull", f"{mirror}/lib/bb:1")
            assert other("images", "-q", "--no-trunc").out.strip() == busybox
        with running_registry(dy, tmp_path / "cache2", *args, "--proxy-password", "wrong") as mirror:
            refused = Dockyard(tmp_path / "refused", tmp_path / "run-refused")("pull", f"{mirror}/lib/bb:1", check=False)
            assert refused.code != 0 and "Traceback" not in refused.err
    finally:
        gen.close()


def test_proxy_options_are_checked(dy, tmp_path):
    for args, words in ((["--proxy-remote", "ftp://x"], "invalid --proxy-remote"),
                        (["--proxy-remote", "http://127.0.0.1:1", "--proxy-ttl", "soon"], "invalid --proxy-ttl"),
                        (["--proxy-username", "u"], "need --proxy-remote")):
        p = subprocess.run([DOCKYARD, "registry", "serve", "--addr", "127.0.0.1:0", "--root", str(tmp_path / "r"),
                            *args], capture_output=True, text=True, env=dy.env, timeout=30)
        assert p.returncode != 0 and words in p.stderr and "Traceback" not in p.stderr


def test_blob_is_cached_even_when_its_first_client_goes_away(dy, tmp_path):
    import hashlib
    import os
    import socket

    from tests.integration.registry.registry_harness import wait_for

    gen = start_registry(tmp_path)
    upstream = next(gen)
    try:
        blob = os.urandom(24 << 20)  # far more than the socket buffers hold
        digest = "sha256:" + hashlib.sha256(blob).hexdigest()
        up = httpx.post(f"http://{upstream.host}/v2/lib/big/blobs/uploads/?digest={digest}", content=blob)
        if up.status_code == 202:  # this reference registry wants the upload session form
            location = str(httpx.URL(f"http://{upstream.host}").join(up.headers["Location"]))
            up = httpx.put(f"{location}{'&' if '?' in location else '?'}digest={digest}", content=blob)
        assert up.status_code == 201, up.text
        with running_registry(dy, tmp_path / "cache", "--proxy-remote", f"http://{upstream.host}") as mirror:
            host, port = mirror.rsplit(":", 1)
            with socket.create_connection((host, int(port))) as s:
                s.sendall(f"GET /v2/lib/big/blobs/{digest} HTTP/1.1\r\nHost: {mirror}\r\n\r\n".encode())
                assert s.recv(65536).startswith(b"HTTP/1.1 200")
            # the client hung up after a few bytes: the cache still completes and keeps the blob
            cached = tmp_path / "cache" / "blobs" / "sha256" / digest[7:]
            wait_for(cached.exists, timeout=60)
            before = len(_fetches(upstream.log))
            assert httpx.get(f"http://{mirror}/v2/lib/big/blobs/{digest}").content == blob
            assert len(_fetches(upstream.log)) == before
    finally:
        gen.close()
