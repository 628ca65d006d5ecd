"""`json.loads` for the read-only commands, without importing `json`.

The `json` package compiles regular expressions when imported, so it brings in `re` (and
`enum`, `functools`, `collections`): ~4 ms, a third of the interpreter's own start, before
`ps` reads its first row. The parser itself is CPython's C scanner in `_json`, which `json`
uses too; this module drives it directly, with json.loads's defaults, so values and errors
are the same (a malformed document raises ValueError).
"""

from __future__ import annotations

import _json

_WHITESPACE = " \t\n\r"
_WHITESPACE_CHARS = tuple(_WHITESPACE)  # "" (the end) is not among them


class _Defaults:
    """The settings json.JSONDecoder() hands the scanner."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}.__getitem__
    memo: dict = {}


_scan = _json.make_scanner(_Defaults)


def loads(text: str | bytes) -> object:
    if not isinstance(text, str):
        text = text.decode("utf-8", "surrogatepass")  # as json.loads decodes UTF-8
    start = 0
    while text[start:start + 1] in _WHITESPACE_CHARS:  # not lstrip: that copies a record's whole text
        start += 1
    try:
        value, end = _scan(text, start)
    except StopIteration:
        raise ValueError(f"no JSON value at {start}") from None
    finally:
        _Defaults.memo.clear()
    if end != len(text) and text[end:].strip(_WHITESPACE):
        raise ValueError(f"extra data after the JSON value at {end}")
    return value


def load_file(path: str) -> object:
    with open(path, encoding="utf-8") as f:
        return loads(f.read())
