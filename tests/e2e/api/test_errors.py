"""Failures as Docker users know them: status codes, `{"message"}` bodies, the CLI's lines."""

from __future__ import annotations

import http.client
import json
import socket
from urllib.parse import quote

import pytest

pytestmark = pytest.mark.root


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost")
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(self.path)


def call(api, method: str, url: str, body: bytes | None = None, raw: bool = False,
         content_type: str | None = "application/json") -> tuple[int, dict, dict | bytes]:
    conn = UnixHTTP(str(api.sock))
    conn.request(method, url, body=body, headers={"Content-Type": content_type} if content_type else {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, dict(resp.getheaders()), data if raw else json.loads(data) if data else {}


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


def test_wrong_json_types_are_refused_with_gos_sentence(api, busybox):
    """dockerd decodes a create body into Go structs: a value of the wrong JSON type is 400 with the
    decoder's own words, whichever field it is in."""
    cases = {
        '{"Image": 5}': "json: cannot unmarshal number into Go struct field CreateRequest.Image of type string",
        '{"Image": "busybox", "Env": 7}':
            "json: cannot unmarshal number into Go struct field CreateRequest.Env of type []string",
        '{"Image": "busybox", "HostConfig": {"Memory": "lots"}}':
            "json: cannot unmarshal string into Go struct field HostConfig.HostConfig.Memory of type int64",
        '{"Image": "busybox", "Cmd": {"a": 1}}':
            "json: cannot unmarshal object into Go struct field CreateRequest.Cmd of type string",
        '{"Image": "busybox", "HostConfig": []}':
            "json: cannot unmarshal array into Go struct field CreateRequest.HostConfig of type container.HostConfig",
        '{"Image": "busybox", "Labels": ["a=b"]}':
            "json: cannot unmarshal array into Go struct field CreateRequest.Labels of type map[string]string",
        '{"Image": "busybox", "HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": 80}]}}}':
            "json: cannot unmarshal number into Go struct field PortBinding.HostConfig.PortBindings.HostPort "
            "of type string",
        '{"Image": "busybox", "HostConfig": {"Memory": 1.5}}':
            "json: cannot unmarshal number 1.5 into Go struct field HostConfig.HostConfig.Memory of type int64",
        '[1]': "json: cannot unmarshal array into Go value of type container.CreateRequest",
    }
    for body, message in cases.items():
        answer = call(api, "POST", "/containers/create", body.encode())[::2]
        assert answer == (400, {"message": "invalid JSON: " + message})
    # and a body that is not JSON at all, with the reasons Go's scanner gives
    for body, reason in ((b'{"Memory": NaN}', "invalid character 'N' looking for beginning of value"),
                         (b"{bad", "invalid character 'b' looking for beginning of object key string"),
                         (b'{"Image": "busybox"', "unexpected EOF"),
                         (b'["a" "b"]', "invalid character '\"' after array element")):
        assert call(api, "POST", "/containers/create", body)[::2] == (400, {"message": "invalid JSON: " + reason})
    status, _, doc = call(api, "GET", "/containers/json?filters={bad")
    assert (status, doc) == (400, {"message": "invalid filter: invalid character 'b' looking for beginning of "
                                              "object key string"})
    assert not api.docker("ps", "-aq").out.strip(), "a refused create left a container"


def test_a_json_body_must_say_it_is_json(api, busybox):
    """dockerd's CheckForJSON: a body of another type, or of none, is refused; no body needs no type."""
    body = b'{"Image": "busybox"}'
    assert call(api, "POST", "/containers/create", body, content_type="text/plain")[::2] == (
        400, {"message": "unsupported Content-Type header (text/plain): must be 'application/json'"})
    assert call(api, "POST", "/containers/create", body, content_type=None)[::2] == (
        400, {"message": "malformed Content-Type header (): mime: no media type"})
    assert call(api, "POST", "/containers/create", body, content_type="application/json; charset=utf-8")[0] == 201
    assert call(api, "POST", "/volumes/create", content_type=None)[0] == 201


def test_bad_values_of_the_right_type_are_4xx(api, busybox):
    status, _, doc = call(api, "POST", "/containers/create", json.dumps(
        {"Image": "busybox", "HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": "abc"}]}}}).encode())
    assert status == 400 and "abc" in doc["message"]
    cid = api.docker("run", "-d", "busybox", "sleep", "60").out.strip()
    assert call(api, "POST", f"/containers/{cid}/stop?t=abc")[0] == 400
    for ref in (cid, "nosuch"):  # the signal is checked first, as dockerd does
        answer = call(api, "POST", f"/containers/{ref}/kill?signal=NOPE")[::2]
        assert answer == (400, {"message": "Invalid signal: NOPE"})
    assert call(api, "GET", "/containers/json?filters={bad")[0] == 400
    status, _, doc = call(api, "GET", "/containers/json?filters=" + quote('{"label": 5}'))
    assert (status, doc) == (400, {"message": "invalid filter: json: cannot unmarshal number into Go value of type "
                                              "map[string]bool"})
    # dockerd reads a tail that is not a count as "all"
    status, _, _ = call(api, "GET", f"/containers/{cid}/logs?stdout=1&tail=xyz", raw=True)
    assert status == 200
    api.docker("rm", "-f", cid)
    assert "Traceback" not in api.log


