"""The environment and groups Docker gives a container's process and its execs (HOSTNAME,
HOME, TERM, PATH; the user's groups and --group-add), through the docker CLI and docker-py."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.root

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def env_of(text: str) -> list[str]:
    """`env` output without the variables the shell itself sets."""
    return [line for line in text.replace("\r", "").splitlines() if line.split("=")[0] not in ("SHLVL", "PWD")]


def test_run_environment_is_dockers(api, busybox):
    cid = api.docker("create", "busybox", "env").out.strip()
    assert api.docker("start", "-a", cid).out.splitlines() == [DEFAULT_PATH, f"HOSTNAME={cid[:12]}", "HOME=/root"]
    assert api.docker("inspect", "-f", "{{.Config.Hostname}}", cid).out.strip() == cid[:12]
    out = api.docker("run", "--rm", "-t", "-u", "nobody", "-h", "box", "-e", "A=1", "busybox", "env").out
    assert env_of(out) == [DEFAULT_PATH, "HOSTNAME=box", "TERM=xterm", "A=1", "HOME=/home"]
    # a user without a passwd entry gets /; the caller's own values win
    assert "HOME=/\n" in api.docker("run", "--rm", "-u", "4242", "busybox", "env").out
    out = api.docker("run", "--rm", "-e", "HOME=/srv", "-e", "TERM=dumb", "-t", "busybox", "env").out
    assert "HOME=/srv" in env_of(out) and "TERM=dumb" in env_of(out)


def test_exec_environment_follows_the_execs_user_and_tty(api, busybox):
    api.docker("run", "-d", "--name", "ex", "-h", "ehost", "-e", "A=1", "-u", "nobody", "busybox", "sleep", "60")
    assert env_of(api.docker("exec", "ex", "env").out) == [DEFAULT_PATH, "HOSTNAME=ehost", "A=1", "HOME=/home"]
    out = api.docker("exec", "-t", "-u", "root", "-e", "B=2", "ex", "env").out
    assert env_of(out) == [DEFAULT_PATH, "HOSTNAME=ehost", "TERM=xterm", "A=1", "B=2", "HOME=/root"]
    r = api.docker("exec", "-u", "ghost", "ex", "true", check=False)
    # as dockerd: the create succeeds, the start fails in the exec's stream (the CLI's stdout), 126
    assert (r.code, r.out) == (126, "unable to find user ghost: no matching entries in passwd file\n")


def test_groups_from_etc_group_and_group_add(api, busybox):
    # root is listed in busybox's wheel group, as Docker shows
    assert api.docker("run", "--rm", "busybox", "id").out.strip() == \
        "uid=0(root) gid=0(root) groups=0(root),10(wheel)"
    out = api.docker("run", "--rm", "--group-add", "mail", "--group-add", "777", "-u", "nobody", "busybox", "id").out
    assert out.strip() == "uid=65534(nobody) gid=65534(nogroup) groups=12(mail),777,65534(nogroup)"
    # a user with no passwd entry still has its primary group in its list
    assert api.docker("run", "--rm", "-u", "4242", "busybox", "id").out.strip() == "uid=4242 gid=0(root) groups=0(root)"
    r = api.docker("run", "--rm", "--group-add", "ghosts", "busybox", "true", check=False)
    assert r.code != 0 and "unable to find group ghosts" in r.err
    api.docker("run", "-d", "--name", "gr", "--group-add", "mail", "busybox", "sleep", "60")
    assert api.docker("exec", "gr", "id").out.strip() == "uid=0(root) gid=0(root) groups=0(root),10(wheel),12(mail)"
    assert api.docker("exec", "-u", "nobody", "gr", "id", "-G").out.split() == ["65534", "12"]


def test_docker_py_exec_and_run_environment(api, busybox):
    client = api.client()
    out = client.containers.run("busybox", "env", user="nobody", group_add=["mail"], remove=True).decode()
    assert env_of(out)[-1] == "HOME=/home" and "HOSTNAME=" in out
    c = client.containers.run("busybox", "sleep 60", detach=True, hostname="py")
    try:
        code, out = c.exec_run("env", user="operator", environment={"X": "y"}, tty=True)
        assert code == 0
        assert env_of(out.decode()) == [DEFAULT_PATH, "HOSTNAME=py", "TERM=xterm", "X=y", "HOME=/var"]
        code, out = c.exec_run("id -G", user="www-data")
        assert (code, out.decode().split()) == (0, ["33"])
    finally:
        c.remove(force=True)
