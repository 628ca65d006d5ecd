"""Registry credentials through the Engine API: the docker CLI's and docker-py's own logins
(X-Registry-Auth, X-Registry-Config, POST /auth) against `dockyard registry serve --auth htpasswd`
and against a token service that hands out refresh tokens. The engine's own stored logins are
kept empty, so every credential that works came from the client; none may reach a log line,
an event or an error message."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import time

import bcrypt
import pytest

from tests.conftest import DOCKYARD

pytestmark = pytest.mark.root

PASSWORD = "pw-Zq81-vantage-s3cret"  # distinctive, so a leak is found by grep
WRONG = "not-the-password-9Xk"


@pytest.fixture(autouse=True)
def engine_without_logins(dy, tmp_path):
    """The server's own config.json (its fallback) lives in an empty directory of this test."""
    dy.env["DOCKER_CONFIG"] = str(tmp_path / "engine-docker-config")


@pytest.fixture
def auth_registry(dy, tmp_path):
    """`dockyard registry serve --auth htpasswd:FILE` with the user alice on a free port; yields HOST:PORT."""
    users = tmp_path / "htpasswd"
    users.write_text(f"alice:{bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()}\n")
    with open(tmp_path / "registry.log", "w") as log:
        proc = subprocess.Popen([DOCKYARD, "registry", "serve", "--addr", "127.0.0.1:0", "--root", str(tmp_path / "reg"),
                                 "--auth", f"htpasswd:{users}"], stdout=subprocess.PIPE, stderr=log, text=True,
                                env=dy.env)
    try:
        line = proc.stdout.readline()
        m = re.search(r"listening on https?://(\S+)", line)
        assert m, f"registry did not start: {line!r}"
        yield m.group(1).rstrip("/")
    finally:
        proc.terminate()
        proc.wait(10)


def _secrets() -> list[str]:
    return [PASSWORD, WRONG, base64.b64encode(f"alice:{PASSWORD}".encode()).decode(),
            base64.b64encode(f"alice:{WRONG}".encode()).decode()]


def _assert_no_secrets(*texts: str) -> None:
    for text in texts:
        for secret in _secrets():
            assert secret not in text


def test_docker_cli_login_push_pull_build_run_logout(api, busybox, auth_registry, tmp_path):
    host = auth_registry
    ref = f"{host}/alice/bb:1"
    config = tmp_path / "docker-config" / "config.json"
    since = str(int(time.time()) - 1)
    outputs: list[str] = []

    def docker(*args: str, **kw):
        res = api.docker(*args, **kw)
        outputs.extend([res.out, res.err])
        return res

    docker("tag", "busybox", ref)
    refused = docker("push", ref, check=False, input="")
    assert refused.code != 0 and "unauthorized: authentication required" in refused.err  # no login of the engine's

    wrong = docker("login", host, "-u", "alice", "--password-stdin", input=WRONG + "\n", check=False)
    assert wrong.code != 0
    assert (f"Error response from daemon: login attempt to http://{host}/v2/ failed with status: 401 Unauthorized"
            in wrong.err)
    assert not config.exists() or host not in json.loads(config.read_text()).get("auths", {})

    assert "Login Succeeded" in docker("login", host, "-u", "alice", "--password-stdin", input=PASSWORD + "\n").out
    saved = json.loads(config.read_text())["auths"][host]
    assert base64.b64decode(saved["auth"]).decode() == f"alice:{PASSWORD}"  # the client keeps them, as with dockerd

    pushed = docker("push", ref).out
    assert f"The push refers to repository [{host}/alice/bb]" in pushed
    assert re.search(r"^1: digest: sha256:[0-9a-f]{64} size: \d+$", pushed, re.M)

    docker("rmi", ref, "busybox")
    assert docker("images", "-q").out.strip() == ""
    # FROM pulls with the credentials the CLI sends in X-Registry-Config
    built = docker("build", "-q", "-t", "derived", "-", input=f"FROM {ref}\nLABEL via=registry\n").out
    assert built.strip().startswith("sha256:")
    assert docker("image", "inspect", "-f", "{{.Id}}", ref).out.strip() == busybox

    docker("rmi", "derived", ref)
    pulled = docker("pull", ref).out
    assert "Downloaded newer image" in pulled
    assert docker("image", "inspect", "-f", "{{.Id}}", ref).out.strip() == busybox
    assert docker("run", "--rm", ref, "echo", "hello from the registry").out == "hello from the registry\n"

    assert f"Removing login credentials for {host}" in docker("logout", host).out
    assert host not in json.loads(config.read_text()).get("auths", {})
    docker("rmi", ref)
    # without credentials dockerd answers 500, not 401, so the CLI fails instead of prompting for a login
    refused = docker("pull", ref, check=False, input="")
    assert refused.code != 0 and "unauthorized: authentication required" in refused.err

    events = docker("events", "--since", since, "--until", str(int(time.time()) + 1), "--format", "{{json .}}").out
    assert f'"{ref}"' in events and '"push"' in events and '"pull"' in events
    _assert_no_secrets(api.log, *outputs)