def test_booleans_are_read_as_dockerd_reads_them(api, busybox):
    """dockerd's BoolValue: any value but empty, 0, no, false and none (any case) is true."""
    cid = api.docker("create", "busybox", "true").out.strip()
    for value, listed in (("1", True), ("True", True), ("on", True), ("maybe", True), ("", False), ("0", False),
                          ("NO", False), ("false", False), ("none", False)):
        status, _, rows = call(api, "GET", f"/containers/json?all={value}")
        assert status == 200 and (cid in [r["Id"] for r in rows]) == listed, value


def test_a_body_announced_too_large_is_refused_unread(api):
    """413 from the Content-Length alone: the server answers before a byte of the body is sent."""
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(str(api.sock))
    sock.sendall(b"POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 1000000000000\r\n\r\n")
    sock.settimeout(30)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed without answering: {head!r}"
        head += chunk
    sock.close()
    status_line, _, rest = head.partition(b"\r\n")
    assert status_line.split()[1] == b"413"
    assert b'"message": "request body too large' in head + rest


def test_malformed_http_is_400_without_a_traceback(api):
    """Requests the HTTP parser itself refuses (as Go's server does, with a plain-text 400)."""
    for raw in (b"POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: abc\r\n\r\n",
                b"POST /containers/create HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                b"GET /containers/json HTTP/1.1\r\nHost: d\r\nX-Long: " + b"a" * 20000 + b"\r\n\r\n"):
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(str(api.sock))
        sock.settimeout(30)
        sock.sendall(raw)
        assert sock.recv(100).split(b"\r\n")[0].split()[1] == b"400", raw[:60]
        sock.close()
    assert "Traceback" not in api.log and "ERROR" not in api.log


def test_an_invalid_archive_is_refused(api, busybox):
    cid = api.docker("create", "busybox", "true").out.strip()
    status, _, doc = call(api, "PUT", f"/containers/{cid}/archive?path=/tmp", b"this is not a tar archive" * 40)
    assert (status, doc) == (400, {"message": "cannot extract into /tmp: the body is not a valid tar archive, "
                                              "or it ends early"})
    assert "Traceback" not in api.log


def test_load_of_garbage_fails_in_the_stream_as_dockerd_does(api, busybox):
    """dockerd answers a load with 200 and tells a failure in the JSON stream; the CLI prints it and
    exits 1, docker-py raises ImageLoadError."""
    import docker

    status, headers, lines = call(api, "POST", "/images/load", b"\x00garbage" * 100, raw=True)
    assert status == 200 and headers["Content-Type"] == "application/json"
    last = json.loads(lines.splitlines()[-1])
    assert last["error"] and last["errorDetail"]["message"] == last["error"]
    res = api.docker("load", input=b"\x00garbage" * 100, check=False)
    assert res.code == 1 and last["error"] in res.err
    with pytest.raises(docker.errors.ImageLoadError):
        api.client().images.load(b"\x00garbage" * 100)
    assert "Traceback" not in api.log
