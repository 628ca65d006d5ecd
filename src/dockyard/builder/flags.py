"""Instruction flags (`COPY --from=build --chown=1:1 ...`): where they end and which are allowed.

Flags are the `--words` right after the instruction name. Docker reads them with its own
small quoting rules (the backslash always escapes here, whatever `# escape=` says) and then
checks each against the instruction's list, so `RUN --form=x` is an error, not a command.
"""

from __future__ import annotations

from enum import Enum


class Kind(Enum):
    STRING = "string"  # --name=value, once
    MULTI = "multi"  # --name=value, any number of times
    BOOL = "bool"  # --name, --name=true, --name=false


_S, _M, _B = Kind.STRING, Kind.MULTI, Kind.BOOL

ALLOWED: dict[str, dict[str, Kind]] = {
    "FROM": {"platform": _S},
    "RUN": {"mount": _M, "network": _S, "security": _S},
    "ADD": {"chown": _S, "chmod": _S, "link": _B, "keep-git-dir": _B, "checksum": _S,
            "exclude": _M, "unpack": _B},
    "COPY": {"from": _S, "chown": _S, "chmod": _S, "link": _B, "parents": _B, "exclude": _M},
    "HEALTHCHECK": {"interval": _S, "timeout": _S, "start-period": _S, "start-interval": _S,
                    "retries": _S},
}


class FlagError(ValueError):
    """A flag is unknown, repeated, or lacks its value; the parser adds the line number."""


def split_flags(rest: str) -> tuple[list[str], str]:
    """Takes the leading `--flag` words off `rest`: `(["--from=a", ...], what follows)`.

    A word counts as a flag only if it starts with `--`; a bare `--` ends the flags.
    """
    flags: list[str] = []
    pos, n = 0, len(rest)
    while True:
        while pos < n and rest[pos].isspace():
            pos += 1
        if not rest.startswith("--", pos):
            return flags, rest[pos:]
        word, pos = _flag_word(rest, pos)
        if word == "--":
            return flags, rest[pos:]
        flags.append(word)


def _flag_word(rest: str, pos: int) -> tuple[str, int]:
    """One flag word from `pos`, with quotes removed and backslash escapes applied."""
    out: list[str] = []
    quote = ""
    n = len(rest)
    while pos < n:
        ch = rest[pos]
        if not quote and ch.isspace():
            break
        pos += 1
        if ch == quote:
            quote = ""
            continue
        if not quote and ch in "'\"":
            quote = ch
            continue
        if ch == "\\":
            if pos == n:
                break
            ch = rest[pos]
            pos += 1
        out.append(ch)
    return "".join(out), pos


def parse_flags(cmd: str, words: list[str]) -> dict[str, list[str]]:
    """Checks `words` against what `cmd` accepts and returns `{name: [values...]}`."""
    allowed = ALLOWED.get(cmd, {})
    flags: dict[str, list[str]] = {}
    for word in words:
        name, eq, value = word[2:].partition("=")
        kind = allowed.get(name)
        if kind is None:
            raise FlagError(_unknown(cmd, name, allowed))
        if name in flags and kind is not Kind.MULTI:
            raise FlagError(f"duplicate flag specified: --{name}")
        if kind is Kind.BOOL:
            if eq and value.lower() not in ("true", "false"):
                raise FlagError(f"expecting boolean value for flag --{name}, not: {value!r}")
            value = value.lower() if eq else "true"
        elif not eq:
            raise FlagError(f"missing a value on flag: --{name}")
        flags.setdefault(name, []).append(value)
    return flags


def _unknown(cmd: str, name: str, allowed: dict[str, Kind]) -> str:
    if not allowed:
        return f"unknown flag: --{name} ({cmd} takes no flags)"
    return f"unknown flag: --{name} ({cmd} accepts {', '.join('--' + f for f in allowed)})"
