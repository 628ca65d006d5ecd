"""The web pages in a real browser: repository list and search, repository, image, layer graph, escaping."""

from __future__ import annotations

import json

from hub_harness import busybox_layer, file_layer, navigate_by, push, skopeo
from selenium.webdriver.common.by import By

EVIL = '<img src=x onerror="document.title=\'pwned\'">'


def _push_family(hub, layout):
    """team/app:base (busybox) and team/app:1.0 on top of it, plus two more repositories."""
    base = busybox_layer()
    layout.add("base", [base])
    app = layout.add("app", [base, file_layer("app/run", b"#!/bin/sh\necho hi\n")], {
        "Cmd": ["/app/run", "--port", "8080"], "Entrypoint": ["/bin/sh", "-c"], "Env": ["PATH=/bin", "MODE=prod"],
        "ExposedPorts": {"8080/tcp": {}}, "Volumes": {"/data": {}},
        "Labels": {"org.opencontainers.image.title": "demo app", "evil": EVIL},
    }, history=[{"created_by": "ADD busybox /"}, {"created_by": "COPY run /app/run", "comment": "app layer"}])
    push(layout, "base", hub, "team/app:base")
    app["digest"] = push(layout, "app", hub, "team/app:1.0")
    push(layout, "base", hub, "library/busybox:latest")
    push(layout, "base", hub, "tools/debug:1")
    return app


def test_list_search_repository_image_and_graph(hub, layout, browser, screenshot):
    app = _push_family(hub, layout)

    browser.get(hub.url + "/")
    names = [e.get_attribute("data-name") for e in browser.find_elements(By.CSS_SELECTOR, "#repos li[data-name]")]
    assert names == ["library/busybox", "team/app", "tools/debug"]
    screenshot("list")
    browser.find_element(By.ID, "q").send_keys("TEAM")
    visible = [e.get_attribute("data-name") for e in browser.find_elements(By.CSS_SELECTOR, "#repos li[data-name]")
               if e.is_displayed()]
    assert visible == ["team/app"] and browser.find_element(By.ID, "shown").text == "1"
    screenshot("search-typed")
    browser.get(hub.url + "/?q=bus")
    assert [e.text.split()[0] for e in browser.find_elements(By.CSS_SELECTOR, "#repos li[data-name]")] == ["library/busybox"]

    browser.get(hub.url + "/r/team/app")
    rows = {r.get_attribute("data-tag"): r.text for r in browser.find_elements(By.CSS_SELECTOR, "#tags tbody tr")}
    assert set(rows) == {"base", "1.0"}
    assert app["digest"][7:19] in rows["1.0"] and "amd64" in rows["1.0"] and "2024-05-01 12:00 UTC" in rows["1.0"]
    assert f"docker pull {hub.host}/team/app:1.0" in rows["1.0"]  # the same tool as at the top, everywhere
    assert "MB" in rows["1.0"]
    layers = browser.find_elements(By.CSS_SELECTOR, "svg.layer-graph g.layer")
    tags = {t.get_attribute("data-tag"): t.get_attribute("data-layer")
            for t in browser.find_elements(By.CSS_SELECTOR, "svg.layer-graph g.tag")}
    assert len(layers) == 2  # the busybox base once, the app layer once
    base_chain = app["config"]["rootfs"]["diff_ids"][0]
    app_layer = next(e for e in layers if e.get_attribute("data-chain") != base_chain)
    assert tags == {"base": base_chain, "1.0": app_layer.get_attribute("data-chain")}
    assert app_layer.get_attribute("data-parent") == base_chain
    screenshot("repository")

    navigate_by(browser, browser.find_element(By.LINK_TEXT, "1.0").click)
    assert browser.find_element(By.ID, "digest").text == app["digest"]
    config = browser.find_element(By.ID, "config").text
    for expected in ('["/app/run", "--port", "8080"]', '["/bin/sh", "-c"]', "MODE=prod", "8080/tcp", "/data", "demo app"):
        assert expected in config
    assert "app layer" in browser.find_element(By.ID, "history").text
    layer_rows = browser.find_elements(By.CSS_SELECTOR, "#layers tr")[1:]
    pushed = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{hub.host}/team/app:1.0"))
    assert [r.find_element(By.TAG_NAME, "code").text for r in layer_rows] == pushed["Layers"]
    screenshot("image")

    # The label's HTML is text on the page: escaped in the source, no element injected, no script run.
    evil_cell = next(e for e in browser.find_elements(By.CSS_SELECTOR, "#labels td.label-value") if "onerror" in e.text)
    assert evil_cell.text == EVIL and not evil_cell.find_elements(By.TAG_NAME, "img")
    assert browser.title != "pwned"
    status, source = hub.get("/r/team/app/-/image/1.0")
    assert status == 200 and EVIL not in source and "&lt;img src=x onerror=&#34;" in source


def test_pages_for_missing_things_are_404(hub, layout):
    _push_family(hub, layout)
    assert hub.get("/r/team/none")[0] == 404
    assert hub.get("/r/team/app/-/image/9.9")[0] == 404
    assert hub.get("/r/team/app/-/image/sha256:" + "0" * 64)[0] == 404
    assert hub.get("/builds/12345")[0] == 404
    # the registry API is served on the same address, untouched
    tags = json.loads(skopeo("list-tags", "--tls-verify=false", f"docker://{hub.host}/team/app"))
    assert sorted(tags["Tags"]) == ["1.0", "base"]
