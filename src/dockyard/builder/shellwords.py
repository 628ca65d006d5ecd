"""Docker's word expansion: the small shell-like lexer buildkit applies to Dockerfile arguments.

Instructions such as COPY, ENV, WORKDIR or FROM are not run by a shell, yet their arguments
may say `$VAR`, `${VAR:-default}` or `"quoted words"`. Docker expands them with its own
lexer, not with /bin/sh, and a build is only reproducible here if every quirk matches:
`$$` is an (unset) special parameter and expands to nothing, an empty `""` makes no word,
a backslash inside double quotes only escapes `"`, `$` and the escape character itself,
and the escape character is whatever the `# escape=` directive chose.

The lexer walks the input once from left to right, so its cost is linear in the input.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from dockyard.errors import InvalidArgument

_SPECIAL_PARAMS = frozenset("@*#?-$!0")
_LITERAL_RUN = {esc: re.compile(r"[^$'\"" + re.escape(esc) + r"]+") for esc in ("\\", "`")}


class ExpansionError(InvalidArgument):
    """A word could not be expanded: unbalanced quotes, a bad `${...}`, or `${VAR:?message}`."""


@dataclass
class _Words:
    """Splits the expanded text into words the way Docker does (quoted text never splits)."""

    words: list[str] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)
    size: int = 0

    def add_char(self, ch: str) -> None:
        if not ch.isspace():
            self.add_raw(ch)
        elif self.size:
            self.words.append("".join(self.parts))
            self.parts, self.size = [], 0

    def add_raw(self, text: str) -> None:
        self.parts.append(text)
        self.size += len(text)

    def add_expanded(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def finish(self) -> list[str]:
        if self.size:
            self.words.append("".join(self.parts))
            self.parts, self.size = [], 0
        return self.words


class _Lexer:
    """One pass over one input string; see the module docstring for the rules it follows."""

    def __init__(
        self,
        src: str,
        env: Mapping[str, str],
        escape: str,
        *,
        raw_quotes: bool = False,
        raw_escapes: bool = False,
        keep_unset: bool = False,
    ) -> None:
        if escape not in _LITERAL_RUN:
            raise InvalidArgument(f"invalid escape character {escape!r}: use \\ or `")
        self.src = src
        self.pos = 0
        self.env = env
        self.escape = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.keep_unset = keep_unset
        self.referenced: list[str] = []
        self._literal = _LITERAL_RUN[escape]

    def peek(self) -> str:
        return self.src[self.pos] if self.pos < len(self.src) else ""

    def next(self) -> str:
        ch = self.peek()
        self.pos += 1 if ch else 0
        return ch

    def run(self) -> tuple[str, list[str]]:
        try:
            return self.process_until("")
        except ExpansionError as err:
            raise ExpansionError(f"failed to expand {self.src!r}: {err.message}") from None

    def process_until(self, stop: str) -> tuple[str, list[str]]:
        """Expands up to `stop` (consumed) or to the end of input when `stop` is empty."""
        out: list[str] = []
        words = _Words()
        while self.pos < len(self.src):
            ch = self.src[self.pos]
            if stop and ch == stop:
                self.pos += 1
                return "".join(out), words.finish()
            if ch == "'":
                text = self.single_quoted()
                words.add_raw(text)
            elif ch == '"':
                text = self.double_quoted()
                words.add_raw(text)
            elif ch == "$":
                text = self.dollar()
                words.add_expanded(text)
            elif ch == self.escape:
                self.pos += 1
                text = ch if self.raw_escapes else ""
                if text:
                    words.add_raw(text)
                escaped = self.next()
                if not escaped:
                    out.append(text)
                    break
                words.add_raw(escaped)
                text += escaped
            else:
                match = self._literal.match(self.src, self.pos, len(self.src))
                assert match is not None
                text = match.group()
                if stop:
                    text = text.split(stop, 1)[0]
                self.pos += len(text)
                words.add_expanded(text)
            out.append(text)
        if stop:
            raise ExpansionError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(out), words.finish()

    def single_quoted(self) -> str:
        start = self.pos
        end = self.src.find("'", start + 1)
        if end < 0:
            raise ExpansionError("unexpected end of statement while looking for matching single-quote")
        self.pos = end + 1
        return self.src[start:end + 1] if self.raw_quotes else self.src[start + 1:end]

    def double_quoted(self) -> str:
        opening = self.next()
        out = [opening] if self.raw_quotes else []
        while True:
            ch = self.peek()
            if not ch:
                raise ExpansionError("unexpected end of statement while looking for matching double-quote")
            if ch == '"':
                self.pos += 1
                if self.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            self.pos += 1
            if ch == self.escape:
                if self.raw_escapes:
                    out.append(ch)
                following = self.peek()
                if not following:
                    continue
                if following in ('"', "$", self.escape):
                    ch = self.next()
            out.append(ch)

    def name(self) -> str:
        start = self.pos
        ch = self.peek()
        if ch.isdigit():
            while self.peek().isdigit():
                self.pos += 1
            return self.src[start:self.pos]
        if ch and ch in _SPECIAL_PARAMS:
            self.pos += 1
            return ch
        while (ch := self.peek()) and (ch.isalnum() or ch == "_"):
            self.pos += 1
        return self.src[start:self.pos]

    def lookup(self, name: str) -> str | None:
        self.referenced.append(name)
        return self.env.get(name)

    def dollar(self) -> str:
        self.pos += 1
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            value = self.lookup(name)
            if value is None:
                return "$" + name if self.keep_unset else ""
            return value
        self.pos += 1
        ch = self.peek()
        if not ch:
            raise ExpansionError("syntax error: missing '}'")
        if ch in "{}:":
            raise ExpansionError("syntax error: bad substitution")
        name = self.name()
        op = self.next()
        if op == "}":
            value = self.lookup(name)
            if value is None:
                return "${%s}" % name if self.keep_unset else ""
            return value
        if op == ":":
            op += self.next()
        elif op and op in "#%/" and self.peek() == op:
            op += self.next()
        if op not in _MODIFIERS:
            if not op:
                raise ExpansionError("syntax error: missing '}'")
            raise ExpansionError(f"unsupported modifier ({op.lstrip(':')}) in substitution")
        word = self.modifier_word()
        value = self.lookup(name)
        if value is None and self.keep_unset:
            return "${%s%s%s}" % (name, op, word)
        return _MODIFIERS[op](name, value, word)

    def modifier_word(self) -> str:
        try:
            return self.process_until("}")[0]
        except ExpansionError:
            if not self.peek():
                raise ExpansionError("syntax error: missing '}'") from None
            raise


def _require(name: str, value: str | None, word: str, *, non_empty: bool) -> str:
    if value is None:
        raise ExpansionError(f"{name}: {word or 'is not allowed to be unset'}")
    if non_empty and value == "":
        raise ExpansionError(f"{name}: {word or 'is not allowed to be empty'}")
    return value


def _glob_regex(pattern: str) -> str:
    """Shell pattern (`*`, `?`, `[...]`, `\\x`) as a regular expression for `${var#...}` and friends."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        elif ch == "[" and (end := pattern.find("]", i + 2)) > 0:
            body = pattern[i + 1:end]
            if body[0] in "!^":
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def _trim(value: str | None, pattern: str, *, prefix: bool, longest: bool) -> str:
    value = value or ""
    regex = re.compile(_glob_regex(pattern), re.S)
    cuts = range(len(value) + 1)
    if prefix:
        order = reversed(cuts) if longest else cuts
        for n in order:
            if regex.fullmatch(value, 0, n):
                return value[n:]
    else:
        order = cuts if longest else reversed(cuts)
        for n in order:
            if regex.fullmatch(value, n):
                return value[:n]
    return value


