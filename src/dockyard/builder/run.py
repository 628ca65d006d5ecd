"""RUN: a command in a container on the current layer, its changes becoming the next layer.

The container is the real thing (the same spec generator and runtime as `dockyard run`),
with the image's Env, User, WorkingDir and Shell, the build args in scope as environment
variables, and the network the build asks for (`dockyard.builder.sandbox`: the host's unless
told otherwise). Files the runtime creates only as mount points (/etc/resolv.conf, /proc,
/run/secrets/x ...) are taken out of the layer again.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from dockyard.builder.changes import env_map
from dockyard.builder.instructions import (
    DockerfileError,
    Instruction,
    parse_heredoc_marker,
)
from dockyard.builder.sandbox import HOSTNAME, RunNetwork
from dockyard.errors import DockyardError

PROXY_ARGS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
              "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")
_TAIL = 40


class StepFailed(DockyardError):
    """A build step failed; `output` holds the last lines it printed, `argv` and `code` the
    command and its exit status."""

    def __init__(self, message: str, output: list[str] | None = None, *, argv: list[str] | None = None,
                 code: int = 1) -> None:
        super().__init__(message)
        self.output = output or []
        self.argv = argv or []
        self.code = code


@dataclass
class RunMount:
    """A `--mount` of a RUN step, resolved to a host path (or a tmpfs)."""

    type: str
    target: str
    source: str = ""
    read_only: bool = True
    size: int = 0
    key: object = None  # what the cache keys on for this mount


@dataclass
class RunCommand:
    argv: list[str]
    created_by: str
    env: dict[str, str]
    network: str
    script: str | None = None  # a heredoc script with a #! line, run as a file
    mounts: list[RunMount] = field(default_factory=list)


def command(instr: Instruction, config: dict, args_env: dict[str, str], network: str) -> RunCommand:
    """What a RUN instruction will execute. Shell form goes to the SHELL unexpanded (the shell
    expands); heredocs are handed to the shell as heredocs, except a lone `<<EOF` whose body
    starts with `#!`, which runs as a script file as in BuildKit."""
    shell = config.get("Shell") or ["/bin/sh", "-c"]
    script = None
    if instr.json_form:
        argv = list(instr.args)
        shown = json.dumps(argv)
    else:
        text = instr.args[0]
        lone = parse_heredoc_marker(text.strip())
        if instr.heredocs and lone is not None and len(instr.heredocs) == 1:
            body = instr.heredocs[0].body
            if body.startswith("#!"):
                script, argv = body, ["/dev/.dockyard-heredoc"]
            else:
                argv = [*shell, body]
        else:
            if instr.heredocs:
                text += "\n" + "".join(f"{doc.content}{doc.name}\n" for doc in instr.heredocs)
            argv = [*shell, text]
        shown = " ".join([*shell, text if not instr.heredocs else instr.args[0]])
    visible = {k: v for k, v in args_env.items() if k not in PROXY_ARGS}
    prefix = f"|{len(visible)} " + " ".join(f"{k}={v}" for k, v in sorted(visible.items())) + " " if visible else ""
    env = {**args_env, **env_map(config)}
    return RunCommand(argv, f"RUN {prefix}{shown}", env, network, script)


def execute(cmd: RunCommand, instr: Instruction, config: dict, rootfs: str, upper: Path, bundle: str, *, container_id: str,
            cgroup_parent: str, runtime_root: str, overlay: bool, net: RunNetwork, limits: dict,
            on_output: Callable[[int, bytes], None], cancelled: Callable[[], bool] = lambda: False) -> None:
    """Run the command in `rootfs` (an active snapshot whose own dir is `upper`) on `net`, with
    `limits` (RunOptions resource fields: memory, shm_size, cpu_shares...), with its OCI bundle in
    the empty directory `bundle` (removed afterwards), passing what it writes
    to `on_output(1 or 2, data)`; raises StepFailed naming the line on a non-zero exit. Once
    `cancelled()` says so, the command is killed."""
    from dockyard.runtime.oci import get_runtime
    from dockyard.runtime.spec import Mount, RunOptions, generate_spec

    try:
        mounts = [Mount(m.target, m.source, "tmpfs" if m.type == "tmpfs" else "bind", m.read_only, tmpfs_size=m.size)
                  for m in cmd.mounts]
        if cmd.script is not None:
            path = os.path.join(bundle, "script")
            with open(path, "w") as f:
                f.write(cmd.script)
            os.chmod(path, 0o755)
            mounts.append(Mount(cmd.argv[0], path, "bind", True))
        opts = RunOptions(
            container_id=container_id, cgroup_parent=cgroup_parent, entrypoint=[""], cmd=cmd.argv,
            env=[f"{k}={v}" for k, v in cmd.env.items()],
            network_mode=net.mode, netns_path=net.netns_path, hostname=HOSTNAME, mounts=mounts,
            resolv_conf_path=net.resolv_conf_path, hosts_path=net.hosts_path, **limits,
        )
        try:
            spec = generate_spec(opts, config, rootfs)
        except DockyardError as err:
            raise DockerfileError(f"RUN: {err.message}", instr.line) from None
        spec["process"]["env"] = [e for e in spec["process"]["env"] if not e.startswith("HOSTNAME=")]
        targets = [m["destination"] for m in spec["mounts"]]
        before = _probe(rootfs, targets)
        with open(os.path.join(bundle, "config.json"), "w") as f:
            json.dump(spec, f)
        code, tail = _run(get_runtime("dockyard", root=runtime_root), container_id, bundle, on_output, cancelled)
        _drop_stubs(upper, before, overlay)
        if code != 0:
            shown = cmd.created_by.removeprefix("RUN ")
            raise StepFailed(f"Dockerfile:{instr.line}: RUN exit code {code}: {shown}", tail, argv=cmd.argv, code=code)
    finally:
        shutil.rmtree(bundle, ignore_errors=True)
        from dockyard.runtime.cgroups import remove_empty_parent
        remove_empty_parent(cgroup_parent)


def _run(runtime, container_id: str, bundle: str, on_output, cancelled) -> tuple[int, list[str]]:
    """Run in the foreground, streaming stdout and stderr to `on_output` as they come, and
    killing the container if `cancelled()` turns true meanwhile."""
    tail: deque[str] = deque(maxlen=_TAIL)
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.2):
            if cancelled():
                try:
                    runtime.kill(container_id, "SIGKILL")
                    return
                except (DockyardError, OSError):
                    pass  # not created yet, or it ended meanwhile: again until the run returns

    lock = threading.Lock()
    pipes = {1: os.pipe(), 2: os.pipe()}

    def pump(stream: int, r: int) -> None:
        with open(r, "rb", buffering=0) as src:
            while data := src.read(65536):
                with lock:
                    tail.extend(data.decode("utf-8", "replace").splitlines())
                on_output(stream, data)

    readers = [threading.Thread(target=pump, args=(n, r), daemon=True) for n, (r, _) in pipes.items()]
    for thread in [*readers, threading.Thread(target=watch, daemon=True)]:
        thread.start()
    try:
        code = runtime.run(container_id, bundle, stdin=subprocess.DEVNULL, stdout=pipes[1][1], stderr=pipes[2][1])
    finally:
        done.set()
        for _, w in pipes.values():
            os.close(w)
        for reader in readers:
            reader.join()
    return code, list(tail)


def _probe(rootfs: str, targets: list[str]) -> dict[str, os.stat_result | None]:
    """lstat, through the mounted rootfs, of every mount point and its parents, before the run."""
    out: dict[str, os.stat_result | None] = {}
    for target in targets:
        parts = [p for p in target.split("/") if p]
        for n in range(1, len(parts) + 1):
            rel = "/".join(parts[:n])
            if rel in out:
                continue
            try:
                st = os.lstat(os.path.join(rootfs, rel))
            except OSError:
                st = None
            out[rel] = st
            if st is None or not stat.S_ISDIR(st.st_mode):
                break
    return out


def _drop_stubs(upper: Path, before: dict[str, os.stat_result | None], overlay: bool) -> None:
    """Remove what the runtime created only to mount over: empty files and directories that did
    not exist before, and (overlay) directories copied up unchanged just to hold them."""
    from dockyard.layers import whiteouts

    for rel in sorted(before, key=lambda p: -p.count("/")):
        path = upper / rel
        try:
            st = os.lstat(path)
        except OSError:
            continue
        old = before[rel]
        if stat.S_ISDIR(st.st_mode):
            if any(os.scandir(path)) or (old is not None and (
                    not overlay or not stat.S_ISDIR(old.st_mode) or whiteouts.is_opaque(str(path))
                    or (st.st_mode, st.st_uid, st.st_gid) != (old.st_mode, old.st_uid, old.st_gid))):
                continue
            os.rmdir(path)
        elif stat.S_ISREG(st.st_mode) and st.st_size == 0 and old is None:
            os.unlink(path)


def parse_mount(text: str, line: int) -> dict[str, str]:
    """One `--mount=type=...,target=...` flag as a dict; bare words are boolean options."""
    out: dict[str, str] = {}
    for part in text.split(","):
        key, eq, value = part.strip().partition("=")
        key = key.lower()
        if key in ("dst", "destination"):
            key = "target"
        elif key == "src":
            key = "source"
        out[key] = value if eq else "true"
    out.setdefault("type", "bind")
    if out["type"] not in ("bind", "cache", "tmpfs", "secret", "ssh"):
        raise DockerfileError(f"RUN --mount type {out['type']!r} is not supported (use bind, cache, tmpfs, secret "
                              "or ssh)", line)
    if out["type"] not in ("secret", "ssh") and not out.get("target"):
        raise DockerfileError(f"RUN --mount={text}: a target is required", line)
    return out
