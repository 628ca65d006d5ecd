"""Which Dockerfile line a failed build stopped at, read from the build's output.

Builders say where they are in one of three ways: a parse error names the line
(`Dockerfile:7: unknown instruction`), the classic builder announces steps
(`Step 3/5 : RUN make`) and BuildKit-style output announces them as `[2/5] RUN make`. The
last one seen before the failure is the failing step; it is then found in the Dockerfile so
the page can say `Dockerfile line 7: RUN make`.
"""

from __future__ import annotations

import re

_LINE_REF = re.compile(r"(?:^|[\s'\"(])(?:[\w./-]*/)?Dockerfile[\w.-]*:(\d+)\b")
_STEP = re.compile(r"^\s*(?:#\d+\s+)?(?:Step\s+\d+/\d+\s*:\s*|\[(?:[\w.-]+\s+)?\d+/\d+\]\s+)(?P<instr>\S.*)$")


def _norm(text: str) -> str:
    return " ".join(text.split()).lower()


def failing_log_line(lines: list[str]) -> int | None:
    """The index of the log line that announced the failed step (or named the Dockerfile line), if any."""
    found = None
    for i, out in enumerate(lines):
        if _STEP.match(out) or _LINE_REF.search(out):
            found = i
    return found


def failing_line(log: str, dockerfile: str) -> str:
    """`Dockerfile line N: TEXT` for the step the build failed at; '' when the log does not tell."""
    lines = dockerfile.splitlines()
    last_ref: int | None = None
    last_step: str | None = None
    for out in log.splitlines():
        m = _STEP.match(out)
        if m:
            last_step = m.group("instr")
            last_ref = None
            continue
        ref = _LINE_REF.search(out)
        if ref:
            last_ref = int(ref.group(1))
    if last_ref is not None and 1 <= last_ref <= len(lines):
        return f"Dockerfile line {last_ref}: {lines[last_ref - 1].strip()}"
    if last_step is None:
        return ""
    wanted = _norm(last_step)
    for number, text in enumerate(lines, 1):
        if text.strip() and (_norm(text) == wanted or _norm(text).startswith(wanted)):
            return f"Dockerfile line {number}: {text.strip()}"
    return f"Dockerfile step: {last_step.strip()}"
