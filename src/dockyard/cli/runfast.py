"""`run` started before the command-line parser loads.

click and the CLI's modules cost a start ~15-20 ms before any container work begins. A
`run` (or `container run`) without global options whose image is present is parsed here,
with the same flag table click's command is made from (runflags.py), into the same
parameters click would pass, and goes on through the same code (running.py). Anything
else returns None before any work is done and the full command runs as it always would:
an unknown or malformed flag, --help, a value click would refuse, an image to pull, a
killed build's leftovers to release first. Failures print what the full command prints.
"""

from __future__ import annotations

import os

from dockyard.cli.runflags import INT, PATH, RUN_FLAGS, RUN_ONLY_FLAGS, SWITCH, Flag

_BY_NAME: dict[str, tuple[Flag, bool]] = {}  # option name -> (flag, the value a switch takes)
for _flag in (*RUN_FLAGS, *RUN_ONLY_FLAGS):
    for _name in _flag.names:
        _BY_NAME[_name] = (_flag, True)
    if _flag.off:
        _BY_NAME[_flag.off] = (_flag, False)


def before_parsing(args: list[str]) -> int | None:
    """Run `run ...` here if it is a plain one: the exit code, or None for anything else."""
    if args[:2] == ["container", "run"]:
        args = args[1:]
    if args[:1] != ["run"]:
        return None
    parsed = parse(args[1:])
    if parsed is None:
        return None
    image, command, params = parsed
    if params["pull"] != "missing" or params["platform"]:
        return None
    from dockyard.engine import Engine
    from dockyard.errors import DockyardError
    from dockyard.locations import BUILD_MARKERS

    try:
        engine = Engine()
    except (DockyardError, OSError):
        return None  # the full command reports it
    try:
        if os.listdir(engine.root / BUILD_MARKERS):
            return None  # a killed build's leftovers: the full command releases them first
    except FileNotFoundError:
        pass
    except OSError:
        return None
    from dockyard.cli.plain import failure_code
    from dockyard.cli.running import run
    from dockyard.cli.runflags import create_body

    try:
        if engine.images.find(image) is None:
            return None  # the full command says so and pulls it
        o = {k: v for k, v in params.items() if k not in ("detach", "rm", "attach", "sig_proxy")}
        o["rm"] = params["rm"]
        return run(engine, create_body(image, tuple(command), o), o, detach=params["detach"], rm=params["rm"],
                   sig_proxy=params["sig_proxy"])
    except (Exception, KeyboardInterrupt) as e:
        return failure_code(e, debug=False)


def parse(args: list[str]) -> tuple[str, list[str], dict] | None:
    """(image, command, parameters) as click parses `run`'s arguments (options up to the
    image, the rest is the command), or None where click would answer otherwise."""
    values: dict = {f.dest: f.default for f in (*RUN_FLAGS, *RUN_ONLY_FLAGS)}
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "-" or not arg.startswith("-"):
            return arg, args[i:], values
        if arg.startswith("--"):
            name, eq, attached = arg.partition("=")
            found = _BY_NAME.get(name)
            if found is None or (eq and found[0].kind == SWITCH):
                return None  # unknown (--help too), or a switch given a value
            flag, on = found
            if flag.kind == SWITCH:
                values[flag.dest] = on
                continue
            if not eq:
                if i == len(args):
                    return None
                attached, i = args[i], i + 1
            if not _take(values, flag, attached):
                return None
            continue
        for j in range(1, len(arg)):  # a cluster of short options: -it, -dp80:80
            found = _BY_NAME.get("-" + arg[j])
            if found is None:
                return None
            flag, on = found
            if flag.kind == SWITCH:
                values[flag.dest] = on
                continue
            value = arg[j + 1:]
            if not value:
                if i == len(args):
                    return None
                value, i = args[i], i + 1
            if not _take(values, flag, value):
                return None
            break
    return None  # no image: click's usage error


def _take(values: dict, flag: Flag, text: str) -> bool:
    """Record one value of `flag` as click converts it; False where click would refuse it."""
    value: object = text
    if flag.kind == INT:
        try:
            value = int(text)
        except ValueError:
            return False
    elif flag.kind == PATH:
        try:
            if os.path.isdir(text) or (os.path.exists(text) and not os.access(text, os.R_OK)):
                return False
        except ValueError:  # a NUL in the path
            return False
    elif flag.choices and text not in flag.choices:
        return False
    values[flag.dest] = (*values[flag.dest], value) if flag.many else value
    return True
