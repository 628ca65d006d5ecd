"""The registry server: OCI distribution spec 1.1 over a content-addressed store.

`serve(addr, root, ...)` runs it (aiohttp is imported only then); `gc(root, dry_run)` collects
unreferenced blobs and is safe to run while the server is up.
"""

from __future__ import annotations

from dockyard.registry.gc import GCReport, gc


def serve(addr: str, root: str, *, tls_cert: str | None = None, tls_key: str | None = None,
          auth: str | None = None, notify: list[str] | tuple[str, ...] = (), proxy: dict | None = None) -> None:
    """Serve until SIGINT/SIGTERM; see dockyard.registry.server.serve (`proxy`: proxy.py)."""
    from dockyard.registry.server import serve as run

    run(addr, root, tls_cert=tls_cert, tls_key=tls_key, auth=auth, notify=notify, proxy=proxy)


__all__ = ["GCReport", "gc", "serve"]
