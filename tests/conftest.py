"""Shared fixtures: every test gets its own root and run dir, and a way to run the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

VENV_BIN = Path(sys.executable).parent
DOCKYARD = str(VENV_BIN / "dockyard")


@dataclass
class Result:
    code: int
    out: str
    err: str


class Dockyard:
    """Runs the installed `dockyard` command against one test's root, as a user would."""

    def __init__(self, root: Path, run_dir: Path) -> None:
        self.root, self.run_dir = root, run_dir
        self.env = {**os.environ, "DOCKYARD_ROOT": str(root), "DOCKYARD_RUN_DIR": str(run_dir)}

    def __call__(self, *args: str, input: bytes | str | None = None, check: bool = True, timeout: int = 120) -> Result:
        text = not isinstance(input, bytes)
        p = subprocess.run([DOCKYARD, *args], input=input, capture_output=True, text=text, env=self.env, timeout=timeout)
        out, err = (p.stdout, p.stderr) if text else (p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"))
        res = Result(p.returncode, out, err)
        if check and p.returncode != 0:
            raise AssertionError(f"dockyard {' '.join(args)} exited {p.returncode}\nstdout: {out}\nstderr: {err}")
        return res

    def popen(self, *args: str, **kw) -> subprocess.Popen:
        return subprocess.Popen([DOCKYARD, *args], env=self.env, **kw)

    def engine(self):
        from dockyard.engine import Engine
        return Engine(self.root, self.run_dir)


@pytest.fixture
def dy(tmp_path: Path) -> Dockyard:
    return Dockyard(tmp_path / "root", tmp_path / "run")


@pytest.fixture
def busybox(dy: Dockyard) -> str:
    """A root holding the bootstrapped busybox image; returns its image ID."""
    out = dy("image", "bootstrap", "busybox").out.split()
    return out[-1]


def pytest_collection_modifyitems(config, items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="needs root and real kernel features")
        for item in items:
            if "root" in item.keywords:
                item.add_marker(skip)