def _substitute(value: str | None, word: str, *, every: bool) -> str:
    value = value or ""
    pattern, _, replacement = word.partition("/")
    if not pattern:
        return value
    regex = re.compile(_glob_regex(pattern), re.S)
    return regex.sub(lambda _m: replacement, value, count=0 if every else 1)


_MODIFIERS = {
    ":-": lambda n, v, w: v if v else w,
    "-": lambda n, v, w: w if v is None else v,
    ":+": lambda n, v, w: w if v else "",
    "+": lambda n, v, w: "" if v is None else w,
    ":?": lambda n, v, w: _require(n, v, w, non_empty=True),
    "?": lambda n, v, w: _require(n, v, w, non_empty=False),
    "#": lambda n, v, w: _trim(v, w, prefix=True, longest=False),
    "##": lambda n, v, w: _trim(v, w, prefix=True, longest=True),
    "%": lambda n, v, w: _trim(v, w, prefix=False, longest=False),
    "%%": lambda n, v, w: _trim(v, w, prefix=False, longest=True),
    "/": lambda n, v, w: _substitute(v, w, every=False),
    "//": lambda n, v, w: _substitute(v, w, every=True),
}


def expand(word: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """Expands variables and removes quotes and escapes, keeping whitespace: one word in, one out.

    This is what ENV/LABEL/ARG values, WORKDIR, USER and each COPY path go through.
    """
    return _Lexer(word, env, escape).run()[0]


def split_words(text: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    """Expands `text` and splits it at unquoted whitespace, including whitespace a variable
    brought in (`$FLAGS` with value "a b" gives two words, `"$FLAGS"` one)."""
    return _Lexer(text, env, escape).run()[1]


def referenced_vars(text: str, escape: str = "\\") -> set[str]:
    """Names of the variables `text` refers to, used or not (the builder's cache keys on the
    build args an instruction depends on). Text that cannot be expanded references nothing."""
    lexer = _Lexer(text, {}, escape, keep_unset=True)
    try:
        lexer.run()
    except ExpansionError:
        pass
    return set(lexer.referenced)


def literal_words(text: str, *, keep_quotes: bool, keep_escapes: bool, escape: str = "\\") -> list[str]:
    """Splits into words without any variables (`$VAR` stays as written), optionally keeping
    quotes and escapes: how Docker finds heredoc markers (`<<EOF`, `<<"EOF"`) on a line."""
    lexer = _Lexer(text, {}, escape, raw_quotes=keep_quotes, raw_escapes=keep_escapes, keep_unset=True)
    return lexer.run()[1]
