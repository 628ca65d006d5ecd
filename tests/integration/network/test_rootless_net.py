"""Rootless networking (dockyard.network.rootless) as a throwaway ordinary user with subordinate
ids: a stand-in pause process (`unshare --user --map-root-user --map-auto --net --mount`, ids
mapped through newuidmap from /etc/subuid), pasta attached to it, the engine's own network
service inside its namespaces, published ports answering on the host, and nothing left after."""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.helpers.users import reachable_by_all
from tests.helpers.waiting import wait_for

pytestmark = pytest.mark.root
INSIDE = str(Path(__file__).with_name("rootless_inside.py"))
PYTHON = sys.executable
SETPRIV = shutil.which("setpriv") or "/usr/bin/setpriv"
USER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # sbin: as the core's join puts it


@dataclass
class User:
    name: str
    uid: int
    gid: int
    dir: Path    # its runtime dir: the "root" and run dir of these tests

    def argv(self, *cmd: str) -> list[str]:
        return [SETPRIV, f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups", "--", *cmd]

    def run(self, *cmd: str, path: str | None = None, check: bool = True, timeout: float = 60):
        env = {"PATH": path or USER_PATH, "HOME": str(self.dir), "LANG": "C.UTF-8",
               "PYTHONPATH": str(Path(INSIDE).parents[3])}
        p = subprocess.run(self.argv(*cmd), capture_output=True, text=True, env=env, cwd=self.dir, timeout=timeout)
        if check and p.returncode:
            raise AssertionError(f"{cmd} exited {p.returncode}: {p.stderr.strip()}")
        return p

    def processes(self) -> list[str]:
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if os.stat(f"/proc/{pid}").st_uid == self.uid and " Z " not in Path(f"/proc/{pid}/stat").read_text():
                    found.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
            except OSError:
                pass
        return found


@pytest.fixture(scope="module")
def user():
    if not shutil.which("pasta"):
        pytest.fail("pasta is missing: scripts/setup.sh installs Debian's passt")
    reachable_by_all(PYTHON)
    reachable_by_all(INSIDE)
    name = "dyrn" + secrets.token_hex(3)
    subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/sh", "-K", "SUB_UID_COUNT=0",
                    "-K", "SUB_GID_COUNT=0", name], check=True, capture_output=True)
    entry = pwd.getpwnam(name)
    start = 1_200_000_000 + (entry.pw_uid % 10_000) * 65536  # away from useradd's and the core's tests' ranges
    ids = f"{start}-{start + 65535}"
    subprocess.run(["usermod", "--add-subuids", ids, "--add-subgids", ids, name], check=True, capture_output=True)
    d = Path(tempfile.mkdtemp(prefix=f"{name}-", dir="/run"))  # its runtime dir (never a stale /run/user/UID)
    os.chown(d, entry.pw_uid, entry.pw_gid)
    u = User(name, entry.pw_uid, entry.pw_gid, d)
    try:
        yield u
    finally:
        for pid in filter(str.isdigit, os.listdir("/proc")):  # only this throwaway user's
            try:
                if os.stat(f"/proc/{pid}").st_uid == u.uid:
                    os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
        wait_for(lambda: not u.processes(), 30, f"{name}'s processes to end")
        subprocess.run(["userdel", name], check=True, capture_output=True)
        shutil.rmtree(d)
        for path in ("/etc/subuid", "/etc/subgid"):
            assert not any(line.startswith(name + ":") for line in Path(path).read_text().splitlines())


