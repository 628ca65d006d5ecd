"""Go's encoding/json, as far as telling a wrong JSON type goes.

dockerd decodes request bodies into Go structs, so a value of the wrong JSON type fails
there with Go's own sentence, `json: cannot unmarshal number into Go struct field
CreateRequest.Image of type string`, and clients have shown that sentence to people for
years. These types describe Docker's structs just enough to check a decoded document the
way Go would: null fits anything, integers must be whole and in range, struct fields match
case-insensitively and unknown ones are ignored, and the first mismatch in document order is
the one reported, named by the innermost struct and the path of field names from the top.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, ClassVar


class TypeMismatch(Exception):
    """Go's UnmarshalTypeError: `what` (a JSON kind, or `number 1.5`) does not fit `go`."""

    def __init__(self, what: str, go: str, struct: str = "", path: tuple[str, ...] = ()) -> None:
        self.what, self.go, self.struct, self.path = what, go, struct, path
        if struct:
            text = f"json: cannot unmarshal {what} into Go struct field {struct}.{'.'.join(path)} of type {go}"
        else:
            text = f"json: cannot unmarshal {what} into Go value of type {go}"
        super().__init__(text)


class _Number(float):
    """A JSON number that is not an integer, remembering how it was written (Go quotes it)."""

    raw: str

    def __new__(cls, raw: str) -> "_Number":
        number = super().__new__(cls, raw)
        number.raw = raw
        return number


class NotJSON(ValueError):
    """A document Go's decoder would not read, with the reason in its words."""


# what Python's decoder says it expected at the failing character -> where Go's scanner says it was
_WHERE = {
    "Expecting value": "looking for beginning of value",
    "Expecting property name enclosed in double quotes": "looking for beginning of object key string",
    "Expecting ':' delimiter": "after object key",
    "Invalid control character at": "in string literal",
    "Invalid \\escape": "in string escape code",
    "Invalid \\uXXXX escape": "in \\u hexadecimal character escape",
}


def _go_char(c: str) -> str:
    """A character quoted as Go's scanner quotes it: 'b', '\\n', '"', '\\''."""
    return "'\\''" if c == "'" else "'\"'" if c == '"' else repr(c)


def _inside(text: str, pos: int) -> str:
    """Whether `pos` is inside an object or an array (the innermost), skipping strings."""
    stack, in_string, escaped = [], False, False
    for c in text[:pos]:
        if in_string:
            in_string, escaped = (not (c == '"' and not escaped), c == "\\" and not escaped)
        elif c == '"':
            in_string = True
        elif c in "[{":
            stack.append(c)
        elif c in "]}" and stack:
            stack.pop()
    return "object" if stack and stack[-1] == "{" else "array"


def _go_error(text: str, e: json.JSONDecodeError) -> NotJSON:
    if e.msg == "Extra data":
        return NotJSON("unexpected content after JSON")
    where, at = _WHERE.get(e.msg, "looking for beginning of value"), e.pos
    if e.msg == "Expecting ',' delimiter":
        where = "after object key:value pair" if _inside(text, at) == "object" else "after array element"
    elif e.msg == "Invalid \\escape":  # Python points at the backslash, Go at what follows it
        at += 1
    elif e.msg == "Invalid \\uXXXX escape":  # and Go at the first character that is not hexadecimal
        at = next((i for i in range(at + 2, at + 6) if text[i:i + 1] not in tuple("0123456789abcdefABCDEF")), at)
    if at >= len(text.rstrip()) or e.msg.startswith("Unterminated string"):
        return NotJSON("unexpected EOF")
    return NotJSON(f"invalid character {_go_char(text[at])} {where}")


def _not_json(constant: str) -> None:
    raise NotJSON(f"invalid character {_go_char(constant[0])} looking for beginning of value")


def loads(data: bytes | str, *, keep_number_text: bool = False) -> Any:
    """json.loads as Go's decoder reads a document: no NaN or Infinity, invalid UTF-8 replaced, and
    NotJSON with Go's reason when it is not JSON. `keep_number_text` keeps how non-integer numbers
    were written, for Go's messages (they stay floats)."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    try:
        return json.loads(text, parse_float=_Number if keep_number_text else float, parse_constant=_not_json)
    except json.JSONDecodeError as e:
        raise _go_error(text, e) from None
    except RecursionError:  # nested deeper than Python's decoder goes (Go's stops at 10000)
        opener = text.lstrip()[:1] or "["
        raise NotJSON(f"invalid character {_go_char(opener)} exceeded max depth") from None


def kind(value: Any) -> str:
    """The JSON kind Go names in its message."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "number"


def _number_text(value: Any) -> str:
    return getattr(value, "raw", None) or json.dumps(value)


