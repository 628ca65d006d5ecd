"""The subset of Go's text/template that `docker --format` users rely on.

Scripts written against docker pipe `--format` output into other tools, so the output
must match Go byte for byte: `<no value>` for missing map keys, `[a b]` for lists,
`map[k:v]` for dicts, sorted map iteration, fmt's printf verbs and docker's extra
functions (json, join, split, title, lower, upper, pad, truncate). Templates are parsed
once into a tree of nodes and cached by source text, because `ps`/`images` execute the
same template once per row.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, NamedTuple

from dockyard.errors import InvalidArgument
from dockyard.plainclass import fields, is_plainclass

_WS = " \t\r\n"
_KEYWORDS = frozenset(
    {"if", "else", "end", "range", "with", "break", "continue", "define", "template", "block"}
)
_TOKEN_RE = re.compile(
    r"""
     (?P<space>(?:[ \t\r\n](?!-}}))+)
    |(?P<declare>:=)
    |(?P<assign>=)
    |(?P<pipe>\|)
    |(?P<lparen>\()
    |(?P<rparen>\))
    |(?P<comma>,)
    |(?P<string>"(?:[^"\\\n]|\\.)*")
    |(?P<raw>`[^`]*`)
    |(?P<char>'(?:[^'\\\n]|\\[^\n])+')
    |(?P<number>[+-]?(?:0[xX][0-9a-fA-F_]*(?:\.[0-9a-fA-F_]*)?(?:[pP][+-]?\d+)?
        |0[bBoO][0-9_]+|(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?)(?!\w))
    |(?P<field>\.[^\W\d]\w*)
    |(?P<dot>\.)
    |(?P<var>\$\w*)
    |(?P<ident>[^\W\d]\w*)
    """,
    re.VERBOSE,
)
_OPERAND_START = frozenset(
    {"bool", "char", "dot", "field", "ident", "number", "nil", "raw", "string", "var", "lparen"}
)
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
                   "\\": "\\", '"': '"', "'": "'"}
_ESCAPE_RE = re.compile(r"\\(?:([abfnrtv\\\"'])|x([0-9a-fA-F]{2})|([0-7]{3})|u([0-9a-fA-F]{4})"
                        r"|U([0-9a-fA-F]{8})|(.))", re.S)
_NOFINAL = object()  # "no value piped in": distinct from any value a command can return


class _Token(NamedTuple):
    kind: str
    val: str
    pos: int


class _ParseError(Exception):
    def __init__(self, msg: str, pos: int) -> None:
        super().__init__(msg)
        self.msg, self.pos = msg, pos


class _CallError(Exception):
    """A builtin rejected its arguments; reported as `error calling NAME: ...` like Go."""


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


# ---------------------------------------------------------------------------- Go values


class _Missing:
    """A missing map key: prints `<no value>`, is false, and encodes as JSON null, like Go."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<no value>"


MISSING: Any = _Missing()
_BASIC_TYPES = (str, int, float, bool, list, tuple, bytes)
_GO_TYPES = {bool: "bool", int: "int", float: "float64", str: "string", bytes: "[]uint8",
             list: "[]interface {}", tuple: "[]interface {}"}
_QUOTE_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
                  "\v": "\\v", "\\": "\\\\"}


class _WrongType(Exception):
    """A builtin got an argument of the wrong Go type."""

    def __init__(self, expected: str, value: Any) -> None:
        got = "invalid value" if value is MISSING else f"got {go_type(value)}"
        super().__init__(f"wrong type for value; expected {expected}; {got}")


def go_type(value: Any) -> str:
    """The Go type name docker's error messages would show for this value."""
    if value is None or value is MISSING:
        return "<nil>"
    if isinstance(value, Mapping):
        return "map[string]interface {}"
    return _GO_TYPES.get(type(value), type(value).__name__)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _want_str(value: Any) -> str:
    if not isinstance(value, str):
        raise _WrongType("string", value)
    return value


def _want_int(value: Any) -> int:
    if not _is_int(value):
        raise _WrongType("int", value)
    return value


def truth(value: Any) -> bool:
    """Go's notion of empty: false, 0, nil, empty string/list/map are false."""
    if value is None or value is MISSING:
        return False
    if isinstance(value, (bool, int, float)):
        return bool(value)
    if isinstance(value, (str, bytes, list, tuple, Mapping)):
        return len(value) > 0
    return True


def _sorted_keys(mapping: Mapping[Any, Any]) -> list[Any]:
    """Map keys in Go's fmt/range order: numbers numerically, strings bytewise."""
    numbers = sorted(k for k in mapping if isinstance(k, (int, float)))
    return numbers + sorted((k for k in mapping if not isinstance(k, (int, float))), key=str)


def go_str(value: Any) -> str:
    """fmt's %v: `true`, `<nil>`, `[a b]`, `map[k:v]`, shortest floats."""
    if isinstance(value, str):
        return value
    if value is None:
        return "<nil>"
    if value is MISSING:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(go_str(v) for v in value) + "]"
    if isinstance(value, bytes):
        return "[" + " ".join(str(b) for b in value) + "]"
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{go_str(k)}:{go_str(value[k])}" for k in _sorted_keys(value)) + "]"
    if dataclasses.is_dataclass(value):
        return "{" + " ".join(go_str(getattr(value, f.name)) for f in dataclasses.fields(value)) + "}"
    if is_plainclass(value):
        return "{" + " ".join(go_str(v) for v in fields(value).values()) + "}"
    return str(value)


def _go_float(f: float) -> str:
    """strconv 'g' with shortest digits: exponent form below 1e-4 and from 1e6, as %v does."""
    if f != f:
        return "NaN"
    if f in (math.inf, -math.inf):
        return "+Inf" if f > 0 else "-Inf"
    sign, digits, exp = Decimal(repr(f)).normalize().as_tuple()
    ds = "".join(map(str, digits))
    point = len(ds) + int(exp)  # position of the decimal point within ds
    x = point - 1
    if f == 0:
        body = "0"
    elif x < -4 or x >= 6:
        body = ds[0] + ("." + ds[1:] if len(ds) > 1 else "") + f"e{'-' if x < 0 else '+'}{abs(x):02d}"
    elif point <= 0:
        body = "0." + "0" * -point + ds
    elif point >= len(ds):
        body = ds + "0" * (point - len(ds))
    else:
        body = ds[:point] + "." + ds[point:]
    return ("-" if sign else "") + body


def go_quote(s: str) -> str:
    """strconv.Quote: double-quoted with Go escapes."""
    out = ['"']
    for ch in s:
        if ch == '"':
            out.append('\\"')
        else:
            out.append(_escape_char(ch))
    out.append('"')
    return "".join(out)


def _quote_rune(code: int) -> str:
    ch = chr(code)
    return "'" + ("\\'" if ch == "'" else _escape_char(ch)) + "'"


def _escape_char(ch: str) -> str:
    if ch in _QUOTE_ESCAPES:
        return _QUOTE_ESCAPES[ch]
    if ch.isprintable():
        return ch
    code = ord(ch)
    if code < 0x80:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


# ---------------------------------------------------------------------------- printf

_VERB_RE = re.compile(r"%([-+# 0]*)(\*|\d+)?(?:\.(\*|\d*))?(.)?", re.S)


def _sprint(args: list[Any]) -> str:
    """fmt.Sprint: a space between operands when neither is a string."""
    out: list[str] = []
    prev_str = False
    for i, arg in enumerate(args):
        is_str = isinstance(arg, str)
        if i and not is_str and not prev_str:
            out.append(" ")
        out.append(go_str(arg))
        prev_str = is_str
    return "".join(out)


def _sprintf(fmt: str, args: list[Any]) -> str:
    """fmt.Sprintf for the verbs templates use, with Go's %!verb(...) error markers."""
    out: list[str] = []
    argi, i = 0, 0
    while (j := fmt.find("%", i)) >= 0:
        out.append(fmt[i:j])
        m = _VERB_RE.match(fmt, j)
        assert m is not None  # every part of the pattern is optional
        flags, width, prec, verb = m.groups()
        i = m.end()
        if verb is None:
            out.append("%!(NOVERB)")
            break
        if verb == "%":
            out.append("%")
            continue
        sizes = []
        for part in (width, prec):
            if part == "*":
                part = str(args[argi]) if argi < len(args) and _is_int(args[argi]) else ""
                argi += 1
            sizes.append(int(part) if part else None)
        if argi >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[argi]
        argi += 1
        text = _format_verb(arg, verb, flags, sizes[1] if prec is not None else None)
        out.append(_pad_to(text, sizes[0], flags, isinstance(arg, (int, float))))
    else:
        out.append(fmt[i:])
    if argi < len(args):
        extra = ", ".join("<nil>" if a is None else f"{go_type(a)}={go_str(a)}" for a in args[argi:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _pad_to(text: str, width: int | None, flags: str, numeric: bool) -> str:
    if width is None or len(text) >= width:
        return text
    fill = width - len(text)
    if "-" in flags:
        return text + " " * fill
    if "0" in flags:
        if numeric and text[:1] in "+-":
            return text[0] + "0" * fill + text[1:]
        return "0" * fill + text
    return " " * fill + text


def _format_verb(arg: Any, verb: str, flags: str, prec: int | None) -> str:
    if isinstance(arg, (list, tuple)) and verb not in "vT":
        return "[" + " ".join(_format_verb(a, verb, flags, prec) for a in arg) + "]"
    if verb == "v" or (verb == "s" and isinstance(arg, (str, Mapping))):
        text = go_str(arg)
        return text[:prec] if prec is not None and isinstance(arg, str) else text
    if verb == "T":
        return go_type(arg)
    if verb == "q" and isinstance(arg, str):
        return go_quote(arg)
    if verb == "t" and isinstance(arg, bool):
        return go_str(arg)
    if _is_int(arg) and verb in "dbcoqxXU":
        return _format_int(arg, verb, flags, prec)
    if isinstance(arg, str) and verb in "xX":
        hexed = arg.encode().hex()
        return hexed.upper() if verb == "X" else hexed
    if isinstance(arg, float) and verb in "eEfFgG":
        if verb in "gG" and prec is None:
            text = _go_float(arg)
            text = text.upper() if verb == "G" else text
        else:
            text = f"%.{6 if prec is None else prec}{verb}" % arg
        return ("+" + text if "+" in flags and arg >= 0 else text)
    if arg is None:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({go_type(arg)}={go_str(arg)})"


def _format_int(n: int, verb: str, flags: str, prec: int | None) -> str:
    if verb == "c":
        return chr(n)
    if verb == "q":
        return _quote_rune(n)
    if verb == "U":
        return f"U+{n:04X}"
    digits = format(abs(n), verb)  # d, b, o, x and X mean the same in Python
    if prec is not None:
        digits = digits.rjust(prec, "0")
    if "#" in flags and verb in "xXob":
        digits = {"x": "0x", "X": "0X", "o": "0", "b": "0b"}[verb] + digits
    sign = "-" if n < 0 else "+" if "+" in flags else " " if " " in flags else ""
    return sign + digits


# ---------------------------------------------------------------------------- json


class _Unencodable(Exception):
    pass


def _go_json(value: Any) -> str:
    """docker's `json` function: compact encoding/json output, HTML characters unescaped."""
    try:
        return _encode(value)
    except _Unencodable:
        return ""  # docker ignores the encoder's error and prints nothing


def _encode(value: Any) -> str:
    if value is None or value is MISSING:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _json_float(value)
    if isinstance(value, str):
        return _json_str(value)
    if isinstance(value, bytes):
        return '"' + base64.b64encode(value).decode() + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    if isinstance(value, Mapping):
        keys = sorted(value, key=str)
        return "{" + ",".join(f"{_json_str(str(k))}:{_encode(value[k])}" for k in keys) + "}"
    if dataclasses.is_dataclass(value):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    elif is_plainclass(value):
        value = fields(value)
    else:
        return _json_str(str(value))
    return "{" + ",".join(f"{_json_str(name)}:{_encode(v)}" for name, v in value.items()) + "}"


def _json_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _json_float(f: float) -> str:
    """encoding/json floats: positional between 1e-6 and 1e21, else e-notation like `1e-7`."""
    if f != f or f in (math.inf, -math.inf):
        raise _Unencodable()
    if f == 0 or 1e-6 <= abs(f) < 1e21:
        return format(Decimal(repr(f)).normalize(), "f")
    return re.sub(r"e-0(\d)$", r"e-\1", repr(f))


# ---------------------------------------------------------------------------- lexer


def _lex(src: str) -> list[_Token]:
    """Split the template into text and action tokens, applying `{{-`/`-}}` trimming."""
    toks: list[_Token] = []
    pos, n, trim_next = 0, len(src), False
    while True:
        start = src.find("{{", pos)
        text = src[pos:] if start < 0 else src[pos:start]
        if trim_next:
            text = text.lstrip(_WS)
        inner = start + 2
        if start >= 0 and src.startswith("-", inner) and inner + 1 < n and src[inner + 1] in _WS:
            text, inner = text.rstrip(_WS), inner + 2
        if text:
            toks.append(_Token("text", text, pos))
        if start < 0:
            break
        if src.startswith("/*", inner):
            pos, trim_next = _lex_comment(src, inner)
            continue
        toks.append(_Token("ldelim", "{{", start))
        pos, trim_next = _lex_action(src, inner, toks)
    toks.append(_Token("eof", "", n))
    return toks


def _right_delim(src: str, i: int) -> int:
    """Length of the right delimiter at i (4 with trim marker, 2 plain), 0 if none."""
    if src.startswith("}}", i):
        return 2
    if i < len(src) and src[i] in _WS and src.startswith("-}}", i + 1):
        return 4
    return 0


def _lex_comment(src: str, i: int) -> tuple[int, bool]:
    end = src.find("*/", i + 2)
    if end < 0:
        raise _ParseError("unclosed comment", i)
    delim = _right_delim(src, end + 2)
    if not delim:
        raise _ParseError("comment ends before closing delimiter", end)
    return end + 2 + delim, delim == 4


def _lex_action(src: str, i: int, toks: list[_Token]) -> tuple[int, bool]:
    depth = 0
    while True:
        if i >= len(src):
            raise _ParseError("unclosed action", i)
        delim = _right_delim(src, i)
        if delim:
            if depth:
                raise _ParseError("unclosed left paren", i)
            toks.append(_Token("rdelim", "}}", i))
            return i + delim, delim == 4
        m = _TOKEN_RE.match(src, i)
        if m is None:
            raise _ParseError(_lex_failure(src, i), i)
        kind, val = m.lastgroup or "", m.group()
        if kind == "ident" and val in _KEYWORDS:
            kind = "keyword"
        elif kind == "ident" and val in ("true", "false"):
            kind = "bool"
        elif kind == "ident" and val == "nil":
            kind = "nil"
        elif kind == "lparen":
            depth += 1
        elif kind == "rparen":
            depth -= 1
            if depth < 0:
                raise _ParseError("unexpected right paren", i)
        toks.append(_Token(kind, val, i))
        i = m.end()


def _lex_failure(src: str, i: int) -> str:
    ch = src[i]
    if ch == '"':
        return "unterminated quoted string"
    if ch == "`":
        return "unterminated raw quoted string"
    if ch == "'":
        return "unterminated character constant"
    if ch in "+-0123456789.":
        word = re.match(r"[+\-.\w]+", src[i:])
        return f"bad number syntax: {go_quote(word.group() if word else ch)}"
    return f"unrecognized character in action: U+{ord(ch):04X} {_quote_rune(ord(ch))}"


