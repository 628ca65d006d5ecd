"""Who may do what on a private repository of an organization, through the registry API with
passwords and tokens, and on the pages; revocation takes effect on the very next request."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.e2e.hub.accounts_harness import PEOPLE, WebClient, registry_token, skopeo_ok, status_with
from tests.integration.hub.hub_harness import busybox_layer, file_layer, hub_cli, navigate_by, push

TLS = "--tls-verify=false"


@pytest.fixture
def app_repo(accounts_hub, people, layout):
    """team/app:1, pushed by its organization's owner and made private."""
    layout.add("base", [busybox_layer()])
    layout.add("v2", [busybox_layer(), file_layer("etc/v2", b"two\n")])
    push(layout, "base", accounts_hub, "team/app:1", creds=people.creds("owner"))
    hub_cli(people.root, "repo", "private", "team/app")
    return accounts_hub


def test_each_role_through_the_registry_with_passwords_and_tokens(app_repo, people, layout):
    hub = app_repo

    def pull(creds=None):
        return skopeo_ok("inspect", TLS, *(("--creds", creds) if creds else ()), f"docker://{hub.host}/team/app:1")[0]

    def push_tag(creds, tag):
        return skopeo_ok("copy", "--dest-tls-verify=false", "--dest-creds", creds, f"oci:{layout.path}:v2",
                         f"docker://{hub.host}/team/app:{tag}")[0]

    def delete(creds, tag):
        return skopeo_ok("delete", TLS, "--creds", creds, f"docker://{hub.host}/team/app:{tag}")[0]

    assert not pull()
    assert not pull(people.creds("outsider"))
    assert not pull("reader:wrong-password")
    assert pull(people.creds("reader")) and not push_tag(people.creds("reader"), "r")
    assert push_tag(people.creds("writer"), "w") and not delete(people.creds("writer"), "w")
    assert delete(people.creds("admin"), "w")

    read_only = people.token("writer", "repo:read")
    assert pull(f"writer:{read_only}") and not push_tag(f"writer:{read_only}", "t")
    public_only = people.token("reader", "repo:public_read")
    assert not pull(f"reader:{public_only}")
    writing = people.token("writer", "repo:write")
    assert push_tag(f"writer:{writing}", "t")
    assert not pull(f"reader:{writing}")  # a token is its own user's only

    log = hub_cli(people.root, "audit", "--repo", "team/app").stdout
    entries = [line.split() for line in log.splitlines()[1:]]
    assert ["admin", "delete", "team/app"] == next(e[2:5] for e in entries if e[3] == "delete")
    assert {e[2] for e in entries if e[3] == "push"} == {"owner", "writer"}


def test_a_revoked_token_or_withdrawn_grant_refuses_the_next_request(app_repo, people):
    hub = app_repo
    manifest = "/v2/team/app/manifests/1"
    secret = people.token("writer", "repo:write")
    bearer = registry_token(hub.url, f"writer:{secret}", "repository:team/app:pull,push")
    assert status_with(hub.url, manifest, bearer, "HEAD") == 200
    token_id = people.accounts.tokens("writer")[0].id
    hub_cli(people.root, "token", "revoke", "writer", token_id)
    assert status_with(hub.url, manifest, bearer, "HEAD") == 401  # the same bearer token, issued before
    assert not skopeo_ok("inspect", TLS, "--creds", f"writer:{secret}", f"docker://{hub.host}/team/app:1")[0]

    # containerd-based clients ask with an OAuth2 password grant first
    form = urllib.parse.urlencode({"grant_type": "password", "username": "reader", "password": PEOPLE["reader"],
                                   "service": "dockyard-hub", "scope": "repository:team/app:pull"}).encode()
    with urllib.request.urlopen(urllib.request.Request(f"{hub.url}/token", data=form), timeout=30) as resp:
        oauth = json.loads(resp.read())["access_token"]
    assert status_with(hub.url, manifest, oauth, "HEAD") == 200
    bad = urllib.parse.urlencode({"grant_type": "password", "username": "reader", "password": "nope"}).encode()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(f"{hub.url}/token", data=bad), timeout=30)
    assert refused.value.code == 401

    reader = registry_token(hub.url, people.creds("reader"), "repository:team/app:pull")
    assert status_with(hub.url, manifest, reader, "HEAD") == 200
    hub_cli(people.root, "grant", "team/app", "team:team/readers", "none")
    assert status_with(hub.url, manifest, reader, "HEAD") == 404  # private: not even confirmed to exist

    admin = registry_token(hub.url, people.creds("admin"), "repository:team/app:pull")
    assert status_with(hub.url, manifest, admin, "HEAD") == 200
    hub_cli(people.root, "user", "passwd", "admin", "--password-stdin", stdin="a-new-password-9\n")
    assert status_with(hub.url, manifest, admin, "HEAD") == 401  # a new password ends what the old one got
    assert "revoke" in hub_cli(people.root, "audit").stdout


