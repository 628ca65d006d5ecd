"""What a parsed Dockerfile is made of: instructions, heredocs, stages.

The parser fills these in and the builder reads them. Arguments are kept as written
(variables unexpanded) because expansion depends on the ARG and ENV values in force when
the builder reaches each instruction; `dockyard.builder.shellwords` does that expansion.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from dockyard.builder.shellwords import ExpansionError, literal_words
from dockyard.errors import InvalidArgument

_LEADING_TABS = re.compile(r"^\t+", re.M)
_HEREDOC_WORD = re.compile(r"^(\d*)<<(-?)([^<]*)$")


class DockerfileError(InvalidArgument):
    """The Dockerfile is malformed; the message starts with `file:line:` like a compiler's."""

    def __init__(self, message: str, line: int, filename: str = "Dockerfile") -> None:
        super().__init__(f"{filename}:{line}: {message}")
        self.line = line
        self.filename = filename
        self.reason = message


@dataclass(frozen=True)
class Heredoc:
    """An inline file (`<<EOF ... EOF`) attached to RUN, COPY or ADD.

    `content` is the text exactly as written, each line with its own line ending;
    `expand` is false when the delimiter was quoted (`<<"EOF"`), and `strip_tabs`
    is true for `<<-EOF`, whose lines lose their leading tabs (see `body`).
    """

    name: str
    content: str
    expand: bool = True
    strip_tabs: bool = False
    fd: int | None = None

    @property
    def body(self) -> str:
        """The content as the file or script should receive it (tabs stripped for `<<-`)."""
        return _LEADING_TABS.sub("", self.content) if self.strip_tabs else self.content


@dataclass(frozen=True)
class HeredocMarker:
    """A `<<EOF`-style word on an instruction line, before its content has been read."""

    name: str
    expand: bool
    strip_tabs: bool
    fd: int | None


def parse_heredoc_marker(word: str) -> HeredocMarker | None:
    """Reads `[fd]<<[-]DELIM` the way Docker does; quoting any part of DELIM turns off
    expansion of the content, which is noticed by comparing the quote counts with and
    without quote removal. Anything else (`<<`, `a<<b`, `<<a b`) is no marker."""
    match = _HEREDOC_WORD.match(word)
    if not match or not match.group(3):
        return None
    try:
        words = literal_words(match.group(3), keep_quotes=False, keep_escapes=False)
        quoted = literal_words(match.group(3), keep_quotes=True, keep_escapes=False)
    except ExpansionError:
        return None
    if len(words) != 1 or len(quoted) != 1:
        return None
    expand = _quote_count(words[0]) == _quote_count(quoted[0])
    fd = int(match.group(1)) if match.group(1) else None
    return HeredocMarker(words[0], expand, match.group(2) == "-", fd)


def _quote_count(word: str) -> int:
    return word.count("'") + word.count('"')


@dataclass
class Instruction:
    """One instruction, with its arguments in Docker's parsed form.

    `args` by instruction:
      RUN, CMD, ENTRYPOINT, SHELL: the exec-form list when `json_form`, else `[command line]`;
      ENV, LABEL: `[key1, value1, key2, value2, ...]` (see `pairs`);
      ARG: `["name", "name=default", ...]` (see `arg_decls`);
      FROM, EXPOSE, ADD, COPY, VOLUME: the whitespace-separated (or JSON) words;
      USER, WORKDIR, STOPSIGNAL, MAINTAINER: `[the whole argument text]`;
      HEALTHCHECK: `["NONE"]` or `["CMD", ...command as for CMD...]`;
      ONBUILD: `[trigger text]`, with the trigger parsed into `sub`.
    `flags` maps each `--name` to its values in order (a bool flag's value is "true"/"false").
    """

    cmd: str
    original: str
    args: list[str]
    line: int
    end_line: int
    flags: dict[str, list[str]] = field(default_factory=dict)
    json_form: bool = False
    heredocs: list[Heredoc] = field(default_factory=list)
    sub: Instruction | None = None

    def flag(self, name: str, default: str | None = None) -> str | None:
        """The last value given for `--name`, or `default` when the flag is absent."""
        values = self.flags.get(name)
        return values[-1] if values else default

    def bool_flag(self, name: str) -> bool:
        return self.flag(name) == "true"

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """ENV and LABEL key/value pairs, values unexpanded."""
        return list(zip(self.args[::2], self.args[1::2]))

    @property
    def arg_decls(self) -> list[tuple[str, str | None]]:
        """ARG declarations as `(name, default or None)`, defaults unexpanded."""
        decls: list[tuple[str, str | None]] = []
        for word in self.args:
            name, eq, default = word.partition("=")
            decls.append((name, default if eq else None))
        return decls

    def heredoc(self, word: str) -> Heredoc | None:
        """The heredoc a COPY/ADD source word such as `<<EOF` stands for, if it is one."""
        marker = parse_heredoc_marker(word)
        if marker is None:
            return None
        return next((doc for doc in self.heredocs if doc.name == marker.name), None)


@dataclass
class Stage:
    """A FROM and the instructions after it. `name` is lower-cased as Docker does."""

    base: str
    name: str | None
    platform: str | None
    line: int
    from_instruction: Instruction
    instructions: list[Instruction] = field(default_factory=list)


@dataclass
class Dockerfile:
    """A whole parsed Dockerfile.

    `meta_args` are the ARG instructions before the first FROM: the only variables FROM lines
    may use. `directives` holds the parser directives (`syntax`, `escape`, `check`) by lower-case
    name; `escape` is the escape character in force, which expansion must use too.
    """

    stages: list[Stage]
    meta_args: list[Instruction] = field(default_factory=list)
    directives: dict[str, str] = field(default_factory=dict)
    escape: str = "\\"
    warnings: list[str] = field(default_factory=list)

    def stage(self, name_or_index: str | int) -> Stage:
        """A stage by name (case-insensitive) or by position, as `--target` and `COPY --from` use."""
        if isinstance(name_or_index, int):
            return self.stages[name_or_index]
        wanted = name_or_index.lower()
        for stage in self.stages:
            if stage.name == wanted:
                return stage
        raise InvalidArgument(f'target stage "{name_or_index}" could not be found')  # Go's %q, as dockerd words it
