"""dockyard's own OCI runtime, host side: the create/start/state/kill/delete lifecycle with
runc's semantics, plus run, exec, pause/resume and ps.

State lives in <root>/<id>/: state.json (pid, its start time, bundle, cgroup path) and
exec.fifo, which the container's init blocks on between `create` and `start` (the fifo
exists = created; gone and the pid alive = running; pid gone or recycled = stopped).
The container side is dockyard.runtime.init, started as a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import sys
import threading
import time
from datetime import datetime, timezone
from typing import IO, TYPE_CHECKING, Any

from dockyard.errors import Conflict, DockyardError, InvalidArgument, NotFound
from dockyard.runtime import cgroups, checks, linux

if TYPE_CHECKING:
    import subprocess

DEFAULT_ROOT = "/run/dockyard-runtime"
SECCOMP_CACHE = ".seccomp"  # in the root: compiled seccomp programs (ids never start with a dot)
Stdio = int | IO[Any] | None


def parse_signal(value: str | int) -> int:
    """'TERM', 'SIGTERM', '15' or 15 -> 15."""
    if isinstance(value, int) or str(value).isdigit():
        return int(value)
    name = str(value).upper()
    try:
        return int(signal.Signals[name if name.startswith("SIG") else "SIG" + name])
    except KeyError:
        raise InvalidArgument(f"unknown signal {value!r}")


class BuiltinRuntime:
    """The runtime interface implemented in Python (see dockyard.runtime.oci.Runtime)."""

    name = "dockyard"

    def __init__(self, root: str = DEFAULT_ROOT) -> None:
        self.root = root

    # -- state ------------------------------------------------------------------------

    def _dir(self, container_id: str) -> str:
        if not container_id or "/" in container_id or container_id.startswith("."):
            raise InvalidArgument(f"invalid container id {container_id!r}")
        return os.path.join(self.root, container_id)

    def _load(self, container_id: str) -> dict:
        try:
            with open(os.path.join(self._dir(container_id), "state.json")) as f:
                return json.load(f)
        except FileNotFoundError:
            raise NotFound(f"container {container_id} does not exist")

    def _save(self, record: dict) -> None:
        path = os.path.join(self._dir(record["id"]), "state.json")
        with open(path + ".tmp", "w") as f:
            json.dump(record, f)
        os.replace(path + ".tmp", path)

    def _cgroup(self, record: dict) -> cgroups.CgroupV1 | cgroups.CgroupV2:
        return cgroups.open_cgroup(record["cgroup_path"])

    @staticmethod
    def _alive(record: dict) -> bool:
        return record["pid"] > 0 and linux.process_start_time(record["pid"]) == record["start_time"]

    def _status(self, record: dict) -> str:
        if not self._alive(record):
            return "stopped"
        if os.path.exists(os.path.join(self._dir(record["id"]), "exec.fifo")):
            return "created"
        if self._cgroup(record).frozen():
            return "paused"
        return "running"

    @staticmethod
    def _hook_state(record: dict, status: str, pid: int | None = None) -> dict:
        """The state a hook reads on its stdin (runtime.md "State")."""
        return {"ociVersion": record["ociVersion"], "id": record["id"], "status": status,
                "pid": record["pid"] if pid is None else pid, "bundle": record["bundle"],
                "annotations": record.get("annotations") or {}}

    def state(self, container_id: str) -> dict:
        """The OCI state, shaped as `runc state` prints it."""
        record = self._load(container_id)
        status = self._status(record)
        return {
            "ociVersion": record["ociVersion"], "id": record["id"],
            "pid": record["pid"] if status != "stopped" else 0, "status": status,
            "bundle": record["bundle"], "rootfs": record["rootfs"],
            "created": record["created"], "owner": "",
            "annotations": record.get("annotations") or {},
        }

    def list(self) -> list[dict]:
        if not os.path.isdir(self.root):
            return []
        return [self.state(name) for name in sorted(os.listdir(self.root))
                if os.path.exists(os.path.join(self.root, name, "state.json"))]

    # -- lifecycle ----------------------------------------------------------------------

    def create(self, container_id: str, bundle: str, *, pid_file: str | None = None,
               console_socket: str | socket.socket | None = None, stdin: Stdio = None,
               stdout: Stdio = None, stderr: Stdio = None) -> int:
        """Set the container up and leave its init blocked before exec; returns its pid.
        The pty master goes to `console_socket`: a path to connect to, or a connected socket."""
        record, _ = self._create(container_id, bundle, pid_file, console_socket, False,
                                 (stdin, stdout, stderr))
        return record["pid"]

    def run(self, container_id: str, bundle: str, *, console_socket: str | None = None,
            stdin: Stdio = None, stdout: Stdio = None, stderr: Stdio = None,
            remove: bool = True, pid_file: str | None = None) -> int:
        """create + start, wait in the foreground, return the container's exit code
        (128+N when killed by signal N)."""
        _, waiter = self._create(container_id, bundle, pid_file, console_socket, True,
                                 (stdin, stdout, stderr))
        try:
            self.start(container_id)
            return waiter.wait()
        finally:
            if waiter.poll() is None:
                self.kill(container_id, signal.SIGKILL)
                waiter.wait()
            if remove:
                self.delete(container_id, force=True)

    def _create(self, container_id: str, bundle: str, pid_file: str | None,
                console_socket: str | socket.socket | None, wait: bool,
                stdio: tuple) -> tuple[dict, subprocess.Popen]:
        directory = self._dir(container_id)
        bundle = os.path.abspath(bundle)
        try:
            with open(os.path.join(bundle, "config.json")) as f:
                spec = json.load(f)
        except FileNotFoundError:
            raise NotFound(f"no config.json in bundle {bundle}")
        checks.check(spec)
        if spec.get("hooks"):
            from dockyard.runtime import hooks  # only for a config with hooks

            hooks.validate(spec)
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            raise Conflict(f"container with id {container_id} already exists")
        linux_spec = spec.get("linux") or {}
        cgroup_path = linux_spec.get("cgroupsPath") or f"/dockyard/{container_id}"
        cg = cgroups.open_cgroup(cgroup_path)
        fifo = os.path.join(directory, "exec.fifo")
        record = {
            "ociVersion": spec.get("ociVersion", "1.0.2"), "id": container_id, "pid": 0,
            "start_time": None, "bundle": bundle,
            "rootfs": os.path.join(bundle, spec["root"]["path"]), "cgroup_path": cgroup_path,
            "created": datetime.now(timezone.utc).isoformat(),
            "annotations": spec.get("annotations") or {},
        }
        if spec.get("hooks"):
            record["hooks"] = hooks.kept(spec)
        try:
            os.mkfifo(fifo)
            os.chmod(fifo, 0o622)  # the init writes it as the container's root, maybe mapped
            root_uid, root_gid = _mapped_root(linux_spec)
            if (root_uid, root_gid) != (0, 0):
                os.chown(fifo, root_uid, root_gid)
            cg.create()
            # device rules always, as runc: none given means only its defaults
            cg.apply({"devices": [], **(linux_spec.get("resources") or {})})
            namespaces = linux_spec.get("namespaces") or []
            cgroup_dirs = {_mount_name(mnt): str(d) for mnt, d in cg.dirs().items()}
            boot = {
                "spec": spec, "bundle": bundle, "fifo": fifo, "wait": wait,
                "join": [ns for ns in namespaces if ns.get("path")],
                "unshare": [ns["type"] for ns in namespaces if not ns.get("path")],
                "cgroup_dirs": cgroup_dirs,
                # the container's mount namespace, new or joined, gets its rootfs (as runc does)
                "own_mounts": any(ns["type"] == "mount" for ns in namespaces),
            }
            before_go = (lambda pid: self._create_hooks(record, pid)) if record.get("hooks") else None
            waiter, pid = self._spawn(boot, cg, console_socket, stdio, linux_spec, before_go)
            record["pid"] = pid
            record["start_time"] = linux.process_start_time(pid)
            self._save(record)
            if pid_file:
                _write_atomic(pid_file, str(pid))
            if not wait:
                waiter.wait()
            return record, waiter
        except BaseException:
            if record["pid"]:
                _kill_quietly(record["pid"])
            for pid in cg.procs():
                _kill_quietly(pid)
            try:
                cg.delete()
            except DockyardError:
                pass  # the error being raised matters more than a leftover directory
            shutil.rmtree(directory, ignore_errors=True)
            raise

    def _create_hooks(self, record: dict, pid: int) -> dict:
        """prestart and createRuntime, in the runtime's namespaces once the container's
        exist; what the init needs for its own (createContainer, startContainer)."""
        from dockyard.runtime import hooks

        state = self._hook_state(record, "creating", pid)
        for kind in ("prestart", "createRuntime"):
            hooks.run(kind, hooks.of(record, kind), state)
        return {"state": state}

    def _spawn(self, boot: dict, cg: Any, console_socket: str | socket.socket | None, stdio: tuple,
               linux_spec: dict, before_go: Any = None) -> tuple[subprocess.Popen, int]:
        """Start dockyard.runtime.init and drive it until it reports ready; returns the
        stage-1 process and the container's pid. `before_go(pid)`, once the container's
        namespaces and cgroup exist, returns more for the init's "go"."""
        boot["seccomp_cache"] = os.path.join(self.root, SECCOMP_CACHE)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        console = None
        pass_fds = [theirs.fileno()]
        if isinstance(console_socket, socket.socket):
            boot["console_fd"] = console_socket.fileno()  # connected already (the shim's adopt)
            pass_fds.append(console_socket.fileno())
        elif console_socket:
            console = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                console.connect(console_socket)
            except OSError as err:
                raise DockyardError(f"cannot connect to console socket {console_socket}: {err.strerror}")
            boot["console_fd"] = console.fileno()
            pass_fds.append(console.fileno())
        elif (boot["spec"].get("process") or {}).get("terminal"):
            raise InvalidArgument("terminal: true needs a console socket (--console-socket)")
        try:
            waiter = _start_init(theirs.fileno(), pass_fds, stdio)
        finally:
            theirs.close()
            if console is not None:
                console.close()
        ours.settimeout(60)
        pid = 0
        try:
            ours.send(json.dumps(boot).encode())
            # The first move into a new cgroup waits for an RCU grace period (~12 ms here): do it
            # for stage 1 now, while it imports and sets up, rather than for stage 2 later.
            # Stage 2 then usually inherits the group; the add below makes sure either way.
            cg.add(waiter.pid)
            while True:
                data = ours.recv(1 << 16)
                if not data:
                    raise DockyardError("container init exited before it was ready")
                message = json.loads(data)
                if message["type"] == "userns":
                    _write_id_maps(message["pid"], linux_spec)
                    ours.send(b'{"type": "ok"}')
                elif message["type"] == "pid":
                    pid = message["pid"]
                    cg.add(pid)
                    if before_go is None:
                        ours.send(b'{"type": "go"}')
                    else:
                        ours.send(json.dumps({"type": "go", **before_go(pid)}).encode())
                elif message["type"] == "ready":
                    return waiter, pid
                else:
                    raise DockyardError(message.get("message") or "container init failed")
        except BaseException:
            if pid:
                _kill_quietly(pid)
            waiter.kill()
            waiter.wait()
            raise
        finally:
            ours.close()

    def start(self, container_id: str) -> None:
        """Let a created container's init exec the user's process."""
        record = self._load(container_id)
        fifo = os.path.join(self._dir(container_id), "exec.fifo")
        status = self._status(record)
        if status != "created":
            raise Conflict(f"cannot start a container that is {status}")
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            deadline = time.monotonic() + 30
            while True:
                # one write: "0", or "1" and why the startContainer hooks failed
                word = _read_ready(fd)
                if word:
                    break
                if not self._alive(record) or time.monotonic() > deadline:
                    # a quick process may have been told to go, run and been reaped since the read
                    word = _read_ready(fd)
                    if word:
                        break
                    raise DockyardError(f"container {container_id} init did not start")
                # woken by the init's write (a fifo that never had a writer polls as not ready)
                select.select([fd], [], [], 0.05)
        finally:
            os.close(fd)
        os.unlink(fifo)
        if word != b"0":
            self._stop(record)  # the init exits by itself; make sure it is gone on return
            raise DockyardError(word[1:].decode(errors="replace") or "container init failed")
        if record.get("hooks"):
            from dockyard.runtime import hooks

            hooks.warn("poststart", hooks.of(record, "poststart"), self._hook_state(record, "running"))

    def _stop(self, record: dict) -> None:
        _kill_quietly(record["pid"])
        deadline = time.monotonic() + 10
        while self._alive(record) and time.monotonic() < deadline:
            time.sleep(0.01)

    def kill(self, container_id: str, sig: str | int = signal.SIGTERM, all_processes: bool = False) -> None:
        record = self._load(container_id)
        if not self._alive(record):
            raise Conflict(f"container {container_id} is not running")
        number = parse_signal(sig)
        pids = self._cgroup(record).procs() if all_processes else [record["pid"]]
        for pid in pids or [record["pid"]]:
            _kill_quietly(pid, number)

    def delete(self, container_id: str, force: bool = False) -> None:
        """Remove a stopped (or created) container; `force` kills a running one first."""
        record = self._load(container_id)
        status = self._status(record)
        if status in ("running", "paused") and not force:
            raise Conflict(f"cannot delete container {container_id} that is {status}: stop it first or force")
        cg = self._cgroup(record)
        if status == "paused":
            cg.thaw()
        if status != "stopped":
            _kill_quietly(record["pid"])
        deadline = time.monotonic() + 10
        while True:
            left = cg.procs()
            if not left and not self._alive(record):
                break
            if time.monotonic() > deadline:
                raise DockyardError(f"container {container_id} processes did not exit")
            if not (left and isinstance(cg, cgroups.CgroupV2) and cg.kill()):
                for pid in left:
                    _kill_quietly(pid)
            time.sleep(0.01)
        cg.delete()
        shutil.rmtree(self._dir(container_id), ignore_errors=True)
        if record.get("hooks"):
            from dockyard.runtime import hooks

            hooks.warn("poststop", hooks.of(record, "poststop"), self._hook_state(record, "stopped"))

    def pause(self, container_id: str) -> None:
        record = self._load(container_id)
        if self._status(record) != "running":
            raise Conflict(f"container {container_id} is not running")
        self._cgroup(record).freeze()

    def resume(self, container_id: str) -> None:
        record = self._load(container_id)
        if self._status(record) != "paused":
            raise Conflict(f"container {container_id} is not paused")
        self._cgroup(record).thaw()

    def ps(self, container_id: str) -> list[int]:
        """Host pids of every process in the container's cgroup."""
        return self._cgroup(self._load(container_id)).procs()

    def stats(self, container_id: str) -> cgroups.CgroupStats:
        return self._cgroup(self._load(container_id)).stats()

    def exec_process(self, container_id: str, process: dict, *, detach: bool = False,
                     pid_file: str | None = None, console_socket: str | None = None,
                     stdin: Stdio = None, stdout: Stdio = None,
                     stderr: Stdio = None, started=None) -> int:
        """Run `process` (an OCI process object; unset fields come from the container's own)
        inside a running container: same namespaces, cgroup, capabilities, seccomp filter.
        Returns its exit code, or with `detach` its pid. `started()` is called once it runs,
        before the wait (a caller's thread started there leaves this process single-threaded
        while it forks the init: see _start_init)."""
        record = self._load(container_id)
        if self._status(record) != "running":
            raise Conflict(f"container {container_id} is not running")
        with open(os.path.join(record["bundle"], "config.json")) as f:
            spec = json.load(f)
        merged = dict(spec["process"])
        merged.update(process)
        merged.pop("oomScoreAdj", None)
        checks.check_process(merged)
        target = record["pid"]
        join = []
        for kind, (_, proc_name) in linux.NAMESPACES.items():
            theirs = f"/proc/{target}/ns/{proc_name}"
            if os.stat(theirs).st_ino != os.stat(f"/proc/self/ns/{proc_name}").st_ino:
                join.append({"type": kind, "path": theirs})
        exec_spec = {"process": merged, "root": spec["root"],
                     "linux": {"seccomp": (spec.get("linux") or {}).get("seccomp")}}
        boot = {"spec": exec_spec, "bundle": record["bundle"], "fifo": None,
                "wait": not detach, "join": join, "unshare": []}
        waiter, pid = self._spawn(boot, self._cgroup(record), console_socket,
                                  (stdin, stdout, stderr), {})
        if pid_file:
            _write_atomic(pid_file, str(pid))
        if detach:
            waiter.wait()
            return pid
        if started is not None:
            started()
        return waiter.wait()