def _unquote(body: str, pos: int) -> str:
    """Go string-literal escapes (\\n, \\x41, \\u00e9, octal) inside quotes."""

    def repl(m: re.Match[str]) -> str:
        simple, hx, octal, u4, u8, bad = m.groups()
        if bad is not None:
            raise _ParseError("invalid syntax", pos)
        if simple is not None:
            return _SIMPLE_ESCAPES[simple]
        return chr(int(hx or u4 or u8, 16) if octal is None else int(octal, 8))

    return _ESCAPE_RE.sub(repl, body)


def _number(tok: _Token) -> int | float:
    text = tok.val
    if tok.kind == "char":
        ch = _unquote(text[1:-1], tok.pos)
        if len(ch) != 1:
            raise _ParseError(f"malformed character constant: {text}", tok.pos)
        return ord(ch)
    t = text.replace("_", "")
    try:
        if re.fullmatch(r"[+-]?0[xX].*", t):
            return float.fromhex(t) if re.search(r"[.pP]", t) else int(t, 16)
        if re.fullmatch(r"[+-]?0[0-7]+", t):
            return int(t, 8)
        if re.fullmatch(r"[+-]?0[bBoO].*", t):
            return int(t, 0)
        return float(t) if re.search(r"[.eE]", t) else int(t)
    except ValueError:
        raise _ParseError(f"illegal number syntax: {go_quote(text)}", tok.pos) from None