def test_docker_py_login_push_pull_and_registry_data(api, busybox, auth_registry, tmp_path):
    import docker

    host = auth_registry
    repo = f"{host}/py/bb"
    client = api.client()
    dockercfg = str(tmp_path / "py-config.json")  # none: docker-py must not find logins of its own
    errors: list[str] = []

    with pytest.raises(docker.errors.APIError) as e:
        client.login("alice", WRONG, registry=host, dockercfg_path=dockercfg)
    assert e.value.status_code == 401
    assert e.value.explanation == f"login attempt to http://{host}/v2/ failed with status: 401 Unauthorized"
    errors.append(str(e.value))
    assert client.login("alice", PASSWORD, registry=f"http://{host}", dockercfg_path=dockercfg) == \
        {"Status": "Login Succeeded", "IdentityToken": ""}

    good = {"username": "alice", "password": PASSWORD}
    client.images.get("busybox").tag(repo, "2")
    lines = list(client.images.push(repo, "2", auth_config={"username": "alice", "password": WRONG},
                                    stream=True, decode=True))
    refused = [m["error"] for m in lines if "error" in m]
    assert refused == [f"unauthorized: incorrect username or password for {host}"]
    errors += refused
    lines = list(client.images.push(repo, "2", auth_config=good, stream=True, decode=True))
    assert not [m for m in lines if "error" in m]
    digest = next(m["aux"]["Digest"] for m in lines if "aux" in m)

    data = client.images.get_registry_data(f"{repo}:2", auth_config=good)
    assert data.id == digest and data.has_platform("linux/amd64")
    raw = client.api.inspect_distribution(f"{repo}:2", auth_config=good)
    assert raw["Descriptor"]["digest"] == digest and raw["Descriptor"]["size"] > 0
    assert raw["Descriptor"]["mediaType"] in ("application/vnd.oci.image.manifest.v1+json",
                                              "application/vnd.docker.distribution.manifest.v2+json")
    assert raw["Platforms"] == [{"architecture": "amd64", "os": "linux"}]
    with pytest.raises(docker.errors.APIError) as e:
        api.client().api.inspect_distribution(f"{repo}:2")  # a client without logins: the engine's own (none)
    assert e.value.status_code == 500 and "authentication required" in e.value.explanation  # dockerd's status
    errors.append(str(e.value))

    client.images.remove(f"{repo}:2")
    client.images.remove("busybox")
    with pytest.raises(docker.errors.APIError) as e:
        client.images.pull(repo, tag="2", auth_config={"username": "alice", "password": WRONG})
    assert e.value.status_code == 401  # refused before any progress: an error status, as dockerd answers
    errors.append(str(e.value))
    assert client.images.pull(repo, tag="2", auth_config=good).id == busybox
    _assert_no_secrets(api.log, *errors)
