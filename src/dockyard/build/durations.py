"""Go duration strings (`30s`, `1m30s`, `1.5h`, `250ms`) as HEALTHCHECK options accept them.

Docker parses `--interval` and friends with Go's time.ParseDuration and stores nanoseconds
in the image config, so the same syntax and the same integer result are needed here.
"""

from __future__ import annotations

import re

_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000,
          "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_MAX = 2**63 - 1


def parse_duration(text: str) -> int:
    """Nanoseconds in `text`; raises ValueError for anything Go would reject."""
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return 0
    if not body:
        raise ValueError(f"invalid duration {text!r}")
    total = 0
    pos = 0
    while pos < len(body):
        match = _PART.match(body, pos)
        if not match:
            raise ValueError(f"invalid duration {text!r}")
        number, unit = match.groups()
        whole, _, frac = number.partition(".")
        scale = _UNITS[unit]
        total += int(whole or "0") * scale
        if frac:
            total += int(frac) * scale // 10 ** len(frac)
        pos = match.end()
    if total > _MAX:
        raise ValueError(f"invalid duration {text!r}: too large")
    return -total if text.startswith("-") else total
