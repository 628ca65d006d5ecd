"""Finding images: /v1/search (its shape, ranking, pages, visibility), `dockyard search`, the
search box, descriptions and READMEs (sanitised), pull counts per tag, and hostile input."""

from __future__ import annotations

import base64
import json

from selenium.webdriver.common.by import By

from tests.e2e.hub.accounts_harness import PEOPLE, WebClient
from tests.integration.hub.hub_harness import busybox_layer, commit_and_push, git, hub_cli, push, skopeo

EVIL = '<img src=x onerror="document.title=\'pwned\'"><script>document.title="pwned"</script>'
README = f"""# Web server

Serves **static** files. {EVIL}

| port | use |
|------|-----|
| 80   | http |

[click me](javascript:document.title='pwned') and [docs](https://example.invalid/docs)
"""


def _publish(hub, people, layout, *refs: str) -> str:
    """Push busybox as each of `refs`; returns its digest."""
    layout.add("base", [busybox_layer()])
    for ref in refs:  # library/ is the site administrators'
        digest = push(layout, "base", hub, ref, creds=people.creds("root" if ref.startswith("library/") else "owner"))
    return digest


def _search(hub, query: str, creds: str | None = None) -> tuple[int, dict]:
    headers = {"Authorization": "Basic " + base64.b64encode(creds.encode()).decode()} if creds else {}
    status, body = hub.get(f"/v1/search?{query}", headers=headers)
    return status, json.loads(body)


def test_search_api_ranks_pages_and_hides_private_repositories(accounts_hub, people, layout, dy):
    hub = accounts_hub
    _publish(hub, people, layout, "team/web:1", "team/webapp-tools:1", "owner/misc:1", "team/app:1", "library/web:1")
    owner = WebClient(hub.url).login("owner", PEOPLE["owner"])
    for repo, text in (("owner/misc", "Tools for the web"), ("team/app", "The web app (private)")):
        assert owner.post(f"/r/{repo}/-/settings/texts", {"description": text, "readme": ""})[0] == 200
    hub_cli(people.root, "repo", "private", "team/app")

    status, answer = _search(hub, "q=web")
    assert status == 200
    assert [r["name"] for r in answer["results"]] == ["library/web", "team/web", "team/webapp-tools", "owner/misc"]
    assert answer["results"][3] == {"name": "owner/misc", "description": "Tools for the web", "star_count": 0,
                                    "is_official": False, "is_automated": False}
    assert answer["results"][0]["is_official"] is True
    assert {k: answer[k] for k in ("query", "num_results", "num_pages", "page", "page_size")} == {
        "query": "web", "num_results": 4, "num_pages": 1, "page": 1, "page_size": 25}

    status, page2 = _search(hub, "q=WEB&n=3&page=2")
    assert status == 200 and [r["name"] for r in page2["results"]] == ["owner/misc"]
    assert (page2["num_pages"], page2["page_size"], page2["num_results"]) == (2, 3, 4)
    assert _search(hub, "q=web&page=9")[1]["results"] == []

    with_member = [r["name"] for r in _search(hub, "q=web", people.creds("reader"))[1]["results"]]
    assert "team/app" in with_member
    assert "team/app" not in [r["name"] for r in _search(hub, "q=web", people.creds("outsider"))[1]["results"]]

    for bad in ("q=", "q=web&n=0", "q=web&n=101", "q=web&n=x", "q=web&page=0", "q=web&page=-1", "n=5"):
        status, answer = _search(hub, bad)
        assert status == 400 and set(answer) == {"message"}, bad

    out = dy("search", f"{hub.host}/web").out.splitlines()
    assert out[0].split() == ["NAME", "DESCRIPTION", "STARS", "OFFICIAL"]
    assert [line.split()[0] for line in out[1:]] == ["library/web", "team/web", "team/webapp-tools", "owner/misc"]
    assert "Tools for the web" in out[4]


