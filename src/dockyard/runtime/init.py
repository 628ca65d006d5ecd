"""The container side of the built-in runtime: `python -m dockyard.runtime.init FD`.

A fresh, single-threaded interpreter (namespaces must never be entered from a threaded
process) that talks to the runtime over a SOCK_SEQPACKET socket, one JSON message per packet:

  stage 1 (this process): not dumpable; join/unshare namespaces; fork.
  stage 2 (the child, pid 1 of a new pid namespace): wait until the runtime has put it in
    its cgroup; unshare the cgroup namespace; build the rootfs and pivot_root; console;
    hostname; sysctls; masked/read-only paths; rlimits; find the executable; report
    "ready"; block on the exec fifo until `start`; then seccomp, uid/gid, capabilities,
    and execve.

Stage 1 exits once stage 2 exists, or, with "wait", waits for it and exits with its status
(so `run` and `exec` can report the container's exit code without becoming a subreaper).
Everything the container needs from the host (libc, libseccomp, Python modules) is loaded
before pivot_root.
"""

from __future__ import annotations

import array  # also what socket.send_fds needs after pivot_root
import fcntl
import json
import os
import resource
import signal
import socket
import sys
import termios

from dockyard.runtime import caps, linux
from dockyard.runtime.linux import NAMESPACES, Syscalls
from dockyard.runtime.rootfs import RootfsBuilder


class _Channel:
    """The sync socket shared with the runtime."""

    def __init__(self, fd: int) -> None:
        self.sock = socket.socket(fileno=fd)

    def send(self, **message: object) -> None:
        self.sock.send(json.dumps(message).encode())

    def receive(self) -> dict:
        data = self.sock.recv(1 << 22)
        if not data:
            os._exit(1)  # the runtime went away: nobody to report to
        return json.loads(data)


def _fail(channel: _Channel, message: str) -> None:
    try:
        channel.send(type="error", message=message)
    finally:
        os._exit(1)


def _join_namespaces(sys_: Syscalls, boot: dict) -> None:
    """setns into every namespace given by path, user first and mount last; all are opened
    before the first setns, since joining a mount namespace changes what paths mean."""
    order = ["user", "ipc", "uts", "network", "pid", "cgroup", "mount"]
    joins = sorted(boot["join"], key=lambda n: order.index(n["type"]))
    fds = [(os.open(ns["path"], os.O_RDONLY | os.O_CLOEXEC), ns["type"]) for ns in joins]
    for fd, kind in fds:
        sys_.setns(fd, NAMESPACES[kind][0])
        os.close(fd)


def _stage1(channel: _Channel) -> None:
    sys_ = Syscalls()
    sys_.prctl(linux.PR_SET_DUMPABLE, 0)
    boot = channel.receive()
    spec = boot["spec"]
    filter_ = None
    if (spec.get("linux") or {}).get("seccomp"):
        from dockyard.runtime.seccomp import cached_program

        filter_ = cached_program(spec["linux"]["seccomp"], boot["seccomp_cache"])
    # opened while this is still the runtime's root: the state dir is not the mapped root's
    fifo = os.open(boot["fifo"], os.O_PATH | os.O_CLOEXEC) if boot.get("fifo") else None
    _join_namespaces(sys_, boot)
    new = set(boot["unshare"])
    if "user" in new:
        sys_.unshare(linux.CLONE_NEWUSER)
        channel.send(type="userns", pid=os.getpid())
        channel.receive()
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
    flags = 0
    for name in new - {"user", "cgroup"}:
        flags |= NAMESPACES[name][0]
    if flags:
        sys_.unshare(flags)
    pid = os.fork()
    if pid == 0:
        _stage2(sys_, channel, boot, filter_, fifo)
    channel.send(type="pid", pid=pid)
    if not boot.get("wait"):
        os._exit(0)
    channel.sock.close()
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    os._exit(128 - code if code < 0 else code)


def _setup_console(sys_: Syscalls, console_fd: int, create_console: bool,
                   size: dict | None) -> None:
    """A pty from the container's own devpts, of process.consoleSize if given: master to
    the caller over the console socket (SCM_RIGHTS, as runc does), slave as controlling
    terminal and stdio."""
    master, slave = os.openpty()
    if size:
        fcntl.ioctl(slave, termios.TIOCSWINSZ,
                    array.array("H", [size.get("height", 0), size.get("width", 0), 0, 0]))
    if create_console:
        if not os.path.exists("/dev/console"):
            with open("/dev/console", "a"):
                pass
        sys_.mount(os.ttyname(slave), "/dev/console", "", linux.MS_BIND)
    with socket.socket(fileno=console_fd) as console:
        socket.send_fds(console, [os.ttyname(slave).encode()], [master])
    os.close(master)
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)


