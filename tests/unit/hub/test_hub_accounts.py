"""The accounts' rules without a server: levels from namespaces, teams and grants, token scopes,
names, sessions; search ranking; README sanitising."""

from __future__ import annotations

import pytest

from dockyard.errors import Conflict, InvalidArgument, NotFound
from dockyard.hub.accounts import policy
from dockyard.hub.accounts.store import Accounts
from dockyard.hub.discovery import markdown, search
from dockyard.hub.discovery.info import RepoInfo
from dockyard.hub.state import HubState


@pytest.fixture
def state(tmp_path) -> HubState:
    return HubState(tmp_path / "hub")


@pytest.fixture
def accounts(state) -> Accounts:
    a = Accounts(state.db)
    for name in ("ann", "bob", "cid", "sue"):
        a.add_user(name, f"{name}-password", site_admin=name == "sue", rounds=4)
    a.add_org("acme", "ann")
    a.add_team("acme", "devs")
    a.set_member("acme", "devs", "bob", True)
    return a


def test_levels_come_from_namespace_owners_teams_grants_and_visibility(accounts):
    assert accounts.level("ann", "ann/x", True) == policy.ADMIN  # own namespace
    assert accounts.level("ann", "acme/x", True) == policy.ADMIN  # acme/owners
    assert accounts.level("sue", "acme/x", True) == policy.ADMIN  # site admin
    assert accounts.level("bob", "acme/x", True) == policy.NONE
    assert accounts.level("bob", "acme/x", False) == policy.READ  # public: everyone pulls
    assert accounts.level(None, "acme/x", False) == policy.READ and accounts.level(None, "acme/x", True) == policy.NONE
    assert accounts.level("bob", "library/x", False) == policy.READ and accounts.level("bob", "busybox", True) == policy.NONE
    accounts.grant("acme/x", "team:acme/devs", policy.WRITE, actor="ann")
    accounts.grant("acme/x", "user:cid", policy.READ, actor="ann")
    assert accounts.level("bob", "acme/x", True) == policy.WRITE
    assert accounts.level("cid", "acme/x", True) == policy.READ
    assert accounts.readable_private("bob", frozenset({"acme/x", "acme/y", "bob/z"})) == {"acme/x", "bob/z"}
    assert accounts.readable_private("sue", frozenset({"acme/x"})) == {"acme/x"}
    accounts.set_member("acme", "devs", "bob", False, actor="ann")
    assert accounts.level("bob", "acme/x", True) == policy.NONE
    accounts.grant("acme/x", "user:cid", policy.NONE, actor="ann")
    assert accounts.level("cid", "acme/x", True) == policy.NONE
    actions = [(e.actor, e.action) for e in accounts.audit_log("acme/x")]
    assert actions == [("ann", "revoke"), ("ann", "grant"), ("ann", "grant")]


def test_token_scopes_cap_what_a_user_holds():
    assert policy.cap(policy.ADMIN, "repo:read", False) == policy.READ
    assert policy.cap(policy.READ, "repo:admin", False) == policy.READ
    assert policy.cap(policy.ADMIN, "repo:public_read", True) == policy.NONE
    assert policy.cap(policy.ADMIN, "repo:public_read", False) == policy.READ
    assert policy.cap(policy.WRITE, None, True) == policy.WRITE
    assert policy.cap(policy.ADMIN, "repo:bogus", False) == policy.NONE


def test_tokens_are_kept_as_hashes_and_revocable(accounts, state):
    token, secret = accounts.create_token("bob", "ci", "repo:write")
    assert secret.startswith("dyp_") and token.scope == "repo:write"
    dump = "\n".join(str(tuple(r)) for r in state.db.query("SELECT * FROM acct_tokens"))
    assert secret not in dump
    assert accounts.token_by_secret("bob", secret).id == token.id
    assert accounts.token_by_secret("ann", secret) is None  # another user's
    assert accounts.active_token_scope(token.id, "bob") == "repo:write"
    accounts.revoke_token("bob", token.id)
    assert accounts.token_by_secret("bob", secret) is None and accounts.active_token_scope(token.id, "bob") is None
    with pytest.raises(NotFound):
        accounts.revoke_token("bob", token.id)
    with pytest.raises(InvalidArgument):
        accounts.create_token("bob", "x", "repo:everything")
    with pytest.raises(InvalidArgument):
        accounts.create_token("bob", " ", "repo:read")


