"""FROM a private registry in a BuildKit build: the engine asks the client's session (its Auth
service) for the login, as dockerd's BuildKit does; without one the build fails in BuildKit's
words. No secret reaches the server's log."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.api.conftest import install_compose, run_docker
from tests.e2e.api.test_registry_auth_api import (PASSWORD, _assert_no_secrets, auth_registry,  # noqa: F401
                                                  engine_without_logins, serve_options)

pytestmark = pytest.mark.root


def test_from_a_private_registry_with_the_clients_login(api, busybox, auth_registry, tmp_path: Path):  # noqa: F811
    host = auth_registry
    ref = f"{host}/alice/bb:1"
    env = {k: v for k, v in api.env.items() if k != "DOCKER_BUILDKIT"}
    install_compose(Path(env["DOCKER_CONFIG"]))
    api.docker("login", host, "-u", "alice", "--password-stdin", input=PASSWORD + "\n")
    api.docker("tag", "busybox", ref)
    api.docker("push", ref)
    api.docker("rmi", ref, "busybox")
    project = tmp_path / "p"
    (project / "svc").mkdir(parents=True)
    (project / "svc" / "Dockerfile").write_text(f"FROM {ref}\nRUN echo built-on-private > /marker\n")
    (project / "compose.yaml").write_text("services:\n  svc: {build: ./svc, image: 'priv/svc:1'}\n")

    def build():
        return run_docker(env, ["compose", "--project-directory", str(project), "-p", "priv", "--progress", "plain",
                                "build"], None, False, 120)

    ok = build()
    assert ok.code == 0, ok.out + ok.err
    assert api.docker("run", "--rm", "priv/svc:1", "cat", "/marker").out == "built-on-private\n"

    api.docker("logout", host)
    api.docker("rmi", "priv/svc:1", ref)
    refused = build()
    assert refused.code != 0
    assert "failed to solve:" in refused.err and "unauthorized" in refused.err, refused.err
    _assert_no_secrets(ok.out, ok.err, refused.out, refused.err, api.log)


def test_compose_build_push_sends_every_tag_with_the_clients_login(api, busybox, auth_registry, tmp_path: Path):  # noqa: F811
    """`compose build --push`: BuildKit's image exporter with push=true and every tag in `name`;
    the layers go up with the client's login, the manifest in Docker's schema2 media types (the
    exporter's default without oci-mediatypes)."""
    import httpx

    host = auth_registry
    env = {k: v for k, v in api.env.items() if k != "DOCKER_BUILDKIT"}
    install_compose(Path(env["DOCKER_CONFIG"]))
    api.docker("login", host, "-u", "alice", "--password-stdin", input=PASSWORD + "\n")
    project = tmp_path / "p"
    (project / "svc").mkdir(parents=True)
    (project / "svc" / "Dockerfile").write_text("FROM busybox\nRUN echo pushed-by-compose > /marker\n")
    (project / "compose.yaml").write_text(f"services:\n  svc:\n    build: {{context: ./svc, tags: ['{host}/alice/app:extra']}}\n"
                                          f"    image: {host}/alice/app:1\n")
    res = run_docker(env, ["compose", "--project-directory", str(project), "-p", "push", "--progress", "plain",
                           "build", "--push"], None, False, 180)
    assert res.code == 0, res.out + res.err
    assert f"pushing manifest for {host}/alice/app:1@sha256:" in res.out + res.err
    accept = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"
    digests = set()
    for tag in ("1", "extra"):
        reply = httpx.get(f"http://{host}/v2/alice/app/manifests/{tag}", auth=("alice", PASSWORD),
                          headers={"Accept": accept})
        assert reply.status_code == 200, reply.text
        manifest = reply.json()
        assert manifest["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
        assert manifest["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json"
        assert {layer["mediaType"] for layer in manifest["layers"]} == {"application/vnd.docker.image.rootfs.diff.tar.gzip"}
        digests.add(reply.headers["Docker-Content-Digest"])
    assert len(digests) == 1
    api.docker("rmi", f"{host}/alice/app:1", f"{host}/alice/app:extra")
    api.docker("pull", f"{host}/alice/app:1")
    assert api.docker("run", "--rm", f"{host}/alice/app:1", "cat", "/marker").out == "pushed-by-compose\n"
    _assert_no_secrets(res.out, res.err, api.log)
