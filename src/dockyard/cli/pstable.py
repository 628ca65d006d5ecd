"""What `ps` prints for a list of containers: one function for the click command and for the
early path that answers before click loads (readonly.py), so both print the same bytes."""

from __future__ import annotations

import time

from dockyard.cli.formatting import Row, go_time, human_duration, render
from dockyard.containers.record import Container
from dockyard.containers.views import ports_text, quoted_command, status_text

TYPE_CHECKING = False  # collections.abc loads collections: 1 ms `ps` skips
if TYPE_CHECKING:
    from collections.abc import Callable

PS_HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "RunningFor": "CREATED",
              "CreatedAt": "CREATED AT", "Status": "STATUS", "Ports": "PORTS", "Names": "NAMES", "Size": "SIZE",
              "State": "STATE", "Labels": "LABELS", "Mounts": "MOUNTS", "Networks": "NETWORKS"}
DEFAULT = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"


def ps_text(cs: list[Container], *, quiet: bool, no_trunc: bool, fmt: str | None,
            size_of: Callable[[Container], str] | None = None) -> str:
    """`ps` output for `cs`; `size_of` gives the SIZE column (`--size`)."""
    if quiet:
        return "".join((c.id if no_trunc else c.short_id) + "\n" for c in cs)
    rows = []
    everything = bool(fmt) and fmt != "table"  # the default table shows 7 fields: the rest is not worked out
    for c in cs:
        labels = c.config.get("Labels") or {}
        row = Row({
            "ID": c.id if no_trunc else c.short_id, "Image": c.image_ref,
            "Command": quoted_command(c, trunc=not no_trunc),
            "RunningFor": human_duration(max(0, time.time() - c.created)) + " ago", "Ports": ports_text(c),
            "Status": status_text(c), "Names": c.name,
        }, Label=lambda key, labels=labels: labels.get(key, ""))
        if everything:
            row.update({
                "CreatedAt": go_time(c.created), "State": c.status,
                "Networks": ",".join(sorted((c.network_settings.get("Networks") or {}).keys())),
                "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
                "Mounts": ",".join(m.get("Name") or m.get("Source", "") for m in c.mounts),
            })
        if size_of is not None:
            row["Size"] = size_of(c)
        rows.append(row)
    return render(fmt, rows, DEFAULT + ("\t{{.Size}}" if size_of is not None else ""), headers=PS_HEADERS)
