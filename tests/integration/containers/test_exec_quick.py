"""`exec` run before click loads (cli/execquick.py) behaves as the full command (Execs); both
start the command with `dockyard-shim exec`, with or without a terminal, attached or detached:
the same exit codes, stdout and stderr bytes, process (user, groups, env, cwd, stdin,
capabilities, seccomp, no_new_privs, rlimits, cgroups, namespaces), exec record and events. A global option (`--log-level info`, the default)
sends a command down the full path."""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.conftest import DOCKYARD
from tests.helpers.waiting import wait_for

pytestmark = pytest.mark.root

# what the exec'd process is: identity, capabilities, seccomp, cgroups (a process outside the
# container's cgroups sees `/..` paths in its cgroup namespace), namespaces, limits, stdin
PROCESS = ("grep -E '^(Cap|Seccomp|NoNewPrivs)' /proc/self/status; cat /proc/self/cgroup; id; pwd; env; umask; "
           "ulimit -n; readlink /proc/self/fd/0 | tr -d 0-9; for n in mnt net pid ipc uts cgroup user; do "
           "readlink /proc/self/ns/$n; done; hostname; cat")
QUICK = [
    ("box", "sh", "-c", "echo out; echo err >&2; exit 3"),
    ("box", "sh", "-c", PROCESS),
    ("-i", "box", "sh", "-c", PROCESS),
    ("-u", "nobody", "box", "sh", "-c", PROCESS),
    ("--user=1234:5678", "-w", "/tmp", "box", "sh", "-c", PROCESS),
    ("-e", "A=1", "--env", "HOME=/x", "-eB", "-e", "PATH", "-w/etc", "box", "sh", "-c", PROCESS),
    ("--privileged", "box", "sh", "-c", PROCESS),
    ("tight", "sh", "-c", PROCESS),
    ("-u", "nobody", "tight", "sh", "-c", PROCESS),
    ("viarunc", "sh", "-c", PROCESS), ("-t", "viarunc", "tty"),  # another runtime's container
    ("container", "exec", "box", "true"),
    ("box", "sh", "-c", "kill -9 $$"),
    ("box", "nope"), ("box", "/nope"), ("box", "/etc"), ("box", "/etc/passwd"), ("-w", "/nonexist", "box", "pwd"),
    ("-w", "/etc/passwd", "box", "pwd"), ("-u", "ghost", "box", "true"), ("-u", "nobody:ghosts", "box", "true"),
    ("-t", "box", "sh", "-c", "tty; echo out; echo err >&2; exit 3"),
    ("-t", "-u", "nobody", "box", "sh", "-c", PROCESS.removesuffix("; cat")),  # a terminal: no end of input
    ("-it", "box", "sh", "-c", "read x; echo got $x"),  # stdin read before the end: its echo is certain
    ("-t", "box", "nope"), ("-d", "box", "true"), ("-dt", "box", "true"), ("-d", "box", "nope"),
]
FULL = [("--detach-keys", "ctrl-a", "box", "true"), ("--env-file", "/dev/null", "box", "true"), ("stopped", "true"),
        ("nosuch", "true"), ("box",), ("--bogus", "box", "true"), ("-u",)]


def _exec(dy, args: tuple[str, ...], quick: bool) -> tuple[int, bytes, bytes, bool]:
    """(exit code, stdout, stderr, whether click loaded) of `exec ARGS` fed b'fed\\n' on stdin"""
    argv = [DOCKYARD, "exec", *args] if quick else [DOCKYARD, "--log-level", "info", "exec", *args]
    if args[:2] == ("container", "exec"):
        argv.remove("exec")
    p = subprocess.run(argv, env={**dy.env, "PYTHONPROFILEIMPORTTIME": "1", "B": "from-caller"}, input=b"fed\n",
                       capture_output=True, timeout=60)
    lines = p.stderr.splitlines(keepends=True)
    clicked = any(line.startswith(b"import time:") and line.rstrip().endswith(b" click") for line in lines)
    return p.returncode, p.stdout, b"".join(line for line in lines if not line.startswith(b"import time:")), clicked


@pytest.fixture
def boxes(dy, busybox):
    dy("run", "-d", "--name", "box", "-h", "boxhost", "-e", "A=0", "busybox", "sleep", "300")
    dy("run", "-d", "--name", "tight", "--cap-drop", "ALL", "--cap-add", "NET_RAW", "--cap-add", "SETUID",
       "--security-opt", "no-new-privileges", "--ulimit", "nofile=100:200", "--network", "none",
       "busybox", "sleep", "300")
    dy("run", "-d", "--name", "viarunc", "--runtime", "runc", "busybox", "sleep", "300")
    dy("create", "--name", "stopped", "busybox", "true")
    dy("--log-level", "info", "exec", "box", "true")  # the first exec of a root makes its table (the full path)
    return dy


def test_quick_exec_is_the_full_exec(boxes):
    for args in QUICK:
        code, out, err, clicked = _exec(boxes, args, quick=True)
        assert not clicked, (args, err)
        assert (code, out, err) == _exec(boxes, args, quick=False)[:3], args
    for args in FULL:  # not running, not found, usage errors: the full command's own answers
        code, out, err, clicked = _exec(boxes, args, quick=True)
        assert clicked, args
        assert (code, out, err) == _exec(boxes, args, quick=False)[:3], args