class _ForkedInit:
    """Stage 1 of the init as a plain fork of this process: what `subprocess.Popen` gives,
    without a second interpreter's start-up (~20 ms per container)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self) -> int:
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            _kill_quietly(self.pid)


def _fd_of(stream: Stdio) -> int | None:
    if stream is None:
        return None
    return stream if isinstance(stream, int) else stream.fileno()


def _start_init(channel_fd: int, pass_fds: list[int], stdio: tuple):
    """Start dockyard.runtime.init. Namespaces must never be set up in a threaded process:
    a single-threaded caller (the `dockyard-runtime` command) forks itself, which is as
    safe and much faster; a threaded one (an API server) starts a fresh interpreter."""
    plain = all(x is None or (isinstance(x, int) and x >= 0) or hasattr(x, "fileno") for x in stdio)
    if threading.active_count() > 1 or not plain:  # threads, or Popen's PIPE/DEVNULL to honour
        import subprocess
        return subprocess.Popen([sys.executable, "-m", "dockyard.runtime.init", str(channel_fd)],
                                pass_fds=pass_fds, stdin=stdio[0], stdout=stdio[1], stderr=stdio[2])
    for f in (sys.stdout, sys.stderr):
        f.flush()  # or the child would write our buffered output a second time
    pid = os.fork()
    if pid:
        return _ForkedInit(pid)
    try:
        for target, stream in enumerate(stdio):
            fd = _fd_of(stream)
            if fd is not None and fd != target:
                os.dup2(fd, target)
        keep = {0, 1, 2, *pass_fds}
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd not in keep:
                try:
                    os.close(fd)
                except OSError:
                    pass
        for fd in pass_fds:
            os.set_inheritable(fd, True)
        from dockyard.runtime import init
        sys.argv = ["dockyard.runtime.init", str(channel_fd)]
        init.main()
    finally:
        os._exit(1)  # init.main ends the process itself; never return into the runtime's code


def _write_id_maps(pid: int, linux_spec: dict) -> None:
    for kind, key in (("uid", "uidMappings"), ("gid", "gidMappings")):
        lines = "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n"
                        for m in linux_spec.get(key) or [])
        with open(f"/proc/{pid}/{kind}_map", "w") as f:
            f.write(lines)


def _mapped_root(linux_spec: dict) -> tuple[int, int]:
    """Host uid and gid of the container's root (0, 0 without a user namespace mapping)."""
    def host_id(key: str) -> int:
        return next((m["hostID"] for m in linux_spec.get(key) or [] if m["containerID"] == 0), 0)

    return host_id("uidMappings"), host_id("gidMappings")


def _write_atomic(path: str, text: str) -> None:
    import tempfile
    handle, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)))
    with os.fdopen(handle, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _read_ready(fd: int) -> bytes:
    """What a non-blocking fifo holds now (b"" when nothing)."""
    try:
        return os.read(fd, 4096)
    except BlockingIOError:
        return b""


def _kill_quietly(pid: int, sig: int = signal.SIGKILL) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _mount_name(mountpoint: str) -> str:
    """'/sys/fs/cgroup/memory' -> 'memory'; the v2 root itself -> ''."""
    name = os.path.relpath(mountpoint, cgroups.CGROUP_ROOT)
    return "" if name == "." else name
