"""Outgoing webhooks: push and build events, HMAC-signed, retried, in the delivery history,
redelivered from the page."""

from __future__ import annotations

import hashlib
import hmac
import json

from hub_harness import busybox_layer, commit_and_push, hub_cli, navigate_by, push, wait_for
from selenium.webdriver.common.by import By

JSON = {"Accept": "application/json"}


def _signed(headers: dict, body: bytes, secret: bytes) -> bool:
    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers.get("X-Hub-Signature-256", ""), expected)


def test_push_and_build_events_are_signed_retried_and_redeliverable(
        hub, layout, receiver, git_source, browser, screenshot):
    status, body = hub.get("/r/team/app/-/webhooks", data=f"url={receiver.url}&secret=hook-s3cret&events=push&events=build"
                           .encode(), method="POST", headers=JSON)
    assert status == 201 and json.loads(body)["events"] == ["push", "build"]
    status, body = hub.get("/r/team/app/-/webhooks", data=b"url=ftp://x&events=push", method="POST", headers=JSON)
    assert status == 400 and "\n" not in json.loads(body)["message"]

    layout.add("v1", [busybox_layer()])
    push(layout, "v1", hub, "team/app:v1")
    wait_for(lambda: len(receiver.received) == 2, 30, "the push event and its retry")
    headers, sent = receiver.received[1]
    assert receiver.received[0][1] == sent  # the retry sends the same body
    assert headers["X-Dockyard-Event"] == "push" and _signed(headers, sent, b"hook-s3cret")
    event = json.loads(sent)
    assert event["push_data"]["tag"] == "v1" and event["repository"]["repo_name"] == "team/app"
    assert event["repository"]["namespace"] == "team" and event["repository"]["name"] == "app"

    browser.get(f"{hub.url}/r/team/app/-/webhooks")
    row = browser.find_element(By.CSS_SELECTOR, "#deliveries tr[data-delivery]")
    cells = [td.text for td in row.find_elements(By.TAG_NAME, "td")]
    assert cells[2:6] == ["push", "delivered", "2", "HTTP 200"]  # event, status, attempts, last answer
    assert "hook-s3cret" not in browser.page_source
    navigate_by(browser, row.find_element(By.CSS_SELECTOR, "button.redeliver").click)
    wait_for(lambda: len(receiver.received) == 3, 30, "the redelivery")
    assert receiver.received[2][1] == sent and _signed(receiver.received[2][0], sent, b"hook-s3cret")
    screenshot("deliveries")
    listed = hub_cli(hub.root, "webhooks", "ls", "team/app").stdout
    assert receiver.url in listed and "yes" in listed and "hook-s3cret" not in listed
    assert "delivered" in hub_cli(hub.root, "webhooks", "deliveries", "team/app").stdout
    added = hub_cli(hub.root, "webhooks", "add", "team/app", "http://127.0.0.1:9/x", "--events", "build",
                    "--secret-stdin", stdin="other\n").stdout
    assert added.startswith("webhook 2 of team/app: build to") and "(signed)" in added
    hub_cli(hub.root, "webhooks", "rm", "team/app", "2")
    assert "127.0.0.1:9" not in hub_cli(hub.root, "webhooks", "ls", "team/app").stdout

    # a build that fails at once (no Dockerfile where the rule looks) still says so
    work = git_source("team/app", "--dockerfile", "nowhere/Dockerfile")
    sha = commit_and_push(work, "FROM busybox\n", "no Dockerfile at the rule's path")
    wait_for(lambda: any(h.get("X-Dockyard-Event") == "build" for h, _ in receiver.received), 60, "the build event")
    headers, sent = next((h, b) for h, b in receiver.received if h.get("X-Dockyard-Event") == "build")
    build = json.loads(sent)["build"]
    assert _signed(headers, sent, b"hook-s3cret")
    assert build["status"] == "failed" and build["commit"] == sha and "no Dockerfile" in build["reason"]
    assert build["url"].endswith(f"/builds/{build['id']}")