def test_what_the_quick_exec_runs_and_says_is_docker_s(boxes):
    code, out, err, _ = _exec(boxes, ("-u", "nobody", "box", "sh", "-c", PROCESS), quick=True)
    text = out.decode()
    assert code == 0 and err == b""
    assert "CapEff:\t0000000000000000" in text and "Seccomp:\t2" in text  # nobody: no effective capabilities
    assert all(line.endswith(":/") for line in text.splitlines() if line[:1].isdigit() and ":" in line)  # its cgroups
    assert "uid=65534(nobody)" in text and "HOSTNAME=boxhost" in text and "A=0" in text
    assert "\n/dev/null\n" in text  # no -i: nothing of ours to read
    out = _exec(boxes, ("tight", "sh", "-c", PROCESS), quick=True)[1].decode()
    assert "NoNewPrivs:\t1" in out and "CapEff:\t0000000000002080" in out and "\n100\n" in out
    assert "fed\n" in _exec(boxes, ("-i", "box", "sh", "-c", PROCESS), quick=True)[1].decode()
    # -d (the full command) keeps nothing of the caller's: its pipes close when it returns
    r = subprocess.run([DOCKYARD, "exec", "-d", "box", "sleep", "600"], env=boxes.env, capture_output=True, timeout=120)
    assert (r.returncode, r.stdout, r.stderr) == (0, b"", b"")
    # a command that cannot start: Docker's words and codes
    prefix = "OCI runtime exec failed: exec failed: unable to start container process: "
    for args, code, words in [
            (("nope",), 127, 'exec: "nope": executable file not found in $PATH'),
            (("/nope",), 127, 'exec: "/nope": stat /nope: no such file or directory'),
            (("/etc",), 126, 'exec: "/etc": permission denied'),
            (("/etc/passwd",), 126, 'exec: "/etc/passwd": permission denied')]:
        assert _exec(boxes, ("box", *args), quick=True)[:3] == (code, b"", f"{prefix}{words}: unknown\n".encode())
    r = _exec(boxes, ("-w", "/nonexist", "box", "pwd"), quick=True)
    assert r[:3] == (126, b"", f'{prefix}chdir to cwd ("/nonexist") set in config.json failed: no such file or '
                               f'directory: unknown\n'.encode())
    assert _exec(boxes, ("-u", "ghost", "box", "true"), quick=True)[:3] == \
        (126, b"", b"unable to find user ghost: no matching entries in passwd file\n")


def test_the_exec_record_and_events_are_the_full_paths(boxes):
    """Each path's execs: exec_create and exec_start (the command's first word, a space, the rest),
    exec_die with the code only for a command that ran, and exec inspect's record."""
    from dockyard.engine import Engine

    since = f"{time.time():.3f}"
    runs = [("box", "sh", "-c", "exit 4"), ("box", "true"), ("-u", "ghost", "box", "true"), ("box", "nope"),
            ("-t", "box", "sh", "-c", "exit 5"), ("-d", "box", "sh", "-c", "exit 6")]

    def events() -> list[list[str]]:
        lines = boxes("events", "--since", since, "--until", "0s", "--filter", "type=container", "--format",
                      "{{.Action}}|{{.Actor.Attributes.execID}}|{{.Actor.Attributes.exitCode}}").out.splitlines()
        return [line.replace("<no value>", "").split("|") for line in lines if line.startswith("exec_")]

    for quick in (True, False):
        for args in runs:
            _exec(boxes, args, quick)
        # a detached command's end is recorded by its shim's hook, in its own time
        wait_for(lambda: len([e for e in events() if e[2] == "6"]) == 1 + (not quick), what="the -d exec's exec_die")
    found = events()
    half = len(found) // 2
    assert [(a, code) for a, _, code in found[:half]] == [(a, code) for a, _, code in found[half:]] == [
        ("exec_create: sh -c exit 4", ""), ("exec_start: sh -c exit 4", ""), ("exec_die", "4"),
        ("exec_create: true ", ""), ("exec_start: true ", ""), ("exec_die", "0"),
        ("exec_create: true ", ""), ("exec_start: true ", ""),
        ("exec_create: nope ", ""), ("exec_start: nope ", ""),
        ("exec_create: sh -c exit 5", ""), ("exec_start: sh -c exit 5", ""), ("exec_die", "5"),
        ("exec_create: sh -c exit 6", ""), ("exec_start: sh -c exit 6", ""), ("exec_die", "6")]
    engine = Engine(boxes.root, boxes.run_dir)
    ids = list(dict.fromkeys(eid for _, eid, _ in found))
    records = [{k: v if k != "Pid" else v > 0 for k, v in engine.containers.exec_inspect(eid).items() if k != "ID"}
               for eid in ids]  # each command's own pid
    assert records[:6] == records[6:]
    assert [(r["ExitCode"], r["Running"], r["Pid"], r["ProcessConfig"].get("user"), r["ProcessConfig"]["tty"])
            for r in records[:6]] == [(4, False, True, None, False), (0, False, True, None, False),
                                      (126, False, False, "ghost", False), (127, False, True, None, False),
                                      (5, False, True, None, True), (6, False, True, None, False)]
