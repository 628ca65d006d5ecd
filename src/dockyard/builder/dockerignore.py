"""`.dockerignore`: which files of the build context the builder leaves out.

Docker's rules: a line starting with `#` is a comment; lines are trimmed; each pattern is
cleaned like Go's filepath.Clean and loses a leading `/`; `*`, `?` and `[...]` never match
a `/` (except `**`, which matches any number of directories); `\\` escapes; a pattern that
matches a directory excludes everything below it; `!pattern` re-includes, and the last
pattern that matches a path decides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from dockyard.errors import InvalidArgument


class DockerIgnoreError(InvalidArgument):
    """A .dockerignore pattern is malformed (unclosed `[`, trailing `\\`, a lone `!`)."""


def clean_path(path: str) -> str:
    """Go's filepath.Clean for `/`-separated paths: no `.`, no `x/..`, no doubled or trailing `/`."""
    if not path:
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append(part)
            continue
        parts.append(part)
    cleaned = "/".join(parts)
    if rooted:
        return "/" + cleaned
    return cleaned or "."


def parse_dockerignore(text: str | bytes) -> list[str]:
    """The patterns of a .dockerignore file, normalised as Docker normalises them."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    patterns = []
    for number, line in enumerate(text.split("\n")):
        if number == 0:
            line = line.removeprefix("\ufeff")
        if line.startswith("#"):
            continue
        line = line.strip()
        if not line:
            continue
        invert = line.startswith("!")
        if invert:
            line = line[1:].strip()
        if line:
            line = clean_path(line)
            if len(line) > 1 and line.startswith("/"):
                line = line[1:]
        patterns.append("!" + line if invert else line)
    return patterns


def _class(pattern: str, start: int) -> tuple[str, int]:
    """Translates the `[...]` at `start`; returns the regex class and the index after `]`."""
    i = start + 1
    negate = i < len(pattern) and pattern[i] == "^"
    i += negate
    items: list[str] = []
    while True:
        if i >= len(pattern):
            raise ValueError("unclosed character class")
        ch = pattern[i]
        if ch == "]" and items:
            break
        lo, i = _class_char(pattern, i)
        if i + 1 < len(pattern) and pattern[i] == "-" and pattern[i + 1] != "]":
            hi, i = _class_char(pattern, i + 1)
            items.append(f"{re.escape(lo)}-{re.escape(hi)}")
        else:
            items.append(re.escape(lo))
    return "[" + ("^" if negate else "") + "".join(items) + "]", i + 1


def _class_char(pattern: str, i: int) -> tuple[str, int]:
    ch = pattern[i]
    if ch == "]":
        raise ValueError("empty character class")
    if ch == "-":
        raise ValueError("bad range in character class")
    if ch == "\\":
        i += 1
        if i >= len(pattern):
            raise ValueError("trailing backslash")
        ch = pattern[i]
    return ch, i + 1


def _translate(pattern: str) -> str:
    """A Docker ignore pattern as a regular expression (without the anchors)."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if i < n and pattern[i] == "/":
                i += 1
            out.append(".*" if i >= n else "(?:.*/)?")
            continue
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            text, i = _class(pattern, i)
            out.append(text)
            continue
        elif ch == "\\":
            i += 1
            if i >= n:
                raise ValueError("trailing backslash")
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


@dataclass
class _Pattern:
    text: str
    exclusion: bool
    regex: re.Pattern[str]
    segments: list[re.Pattern[str] | None] = field(default_factory=list)


def _compile(raw: str) -> _Pattern:
    text = raw.strip()
    exclusion = text.startswith("!")
    if exclusion:
        text = text[1:]
        if not text:
            raise DockerIgnoreError('illegal exclusion pattern: "!" must be followed by a pattern')
    text = clean_path(text)
    if len(text) > 1:
        text = text.lstrip("/")
    try:
        regex = re.compile(_translate(text) + "(?:/.*)?", re.S)
        segments = [None if "**" in seg else re.compile(_translate(seg), re.S) for seg in text.split("/")]
    except ValueError as err:
        raise DockerIgnoreError(f"invalid .dockerignore pattern {raw!r}: {err}") from None
    return _Pattern(text, exclusion, regex, segments)


class DockerIgnore:
    """Decides, path by path, whether the build context leaves a file out."""

    def __init__(self, patterns: list[str]) -> None:
        self.patterns = [_compile(p) for p in patterns if p.strip()]
        self._exclusions = [p for p in self.patterns if p.exclusion]

    @classmethod
    def from_text(cls, text: str | bytes) -> DockerIgnore:
        return cls(parse_dockerignore(text))

    def matches(self, relpath: str) -> bool:
        """True when `relpath` (relative to the context, `/`-separated) is excluded."""
        path = clean_path(relpath).lstrip("/") or "."
        excluded = False
        for pattern in self.patterns:
            if pattern.exclusion == excluded and pattern.regex.fullmatch(path):
                excluded = not pattern.exclusion
        return excluded

    def may_descend(self, reldir: str) -> bool:
        """False only when nothing below directory `reldir` can be included, so a context walk
        can skip it whole. Conservative: True whenever an `!` pattern might reach inside."""
        if not self.matches(reldir):
            return True
        parts = clean_path(reldir).lstrip("/").split("/")
        return any(_may_match_below(p.segments, parts) for p in self._exclusions)


def _may_match_below(segments: list[re.Pattern[str] | None], parts: list[str]) -> bool:
    for index, part in enumerate(parts):
        if index >= len(segments):
            return True
        segment = segments[index]
        if segment is None:
            return True
        if not segment.fullmatch(part):
            return False
    return True