# ---------------------------------------------------------------------------- nodes


class _Node:
    """An operand or command; `text` is its source, shown in `at <...>` of exec errors."""

    __slots__ = ("pos", "text")

    def __init__(self, pos: int, text: str) -> None:
        self.pos, self.text = pos, text

    def eval_arg(self, st: _State, dot: Any) -> Any:
        raise NotImplementedError


class _Literal(_Node):
    __slots__ = ("value",)

    def __init__(self, pos: int, text: str, value: Any) -> None:
        super().__init__(pos, text)
        self.value = value

    def eval_arg(self, st: _State, dot: Any) -> Any:
        return self.value


class _Dot(_Node):
    __slots__ = ()

    def eval_arg(self, st: _State, dot: Any) -> Any:
        return dot


class _Nil(_Node):
    __slots__ = ()

    def eval_arg(self, st: _State, dot: Any) -> Any:
        return None


class _Field(_Node):
    __slots__ = ("names",)

    def __init__(self, pos: int, text: str, names: list[str]) -> None:
        super().__init__(pos, text)
        self.names = names

    def eval_arg(self, st: _State, dot: Any) -> Any:
        return st.field_chain(dot, dot, self.names, (), _NOFINAL, self)


class _Variable(_Node):
    __slots__ = ("name", "names")

    def __init__(self, pos: int, text: str, name: str, names: list[str]) -> None:
        super().__init__(pos, text)
        self.name, self.names = name, names

    def eval_arg(self, st: _State, dot: Any) -> Any:
        value = st.lookup(self.name, self)
        return st.field_chain(dot, value, self.names, (), _NOFINAL, self) if self.names else value


