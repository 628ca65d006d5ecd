"""An ordinary user runs dockyard with no root anywhere: the flows of issue #21, as a throwaway
user (conftest.py), against the user's default XDG root and run dir."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import tarfile
from pathlib import Path

import httpx
import pytest

from tests.conftest import DOCKYARD, VENV_BIN
from tests.integration.distribution.distribution_support import free_port, _wait_http
from tests.helpers.waiting import wait_for
from tests.integration.rootless.conftest import container_processes, make_user, remove_user, uid_processes

pytestmark = pytest.mark.root
COMPOSE = str(VENV_BIN / "docker-compose")


@pytest.fixture(scope="module")
def image(user) -> str:
    """busybox, bootstrapped by the user into their default root."""
    user.dockyard("image", "bootstrap", "busybox")
    return "busybox"


def one_line_error(res) -> str:
    assert res.code == 125, res
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.err, res.err
    return lines[0]


def test_defaults_are_the_users_xdg_directories(user, image):
    data = user.home / ".local" / "share" / "dockyard"
    assert (data / "dockyard.db").exists()
    assert os.stat(data).st_uid == user.uid
    pid = user.pause_pid()
    assert pid and os.stat(f"/proc/{pid}").st_uid == user.uid
    # the pause process's user namespace: the user is root inside, the subordinate range 1..65536
    uid_map = Path(f"/proc/{pid}/uid_map").read_text().split()
    assert uid_map[:3] == ["0", str(user.uid), "1"] and uid_map[4:] == [str(1_000_000_000 + (user.uid % 10_000) * 65536), "65536"]
    # its network namespace was made once the ids were mapped: its /proc/net files (conntrack's
    # table, read at each container's exit) belong to the user's root, not to the host's
    assert os.stat(f"/proc/{pid}/net/dev").st_uid == user.uid


def test_bad_setups_get_one_line_errors(user, bare_user):
    line = one_line_error(user.dockyard("images", env=user.env(XDG_RUNTIME_DIR=None), check=False))
    assert "XDG_RUNTIME_DIR" in line
    assert "dockyard version" in bare_user.dockyard("--version", env=bare_user.env(XDG_RUNTIME_DIR=None)).out
    line = one_line_error(bare_user.dockyard("images", env=bare_user.env(PATH="/nonexistent"), check=False))
    assert "newuidmap" in line and "apt install uidmap" in line
    line = one_line_error(bare_user.dockyard("images", check=False))
    assert "/etc/subuid" in line and "usermod --add-subuids" in line and bare_user.name in line
    assert not (bare_user.runtime_dir / "dockyard" / "pause.pid").exists()


def test_container_lifecycle(user, image):
    cid = user.dockyard("run", "-d", "--name", "web", image, "sh", "-c",
                        "sleep 1001 & echo started; exec sleep 1000").out.strip()
    assert user.dockyard("exec", "web", "id", "-u").out.strip() == "0"
    for path in ((), ("--log-level", "info")):  # the quick and the full path: both by `dockyard-shim exec`
        clicked = user.dockyard(*path, "exec", "web", "true", env=user.env(PYTHONPROFILEIMPORTTIME="1")).err
        assert (" click\n" in clicked) == bool(path)
        assert user.dockyard(*path, "exec", "-t", "-u", "nobody", "web", "sh", "-c", "tty; id -u").out == \
            "/dev/pts/0\n65534\n"  # (text mode: \r\n read as \n)
        assert user.dockyard(*path, "exec", "-i", "web", "cat", input="fed").out == "fed"
        assert user.dockyard(*path, "exec", "web", "sh", "-c", "exit 3", check=False).code == 3
        assert user.dockyard(*path, "exec", "-d", "web", "sleep", "5").out == ""
    wait_for(lambda: "started" in user.dockyard("logs", "web").out, what="the container's first log line")
    # no cgroup: the container's processes are those of its pid namespace
    top = user.dockyard("top", "web").out
    assert "sleep 1000" in top and "sleep 1001" in top
    pid = json.loads(user.dockyard("inspect", "web").out)[0]["State"]["Pid"]
    # on the host, the container's root is the user
    assert Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0] == b"sleep"
    assert os.stat(f"/proc/{pid}").st_uid == user.uid
    assert pid in uid_processes(user.uid)
    user.dockyard("stop", "-t", "1", "web")
    user.dockyard("commit", "web", "committed:1")
    user.dockyard("rm", "web")
    wait_for(lambda: not container_processes(user), what="only the pause process and the network helper to stay")
    assert not [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if cid[:12] in line]
    assert user.dockyard("run", "--rm", "committed:1", "echo", "ok").out == "ok\n"

    archive = str(user.home / "images.tar")
    user.dockyard("save", "-o", archive, "committed:1")
    user.dockyard("rmi", "committed:1")
    assert "Loaded image: committed:1" in user.dockyard("load", "-i", archive).out
    user.dockyard("rmi", "committed:1")


def test_bind_mount_files_belong_to_the_user_and_host_root_files_stay_out_of_reach(user, image):
    data = user.home / "data"
    user.run("mkdir", str(data))
    user.dockyard("run", "--rm", "-v", f"{data}:/data", image, "sh", "-c", "echo x > /data/f && mkdir /data/d")
    for name in ("f", "d"):
        st = os.stat(data / name)
        assert (st.st_uid, st.st_gid) == (user.uid, user.gid)
    # the container's root is not the host's: a root-owned host directory refuses it
    res = user.dockyard("run", "--rm", "-v", "/etc:/hostetc", image, "touch", "/hostetc/dockyard-rootless-test",
                        check=False)
    assert res.code == 1 and "Permission denied" in res.err
    assert not Path("/etc/dockyard-rootless-test").exists()


def test_limits_need_cgroup_delegation(user, image):
    for flag, value in (("--memory", "64m"), ("--cpus", "0.5"), ("--pids-limit", "10")):
        line = one_line_error(user.dockyard("run", "--rm", flag, value, image, "true", check=False))
        assert flag in line and "cgroup v2" in line and "delegated" in line
    assert user.dockyard("ps", "-aq").out == ""
    assert user.dockyard("info", "--format", "{{.CgroupDriver}}").out.strip() == "none"


def test_user_network_dns(user, image):
    user.dockyard("network", "create", "rlnet")
    try:
        user.dockyard("run", "-d", "--name", "one", "--network", "rlnet", image, "sleep", "1000")
        out = user.dockyard("run", "--rm", "--name", "two", "--network", "rlnet", image, "ping", "-c1", "-W5", "one").out
        assert "1 packets received" in out
        # the bridge lives in the user's network namespace, not the host's
        assert not [n for n in os.listdir("/sys/class/net") if "rlnet" in n]
    finally:
        user.dockyard("rm", "-f", "one", check=False)
        user.dockyard("network", "rm", "rlnet")


def test_image_built_rootless_pushed_and_pulled_rootful_runs_the_same(user, image, dy, tmp_path):
    context = user.home / "ctx"
    user.run("mkdir", str(context))
    user.run("sh", "-c", f"cat > {context}/Dockerfile", input=(
        "FROM busybox\n"
        "RUN mkdir -p /d/sub && echo a > /d/a\n"
        # owners kept as they are inside the namespace; a directory replaced whole (an opaque one)
        "RUN echo hi > /owned && chown 123:456 /owned && chmod 4755 /owned && mkdir /srv && chown 1000:1000 /srv"
        " && rm -rf /d && mkdir /d && echo b > /d/b\n"
        "USER 1000\nCMD [\"sh\", \"-c\", \"stat -c '%u:%g %a' /owned /srv; ls -R /d; id -u\"]\n"))
    user.dockyard("build", "-q", "-t", "rlbuilt", str(context))
    rootless_out = user.dockyard("run", "--rm", "rlbuilt").out
    assert rootless_out == "123:456 4755\n1000:1000 755\n/d:\nb\n1000\n"

    port = free_port()
    # the registry runs as the user too, on the host's loopback
    log = tmp_path / "registry.log"
    with open(log, "wb") as out:
        registry = user.popen(DOCKYARD, "registry", "serve", "--addr", f"127.0.0.1:{port}",
                              "--root", str(user.home / "registry"), stdout=out, stderr=out)
    try:
        _wait_http(f"http://127.0.0.1:{port}/v2/", registry, log)
        ref = f"127.0.0.1:{port}/rl/built:1"
        user.dockyard("tag", "rlbuilt", ref)
        user.dockyard("push", ref)
        dy("pull", ref)
        user.dockyard("rmi", ref, "rlbuilt")
        user.dockyard("pull", ref)  # and a pull as the user, its layers unpacked again
    finally:
        registry.terminate()
        registry.wait(10)
    assert dy("image", "inspect", "-f", "{{.Id}}", ref).out == user.dockyard("image", "inspect", "-f", "{{.Id}}", ref).out
    assert dy("run", "--rm", "--network", "none", ref).out == rootless_out
    assert user.dockyard("run", "--rm", ref).out == rootless_out
    user.dockyard("rmi", ref)
    assert user.dockyard("system", "check").out.rstrip().endswith("store is clean")


def test_serve_answers_the_docker_cli_on_the_users_socket(user, image, tmp_path):
    sock = user.runtime_dir / "dockyard.sock"
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        server = user.popen(DOCKYARD, "serve", stdout=out, stderr=out)
    try:
        wait_for(lambda: sock.is_socket() or server.poll() is not None, what="the API socket")
        assert server.poll() is None, log.read_text()
        assert (os.stat(sock).st_uid, os.stat(sock).st_mode & 0o777) == (user.uid, 0o660)
        docker = ("docker", "-H", f"unix://{sock}")
        assert user.run(*docker, "run", "--rm", image, "echo", "hi").out == "hi\n"
        options, driver = user.run(*docker, "info", "--format", "{{json .SecurityOptions}} {{.CgroupDriver}}").out.split()
        assert "name=rootless" in options and driver == "none"  # no cgroups delegated to this user
        # compose: a project network whose services find each other by name
        project = user.home / "proj"
        user.run("mkdir", str(project))
        user.run("sh", "-c", f"cat > {project}/compose.yaml", input=(
            f"services:\n  web:\n    image: {image}\n    command: sleep 1000\n"
            f"  client:\n    image: {image}\n    command: ping -c1 -W5 web\n    depends_on: [web]\n"))
        compose = (COMPOSE, "--project-directory", str(project), "-p", "rl")
        env = user.env(DOCKER_HOST=f"unix://{sock}")
        try:
            user.run(*compose, "up", "-d", "web", env=env)
            assert "1 packets received" in user.run(*compose, "run", "--rm", "client", env=env).out
        finally:
            user.run(*compose, "down", "-t", "1", env=env)
    finally:
        server.terminate()
        server.wait(10)


def layer_tar(path: Path, owner: int, *extra: tarfile.TarInfo) -> None:
    with tarfile.open(path, "w") as tar:
        data = b"#!/bin/sh\necho ok\n"
        info = tarfile.TarInfo("f")
        info.size, info.mode, info.uid, info.gid = len(data), 0o755, owner, owner
        tar.addfile(info, io.BytesIO(data))
        for member in extra:
            tar.addfile(member)


def test_layers_with_devices_load_without_them_and_unmapped_owners_are_refused(user, image):
    device = tarfile.TarInfo("null")
    device.type, device.devmajor, device.devminor = tarfile.CHRTYPE, 1, 3
    tar = user.home / "devices.tar"
    layer_tar(tar, user.uid, device)
    os.chown(tar, user.uid, user.gid)
    user.dockyard("import", str(tar), "rl-devices")  # as Docker's rootless mode: the node is left out
    user.dockyard("rmi", "rl-devices")
    layer_tar(tar, 70000)
    os.chown(tar, user.uid, user.gid)
    line = one_line_error(user.dockyard("import", str(tar), "rl-unmapped", check=False))
    assert "70000:70000" in line and "/etc/subuid" in line
    assert "rl-unmapped" not in user.dockyard("images").out


def test_the_hub_serves_as_the_user_from_their_data_home(user, tmp_path):
    port = free_port()
    log = tmp_path / "hub.log"
    with open(log, "wb") as out:
        hub = user.popen(DOCKYARD, "hub", "serve", "--addr", f"127.0.0.1:{port}", stdout=out, stderr=out)
    try:
        _wait_http(f"http://127.0.0.1:{port}/v2/", hub, log)
        assert httpx.get(f"http://127.0.0.1:{port}/").status_code == 200
    finally:
        hub.terminate()
        hub.wait(10)
    state = user.home / ".local" / "share" / "dockyard-hub"
    assert state.is_dir() and os.stat(state).st_uid == user.uid


def test_first_commands_at_once_share_one_pause_process():
    fresh = make_user()
    try:
        procs = [fresh.popen(DOCKYARD, "images", "-q", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for _ in range(3)]
        for p in procs:
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0, err
        pauses = [pid for pid in uid_processes(fresh.uid)
                  if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"/usr/bin/catatonit")]
        assert pauses == [fresh.pause_pid()] and not container_processes(fresh)
    finally:
        remove_user(fresh)


def test_published_port_answers_on_the_host(user, image):
    port = free_port()
    user.dockyard("run", "-d", "--name", "webp", "-p", f"{port}:80", image, "httpd", "-f", "-p", "80", "-h", "/etc")
    try:
        response = wait_for(lambda: _get(f"http://127.0.0.1:{port}/hostname"), what="the published port")
        assert response.status_code == 200
    finally:
        user.dockyard("rm", "-f", "webp")
    with socket.socket() as s:  # the host port is free again (for a server: the closed connection may linger)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen()
    line = one_line_error(user.dockyard("run", "-d", "--name", "low", "-p", "80:80", image, "true", check=False))
    assert "ip_unprivileged_port_start" in line
    user.dockyard("rm", "-f", "low", check=False)


def _get(url: str):
    try:
        return httpx.get(url, timeout=2)
    except httpx.TransportError:
        return None


def test_a_dead_network_helper_is_started_again(user, image):
    """pasta killed: the forwarder starts it again; the forwarder killed (pasta goes with it): the
    next command starts a new helper, which gets the running containers' ports back."""
    helper = user.runtime_dir / "dockyard" / "rootless-net"

    def pid(name: str) -> int | None:
        try:
            return int((helper / f"{name}.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def alive(p: int | None) -> bool:
        """Still the helper's process (pasta, or the forwarder), no zombie: pid files outlive a kill."""
        try:
            argv = Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")
            return p is not None and " Z " not in Path(f"/proc/{p}/stat").read_text() and (
                os.path.basename(argv[0]) == b"pasta" or b"dockyard.network.rootless.forwarder" in argv)
        except OSError:
            return False

    def default_route() -> bool:  # in the rootless netns: pasta's, gone with its tap device
        rows = Path(f"/proc/{user.pause_pid()}/net/route").read_text().splitlines()[1:]
        return any(row.split()[1] == "00000000" for row in rows)

    first, second = free_port(), free_port()
    user.dockyard("run", "-d", "--name", "web1", "-p", f"{first}:80", image, "httpd", "-f", "-p", "80", "-h", "/etc")
    try:
        wait_for(lambda: _get(f"http://127.0.0.1:{first}/hostname"), what="the first published port")
        pasta = pid("pasta")
        assert alive(pasta) and default_route()
        os.kill(pasta, signal.SIGKILL)
        wait_for(lambda: alive(pid("pasta")) and pid("pasta") != pasta and default_route(),
                 what="the forwarder to start pasta again")

        forwarder = pid("forwarder")
        os.kill(forwarder, signal.SIGKILL)
        wait_for(lambda: not alive(forwarder) and not alive(pid("pasta")), what="the helper to be gone")
        assert _get(f"http://127.0.0.1:{first}/hostname") is None
        user.dockyard("run", "-d", "--name", "web2", "-p", f"{second}:80", image, "httpd", "-f", "-p", "80", "-h", "/etc")
        assert alive(pid("forwarder")) and pid("forwarder") != forwarder and default_route()
        for port in (second, first):
            wait_for(lambda: _get(f"http://127.0.0.1:{port}/hostname"), what=f"port {port} to answer again")
    finally:
        user.dockyard("rm", "-f", "web1", "web2", check=False)


def test_a_random_host_port_is_one_free_on_the_host(user, image):
    """`-p 80` picks its host port on the host: the rootless netns's own ephemeral range is
    narrowed to a single port that a host process holds, so a pick made there would collide."""
    def ns_range(value: str | None = None) -> str:
        path = "/proc/sys/net/ipv4/ip_local_port_range"
        script = f"echo '{value}' > {path}" if value else f"cat {path}"
        return user.run("nsenter", "-t", str(user.pause_pid()), "-U", "-n", "--preserve-credentials",
                        "sh", "-c", script).out.strip()

    user.dockyard("images", "-q")  # the pause process runs
    with socket.socket() as held:
        held.bind(("0.0.0.0", 0))
        held.listen()
        taken = held.getsockname()[1]
        saved = ns_range()
        ns_range(f"{taken} {taken}")
        try:
            user.dockyard("run", "-d", "--name", "rnd", "-p", "80", image, "httpd", "-f", "-p", "80", "-h", "/etc")
            host_port = int(user.dockyard("port", "rnd", "80/tcp").out.split("\n")[0].rpartition(":")[2])
            assert host_port != taken
            response = wait_for(lambda: _get(f"http://127.0.0.1:{host_port}/hostname"), what="the random host port")
            assert response.status_code == 200
        finally:
            ns_range(saved.replace("\t", " "))
            user.dockyard("rm", "-f", "rnd", check=False)


def test_info_says_when_ping_beyond_the_users_network_cannot_work(user, image):
    low, high = (int(v) for v in Path("/proc/sys/net/ipv4/ping_group_range").read_text().split())
    err = user.dockyard("info").err
    line = f"needs gid {user.gid} in net.ipv4.ping_group_range: as root, sysctl -w"
    assert (line in err) == (not low <= user.gid <= high), err


def test_a_network_helper_that_cannot_start_is_named_once_with_its_error():
    """pasta failing every try at the pause process's start: one warning line naming pasta and
    what it said; later commands do not try again each time; `-p` fails in that line."""
    u = make_user()
    try:
        tools = u.home / "tools"
        u.run("mkdir", str(tools))
        u.run("sh", "-c", f"printf '#!/bin/sh\\necho x >> {tools}/tries\\necho \"No routable interface for IPv4\" >&2\\n"
                          f"exit 1\\n' > {tools}/pasta && chmod 755 {tools}/pasta")
        env = u.env(PATH=f"{tools}:{u.env()['PATH']}")
        said = "pasta failed to set up the rootless network namespace: No routable interface for IPv4"
        err = u.dockyard("image", "bootstrap", "busybox", env=env).err
        warnings = [line for line in err.splitlines() if said in line]
        assert len(warnings) == 1 and warnings[0].startswith("warning: containers will not reach beyond"), err
        assert (tools / "tries").read_text().count("x") == 3
        assert said not in u.dockyard("images", env=env).err
        assert (tools / "tries").read_text().count("x") == 3
        line = one_line_error(u.dockyard("run", "--rm", "-p", f"{free_port()}:80", "busybox", "true", env=env,
                                         check=False))
        assert line == f"Error: the rootless network helper is not running: cannot set up rootless networking: {said}"
        assert u.dockyard("run", "--rm", "busybox", "echo", "ok", env=env).out == "ok\n"  # the rest works
    finally:
        remove_user(u)


def test_health_probes_run(user, image):
    """The shim probes a rootless container as a rootful one (probe.c enters its pid namespace
    through a child: the engine may not enter it and come back); it used to abort."""
    user.dockyard("run", "-d", "--name", "probed", "--health-cmd", "test -e /ok", "--health-interval", "1s",
                  "--health-retries", "1", image, "sleep", "300")
    try:
        health = lambda: json.loads(user.dockyard("inspect", "probed").out)[0]["State"]  # noqa: E731
        assert wait_for(lambda: (health().get("Health") or {}).get("Status") == "unhealthy", what="a failed probe")
        user.dockyard("exec", "probed", "touch", "/ok")
        assert wait_for(lambda: health()["Health"]["Status"] == "healthy", what="a passed probe")
        assert health()["Running"]
    finally:
        user.dockyard("rm", "-f", "probed")
