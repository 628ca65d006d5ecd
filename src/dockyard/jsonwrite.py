"""`json.dumps` for the read-only commands, without importing `json` (jsonread.py's other half).

Importing `json` brings `re`, `enum` and `functools` (~4 ms, half the interpreter's own start),
and with `indent` json.dumps runs its pure-Python encoder anyway. This writes the same text for
what JSON documents are made of (dicts with string keys, lists, tuples, strings, numbers,
booleans, None), quoting strings with the C function json uses; anything else (another key
type, NaN, an object json would reject) is handed to json.dumps, so values and errors are the same.
"""

from __future__ import annotations

import _json

_quote = _json.encode_basestring_ascii  # json.dumps's default: ensure_ascii


class _Unusual(Exception):
    """Something json.dumps is left to write (or to refuse)."""


def dumps(value: object, indent: int | None = None) -> str:
    """json.dumps(value, indent=indent), with its other arguments left at their defaults."""
    out: list[str] = []
    try:
        _write(value, out, "\n" if indent is not None else None, " " * (indent or 0))
    except _Unusual:
        import json
        return json.dumps(value, indent=indent)
    return "".join(out)


def _write(value: object, out: list[str], newline: str | None, step: str) -> None:
    """Append value's JSON to out; newline is None without indent, else "\\n" and the
    current level's indent."""
    if isinstance(value, str):
        out.append(_quote(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise _Unusual
        out.append(float.__repr__(value))
    elif isinstance(value, (list, tuple)):
        if not value:
            out.append("[]")
            return
        inner = newline + step if newline is not None else None
        separator = "," + inner if inner is not None else ", "
        out.append("[" + inner if inner is not None else "[")
        for i, item in enumerate(value):
            if i:
                out.append(separator)
            _write(item, out, inner, step)
        out.append(newline + "]" if newline is not None else "]")
    elif isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        inner = newline + step if newline is not None else None
        separator = "," + inner if inner is not None else ", "
        out.append("{" + inner if inner is not None else "{")
        first = True
        for key, item in value.items():
            if not isinstance(key, str):
                raise _Unusual
            if not first:
                out.append(separator)
            first = False
            out.append(_quote(key))
            out.append(": ")
            _write(item, out, inner, step)
        out.append(newline + "}" if newline is not None else "}")
    else:
        raise _Unusual