class _Chain(_Node):
    """Fields applied to a parenthesized pipeline: `(index .A 0).Name`."""

    __slots__ = ("operand", "names")

    def __init__(self, pos: int, text: str, operand: _Node, names: list[str]) -> None:
        super().__init__(pos, text)
        self.operand, self.names = operand, names

    def eval_arg(self, st: _State, dot: Any) -> Any:
        return st.field_chain(dot, self.operand.eval_arg(st, dot), self.names, (), _NOFINAL, self)


class _Ident(_Node):
    __slots__ = ()

    def eval_arg(self, st: _State, dot: Any) -> Any:
        return st.call(self.text, dot, (), _NOFINAL, self)


class _Paren(_Node):
    __slots__ = ("pipe",)

    def __init__(self, pos: int, text: str, pipe: _Pipe) -> None:
        super().__init__(pos, text)
        self.pipe = pipe

    def eval_arg(self, st: _State, dot: Any) -> Any:
        return self.pipe.eval(st, dot)


class _Command(_Node):
    __slots__ = ("args",)

    def __init__(self, pos: int, text: str, args: list[_Node]) -> None:
        super().__init__(pos, text)
        self.args = args

    def eval(self, st: _State, dot: Any, final: Any) -> Any:
        first, rest = self.args[0], self.args[1:]
        if isinstance(first, _Field):
            return st.field_chain(dot, dot, first.names, rest, final, first)
        if isinstance(first, _Chain):
            receiver = first.operand.eval_arg(st, dot)
            return st.field_chain(dot, receiver, first.names, rest, final, first)
        if isinstance(first, _Ident):
            return st.call(first.text, dot, rest, final, self)
        if isinstance(first, _Variable) and first.names:
            receiver = st.lookup(first.name, first)
            return st.field_chain(dot, receiver, first.names, rest, final, first)
        if rest or final is not _NOFINAL:
            raise st.error(first, f"can't give argument to non-function {first.text}")
        if isinstance(first, _Nil):
            raise st.error(first, "nil is not a command")
        return first.eval_arg(st, dot)


class _Pipe:
    __slots__ = ("decls", "is_assign", "cmds")

    def __init__(self, decls: list[str], is_assign: bool, cmds: list[_Command]) -> None:
        self.decls, self.is_assign, self.cmds = decls, is_assign, cmds

    def eval(self, st: _State, dot: Any, bind: bool = True) -> Any:
        value = _NOFINAL
        for cmd in self.cmds:
            value = cmd.eval(st, dot, value)
        if bind:
            for name in self.decls:
                st.bind(name, value, self.is_assign, self.cmds[0])
        return value


class _Text:
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def run(self, st: _State, dot: Any, out: list[str]) -> None:
        out.append(self.text)


class _Action:
    __slots__ = ("pipe",)

    def __init__(self, pipe: _Pipe) -> None:
        self.pipe = pipe

    def run(self, st: _State, dot: Any, out: list[str]) -> None:
        value = self.pipe.eval(st, dot)
        if not self.pipe.decls:  # Go prints nothing for `{{$x := ...}}`
            out.append(go_str(value))


