"""The argument forms of each instruction, read and checked as Docker reads and checks them.

Docker has a handful of forms: exec form (a JSON array of strings, falling back to shell
form when the text is not valid JSON), plain whitespace-separated words, one whole string,
and `key=value` lists with a legacy `KEY value with spaces` variant. Each instruction uses
one; the table in `parse_arguments` says which, and the checks give Docker's messages.
"""

from __future__ import annotations

import json
import re

from dockyard.oci.durations import parse_duration
from dockyard.builder.instructions import Instruction, parse_heredoc_marker

_WHITESPACE = re.compile(r"[\t\v\f\r ]+")
_STAGE_NAME = re.compile(r"[a-z][a-z0-9\-_.]*")
_MIN_HEALTH_DURATION = 1_000_000  # 1ms, Docker's minimum for HEALTHCHECK durations


class ArgumentError(ValueError):
    """An instruction's arguments are malformed; the parser adds file and line."""


def _word_pattern(esc: str) -> re.Pattern[str]:
    e = re.escape(esc)
    return re.compile(
        rf"""(?:[^\s"'{e}]++|{e}.|"(?:[^"{e}]++|{e}.)*+(?:"|(?P<qt>{e})?\Z)|'[^']*+(?:'|\Z)|(?P<tail>{e})\Z)++""",
        re.S,
    )


_WORDS = {esc: _word_pattern(esc) for esc in ("\\", "`")}


def parse_words(rest: str, escape: str) -> list[str]:
    """Whitespace-separated words, where quotes and escapes keep spaces inside a word.

    Quotes and escape characters stay in the words (they are removed later, at expansion);
    only an escape character at the very end of the text is dropped.
    """
    words = []
    for match in _WORDS[escape].finditer(rest):
        word = match.group()
        if match.group("qt") or match.group("tail"):
            word = word[:-1]
        if word:
            words.append(word)
    return words


def exec_form(rest: str) -> list[str] | None:
    """The JSON array in `rest`, or None when `rest` is not JSON (then it is shell form)."""
    text = rest.lstrip()
    if not text.startswith("["):
        return None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(item, str) for item in value):
        raise ArgumentError("when using JSON array syntax, arrays must be comprised of strings only")
    return value


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _split(rest: str) -> list[str]:
    rest = rest.strip()
    return _WHITESPACE.split(rest) if rest else []


def _key_values(cmd: str, rest: str, escape: str) -> list[str]:
    """ENV/LABEL: `k=v k2="v 2"` or legacy `k value with spaces` (one key, the rest its value)."""
    words = parse_words(rest, escape)
    if not words:
        raise ArgumentError(f"{cmd} requires at least one argument")
    if "=" not in words[0]:
        parts = _WHITESPACE.split(rest.strip(), maxsplit=1)
        if len(parts) < 2:
            raise ArgumentError(f"{cmd} must have two arguments (use {cmd} {parts[0]}=<value>)")
        return parts
    flat: list[str] = []
    for word in words:
        key, eq, value = word.partition("=")
        if not eq:
            raise ArgumentError(f"Syntax error - can't find = in {word!r}. Must be of the form: name=value")
        if not key:
            raise ArgumentError(f"{cmd} names can not be blank")
        flat += [key, value]
    return flat


def _command(rest: str) -> tuple[list[str], bool]:
    """RUN/CMD/ENTRYPOINT/SHELL: exec form, or the shell command line as one string."""
    args = exec_form(rest)
    if args is not None:
        return args, True
    return ([rest] if rest else []), False


def parse_arguments(cmd: str, rest: str, escape: str) -> tuple[list[str], bool]:
    """`(args, json_form)` for instruction `cmd` whose text after name and flags is `rest`."""
    if cmd in ("RUN", "CMD", "ENTRYPOINT", "SHELL"):
        args, json_form = _command(rest)
        if cmd == "SHELL" and args and not json_form:
            raise ArgumentError('SHELL requires the arguments to be in JSON form, e.g. SHELL ["/bin/sh", "-c"]')
        if cmd in ("RUN", "SHELL") and not args:
            raise ArgumentError(f"{cmd} requires at least one argument")
        return args, json_form
    if cmd in ("ADD", "COPY", "VOLUME"):
        args = exec_form(rest)
        json_form = args is not None
        args = args if args is not None else _split(rest)
        _check_list(cmd, args)
        return args, json_form
    if cmd in ("ENV", "LABEL"):
        return _key_values(cmd, rest, escape), False
    if cmd == "ARG":
        return _arg_words(rest, escape), False
    if cmd == "FROM":
        args = _split(rest)
        _check_from(args)
        return args, False
    if cmd == "EXPOSE":
        args = _split(rest)
        if not args:
            raise ArgumentError("EXPOSE requires at least one argument")
        return args, False
    if cmd in ("USER", "WORKDIR", "STOPSIGNAL", "MAINTAINER"):
        if not rest:
            raise ArgumentError(f"{cmd} requires exactly one argument")
        return [rest], False
    if cmd == "HEALTHCHECK":
        return _healthcheck_args(rest)
    raise ArgumentError(f"unknown instruction: {cmd}")


