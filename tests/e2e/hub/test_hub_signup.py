"""Accounts a team makes for itself, in headless Chromium: sign-up (and an administrator closing
it), changing a password, a reset link an administrator hands out (no mail server), and
two-factor sign-in with an authenticator app's codes, which leaves `docker login` to tokens.

One hub serves the module; each test has people of its own."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request

import pytest
from selenium.webdriver.common.by import By

from tests.e2e.hub.accounts_harness import WebClient
from tests.integration.hub.hub_harness import HubServer, fill_and_submit, hub_cli, navigate_by

ADMIN_PW = "root-pw-Hq2x7k"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from dockyard.hub.accounts.store import Accounts
    from dockyard.hub.state import HubState

    root = tmp_path_factory.mktemp("signup") / "hub"
    accounts = Accounts(HubState(root).db)
    accounts.add_user("root", ADMIN_PW, site_admin=True, rounds=4)
    server = HubServer(root, root.parent / "hub.log", "--auth", "accounts")
    yield server, accounts
    server.stop()


@pytest.fixture
def page(browser, site):
    """The browser, signed out, on the hub's front page."""
    hub, _ = site
    browser.get(hub.url + "/")
    browser.delete_all_cookies()  # cookies ignore ports: another module's hub may have left some
    browser.get(hub.url + "/")
    return browser


def _signed_in_as(browser) -> str:
    text = browser.find_element(By.CSS_SELECTOR, "header .who").text
    return text.removeprefix("signed in as ") if text.startswith("signed in as") else ""


def _token(hub, creds: str) -> tuple[int, str]:
    """`GET /token` as `docker login` asks it: (status, token or error message)."""
    req = urllib.request.Request(f"{hub.url}/token?service=dockyard-hub",
                                 headers={"Authorization": "Basic " + base64.b64encode(creds.encode()).decode()})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())["token"]
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())["errors"][0]["message"]


def _sign_in(browser, hub, user: str, password: str) -> None:
    browser.get(hub.url + "/login")
    fill_and_submit(browser, "login", {"user": user, "password": password})


def _sign_out(browser) -> None:
    navigate_by(browser, browser.find_element(By.CSS_SELECTOR, "form.logout button").click)


def test_sign_up_change_the_password_and_an_administrator_closes_sign_up(site, page, screenshot):
    hub, accounts = site
    hub_cli(hub.root, "signup", "open")
    page.get(hub.url + "/login")
    navigate_by(page, page.find_element(By.ID, "signup-link").click)
    fill_and_submit(page, "signup", {"user": "ada", "password": "ada-first-pw", "again": "ada-other-pw"})
    assert "the two passwords differ" in page.find_element(By.ID, "error").text
    fill_and_submit(page, "signup", {"user": "root", "password": "ada-first-pw", "again": "ada-first-pw"})
    assert "taken" in page.find_element(By.ID, "error").text  # an existing name
    fill_and_submit(page, "signup", {"user": "ada", "password": "ada-first-pw", "again": "ada-first-pw"})
    assert _signed_in_as(page) == "ada" and page.current_url == hub.url + "/"
    assert _token(hub, "ada:ada-first-pw")[0] == 200  # the new account works for docker login at once

    page.get(hub.url + "/settings/security")
    fill_and_submit(page, "password-form", {"current": "wrong-one", "new-password": "ada-second-pw",
                                            "new-again": "ada-second-pw"})
    assert "current password is not right" in page.find_element(By.ID, "error").text
    fill_and_submit(page, "password-form", {"current": "ada-first-pw", "new-password": "ada-second-pw",
                                            "new-again": "ada-second-pw"})
    assert _signed_in_as(page) == "ada"  # this session carries on, every other one ended
    assert _token(hub, "ada:ada-first-pw")[0] == 401 and _token(hub, "ada:ada-second-pw")[0] == 200
    screenshot("password-changed")

    hub_cli(hub.root, "signup", "closed")
    _sign_out(page)
    assert not page.find_elements(By.LINK_TEXT, "Sign up")
    page.get(hub.url + "/signup")
    assert "Sign-up is closed" in page.find_element(By.ID, "closed").text
    status, _, _ = WebClient(hub.url).post("/signup", {"user": "eve", "password": "eve-password", "again": "eve-password"})
    assert status == 403 and not accounts.is_user("eve")
    actions = [(e.actor, e.action) for e in accounts.audit_log()]
    assert ("ada", "user-add") in actions and ("ada", "password") in actions and ("", "signup") in actions


