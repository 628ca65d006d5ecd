"""The Engine API's exec endpoints (v1.47: POST /containers/{id}/exec, POST /exec/{id}/start,
POST /exec/{id}/resize, GET /exec/{id}/json) answer as dockerd's: status codes, exec inspect's
Running, ExitCode and Pid, stdout and stderr frames, stdin, a TTY and its resize, detached execs
and their exec_die. And an API exec runs the same process as the CLI's quick exec
(cli/execquick.py): both are started by `dockyard-shim exec`."""

from __future__ import annotations

import json
import secrets
import subprocess
import time

import pytest

from tests.conftest import DOCKYARD
from tests.e2e.api.conftest import DOCKER
from tests.helpers.rawhttp import http
from tests.helpers.waiting import recv_until, wait_for
from tests.integration.containers.test_exec_quick import PROCESS

pytestmark = pytest.mark.root

UNKNOWN = "0" * 64


def status(call, *args, **kw) -> int:
    """The HTTP status of a docker-py call: 200 if it raised nothing."""
    import docker
    try:
        call(*args, **kw)
    except docker.errors.APIError as e:
        return e.status_code
    return 200


def test_exec_endpoints_answer_as_dockerd(engine_api):
    """Each documented status and each field a client reads, the same on dockerd and dockyard."""
    d, name = engine_api.docker, f"ex-{secrets.token_hex(3)}"
    d("run", "-d", "--name", name, "busybox", "sleep", "300")
    api = engine_api.client().api
    since = time.time()
    # 404: no such container or exec; 400: no command
    assert status(api.exec_create, f"nosuch-{secrets.token_hex(3)}", ["true"]) == 404
    assert [status(call, UNKNOWN) for call in (api.exec_inspect, api.exec_start)] == [404, 404]
    assert status(api.exec_resize, UNKNOWN, height=10, width=10) == 404
    r = api._post_json(api._url("/containers/{0}/exec", name), data={"AttachStdout": True})
    assert r.status_code == 400 and "No exec command specified" in r.json()["message"]

    # attached, no TTY: stdout and stderr apart, the code and pid in exec inspect
    eid = api.exec_create(name, ["sh", "-c", "echo out; echo err >&2; exit 3"], user="nobody")["Id"]
    info = api.exec_inspect(eid)
    assert (info["ID"], info["Running"], info["ExitCode"], info["Pid"], info["CanRemove"], info["OpenStdin"],
            info["OpenStdout"], info["OpenStderr"], info["DetachKeys"]) == (eid, False, None, 0, False, False,
                                                                             True, True, "")
    assert info["ProcessConfig"] == {"tty": False, "entrypoint": "sh", "privileged": False, "user": "nobody",
                                     "arguments": ["-c", "echo out; echo err >&2; exit 3"]}
    assert api.exec_start(eid, demux=True) == (b"out\n", b"err\n")
    info = api.exec_inspect(eid)
    assert (info["Running"], info["ExitCode"]) == (False, 3) and info["Pid"] > 0
    assert status(api.exec_start, eid, detach=True) == 409  # an exec runs once (attached: an error in the stream)
    api.exec_start(eid)

    # stdin, then a TTY the client resizes while the command runs
    eid = api.exec_create(name, ["cat"], stdin=True)["Id"]
    sock = api.exec_start(eid, socket=True)._sock
    sock.sendall(b"fed\n")
    sock.shutdown(1)
    assert recv_until(sock, b"fed\n").endswith(b"\x01\x00\x00\x00\x00\x00\x00\x04fed\n")
    sock.close()
    eid = api.exec_create(name, ["sh", "-c", "tty; read x; stty size"], stdin=True, tty=True)["Id"]
    sock = api.exec_start(eid, socket=True, tty=True)._sock
    assert b"/dev/pts/" in recv_until(sock, b"\n")
    assert wait_for(lambda: api.exec_inspect(eid)["Running"], what="the TTY exec running")
    api.exec_resize(eid, height=33, width=101)
    sock.sendall(b"\n")
    recv_until(sock, b"33 101")
    sock.close()
    wait_for(lambda: api.exec_inspect(eid)["ExitCode"] == 0, what="the TTY exec's end")

    # detached: Running with its pid until it ends, then its code and an exec_die
    eid = api.exec_create(name, ["sh", "-c", "until [ -e /go ]; do sleep 0.05; done; exit 5"])["Id"]
    assert not api.exec_start(eid, detach=True)
    info = api.exec_inspect(eid)
    assert (info["Running"], info["ExitCode"]) == (True, None) and info["Pid"] > 0
    d("exec", name, "touch", "/go")
    assert wait_for(lambda: (lambda i: not i["Running"] and i)(api.exec_inspect(eid)), what="the detached exec's end")[
        "ExitCode"] == 5
    assert api.exec_inspect(eid)["Pid"] == info["Pid"]
    # detached with a TTY: a terminal whose output (more than a pty holds) goes nowhere
    eid = api.exec_create(name, ["sh", "-c", "tty > /tty; yes | head -c 300000; exit 7"], tty=True)["Id"]
    api.exec_start(eid, detach=True, tty=True)
    assert wait_for(lambda: (lambda i: not i["Running"] and i)(api.exec_inspect(eid)), what="the -dt exec's end")[
        "ExitCode"] == 7
    assert d("exec", name, "cat", "/tty").out.startswith("/dev/pts/")
    dies = lambda: [e["Actor"]["Attributes"].get("exitCode") for e in engine_api.client().api.events(  # noqa: E731
        since=since, until=time.time(), decode=True, filters={"event": "exec_die", "container": name})]
    assert wait_for(lambda: len(dies()) == 7, what="seven exec_die events")
    assert sorted(dies()) == ["0", "0", "0", "0", "3", "5", "7"]

    # 409 for a paused container, at create and at start; then for a stopped one
    eid = api.exec_create(name, ["true"])["Id"]
    d("pause", name)
    try:
        assert status(api.exec_create, name, ["true"]) == 409
        assert [status(api.exec_start, eid, detach=detach) for detach in (False, True)] == [409, 409]
    finally:
        d("unpause", name)
    d("kill", name)
    d("wait", name)
    assert status(api.exec_create, name, ["true"]) == 409
    # the reference says 409; dockerd 20.10 has forgotten a stopped container's execs (404)
    assert {status(api.exec_start, eid, detach=detach) for detach in (False, True)} in ({404}, {409})


