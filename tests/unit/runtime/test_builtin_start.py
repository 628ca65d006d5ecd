"""`start` of the built-in runtime against a fifo: a quick process's "go" is never lost."""

import json
import os

from dockyard.runtime.builtin import BuiltinRuntime


def test_an_init_that_wrote_and_was_reaped_between_two_looks_counts_as_started(tmp_path, monkeypatch):
    """Under load a container like `true` can be told to go, run, exit and be reaped between
    start's read of the fifo and its look at the init: its word is in the fifo all the same
    (an API client under load saw "init did not start" for a container that had run)."""
    rt = BuiltinRuntime(str(tmp_path))
    cid = "quick"
    d = tmp_path / cid
    d.mkdir()
    (d / "state.json").write_text(json.dumps({"id": cid, "pid": 1, "start_time": 0}))
    os.mkfifo(d / "exec.fifo")
    looks = []

    def alive(record: dict) -> bool:
        looks.append(record["id"])
        if len(looks) == 1:
            return True  # start's own status check: created
        fd = os.open(d / "exec.fifo", os.O_WRONLY | os.O_NONBLOCK)  # the init: "0", exec, exit, reaped
        os.write(fd, b"0")
        os.close(fd)
        return False

    monkeypatch.setattr(BuiltinRuntime, "_alive", staticmethod(alive))
    rt.start(cid)
    assert len(looks) == 2 and not (d / "exec.fifo").exists()