def test_an_administrators_reset_link_sets_a_password_once(site, page, screenshot):
    hub, accounts = site
    accounts.add_user("bea", "bea-forgotten-pw", rounds=4)
    _sign_in(page, hub, "root", ADMIN_PW)
    page.get(hub.url + "/admin/users")
    navigate_by(page, page.find_element(By.CSS_SELECTOR, "tr[data-user='bea'] button.reset").click)
    link = page.find_element(By.ID, "reset-link").text
    assert link.startswith(hub.url + "/reset/")
    screenshot("reset-link")
    assert WebClient(hub.url).login("bea", "bea-forgotten-pw")  # nothing changes until the link is used

    _sign_out(page)
    page.get(link)
    assert "New password for bea" in page.find_element(By.TAG_NAME, "h1").text
    fill_and_submit(page, "reset", {"password": "bea-new-password", "again": "bea-new-password"})
    assert "is set" in page.find_element(By.ID, "done").text
    fill_and_submit(page, "login", {"user": "bea", "password": "bea-new-password"})
    assert _signed_in_as(page) == "bea"
    assert _token(hub, "bea:bea-forgotten-pw")[0] == 401
    page.get(link)
    assert "unknown, used or expired" in page.find_element(By.ID, "error").text  # once only
    by_cli = hub_cli(hub.root, "user", "reset-link", "bea", "--url", hub.url).stdout.strip()
    assert by_cli.startswith(hub.url + "/reset/") and WebClient(hub.url).get(by_cli[len(hub.url):])[0] == 200
    status, page, _ = WebClient(hub.url).post(by_cli[len(hub.url):], {})  # a form without its fields
    assert status == 400 and "at least 8 characters" in page
    assert WebClient(hub.url).get("/admin/users")[0] == 200  # signed out: the sign-in page
    assert WebClient(hub.url).login("bea", "bea-new-password").get("/admin/users")[0] == 403


def test_two_factor_sign_in_with_an_authenticator_app_leaves_docker_login_to_tokens(site, page, screenshot):
    pyotp = pytest.importorskip("pyotp")
    hub, accounts = site
    accounts.add_user("cy", "cy-password-1", rounds=4)
    _sign_in(page, hub, "cy", "cy-password-1")
    page.get(hub.url + "/settings/security")
    app = pyotp.TOTP(page.find_element(By.ID, "totp-secret").text)  # the key, as the user types it into the app
    assert page.find_element(By.ID, "totp-uri").text.startswith("otpauth://totp/")
    fill_and_submit(page, "totp-on", {"totp-code": "12345x"})
    assert "does not match" in page.find_element(By.ID, "error").text
    fill_and_submit(page, "totp-on", {"totp-code": app.now()})
    assert page.find_element(By.ID, "totp-status").text.startswith("On")
    screenshot("2fa-on")

    status, message = _token(hub, "cy:cy-password-1")
    assert status == 401 and "personal access token" in message
    secret = accounts.create_token("cy", "laptop", "repo:write")[1]
    assert _token(hub, f"cy:{secret}")[0] == 200

    _sign_out(page)
    _sign_in(page, hub, "cy", "cy-password-1")
    assert _signed_in_as(page) == "" and page.find_element(By.ID, "code")  # the password alone is not enough
    fill_and_submit(page, "login-2fa", {"code": "000000" if app.now() != "000000" else "111111"})
    assert "wrong" in page.find_element(By.ID, "error").text
    code = app.at(__import__("time").time() + 30)  # the next code: the one that turned it on is used up
    fill_and_submit(page, "login-2fa", {"code": code})
    assert _signed_in_as(page) == "cy"
    page.get(hub.url + "/settings/security")
    fill_and_submit(page, "totp-off", {"off-current": "cy-password-1", "off-code": code})
    assert "wrong or was used" in page.find_element(By.ID, "error").text  # a code works once
    assert accounts.has_totp("cy")
    hub_cli(hub.root, "user", "2fa-off", "cy")  # an administrator, for a lost phone
    assert _token(hub, "cy:cy-password-1")[0] == 200