def _check_list(cmd: str, args: list[str]) -> None:
    if cmd == "VOLUME":
        if not args:
            raise ArgumentError("VOLUME requires at least one argument")
        if any(not arg.strip() for arg in args):
            raise ArgumentError("VOLUME specified can not be an empty string")
        return
    if len(args) < 2:
        raise ArgumentError(
            f"{cmd} requires at least two arguments, but only {len(args) or 'none'} "
            f"{'was' if len(args) == 1 else 'were'} provided: the destination could not be determined"
        )
    if parse_heredoc_marker(args[-1]) is not None:
        raise ArgumentError(f"{cmd} cannot accept a heredoc as a destination")


def _arg_words(rest: str, escape: str) -> list[str]:
    words = parse_words(rest, escape)
    if not words:
        raise ArgumentError("ARG requires at least one argument")
    if any(word.startswith("=") for word in words):
        raise ArgumentError("ARG names can not be blank")
    return words


def _check_from(args: list[str]) -> None:
    if len(args) == 3 and args[1].lower() == "as":
        if not _STAGE_NAME.fullmatch(args[2].lower()):
            raise ArgumentError(
                f"invalid name for build stage: {args[2]!r}, name can't start with a number or contain symbols"
            )
    elif len(args) != 1:
        raise ArgumentError("FROM requires either one or three arguments (FROM image [AS name])")


def _healthcheck_args(rest: str) -> tuple[list[str], bool]:
    parts = re.split(r"\s+", rest, maxsplit=1)
    kind, command = parts[0], (parts[1] if len(parts) > 1 else "")
    if not kind:
        raise ArgumentError("HEALTHCHECK requires at least one argument")
    args, json_form = _command(command)
    if kind.upper() == "NONE":
        if args:
            raise ArgumentError("HEALTHCHECK NONE takes no arguments")
    elif kind.upper() != "CMD":
        raise ArgumentError(f"Unknown type {kind!r} in HEALTHCHECK (try CMD)")
    elif not args:
        raise ArgumentError("Missing command after HEALTHCHECK CMD")
    return [kind.upper(), *args], json_form


def healthcheck_config(instr: Instruction) -> dict[str, object]:
    """The image config `Healthcheck` object for a HEALTHCHECK instruction (durations in ns).

    Raises ArgumentError for durations Go would reject or below Docker's 1ms minimum, and
    for `--retries` below 1.
    """
    kind, command = instr.args[0], instr.args[1:]
    if kind == "NONE":
        if instr.flags:
            raise ArgumentError("HEALTHCHECK NONE takes no flags")
        return {"Test": ["NONE"]}
    test = ["CMD", *command] if instr.json_form else ["CMD-SHELL", *command]
    config: dict[str, object] = {"Test": test}
    for flag, key in (("interval", "Interval"), ("timeout", "Timeout"),
                      ("start-period", "StartPeriod"), ("start-interval", "StartInterval")):
        value = instr.flag(flag)
        if value:
            config[key] = _health_duration(flag, value)
    retries = instr.flag("retries")
    if retries:
        try:
            count = int(retries)
        except ValueError:
            raise ArgumentError(f"--retries must be a whole number, not {retries!r}") from None
        if count < 1:
            raise ArgumentError(f"--retries must be at least 1 (not {count})")
        config["Retries"] = count
    return config


def _health_duration(flag: str, value: str) -> int:
    try:
        nanos = parse_duration(value)
    except ValueError:
        raise ArgumentError(f"--{flag}: invalid duration {value!r} (use e.g. 30s, 1m30s, 500ms)") from None
    if nanos == 0:
        return 0
    if nanos < _MIN_HEALTH_DURATION:
        raise ArgumentError(f"--{flag} {value!r} cannot be less than 1ms")
    return nanos
