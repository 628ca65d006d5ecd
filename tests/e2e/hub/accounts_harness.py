"""Helpers for the hub's accounts tests: the people's passwords, a web client with a cookie jar."""

from __future__ import annotations

import http.cookiejar
import json
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

PEOPLE = {name: f"{name}-pw-7Hq2x" for name in ("root", "owner", "admin", "writer", "reader", "outsider")}


@dataclass
class People:
    root: Path
    accounts: object  # dockyard.hub.accounts.store.Accounts over the hub's hub.db

    @staticmethod
    def creds(name: str) -> str:
        return f"{name}:{PEOPLE[name]}"

    def token(self, name: str, scope: str = "repo:write") -> str:
        return self.accounts.create_token(name, f"{name} {scope}", scope)[1]


class WebClient:
    """A browser without JavaScript: cookies kept, redirects followed, forms posted with the CSRF token."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def cookie(self, name: str) -> str:
        return next((c.value for c in self.jar if c.name == name), "")

    def request(self, path: str, data: bytes | None = None, headers: dict | None = None) -> tuple[int, str, str]:
        """(status, body, final URL path)."""
        req = urllib.request.Request(self.base + path, data=data, headers=headers or {})
        try:
            with self.opener.open(req, timeout=30) as resp:
                return resp.status, resp.read().decode(), urllib.parse.urlsplit(resp.url).path
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode(), path

    def get(self, path: str) -> tuple[int, str]:
        return self.request(path)[:2]

    def post(self, path: str, fields: dict[str, str], csrf: str | None = None,
             headers: dict | None = None) -> tuple[int, str, str]:
        if not self.cookie("dyhub_csrf"):
            self.get("/login")
        body = urllib.parse.urlencode({"csrf": self.cookie("dyhub_csrf") if csrf is None else csrf, **fields}).encode()
        return self.request(path, body, {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})})

    def login(self, user: str, password: str) -> "WebClient":
        status, _, where = self.post("/login", {"user": user, "password": password, "next": "/"})
        assert status == 200 and where == "/", (status, where)
        return self


def registry_token(base: str, creds: str | None, scope: str) -> str:
    """A bearer token from the hub's /token, as a registry client gets one."""
    import base64

    headers = {"Authorization": "Basic " + base64.b64encode(creds.encode()).decode()} if creds else {}
    req = urllib.request.Request(f"{base}/token?service=dockyard-hub&scope={scope}", headers=headers)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())["token"]


def status_with(base: str, path: str, token: str, method: str = "GET") -> int:
    req = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def skopeo_ok(*args: str) -> tuple[bool, str]:
    proc = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=120)
    return proc.returncode == 0, proc.stderr