def test_readme_and_description_render_sanitised_and_the_search_box_finds_them(accounts_hub, people, layout,
                                                                              browser, screenshot, tmp_path):
    hub = accounts_hub
    _publish(hub, people, layout, "team/web:1", "team/db:1", "team/built:1")
    owner = WebClient(hub.url).login("owner", PEOPLE["owner"])
    status, _, where = owner.post("/r/team/web/-/settings/texts", {"description": f"Static {EVIL}"[:100], "readme": README})
    assert status == 200 and where == "/r/team/web/-/settings"

    # the README of a git source, when none was written on the page (pushed before the source is
    # added, so that no build starts)
    bare, work = tmp_path / "src.git", tmp_path / "src"
    git(tmp_path, "init", "--quiet", "--bare", "-b", "main", str(bare))
    git(tmp_path, "clone", "--quiet", str(bare), str(work))
    git(work, "checkout", "--quiet", "-b", "main")
    commit_and_push(work, "FROM busybox\n", "readme", {"README.md": f"# From git\n\nBuilt *automatically*. {EVIL}\n"})
    hub_cli(people.root, "source", "add", "team/built", "--git", str(bare))

    browser.get(hub.url + "/r/team/web")
    readme = browser.find_element(By.ID, "readme")
    assert readme.find_element(By.TAG_NAME, "h1").text == "Web server"
    assert readme.find_element(By.TAG_NAME, "strong").text == "static"
    assert [c.text for c in readme.find_elements(By.CSS_SELECTOR, "table td")] == ["80", "http"]
    assert not readme.find_elements(By.CSS_SELECTOR, "script, img, [onerror]")
    links = {a.text: a.get_attribute("href") for a in readme.find_elements(By.TAG_NAME, "a")}
    assert links.get("docs") == "https://example.invalid/docs" and not (links.get("click me") or "").startswith("javascript")
    assert "<img src=x" in readme.text  # the raw HTML shows as text
    assert browser.find_element(By.ID, "description").text.startswith("Static <img src=x")
    assert browser.title != "pwned"
    screenshot("readme")

    browser.get(hub.url + "/r/team/built")
    readme = browser.find_element(By.ID, "readme")
    assert readme.find_element(By.TAG_NAME, "h1").text == "From git" and readme.find_element(By.TAG_NAME, "em").text == "automatically"
    assert not readme.find_elements(By.CSS_SELECTOR, "script, img")

    browser.get(hub.url + "/")
    assert "Static <img" in browser.find_element(By.CSS_SELECTOR, '#repos li[data-name="team/web"]').text
    browser.find_element(By.ID, "q").send_keys("static")  # filters as one types, on names and descriptions
    shown = [e.get_attribute("data-name") for e in browser.find_elements(By.CSS_SELECTOR, "#repos li[data-name]") if e.is_displayed()]
    assert shown == ["team/web"]
    browser.get(hub.url + "/?q=STATIC")
    assert [e.get_attribute("data-name") for e in browser.find_elements(By.CSS_SELECTOR, "#repos li[data-name]")] == ["team/web"]
    assert browser.title != "pwned"
    screenshot("search")


def test_pull_counts_and_last_pulled_per_tag(accounts_hub, people, layout, browser):
    hub = accounts_hub
    digest = _publish(hub, people, layout, "team/web:1", "team/web:2", "team/web:3")
    for tag in ("1", "1", "2"):
        skopeo("inspect", "--tls-verify=false", f"docker://{hub.host}/team/web:{tag}")
    skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{hub.host}/team/web@{digest}")  # not a pull of a tag
    browser.get(hub.url + "/r/team/web")
    rows = {r.get_attribute("data-tag"): r for r in browser.find_elements(By.CSS_SELECTOR, "#tags tbody tr")}
    pulls = {tag: (row.find_element(By.CLASS_NAME, "pulls").text, row.find_element(By.CLASS_NAME, "last-pulled").text)
             for tag, row in rows.items()}
    assert pulls["1"][0] == "2" and pulls["2"][0] == "1" and pulls["3"] == ("0", "never")
    assert pulls["1"][1].endswith("ago")


def test_hostile_names_and_paths_are_refused_not_served(accounts_hub, people, layout):
    hub = accounts_hub
    _publish(hub, people, layout, "team/web:1")
    owner = WebClient(hub.url).login("owner", PEOPLE["owner"])
    for path in ("/r/../../etc/passwd", "/r/team/..%2F..%2Fetc/-/settings", "/r/team/web/-/image/..%2F..%2F1",
                 "/orgs/..%2F..%2Fetc", "/r/%3Cscript%3E/-/settings", "/builds/..%2F1"):
        status, body = owner.get(path)
        assert status == 404 and "root:" not in body, path
    for path in ("/?q=%3Cscript%3Ex%3C/script%3E", "/login?next=/%22%3E%3Cscript%3Ex%3C/script%3E"):
        status, page = WebClient(hub.url).get(path)
        assert status == 200 and "<script>x" not in page, path
    status, page, _ = owner.post("/orgs", {"name": "<script>x</script>"})
    assert status == 400 and "&lt;script&gt;" in page and "<script>x" not in page
    status, page, _ = owner.post("/settings/tokens", {"name": EVIL, "scope": "repo:read"})
    assert status == 200 and EVIL not in page and "&lt;img src=x onerror=" in page
    status, page, _ = owner.post("/r/team/web/-/settings/texts", {"description": "x" * 101, "readme": ""})
    assert status == 400 and "at most 100" in page
