"""Counters the registry exposes at `GET /metrics` (Prometheus text format).

`blob_bytes_received` is what lets a test, or an operator, see that a repeated push
uploaded nothing: it counts every byte of blob data the server accepted into an upload.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass
class Metrics:
    requests: int = 0
    blob_bytes_received: int = 0
    blob_uploads_completed: int = 0
    blob_mounts: int = 0
    manifests_pushed: int = 0

    def render(self) -> str:
        lines = []
        for f in fields(self):
            name = f"dockyard_registry_{f.name}_total"
            lines += [f"# TYPE {name} counter", f"{name} {getattr(self, f.name)}"]
        return "\n".join(lines) + "\n"
