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