def test_pages_per_role_and_forms_need_their_csrf_token(app_repo, people):
    hub = app_repo
    anonymous = WebClient(hub.url)
    assert "team/app" not in anonymous.get("/")[1]
    assert anonymous.get("/r/team/app")[0] == 404
    assert anonymous.request("/r/team/app/-/settings")[2] == "/login"

    assert WebClient(hub.url).post("/login", {"user": "reader", "password": "nope"})[0] == 401
    token = people.token("reader", "repo:read")
    assert WebClient(hub.url).post("/login", {"user": "reader", "password": token})[0] == 401  # tokens: registry only
    assert WebClient(hub.url).post("/login", {"user": "reader", "password": PEOPLE["reader"],
                                              "next": "//evil.example/x"})[2] == "/"

    reader = WebClient(hub.url).login("reader", PEOPLE["reader"])
    status, page = reader.get("/r/team/app")
    assert status == 200 and 'id="settings"' not in page and "signed in as reader" in page
    assert 'data-name="team/app"' in reader.get("/")[1]
    assert reader.get("/r/team/app/-/settings")[0] == 403
    assert reader.post("/r/team/app/-/settings/grants", {"grantee": "user:reader", "level": "admin"})[0] == 403

    admin = WebClient(hub.url).login("admin", PEOPLE["admin"])
    assert 'id="settings"' in admin.get("/r/team/app")[1]
    grant = {"grantee": "user:outsider", "level": "read"}
    assert admin.post("/r/team/app/-/settings/grants", grant, csrf="")[0] == 403
    assert admin.post("/r/team/app/-/settings/grants", grant, csrf="x" * 43)[0] == 403
    assert admin.post("/r/team/app/-/settings/grants", grant, headers={"Origin": "http://evil.example"})[0] == 403
    assert not skopeo_ok("inspect", TLS, "--creds", people.creds("outsider"), f"docker://{hub.host}/team/app:1")[0]
    status, page, where = admin.post("/r/team/app/-/settings/grants", grant)
    assert status == 200 and where == "/r/team/app/-/settings" and 'data-grantee="user:outsider"' in page
    assert skopeo_ok("inspect", TLS, "--creds", people.creds("outsider"), f"docker://{hub.host}/team/app:1")[0]
    status, page, _ = admin.post("/r/team/app/-/settings/grants", {"grantee": "user:../../etc", "level": "read"})
    assert status == 400 and "no &#39;user:../../etc&#39;" in page
    assert "grant" in page and "user:outsider read" in page  # the audit log on the settings page

    assert admin.post("/logout", {})[0] == 200
    assert admin.get("/r/team/app")[0] == 404  # signed out: anonymous again
    assert reader.get("/audit")[0] == 403
    assert "user:outsider read" in WebClient(hub.url).login("root", PEOPLE["root"]).get("/audit")[1]


def test_tokens_made_used_and_revoked_in_the_browser(app_repo, people, browser, screenshot):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    hub = app_repo

    def after_click(selector: str, then) -> None:
        """Click, wait for the page it leads to, and check `then` on that page."""
        navigate_by(browser, browser.find_element(By.CSS_SELECTOR, selector).click)
        assert then(browser)

    browser.get(hub.url + "/login")
    browser.delete_all_cookies()  # the browser is shared by the module's tests, and cookies ignore ports
    browser.get(hub.url + "/settings/tokens")  # signing in first, then back here
    browser.find_element(By.ID, "user").send_keys("writer")
    browser.find_element(By.ID, "password").send_keys(PEOPLE["writer"])
    after_click("#login button", lambda d: "signed in as writer" in d.page_source)
    assert browser.current_url == hub.url + "/settings/tokens"

    browser.find_element(By.ID, "token-name").send_keys("laptop <b>")
    Select(browser.find_element(By.ID, "token-scope")).select_by_value("repo:read")
    Select(browser.find_element(By.ID, "token-days")).select_by_value("30")
    after_click("#new-token-form button", lambda d: d.find_elements(By.ID, "new-token"))
    secret = browser.find_element(By.ID, "new-token").text
    assert secret.startswith("dyp_") and browser.find_element(By.CSS_SELECTOR, ".token-name").text == "laptop <b>"
    screenshot("token")
    in_30_days = {time.strftime("%Y-%m-%d", time.gmtime(time.time() + 30 * 86400 - s)) for s in (0, 120)}  # midnight
    assert any(day in browser.find_element(By.ID, "tokens").text for day in in_30_days)
    image = f"docker://{hub.host}/team/app:1"
    assert skopeo_ok("inspect", TLS, "--creds", f"writer:{secret}", image)[0]
    browser.get(hub.url + "/settings/tokens")
    assert secret not in browser.page_source  # shown once
    after_click("#tokens button.revoke", lambda d: "revoked" in d.find_element(By.ID, "tokens").text)
    assert not skopeo_ok("inspect", TLS, "--creds", f"writer:{secret}", image)[0]

    browser.get(hub.url + "/r/team/app")
    assert not browser.find_elements(By.ID, "settings")  # write is not admin
    after_click("form.logout button", lambda d: d.find_elements(By.LINK_TEXT, "Sign in"))
    browser.get(hub.url + "/r/team/app")
    assert "Not found" in browser.page_source and browser.find_element(By.LINK_TEXT, "Sign in")


