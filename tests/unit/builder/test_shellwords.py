"""Docker's word expansion, case by case, and the ARG/ENV scoping built on it."""

from __future__ import annotations

import pytest

from dockyard.builder.argscope import StageScope, meta_args, stage_base
from dockyard.builder.dockerfile import parse
from dockyard.builder.shellwords import ExpansionError, expand, referenced_vars, split_words

ENV = {"a": "x y", "e": "", "p": "/usr/local/lib/tool.tar.gz", "n": "1", "home": "/root"}

EXPAND = [
    ("$n", "1"), ("${n}", "1"), ("$n$n", "11"), ("${n}_b", "1_b"), ("$n_b", ""), ("$home/x", "/root/x"),
    ("$missing", ""), ("${missing}", ""), ("$a", "x y"), ("a  b", "a  b"), ("$", "$"), ("a$", "a$"),
    ("$$", ""), ("$1", ""), ("$-x", "x"), ("$.x", "$.x"), ("${n:-d}", "1"), ("${e:-d}", "d"),
    ("${missing:-d}", "d"), ("${n-d}", "1"), ("${e-d}", ""), ("${missing-d}", "d"), ("${n:+w}", "w"),
    ("${e:+w}", ""), ("${missing:+w}", ""), ("${n+w}", "w"), ("${e+w}", "w"), ("${missing+w}", ""),
    ("${missing:-$home}", "/root"), ("${missing:-${n:+nested}}", "nested"), ("${missing:-a b}", "a b"),
    ("${n:?boom}", "1"), ("${e?boom}", ""), ("'$n'", "$n"), ('"$n"', "1"), ("\"'$n'\"", "'1'"),
    ("'\"$n\"'", '"$n"'), ("\\$n", "$n"), ("\\${n}", "${n}"), ('"\\$n"', "$n"), ('"\\a"', "\\a"),
    ('"a\\"b"', 'a"b'), ("a\\ b", "a b"), ("a\\", "a"), ("''", ""), ('a""b', "ab"),
    ("${p##*/}", "tool.tar.gz"), ("${p#*/}", "usr/local/lib/tool.tar.gz"), ("${p%.*}", "/usr/local/lib/tool.tar"),
    ("${p%%.*}", "/usr/local/lib/tool"), ("${p/l/L}", "/usr/Local/lib/tool.tar.gz"),
    ("${p//l/L}", "/usr/LocaL/Lib/tooL.tar.gz"), ("${p#nomatch}", "/usr/local/lib/tool.tar.gz"),
]


@pytest.mark.parametrize("word, expected", EXPAND)
def test_expand(word: str, expected: str) -> None:
    assert expand(word, ENV) == expected


@pytest.mark.parametrize("word, expected", [
    ("$a", ["x", "y"]), ('"$a"', ["x y"]), ("'$a'", ["$a"]), ("a b  c", ["a", "b", "c"]),
    ('"a b" c', ["a b", "c"]), ('""', []), ("a '' b", ["a", "b"]), ("$e", []), ("x$a", ["xx", "y"]),
    ("a\\ b c", ["a b", "c"]), ("${missing:-1 2}", ["1", "2"]), ("  ", []),
])
def test_split_words(word: str, expected: list[str]) -> None:
    assert split_words(word, ENV) == expected


@pytest.mark.parametrize("word, expected", [
    ("`$n", "$n"), ("a`b", "ab"), ("c:\\dir", "c:\\dir"), ('"`""', '"'), ('"c:\\x"', "c:\\x"),
])
def test_backtick_escape(word: str, expected: str) -> None:
    assert expand(word, ENV, escape="`") == expected


@pytest.mark.parametrize("word, message", [
    ("${missing:?boom}", "missing: boom"), ("${e:?}", "e: is not allowed to be empty"),
    ("${missing?}", "missing: is not allowed to be unset"), ("'abc", "matching single-quote"),
    ('"abc', "matching double-quote"), ("${n", "missing '}'"), ("${n:-x", "missing '}'"),
    ("${}", "bad substitution"), ("${:x}", "bad substitution"), ("${n:x}", "unsupported modifier (x)"),
    ("${n^}", "unsupported modifier (^)"),
])
def test_expand_errors(word: str, message: str) -> None:
    with pytest.raises(ExpansionError) as info:
        expand(word, ENV)
    assert message in info.value.message and repr(word) in info.value.message


@pytest.mark.parametrize("word, names", [
    ("$a ${b} ${c:-$d}", {"a", "b", "c", "d"}), ("'$a' \\$b", set()), ('"$a"', {"a"}),
    ("none", set()), ("${x:+${y}}", {"x", "y"}), ("'unclosed $a", set()),
])
def test_referenced_vars(word: str, names: set[str]) -> None:
    assert referenced_vars(word) == names


def test_meta_args_and_from_expansion() -> None:
    df = parse("ARG REG=docker.io\nARG IMG=$REG/alpine\nARG TAG\nARG PLAT\n"
               "FROM --platform=$PLAT ${IMG}:${TAG:-latest}\nFROM $UNDECLARED")
    meta = meta_args(df, {"TAG": "3.19"})
    assert meta == {"REG": "docker.io", "IMG": "docker.io/alpine", "TAG": "3.19", "PLAT": None}
    assert stage_base(df.stages[0], meta) == ("docker.io/alpine:3.19", None)
    assert stage_base(df.stages[0], meta_args(df, {"PLAT": "linux/arm64"})) == ("docker.io/alpine:latest", "linux/arm64")
    assert stage_base(df.stages[1], meta) == ("", None)
    assert meta_args(df, {}, predefined={"TARGETOS": "linux"})["TARGETOS"] == "linux"


def test_stage_scope_rules() -> None:
    df = parse("ARG V=1\nARG G\nFROM a\nARG V\nARG W=$V-w\nENV V=env\nARG X=$V\nARG G\nARG B\n"
               "ENV e1=$W e2=$e1\nENV e1=second")
    scope = StageScope(meta_args(df, {"B": "cli"}), {"B": "cli"}, env={"PATH": "/bin"})
    for instr in df.stages[0].instructions:
        scope.apply(instr)
    assert scope.args == {"V": "1", "W": "1-w", "X": "env", "B": "cli"}
    assert scope.env == {"PATH": "/bin", "V": "env", "e1": "second", "e2": ""}
    assert scope.vars["V"] == "env" and "G" not in scope.vars
    assert scope.used_build_args == {"B"}
