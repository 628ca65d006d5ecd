"""Failures as Docker users know them: status codes, `{"message"}` bodies, the CLI's lines."""

from __future__ import annotations

import http.client
import json
import socket

import pytest

pytestmark = pytest.mark.root


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost")
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(self.path)


def call(api, method: str, url: str, body: bytes | None = None) -> tuple[int, dict, dict]:
    conn = UnixHTTP(str(api.sock))
    conn.request(method, url, body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, dict(resp.getheaders()), json.loads(data) if data else {}


def test_status_codes_and_messages(api, busybox):
    assert call(api, "DELETE", "/containers/nosuch")[::2] == (404, {"message": "No such container: nosuch"})
    assert call(api, "GET", "/v1.47/images/nosuch:1/json")[::2] == (404, {"message": "No such image: nosuch:1"})
    status, headers, doc = call(api, "POST", "/containers/create", b"{not json")
    assert status == 400 and doc["message"].startswith("invalid JSON")
    assert headers["Content-Type"] == "application/json"  # exactly: the CLI compares it verbatim
    status, _, doc = call(api, "POST", "/containers/create", json.dumps({"Image": "absent:9"}).encode())
    assert (status, doc) == (404, {"message": "No such image: absent:9"})
    status, _, doc = call(api, "GET", "/v1.12/version")
    assert status == 400 and "too old" in doc["message"]
    status, _, doc = call(api, "GET", "/v9.0/version")
    assert status == 400 and "Maximum supported API version is 1.47" in doc["message"]
    assert call(api, "GET", "/no/such/endpoint")[::2] == (404, {"message": "page not found"})
    status, headers, _ = call(api, "HEAD", "/_ping")
    assert status == 200 and headers["Api-Version"] == "1.47"


def test_cli_prints_what_docker_users_recognise(api, busybox):
    res = api.docker("rm", "nosuch", check=False)
    assert res.code == 1 and res.err.strip() == "Error response from daemon: No such container: nosuch"
    res = api.docker("rmi", "nosuch:1", check=False)
    assert res.code == 1 and "No such image: nosuch:1" in res.err
    api.docker("create", "--name", "taken", "busybox", "true")
    res = api.docker("create", "--name", "taken", "busybox", "true", check=False)
    assert res.code == 1 and 'The container name "/taken" is already in use' in res.err
    api.docker("rm", "taken")
