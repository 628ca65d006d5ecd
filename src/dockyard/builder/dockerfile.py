"""Dockerfile text to a `Dockerfile` of stages and instructions, following buildkit's parser.

The reading happens in Docker's order: parser directives at the very top (`# escape=`
changes the continuation character for the whole file), comments and blank lines dropped,
physical lines joined where one ends in the escape character (comment lines and empty
lines inside a continuation are skipped), the joined line split into instruction name,
`--flags` and arguments, then the bodies of any heredocs read from the lines that follow.
Nothing is expanded here: see `dockyard.builder.shellwords` and `dockyard.builder.argscope`.

Parsing is linear in the size of the file; no regular expression here can backtrack.
"""

from __future__ import annotations

import difflib
import re

from dockyard.builder.arguments import ArgumentError, healthcheck_config, parse_arguments
from dockyard.builder.flags import FlagError, parse_flags, split_flags
from dockyard.builder.instructions import (
    Dockerfile,
    DockerfileError,
    Heredoc,
    HeredocMarker,
    Instruction,
    Stage,
    parse_heredoc_marker,
)
from dockyard.builder.shellwords import ExpansionError, literal_words

INSTRUCTIONS = (
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
)
DIRECTIVES = ("syntax", "escape", "check")
_HEREDOC_INSTRUCTIONS = ("RUN", "COPY", "ADD")
_WHITESPACE = re.compile(r"[\t\v\f\r ]+")
_DIRECTIVE_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9]*")
_HEREDOC_HINT = re.compile(r"(?:^|\s)\d*<<")
_BOM = "\ufeff"


def parse(source: str | bytes, filename: str = "Dockerfile") -> Dockerfile:
    """Parses a Dockerfile; raises DockerfileError (`Dockerfile:LINE: what is wrong`)."""
    return _Parser(_decode(source, filename), filename).parse()


def _decode(source: str | bytes, filename: str) -> str:
    if isinstance(source, bytes):
        try:
            source = source.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
        except UnicodeDecodeError as err:
            line = source[: err.start].count(b"\n") + 1
            raise DockerfileError("the Dockerfile is not valid text (it is not UTF-8)", line, filename) from None
    source = source.removeprefix(_BOM)
    nul = source.find("\0")
    if nul >= 0:
        line = source.count("\n", 0, nul) + 1
        raise DockerfileError("the Dockerfile is not valid text (it contains NUL bytes)", line, filename)
    return source