class _Control:
    """`if` and `with`; an `else if`/`else with` is a nested control in else_body."""

    __slots__ = ("kind", "pipe", "body", "else_body")

    def __init__(self, kind: str, pipe: _Pipe, body: list[Any], else_body: list[Any] | None) -> None:
        self.kind, self.pipe, self.body, self.else_body = kind, pipe, body, else_body

    def run(self, st: _State, dot: Any, out: list[str]) -> None:
        mark = len(st.vars)
        value = self.pipe.eval(st, dot)
        if truth(value):
            _run_all(self.body, st, value if self.kind == "with" else dot, out)
        elif self.else_body:
            _run_all(self.else_body, st, dot, out)
        del st.vars[mark:]


class _Range(_Control):
    __slots__ = ()

    def run(self, st: _State, dot: Any, out: list[str]) -> None:
        mark = len(st.vars)
        value = self.pipe.eval(st, dot, bind=False)
        items = _iterate(value, len(self.pipe.decls), st, self.pipe.cmds[0])
        if not items:
            if self.else_body:
                _run_all(self.else_body, st, dot, out)
            return
        decls = self.pipe.decls
        for key, elem in items:
            del st.vars[mark:]
            if len(decls) == 1:
                st.bind(decls[0], elem, self.pipe.is_assign, self.pipe.cmds[0])
            elif decls:
                st.bind(decls[0], key, self.pipe.is_assign, self.pipe.cmds[0])
                st.bind(decls[1], elem, self.pipe.is_assign, self.pipe.cmds[0])
            try:
                _run_all(self.body, st, elem, out)
            except _Break:
                break
            except _Continue:
                continue
        del st.vars[mark:]


class _Jump:
    """`{{break}}`/`{{continue}}`: unwinds to the innermost range."""

    __slots__ = ("exc",)

    def __init__(self, exc: type[Exception]) -> None:
        self.exc = exc

    def run(self, st: _State, dot: Any, out: list[str]) -> None:
        raise self.exc()


def _run_all(nodes: Sequence[Any], st: _State, dot: Any, out: list[str]) -> None:
    for node in nodes:
        node.run(st, dot, out)


def _iterate(value: Any, ndecls: int, st: _State, node: _Node) -> list[tuple[Any, Any]]:
    if value is MISSING or value is None:  # nil slices and maps range zero times
        return []
    if isinstance(value, Mapping):
        return [(k, value[k]) for k in _sorted_keys(value)]
    if isinstance(value, (list, tuple)):
        return list(enumerate(value))
    if isinstance(value, int) and not isinstance(value, bool):
        if ndecls > 1:
            raise st.error(node, f"can't use {value} to iterate over more than one variable")
        return [(i, i) for i in range(value)]
    raise st.error(node, f"range can't iterate over {go_str(value)}")


# ---------------------------------------------------------------------------- parser


