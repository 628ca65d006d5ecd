"""The container lifecycle through the CLI, as a docker user drives it."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

pytestmark = pytest.mark.root


def inspect(dy, name: str) -> dict:
    return json.loads(dy("inspect", name).out)[0]


def wait_for(pred, timeout=10.0, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return False


def test_run_foreground_output_streams_and_exit_code(dy, busybox):
    r = dy("run", "--network", "none", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert r.code == 3
    assert r.out == "out\n" and r.err == "err\n"
    c = json.loads(dy("ps", "-a", "--format", "json").out.splitlines()[0])
    assert c["Status"].startswith("Exited (3)")


def test_run_rm_leaves_nothing(dy, busybox):
    assert dy("run", "--rm", "busybox", "echo", "hi").out == "hi\n"
    assert dy("ps", "-aq").out == ""
    eng = dy.engine()
    assert [s for s in eng.snapshots.all() if s.kind == "active"] == []
    assert not [l for l in open("/proc/self/mountinfo") if str(dy.root) in l or str(dy.run_dir) in l]
    assert not any((p / dy.tag).exists() for p in __import__("pathlib").Path("/sys/fs/cgroup").iterdir())
    assert not list((dy.run_dir / "containers").glob("*")) if (dy.run_dir / "containers").exists() else True


def test_containers_of_an_image_share_its_init_layer_which_goes_with_the_image(dy, busybox):
    """Docker makes an init layer per container; its content depends on the image alone, so
    here one per image is made by its first container and collected with its layers."""
    dy("tag", "busybox", "shared-init")
    one = dy("create", "shared-init", "true").out.strip()
    two = dy("run", "-d", "shared-init", "sh", "-c", "echo x > /etc/hosts.new; sleep 60").out.strip()
    eng = dy.engine()
    parents = {eng.snapshots.need(c).parent for c in (one, two)}
    assert len(parents) == 1 and [s.key for s in eng.snapshots.all() if s.key.startswith("init-")] == list(parents)
    assert wait_for(lambda: dy("diff", two).out.splitlines() == ["C /etc", "A /etc/hosts.new"])
    dy("rm", "-f", one, two)
    assert eng.snapshots.exists(parents.pop())  # the image's, kept for its next container
    dy("rmi", "busybox")
    dy("rmi", "shared-init")
    assert eng.snapshots.all() == [] and eng.images.list() == []


def hook_processes(dy) -> list[str]:
    """Exit hooks (`dockyard ... container cleanup`) of this test's engine now running."""
    found = []
    for proc in __import__("pathlib").Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            continue
        if str(dy.run_dir) in cmdline and " cleanup " in cmdline:
            found.append(cmdline)
    return found


def test_a_finished_run_leaves_no_runtime_state_and_starts_no_hook(dy, busybox):
    runtime_root = dy.run_dir / "runtime" / "dockyard"
    assert dy("run", "--name", "done", "--network", "none", "busybox", "true").code == 0
    # the foreground CLI recorded the exit: the shim started no hook to do it again
    assert not wait_for(lambda: hook_processes(dy), timeout=0.5, step=0.005)
    assert inspect(dy, "done")["State"]["Status"] == "exited"
    # the engine deleted the runtime's container itself, in-process (the shim ran --keep-after-exit)
    assert [p.name for p in runtime_root.iterdir() if not p.name.startswith(".")] == []
    # a detached container's exit is the hook's to record
    dy("run", "-d", "--name", "bg", "--network", "none", "busybox", "true")
    assert wait_for(lambda: inspect(dy, "bg")["State"]["Status"] == "exited")
    assert wait_for(lambda: [p.name for p in runtime_root.iterdir() if not p.name.startswith(".")] == [])


def test_detached_survives_the_cli_and_logs_follow(dy, busybox):
    cid = dy("run", "-d", "--name", "ticker", "busybox", "sh", "-c",
             "for i in 1 2 3; do echo tick $i; sleep 0.2; done; sleep 30").out.strip()
    assert len(cid) == 64
    proc = dy.popen("logs", "-f", "ticker", stdout=subprocess.PIPE, text=True)
    lines = [proc.stdout.readline() for _ in range(3)]
    assert lines == ["tick 1\n", "tick 2\n", "tick 3\n"]
    proc.terminate()
    proc.wait()
    st = inspect(dy, "ticker")["State"]
    assert st["Running"] and st["Pid"] > 0
    assert dy("logs", "--tail", "1", "ticker").out == "tick 3\n"
    ts = dy("logs", "-t", "ticker").out.splitlines()[0]
    assert ts.split(" ", 1)[1] == "tick 1" and ts[:4].isdigit() and ts.split(" ")[0].endswith("Z")
    dy("rm", "-f", "ticker")


def test_stop_sends_the_stop_signal_then_kills(dy, busybox):
    dy("run", "-d", "--name", "polite", "busybox", "sh", "-c",
       "trap 'echo got term; exit 0' TERM; while true; do sleep 0.1; done")
    time.sleep(0.3)
    dy("stop", "polite")
    assert "got term" in dy("logs", "polite").out
    assert inspect(dy, "polite")["State"]["ExitCode"] == 0
    dy("run", "-d", "--name", "stubborn", "busybox", "sleep", "60")
    t0 = time.monotonic()
    dy("stop", "-t", "1", "stubborn")
    took = time.monotonic() - t0
    st = inspect(dy, "stubborn")["State"]
    assert st["ExitCode"] == 137 and not st["Running"]
    assert 0.9 < took < 8


