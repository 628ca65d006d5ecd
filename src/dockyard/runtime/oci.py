"""One runtime interface, several implementations: dockyard's built-in runtime, and runc or
crun driven through their standard command line. The container service and the shim talk
to a `Runtime` and never care which one it is."""

from __future__ import annotations

import json
import os
import shutil
from typing import Protocol

from dockyard.errors import Conflict, DockyardError, NotFound
from dockyard.runtime.builtin import BuiltinRuntime, Stdio


class Runtime(Protocol):
    """The OCI runtime lifecycle (create/start/state/kill/delete) plus run and exec."""

    name: str

    def create(self, container_id: str, bundle: str, *, pid_file: str | None = None,
               console_socket: str | None = None, stdin: Stdio = None, stdout: Stdio = None,
               stderr: Stdio = None) -> int: ...

    def start(self, container_id: str) -> None: ...

    def state(self, container_id: str) -> dict: ...

    def kill(self, container_id: str, sig: str | int = "SIGTERM",
             all_processes: bool = False) -> None: ...

    def delete(self, container_id: str, force: bool = False) -> None: ...

    def run(self, container_id: str, bundle: str, *, console_socket: str | None = None,
            stdin: Stdio = None, stdout: Stdio = None, stderr: Stdio = None) -> int: ...

    def exec_process(self, container_id: str, process: dict, *, detach: bool = False,
                     pid_file: str | None = None, console_socket: str | None = None,
                     stdin: Stdio = None, stdout: Stdio = None, stderr: Stdio = None,
                     started=None) -> int: ...

    def pause(self, container_id: str) -> None: ...

    def resume(self, container_id: str) -> None: ...


class OciCliRuntime:
    """runc, crun or any runtime with runc's command line."""

    def __init__(self, binary: str, root: str | None = None) -> None:
        self.binary = binary
        self.name = os.path.basename(binary)
        self.root = root

    def _invoke(self, args: list[str], stdin: Stdio = None, stdout: Stdio = None,
                stderr: Stdio = None) -> tuple[int, str]:
        """Run the binary with its errors logged as JSON to a file of our own, so the
        container can keep the caller's stdio and the error can still be reported;
        returns the exit code and the last logged error."""
        import subprocess
        import tempfile
        with tempfile.TemporaryDirectory() as scratch:
            log = os.path.join(scratch, "log.json")
            argv = [self.binary] + (["--root", self.root] if self.root else [])
            argv += ["--log", log, "--log-format", "json"] + args
            code = subprocess.run(argv, stdin=stdin, stdout=stdout, stderr=stderr).returncode
            message = ""
            if code != 0 and os.path.exists(log):
                with open(log) as f:
                    for line in f:
                        try:
                            entry = json.loads(line)
                        except json.JSONDecodeError:
                            continue
                        if entry.get("level") in ("error", "fatal"):
                            message = entry.get("msg", "")
            return code, message

    def _call(self, *args: str) -> str:
        """A management command: stdout returned, failure raised as a DockyardError."""
        import subprocess
        import tempfile
        with tempfile.TemporaryFile("w+") as out:
            code, message = self._invoke(list(args), stdout=out, stderr=subprocess.DEVNULL)
            if code != 0:
                raise _error(self.name, message or f"{args[0]} failed")
            out.seek(0)
            return out.read()

    def create(self, container_id: str, bundle: str, *, pid_file: str | None = None,
               console_socket: str | None = None, stdin: Stdio = None, stdout: Stdio = None,
               stderr: Stdio = None) -> int:
        """Create the container; returns its pid. The container keeps the given stdio."""
        import tempfile
        with tempfile.TemporaryDirectory() as scratch:
            pid_path = pid_file or os.path.join(scratch, "pid")
            args = ["create", "--bundle", bundle, "--pid-file", pid_path]
            if console_socket:
                args += ["--console-socket", console_socket]
            code, message = self._invoke(args + [container_id], stdin, stdout, stderr)
            if code != 0:
                raise _error(self.name, message or f"create {container_id} failed")
            with open(pid_path) as f:
                return int(f.read().strip())

    def start(self, container_id: str) -> None:
        self._call("start", container_id)

    def state(self, container_id: str) -> dict:
        return json.loads(self._call("state", container_id))

    def kill(self, container_id: str, sig: str | int = "SIGTERM",
             all_processes: bool = False) -> None:
        self._call("kill", *(["--all"] if all_processes else []), container_id, str(sig))

    def delete(self, container_id: str, force: bool = False) -> None:
        self._call("delete", *(["--force"] if force else []), container_id)

    def pause(self, container_id: str) -> None:
        self._call("pause", container_id)

    def resume(self, container_id: str) -> None:
        self._call("resume", container_id)

    def run(self, container_id: str, bundle: str, *, console_socket: str | None = None,
            stdin: Stdio = None, stdout: Stdio = None, stderr: Stdio = None) -> int:
        args = ["run", "--bundle", bundle]
        if console_socket:
            args += ["--console-socket", console_socket]
        return self._invoke(args + [container_id], stdin, stdout, stderr)[0]

    def exec_process(self, container_id: str, process: dict, *, detach: bool = False,
                     pid_file: str | None = None, console_socket: str | None = None,
                     stdin: Stdio = None, stdout: Stdio = None, stderr: Stdio = None,
                     started=None) -> int:
        """runc needs a complete process object, so unset fields come from config.json.
        `started()` is called before the runtime runs (its process may take threads)."""
        import tempfile
        with tempfile.TemporaryDirectory() as scratch:
            bundle = self.state(container_id)["bundle"]
            with open(os.path.join(bundle, "config.json")) as f:
                merged = dict(json.load(f)["process"])
            merged.update(process)
            merged.pop("oomScoreAdj", None)
            process_file = os.path.join(scratch, "process.json")
            with open(process_file, "w") as f:
                json.dump(merged, f)
            pid_path = pid_file or os.path.join(scratch, "pid")
            args = ["exec", "--process", process_file, "--pid-file", pid_path]
            args += ["--detach"] if detach else []
            args += ["--console-socket", console_socket] if console_socket else []
            if started is not None and not detach:
                started()
            code, message = self._invoke(args + [container_id], stdin, stdout, stderr)
            if code != 0 and (detach or message):  # the runtime logs an error only when it failed itself
                raise _error(self.name, message or f"exec in {container_id} failed")
            if detach:
                with open(pid_path) as f:
                    return int(f.read().strip())
            return code


def _error(name: str, message: str) -> DockyardError:
    """runc/crun's error message as the right DockyardError."""
    lowered = message.lower()
    if "does not exist" in lowered or "not found" in lowered or "no such file" in lowered:
        return NotFound(f"{name}: {message}")
    if "already exists" in lowered or "not running" in lowered or "is running" in lowered \
            or "not stopped" in lowered:
        return Conflict(f"{name}: {message}")
    return DockyardError(f"{name}: {message}")


def get_runtime(name: str = "dockyard", root: str | None = None) -> Runtime:
    """The runtime called `name`: 'dockyard' (built in), 'runc' or 'crun' (from PATH) or
    a path to a runc-compatible binary."""
    if name in ("dockyard", "builtin"):
        return BuiltinRuntime(root) if root else BuiltinRuntime()
    binary = name if os.path.sep in name else shutil.which(name)
    if not binary or not os.access(binary, os.X_OK):
        raise NotFound(f"OCI runtime {name!r} not found in PATH")
    return OciCliRuntime(binary, root)