class _Parser:
    def __init__(self, src: str) -> None:
        self.src = src
        self.toks = _lex(src)
        self.i = 0
        self.vars = ["$"]
        self.range_depth = 0

    def next(self) -> _Token:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def peek(self) -> _Token:
        return self.toks[self.i]

    def next_non_space(self) -> _Token:
        tok = self.next()
        while tok.kind == "space":
            tok = self.next()
        return tok

    def peek_non_space(self) -> _Token:
        tok = self.next_non_space()
        self.i -= 1
        return tok

    def unexpected(self, tok: _Token, context: str) -> _ParseError:
        return _ParseError(f"unexpected {_describe(tok)} in {context}", tok.pos)

    def expect_rdelim(self, context: str) -> None:
        tok = self.next_non_space()
        if tok.kind != "rdelim":
            raise self.unexpected(tok, context)

    def parse(self) -> list[Any]:
        nodes, term = self.item_list()
        if term is not None:
            raise _ParseError(f"unexpected {{{{{term[0]}}}}}", term[1])
        return nodes

    def item_list(self) -> tuple[list[Any], tuple[str, int, str | None] | None]:
        """Nodes up to EOF or an `{{end}}`/`{{else}}`, which is returned as the terminator."""
        nodes: list[Any] = []
        while True:
            tok = self.next()
            if tok.kind == "eof":
                self.i -= 1
                return nodes, None
            if tok.kind == "text":
                nodes.append(_Text(tok.val))
                continue
            if tok.kind != "ldelim":
                self.i -= 1
                raise self.unexpected(self.next_non_space(), "input")
            node = self.action()
            if isinstance(node, tuple):
                return nodes, node
            nodes.append(node)

    def action(self) -> Any:
        tok = self.next_non_space()
        if tok.kind == "keyword":
            if tok.val == "end":
                self.expect_rdelim("end")
                return ("end", tok.pos, None)
            if tok.val == "else":
                after = self.peek_non_space()
                if after.kind == "keyword" and after.val in ("if", "with"):
                    return ("else", tok.pos, after.val)
                self.expect_rdelim("else")
                return ("else", tok.pos, None)
            if tok.val in ("if", "with", "range"):
                return self.control(tok.val)
            if tok.val in ("break", "continue"):
                if not self.range_depth:
                    raise _ParseError(f"{{{{{tok.val}}}}} outside {{{{range}}}}", tok.pos)
                self.expect_rdelim(tok.val)
                return _Jump(_Break if tok.val == "break" else _Continue)
            raise _ParseError(f"{{{{{tok.val}}}}} is not supported", tok.pos)
        self.i -= 1
        return _Action(self.pipeline("command", "rdelim"))

    def control(self, kind: str) -> _Control:
        mark = len(self.vars)
        pipe = self.pipeline(kind, "rdelim")
        self.range_depth += kind == "range"
        body, term = self.item_list()
        self.range_depth -= kind == "range"
        else_body = None
        if term is not None and term[0] == "else":
            if term[2] == kind:
                self.next_non_space()
                else_body = [self.control(kind)]
                term = ("end", term[1], None)
            else:
                else_body, term = self.item_list()
                if term is not None and term[0] != "end":
                    raise _ParseError("expected end; found {{else}}", term[1])
        if term is None:
            raise _ParseError("unexpected EOF", len(self.src))
        del self.vars[mark:]
        cls = _Range if kind == "range" else _Control
        return cls(kind, pipe, body, else_body)

    def pipeline(self, context: str, end: str) -> _Pipe:
        decls: list[str] = []
        is_assign = False
        while (tok := self.peek_non_space()).kind == "var":
            save = self.i
            self.next_non_space()
            nxt = self.peek_non_space()
            if nxt.kind in ("assign", "declare"):
                self.next_non_space()
                is_assign = nxt.kind == "assign"
                decls.append(tok.val)
                self.vars.append(tok.val)
                break
            if nxt.kind == "comma":
                self.next_non_space()
                decls.append(tok.val)
                self.vars.append(tok.val)
                if context == "range" and len(decls) < 2:
                    if self.peek_non_space().kind in ("var", "rdelim", "rparen"):
                        continue
                    raise _ParseError("range can only initialize variables", nxt.pos)
                raise _ParseError(f"too many declarations in {context}", nxt.pos)
            self.i = save
            break
        cmds: list[_Command] = []
        while True:
            tok = self.next_non_space()
            if tok.kind == end:
                if not cmds:
                    raise _ParseError(f"missing value for {context}", tok.pos)
                for stage, cmd in enumerate(cmds[1:], 2):
                    if isinstance(cmd.args[0], (_Literal, _Dot, _Nil)):
                        raise _ParseError(f"non executable command in pipeline stage {stage}", cmd.pos)
                return _Pipe(decls, is_assign, cmds)
            if tok.kind not in _OPERAND_START:
                raise self.unexpected(tok, context)
            self.i -= 1
            cmds.append(self.command())

    def command(self) -> _Command:
        args: list[_Node] = []
        start = self.peek_non_space().pos
        while True:
            self.i = self._skip_spaces(self.i)
            operand = self.operand()
            if operand is not None:
                args.append(operand)
            tok = self.next()
            if tok.kind == "space":
                continue
            if tok.kind in ("rdelim", "rparen"):
                self.i -= 1
            elif tok.kind != "pipe":
                raise self.unexpected(tok, "operand")
            break
        if not args:
            raise _ParseError("empty command", start)
        last = args[-1]
        return _Command(start, self.src[start:last.pos + len(last.text)], args)

    def _skip_spaces(self, i: int) -> int:
        while self.toks[i].kind == "space":
            i += 1
        return i

    def operand(self) -> _Node | None:
        node = self.term()
        if node is None or self.peek().kind != "field":
            return node
        names = []
        end = node.pos + len(node.text)
        while self.peek().kind == "field":
            tok = self.next()
            names.append(tok.val[1:])
            end = tok.pos + len(tok.val)
        text = self.src[node.pos:end]
        if isinstance(node, _Field):
            return _Field(node.pos, text, node.names + names)
        if isinstance(node, _Variable):
            return _Variable(node.pos, text, node.name, node.names + names)
        if isinstance(node, (_Literal, _Nil, _Dot)):
            raise _ParseError(f"unexpected . after term {go_quote(node.text)}", node.pos)
        return _Chain(node.pos, text, node, names)

    def term(self) -> _Node | None:
        tok = self.next_non_space()
        kind, val, pos = tok
        if kind == "ident":
            if val not in _FUNCS:
                raise _ParseError(f"function {go_quote(val)} not defined", pos)
            return _Ident(pos, val)
        if kind == "dot":
            return _Dot(pos, val)
        if kind == "nil":
            return _Nil(pos, val)
        if kind == "var":
            if val not in self.vars:
                raise _ParseError(f"undefined variable {go_quote(val)}", pos)
            return _Variable(pos, val, val, [])
        if kind == "field":
            return _Field(pos, val, [val[1:]])
        if kind == "bool":
            return _Literal(pos, val, val == "true")
        if kind in ("number", "char"):
            return _Literal(pos, val, _number(tok))
        if kind == "string":
            return _Literal(pos, val, _unquote(val[1:-1], pos))
        if kind == "raw":
            return _Literal(pos, val, val[1:-1].replace("\r", ""))
        if kind == "lparen":
            pipe = self.pipeline("parenthesized pipeline", "rparen")
            close = self.toks[self.i - 1]  # the pipeline consumed the ")"
            return _Paren(pos, self.src[pos:close.pos + 1], pipe)
        self.i -= 1
        return None


def _describe(tok: _Token) -> str:
    """A token as Go's parser names it in errors: EOF, <keyword>, or quoted text."""
    if tok.kind == "eof":
        return "EOF"
    if tok.kind == "keyword":
        return f"<{tok.val}>"
    if tok.kind in ("rdelim", "ldelim"):
        return go_quote(tok.val)
    if len(tok.val) > 10:
        return go_quote(tok.val[:10]) + "..."
    return go_quote(tok.val)


# ---------------------------------------------------------------------------- execution


