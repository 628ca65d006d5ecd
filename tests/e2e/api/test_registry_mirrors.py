"""daemon.json `registry-mirrors`: images of the default registry are pulled through a mirror
(the first that answers), and `info` lists the mirrors, for dockyard's CLI and the docker CLI."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Dockyard
from tests.e2e.api.conftest import start_server
from tests.integration.distribution.test_cli_push_pull import running_registry

pytestmark = pytest.mark.root


def test_pulls_of_the_default_registry_go_through_mirrors(dy, busybox, tmp_path):
    with running_registry(dy, tmp_path / "mirror") as mirror:
        dy("tag", "busybox", f"{mirror}/library/busybox:mirrored")
        dy("push", "-q", f"{mirror}/library/busybox:mirrored")

        other = Dockyard(tmp_path / "root2", tmp_path / "run2")
        config = json.loads((other.root / "daemon.json").read_text())
        # the first mirror is down: the next one answers, the default registry is never asked
        config["registry-mirrors"] = ["http://127.0.0.1:1", f"http://{mirror}"]
        (other.root / "daemon.json").write_text(json.dumps(config))
        out = other("pull", "busybox:mirrored").out
        assert "Downloaded newer image for busybox:mirrored" in out
        assert other("images", "-q", "--no-trunc").out.strip() == busybox
        assert other("info", "--format", "{{json .RegistryMirrors}}").out.strip() == \
            json.dumps(["http://127.0.0.1:1/", f"http://{mirror}/"], separators=(",", ":"))

        sock = tmp_path / "d.sock"
        proc = start_server(other, sock)
        try:
            from tests.e2e.api.conftest import run_docker
            env = {"DOCKER_HOST": f"unix://{sock}", "DOCKER_CONFIG": str(tmp_path / "dc"), "PATH": "/usr/bin:/bin"}
            info = json.loads(run_docker(env, ["info", "--format", "{{json .RegistryConfig}}"], None, True, 60).out)
            assert info["Mirrors"] == ["http://127.0.0.1:1/", f"http://{mirror}/"]
            other("rmi", "busybox:mirrored")
            run_docker(env, ["pull", "busybox:mirrored"], None, True, 60)
            assert other("images", "-q", "--no-trunc").out.strip() == busybox
        finally:
            proc.terminate()
            proc.wait(10)

        config["registry-mirrors"] = ["ftp://nope"]
        (other.root / "daemon.json").write_text(json.dumps(config))
        bad = other("pull", "busybox:mirrored", check=False)
        assert bad.code != 0 and "invalid mirror" in bad.err and "Traceback" not in bad.err
        other.cleanup()