CASES = [(), ("-i",), ("-u", "nobody"), ("--user=1234:5678", "-w", "/tmp"), ("-e", "A=1", "-e", "HOME=/x", "-e", "B"),
         ("--privileged",)]


def test_an_api_exec_is_the_cli_s(api, dy, busybox):
    """The same process (identity, capabilities, seccomp, cgroups, namespaces, limits, env,
    stdin) and bytes through the docker CLI over the API as through `dockyard exec`, with and
    without a TTY; the same codes for a command that cannot start."""
    dy("run", "-d", "--name", "box", "-h", "boxhost", "-e", "A=0", "busybox", "sleep", "300")
    dy("run", "-d", "--name", "tight", "--cap-drop", "ALL", "--cap-add", "NET_RAW", "--cap-add", "SETUID",
       "--security-opt", "no-new-privileges", "--ulimit", "nofile=100:200", "--network", "none",
       "busybox", "sleep", "300")

    def both(*args: str) -> tuple[tuple, tuple]:
        runs = []
        for argv, env in (([DOCKYARD, "exec", *args], dy.env), ([DOCKER, "exec", *args], api.env)):
            p = subprocess.run(argv, env={**env, "B": "from-caller"}, input=b"fed\n", capture_output=True, timeout=60)
            runs.append((p.returncode, p.stdout, p.stderr))
        return runs[0], runs[1]

    for container in ("box", "tight"):
        for options in CASES:
            cli, through_api = both(*options, container, "sh", "-c", PROCESS)
            assert cli == through_api and cli[0] == 0, (options, container)
    cli, through_api = both("-t", "box", "sh", "-c", "tty; echo out; echo err >&2; exit 4")
    assert cli == through_api and cli[:2] == (4, b"/dev/pts/0\r\nout\r\nerr\r\n")
    for args in (("box", "nope"), ("box", "/etc"), ("-w", "/nonexist", "box", "pwd"), ("-u", "ghost", "box", "true"),
                 ("box", "sh", "-c", "kill -9 $$")):
        cli, through_api = both(*args)
        assert cli[0] == through_api[0] and cli[0] in (126, 127, 137), args


def test_a_tty_exec_starts_at_its_console_size(api, busybox):
    """ConsoleSize (API 1.42+: the docker CLI sends its terminal's) sizes the pty before the
    command runs: the start's, else the create's."""
    api.docker("run", "-d", "--name", "box", "busybox", "sleep", "300")

    def size(create: dict, start: dict) -> bytes:
        status, body = http(api.sock, "POST", "/v1.47/containers/box/exec",
                            {"Cmd": ["stty", "size"], "Tty": True, "AttachStdout": True, **create})
        assert status == 201, body
        status, out = http(api.sock, "POST", f"/v1.47/exec/{json.loads(body)['Id']}/start", {"Tty": True, **start})
        assert status == 200
        return out

    assert size({"ConsoleSize": [40, 120]}, {}) == b"40 120\r\n"
    assert size({"ConsoleSize": [40, 120]}, {"ConsoleSize": [50, 130]}) == b"50 130\r\n"


def test_another_runtime_s_execs_too(api, busybox):
    """A runc container's execs are started by `dockyard-shim exec` too (as its health probes):
    a terminal, the container's identity and filter, and a detached exec's end with exec_die."""
    api.docker("run", "-d", "--name", "viarunc", "--runtime", "runc", "--cap-drop", "ALL", "--cap-add", "CHOWN",
               "busybox", "sleep", "300")
    assert api.docker("exec", "-t", "viarunc", "tty").out == "/dev/pts/0\n"  # (text mode)
    status = api.docker("exec", "viarunc", "grep", "-E", "^(CapEff|Seccomp):", "/proc/self/status").out
    assert status == "CapEff:\t0000000000000001\nSeccomp:\t2\n"
    client = api.client().api
    eid = client.exec_create("viarunc", ["sh", "-c", "exit 6"])["Id"]
    client.exec_start(eid, detach=True)
    assert wait_for(lambda: (lambda i: not i["Running"] and i)(client.exec_inspect(eid)), what="its end")["ExitCode"] == 6
    events = client.events(since=0, until=time.time() + 1, decode=True, filters={"event": "exec_die", "container": "viarunc"})
    assert [e["Actor"]["Attributes"]["exitCode"] for e in events if e["Actor"]["Attributes"]["execID"] == eid] == ["6"]
