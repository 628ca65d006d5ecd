"""Throwaway users for rootless tests: made with subordinate id ranges, removed with everything
they left, and a check that nothing of theirs outlives them (processes, mounts, files).

Commands run as the user through setpriv (which execs the command itself, so a Popen's pid is
the command's), with a login-like environment: HOME, USER, a PATH without the sbin directories,
and XDG_RUNTIME_DIR=/run/user/<uid> made as a login manager would (mode 0700, the user's).
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import DOCKYARD, Result
from tests.helpers.users import reachable_by_all
from tests.helpers.waiting import wait_for

USER_PATH = "/usr/local/bin:/usr/bin:/bin"
SETPRIV = shutil.which("setpriv") or "/usr/bin/setpriv"


@dataclass
class User:
    name: str
    uid: int
    gid: int
    home: Path
    runtime_dir: Path
    owned_before: set[str] = field(default_factory=set)  # files of an earlier holder of the uid
    running_before: set[int] = field(default_factory=set)  # and its processes: never ours to end

    def env(self, **changes: str | None) -> dict[str, str]:
        env = {"PATH": USER_PATH, "HOME": str(self.home), "USER": self.name, "LANG": "C.UTF-8",
               "XDG_RUNTIME_DIR": str(self.runtime_dir)}
        env.update(changes)
        return {k: v for k, v in env.items() if v is not None}

    def argv(self, *command: str) -> list[str]:
        return [SETPRIV, f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups", "--", *command]

    def run(self, *command: str, env: dict | None = None, check: bool = True, timeout: int = 120,
            input: str | None = None) -> Result:
        p = subprocess.run(self.argv(*command), capture_output=True, text=True, env=env or self.env(),
                           cwd=self.home, timeout=timeout, input=input)
        res = Result(p.returncode, p.stdout, p.stderr)
        if check and p.returncode != 0:
            raise AssertionError(f"{' '.join(command)} as {self.name} exited {p.returncode}\n"
                                 f"stdout: {p.stdout}\nstderr: {p.stderr}")
        return res

    def dockyard(self, *args: str, **kw) -> Result:
        return self.run(DOCKYARD, *args, **kw)

    def popen(self, *command: str, **kw) -> subprocess.Popen:
        return subprocess.Popen(self.argv(*command), env=self.env(), cwd=self.home, **kw)

    def pause_pid(self) -> int | None:
        try:
            return int((self.runtime_dir / "dockyard" / "pause.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None


def uid_processes(uid: int) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            status = Path(f"/proc/{name}/status").read_text()
        except OSError:
            continue
        uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
        if str(uid) in uids:
            found.append(int(name))
    return found


def container_processes(user: User) -> list[int]:
    """The user's processes but the pause process and the network helper (pasta, the forwarder):
    what running containers, their shims and dockyard commands are."""
    def helper(pid: int) -> bool:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return True  # gone
        return b"dockyard.network.rootless.forwarder" in argv or \
            os.path.basename(argv[0]).decode().startswith(("pasta", "slirp4netns"))
    return [pid for pid in uid_processes(user.uid) if pid != user.pause_pid() and not helper(pid)]


def make_user(subordinate_ids: bool = True) -> User:
    name = "dyrl" + secrets.token_hex(3)
    # no automatic ranges: the test says what the user gets
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", "-K", "SUB_UID_COUNT=0",
                    "-K", "SUB_GID_COUNT=0", name], check=True, capture_output=True)
    entry = pwd.getpwnam(name)
    if subordinate_ids:  # a range of its own, far from useradd's (which counts up from 100000)
        start = 1_000_000_000 + (entry.pw_uid % 10_000) * 65536
        ids = f"{start}-{start + 65535}"
        subprocess.run(["usermod", "--add-subuids", ids, "--add-subgids", ids, name], check=True, capture_output=True)
    # a uid is reused once its user is gone: what an earlier holder left is not this user's doing
    owned_before, running_before = owned_files(entry.pw_uid), set(uid_processes(entry.pw_uid))
    runtime_dir = Path(f"/run/user/{entry.pw_uid}")
    runtime_dir.mkdir(parents=True, mode=0o700)
    os.chown(runtime_dir, entry.pw_uid, entry.pw_gid)
    return User(name, entry.pw_uid, entry.pw_gid, Path(entry.pw_dir), runtime_dir, owned_before,
                running_before)


def remove_user(user: User) -> None:
    """Remove what a failed test left running, end the user's pause process, check nothing of
    theirs is left, delete the user and their dirs."""
    pid = user.pause_pid()
    if pid:
        left = user.dockyard("ps", "-aq", check=False).out.split()
        if left:
            user.dockyard("rm", "-f", *left, check=False)
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    def ours() -> list[int]:
        return [pid for pid in uid_processes(user.uid) if pid not in user.running_before]

    stray = []
    try:
        wait_for(lambda: not ours(), what=f"{user.name}'s processes to end")
    except AssertionError:
        stray = ours()
        for pid in stray:  # the user's (started by these tests): nothing may outlive the test run
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not ours(), what=f"{user.name}'s killed processes to end")
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
              if str(user.home) in line.split()[4] or str(user.runtime_dir) in line.split()[4]]
    subprocess.run(["userdel", "--remove", user.name], check=True, capture_output=True)
    shutil.rmtree(user.runtime_dir)
    assert not stray, f"processes of {user.name} left: {stray}"
    assert not mounts, f"mounts left by {user.name}: {mounts}"
    for path in ("/etc/subuid", "/etc/subgid"):
        assert not any(line.startswith(user.name + ":") for line in Path(path).read_text().splitlines())
    left = sorted(owned_files(user.uid) - user.owned_before)
    assert not left, f"files of {user.name} left: {left[:10]}"


def end_pause_process(user: User) -> None:
    """End the user's pause process (and with it the network helper) and forget it, so the
    user's teardown starts afresh: what a test that moved the user's processes into cgroups
    of its own does before removing them."""
    pid = user.pause_pid()
    if pid:
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: pid not in uid_processes(user.uid), what="the pause process to end")
        (user.runtime_dir / "dockyard" / "pause.pid").unlink()


def cgroups_below(top: Path) -> list[Path]:
    """`top` and the cgroups below it, deepest first (the order they can be removed in)."""
    return sorted((Path(d) for d, _, _ in os.walk(top)), key=lambda p: len(p.parts), reverse=True)


def owned_files(uid: int) -> set[str]:
    """Files owned by `uid` where a user can write outside their home and runtime dir (the shared
    temporary dirs; /tmp's many test dirs are root's own, so only its top two levels)."""
    found = subprocess.run(["find", "/var/tmp", "/dev/shm", "/run", "/var/lib", "-xdev", "-uid", str(uid)],
                           capture_output=True, text=True).stdout.split()
    found += subprocess.run(["find", "/tmp", "-xdev", "-maxdepth", "2", "-uid", str(uid)],
                            capture_output=True, text=True).stdout.split()
    return set(found)


@pytest.fixture(scope="module")
def user():
    reachable_by_all(DOCKYARD)
    u = make_user()
    try:
        yield u
    finally:
        remove_user(u)


@pytest.fixture
def bare_user():
    """A user with no subordinate ids."""
    u = make_user(subordinate_ids=False)
    try:
        yield u
    finally:
        remove_user(u)
