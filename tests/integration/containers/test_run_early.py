"""A plain `run` starts before click loads (cli/runfast.py) and prints what the full command
prints: the same output, errors and exit codes. A global option (`--log-level info`, the
default) sends a command down the full path, which is the reference here."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import DOCKYARD

pytestmark = pytest.mark.root

SAME = [  # (args, exit code): each printed alike by both paths, the early one without click
    (("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3"), 3),
    (("container", "run", "--rm", "-e", "A=1", "-eB=2", "busybox", "sh", "-c", "echo $A$B"), 0),
    (("run", "--rm", "--network", "none", "-w", "/tmp", "busybox", "pwd"), 0),
    (("run", "--rm", "busybox", "nosuchcmd"), 127),  # the start fails: the container goes all the same
    (("run", "--rm", "Bad:Image", "true"), 125),  # a malformed image reference
    (("run", "--rm", "--memory", "abc", "busybox", "true"), 125),  # a bad value, refused making the request
    (("run", "--rm", "--restart", "always", "busybox", "true"), 125),
    (("run", "--name", "taken", "busybox", "true"), 125),  # the name belongs to another container
    (("run", "-d", "--name", "taken", "busybox", "true"), 125),
]
LEFT = [  # (args, exit code): the full command answers these, as it always has
    (("run", "--bogus", "busybox"), 125), (("run", "--cpu-shares", "x", "busybox"), 125),
    (("run", "--pull", "never", "nosuch", "true"), 125), (("run",), 125),
]


def _run(dy, args: tuple[str, ...], early: bool) -> tuple[int, str, str, bool]:
    """(exit code, stdout, stderr, whether click was loaded)"""
    argv = [DOCKYARD, *args] if early else [DOCKYARD, "--log-level", "info", *args]
    p = subprocess.run(argv, env={**dy.env, "PYTHONPROFILEIMPORTTIME": "1"}, capture_output=True, text=True,
                       timeout=120)
    err = "".join(line for line in p.stderr.splitlines(keepends=True) if not line.startswith("import time:"))
    return p.returncode, p.stdout, err, " click\n" in p.stderr


def _leftovers(dy) -> list[str]:
    """What a removed container could leave: records, directories, mounts, namespaces."""
    found = dy("ps", "-aq", "--filter", "name=^/?[a-z]+_[a-z]+$").out.split()  # generated names only
    for d in (dy.root / "containers", dy.run_dir / "containers", dy.run_dir / "netns", dy.run_dir / "s"):
        found += [str(p) for p in d.glob("*")] if d.exists() else []
    found += [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
              if line.split()[4].startswith((str(dy.run_dir) + "/containers", str(dy.run_dir) + "/netns"))]
    return found


def test_early_and_full_runs_print_the_same(dy, busybox):
    taken = dy("create", "--name", "taken", "busybox", "true").out.strip()
    keep = {str(dy.root / "containers" / taken), str(dy.run_dir / "containers" / taken)}
    for args, code in SAME:
        early = _run(dy, args, early=True)
        assert early[3] is False, args
        assert early[:3] == _run(dy, args, early=False)[:3], args
        assert early[0] == code, (args, early)
        assert [x for x in _leftovers(dy) if x not in keep] == [], args  # --rm and failed creates leave nothing
    assert "No such image" not in early[2] and taken in early[2]  # the conflict names the container that has it
    for args, code in LEFT:
        early = _run(dy, args, early=True)
        assert early[3] is True, args
        assert early[:3] == _run(dy, args, early=False)[:3] and early[0] == code, args


def test_a_detached_early_run_prints_the_id_and_runs(dy, busybox):
    code, out, err, clicked = _run(dy, ("run", "-d", "--name", "bg", "-p", "127.0.0.1::80", "busybox", "sleep", "60"),
                                   early=True)
    assert (code, err, clicked) == (0, "", False) and re.fullmatch(r"[0-9a-f]{64}\n", out)
    assert dy("inspect", "-f", "{{.Id}} {{.State.Status}}", "bg").out.split() == [out.strip(), "running"]
    assert dy("port", "bg", "80").out.startswith("127.0.0.1:")
    # --cidfile: written by the early path, and a second run refuses an existing file as the full one does
    cidfile = dy.root / "cid"
    code, out, err, _ = _run(dy, ("run", "--rm", "--cidfile", str(cidfile), "busybox", "true"), early=True)
    assert code == 0 and len(cidfile.read_text()) == 64
    args = ("run", "--rm", "--cidfile", str(cidfile), "busybox", "true")
    assert _run(dy, args, early=True)[:3] == _run(dy, args, early=False)[:3]


def test_leftovers_of_a_killed_build_send_run_down_the_full_path(dy, busybox):
    import json

    from dockyard.locations import BUILD_MARKERS

    gone = subprocess.Popen(["true"])
    gone.wait()  # a build's process that is no more
    marker = dy.root / BUILD_MARKERS / "build-0123456789abcdef.json"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"pid": gone.pid, "start": "1", "tmp": str(dy.root)}))
    code, _, _, clicked = _run(dy, ("run", "--rm", "busybox", "true"), early=True)
    assert (code, clicked) == (0, True) and not marker.exists()  # released first, by the full command
    assert _run(dy, ("run", "--rm", "busybox", "true"), early=True)[::3] == (0, False)  # then early again
