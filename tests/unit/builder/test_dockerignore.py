"""`.dockerignore` matching, case by case, with Docker's rules."""

from __future__ import annotations

import pytest

from dockyard.builder.dockerignore import DockerIgnore, DockerIgnoreError, clean_path, parse_dockerignore

MATCHES = [
    # (patterns, path, excluded?)
    (["foo"], "foo", True), (["foo"], "foo/bar", True), (["foo"], "foo/bar/baz", True),
    (["foo"], "foobar", False), (["foo"], "a/foo", False), (["/foo"], "foo", True),
    (["foo/"], "foo/x", True), (["./foo"], "foo", True), (["a/../foo"], "foo", True),
    (["*.md"], "README.md", True), (["*.md"], "docs/README.md", False), (["*/*.md"], "docs/README.md", True),
    (["*"], "anything", True), (["*"], "dir/file", True), (["a*"], "abc", True), (["a*"], "ba", False),
    (["?"], "a", True), (["?"], "ab", False), (["a?c"], "a/c", False), (["a?c"], "abc", True),
    (["**"], "a/b/c", True), (["**/*.go"], "main.go", True), (["**/*.go"], "a/b/main.go", True),
    (["**/*.go"], "a/b/main.py", False), (["a/**/b"], "a/b", True), (["a/**/b"], "a/x/y/b", True),
    (["a/**/b"], "a/x/c", False), (["a/**"], "a/x/y", True), (["a/**"], "ab", False), (["foo**"], "foobar/x", True),
    (["**/node_modules"], "web/node_modules/x/y.js", True), (["[abc].txt"], "b.txt", True),
    (["[abc].txt"], "d.txt", False), (["[a-c].txt"], "c.txt", True), (["[^a-c].txt"], "d.txt", True),
    (["[^a-c].txt"], "a.txt", False), (["[!a].txt"], "!.txt", True), (["[!a].txt"], "b.txt", False),
    (["[\\]]"], "]", True), (["\\*"], "*", True), (["\\*"], "a", False), (["a\\?"], "a?", True),
    (["a.b"], "axb", False), (["(x)+"], "(x)+", True), (["*", "!keep"], "keep", False),
    (["*", "!keep"], "other", True), (["*", "!keep", "keep"], "keep", True), (["!keep", "*"], "keep", True),
    (["docs", "!docs/README.md"], "docs/README.md", False), (["docs", "!docs/README.md"], "docs/other.md", True),
    (["*.md", "!README*.md", "README-secret.md"], "README-secret.md", True),
    (["*.md", "!README*.md", "README-secret.md"], "README.md", False),
    (["a/b"], "a", False), (["a/b"], "a/b/c", True), (["a"], "./a/", True), (["x"], "/x", True),
    ([], "anything", False), (["ü*"], "über", True), (["*.tmp"], ".hidden.tmp", True),
]


@pytest.mark.parametrize("patterns, path, excluded", MATCHES, ids=[f"{p}-{f}" for p, f, _ in MATCHES])
def test_matches(patterns: list[str], path: str, excluded: bool) -> None:
    assert DockerIgnore(patterns).matches(path) is excluded


@pytest.mark.parametrize("text, patterns", [
    ("# comment\n\nfoo\n  bar  \n", ["foo", "bar"]),
    (" # not a comment", ["# not a comment"]),
    ("/abs/path\n!/abs/keep\n", ["abs/path", "!abs/keep"]),
    ("! spaced\n", ["!spaced"]),
    ("a//b/./c/\n", ["a/b/c"]),
    ("\ufeffbom\r\nnext\r\n", ["bom", "next"]),
    (b"\xef\xbb\xbfbytes\n", ["bytes"]),
    ("/\n", ["/"]),
    ("!\n", ["!"]),
])
def test_parse_dockerignore(text, patterns: list[str]) -> None:
    assert parse_dockerignore(text) == patterns


@pytest.mark.parametrize("path, cleaned", [
    ("", "."), ("a/./b", "a/b"), ("a/../..", ".."), ("/..", "/"), ("//a//", "/a"), ("a/b/../c", "a/c"),
])
def test_clean_path(path: str, cleaned: str) -> None:
    assert clean_path(path) == cleaned


@pytest.mark.parametrize("pattern", ["!", "[abc", "[]", "a\\", "[a-]", "[\\"])
def test_bad_patterns_are_rejected(pattern: str) -> None:
    with pytest.raises(DockerIgnoreError, match="pattern"):
        DockerIgnore([pattern])


@pytest.mark.parametrize("patterns, directory, descend", [
    (["node_modules"], "node_modules", False),
    (["node_modules"], "src", True),
    (["docs", "!docs/README.md"], "docs", True),
    (["docs", "!other/README.md"], "docs", False),
    (["a", "!a/b/c"], "a/b", True),
    (["a", "!a/x/c"], "a/b", False),
    (["*", "!**/*.go"], "vendor", True),
    (["*", "!src/*.go"], "src", True),
    (["*", "!src/*.go"], "lib", False),
])
def test_may_descend(patterns: list[str], directory: str, descend: bool) -> None:
    assert DockerIgnore(patterns).may_descend(directory) is descend


def test_from_text() -> None:
    ignore = DockerIgnore.from_text("*.log\n!important.log\n")
    assert ignore.matches("debug.log") and not ignore.matches("important.log")
