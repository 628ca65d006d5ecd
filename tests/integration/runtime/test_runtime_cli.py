"""The `dockyard-runtime` command, driven the way a runc user drives runc."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.root


def cli(root, *args, **kw) -> subprocess.CompletedProcess:
    """Run the command; its output is read from files, since a created container keeps
    the create command's stdio open (pipes would never reach EOF)."""
    out, err = root.parent / "cli.out", root.parent / "cli.err"
    with open(out, "w") as o, open(err, "w") as e:
        code = subprocess.run([sys.executable, "-c", "from dockyard.runtime.cli import main; main()",
                               "--root", str(root), *args], stdout=o, stderr=e, timeout=60,
                              **kw).returncode
    return subprocess.CompletedProcess(args, code, out.read_text(), err.read_text())


def test_create_start_state_kill_delete(bundles, tmp_path):
    root = tmp_path / "state"
    cid, bundle = bundles.make(["sleep", "30"])
    created = cli(root, "create", "--bundle", bundle, "--pid-file", str(tmp_path / "pid"), cid,
                  stdin=subprocess.DEVNULL)
    assert created.returncode == 0, created.stderr
    try:
        state = json.loads(cli(root, "state", cid).stdout)
        assert state["status"] == "created"
        assert state["pid"] == int((tmp_path / "pid").read_text())
        assert cli(root, "start", cid).returncode == 0
        assert json.loads(cli(root, "state", cid).stdout)["status"] == "running"
        refused = cli(root, "delete", cid)
        assert refused.returncode == 1
        assert refused.stderr.startswith("dockyard-runtime: cannot delete container")
        assert cli(root, "kill", cid, "KILL").returncode == 0
    finally:
        assert cli(root, "delete", "--force", cid).returncode == 0
    missing = cli(root, "state", cid)
    assert missing.returncode == 1 and "does not exist" in missing.stderr


def test_run_exits_with_the_container_code(bundles, tmp_path):
    cid, bundle = bundles.make(["sh", "-c", "echo out; exit 7"])
    result = cli(tmp_path / "state", "run", "--bundle", bundle, cid, stdin=subprocess.DEVNULL)
    assert (result.returncode, result.stdout) == (7, "out\n")


def test_missing_executable_fails_at_create(bundles, tmp_path):
    cid, bundle = bundles.make(["no-such-program"])
    result = cli(tmp_path / "state", "create", "--bundle", bundle, cid, stdin=subprocess.DEVNULL)
    assert result.returncode == 1
    assert result.stderr.strip() == \
        'dockyard-runtime: exec: "no-such-program": executable file not found in $PATH'
    assert cli(tmp_path / "state", "list", "-q").stdout.strip() == ""
