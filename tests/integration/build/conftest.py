"""Fixtures of the build tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    path = tmp_path / "ctx"
    path.mkdir()
    return path
