"""The docker CLI against the hub, through dockyard's Engine API and the host's dockerd alike:
`docker login` with a personal access token, push, pull, `docker search HOST/TERM`; a revoked
token stops working at once; with two-factor sign-in only tokens log in."""

from __future__ import annotations

import json
import time

import pytest

from dockyard.hub.accounts import totp

from tests.e2e.hub.accounts_harness import PEOPLE

pytestmark = pytest.mark.root


def test_docker_login_push_pull_search_with_a_token_until_revoked(engine_api, accounts_hub, people, request):
    hub, docker = accounts_hub, engine_api.docker
    ref = f"{hub.host}/writer/bb:1"
    secret = people.token("writer", "repo:write")
    try:
        wrong = docker("login", hub.host, "-u", "writer", "--password-stdin", input="not-the-token\n", check=False)
        assert wrong.code != 0 and "unauthorized: incorrect username or password" in wrong.err
        assert "Login Succeeded" in docker("login", hub.host, "-u", "writer", "--password-stdin", input=secret + "\n").out

        docker("tag", "busybox", ref)
        assert "1: digest: sha256:" in docker("push", ref).out
        docker("rmi", ref)
        docker("pull", ref)
        assert "writer/bb" in docker("search", f"{hub.host}/bb").out
        found = json.loads(docker("search", "--format", "{{json .}}", f"{hub.host}/bb").out.splitlines()[0])
        assert found["Name"] == "writer/bb"

        status, page = hub.get("/r/writer/bb")
        assert status == 200 and '<td class="pulls">1</td>' in page

        people.accounts.revoke_token("writer", people.accounts.tokens("writer")[0].id)
        # (a pull refused with stored credentials makes the CLI prompt for new ones: log in again instead)
        again = docker("login", hub.host, "-u", "writer", "--password-stdin", input=secret + "\n", check=False)
        assert again.code != 0 and "unauthorized: incorrect username or password" in again.err
        # a password still works for the same user
        assert "Login Succeeded" in docker("login", hub.host, "-u", "writer", "--password-stdin",
                                           input=PEOPLE["writer"] + "\n").out
        docker("pull", ref)

        # with two-factor sign-in on, docker login takes personal access tokens only
        key = totp.new_secret()
        people.accounts.enable_totp("writer", key, totp.code(key, int(time.time() // totp.STEP)))
        refused = docker("login", hub.host, "-u", "writer", "--password-stdin", input=PEOPLE["writer"] + "\n", check=False)
        assert refused.code != 0 and "unauthorized" in refused.err
        if request.node.callspec.params["engine_api"] != "dockyard":  # dockyard's engine words every refusal alike
            assert "use a personal access token" in refused.err  # dockerd passes the hub's reason on
        assert "Login Succeeded" in docker("login", hub.host, "-u", "writer", "--password-stdin",
                                           input=people.token("writer", "repo:read") + "\n").out
        docker("pull", ref)
    finally:
        docker("logout", hub.host, check=False)
        docker("rmi", ref, check=False)