class GoType:
    go: str

    def validate(self, doc: Any) -> None:
        """Raise TypeMismatch for the first value in `doc` Go would refuse to decode into this type."""
        self.check(doc, "", ())

    def check(self, value: Any, struct: str, path: tuple[str, ...]) -> None:
        """`value` as the field at `path` of the struct named `struct`: JSON null fits any Go type."""
        if value is not None:
            self._check(value, struct, path)

    def _check(self, value: Any, struct: str, path: tuple[str, ...]) -> None:
        raise NotImplementedError

    def canonical(self, value: Any) -> None:
        """Rename, in place, each object key Go matches to a struct field without regard to case
        (`detachKeys` for `DetachKeys`) to the field's own name, as the decoded struct holds it."""


class _Scalar(GoType):
    json_kind: ClassVar[str]

    def _check(self, value: Any, struct: str, path: tuple[str, ...]) -> None:
        if kind(value) != self.json_kind:
            raise TypeMismatch(kind(value), self.go, struct, path)


@dataclass(frozen=True)
class String(_Scalar):
    """A string, or a named string type (`container.NetworkMode`)."""

    go: str = "string"
    json_kind: ClassVar[str] = "string"


@dataclass(frozen=True)
class Bool(_Scalar):
    go: str = "bool"
    json_kind: ClassVar[str] = "bool"


@dataclass(frozen=True)
class Int(GoType):
    """intN/uintN: a whole number written without a fraction or exponent, within range."""

    go: str = "int64"
    bits: int = 64
    unsigned: bool = False

    def _check(self, value: Any, struct: str, path: tuple[str, ...]) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeMismatch(kind(value), self.go, struct, path)
        half = 1 << (self.bits - 1)
        low, high = (0, 2 * half - 1) if self.unsigned else (-half, half - 1)
        if isinstance(value, float) or not low <= value <= high:
            raise TypeMismatch(f"number {_number_text(value)}", self.go, struct, path)


class _Collection(_Scalar):
    """A JSON array or object whose every value is `elem`; its Go name follows from `elem`'s."""

    elem: GoType
    go: str

    def __post_init__(self) -> None:
        if not self.go:
            object.__setattr__(self, "go", self._name())

    def _name(self) -> str:
        raise NotImplementedError

    def _check(self, value: Any, struct: str, path: tuple[str, ...]) -> None:
        super()._check(value, struct, path)
        for item in value.values() if isinstance(value, dict) else value:
            self.elem.check(item, struct, path)

    def canonical(self, value: Any) -> None:
        if isinstance(value, (dict, list)):
            for item in value.values() if isinstance(value, dict) else value:
                self.elem.canonical(item)


@dataclass(frozen=True)
class Slice(_Collection):
    """A Go slice, or an array of `length` (`[2]uint`)."""

    elem: GoType
    go: str = ""
    length: int = 0
    json_kind: ClassVar[str] = "array"

    def _name(self) -> str:
        return f"[{self.length or ''}]{self.elem.go}"


@dataclass(frozen=True)
class Map(_Collection):
    """map[string]elem."""

    elem: GoType
    go: str = ""
    json_kind: ClassVar[str] = "object"

    def _name(self) -> str:
        return f"map[string]{self.elem.go}"


@dataclass(frozen=True)
class StrSlice(GoType):
    """Docker's strslice.StrSlice: a list of strings or one string. Anything else fails in its
    own decoder's fallback, which is why Go then names the type `string`."""

    go: str = "string"

    def _check(self, value: Any, struct: str, path: tuple[str, ...]) -> None:
        if isinstance(value, str):
            return
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise TypeMismatch(kind(value), self.go, struct, path)


@dataclass(frozen=True)
class Struct(GoType):
    """A Go struct (`package.Name`) with its JSON field names, embedded structs' fields included."""

    go: str
    fields: dict[str, GoType] = field(default_factory=dict)

    def _check(self, value: Any, struct: str, path: tuple[str, ...]) -> None:
        if not isinstance(value, dict):
            raise TypeMismatch(kind(value), self.go, struct, path)
        name = self.go.rsplit(".", 1)[-1]
        folded = {k.casefold(): k for k in self.fields}
        for key, item in value.items():
            known = key if key in self.fields else folded.get(key.casefold())
            if known is not None:
                self.fields[known].check(item, name, (*path, known))

    def canonical(self, value: Any) -> None:
        if not isinstance(value, dict):
            return
        if any(key not in self.fields for key in value):
            folded = {k.casefold(): k for k in self.fields}
            named = {}
            for key, item in value.items():  # a later key for the same field wins, as in Go
                named[key if key in self.fields else folded.get(key.casefold(), key)] = item
            value.clear()
            value.update(named)
        for key, item in value.items():
            if key in self.fields:
                self.fields[key].canonical(item)

    def extended(self, go: str, **more: GoType) -> "Struct":
        """A struct embedding this one (its fields promoted) plus fields of its own."""
        return Struct(go, {**self.fields, **more})


STRING, BOOL, INT, INT64 = String(), Bool(), Int("int"), Int("int64")
UINT, UINT16, UINT32, UINT64 = Int("uint", unsigned=True), Int("uint16", 16, True), Int("uint32", 32, True), \
    Int("uint64", unsigned=True)
STRINGS = Slice(STRING)
LABELS = Map(STRING)
