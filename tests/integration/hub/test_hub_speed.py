"""Pages stay fast with 1,000 tags: the repository page, its layer graph and the list (timings printed)."""

from __future__ import annotations

import time
import urllib.request

from hub_harness import HubServer, fill_tags

TAGS = 1000


def _timed(hub: HubServer, path: str) -> tuple[float, str]:
    start = time.perf_counter()
    status, body = hub.get(path)
    assert status == 200, body[:300]
    return time.perf_counter() - start, body


def test_repository_page_with_1000_tags(start_hub, tmp_path):
    root = tmp_path / "hub"
    fill_tags(root, "big/app", TAGS)
    hub = start_hub(root=root)
    cold, body = _timed(hub, "/r/big/app")
    warm = min(_timed(hub, "/r/big/app")[0] for _ in range(5))
    listing = min(_timed(hub, "/")[0] for _ in range(5))
    image = min(_timed(hub, "/r/big/app/-/image/v999")[0] for _ in range(5))
    print(f"\n1,000 tags: repository page cold {cold * 1000:.0f} ms, warm {warm * 1000:.0f} ms, "
          f"{len(body) // 1024} KiB; list {listing * 1000:.0f} ms; image page {image * 1000:.0f} ms")
    assert body.count("<tr data-tag=") == TAGS
    assert body.count('class="layer"') == 21  # the shared base once, 20 tops (graph of the newest 200 tags)
    assert "most recently pushed of 1000 tags" in body
    assert warm < 2.0 and cold < 5.0
    with urllib.request.urlopen(hub.url + "/r/big/app", timeout=30) as resp:  # the server's own time, for tools
        assert resp.headers["Server-Timing"].startswith("app;dur=")
