"""Shared fixtures: every test gets its own root and run dir, and a way to run the real CLI."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
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

    made: list[Dockyard] = []  # every root made, so a test's own extra roots are cleaned up too

    def __init__(self, root: Path, run_dir: Path) -> None:
        self.root, self.run_dir = root, run_dir
        self.cleaned = False
        Dockyard.made.append(self)
        self.env = {**os.environ, "DOCKYARD_ROOT": str(root), "DOCKYARD_RUN_DIR": str(run_dir)}
        # a bridge, firewall table and cgroup parent of this test's own, so tests never share kernel state
        tag = "dyt" + secrets.token_hex(3)
        self.tag = tag
        root.mkdir(parents=True, exist_ok=True)
        daemon = root / "daemon.json"
        if not daemon.exists():
            daemon.write_text(json.dumps({"bridge": tag, "nft-table": tag, "cgroup-parent": "/" + tag}))

    def __call__(self, *args: str, input: bytes | str | None = None, check: bool = True, timeout: int = 120) -> Result:
        text = not isinstance(input, bytes)
        p = subprocess.run([DOCKYARD, *args], input=input, capture_output=True, text=text, env=self.env, timeout=timeout)
        out, err = (p.stdout, p.stderr) if text else (p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"))
        res = Result(p.returncode, out, err)
        if check and p.returncode != 0:
            raise AssertionError(f"dockyard {' '.join(args)} exited {p.returncode}\nstdout: {out}\nstderr: {err}")
        return res

    def cleanup(self) -> None:
        """Remove every container the test left, so no process, mount, veth or rule outlives it."""
        self.cleaned = True
        if not (self.root / "dockyard.db").exists():
            return
        ids = subprocess.run([DOCKYARD, "ps", "-aq", "--no-trunc"], capture_output=True, text=True, env=self.env).stdout.split()
        if ids:
            subprocess.run([DOCKYARD, "rm", "-f", "-v", *ids], capture_output=True, env=self.env)
        # the default bridge outlives its containers (as docker0 does); prune takes it down
        subprocess.run([DOCKYARD, "network", "prune", "-f"], capture_output=True, env=self.env)
        # the host's registry of roots names this one while its root exists: it is going
        from dockyard.network.owners import Registry
        from dockyard.store.identity import read_root_id
        if owner := read_root_id(self.root):
            Registry().forget(owner)
        # a test that failed half-way may have left mounts the engine no longer knows of:
        # never let them outlive the test (they would break the next run on this machine)
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            target = line.split()[4]
            if target.startswith(str(self.run_dir) + "/") or target.startswith(str(self.root) + "/"):
                subprocess.run(["umount", "-l", target], capture_output=True)

    @property
    def root_id(self) -> str:
        """The root's identity, which tags its links ("dockyard:<id>:...")."""
        from dockyard.store.identity import root_id
        return root_id(self.root)

    def popen(self, *args: str, **kw) -> subprocess.Popen:
        return subprocess.Popen([DOCKYARD, *args], env=self.env, **kw)

    def engine(self):
        from dockyard.engine import Engine
        return Engine(self.root, self.run_dir)


@pytest.fixture(autouse=True)
def _extra_roots_cleaned():
    """Roots a test makes beside `dy` (a second root, a user's other root) are cleaned after it
    like `dy`'s: their containers, bridge and entry in the host's registry of roots."""
    first = len(Dockyard.made)
    yield
    for d in Dockyard.made[first:]:
        if not d.cleaned:
            d.cleanup()
    del Dockyard.made[first:]


@pytest.fixture
def dy(tmp_path: Path):
    # the run dir holds the shims' unix sockets, whose paths must stay under 108 bytes
    run_dir = Path(tempfile.mkdtemp(prefix="dyr-", dir="/tmp"))
    d = Dockyard(tmp_path / "root", run_dir)
    yield d
    d.cleanup()
    shutil.rmtree(run_dir, ignore_errors=True)


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