def _find_executable(process: dict) -> str:
    """The command's file as runc finds it, or its words for why not (probe.c finds it alike)."""
    name = process["args"][0]
    if "/" in name:
        try:
            os.stat(name)
        except OSError as err:
            raise OSError(f'exec: "{name}": stat {name}: {err.strerror.lower()}') from None
        if os.path.isdir(name) or not os.access(name, os.X_OK):
            raise OSError(f'exec: "{name}": permission denied')
        return name
    env = dict(e.partition("=")[::2] for e in process.get("env") or [])
    for directory in env.get("PATH", "").split(":"):
        candidate = os.path.join(directory or ".", name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise OSError(f'exec: "{name}": executable file not found in $PATH')


def _apply_rlimits(process: dict) -> None:
    for limit in process.get("rlimits") or []:
        kind = getattr(resource, limit["type"], None)
        if kind is None:
            raise OSError(f"unknown rlimit {limit['type']}")
        try:
            resource.setrlimit(kind, (limit["soft"], limit["hard"]))
        except (ValueError, OSError) as err:
            raise OSError(f"cannot set {limit['type']} to {limit['soft']}:{limit['hard']}: {err}")


def _set_exec_labels(process: dict) -> None:
    """The AppArmor profile and SELinux label the user's process gets at execve (the
    runtime refused them already where the host has no such module)."""
    for key, path, text in (("apparmorProfile", "/proc/self/attr/apparmor/exec", "exec {}"),
                            ("selinuxLabel", "/proc/self/attr/exec", "{}")):
        if process.get(key):
            if key == "apparmorProfile" and not os.path.exists(path):
                path = "/proc/self/attr/exec"
            with open(path, "w") as f:
                f.write(text.format(process[key]))


def _switch_identity(sys_: Syscalls, process: dict) -> None:
    """Bounding set, groups, gid, uid (keeping capabilities across the switch), then the
    capability sets the spec asks for."""
    capabilities = process.get("capabilities") or {}
    caps.drop_bounding(sys_, capabilities.get("bounding", []))
    user = process.get("user") or {}
    uid, gid = user.get("uid", 0), user.get("gid", 0)
    sys_.prctl(linux.PR_SET_KEEPCAPS, 1)
    os.setgroups(user.get("additionalGids") or [])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    sys_.prctl(linux.PR_SET_KEEPCAPS, 0)
    caps.apply_sets(sys_, {k: v for k, v in capabilities.items() if k != "bounding"})
    if "umask" in user:
        os.umask(user["umask"])


def _die_on_signals() -> None:
    """As pid 1 of its namespace with no handler, a created container's init would never
    see `kill`'s TERM: handle the signals that end runc's init (a Go program) the same way.
    execve resets them to the default for the user's process."""
    def die(signum: int, _frame: object) -> None:
        os._exit(128 + signum)

    for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGABRT):
        signal.signal(sig, die)


def _hook_runner(spec: dict, state: dict | None):
    """run_hooks(kind) for the container-side hooks; the module is imported now, while
    the host's files are still reachable."""
    if not state:
        return lambda kind: None
    from dockyard.runtime import hooks

    def run_hooks(kind: str) -> None:
        hooks.run(kind, hooks.of(spec, kind), dict(state, status="created")
                  if kind == "startContainer" else state)

    return run_hooks


def _stage2(sys_: Syscalls, channel: _Channel, boot: dict, filter_: bytes | None,
            fifo: int | None) -> None:
    spec = boot["spec"]
    process = spec["process"]
    go = channel.receive()  # the runtime has put us in the container's cgroup
    run_hooks = _hook_runner(spec, go.get("state"))
    if "cgroup" in boot["unshare"]:
        sys_.unshare(linux.CLONE_NEWCGROUP)
    os.setsid()
    builder = RootfsBuilder(sys_, spec, boot["bundle"], boot.get("cgroup_dirs"))
    if boot.get("own_mounts"):
        builder.prepare(lambda: run_hooks("createContainer"))
    else:
        run_hooks("createContainer")
    if boot.get("console_fd") is not None:
        _setup_console(sys_, boot["console_fd"], bool(boot.get("own_mounts")),
                       process.get("consoleSize"))
    if "uts" in boot["unshare"]:
        if spec.get("hostname"):
            sys_.sethostname(spec["hostname"])
        if spec.get("domainname"):
            sys_.setdomainname(spec["domainname"])
    if boot.get("own_mounts"):
        builder.finalize()
    _apply_rlimits(process)
    if process.get("oomScoreAdj") is not None:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(process["oomScoreAdj"]))
    cwd = process.get("cwd") or "/"
    try:
        os.chdir(cwd)
    except OSError as err:
        raise OSError(f'chdir to cwd ("{cwd}") set in config.json failed: {err.strerror.lower()}') from None
    executable = _find_executable(process)
    env = dict(e.partition("=")[::2] for e in process.get("env") or [])
    if fifo is not None:
        _die_on_signals()  # before "ready": `kill` may come as soon as `create` returns
    channel.send(type="ready")
    channel.sock.close()
    if fifo is not None:
        writer = os.open(f"/proc/self/fd/{fifo}", os.O_WRONLY | os.O_CLOEXEC)
        try:
            run_hooks("startContainer")  # `start` has been called; its answer waits for these
        except BaseException as err:
            os.write(writer, b"1" + linux.describe(err).encode())
            os._exit(1)
        os.write(writer, b"0")
        os.close(writer)
        os.close(fifo)
    nnp = process.get("noNewPrivileges")
    if filter_ is not None and not nnp:
        sys_.seccomp_filter(filter_)  # while CAP_SYS_ADMIN is still held
    _set_exec_labels(process)
    _switch_identity(sys_, process)
    if nnp:
        sys_.prctl(linux.PR_SET_NO_NEW_PRIVS, 1)
        if filter_ is not None:
            sys_.seccomp_filter(filter_)
    try:
        os.execve(executable, process["args"], env)
    except OSError as err:
        sys.stderr.write(f"exec {process['args'][0]}: {err.strerror}\n")
        os._exit(126 if err.errno == 13 else 127)


def main() -> None:
    channel = _Channel(int(sys.argv[1]))
    try:
        _stage1(channel)
    except BaseException as err:  # in either stage: report one line, then die
        if os.environ.get("DOCKYARD_DEBUG"):
            import traceback
            traceback.print_exc()
        _fail(channel, linux.describe(err))


if __name__ == "__main__":
    main()
