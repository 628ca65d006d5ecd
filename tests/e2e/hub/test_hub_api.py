"""Docker Hub's own API paths that tools call (login, repository, tags, tag delete, stars), asked
with httpx as a script would ask them: no real client of this API is packaged for this machine
(hub-tool and the like need the network), so the shapes are those of Docker Hub's published API
reference. Also stars on the pages, and the registry API still answering beside these paths.

One hub serves the module: `team/app` (private, two tags) and `team/web` (public)."""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest

from tests.e2e.hub.accounts_harness import PEOPLE, People, WebClient
from tests.integration.hub.hub_harness import HubServer, Layout, busybox_layer, file_layer, hub_cli, push


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from dockyard.hub.accounts import policy
    from dockyard.hub.accounts.store import Accounts
    from dockyard.hub.state import HubState

    base = tmp_path_factory.mktemp("hubapi")
    root = base / "hub"
    accounts = Accounts(HubState(root).db)
    for name, password in PEOPLE.items():
        accounts.add_user(name, password, site_admin=name == "root", rounds=4)
    accounts.add_org("team", "owner")
    accounts.grant("team/app", "user:admin", policy.ADMIN)
    accounts.grant("team/app", "user:writer", policy.WRITE)
    accounts.grant("team/app", "user:reader", policy.READ)
    server = HubServer(root, base / "hub.log", "--auth", "accounts")
    layout = Layout(base / "layout")
    layout.add("one", [busybox_layer()])
    layout.add("two", [busybox_layer(), file_layer("two", b"2\n")])
    digests = {tag: push(layout, tag, server, f"team/app:{tag}", creds=People.creds("owner")) for tag in ("one", "two")}
    push(layout, "one", server, "team/web:latest", creds=People.creds("owner"))
    hub_cli(root, "repo", "private", "team/app")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield server, People(root, accounts), client, digests
    server.stop()


def _login(client, user: str, password: str | None = None) -> str:
    answer = client.post("/v2/users/login", json={"username": user, "password": password or PEOPLE[user]})
    assert answer.status_code == 200, answer.text
    return answer.json()["token"]


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_login_repository_and_tags_in_docker_hubs_shape(site):
    hub, people, client, digests = site
    assert client.get("/v2/repositories/team/app/").status_code == 404  # private: not even confirmed
    public = client.get("/v2/repositories/team/web/")
    assert public.status_code == 200
    info = public.json()
    assert (info["namespace"], info["name"], info["is_private"], info["star_count"]) == ("team", "web", False, 0)
    assert info["permissions"] == {"read": True, "write": False, "admin": False}
    assert info["last_updated"].endswith("Z") and info["repository_type"] == "image"

    bad = client.post("/v2/users/login", json={"username": "reader", "password": "nope"})
    assert bad.status_code == 401 and "detail" in bad.json()
    assert client.post("/v2/users/login", content=b"not json").status_code == 400

    token = _login(client, "reader")
    info = client.get("/v2/repositories/team/app", headers=_bearer(token)).json()  # the slash is optional
    assert info["is_private"] is True and info["permissions"] == {"read": True, "write": False, "admin": False}
    assert client.get("/v2/namespaces/team/repositories/app", headers=_bearer(token)).json()["name"] == "app"

    tags = client.get("/v2/repositories/team/app/tags", headers={"Authorization": f"JWT {token}"}).json()
    assert tags["count"] == 2 and [t["name"] for t in tags["results"]] == ["two", "one"]  # newest push first
    two = tags["results"][0]
    assert two["digest"] == digests["two"] and two["images"][0]["architecture"] == "amd64"
    assert two["full_size"] > 0 and two["tag_status"] == "active" and two["tag_last_pushed"].endswith("Z")
    first = client.get("/v2/repositories/team/app/tags/?page_size=1", headers=_bearer(token)).json()
    assert first["count"] == 2 and len(first["results"]) == 1 and first["previous"] is None
    second = client.get(first["next"], headers=_bearer(token)).json()
    assert [t["name"] for t in second["results"]] == ["one"] and second["next"] is None
    one = client.get("/v2/repositories/team/app/tags/one/", headers=_bearer(token))
    assert one.status_code == 200 and one.json()["digest"] == digests["one"]
    assert client.get("/v2/repositories/team/app/tags/nosuch", headers=_bearer(token)).status_code == 404
    assert client.get("/v2/repositories/team/app/tags?page_size=1000", headers=_bearer(token)).status_code == 400
    listed = client.get("/v2/repositories/team/", headers=_bearer(token)).json()
    assert [r["name"] for r in listed["results"]] == ["app", "web"]
    assert [r["name"] for r in client.get("/v2/repositories/team/").json()["results"]] == ["web"]

    # the registry API beside it, as before
    registry = client.get("/token", params={"service": "dockyard-hub", "scope": "repository:team/app:pull"},
                          auth=("reader", PEOPLE["reader"])).json()["token"]
    assert client.get("/v2/team/app/tags/list", headers=_bearer(registry)).json()["tags"] == ["one", "two"]
    assert client.get("/v2/users/login").status_code == 405
    for method, path, use in (("POST", "/v2/repositories/team/", "use GET"),
                              ("PUT", "/v2/repositories/team/web/tags", "use GET"),
                              ("PUT", "/v2/repositories/team/web/tags/one/", "use GET or DELETE"),
                              ("GET", "/v2/namespaces/team/repositories/web/stars/", "use POST or DELETE")):
        refused = client.request(method, path)
        assert (refused.status_code, refused.json()) == (405, {"detail": use, "message": use}), path
    # a registry repository whose name starts like these paths keeps the registry's answers
    layout = Layout(hub.root.parent / "layout")
    layout.add("one", [busybox_layer()])
    push(layout, "one", hub, "repositories/x/y:v1", creds=people.creds("root"))
    registry = client.get("/token", params={"service": "dockyard-hub", "scope": "repository:repositories/x/y:pull"},
                          auth=("reader", PEOPLE["reader"])).json()["token"]
    listed = client.get("/v2/repositories/x/y/tags/list", headers=_bearer(registry)).json()
    assert listed == {"name": "repositories/x/y", "tags": ["v1"]}


