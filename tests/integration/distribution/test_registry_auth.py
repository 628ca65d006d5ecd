"""Login and Basic auth against the reference registry, and Docker's bearer token flow against a fake registry."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess

import pytest
from aiohttp import web
from tests.integration.distribution.distribution_support import fake_from_store, start_registry

from dockyard.distribution.login import login, logout
from dockyard.distribution.pull import pull
from dockyard.distribution.push import push
from dockyard.distribution.auth import Unauthorized
from dockyard.oci.reference import parse_normalized
from dockyard.store.content import ContentStore


@pytest.fixture
def auth_registry(tmp_path):
    if shutil.which("htpasswd") is None:
        pytest.skip("htpasswd (Debian package apache2-utils) is not installed")
    users = tmp_path / "htpasswd"
    users.write_text(subprocess.run(["htpasswd", "-Bbn", "alice", "s3cret"], capture_output=True, text=True,
                                    check=True).stdout)
    yield from start_registry(tmp_path, htpasswd=users)


def test_basic_auth_login_push_pull_logout(auth_registry, store, image, tmp_path):
    host = auth_registry.host
    config = tmp_path / "docker-config"
    ref = parse_normalized(f"{host}/private:1")

    with pytest.raises(Unauthorized) as e:
        push(ref, store, image.manifest_digest, config_dir=config)
    assert e.value.message == f"unauthorized: authentication required; run `dockyard login {host}`"

    with pytest.raises(Unauthorized) as e:
        login(host, "alice", "wrong", config)
    assert e.value.message == f"login attempt to http://{host}/v2/ failed with status: 401 Unauthorized"
    assert not (config / "config.json").exists()

    assert login(host, "alice", "s3cret", config) == "Login Succeeded"
    saved = json.loads((config / "config.json").read_text())
    assert base64.b64decode(saved["auths"][host]["auth"]) == b"alice:s3cret"

    assert push(ref, store, image.manifest_digest, config_dir=config).bytes_sent > 0
    assert pull(ref, ContentStore(tmp_path / "other"), config_dir=config).manifest_digest == image.manifest_digest

    logout(host, config)
    with pytest.raises(Unauthorized):
        pull(ref, ContentStore(tmp_path / "third"), config_dir=config)


def _token_app(fake, tokens: list[dict]) -> None:
    """Put a bearer challenge in front of `fake` and a token server at /token that knows alice:s3cret."""
    good = "Basic " + base64.b64encode(b"alice:s3cret").decode()

    async def token(request):
        tokens.append(dict(request.query))
        if request.headers.get("Authorization") != good:
            return web.json_response({"details": "incorrect username or password"}, status=401)
        return web.json_response({"token": "tok:" + ",".join(request.query.getall("scope", [])), "expires_in": 300})

    @web.middleware
    async def bearer(request, handler):
        if request.path.startswith("/v2/"):
            auth = request.headers.get("Authorization", "")
            if not auth.startswith("Bearer tok:") or (request.path != "/v2/" and "repository:app:pull" not in auth):
                realm = f"http://{request.host}/token"
                scope = ',scope="repository:app:pull"' if request.path != "/v2/" else ""
                return web.json_response({"errors": [{"code": "UNAUTHORIZED"}]}, status=401, headers={
                    "WWW-Authenticate": f'Bearer realm="{realm}",service="fake-registry"{scope}'})
        return await handler(request)

    fake.app.middlewares.append(bearer)
    fake.app.router.add_get("/token", token)


def test_bearer_token_flow_caches_one_token_per_scope(serve, store, image, tmp_path):
    fake = fake_from_store(store, image)
    tokens: list[dict] = []
    _token_app(fake, tokens)
    host = serve(fake.app)
    config = tmp_path / "docker-config"

    with pytest.raises(Unauthorized) as e:
        login(host, "alice", "nope", config)
    assert e.value.message == f'Get "http://{host}/v2/": unauthorized: incorrect username or password'
    assert login(host, "alice", "s3cret", config) == "Login Succeeded"
    tokens.clear()

    result = pull(parse_normalized(f"{host}/app:latest"), ContentStore(tmp_path / "other"), config_dir=config)
    assert result.manifest_digest == image.manifest_digest
    assert len(tokens) == 1, "manifest and three blob requests must share one cached token"
    assert tokens[0] == {"service": "fake-registry", "scope": "repository:app:pull", "account": "alice"}

    with pytest.raises(Unauthorized, match=f"incorrect username or password for {host}"):
        pull(parse_normalized(f"{host}/app:latest"), ContentStore(tmp_path / "third"),
             config_dir=_config_with(tmp_path / "bad", host, "alice:wrong"))


def _config_with(directory, host: str, userpass: str):
    directory.mkdir()
    (directory / "config.json").write_text(json.dumps({"auths": {host: {"auth": base64.b64encode(userpass.encode()).decode()}}}))
    return directory
