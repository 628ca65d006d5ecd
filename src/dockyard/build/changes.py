"""Config-only instructions (CMD, ENV, EXPOSE, ...) applied to an image config.

The builder runs these for Dockerfile steps that change no files, and `import --change` /
`commit --change` run the very same code, so an instruction means the same thing wherever
it is written.
"""

from __future__ import annotations

import posixpath
from typing import Iterable, Mapping

from dockyard.build.instructions import DockerfileError, Instruction
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


def _set_env(config: dict, key: str, value: str) -> None:
    env = [e for e in (config.get("Env") or []) if e.partition("=")[0] != key]
    env.append(f"{key}={value}")
    config["Env"] = env


def _command(instr: Instruction, config: dict) -> list[str]:
    if instr.json_form:
        return list(instr.args)
    shell = config.get("Shell") or ["/bin/sh", "-c"]
    return [*shell, instr.args[0]]


def apply_instruction(config: dict, instr: Instruction, env: Mapping[str, str] | None = None,
                      escape: str = "\\") -> dict:
    """Apply one config-only instruction to `config` (the image config's `config` object) in place.
    `env` holds the variables for expansion (build args and ENV so far); defaults to the config's Env."""
    from dockyard.build.arguments import healthcheck_config
    from dockyard.build.shellwords import expand, split_words

    env = dict(env_map(config) if env is None else env)
    cmd = instr.cmd
    if cmd == "CMD":
        config["Cmd"] = _command(instr, config)
    elif cmd == "ENTRYPOINT":
        config["Entrypoint"] = _command(instr, config)
    elif cmd == "SHELL":
        config["Shell"] = list(instr.args)
    elif cmd == "ENV":
        for k, v in instr.pairs:
            key, value = expand(k, env, escape), expand(v, env, escape)
            _set_env(config, key, value)
            env[key] = value
    elif cmd == "LABEL":
        labels = dict(config.get("Labels") or {})
        for k, v in instr.pairs:
            labels[expand(k, env, escape)] = expand(v, env, escape)
        config["Labels"] = labels
    elif cmd == "MAINTAINER":
        pass  # recorded as the image's author by the builder, not in this object
    elif cmd == "EXPOSE":
        ports = dict(config.get("ExposedPorts") or {})
        for word in instr.args:
            for port in split_words(word, env, escape):
                ports[_port_key(port, instr)] = {}
        config["ExposedPorts"] = ports
    elif cmd == "VOLUME":
        vols = dict(config.get("Volumes") or {})
        for word in instr.args:
            path = expand(word, env, escape)
            if not path:
                raise DockerfileError("VOLUME specified can not be an empty string", instr.line)
            vols[path] = {}
        config["Volumes"] = vols
    elif cmd == "USER":
        config["User"] = expand(instr.args[0], env, escape)
    elif cmd == "WORKDIR":
        path = expand(instr.args[0], env, escape)
        config["WorkingDir"] = posixpath.normpath(posixpath.join(config.get("WorkingDir") or "/", path))
    elif cmd == "STOPSIGNAL":
        config["StopSignal"] = expand(instr.args[0], env, escape)
    elif cmd == "ONBUILD":
        config["OnBuild"] = [*(config.get("OnBuild") or []), instr.args[0]]
    elif cmd == "HEALTHCHECK":
        config["Healthcheck"] = healthcheck_config(instr)
    else:
        raise InvalidArgument(f"{cmd} changes files, not the image config")
    return config


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
    from dockyard.build.dockerfile import parse

    out = dict(config)
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