class Pause:
    """The stand-in pause process: user (newuidmap'd), mount and network namespaces, its own /sys."""

    def __init__(self, user: User) -> None:
        self.user = user
        self.proc = subprocess.Popen(user.argv("unshare", "--user", "--map-root-user", "--map-auto", "--net",
                                               "--mount", "sh", "-c",
                                               "mount -t sysfs sysfs /sys && ip link set lo up && touch up && "
                                               "exec sleep 100000"),
                                     cwd=user.dir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        self.pid = self.proc.pid
        wait_for(lambda: (user.dir / "up").exists() or self.proc.poll() is not None, 30, "the pause process")
        (user.dir / "up").unlink()
        assert self.proc.poll() is None

    def inside(self, *cmd: str, check: bool = True):
        return self.user.run("nsenter", "-t", str(self.pid), "-U", "-m", "-n", "--preserve-credentials", *cmd,
                             check=check)

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def start_outside(user: User, pause: Pause, run: Path, path: str | None = None, check: bool = True):
    return user.run(PYTHON, "-c", "import sys; from dockyard.network import rootless; "
                    "rootless.start_outside(int(sys.argv[1]), sys.argv[2])", str(pause.pid), str(run),
                    path=path, check=check)


def stop_outside(user: User, run: Path) -> None:
    user.run(PYTHON, "-c", "import sys; from dockyard.network import rootless; "
             "rootless.stop(rootless.Outside(sys.argv[1]))", str(run))


def host_server(host: str = "127.0.0.1") -> ThreadingHTTPServer:
    class Hello(BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"hello from the host\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer((host, 0), Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def get(host: str, port: int) -> str | None:
    try:
        with socket.create_connection((host, port), timeout=20) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        return data.decode(errors="replace")
    except OSError:
        return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def host_address() -> str:
    """The host's address on its default route's interface (pasta's namespace gets the same)."""
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True).stdout
    return out.split()[3].split("/")[0]


def running(pid: int) -> bool:
    """Alive and no zombie (this host's init may reap its adopted children late)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in "ZX"
    except OSError:
        return False


def link_pids(run: Path) -> list[int]:
    return [int(p.read_text().split()[0]) for p in run.glob("rootless-net/*.pid")]


@pytest.fixture(scope="module")
def world(user):
    """Pause process, pasta and forwarder, and the engine's user network "rn" with c1 (httpd on
    port 80, published on a free host port) and c2."""
    pause = Pause(user)
    httpd = None
    try:
        start_outside(user, pause, user.dir / "run")
        port = free_port()
        state = json.loads(pause.inside(PYTHON, INSIDE, "up", str(user.dir), str(port)).stdout)
        www = user.dir / "www"
        www.mkdir()
        (www / "index.html").write_text("hello from c1\n")
        os.chown(www, user.uid, user.gid)
        httpd = subprocess.Popen(user.argv(*in_c_argv(pause, state["c1"]["netns"], "busybox", "httpd", "-f", "-p", "80",
                                                      "-h", str(www))), stdin=subprocess.DEVNULL)
        wait_for(lambda: "hello from c1" in (get("127.0.0.1", port) or ""), 30, "c1's published port")
        yield pause, state, port
        httpd.kill()
        httpd.wait()
        pause.inside(PYTHON, INSIDE, "down", str(user.dir))
        stop_outside(user, user.dir / "run")
        assert not any(" pasta " in p or "rootless.forwarder" in p for p in user.processes())
        assert not (user.dir / "run" / "rootless-net").exists()
    finally:
        if httpd is not None and httpd.poll() is None:
            httpd.kill()
            httpd.wait()
        pause.stop()


def in_c_argv(pause: Pause, netns: str, *cmd: str) -> list[str]:
    """A command in a container's network namespace (pinned in the pause process's mount
    namespace, so entered from inside it)."""
    return ["nsenter", "-t", str(pause.pid), "-U", "-m", "--preserve-credentials", "nsenter", f"--net={netns}", *cmd]


def in_c(pause: Pause, netns: str, *cmd: str, check: bool = True):
    return pause.user.run(*in_c_argv(pause, netns, *cmd), check=check)


def test_containers_reach_the_outside_and_each_other_by_name(world):
    pause, state, _ = world
    server = host_server()  # on the host's loopback: pasta's gateway address leads there
    try:
        gateway = pause.inside("ip", "-4", "route", "show", "default").stdout.split()[2]
        out = in_c(pause, state["c2"]["netns"], "busybox", "wget", "-q", "-O-",
                   f"http://{gateway}:{server.server_address[1]}/").stdout
        assert out == "hello from the host\n"
    finally:
        server.shutdown()
        server.server_close()
    out = in_c(pause, state["c2"]["netns"], "busybox", "nslookup", "c1", state["c2"]["gateway"]).stdout
    assert state["c1"]["ip"] in out
    # pasta answers DNS at its forwarding address with the host's own resolver (any answer will do:
    # this host may know no names at all)
    out = pause.inside("busybox", "nslookup", "example.com", "169.254.1.1", check=False).stdout
    assert "Server:\t\t169.254.1.1" in out and "timed out" not in out and "no servers" not in out


def test_published_port_answers_on_every_host_address_and_goes_when_unpublished(world, user):
    pause, state, port = world
    for host in ("127.0.0.1", host_address()):
        assert "hello from c1" in get(host, port)
    one = free_port()
    pause.inside(PYTHON, INSIDE, "publish", str(user.dir), "127.0.0.1", str(one), state["c1"]["ip"], "80")
    assert "hello from c1" in get("127.0.0.1", one)
    assert get(host_address(), one) is None  # only on the address asked for
    pause.inside(PYTHON, INSIDE, "unpublish", str(user.dir), "127.0.0.1", str(one))
    assert get("127.0.0.1", one) is None
    # a container's ports come with its network and go with it
    other = free_port()
    out = json.loads(pause.inside(PYTHON, INSIDE, "attach", str(user.dir), "c4", str(other)).stdout)
    assert out == {"attached": True, "published": sorted([port, other])}
    pause.inside(PYTHON, INSIDE, "detach", str(user.dir), "c4")
    assert get("127.0.0.1", other) is None


def test_published_udp_port_answers_each_client(world, user):
    pause, state, _ = world
    echo = subprocess.Popen(user.argv(*in_c_argv(
        pause, state["c1"]["netns"], PYTHON, "-c",
        "import socket, sys; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 5353)); "
        "print(flush=True)\nwhile True: data, peer = s.recvfrom(2048); s.sendto(data.upper(), peer)")),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    try:
        assert echo.stdout.readline() == b"\n"  # bound
        port = free_port()
        pause.inside(PYTHON, INSIDE, "publish", str(user.dir), "", str(port), state["c1"]["ip"], "5353", "udp")
        for word in (b"one", b"two"):  # two clients, each answered at its own address
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(20)
                s.sendto(word, ("127.0.0.1", port))
                assert s.recvfrom(2048)[0] == word.upper()
        pause.inside(PYTHON, INSIDE, "unpublish", str(user.dir), "", str(port), "udp")
    finally:
        echo.kill()
        echo.wait()


def test_low_ports_and_taken_ports_are_refused_in_one_line(world, user):
    pause, state, port = world
    start = int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    if start > 80:
        p = pause.inside(PYTHON, INSIDE, "publish", str(user.dir), "", "80", state["c1"]["ip"], "80", check=False)
        assert p.returncode == 125
        assert len(p.stderr.splitlines()) == 1 and "net.ipv4.ip_unprivileged_port_start" in p.stderr
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = held.getsockname()[1]
        p = pause.inside(PYTHON, INSIDE, "publish", str(user.dir), "127.0.0.1", str(taken), state["c1"]["ip"], "80",
                         check=False)
        assert p.returncode == 125
        assert p.stderr == f"Bind for 127.0.0.1:{taken} failed: port is already allocated\n"
        # a container asking for it fails in that line, its network undone, the other ports kept
        p = pause.inside(PYTHON, INSIDE, "attach", str(user.dir), "c3", str(taken), check=False)
    assert p.returncode == 125 and "port is already allocated" in p.stderr
    assert json.loads(p.stdout) == {"attached": False, "published": [port]}


def test_everything_goes_with_the_pause_process_or_the_forwarder(user):
    pause = Pause(user)
    run = user.dir / "run-pause-gone"
    start_outside(user, pause, run)
    pids = link_pids(run)
    assert len(pids) == 2  # the forwarder and pasta
    pause.stop()
    # the next pause process, made at once, gets a helper of its own (not the one still ending)
    again = Pause(user)
    try:
        start_outside(user, again, run)
        wait_for(lambda: not any(running(pid) for pid in pids), 30, "pasta and the forwarder to end")
        forwarder = int((run / "rootless-net" / "forwarder.pid").read_text())
        assert Path(f"/proc/{forwarder}/cmdline").read_bytes().split(b"\0")[-3] == str(again.pid).encode()
        pids = link_pids(run)
        assert len(pids) == 2
        # a forwarder killed outright takes pasta with it; stop() then clears its files
        os.kill(forwarder, signal.SIGKILL)
        wait_for(lambda: not any(running(pid) for pid in pids), 30, "pasta to end with its forwarder")
        stop_outside(user, run)
        assert not (run / "rootless-net").exists()
    finally:
        again.stop()


def test_slirp4netns_where_pasta_is_missing_and_one_line_without_either(user):
    tools = user.dir / "bin-without-pasta"  # not pytest's tmp_path: other roots' pytest runs prune it
    tools.mkdir()
    os.symlink(shutil.which("slirp4netns"), tools / "slirp4netns")
    pause = Pause(user)
    run = user.dir / "run-slirp"
    server = host_server()
    try:
        start_outside(user, pause, run, path=f"{tools}")
        assert (run / "rootless-net" / "slirp4netns.pid").exists()
        # slirp4netns's 10.0.2.2 is the host's loopback
        out = pause.inside("busybox", "wget", "-q", "-O-", f"http://10.0.2.2:{server.server_address[1]}/")
        assert out.stdout == "hello from the host\n"
        stop_outside(user, run)
        assert not any("slirp4netns" in p for p in user.processes()) and not (run / "rootless-net").exists()
        (tools / "slirp4netns").unlink()
        p = start_outside(user, pause, run, path=f"{tools}", check=False)
        assert p.returncode == 1 and p.stderr.strip().splitlines()[-1].endswith("install Debian's passt package")
    finally:
        server.shutdown()
        server.server_close()
        pause.stop()


def test_a_link_that_fails_to_start_is_tried_again_then_named_in_one_line(user):
    """A pasta that fails its first two starts (a real process, exiting with a message) is
    started a third time; one that always fails gives one line naming pasta and its stderr."""
    tools = user.dir / "bin-flaky-pasta"
    tools.mkdir()
    tries = user.dir / "pasta-tries"
    pasta = tools / "pasta"
    pause = Pause(user)
    run = user.dir / "run-flaky"
    try:
        for fails, works in ((2, True), (99, False)):
            tries.write_text("")
            os.chown(tries, user.uid, user.gid)
            pasta.write_text(f"#!/bin/sh\necho x >> {tries}\n"
                             f"[ $(wc -l < {tries}) -gt {fails} ] && exec {shutil.which('pasta')} \"$@\"\n"
                             "echo 'No routable interface for IPv4: IPv4 is disabled' >&2; exit 1\n")
            pasta.chmod(0o755)
            p = start_outside(user, pause, run, path=f"{tools}:{USER_PATH}", check=False)
            assert len(tries.read_text().splitlines()) == 3
            if works:
                assert p.returncode == 0, p.stderr
                stop_outside(user, run)
            else:
                assert p.returncode == 1
                assert p.stderr.strip().splitlines()[-1].endswith(  # the DockyardError's line, as the CLI prints it
                    "cannot set up rootless networking: pasta failed to set up the rootless network namespace: "
                    "No routable interface for IPv4: IPv4 is disabled")
                assert not (run / "rootless-net" / "forwarder.pid").exists()
    finally:
        pause.stop()
