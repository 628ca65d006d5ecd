"""OCI lifecycle hooks (config.md "POSIX-platform Hooks"): running one kind of hook with the
container's state on its stdin.

Where each kind runs is the caller's business: prestart, createRuntime, poststart and
poststop from the runtime (its namespaces), createContainer and startContainer from the
container's init (the container's namespaces). Only called for a spec that has hooks, so
a container without any never imports subprocess for them.
"""

from __future__ import annotations

import json
import os
import subprocess

from dockyard.errors import DockyardError

# in the order the lifecycle runs them
KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")
# kinds whose failure is only logged (runtime.md: "log a warning ... continue")
NON_FATAL = ("poststart", "poststop")


def of(spec: dict, kind: str) -> list[dict]:
    """The hooks of one kind in a config (or in the subset of it a state record keeps)."""
    return list((spec.get("hooks") or {}).get(kind) or [])


def kept(spec: dict) -> dict:
    """The hooks worth remembering with a container's state (empty kinds left out)."""
    return {kind: of(spec, kind) for kind in KINDS if of(spec, kind)}


def validate(spec: dict) -> None:
    """Refuse hook entries the spec calls invalid before anything is set up."""
    hooks = spec.get("hooks") or {}
    if not isinstance(hooks, dict):
        raise DockyardError("hooks: must be an object")
    for kind, entries in hooks.items():
        if kind not in KINDS:
            continue  # a future kind: the spec lets a runtime ignore what it does not know
        for index, hook in enumerate(entries or []):
            path = hook.get("path") if isinstance(hook, dict) else None
            if not isinstance(path, str) or not os.path.isabs(path):
                raise DockyardError(f"hooks.{kind}[{index}].path: must be an absolute path")
            timeout = hook.get("timeout")
            if timeout is not None and (not isinstance(timeout, int) or timeout <= 0):
                raise DockyardError(f"hooks.{kind}[{index}].timeout: must be a positive integer")


def run(kind: str, hooks: list[dict], state: dict) -> None:
    """Run `hooks` in order, each given `state` as JSON on stdin; the first failure raises
    (the caller decides whether that is fatal). `env` unset means the runtime's own
    environment, as runc passes it."""
    payload = json.dumps(state).encode()
    for hook in hooks:
        path = hook["path"]
        args = hook.get("args") or [path]
        env = None if hook.get("env") is None else \
            dict(e.partition("=")[::2] for e in hook["env"])
        try:
            proc = subprocess.Popen(args, executable=path, env=env, stdin=subprocess.PIPE,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    close_fds=True)
        except OSError as err:
            raise DockyardError(f"{kind} hook {path}: {err.strerror}")
        try:
            _, err_out = proc.communicate(payload, timeout=hook.get("timeout"))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise DockyardError(f"{kind} hook {path}: timed out after {hook['timeout']}s")
        if proc.returncode != 0:
            detail = err_out.decode(errors="replace").strip().splitlines()
            why = f"exit status {proc.returncode}" if proc.returncode > 0 else \
                f"killed by signal {-proc.returncode}"
            raise DockyardError(f"{kind} hook {path}: {why}" + (f": {detail[-1]}" if detail else ""))


def warn(kind: str, hooks: list[dict], state: dict) -> None:
    """A non-fatal kind: every hook runs; failures become warnings on stderr."""
    for hook in hooks:
        try:
            run(kind, [hook], state)
        except DockyardError as err:
            import logging

            logging.getLogger("dockyard.runtime").warning("%s", err.message)
