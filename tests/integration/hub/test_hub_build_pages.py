"""The build pages in a real browser: "Build now", the log streamed while the build runs, cancel;
and who may press the buttons on a hub with accounts."""

from __future__ import annotations

import base64
import json
import subprocess

import pytest
from hub_harness import builds_of, commit_and_push, hub_cli, navigate_by, wait_for
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from dockyard.hub.state import HubState

# the build's page reloads itself when its event stream says the build ended: while it does, the
# driver may answer with any of its errors (the element went stale, the document was unloaded...)
RELOADING = (WebDriverException,)
BLOCKING = 'FROM busybox\nRUN echo "waiting for" cancel; sleep 600\n'


def _status(root, build_id: int) -> str:
    return HubState(root).build(build_id).status


def test_build_now_streams_the_log_live_and_cancel_stops_it(git_source, tmp_path, start_hub, browser, screenshot):
    root = tmp_path / "hub"
    hub_cli(root, "library", "bootstrap", "busybox")
    work = git_source("team/app")
    hub_cli(root, "source", "rm", "team/app")  # re-added without its hook: only "Build now" starts builds
    sha = commit_and_push(work, BLOCKING, "a build that waits")
    bare = tmp_path / "team-app.git"
    hub_cli(root, "source", "add", "team/app", "--git", f"file://{bare}")
    assert builds_of(root, sha) == []
    hub = start_hub()

    browser.get(f"{hub.url}/r/team/app/-/builds")
    assert browser.find_element(By.CSS_SELECTOR, "#rules tr[data-rule='0'] code").text == "main"
    navigate_by(browser, browser.find_element(By.CSS_SELECTOR, "#rules button.build-now").click)
    build_id = int(browser.current_url.rsplit("/", 1)[1])
    # the line appears through the event stream while the build is still running
    WebDriverWait(browser, 120, ignored_exceptions=RELOADING).until(
        lambda d: "waiting for cancel" in d.find_element(By.ID, "log").text)
    assert _status(root, build_id) == "running"
    assert "manual" in browser.page_source
    screenshot("live")

    navigate_by(browser, browser.find_element(By.ID, "cancel").click)
    wait_for(lambda: _status(root, build_id) == "cancelled", 30, "the build to stop")
    WebDriverWait(browser, 30, ignored_exceptions=RELOADING).until(  # a page made after the build stopped
        lambda d: "cancelled" in d.find_element(By.ID, "status").text
        and d.execute_script("return document.readyState") == "complete")
    assert HubState(root).build(build_id).reason.startswith("cancelled by")
    assert "Build cancelled" in HubState(root).log_path(build_id).read_text()  # the builder stopped its RUN itself
    assert not browser.find_elements(By.ID, "cancel")
    screenshot("cancelled")
    browser.get(f"{hub.url}/r/team/app/-/builds")
    assert browser.find_element(By.CSS_SELECTOR, f".rule-builds tr[data-build='{build_id}']").text.count("cancelled")


@pytest.fixture
def htpasswd(tmp_path):
    path = tmp_path / "htpasswd"
    subprocess.run(["htpasswd", "-Bbc", str(path), "maria", "pw-maria"], check=True, capture_output=True)
    return path


def test_only_signed_in_maintainers_may_build_now_or_cancel(git_source, tmp_path, start_hub, htpasswd):
    root = tmp_path / "hub"
    work = git_source("team/app")
    hub_cli(root, "rules", "add", "team/app", "--type", "tag", "--source", "/^v(.*)$/", "--tags", "{\\1}")
    hub_cli(root, "library", "bootstrap", "busybox")
    hub = start_hub("--auth", f"htpasswd:{htpasswd}")
    sha = commit_and_push(work, BLOCKING, "runs until cancelled")
    [pushed] = wait_for(lambda: builds_of(root, sha), 30, "the hook's push to be queued")
    signed_in = {"Authorization": "Basic " + base64.b64encode(b"maria:pw-maria").decode(), "Accept": "application/json"}

    status, page = hub.get("/r/team/app/-/builds", headers={"Authorization": signed_in["Authorization"]})
    assert status == 200 and page.count("build-now") == 2 and "/^v(.*)$/" in page
    status, page = hub.get("/r/team/app/-/builds")
    assert status == 200 and "build-now" not in page

    status, body = hub.get("/r/team/app/-/builds/trigger", data=b"rule=0", method="POST")
    assert status == 401 and "sign in" in json.loads(body)["message"]
    status, body = hub.get("/r/team/app/-/builds/trigger", data=b"rule=0", method="POST",
                           headers={**signed_in, "Origin": "http://evil.example"})
    assert status == 403
    status, body = hub.get("/r/team/app/-/builds/trigger", data=b"rule=7", method="POST", headers=signed_in)
    assert status == 404 and "\n" not in json.loads(body)["message"]
    status, body = hub.get("/r/team/app/-/builds/trigger", data=b"rule=1", method="POST", headers=signed_in)
    assert status == 202, body  # rule 1: the source's own branch rule, made explicit when rule 2 was added
    [queued] = json.loads(body)["builds"]
    assert queued["ref"] == "main" and queued["build"] in [b.id for b in builds_of(root, sha)]

    status, _ = hub.get(f"/builds/{queued['build']}/cancel", data=b"", method="POST")
    assert status == 401
    status, body = hub.get(f"/builds/{queued['build']}/cancel", data=b"", method="POST", headers=signed_in)
    assert status == 202 and _status(root, queued["build"]) == "cancelled"  # it waited behind the pushed one
    assert HubState(root).build(queued["build"]).reason == "cancelled by maria"
    wait_for(lambda: _status(root, pushed.id) == "running", 60, "the pushed build to run")
    assert "is being stopped" in hub_cli(root, "cancel", str(pushed.id)).stdout  # from another process
    wait_for(lambda: _status(root, pushed.id) == "cancelled", 60, "the running build to stop")
    status, body = hub.get(f"/builds/{pushed.id}/cancel", data=b"", method="POST", headers=signed_in)
    assert status == 409 and "already cancelled" in json.loads(body)["message"]

    # the same maintainer check guards webhooks and tag deletion
    assert hub.get("/r/team/app/-/webhooks")[0] == 404
    assert hub.get("/r/team/app/-/webhooks", headers={"Authorization": signed_in["Authorization"]})[0] == 200
    assert hub.get("/r/team/app/-/webhooks", data=b"url=http://127.0.0.1:9/&events=push", method="POST")[0] == 401
    assert hub.get("/r/team/app/-/tags/delete", data=b"tag=latest", method="POST")[0] == 401
