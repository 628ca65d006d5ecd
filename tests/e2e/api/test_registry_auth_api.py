"""Registry credentials through the Engine API: the docker CLI's and docker-py's own logins
(X-Registry-Auth, X-Registry-Config, POST /auth) against `dockyard registry serve --auth htpasswd`
and against a token service that hands out refresh tokens. The engine's own stored logins are
kept empty, so every credential that works came from the client; none may reach a log line,
an event or an error message."""

from __future__ import annotations

import base64
import io
import json
import re
import time

import bcrypt
import pytest

from tests.integration.distribution.conftest import serve  # noqa: F401 - a fixture
from tests.integration.distribution.test_cli_push_pull import running_registry

pytestmark = pytest.mark.root

PASSWORD = "pw-Zq81-vantage-s3cret"  # distinctive, so a leak is found by grep
WRONG = "not-the-password-9Xk"


@pytest.fixture(autouse=True)
def engine_without_logins(dy, tmp_path):
    """The server's own config.json (its fallback) lives in an empty directory of this test."""
    dy.env["DOCKER_CONFIG"] = str(tmp_path / "engine-docker-config")


@pytest.fixture
def serve_options():
    """A debug log (every request, the registry client's own requests), so a leak has somewhere to show."""
    return ("--log-level", "debug")


@pytest.fixture
def auth_registry(dy, tmp_path):
    """`dockyard registry serve --auth htpasswd:FILE` with the user alice on a free port; yields HOST:PORT."""
    users = tmp_path / "htpasswd"
    users.write_text(f"alice:{bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()}\n")
    with running_registry(dy, tmp_path / "reg", "--auth", f"htpasswd:{users}") as host:
        yield host


SECRETS = [PASSWORD, WRONG, base64.b64encode(f"alice:{PASSWORD}".encode()).decode(),
           base64.b64encode(f"alice:{WRONG}".encode()).decode(), "refresh-Qm27-identity"]


