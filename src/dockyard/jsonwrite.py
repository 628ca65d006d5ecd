"""`json.dumps` with its defaults, without importing `json` (see jsonread.py: the package
brings `re` and friends, ~4 ms, to the commands that answer before the parser loads).

CPython's C encoder in `_json` is what json.dumps itself runs for a one-shot dump without
indent; it is driven here with json.dumps's settings, so the text is the same.
"""

from __future__ import annotations

import _json


def _default(value: object) -> object:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def dumps(value: object) -> str:
    encode = _json.make_encoder({}, _default, _json.encode_basestring_ascii, None, ": ", ", ", False, False, True)
    return "".join(encode(value, 0))