def test_an_organization_made_on_the_pages_grants_through_its_teams(accounts_hub, people, layout):
    hub = accounts_hub
    founder = WebClient(hub.url).login("outsider", PEOPLE["outsider"])
    status, page, where = founder.post("/orgs", {"name": "newco"})
    assert status == 200 and where == "/orgs/newco" and 'data-team="owners"' in page
    assert founder.post("/orgs/newco/teams", {"team": "devs"})[2] == "/orgs/newco"
    status, page, _ = founder.post("/orgs/newco/members", {"team": "devs", "user": "reader", "action": "add"})
    assert status == 200 and "reader" in page
    assert founder.post("/orgs/newco/members", {"team": "owners", "user": "outsider", "action": "remove"})[0] == 400
    assert WebClient(hub.url).login("writer", PEOPLE["writer"]).get("/orgs/newco")[0] == 404  # not a member

    layout.add("base", [busybox_layer()])
    push(layout, "base", hub, "newco/tool:1", creds=people.creds("outsider"))  # owners may create repositories
    hub_cli(people.root, "repo", "private", "newco/tool")
    assert not skopeo_ok("inspect", TLS, "--creds", people.creds("reader"), f"docker://{hub.host}/newco/tool:1")[0]
    assert founder.post("/r/newco/tool/-/settings/grants", {"grantee": "team:newco/devs", "level": "read"})[0] == 200
    assert skopeo_ok("inspect", TLS, "--creds", people.creds("reader"), f"docker://{hub.host}/newco/tool:1")[0]
    member = WebClient(hub.url).login("reader", PEOPLE["reader"])
    assert member.post("/orgs/newco/teams", {"team": "mine"})[0] == 404  # members do not manage


def test_maintainers_are_the_write_and_admin_holders_and_other_sites_cannot_press_buttons(app_repo, people, layout):
    hub = app_repo
    push(layout, "v2", hub, "team/app:old", creds=people.creds("writer"))
    reader = WebClient(hub.url).login("reader", PEOPLE["reader"])
    assert reader.post("/r/team/app/-/tags/delete", {"tag": "old"})[0] == 403
    writer = WebClient(hub.url).login("writer", PEOPLE["writer"])
    assert writer.post("/r/team/app/-/tags/delete", {"tag": "old"}, headers={"Origin": "http://evil.invalid"})[0] == 403
    assert writer.post("/r/team/app/-/tags/delete", {"tag": "old"}, headers={"Sec-Fetch-Site": "cross-site"})[0] == 403
    assert skopeo_ok("inspect", TLS, "--creds", people.creds("writer"), f"docker://{hub.host}/team/app:old")[0]
    assert writer.post("/r/team/app/-/tags/delete", {"tag": "old"})[0] in (200, 202)
    assert not skopeo_ok("inspect", TLS, "--creds", people.creds("writer"), f"docker://{hub.host}/team/app:old")[0]
    log = hub_cli(people.root, "audit", "--repo", "team/app").stdout
    assert any(line.split()[2:4] == ["writer", "delete"] and '"old"' in line for line in log.splitlines())


def test_guessing_a_password_is_stopped_after_ten_failures(accounts_hub, people):
    hub = accounts_hub
    web_client = WebClient(hub.url)
    for _ in range(10):
        assert web_client.post("/login", {"user": "reader", "password": "guess"})[0] == 401
    status, page, _ = web_client.post("/login", {"user": "reader", "password": PEOPLE["reader"]})
    assert status == 429 and "Too many failed attempts" in page
    req = urllib.request.Request(f"{hub.url}/token?service=dockyard-hub",
                                 headers={"Authorization": "Basic " + base64.b64encode(people.creds("reader").encode()).decode()})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=30)
    assert refused.value.code == 429 and int(refused.value.headers["Retry-After"]) > 0
    WebClient(hub.url).login("writer", PEOPLE["writer"])  # someone else is not held up