def test_names_passwords_and_sessions(accounts):
    for bad in ("", "Ann", "a/b", "../x", "-x", "x-", "<script>", "a" * 40):
        with pytest.raises(InvalidArgument):
            accounts.add_user(bad, "long-enough-pw", rounds=4)
    with pytest.raises(Conflict):
        accounts.add_user("acme", "long-enough-pw", rounds=4)  # users and organizations share names
    with pytest.raises(InvalidArgument):
        accounts.add_user("dan", "short", rounds=4)
    with pytest.raises(Conflict):
        accounts.set_member("acme", "owners", "ann", False)  # the last owner stays
    with pytest.raises(NotFound):
        accounts.grant("acme/x", "user:nobody", policy.READ)
    assert accounts.check_password("bob", "bob-password") and not accounts.check_password("bob", "wrong")
    sid = accounts.open_session("bob")
    assert accounts.session_user(sid) == "bob" and accounts.session_user(sid + "x") is None
    accounts.set_password("bob", "another-password")  # ends every session
    assert accounts.session_user(sid) is None
    assert not accounts.check_password("bob", "bob-password")
    accounts.remove_user("bob")
    assert not accounts.check_password("bob", "another-password")


def test_search_ranks_name_matches_first_and_pages(state):
    info = RepoInfo(state.db)
    info.sync(["a/web", "b/webby", "c/other", "web", "d/x"])
    info.set_texts("c/other", "Serves the WEB", "")
    names = [r["name"] for r in search.search(info, "Web", lambda r: True, frozenset({"b/webby"}))["results"]]
    assert names == ["a/web", "web", "b/webby", "c/other"]
    answer = search.search(info, "web", lambda r: r != "a/web", frozenset(), page="2", n="2")
    assert [r["name"] for r in answer["results"]] == ["c/other"] and answer["num_pages"] == 2
    info.sync(["a/web"])  # the others left the registry
    assert [r for r, _ in info.matching("web")] == ["a/web"]
    with pytest.raises(InvalidArgument):
        info.set_texts("a/web", "x" * 101, "")


def test_readme_markdown_is_sanitised():
    html = markdown.render('# T\n\n<script>alert(1)</script> <img src=x onerror=alert(1)>\n\n'
                           '[a](javascript:alert(1)) [b](https://ok.invalid/) ![i](https://ok.invalid/i.png "t")\n')
    assert "<h1>T</h1>" in html and "<script" not in html and "<img src=x" not in html
    assert 'href="javascript' not in html
    assert 'href="https://ok.invalid/"' in html and 'rel="nofollow noopener noreferrer"' in html
    assert '<img src="https://ok.invalid/i.png"' in html


def test_contents_follow_whiteouts_opaque_directories_and_apk():
    import io

    from dockyard.hub.discovery import contents
    from tests.helpers.layertars import TarBuilder

    apk = b"C:x\nP:musl\nV:1.2.4-r2\n\nP:busybox\nV:1.36.1-r5\n\n"
    lower = (TarBuilder().file("lib/apk/db/installed", apk).file("etc/os-release", b'ID=alpine\nPRETTY_NAME="Alpine 3.19"\n')
             .file("usr/lib/python3.11/site-packages/a-1.dist-info/METADATA", b"Name: a\nVersion: 1\n\nName: not-a-header\n"))
    upper = TarBuilder().file("usr/lib/python3.11/site-packages/.wh..wh..opq").file(
        "usr/lib/python3.11/site-packages/b-2.dist-info/METADATA", b"Name: b\nVersion: 2\n")
    doc = contents.describe(contents.stacked_files([io.BytesIO(lower.bytes()), io.BytesIO(upper.bytes())]))
    assert doc["os"]["PRETTY_NAME"] == "Alpine 3.19"
    assert [(p["kind"], p["name"], p["version"]) for p in doc["packages"]] == [
        ("apk", "busybox", "1.36.1-r5"), ("apk", "musl", "1.2.4-r2"), ("python", "b", "2")]
    gone = TarBuilder().file("lib/apk/db/.wh.installed").file("etc/.wh.os-release")
    doc = contents.describe(contents.stacked_files([io.BytesIO(lower.bytes()), io.BytesIO(gone.bytes())]))
    assert doc["os"] == {} and [p["name"] for p in doc["packages"]] == ["a"]


def test_only_local_paths_are_followed_after_signing_in():
    from dockyard.hub.accounts.web import _safe_next

    assert [_safe_next(t) for t in ("/", "/r/team/app?x=1", "/settings/tokens")] == ["/", "/r/team/app?x=1", "/settings/tokens"]
    for hostile in ("//evil.invalid", "/\\evil.invalid", "/\t/evil.invalid", "http://evil.invalid/", "javascript:x",
                    "/a b", "/\n", "", "r/x"):
        assert _safe_next(hostile) == "/", hostile


