"""Tag management: deleting a tag on its page, retention rules, and the online garbage
collection reclaiming the layers they free while the shared ones stay."""

from __future__ import annotations

import json

from hub_harness import busybox_layer, file_layer, hub_cli, navigate_by, push, wait_for
from selenium.webdriver.common.by import By

ACCEPT = {"Accept": "application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json"}


def _layers(hub, repo: str, tag: str) -> list[str]:
    status, body = hub.get(f"/v2/{repo}/manifests/{tag}", headers=ACCEPT)
    assert status == 200, body
    return [layer["digest"] for layer in json.loads(body)["layers"]]


def _blob_gone(hub, repo: str, digest: str) -> bool:
    return hub.get(f"/v2/{repo}/blobs/{digest}", method="HEAD")[0] == 404


def _tags(hub, repo: str) -> list[str]:
    return sorted(json.loads(hub.get(f"/v2/{repo}/tags/list")[1])["tags"] or [])


def test_delete_on_the_page_and_retention_free_layers_online(hub, layout, browser, screenshot):
    base = busybox_layer()
    for tag in ("v1", "v2", "v3", "keep"):
        layout.add(tag, [base, file_layer(f"{tag}.txt", tag.encode() * 100)])
        push(layout, tag, hub, f"team/app:{tag}")
    shared, keep_top = _layers(hub, "team/app", "keep")
    v1_top = _layers(hub, "team/app", "v1")[1]

    browser.get(f"{hub.url}/r/team/app/-/tags")
    rows = [e.get_attribute("data-tag") for e in browser.find_elements(By.CSS_SELECTOR, "#tag-admin tr[data-tag]")]
    assert rows == ["keep", "v3", "v2", "v1"]  # newest push first
    navigate_by(browser, browser.find_element(By.CSS_SELECTOR, "#tag-admin tr[data-tag='keep'] button.delete-tag").click)
    assert not browser.find_elements(By.CSS_SELECTOR, "#tag-admin tr[data-tag='keep']")
    screenshot("deleted")
    assert hub.get("/v2/team/app/manifests/keep", headers=ACCEPT)[0] == 404
    wait_for(lambda: _blob_gone(hub, "team/app", keep_top), 30, "the collector to reclaim the deleted tag's layer")

    status, body = hub.get("/r/team/app/-/retention", data=b"pattern=v%2A&keep=1", method="POST",
                           headers={"Accept": "application/json"})
    assert status == 200 and sorted(json.loads(body)["deleted"]) == ["v1", "v2"]
    assert _tags(hub, "team/app") == ["v3"]
    wait_for(lambda: _blob_gone(hub, "team/app", v1_top), 30, "the collector to reclaim expired layers")
    assert not _blob_gone(hub, "team/app", shared)  # v3 still uses the base layer
    assert "v*" in hub_cli(hub.root, "retention", "ls").stdout
    audit = hub_cli(hub.root, "audit", "--repo", "team/app").stdout.splitlines()[1:]
    by_rule = sorted(json.loads(line.split(None, 6)[6])["tag"] for line in audit
                     if line.split()[2:5] == ["retention", "rule", "delete"])
    assert by_rule == ["v1", "v2"]
    assert any(line.split()[2:4] == ["-", "delete"] and '"tag page"' in line for line in audit)  # the page's delete

    status, body = hub.get("/r/team/app/-/retention", data=b"pattern=v%2A&keep=0", method="POST",
                           headers={"Accept": "application/json"})
    assert status == 400 and "\n" not in json.loads(body)["message"]
    status, _ = hub.get("/r/team/app/-/tags/nosuch", method="DELETE")
    assert status == 404