def _assert_no_secrets(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
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
    # the log shows every request, to the engine and to the registry, but no secret
    assert '"POST /v1.47/auth HTTP/1.1" 401' in api.log and '"POST /v1.47/auth HTTP/1.1" 200' in api.log
    assert f'HTTP Request: PUT http://{host}/v2/alice/bb/manifests/1 "HTTP/1.1 201 Created"' in api.log
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
    # docker-py sends its logins (here the one `login` made) in X-Registry-Config: FROM pulls with them
    derived, _ = client.images.build(fileobj=io.BytesIO(f"FROM {repo}:2\nLABEL via=docker-py\n".encode()),
                                     tag="pyderived")
    assert derived.labels == {"via": "docker-py"}
    client.images.remove("pyderived")
    client.images.remove(f"{repo}:2")
    with pytest.raises(docker.errors.APIError) as e:
        client.images.pull(repo, tag="2", auth_config={"username": "alice", "password": WRONG})
    assert e.value.status_code == 401  # refused before any progress: an error status, as dockerd answers
    errors.append(str(e.value))
    assert client.images.pull(repo, tag="2", auth_config=good).id == busybox
    _assert_no_secrets(api.log, *errors)


REFRESH = SECRETS[-1]


def _token_service(fake, seen: list) -> None:
    """Docker's token flow in front of `fake`: GET /token takes alice's password (and gives a
    refresh token when asked for `offline_token`), POST /token takes the refresh token."""
    from aiohttp import web

    good = "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    refused = {"errors": [{"code": "UNAUTHORIZED", "message": "incorrect username or password"}]}

    async def token(request):
        seen.append(("GET", {k: v for k, v in request.query.items() if k != "account"}))
        if request.headers.get("Authorization") != good:
            return web.json_response(refused, status=401)
        answer = {"token": "tok:" + " ".join(request.query.getall("scope", [])), "expires_in": 300}
        if request.query.get("offline_token") == "true":
            answer["refresh_token"] = REFRESH
        return web.json_response(answer)

    async def refresh(request):
        form = dict(await request.post())
        seen.append(("POST", {k: v for k, v in form.items() if k != "refresh_token"}))
        if form.get("grant_type") != "refresh_token" or form.get("refresh_token") != REFRESH:
            return web.json_response(refused, status=401)
        return web.json_response({"access_token": "tok:" + form.get("scope", ""), "expires_in": 300})

    @web.middleware
    async def bearer(request, handler):
        if request.path.startswith(("/v2/", "/v1/")):
            auth = request.headers.get("Authorization", "")
            if not auth.startswith("Bearer tok:") or (request.path != "/v2/" and "repository:app:pull" not in auth):
                scope = ',scope="repository:app:pull"' if request.path != "/v2/" else ""
                return web.json_response(refused, status=401, headers={
                    "WWW-Authenticate": f'Bearer realm="http://{request.host}/token",service="fake"{scope}'})
        return await handler(request)

    async def search(request):
        return web.json_response({"results": [{"name": "app", "description": "behind a token service"}]})

    fake.app.middlewares.append(bearer)
    fake.app.router.add_get("/token", token)
    fake.app.router.add_post("/token", refresh)
    fake.app.router.add_get("/v1/search", search)


def test_identity_and_registry_tokens(api, serve, tmp_path):  # noqa: F811
    import docker
    import httpx

    from dockyard.store.content import ContentStore
    from tests.integration.distribution.distribution_support import build_image, fake_from_store

    store = ContentStore(tmp_path / "fake-store")
    image = build_image(store, [{"etc/motd": b"behind a token service\n"}])
    fake = fake_from_store(store, image)
    seen: list = []
    _token_service(fake, seen)
    host = serve(fake.app)
    engine = httpx.Client(transport=httpx.HTTPTransport(uds=str(api.sock)), base_url="http://docker")

    wrong = engine.post("/v1.47/auth", json={"username": "alice", "password": WRONG, "serveraddress": host})
    assert (wrong.status_code, wrong.json()) == \
        (401, {"message": f'Get "http://{host}/v2/": unauthorized: incorrect username or password'})
    login = engine.post("/v1.47/auth", json={"username": "alice", "password": PASSWORD, "serveraddress": host})
    assert (login.status_code, login.json()) == (200, {"Status": "Login Succeeded", "IdentityToken": REFRESH})
    assert ("GET", {"service": "fake", "offline_token": "true", "client_id": "dockyard"}) in seen
    again = engine.post("/v1.47/auth", json={"identitytoken": REFRESH, "serveraddress": host})
    assert again.json() == {"Status": "Login Succeeded", "IdentityToken": REFRESH}

    client = api.client()
    seen.clear()
    pulled = client.images.pull(f"{host}/app", tag="latest", auth_config={"identitytoken": REFRESH})
    assert pulled.attrs["RepoDigests"] == [f"{host}/app@{image.manifest_digest}"]
    assert seen and all(method == "POST" for method, _ in seen)  # the refresh grant, never a password
    with pytest.raises(docker.errors.APIError) as e:
        client.images.pull(f"{host}/app", tag="latest", auth_config={"identitytoken": "expired-token"})
    assert e.value.status_code == 401
    assert e.value.explanation == f"unauthorized: incorrect username or password for {host}"

    # a registry token goes to the registry as the bearer token, with no token service asked
    seen.clear()
    data = client.api.inspect_distribution(f"{host}/app", auth_config={"registrytoken": "tok:repository:app:pull"})
    assert data["Descriptor"] == {"mediaType": image.manifest["mediaType"], "digest": image.manifest_digest,
                                  "size": len(store.read(image.manifest_digest))}
    assert data["Platforms"] == [{"architecture": "amd64", "os": "linux"}]
    token_header = base64.urlsafe_b64encode(b'{"registrytoken": "tok:repository:app:pull"}').decode()
    found = engine.get("/v1.47/images/search", params={"term": f"{host}/app"},
                       headers={"X-Registry-Auth": token_header})
    assert found.status_code == 200, found.text
    assert [r["name"] for r in found.json()] == ["app"]
    assert seen == []
    assert engine.get("/v1.47/images/search", params={"term": f"{host}/app"}).status_code == 500  # none: refused
    _assert_no_secrets(api.log, wrong.text, e.value.explanation)


def test_without_client_credentials_the_engine_uses_its_own_login(api, busybox, auth_registry, dy):
    import httpx

    host = auth_registry
    ref = f"{host}/alice/own:1"
    # the server's user logs in on its host (the autouse fixture's DOCKER_CONFIG is the server's)
    assert "Login Succeeded" in dy("login", host, "-u", "alice", "--password-stdin", input=PASSWORD + "\n").out
    api.docker("tag", "busybox", ref)
    assert "1: digest: sha256:" in api.docker("push", ref).out  # the CLI has no login: its header is empty

    engine = httpx.Client(transport=httpx.HTTPTransport(uds=str(api.sock)), base_url="http://docker")
    for header in ({}, {"X-Registry-Auth": "!! not base64 !!"}, {"X-Registry-Auth": "e30="}):  # e30= is {}
        resp = engine.get(f"/v1.47/distribution/{ref}/json", headers=header)
        assert resp.status_code == 200, (header, resp.text)
    # credentials in the header win over the stored login, even when they are wrong
    bad = base64.urlsafe_b64encode(json.dumps({"username": "alice", "password": WRONG}).encode()).decode()
    resp = engine.get(f"/v1.47/distribution/{ref}/json", headers={"X-Registry-Auth": bad})
    assert resp.status_code == 401
    assert resp.json() == {"message": f"unauthorized: incorrect username or password for {host}"}
    # a malformed POST /auth body: 400 and one line, never a traceback
    for body, message in ((b"{not json", "invalid JSON: "), (
            b'{"username": 5, "serveraddress": "x"}',
            "invalid JSON: json: cannot unmarshal number into Go struct field AuthConfig.username of type string")):
        resp = engine.post("/v1.47/auth", content=body, headers={"Content-Type": "application/json"})
        assert resp.status_code == 400 and resp.json()["message"].startswith(message)
    _assert_no_secrets(api.log)


def test_docker_cli_against_the_registry_token_service(api, busybox, dy, tmp_path):
    users, acl = tmp_path / "htpasswd", tmp_path / "acl"
    users.write_text(f"alice:{bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()}\n")
    acl.write_text("alice  *  pull,push,delete\n")
    with running_registry(dy, tmp_path / "reg", "--auth", f"token:htpasswd={users},acl={acl}") as host:
        ref = f"{host}/alice/tok:1"
        wrong = api.docker("login", host, "-u", "alice", "--password-stdin", input=WRONG + "\n", check=False)
        # the token server's own reason, passed on as dockerd does
        assert f'Error response from daemon: Get "http://{host}/v2/": unauthorized: invalid username or password' \
            in wrong.err
        api.docker("login", host, "-u", "alice", "--password-stdin", input=PASSWORD + "\n")
        api.docker("tag", "busybox", ref)
        assert "1: digest: sha256:" in api.docker("push", ref).out
        api.docker("rmi", ref, "busybox")
        assert "Downloaded newer image" in api.docker("pull", ref).out

        api.docker("logout", host)
        api.docker("rmi", ref)
        # an anonymous token lacks the pull: dockerd's 404, so the CLI neither prompts nor hides why
        refused = api.docker("pull", ref, check=False, input="")
        assert refused.code != 0 and "Login prior to pull" not in refused.out
        assert (f"Error response from daemon: pull access denied for {host}/alice/tok, repository does not exist or "
                "may require 'docker login': denied: requested access to") in refused.err
    _assert_no_secrets(api.log, wrong.out, wrong.err, refused.err)