def test_an_expired_token_stops_working(accounts, state):
    token, secret = accounts.create_token("bob", "ci", "repo:read", days=30)
    assert accounts.token_by_secret("bob", secret) is not None and accounts.tokens("bob")[0].status == "active"
    with state.db.write() as c:  # thirty days later
        c.execute("UPDATE acct_tokens SET expires=? WHERE id=?", (1.0, token.id))
    assert accounts.token_by_secret("bob", secret) is None and accounts.active_token_scope(token.id, "bob") is None
    assert accounts.tokens("bob")[0].status == "expired"
    for days in (0, -1, 5000):
        with pytest.raises(InvalidArgument):
            accounts.create_token("bob", "x", "repo:read", days=days)


def test_sign_up_can_be_closed_and_reset_links_work_once(accounts):
    from dockyard.errors import Forbidden

    assert accounts.signup_open()
    accounts.sign_up("newbie", "newbie-password", rounds=4)
    accounts.set_signup(False, actor="sue")
    with pytest.raises(Forbidden):
        accounts.sign_up("late", "late-password", rounds=4)
    assert not accounts.is_user("late")

    sid = accounts.open_session("cid")
    secret = accounts.reset_link("cid", actor="sue")
    assert accounts.reset_user(secret) == "cid" and accounts.reset_user(secret[:-1]) is None
    newer = accounts.reset_link("cid", actor="sue")  # replaces the first
    assert accounts.reset_user(secret) is None
    with pytest.raises(InvalidArgument):
        accounts.use_reset(newer, "short", rounds=4)
    assert accounts.use_reset(newer, "a-fresh-password", rounds=4) == "cid"
    assert accounts.check_password("cid", "a-fresh-password") and accounts.session_user(sid) is None
    with pytest.raises(NotFound):
        accounts.use_reset(newer, "yet-another-one", rounds=4)  # once only
    expired = accounts.reset_link("cid", ttl=-1)
    assert accounts.reset_user(expired) is None
    actions = [e.action for e in accounts.audit_log()]
    assert {"signup", "reset-link", "password-reset"} <= set(actions)


def test_two_factor_codes_match_an_authenticator_app_and_work_once(accounts):
    import time

    pyotp = pytest.importorskip("pyotp")
    from dockyard.hub.accounts import totp

    secret = totp.new_secret()
    app = pyotp.TOTP(secret)
    for t in (59, 1111111109, 2000000000):  # RFC 6238's test times
        assert totp.code(secret, t // 30) == app.at(t)
    with pytest.raises(InvalidArgument):
        accounts.enable_totp("bob", secret, "000000" if app.now() != "000000" else "111111")
    with pytest.raises(InvalidArgument):
        accounts.enable_totp("bob", "not base32!", app.now())
    accounts.enable_totp("bob", secret, app.now())
    assert accounts.has_totp("bob")
    assert not accounts.check_totp("bob", app.now())  # the code that turned it on is used
    later = app.at(time.time() + 30)  # the next step's code is accepted once (clocks a little apart)
    assert accounts.check_totp("bob", later) and not accounts.check_totp("bob", later)
    assert not accounts.check_totp("ann", later)  # no second factor: nothing matches
    accounts.disable_totp("bob", actor="")
    assert not accounts.has_totp("bob")
    assert "otpauth://totp/dockyard%20hub%3Abob?secret=" in totp.uri(secret, "bob", "dockyard hub")


def test_hub_gc_applies_retention_and_the_audit_log_says_a_rule_deleted(tmp_path):
    import json

    from click.testing import CliRunner

    from dockyard.hub.cli import hub
    from tests.integration.hub.hub_harness import fill_tags

    root = tmp_path / "hub"
    fill_tags(root, "team/x", 3)
    runner = CliRunner()
    assert runner.invoke(hub, ["--root", str(root), "retention", "set", "team/x", "v*", "1"]).exit_code == 0
    out = runner.invoke(hub, ["--root", str(root), "gc"]).output
    assert "deleted team/x:v0" in out and "deleted team/x:v1" in out and "team/x:v2" not in out
    entries = Accounts(HubState(root).db).audit_log("team/x")
    assert sorted(json.loads(e.detail)["tag"] for e in entries if e.actor == "retention rule") == ["v0", "v1"]
