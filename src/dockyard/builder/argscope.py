"""Which ARG and ENV values are in force where: the scoping rules of Dockerfile variables.

ARGs before the first FROM ("meta args") are visible only to FROM lines. Inside a stage an
ARG is visible from its declaration on; `ARG NAME` without a default inherits the meta
arg's value; `--build-arg` overrides defaults; and where an ENV and an ARG share a name the
ENV wins. The builder keeps one `StageScope` per stage and expands with `scope.vars`.
"""

from __future__ import annotations

from collections.abc import Mapping

from dockyard.builder.instructions import Dockerfile, Instruction, Stage
from dockyard.builder.shellwords import expand


def meta_args(dockerfile: Dockerfile, build_args: Mapping[str, str],
              predefined: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """Values of the ARGs declared before the first FROM (None: declared, no value).

    `predefined` holds the automatic args (TARGETPLATFORM, BUILDPLATFORM, ...) that FROM
    may use undeclared. Each default may refer to the meta args declared before it.
    """
    values: dict[str, str | None] = dict(predefined or {})
    for instr in dockerfile.meta_args:
        for name, default in instr.arg_decls:
            if name in build_args:
                values[name] = build_args[name]
            elif default is not None:
                values[name] = expand(default, _defined(values), dockerfile.escape)
            else:  # `ARG TARGETARCH` declares an automatic arg: it keeps its value
                values[name] = (predefined or {}).get(name)
    return values


def _defined(values: Mapping[str, str | None]) -> dict[str, str]:
    return {k: v for k, v in values.items() if v is not None}


def stage_base(stage: Stage, meta: Mapping[str, str | None], escape: str = "\\") -> tuple[str, str | None]:
    """`(image reference, platform or None)` of a FROM line, expanded with the meta args.

    Docker treats a meta arg declared without a value as the empty string here, and a
    platform that expands to nothing as no platform.
    """
    env = {k: v or "" for k, v in meta.items()}
    platform = expand(stage.platform, env, escape) if stage.platform else ""
    return expand(stage.base, env, escape), platform or None


class StageScope:
    """ARG and ENV state while the builder walks one stage's instructions."""

    def __init__(self, meta: Mapping[str, str | None], build_args: Mapping[str, str],
                 env: Mapping[str, str] | None = None, escape: str = "\\") -> None:
        self.meta = meta
        self.build_args = build_args
        self.escape = escape
        self.args: dict[str, str] = {}
        self.env: dict[str, str] = dict(env or {})
        self.used_build_args: set[str] = set()

    @property
    def vars(self) -> dict[str, str]:
        """What `$NAME` means at this point: stage ARGs, overridden by ENV of the same name."""
        return {**self.args, **self.env}

    def declare(self, name: str, default: str | None) -> str | None:
        """Applies `ARG name[=default]`; returns the value now in force, None when unset."""
        if name in self.build_args:
            value: str | None = self.build_args[name]
            self.used_build_args.add(name)
        elif default is not None:
            value = expand(default, self.vars, self.escape)
        else:
            value = self.meta.get(name)
        if value is not None:
            self.args[name] = value
        return value

    def apply(self, instr: Instruction) -> None:
        """Applies an ARG or ENV instruction. All values of one ENV line are expanded with the
        state before the line, as Docker does (`ENV a=1 b=$a` does not see the new `a`)."""
        if instr.cmd == "ARG":
            for name, default in instr.arg_decls:
                self.declare(name, default)
        elif instr.cmd == "ENV":
            before = self.vars
            pairs = [(expand(k, before, self.escape), expand(v, before, self.escape)) for k, v in instr.pairs]
            self.env.update(pairs)
