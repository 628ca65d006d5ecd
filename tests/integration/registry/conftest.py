"""Fixtures for the registry tests: servers on free loopback ports, a busybox OCI layout."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from registry_harness import Server  # noqa: E402


@pytest.fixture
def start_registry(tmp_path):
    """Start servers with extra CLI arguments; all are stopped at teardown."""
    servers: list[Server] = []

    def start(*args: str, root: Path | None = None) -> Server:
        n = len(servers)
        server = Server(root or tmp_path / f"registry{n}", tmp_path / f"registry{n}.log", *args)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def registry(start_registry) -> Server:
    return start_registry()


@pytest.fixture
def busybox_layout(tmp_path):
    from registry_ocilayout import make_layout

    layout = tmp_path / "layout"
    info = make_layout(layout)
    info["path"] = layout
    return info