def test_restart_on_failure_restarts_exactly_three_times(dy, busybox):
    dy("run", "-d", "--name", "flaky", "--restart", "on-failure:3", "busybox", "sh", "-c", "echo run; exit 1")
    assert wait_for(lambda: not inspect(dy, "flaky")["State"]["Running"], timeout=20)
    doc = inspect(dy, "flaky")
    assert doc["RestartCount"] == 3 and doc["State"]["ExitCode"] == 1
    assert dy("logs", "flaky").out.count("run\n") == 4


def test_exec_joins_the_container(dy, busybox):
    dy("run", "-d", "--name", "box", "--hostname", "boxhost", "busybox", "sleep", "60")
    assert dy("exec", "box", "hostname").out.strip() == "boxhost"
    ps = dy("exec", "box", "ps", "-o", "pid,comm").out.split("\n")
    assert ps[1].split() == ["1", "sleep"]
    assert dy("exec", "-e", "A=b", "-w", "/tmp", "box", "sh", "-c", "echo $A $(pwd)").out == "b /tmp\n"
    assert dy("exec", "box", "sh", "-c", "exit 7", check=False).code == 7
    assert dy("exec", "-u", "nobody", "box", "id", "-u").out.strip() == "65534"


def test_init_is_pid_one_and_reaps(dy, busybox):
    out = dy("run", "--rm", "--init", "busybox", "sh", "-c", "ps -o pid,comm | awk '$1==1{print $2}'").out.strip()
    assert out in ("docker-init", "tini-static", "tini")


def test_ps_filters_and_formats(dy, busybox):
    dy("run", "-d", "--name", "one", "-l", "team=a", "busybox", "sleep", "60")
    dy("create", "--name", "two", "busybox", "true")
    assert dy("ps", "--format", "{{.Names}}").out.split() == ["one"]
    assert sorted(dy("ps", "-a", "--format", "{{.Names}}").out.split()) == ["one", "two"]
    assert dy("ps", "-a", "--filter", "status=created", "--format", "{{.Names}}").out.split() == ["two"]
    assert dy("ps", "--filter", "label=team=a", "-q").out.strip() == inspect(dy, "one")["Id"][:12]
    header = dy("ps").out.splitlines()[0].split()
    assert header[:3] == ["CONTAINER", "ID", "IMAGE"] and header[-1] == "NAMES"
    r = dy("rm", "one", check=False)
    assert r.code == 125 and "container is running" in r.err
    dy("rm", "-f", "one", "two")


def test_errors_are_docker_like(dy, busybox):
    r = dy("start", "nope", check=False)
    assert r.code == 125 and "No such container: nope" in r.err
    dy("create", "--name", "dup", "busybox", "true")
    r = dy("create", "--name", "dup", "busybox", "true", check=False)
    assert r.code == 125 and 'The container name "/dup" is already in use' in r.err
    r = dy("run", "--rm", "busybox", "/no/such/binary", check=False)
    assert r.code == 127, r
    r = dy("run", "--pull", "never", "--rm", "nosuchimage:1", "true", check=False)
    assert r.code == 125 and "No such image" in r.err
    r = dy("run", "--rm", "--restart", "sometimes", "busybox", "true", check=False)
    assert r.code == 125 and "restart policy" in r.err


def test_pause_unpause_rename_wait(dy, busybox):
    dy("run", "-d", "--name", "pz", "busybox", "sleep", "60")
    dy("pause", "pz")
    assert inspect(dy, "pz")["State"]["Status"] == "paused"
    assert "(Paused)" in dy("ps").out
    dy("unpause", "pz")
    assert inspect(dy, "pz")["State"]["Status"] == "running"
    dy("rename", "pz", "qz")
    assert inspect(dy, "qz")["Name"] == "/qz"
    dy("kill", "qz")
    assert dy("wait", "qz").out.strip() == "137"


def test_volumes_named_anonymous_and_image_content(dy, busybox):
    dy("run", "--rm", "-v", "data:/etc", "busybox", "true")  # a new named volume is filled from the image
    assert "root:x:0:0" in dy("run", "--rm", "-v", "data:/mnt", "busybox", "cat", "/mnt/passwd").out
    assert "data" in dy("volume", "ls", "-q").out.split()
    r = dy("volume", "rm", "data")
    assert r.out.strip() == "data"
    cid = dy("create", "-v", "/anon", "busybox", "true").out.strip()
    anon = [m for m in inspect(dy, cid)["Mounts"] if m["Destination"] == "/anon"][0]["Name"]
    assert anon in dy("volume", "ls", "-q").out
    dy("rm", "-v", cid)
    assert anon not in dy("volume", "ls", "-q").out


def test_bind_mount_and_read_only(dy, busybox, tmp_path):
    host = tmp_path / "share"
    host.mkdir()
    (host / "in.txt").write_text("from host")
    out = dy("run", "--rm", "-v", f"{host}:/share", "busybox", "sh", "-c", "cat /share/in.txt; echo back > /share/out.txt").out
    assert out == "from host"
    assert (host / "out.txt").read_text() == "back\n"
    r = dy("run", "--rm", "-v", f"{host}:/share:ro", "busybox", "touch", "/share/x", check=False)
    assert r.code != 0 and not (host / "x").exists()
    r = dy("run", "--rm", "--read-only", "busybox", "touch", "/x", check=False)
    assert r.code != 0 and "Read-only file system" in r.err


def test_finishing_a_container_another_client_removed_meanwhile_leaves_nothing(dy, busybox):
    """A list or an exit hook may finish a container while another client removes it: that
    is no error (it was an internal error under load) and makes none of its files again."""
    dy("run", "-d", "--name", "gone", "busybox", "sleep", "300")
    svc = dy.engine().containers
    c = svc.get("gone")
    dy("rm", "-f", "gone")
    assert svc.finalize(c, {"exit_code": 137}) is c
    assert not svc.dir(c.id).exists()
    assert dy("ps", "-aq").out == ""
