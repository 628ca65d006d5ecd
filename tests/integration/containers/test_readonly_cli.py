"""`ps`, `images`, `port`, `inspect`, `logs` and `top` answered before click loads (cli/readonly.py) print the same bytes as the full
commands. A global option (`--log-level info`, the default) sends a command down the full path."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from tests.conftest import DOCKYARD
from tests.helpers.waiting import wait_for

pytestmark = pytest.mark.root

CASES = [
    ("ps",), ("ps", "-a"), ("ps", "-aq"), ("ps", "-a", "--no-trunc"), ("ps", "--all", "--quiet", "--no-trunc"),
    ("ps", "-a", "--format", "{{.Names}}\t{{.Ports}}\t{{.State}}"),
    ("ps", "-a", "--format", "table {{.ID}}\t{{.Label \"com.example.k\"}}\t{{.Labels}}\t{{.Status}}"),
    ("ps", "-a", "--format=json"), ("ps", "--format", "{{json .Names}} {{.Networks}}"),
    ("ps", "-a", "--format", "table"), ("ps", "-a", "--format", "{{.Nope}}"),
    ("port", "web"), ("port", "web", "80"), ("port", "web", "80/tcp"), ("port", "web", "53/udp"),
    ("inspect", "web"), ("inspect", "made", "ended", "web"), ("inspect", "--type", "container", "-f", "{{.State.Status}}",
                                                              "web", "ended"),
    ("inspect", "--format", "{{json .NetworkSettings.Ports}} {{.Name}}", "web"), ("inspect", "--format=json", "made"),
    ("inspect", "-f", "{{.Nope.Deeper}}", "web"),
    ("inspect", "-f", "{{.State.Status}} {{.State.Pid}} {{.State.Running}} {{.HostConfig.Memory}}", "web", "ended"),
    ("inspect", "-f", "{{.State.Health}} {{.Config.Labels}} {{.NetworkSettings.Networks.bridge.IPAddress}}", "web"),
    ("logs", "ended"), ("logs", "-t", "ended"), ("logs", "-n", "1", "ended"), ("logs", "--tail", "all", "ended"),
    ("logs", "web"), ("logs", "made"),
    ("container", "ls", "-a"), ("container", "list"), ("container", "inspect", "-f", "{{.Name}}", "made"),
    ("container", "port", "web"), ("container", "logs", "-n", "2", "ended"),
    ("top", "web"), ("container", "top", "web"), ("top", "web", "-o", "pid,comm"), ("top", "web", "-ef"),
    ("images",), ("images", "-q"), ("images", "-aq", "--no-trunc"), ("images", "--digests"),
    ("images", "--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}} {{.Size}} {{.CreatedAt}}"),
    ("images", "--format", "json"), ("images", "--format", "table {{.Repository}}\t{{.Digest}}\t{{json .Tag}}"),
    ("image", "ls"), ("image", "list", "-a", "--quiet"),
]
LEFT = [("port", "web", "81"), ("port", "nosuch"), ("ps", "-a", "--format", "{{.Label}}"), ("ps", "--bogus"),
           ("inspect", "web", "nosuch"), ("inspect", "busybox"), ("logs", "nosuch"), ("logs", "--tail", "x", "ended"),
           ("logs", "--since", "1h", "ended"), ("container", "inspect", "--type", "container", "web"),
           ("container", "rm", "nosuch"), ("top", "made"), ("top", "nosuch"), ("top", "web", "-o", "bogus"),
           ("ps", "-s"), ("ps", "-a", "--format", "{{.Names}} {{.Names.Deeper}}"), ("ps", "-a", "--filter", "status=exited"), ("inspect", "nosuch"),
           ("images", "busybox"), ("images", "--filter", "dangling=false"), ("images", "--tree"), ("image", "ls", "-x")]


def _run(dy, args: tuple[str, ...], early: bool) -> tuple[int, str, str, str]:
    """(exit code, stdout, stderr, the modules it imported)"""
    argv = [DOCKYARD, *args] if early else [DOCKYARD, "--log-level", "info", *args]
    p = subprocess.run(argv, env={**dy.env, "PYTHONPROFILEIMPORTTIME": "1"}, capture_output=True, text=True)
    imports = "".join(line for line in p.stderr.splitlines(keepends=True) if line.startswith("import time:"))
    err = "".join(line for line in p.stderr.splitlines(keepends=True) if not line.startswith("import time:"))
    return p.returncode, p.stdout, err, imports


def _same(dy, args: tuple[str, ...], early_taken: bool, full_args: tuple[str, ...] | None = None) -> None:
    """Both paths print the same (the full one given `full_args` if those differ). A process
    that used a clock tick reads C 1 (or more) in `top` for its first seconds, then 0: where
    the two runs straddle that, they are run again until they agree."""
    def both() -> tuple[tuple, tuple]:
        code, out, err, imports = _run(dy, args, early=True)
        assert (" click" not in imports) == early_taken, args
        return (code, out, err), _run(dy, full_args or args, early=False)[:3]

    fast, full = both()
    deadline = time.monotonic() + 10
    while fast != full and "top" in args and time.monotonic() < deadline:
        time.sleep(0.1)
        fast, full = both()
    assert fast == full, args


@pytest.fixture
def containers(dy, busybox):
    dy("run", "-d", "--name", "web", "-p", "8080:80", "-p", "127.0.0.1:5353:53/udp", "-l", "com.example.k=v1",
       "busybox", "sleep", "300")
    dy("create", "--name", "made", "-l", "a=b", "busybox", "sh", "-c", "echo a rather long command line")
    dy("run", "--name", "ended", "busybox", "sh", "-c", "echo out; echo err >&2; echo more; exit 3", check=False)
    dy("tag", "busybox", "registry.example:5000/team/app:v1")
    _age(dy, days=400)
    return dy


def _age(dy, days: int) -> None:
    """Move the containers' times back: "Up 13 months" reads the same across both runs, where
    "Up 5 seconds" would tick between them."""
    import json
    import sqlite3

    back = days * 86400
    with sqlite3.connect(dy.root / "dockyard.db") as db:
        for cid, created, state in db.execute("SELECT id, created, state FROM containers").fetchall():
            st = json.loads(state)
            for key in ("StartedAt", "FinishedAt"):
                if not st[key].startswith("0001-"):
                    t = time.strptime(st[key][:19], "%Y-%m-%dT%H:%M:%S")
                    st[key] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.mktime(t) - back)) + st[key][19:]
            db.execute("UPDATE containers SET created=?, state=? WHERE id=?", (created - back, json.dumps(st), cid))


def test_early_and_full_paths_print_the_same_bytes(containers):
    for args in CASES:
        _same(containers, args, early_taken=True)


def test_what_the_early_path_leaves_to_the_full_command_is_answered_as_before(containers):
    for args in LEFT:  # errors to report, an image to inspect
        _same(containers, args, early_taken=False)


def test_a_container_whose_shim_died_goes_the_full_path(containers):
    shim = int((containers.run_dir / "s" / _id(containers, "web")[:16] / "shim.pid").read_text().split()[0])
    os.kill(shim, 9)
    while os.path.exists(f"/proc/{shim}"):  # reaped at once: the shim is a child of init
        pass
    # the DB still says running and nothing recorded the end: the full command records it
    code, out, _, imports = _run(containers, ("ps", "-a", "--format", "{{.Names}} {{.State}}"), early=True)
    assert code == 0 and "web exited" in out.splitlines() and " click" in imports
    # recorded now: the early path answers again ("Exited (137) 1 second ago" would tick)
    _same(containers, ("ps", "-a", "--format", "table {{.Names}}\t{{.State}}\t{{.Ports}}"), early_taken=True)


def _id(dy, name: str) -> str:
    return dy("inspect", "--format", "{{.Id}}", name).out.strip()


def test_top_answered_early_records_its_event(containers):
    code, out, _, imports = _run(containers, ("top", "web"), early=True)
    assert code == 0 and " click" not in imports and "sleep 300" in out
    events = containers("events", "--since", "0", "--until", "0s", "--filter", "event=top",
                        "--format", "{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.image}}").out
    assert events.splitlines() == ["top web busybox"]


def _users() -> list[str]:
    """--user values ps names in each of its ways: a name that fits the column, one it cuts
    with `+`, a uid with no name (from this host's passwd), and root."""
    import pwd

    names = {len(p.pw_name) > 8: p.pw_uid for p in pwd.getpwall() if p.pw_uid and p.pw_name.isascii()}
    unnamed = next(uid for uid in range(5000, 6000) if not _named(uid))
    return [str(uid) for uid in names.values()] + [str(unnamed), "0"]


def _named(uid: int) -> bool:
    import pwd

    try:
        return bool(pwd.getpwuid(uid))
    except KeyError:
        return False


def test_top_reads_what_ps_ef_prints(dy, busybox):
    """`top C` reads its lines from /proc (containers/psef.py); `top C -ef` runs the host's ps:
    the same bytes, for each way ps shows a user and for arguments with spaces. Arguments ps
    would escape (not ASCII) send it to ps itself, with the same answer."""
    script = "sleep 301 & sleep 302; : 'two  spaces' end"
    for i, user in enumerate(_users()):
        dy("run", "-d", "--name", f"u{i}", "-u", user, "busybox", "sh", "-c", script)
    dy("run", "-d", "--name", "accented", "busybox", "sh", "-c", "sleep 303; : d\u00e9j\u00e0")
    expected = {f"u{i}": ("sleep 301", "sleep 302") for i in range(len(_users()))} | {"accented": ("sleep 303",)}
    for name, sleeps in expected.items():
        wait_for(lambda: all(s in dy("top", name).out for s in sleeps), what=f"{name}'s processes")
        code, _, err, imports = _run(dy, ("top", name), early=True)
        assert code == 0 and (" subprocess" in imports) == (name == "accented"), (name, err)
        _same(dy, ("top", name), early_taken=True, full_args=("top", name, "-ef"))


def test_top_prints_its_table_as_the_docker_cli_does(dy, busybox, tmp_path):
    """The docker CLI's `top` table (columns at least 20 wide), from what it printed for a
    container of the host's dockerd."""
    import re
    import secrets
    import shutil

    from dockyard.cli.readonly import top_text

    docker = ["docker", "-H", "unix:///var/run/docker.sock"]
    env = {**os.environ, "DOCKER_CONFIG": str(tmp_path / "docker-config")}

    def on_dockerd(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*docker, *args], env=env, capture_output=True, text=True, timeout=120)

    if not shutil.which("docker") or not os.path.exists("/var/run/docker.sock"):
        pytest.skip("no dockerd here")
    name = "dockyard-test-top-" + secrets.token_hex(4)
    try:
        if on_dockerd("image", "inspect", "busybox").returncode:
            pytest.skip("dockerd has no busybox image")
        on_dockerd("run", "-d", "--name", name, "busybox", "sh", "-c", "sleep 301 & sleep 302").check_returncode()
        theirs = wait_for(lambda: (out := on_dockerd("top", name).stdout).count("sleep 30") == 2 and out,
                          what="dockerd's container's processes")
    except subprocess.TimeoutExpired:
        pytest.skip("dockerd does not answer in time (busy with other work)")
    finally:
        try:
            on_dockerd("rm", "-f", name)
        except subprocess.TimeoutExpired:
            pass
    rows = [re.split(" {3,}", line) for line in theirs.splitlines()]
    assert top_text({"Titles": rows[0], "Processes": rows[1:]}) == theirs
    dy("run", "-d", "--name", "web", "busybox", "sleep", "300")
    assert dy("top", "web").out.splitlines()[0] == theirs.splitlines()[0]


# What the early path must not load (each was on it once, at 1-7 ms apiece): the launcher's
# start without `site`, then only the C modules for SQLite and JSON.
HEAVY = {"site", "pathlib", "typing", "dataclasses", "sqlite3", "threading", "collections.abc", "click", "functools",
         "re", "json"}
LEAN = {("ps",): {"datetime", "collections"}, ("ps", "-a"): {"datetime", "collections"},
        ("images",): set(),  # collections: oci/reference.py's namedtuple
        ("port", "web"): {"datetime", "collections"}, ("logs", "ended"): {"collections"},
        ("inspect", "web"): {"dockyard.runtime.spec", "dockyard.snapshots", "collections"},
        ("inspect", "-f", "{{.State.Status}} {{.State.Pid}}", "web"): {"dockyard.cli.gotemplate", "collections"},
        ("top", "web"): {"subprocess", "dockyard.engine", "collections"}}


def test_the_early_path_loads_no_heavy_modules(containers):
    for args, also in LEAN.items():
        code, _, _, imports = _run(containers, args, early=True)
        loaded = {line.split("|")[-1].strip() for line in imports.splitlines()}
        assert code == 0 and not loaded & (HEAVY | also), (args, loaded & (HEAVY | also))