class _State:
    __slots__ = ("src", "funcs", "vars")

    def __init__(self, src: str, funcs: Mapping[str, Callable[..., Any]] | None, data: Any) -> None:
        self.src, self.funcs = src, funcs
        self.vars: list[list[Any]] = [["$", data]]

    def error(self, node: _Node, msg: str) -> InvalidArgument:
        line, col = _line_col(self.src, node.pos)
        ctx = node.text if len(node.text) <= 20 else node.text[:20] + "..."
        return InvalidArgument(
            f'template parsing error: template: :{line}:{col}: executing "" at <{ctx}>: {msg}'
        )

    def lookup(self, name: str, node: _Node) -> Any:
        for var in reversed(self.vars):
            if var[0] == name:
                return var[1]
        raise self.error(node, f"undefined variable: {name}")

    def bind(self, name: str, value: Any, assign: bool, node: _Node) -> None:
        if not assign:
            self.vars.append([name, value])
            return
        for var in reversed(self.vars):
            if var[0] == name:
                var[1] = value
                return
        raise self.error(node, f"undefined variable: {name}")

    def field_chain(self, dot: Any, receiver: Any, names: list[str], args: Any, final: Any,
                    node: _Node) -> Any:
        for name in names[:-1]:
            receiver = self.field(dot, receiver, name, (), _NOFINAL, node)
        return self.field(dot, receiver, names[-1], args, final, node)

    def field(self, dot: Any, receiver: Any, name: str, args: Any, final: Any, node: _Node) -> Any:
        """Map keys are looked up (missing: <no value>); object attributes may be methods."""
        if receiver is MISSING:
            return MISSING
        has_args = bool(args) or final is not _NOFINAL
        if isinstance(receiver, Mapping):
            method = (getattr(receiver, "string_methods", None) or {}).get(name)
            if method is not None:
                return self.string_method(dot, name, method, args, final, node)
            if has_args:
                raise self.error(node, f"{name} is not a method but has arguments")
            try:
                return receiver[name]
            except KeyError:
                return MISSING
        if receiver is None:
            raise self.error(node, f"nil pointer evaluating interface {{}}.{name}")
        attr = MISSING
        if not name.startswith("_") and not isinstance(receiver, _BASIC_TYPES):
            attr = getattr(receiver, name, MISSING)
        if attr is MISSING:
            raise self.error(node, f"can't evaluate field {name} in type {go_type(receiver)}")
        if callable(attr):
            values = [a.eval_arg(self, dot) for a in args]
            if final is not _NOFINAL:
                values.append(final)
            return attr(*values)
        if has_args:
            raise self.error(node, f"{name} is not a method but has arguments")
        return attr

    def string_method(self, dot: Any, name: str, method: Any, args: Any, final: Any, node: _Node) -> Any:
        """A method of one string argument on a row (docker's `{{.Label "key"}}`)."""
        values = [a.eval_arg(self, dot) for a in args] + ([final] if final is not _NOFINAL else [])
        if len(values) != 1:
            raise self.error(node, f"wrong number of args for {name}: want 1 got {len(values)}")
        if not isinstance(values[0], str):
            arg = args[0] if args else node
            raise self.error(arg, f"expected string; found {go_str(values[0])}")
        return method(values[0])

    def call(self, name: str, dot: Any, args: Any, final: Any, node: _Node) -> Any:
        impl, nargs, variadic, lazy = _FUNCS[name]
        if self.funcs and name in self.funcs:
            impl = self.funcs[name]
        got = len(args) + (final is not _NOFINAL)
        if variadic and got < nargs:
            raise self.error(node, f"wrong number of args for {name}: want at least {nargs} got {got}")
        if not variadic and got != nargs:
            raise self.error(node, f"wrong number of args for {name}: want {nargs} got {got}")
        try:
            if lazy:
                thunks = [functools.partial(a.eval_arg, self, dot) for a in args]
                if final is not _NOFINAL:
                    thunks.append(lambda: final)
                return impl(thunks)
            values = [a.eval_arg(self, dot) for a in args]
            if final is not _NOFINAL:
                values.append(final)
            return impl(*values)
        except _CallError as exc:
            raise self.error(node, f"error calling {name}: {exc}") from None
        except _WrongType as exc:
            raise self.error(node, str(exc)) from None


def _line_col(src: str, pos: int) -> tuple[int, int]:
    """Go's error position: 1-based line, byte offset within that line."""
    nl = src.rfind("\n", 0, pos)
    return src.count("\n", 0, pos) + 1, len(src[nl + 1:pos].encode())


# ---------------------------------------------------------------------------- builtins


def _and(thunks: list[Callable[[], Any]]) -> Any:
    value = None
    for thunk in thunks:
        value = thunk()
        if not truth(value):
            return value
    return value


def _or(thunks: list[Callable[[], Any]]) -> Any:
    value = None
    for thunk in thunks:
        value = thunk()
        if truth(value):
            return value
    return value


def _len(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, (list, tuple, Mapping, bytes)):
        return len(value)
    raise _CallError(f"len of type {go_type(value)}")


def _index(item: Any, *keys: Any) -> Any:
    for key in keys:
        if item is MISSING or item is None:
            raise _CallError("index of untyped nil")
        if isinstance(item, Mapping):
            item = item.get(key, MISSING)
            continue
        if not isinstance(item, (list, tuple, str, bytes)):
            raise _CallError(f"can't index item of type {go_type(item)}")
        if not _is_int(key):
            raise _CallError(f"cannot index slice/array with type {go_type(key)}")
        seq = item.encode() if isinstance(item, str) else item
        if not 0 <= key < len(seq):
            raise _CallError(f"index out of range: {key}")
        item = seq[key]
    return item


