"""dockyard-shim with real busybox containers: logs, exit codes, OOM, restarts, attach,
TTY, and the shim's own lifetime."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dockyard.errors import DockyardError
from dockyard.runtime.shim import protocol
from dockyard.runtime.shim.records import running_run
from tests.helpers.waiting import recv_until

from .conftest import alive, wait_for

pytestmark = pytest.mark.root

TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{9})Z$")


def log_entries(path: str) -> list[dict]:
    with open(path, "rb") as f:
        return [json.loads(line) for line in f]


def parse_time(text: str) -> datetime:
    whole, nanos = TIME.match(text).groups()
    return datetime.fromisoformat(f"{whole}.{nanos[:6]}+00:00")


def frames_until(sock: socket.socket, needle: bytes, timeout: float = 10) -> list[tuple[int, bytes]]:
    """stdcopy frames from sock until one carries needle."""
    sock.settimeout(timeout)
    frames = []
    for frame in protocol.demux(sock):
        frames.append(frame)
        if needle in frame[1]:
            return frames
    raise AssertionError(f"stream ended before {needle!r}; got {frames}")


def test_output_is_logged_per_stream_and_exit_code_recorded(shims):
    before = datetime.now(UTC)
    args, pid = shims.run(["sh", "-c", "echo hello; echo err >&2; exit 3"])
    assert pid > 0
    exit_info = shims.wait_exit(args)
    assert exit_info["exit_code"] == 3
    assert exit_info["oom_killed"] is False
    assert exit_info["restart_count"] == 0
    assert protocol.read_started(args.state_dir)["pid"] == pid
    entries = log_entries(args.log_path)
    assert [(e["log"], e["stream"]) for e in entries] == [("hello\n", "stdout"), ("err\n", "stderr")]
    for entry in entries:
        assert before <= parse_time(entry["time"]) <= parse_time(exit_info["finished_at"])
    shims.wait_gone(args)
    state = set(os.listdir(args.state_dir))
    assert not state & {"shim.pid", "attach.sock", "ctl.sock"}


def test_log_escapes_json_and_keeps_partial_lines(dshims):
    # quote, backslash, a control char, UTF-8 "é", an invalid byte; then no final newline
    args, _ = dshims.run(["printf", 'a"b\\\\c\\001\\303\\251\\377\\nno newline'])
    dshims.wait_exit(args)
    raw = Path(args.log_path).read_bytes()
    assert b'"a\\"b\\\\c\\u0001\xc3\xa9\\ufffd\\n"' in raw
    assert [e["log"] for e in log_entries(args.log_path)] == ['a"b\\c\x01\u00e9\ufffd\n', "no newline"]


def test_start_failure_is_reported_by_the_starting_command(shims):
    args = shims.args(["no-such-command"])
    with pytest.raises(DockyardError, match="no-such-command"):
        shims.start(args)
    assert not protocol.shim_alive(args.state_dir)
    assert protocol.read_exit(args.state_dir) is None


def test_killed_container_exits_137(shims):
    args, pid = shims.run(["sleep", "100"])
    assert protocol.status(args.state_dir)["pid"] == pid
    protocol.kill(args.state_dir, "KILL")
    assert shims.wait_exit(args)["exit_code"] == 137
    shims.wait_gone(args)
    assert not alive(pid)


def test_sigterm_to_the_shim_reaches_the_container(dshims):
    # an init without a handler ignores SIGTERM, as under docker: this one has one
    args, _ = dshims.run(["sh", "-c", "trap 'exit 42' TERM; sleep 100 & wait"])
    wait_for(lambda: Path(args.state_dir, "started.json").exists(), what="the start")
    time.sleep(0.2)  # let sh install its trap
    shim_pid = int(Path(args.state_dir, "shim.pid").read_text().split()[0])
    os.kill(shim_pid, signal.SIGTERM)
    assert dshims.wait_exit(args)["exit_code"] == 42


def test_memory_hog_is_oom_killed(shims):
    hog = "a=xxxxxxxxxxxxxxxx; while true; do a=$a$a; done"
    args, _ = shims.run(["sh", "-c", hog], memory=32 * 1024 * 1024)
    exit_info = shims.wait_exit(args, timeout=60)
    assert (exit_info["exit_code"], exit_info["oom_killed"]) == (137, True)


def test_on_failure_restarts_exactly_n_times(dshims):
    args = dshims.args(["sh", "-c", "echo run; exit 1"], restart="on-failure:3", wait_attach=True)
    dshims.started.append(args)
    _, sock = protocol.start_shim_attached(args.argv(dshims.binary), args.state_dir)
    with sock:  # an attached client is let go at the first exit, as Docker's attach streams end
        sock.settimeout(20)
        assert list(protocol.demux(sock)) == [(1, b"run\n")]
    dshims.wait_gone(args)
    exit_info = protocol.read_exit(args.state_dir)
    assert (exit_info["exit_code"], exit_info["restart_count"]) == (1, 3)
    assert [e["log"] for e in log_entries(args.log_path)] == ["run\n"] * 4
    assert protocol.read_started(args.state_dir)["restart_count"] == 3


def test_always_restarts_until_stopped(dshims):
    args, first = dshims.run(["sleep", "100"], restart="always")
    assert running_run(args.state_dir) == 0  # the shim's lock says what started.json and exit.json do
    protocol.kill(args.state_dir, 9)
    restarted = wait_for(lambda: (protocol.read_started(args.state_dir) or {}).get("restart_count") == 1
                         and protocol.read_started(args.state_dir), what="a restart")
    assert restarted["pid"] != first and alive(restarted["pid"])
    wait_for(lambda: running_run(args.state_dir) == 1, what="the lock to speak for the second run")
    assert protocol.read_exit(args.state_dir) is None
    assert protocol.control(args.state_dir, "stop") == "ok"
    protocol.kill(args.state_dir, 9)
    wait_for(lambda: protocol.read_exit(args.state_dir), what="the exit")
    assert running_run(args.state_dir) is None  # exit.json written: the lock no longer vouches for a run
    dshims.wait_gone(args)
    exit_info = protocol.read_exit(args.state_dir)
    assert (exit_info["exit_code"], exit_info["restart_count"]) == (137, 1)


def test_stopped_file_prevents_restart(dshims):
    args, _ = dshims.run(["sleep", "100"], restart="unless-stopped")
    Path(args.state_dir, "stopped").touch()
    protocol.kill(args.state_dir, 9)
    dshims.wait_gone(args)
    assert protocol.read_exit(args.state_dir)["restart_count"] == 0


def test_log_rotates_keeping_max_files(dshims):
    script = "for i in $(seq 1 40); do echo line-$i; done"
    args, _ = dshims.run(["sh", "-c", script], log_max_size=300, log_max_files=3)
    dshims.wait_exit(args)
    log = Path(args.log_path)
    files = sorted(p.name for p in log.parent.iterdir() if p.name.startswith("log"))
    assert files == ["log", "log.1", "log.2"]
    lines = []
    for name in ("log.2", "log.1", "log"):
        assert 0 < (log.parent / name).stat().st_size <= 300
        lines += [e["log"] for e in log_entries(str(log.parent / name))]
    # the newest lines, in order, with the oldest rotated away
    assert lines == [f"line-{i}\n" for i in range(41 - len(lines), 41)]
    assert len(lines) < 40


def test_attach_streams_output_and_feeds_stdin(dshims):
    args, _ = dshims.run(["sh", "-c", "echo before; cat; echo done >&2"], stdin=True)
    wait_for(lambda: log_entries(args.log_path), what="the first output")
    viewer = protocol.attach(args.state_dir)
    protocol.attach(args.state_dir).close()  # detaching without half-close keeps stdin open
    with protocol.attach(args.state_dir) as writer:
        time.sleep(0.1)  # let the shim accept them all before any output
        writer.sendall(b"ping\n")
        assert frames_until(writer, b"ping") == [(1, b"ping\n")]
        writer.shutdown(socket.SHUT_WR)  # end of input: cat exits
        assert frames_until(writer, b"done")[-1] == (2, b"done\n")
        assert list(protocol.demux(writer)) == []  # the shim closes clients when done
    with viewer:
        viewer.settimeout(10)
        seen = list(protocol.demux(viewer))
    assert seen == [(1, b"ping\n"), (2, b"done\n")]  # nothing from before it attached
    assert dshims.wait_exit(args)["exit_code"] == 0


def test_wait_attach_delivers_the_first_output(dshims):
    args = dshims.args(["echo", "early"], wait_attach=True)
    dshims.started.append(args)
    _, sock = protocol.start_shim_attached(args.argv(dshims.binary), args.state_dir)
    with sock:
        sock.settimeout(10)
        assert list(protocol.demux(sock)) == [(1, b"early\n")]
    assert dshims.wait_exit(args)["exit_code"] == 0
    dshims.wait_gone(args)  # it still deletes the container after writing exit.json


def test_tty_output_and_resize(dshims):
    args, _ = dshims.run(["sh", "-c", "tty; read line; stty size"], tty=True, stdin=True)
    with protocol.attach(args.state_dir) as sock:
        wait_for(lambda: Path(args.log_path).exists() and log_entries(args.log_path),
                 what="the tty line")
        assert log_entries(args.log_path)[0] == {**log_entries(args.log_path)[0],
                                                 "log": "/dev/pts/0\r\n", "stream": "stdout"}
        protocol.resize(args.state_dir, 30, 100)
        sock.sendall(b"\n")
        assert b"30 100" in recv_until(sock, b"30 100")
    assert dshims.wait_exit(args)["exit_code"] == 0


def test_shim_outlives_the_command_that_started_it(dshims):
    args, pid = dshims.run(["sleep", "100"])
    shim_pid = int(Path(args.state_dir, "shim.pid").read_text().split()[0])
    assert os.getsid(shim_pid) != os.getsid(0)  # its own session: no terminal hang-ups
    assert os.getpid() != int(Path(f"/proc/{shim_pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    assert protocol.shim_alive(args.state_dir) and alive(pid)
    protocol.kill(args.state_dir, 9)
    dshims.wait_gone(args)


def lock_holders(path: str) -> list[int]:
    """The pids holding a POSIX record lock on `path` (/proc/locks names files by device and inode)."""
    ino = os.stat(path).st_ino
    return [int(f[4]) for f in (line.split() for line in Path("/proc/locks").read_text().splitlines())
            if f[1] == "POSIX" and int(f[5].rsplit(":", 1)[1]) == ino]


def test_killed_shim_leaves_detectable_state(dshims):
    args, pid = dshims.run(["sleep", "100"])
    shim_pid = int(Path(args.state_dir, "shim.pid").read_text().split()[0])
    # the lock that tells readers the shim lives (records.shim_alive) is the shim's own
    assert lock_holders(os.path.join(args.state_dir, "shim.pid")) == [shim_pid]
    os.kill(shim_pid, signal.SIGKILL)
    wait_for(lambda: not alive(shim_pid), what="the shim to die")
    assert not protocol.shim_alive(args.state_dir)
    assert protocol.read_exit(args.state_dir) is None
    with pytest.raises(DockyardError, match="not reachable"):
        protocol.status(args.state_dir)
    assert alive(pid)  # left for the engine to delete, as the fixture does


def test_exit_hook_runs_when_done(dshims, tmp_path):
    marker = tmp_path / "hook-ran"
    args, _ = dshims.run(["true"], on_exit=["sh", "-c", 'echo "$1" > "$0"', str(marker), "bye"])
    wait_for(marker.exists, what="the exit hook")
    assert marker.read_text() == "bye\n"
    dshims.wait_gone(args)


def test_bad_options_fail_fast(shim_binary, tmp_path):
    proc = subprocess.run([shim_binary, "--id", "x", "--restart", "sometimes"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "dockyard-shim: invalid --restart sometimes: use no, always, unless-stopped or on-failure[:N]"]


def test_a_client_that_does_not_read_never_blocks_the_container(dshims):
    args = dshims.args(["sh", "-c", "seq 1 400000"], wait_attach=True)  # ~2.7 MB
    dshims.started.append(args)
    _, stuck = protocol.start_shim_attached(args.argv(dshims.binary), args.state_dir)
    with stuck:
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        assert dshims.wait_exit(args)["exit_code"] == 0
        lines = log_entries(args.log_path)
        assert len(lines) == 400000 and lines[-1]["log"] == "400000\n"
        received = b"".join(iter(lambda: stuck.recv(1 << 16), b""))
        assert 0 < len(received) < 2 * 1024 * 1024  # dropped once 1 MiB behind