class _Parser:
    def __init__(self, text: str, filename: str) -> None:
        self.lines = text.split("\n")
        if self.lines[-1] == "":
            self.lines.pop()
        self.filename = filename
        self.pos = 0
        self.escape = "\\"
        self.directives: dict[str, str] = {}
        self.directives_done = False
        self.warnings: list[str] = []

    def error(self, message: str, line: int) -> DockerfileError:
        return DockerfileError(message, line, self.filename)

    def parse(self) -> Dockerfile:
        instructions = []
        while self.pos < len(self.lines):
            instruction = self.next_instruction()
            if instruction is not None:
                instructions.append(instruction)
        return self.assemble(instructions)

    def next_instruction(self) -> Instruction | None:
        self.pos += 1
        start = self.pos
        token = self.lines[start - 1].rstrip("\r\n").lstrip()
        self.directive(token, start)
        if token.startswith("#"):
            return None
        line, continued = self.trim_continuation(token)
        if not continued and not line:
            return None
        has_empty = False
        while continued and self.pos < len(self.lines):
            self.pos += 1
            text = self.lines[self.pos - 1].rstrip("\r\n")
            stripped = text.lstrip()
            if stripped.startswith("#"):
                continue
            if not stripped:
                has_empty = True
                continue
            part, continued = self.trim_continuation(text)
            line += part
        if has_empty:
            self.warnings.append(f"{self.filename}:{start}: empty continuation line (a future Docker will reject it)")
        instruction = self.instruction(line, start)
        instruction.end_line = self.pos
        if instruction.sub is not None:
            instruction.sub.end_line = self.pos
        self.read_heredocs(instruction, line)
        return instruction

    def directive(self, token: str, line: int) -> None:
        """Records `# name=value` while only directives have been seen at the top of the file."""
        if self.directives_done:
            return
        name, eq, value = token[1:].lstrip().partition("=") if token.startswith("#") else ("", "", "")
        name, value = name.rstrip(), value.strip(" \t\f\r")
        if not eq or not value or not _DIRECTIVE_NAME.fullmatch(name) or name.lower() not in DIRECTIVES:
            self.directives_done = True
            return
        name = name.lower()
        if name in self.directives:
            raise self.error(f"only one {name} parser directive can be used", line)
        if name == "escape":
            if value not in ("\\", "`"):
                raise self.error(f"invalid escape token {value!r} does not match ` or \\", line)
            self.escape = value
        self.directives[name] = value

    def trim_continuation(self, text: str) -> tuple[str, bool]:
        """`(text without the trailing escape, True)` when the line continues on the next one.

        An escape character that is itself escaped (`\\\\` at the end) does not continue it.
        """
        body = text.rstrip(" \t")
        if body.endswith(self.escape) and (len(body) == 1 or body[-2] != self.escape):
            return body[:-1], True
        return text, False

    def instruction(self, line: str, start: int) -> Instruction:
        parts = _WHITESPACE.split(line.strip(), maxsplit=1)
        cmd = parts[0].upper()
        if cmd not in INSTRUCTIONS:
            raise self.error(_unknown_instruction(parts[0]), start)
        try:
            flag_words, rest = split_flags(parts[1] if len(parts) > 1 else "")
            flags = parse_flags(cmd, flag_words)
            rest = rest.strip()
            if cmd == "ONBUILD":
                return self.onbuild(line, rest, start, flags)
            args, json_form = parse_arguments(cmd, rest, self.escape)
            instruction = Instruction(cmd, line, args, start, start, flags, json_form)
            if cmd == "HEALTHCHECK":
                healthcheck_config(instruction)
        except (ArgumentError, FlagError) as err:
            raise self.error(str(err), start) from None
        return instruction

    def onbuild(self, line: str, rest: str, start: int, flags: dict[str, list[str]]) -> Instruction:
        if not rest:
            raise ArgumentError("ONBUILD requires at least one argument")
        trigger = _WHITESPACE.split(rest, maxsplit=1)[0].upper()
        if trigger == "ONBUILD":
            raise ArgumentError("chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
        if trigger in ("FROM", "MAINTAINER"):
            raise ArgumentError(f"{trigger} isn't allowed as an ONBUILD trigger")
        sub = self.instruction(rest, start)
        return Instruction("ONBUILD", line, [rest], start, start, flags, sub=sub)

    def read_heredocs(self, instruction: Instruction, line: str) -> None:
        """Reads the bodies of the heredocs the line announces, from the lines after it."""
        target = instruction.sub or instruction
        if target.cmd not in _HEREDOC_INSTRUCTIONS or target.json_form or not _HEREDOC_HINT.search(line):
            return
        try:
            words = literal_words(line, keep_quotes=True, keep_escapes=True)
        except ExpansionError:
            return
        for word in words:
            marker = parse_heredoc_marker(word)
            if marker is not None:
                target.heredocs.append(self.heredoc_body(marker, instruction.line))
        instruction.end_line = target.end_line = self.pos
        if instruction.sub is not None:
            instruction.args[0] += "".join(f"\n{doc.content}{doc.name}" for doc in target.heredocs)

    def heredoc_body(self, marker: HeredocMarker, start: int) -> Heredoc:
        content = []
        while self.pos < len(self.lines):
            raw = self.lines[self.pos]
            self.pos += 1
            candidate = raw.rstrip("\r\n")
            if marker.strip_tabs:
                candidate = candidate.lstrip("\t")
            if candidate == marker.name:
                return Heredoc(marker.name, "".join(content), marker.expand, marker.strip_tabs, marker.fd)
            content.append(raw + "\n")
        raise self.error(f"unterminated heredoc: no line {marker.name!r} ends the <<{marker.name} started here", start)

    def assemble(self, instructions: list[Instruction]) -> Dockerfile:
        last_line = max(len(self.lines), 1)
        if not instructions:
            raise self.error("the Dockerfile has no instructions (it needs at least a FROM)", last_line)
        meta_args: list[Instruction] = []
        stages: list[Stage] = []
        for instr in instructions:
            if instr.cmd == "FROM":
                name = instr.args[2].lower() if len(instr.args) == 3 else None
                stages.append(Stage(instr.args[0], name, instr.flag("platform"), instr.line, instr))
            elif stages:
                stages[-1].instructions.append(instr)
            elif instr.cmd == "ARG":
                meta_args.append(instr)
            else:
                raise self.error(f"{instr.cmd} before the first FROM: only ARG may come before FROM", instr.line)
        if not stages:
            raise self.error("the Dockerfile has no FROM instruction", last_line)
        return Dockerfile(stages, meta_args, self.directives, self.escape, self.warnings)


def _unknown_instruction(word: str) -> str:
    shown = word if len(word) <= 40 else word[:40] + "..."
    shown = shown if shown.isprintable() else repr(shown)
    message = f"unknown instruction: {shown}"
    close = difflib.get_close_matches(word.upper(), INSTRUCTIONS, n=1, cutoff=0.7)
    return f"{message} (did you mean {close[0]}?)" if close else message