def test_deleting_a_tag_needs_admin_and_the_tokens_scope(site):
    hub, people, client, digests = site
    layout = Layout(hub.root.parent / "layout")
    layout.add("one", [busybox_layer()])
    push(layout, "one", hub, "team/app:doomed", creds=people.creds("owner"))
    path = "/v2/repositories/team/app/tags/doomed/"
    assert client.delete(path).status_code == 404  # anonymous: the private repository is not confirmed
    assert client.delete(path, headers=_bearer(_login(client, "writer"))).status_code == 403  # write is not delete
    read_only = people.token("admin", "repo:read")
    assert client.delete(path, headers=_bearer(_login(client, "admin", read_only))).status_code == 403
    assert client.delete(path, auth=("admin", read_only)).status_code == 403  # Basic with a token: the same cap
    assert client.delete(path, headers=_bearer("not-a-token")).status_code == 401
    deleted = client.delete(path, headers=_bearer(_login(client, "admin")))
    assert deleted.status_code == 204, deleted.text
    assert client.delete(path, headers=_bearer(_login(client, "admin"))).status_code == 404
    registry = client.get("/token", params={"service": "dockyard-hub", "scope": "repository:team/app:pull"},
                          auth=("admin", PEOPLE["admin"])).json()["token"]
    assert client.head("/v2/team/app/manifests/doomed", headers=_bearer(registry)).status_code == 404
    log = hub_cli(people.root, "audit", "--repo", "team/app").stdout
    assert any(line.split()[2:4] == ["admin", "delete"] and '"hub api"' in line for line in log.splitlines())


def test_two_step_login_with_two_factor_sign_in(site):
    pyotp = pytest.importorskip("pyotp")
    from dockyard.hub.accounts import totp

    hub, people, client, _ = site
    secret = totp.new_secret()
    app = pyotp.TOTP(secret)
    people.accounts.enable_totp("outsider", secret, app.now())
    try:
        first = client.post("/v2/users/login", json={"username": "outsider", "password": PEOPLE["outsider"]})
        assert first.status_code == 401 and first.json()["login_2fa_token"]
        ticket = first.json()["login_2fa_token"]
        assert client.get("/v2/repositories/team/web/", headers=_bearer(ticket)).status_code == 401  # only for the code
        wrong = client.post("/v2/users/2fa-login", json={"login_2fa_token": ticket, "code": "12345"})
        assert wrong.status_code == 401
        done = client.post("/v2/users/2fa-login", json={"login_2fa_token": ticket, "code": app.at(time.time() + 30)})
        assert done.status_code == 200
        assert client.get("/v2/repositories/team/web/", headers=_bearer(done.json()["token"])).status_code == 200
        personal = people.token("outsider", "repo:read")
        assert _login(client, "outsider", personal)  # a personal access token needs no second step
        basic = client.get("/v2/repositories/team/web/", auth=("outsider", PEOPLE["outsider"]))
        assert basic.status_code == 401 and "personal access token" in basic.json()["detail"]
        assert client.get("/v2/repositories/team/web/", auth=("outsider", personal)).status_code == 200
    finally:
        people.accounts.disable_totp("outsider")


def test_stars_on_the_api_the_pages_and_in_search(site):
    hub, people, client, _ = site
    stars = "/v2/repositories/team/web/stars/"
    assert client.post(stars).status_code == 401
    assert client.post(stars, headers=_bearer(_login(client, "reader"))).json() == {"star_count": 1, "has_starred": True}
    browser = WebClient(hub.url).login("writer", PEOPLE["writer"])
    status, page, _ = browser.post("/r/team/web/-/star", {"star": "1"})
    assert status == 200 and 'id="stars">2<' in page and "Unstar" in page
    status, page, _ = browser.post("/r/team/app/-/star", {"star": "1"})
    assert status == 200 and 'id="stars">1<' in page
    assert client.get("/v2/repositories/team/web/").json()["star_count"] == 2
    found = json.loads(hub.get("/v1/search?q=team",
                               headers={"Authorization": "Basic " + base64.b64encode(
                                   people.creds("writer").encode()).decode()})[1])["results"]
    assert {r["name"]: r["star_count"] for r in found} == {"team/web": 2, "team/app": 1}
    order = browser.get("/?sort=stars")[1]
    assert order.index('data-name="team/web"') < order.index('data-name="team/app"')
    assert WebClient(hub.url).post("/r/team/web/-/star", {"star": "1"})[2] == "/login"  # anonymous: sign in first
    status, page, _ = browser.post("/r/team/web/-/star", {"star": "0"})
    assert 'id="stars">1<' in page
    assert client.delete(stars, headers=_bearer(_login(client, "reader"))).json()["star_count"] == 0