def _slice(item: Any, *bounds: Any) -> Any:
    if not isinstance(item, (list, tuple, str)):
        raise _CallError(f"can't slice item of type {go_type(item)}")
    if len(bounds) > 2:
        raise _CallError("too many slice indexes: %d" % len(bounds))
    for b in bounds:
        if not _is_int(b):
            raise _CallError(f"cannot index slice/array with type {go_type(b)}")
    lo, hi = (list(bounds) + [0, len(item)][len(bounds):])[:2]
    if not 0 <= lo <= len(item) or not 0 <= hi <= len(item):
        raise _CallError(f"index out of range: {hi if 0 <= lo <= len(item) else lo}")
    if lo > hi:
        raise _CallError(f"invalid slice index: {lo} > {hi}")
    return item[lo:hi]


def _kind(value: Any) -> str:
    if value is None or value is MISSING:
        return "nil"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "string" if isinstance(value, str) else "other"


def _eq(first: Any, *others: Any) -> bool:
    if not others:
        raise _CallError("missing argument for comparison")
    k1 = _kind(first)
    for other in others:
        k2 = _kind(other)
        if k1 != k2:
            if "nil" in (k1, k2):
                continue
            raise _CallError("incompatible types for comparison")
        if k1 == "nil":
            return True
        if isinstance(other, (list, tuple, Mapping)) or isinstance(first, (list, tuple, Mapping)):
            raise _CallError(f"non-comparable type {go_str(other)}: {go_type(other)}")
        if first == other:
            return True
    return False


def _lt(a: Any, b: Any) -> bool:
    k1, k2 = _kind(a), _kind(b)
    if k1 not in ("number", "string") or k2 not in ("number", "string"):
        raise _CallError("invalid type for comparison")
    if k1 != k2:
        raise _CallError("incompatible types for comparison")
    return bool(a < b)


def _le(a: Any, b: Any) -> bool:
    return _lt(a, b) or _eq(a, b)


def _split(s: Any, sep: Any) -> list[str]:
    s, sep = _want_str(s), _want_str(sep)
    return list(s) if sep == "" else s.split(sep)


def _join(items: Any, sep: Any) -> str:
    if not isinstance(items, (list, tuple)):
        raise _WrongType("[]string", items)
    return _want_str(sep).join(go_str(e) for e in items)


def _title(s: Any) -> str:
    """strings.Title: upper-case letters that follow a separator; leave the rest alone."""
    out, prev = [], " "
    for ch in _want_str(s):
        out.append(ch.upper() if _is_separator(prev) else ch)
        prev = ch
    return "".join(out)


def _is_separator(ch: str) -> bool:
    if ch.isascii():
        return not (ch.isalnum() or ch == "_")
    return not ch.isalnum() and ch.isspace()


def _pad(s: Any, prefix: Any, suffix: Any) -> str:
    s = _want_str(s)
    if s == "":
        return s
    return " " * _want_int(prefix) + s + " " * _want_int(suffix)


def _truncate(s: Any, length: Any) -> str:
    s, length = _want_str(s), _want_int(length)
    return s if len(s) < length else s[:length]


def _printf(fmt: Any, *args: Any) -> str:
    return _sprintf(_want_str(fmt), [None if a is MISSING else a for a in args])


def _print(*args: Any) -> str:
    return _sprint([None if a is MISSING else a for a in args])


def _println(*args: Any) -> str:
    return " ".join(go_str(None if a is MISSING else a) for a in args) + "\n"


# name -> (implementation, argument count, variadic (count is a minimum), lazy arguments)
_FUNCS: dict[str, tuple[Callable[..., Any], int, bool, bool]] = {
    "and": (_and, 1, True, True),
    "or": (_or, 1, True, True),
    "not": (lambda v: not truth(v), 1, False, False),
    "len": (_len, 1, False, False),
    "index": (_index, 1, True, False),
    "slice": (_slice, 1, True, False),
    "print": (_print, 0, True, False),
    "printf": (_printf, 1, True, False),
    "println": (_println, 0, True, False),
    "eq": (_eq, 1, True, False),
    "ne": (lambda a, b: not _eq(a, b), 2, False, False),
    "lt": (_lt, 2, False, False),
    "le": (_le, 2, False, False),
    "gt": (lambda a, b: not _le(a, b), 2, False, False),
    "ge": (lambda a, b: not _lt(a, b), 2, False, False),
    "json": (_go_json, 1, False, False),
    "split": (_split, 2, False, False),
    "join": (_join, 2, False, False),
    "title": (_title, 1, False, False),
    "lower": (lambda s: _want_str(s).lower(), 1, False, False),
    "upper": (lambda s: _want_str(s).upper(), 1, False, False),
    "pad": (_pad, 3, False, False),
    "truncate": (_truncate, 2, False, False),
}


# ---------------------------------------------------------------------------- public API


@dataclasses.dataclass(frozen=True)
class Template:
    """A parsed template; execute it once per object to format."""

    source: str
    _nodes: tuple[Any, ...]

    def execute(self, data: Any, *, funcs: Mapping[str, Callable[..., Any]] | None = None) -> str:
        """Render `data`; `funcs` replaces builtin implementations (docker's table headers)."""
        st = _State(self.source, funcs, data)
        out: list[str] = []
        _run_all(self._nodes, st, data, out)
        return "".join(out)


@functools.lru_cache(maxsize=256)
def parse(source: str) -> Template:
    """Parse a Go template, raising InvalidArgument with Go's parse error text."""
    try:
        nodes = _Parser(source).parse()
    except _ParseError as exc:
        line = source.count("\n", 0, exc.pos) + 1
        raise InvalidArgument(f"template parsing error: template: :{line}: {exc.msg}") from None
    return Template(source, tuple(nodes))


def execute(source: str, data: Any) -> str:
    """Parse (cached) and render in one step, for one-off formats like `inspect -f`."""
    return parse(source).execute(data)
