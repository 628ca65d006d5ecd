"""Config-only instructions (CMD, ENV, EXPOSE, ...) applied to an image config.

The builder runs these for Dockerfile steps that change no files, and `import --change` /
`commit --change` run the very same code, so an instruction means the same thing wherever
it is written.
"""

from __future__ import annotations

import posixpath
from typing import Iterable, Mapping

from dockyard.builder.instructions import DockerfileError, Instruction
from dockyard.errors import InvalidArgument

CONFIG_ONLY = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "HEALTHCHECK", "LABEL", "ONBUILD", "SHELL", "STOPSIGNAL",
               "USER", "VOLUME", "WORKDIR", "MAINTAINER")
CHANGE_ALLOWED = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "HEALTHCHECK", "LABEL", "ONBUILD", "STOPSIGNAL", "USER",
                  "VOLUME", "WORKDIR")


def env_map(config: dict) -> dict[str, str]:
    out = {}
    for item in config.get("Env") or []:
        k, _, v = item.partition("=")
        out[k] = v
    return out


def _set_env(config: dict, key: str, value: str, maybe_set: bool) -> None:
    """Set `key` in the Env list in place, as Docker does: where it is, else at the end.
    `maybe_set` false says it is not there, sparing the search."""
    env = config.get("Env")
    if env is None:
        env = config["Env"] = []
    if maybe_set:
        for i, item in enumerate(env):
            if item.partition("=")[0] == key:
                env[i] = f"{key}={value}"
                return
    env.append(f"{key}={value}")


def _command(instr: Instruction, config: dict) -> list[str]:
    if instr.json_form:
        return list(instr.args)
    shell = config.get("Shell") or ["/bin/sh", "-c"]
    return [*shell, instr.args[0]]


def apply_instruction(config: dict, instr: Instruction, env: Mapping[str, str] | None = None,
                      escape: str = "\\") -> dict:
    """Apply one config-only instruction to `config` (the image config's `config` object) in
    place, touching only what the instruction sets (a build of thousands of LABEL lines must not
    copy the labels so far at each one). `env` holds the variables for expansion (build args and
    ENV so far); defaults to the config's Env.

    Returns what the instruction set, by config key (for LABEL, ENV, EXPOSE and VOLUME only the
    entries it added): with the instruction's name, that and the config before determine the
    config after, which is what a build cache key needs."""
    from dockyard.builder.arguments import healthcheck_config
    from dockyard.builder.shellwords import expand, split_words

    from collections import ChainMap

    env = ChainMap({}, env_map(config) if env is None else env)  # ENV's own values first, never copying `env`
    cmd = instr.cmd
    if cmd in ("CMD", "ENTRYPOINT"):
        key = "Cmd" if cmd == "CMD" else "Entrypoint"
        config[key] = _command(instr, config)
        return {key: config[key]}
    if cmd == "ENV":
        added = []
        for k, v in instr.pairs:
            key, value = expand(k, env, escape), expand(v, env, escape)
            _set_env(config, key, value, key in env)  # what is in Env is among the variables
            env[key] = value
            added.append(f"{key}={value}")
        return {"Env": added}
    if cmd == "LABEL":
        labels = {expand(k, env, escape): expand(v, env, escape) for k, v in instr.pairs}
        return {"Labels": _entries(config, "Labels", labels)}
    if cmd == "MAINTAINER":
        return {}  # recorded as the image's author by the builder, not in this object
    if cmd == "EXPOSE":
        ports = {_port_key(port, instr): {} for word in instr.args for port in split_words(word, env, escape)}
        return {"ExposedPorts": _entries(config, "ExposedPorts", ports)}
    if cmd == "VOLUME":
        vols = {}
        for word in instr.args:
            path = expand(word, env, escape)
            if not path:
                raise DockerfileError("VOLUME specified can not be an empty string", instr.line)
            vols[path] = {}
        return {"Volumes": _entries(config, "Volumes", vols)}
    if cmd == "ONBUILD":
        config["OnBuild"] = [*(config.get("OnBuild") or []), instr.args[0]]
        return {"OnBuild": instr.args[0]}
    if cmd == "SHELL":
        value, key = list(instr.args), "Shell"
    elif cmd == "USER":
        value, key = expand(instr.args[0], env, escape), "User"
    elif cmd == "WORKDIR":
        path = expand(instr.args[0], env, escape)
        value, key = posixpath.normpath(posixpath.join(config.get("WorkingDir") or "/", path)), "WorkingDir"
    elif cmd == "STOPSIGNAL":
        value, key = expand(instr.args[0], env, escape), "StopSignal"
    elif cmd == "HEALTHCHECK":
        value, key = healthcheck_config(instr), "Healthcheck"
    else:
        raise InvalidArgument(f"{cmd} changes files, not the image config")
    config[key] = value
    return {key: value}


def _entries(config: dict, key: str, added: dict) -> dict:
    """Add `added` to the mapping `config[key]` in place (made when absent or null)."""
    current = config.get(key)
    if current is None:
        current = config[key] = {}
    current.update(added)
    return added


def _port_key(port: str, instr: Instruction) -> str:
    num, _, proto = port.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise DockerfileError(f"invalid proto: {proto}", instr.line)
    lo, _, hi = num.partition("-")
    if not lo.isdigit() or (hi and not hi.isdigit()):
        raise DockerfileError(f"invalid containerPort: {num}", instr.line)
    return f"{num}/{proto}"


def apply_changes(config: dict, changes: Iterable[str]) -> dict:
    """`--change` lines (Dockerfile instructions) applied in order to a copy of `config`."""
    import copy

    from dockyard.builder.dockerfile import parse

    out = copy.deepcopy(config)
    for change in changes:
        try:
            instrs = parse(f"FROM scratch\n{change}\n", filename="--change").stages[0].instructions
        except DockerfileError as e:
            raise InvalidArgument(f"invalid --change {change!r}: {e.message}") from None
        for instr in instrs:
            if instr.cmd not in CHANGE_ALLOWED:
                raise InvalidArgument(f"{instr.cmd} is not a valid change command: use one of {', '.join(CHANGE_ALLOWED)}")
            apply_instruction(out, instr)
    return out
