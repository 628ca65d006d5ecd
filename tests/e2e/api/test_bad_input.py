"""Bad input never makes the server fail: every route it registers, walked with garbage bodies,
bodies of the wrong JSON types and query values of the wrong type, answers 4xx with dockerd's
`{"message"}` and logs no traceback. The routes come from the application's own router, so a
route added later is walked without anyone listing it here."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import time
from urllib.parse import quote, urlencode

import pytest

from dockyard.api.app import make_app
from dockyard.api.bodies import BODIES, CREATE_REQUEST
from dockyard.api.gojson import Bool, GoType, Int, Map, Slice, StrSlice, String, Struct

pytestmark = pytest.mark.root

SWARM = "dockyard.api.swarm"
# the same kinds of garbage for every route
BAD_BODIES = [b"\x00\xff\xfegarbage", b"{bad", b"[]", b'"text"', b"5", b"null", b"{}{}", b'{"a": NaN}',
              b'{"a": ' * 5000]
# the boolean query parameters dockerd's routes read: any value is one (true unless empty, 0, no, false
# or none), and they share one parser, so one probe turns them all on with a value no client sends
FLAGS = ("all", "force", "v", "link", "size", "stream", "stdin", "logs", "follow", "timestamps", "noprune",
         "one-shot", "pause", "nocache", "q", "quiet", "noOverwriteDirNonDir", "digests", "shared-size")
# every other query parameter dockerd's routes read, each with a value of the wrong type or form
BAD_QUERY = [
    {flag: "maybe" for flag in FLAGS}, {"stdout": "maybe"}, {"stderr": "maybe"},
    {"t": "abc"}, {"signal": "NOPE"}, {"signal": "99999"}, {"tail": "xyz"}, {"since": "bogus"}, {"until": "bogus"},
    {"limit": "abc"}, {"h": "abc"}, {"w": "-5"}, {"h": "99999999"}, {"condition": "bogus"}, {"filters": "{bad"},
    {"filters": "[1]"}, {"filters": '{"label": 5}'}, {"filters": '{"dangling": {"x": 7}}'},
    {"filters": '{"until": ["soon"]}'}, {"filters": '{"bogus-key": ["x"]}'}, {"ps_args": "--no-such-option"},
    {"ps_args": "x" * 5000}, {"path": "\x00"}, {"path": "../../../../nonexistent"}, {"name": "bad name!"},
    {"fromImage": "NOT//valid"}, {"fromSrc": "http://[bad"}, {"tag": ":bad:"}, {"repo": "BAD REPO"},
    {"changes": "BOGUS x"}, {"buildargs": "{bad"}, {"labels": "[1]"}, {"platform": "bogus/os/x/y"},
    {"container": "nosuch"}, {"names": "NOT//valid"}, {"term": ""}, {"buildargs": '{"a": 5}'},
    {"filters": "[" * 2000},  # deeper than Python's decoder goes, and the request line still fits
]
# headers that carry JSON in base64: not base64, not JSON, nested past any decoder's depth
BAD_HEADERS = [{name: value for name in ("X-Registry-Auth", "X-Registry-Config")}
               for value in ("!!!", base64.urlsafe_b64encode(b"{bad").decode(),
                             base64.urlsafe_b64encode(b"[" * 4000).decode())]
STREAM_WAIT = 15  # seconds to wait for an answer's headers: generous, a prune on a loaded host takes seconds
# what each probe adds to its one bad value, so it gets past the parameters a route requires first
GOOD_QUERY = {"stdout": "1", "stderr": "1", "path": "/etc", "repo": "walked-tag", "t": "0"}
# a body each typed route accepts, sent with the bad query values (not /auth: it would log in somewhere)
GOOD_BODIES = {("POST", "/containers/create"): {"Image": "busybox", "Cmd": ["true"]},
               ("POST", "/containers/{id}/exec"): {"Cmd": ["true"]}, ("POST", "/exec/{id}/start"): {"Detach": True},
               ("POST", "/networks/create"): {"Name": "walkprobe"}, ("POST", "/containers/{id}/update"): {}}


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=STREAM_WAIT)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(STREAM_WAIT)
        self.sock.connect(self.path)


def ask(api, method: str, url: str, body: bytes | None = None, headers: dict | None = None,
        read: bool = False) -> tuple[int, dict | bytes | None]:
    """Status and, for an error, the JSON body; a success's body (perhaps an endless stream) is left
    unread unless `read` asks for its bytes."""
    conn = UnixHTTP(str(api.sock))
    try:
        conn.request(method, url, body=body, headers={"Content-Type": "application/json", **(headers or {})})
        resp = conn.getresponse()
        doc = None
        if read:
            return resp.status, resp.read()
        if resp.status >= 400 and method != "HEAD":
            data = resp.read()
            try:
                doc = json.loads(data)
            except ValueError:
                doc = {"unparsable body": data[:200].decode(errors="replace")}
        return resp.status, doc
    finally:
        conn.close()


def routes() -> list[tuple[str, str, str]]:
    """(method, path pattern without the version prefix, handler module) of every route; HEAD only
    where it has its own handler (aiohttp answers the others with their GET's)."""
    out = []
    app = make_app(None)
    for route in app.router.routes():
        if route.resource is None:
            continue
        twin = [r for r in route.resource if r.method == "GET" and r.handler is route.handler]
        if route.method != "HEAD" or not twin:
            out.append((route.method, route.resource.canonical.replace("/{version}", "/", 1), route.handler.__module__))
    return out


def concrete(path: str, names: dict[str, str]) -> str:
    for key, value in names.items():
        path = path.replace("{" + key + "}", quote(value, safe=""))
    assert "{" not in path, f"a route parameter the walk does not know: {path}"
    return path


def wrong_type(typ: GoType):
    """A JSON value Go would refuse to decode into `typ`."""
    if isinstance(typ, (String, StrSlice)):
        return {"not": "a string"}
    if isinstance(typ, (Bool, Int)):
        return "lots"
    return 7  # slices, maps, structs


def odd_value(typ: GoType):
    """A value of the right JSON type that means nothing sensible."""
    if isinstance(typ, (String, StrSlice)):
        return "abc:-1/../x"
    if isinstance(typ, Bool):
        return True
    if isinstance(typ, Int):
        return -1
    if isinstance(typ, Slice):
        return [odd_value(typ.elem)] * (typ.length or 1)
    if isinstance(typ, Map):
        return {"abc:-1/../x": odd_value(typ.elem)}
    assert isinstance(typ, Struct)
    return {name: odd_value(t) for name, t in typ.fields.items()}


def field_docs(typ: Struct, make) -> list[dict]:
    """One document per field of `typ`, nested structs' fields included: that field set by `make`."""
    docs = []
    for name, t in typ.fields.items():
        docs.append({name: make(t)})
        if isinstance(t, Struct):
            docs += [{name: d} for d in field_docs(t, make)]
        elif isinstance(t, (Slice, Map)) and isinstance(t.elem, Struct):
            wrap = (lambda d: [d]) if isinstance(t, Slice) else (lambda d: {"x": d})
            docs += [{name: wrap(d)} for d in field_docs(t.elem, make)]
    return docs


def check(api, seen: dict, route: tuple[str, str, str], url: str, body: bytes | None = None,
          headers: dict | None = None) -> None:
    """Record in `seen` a 5xx (but a swarm route's 503), an error without dockerd's shape, or no answer,
    once per route and kind of failure."""
    method, path, module = route
    try:
        status, doc = ask(api, method, url, body, headers)
    except TimeoutError:
        status, doc = None, None
    upstream = status == 502 and doc["message"].startswith(f"cannot reach registry {REGISTRY}")
    allowed = status is not None and (status < 500 or (module == SWARM and status == 503) or upstream)
    shaped = doc is None or (isinstance(doc, dict) and set(doc) == {"message"} and isinstance(doc["message"], str)
                             and doc["message"] and "Traceback" not in doc["message"])
    if not allowed or not shaped:
        what = f"no answer in {STREAM_WAIT} s" if status is None else f"{status} {doc}"
        seen.setdefault((method, path, what), f"{method} {url} {body[:60] if body else ''!r} -> {what}")


# Every name the walk gives is of this registry, which refuses connections at once: no request leaves the
# machine, and a route that must ask the registry answers 502, which is the registry's failure, not the input's.
REGISTRY = "127.0.0.1:9"
IMAGE = f"{REGISTRY}/walk:1"


CONTAINER = "walked"


def restore(api) -> None:
    """Put back what a probe that got through may have changed: the container there and running, the
    image tagged, the network and the volume there."""
    status, doc = ask(api, "GET", f"/containers/{CONTAINER}/json", read=True)
    state = json.loads(doc)["State"] if status == 200 else None
    if state is None:
        api.docker("run", "-d", "--name", CONTAINER, "busybox", "sleep", "600")
    elif state["Paused"]:
        api.docker("unpause", CONTAINER)
    elif not state["Running"]:
        api.docker("start", CONTAINER)
    if ask(api, "GET", f"/images/{quote(IMAGE, safe='')}/json")[0] == 404:
        api.docker("tag", "busybox", IMAGE)
    if ask(api, "GET", "/networks/walknet")[0] == 404:
        api.docker("network", "create", "walknet")
    if ask(api, "GET", "/volumes/walkvol")[0] == 404:
        api.docker("volume", "create", "walkvol")


@pytest.mark.timeout(900)  # some thousand requests: a minute on an idle host, several on a saturated one
def test_every_route_refuses_bad_input_with_4xx(api, busybox):
    started = time.monotonic()
    failures: dict = {}
    walked = routes()
    assert len(walked) > 60 and any(m == SWARM for *_, m in walked)
    for names in ({"id": "nosuch", "name": f"{REGISTRY}/nosuch:1"}, {"id": CONTAINER, "name": IMAGE}):
        for route in walked:
            method, path, _ = route
            restore(api)
            url = concrete(path, names)
            good_query = {**GOOD_QUERY, "container": CONTAINER}
            for body in BAD_BODIES:
                check(api, failures, route, f"{url}?{urlencode(good_query)}", body)
            good_body = GOOD_BODIES.get((method, path))
            for bad in BAD_QUERY:
                check(api, failures, route, f"{url}?{urlencode({**good_query, **bad})}",
                      json.dumps(good_body).encode() if good_body else None)
            for headers in BAD_HEADERS:
                check(api, failures, route, f"{url}?{urlencode(good_query)}", None, headers)
    assert not failures, "\n".join(failures.values())
    assert "Traceback" not in api.log, api.log
    print(f"walked {len(walked)} routes in {time.monotonic() - started:.1f} s")


@pytest.mark.parametrize("route", sorted(BODIES), ids=lambda r: f"{r[0]} {r[1]}")
def test_json_bodies_are_typed_as_dockerd_types_them(api, busybox, route):
    """Every field of every typed body, given a value of the wrong JSON type, is refused with Go's
    sentence; given a value of the right type that means nothing sensible, it is refused or done,
    never a failure of the server."""
    method, path = route
    cid = api.docker("run", "-d", "busybox", "sleep", "600").out.strip()
    url = concrete(path, {"id": cid})
    typ = BODIES[route]
    failures: dict = {}
    for doc in field_docs(typ, wrong_type):
        status, answer = ask(api, method, url, json.dumps(doc).encode())
        if status != 400 or not answer["message"].startswith("invalid JSON: json: cannot unmarshal "):
            failures[json.dumps(doc)] = f"{json.dumps(doc)} -> {status} {answer}"
    base = {"Image": "busybox"} if typ is CREATE_REQUEST else {"serveraddress": REGISTRY} if path == "/auth" else {}
    for doc in [odd_value(typ), *field_docs(typ, odd_value)]:
        check(api, failures, (method, json.dumps(doc), ""), url, json.dumps({**base, **doc}).encode())
    assert not failures, "\n".join(failures.values())
    assert "Traceback" not in api.log, api.log
