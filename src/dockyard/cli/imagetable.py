"""What `images` prints for the rows of images/rows.py: one function for the click command and
for the early path that answers before click loads (readonly.py), so both print the same bytes."""

from __future__ import annotations

import time

from dockyard.cli.formatting import go_time, human_duration, human_size, render

IMAGE_HEADERS = {"Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "CreatedSince": "CREATED",
                 "CreatedAt": "CREATED AT", "Size": "SIZE", "Digest": "DIGEST", "Containers": "CONTAINERS"}
DEFAULT = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
WITH_DIGESTS = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"


def since(epoch: float) -> str:
    if not epoch:
        return "N/A"
    return human_duration(max(0.0, time.time() - epoch)) + " ago"


def images_text(rows: list[dict], *, quiet: bool, no_trunc: bool, digests: bool, fmt: str | None) -> str:
    """`images` output for summary rows, newest image first (`-q`: each image's ID once)."""
    if quiet:
        ids = dict.fromkeys(r["ID"] for r in rows)
        return "".join((i if no_trunc else i.split(":", 1)[1][:12]) + "\n" for i in ids)
    table = [{
        "ID": r["ID"] if no_trunc else r["ID"][7:19], "Repository": r["Repository"], "Tag": r["Tag"],
        "Digest": r["Digest"], "CreatedSince": since(r["CreatedAt"]), "CreatedAt": go_time(r["CreatedAt"]),
        "Size": human_size(r["Size"]), "Containers": "N/A", "SharedSize": "N/A", "UniqueSize": "N/A",
        "VirtualSize": human_size(r["Size"]),
    } for r in rows]
    return render(fmt, table, WITH_DIGESTS if digests else DEFAULT, headers=IMAGE_HEADERS)
