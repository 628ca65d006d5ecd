"""The rows `docker images` lists for one image, and an image's CREATED time: shared by the
listing through the image service (cli/images.py) and the early path that answers `images`
before click loads (cli/readonly.py), so it reads the store's names with reference.stored()
(no `re`) and imports `datetime` only for a config that has a creation time."""

from __future__ import annotations

from dockyard.oci.reference import stored


def created_epoch(created: str | None) -> int:
    if not created:
        return 0
    from datetime import datetime

    try:
        return int(datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


def summary_rows(image, config: dict) -> list[dict]:
    """One row per tag (or one `<none>` row) of `image` (id, size, tags, repo_digests), whose
    config is `config`, the way `docker images` lists an image."""
    created = created_epoch(config.get("created"))
    digests = {stored(r.split("@")[0]).familiar_repository: r.split("@")[1] for r in image.repo_digests}
    base = {"ID": image.id, "CreatedAt": created, "Size": image.size, "Containers": -1}
    if not image.tags:
        repo = next(iter(digests), "<none>")
        return [{**base, "Repository": repo, "Tag": "<none>", "Digest": digests.get(repo, "<none>")}]
    out = []
    for t in image.tags:
        ref = stored(t)
        out.append({**base, "Repository": ref.familiar_repository, "Tag": ref.tag or "<none>",
                    "Digest": digests.get(ref.familiar_repository, "<none>")})
    return out
