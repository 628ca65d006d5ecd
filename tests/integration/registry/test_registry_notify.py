"""Webhook notifications on push and delete, delivered in the background with bounded retries."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from registry_harness import push_image, wait_for


class _Receiver:
    """A webhook endpoint on a free loopback port that records envelopes (or always fails)."""

    def __init__(self, status: int) -> None:
        self.envelopes: list[dict] = []
        self.attempts = 0
        self.content_types: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.attempts += 1
                outer.content_types.append(self.headers["Content-Type"])
                if status < 300:
                    outer.envelopes.append(json.loads(body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[dict]:
        return [ev for env in self.envelopes for ev in env["events"]]


@pytest.fixture
def receivers():
    made: list[_Receiver] = []

    def make(status: int = 200) -> _Receiver:
        made.append(_Receiver(status))
        return made[-1]

    yield make
    for r in made:
        r.server.shutdown()
        r.server.server_close()


def test_push_and_delete_events_are_posted(start_registry, receivers):
    good, broken = receivers(200), receivers(500)
    registry = start_registry("--notify", good.url, "--notify", broken.url)
    digest, body = push_image(registry, "acme/app", "v1")
    registry.request("DELETE", "/v2/acme/app/manifests/v1")

    events = wait_for(lambda: len(good.events()) >= 2 and good.events())
    push, delete = events[0], events[1]
    assert push["action"] == "push"
    assert push["target"]["repository"] == "acme/app"
    assert push["target"]["digest"] == digest and push["target"]["tag"] == "v1"
    assert push["target"]["size"] == len(body)
    assert push["target"]["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert delete["action"] == "delete" and delete["target"]["tag"] == "v1"
    assert good.content_types[0] == "application/vnd.docker.distribution.events.v1+json"

    # The failing endpoint is tried a bounded number of times per event, then given up.
    wait_for(lambda: registry.log().count(f"gave up notifying {broken.url}") == 2)
    assert broken.attempts == 6
