"""What the parser records besides arguments: forms, flags, heredocs, lines, stages, directives."""

from __future__ import annotations

import time

import pytest

from dockyard.builder.arguments import healthcheck_config
from dockyard.builder.dockerfile import parse
from dockyard.builder.instructions import DockerfileError


def only(text: str):
    """The single instruction after `FROM a`."""
    (instr,) = parse("FROM a\n" + text).stages[0].instructions
    return instr


@pytest.mark.parametrize("text, json_form", [
    ('CMD ["a"]', True), ("CMD a", False), ("CMD [a]", False), ('COPY ["a", "b"]', True),
    ("COPY a b", False), ('VOLUME ["/v"]', True), ('HEALTHCHECK CMD ["true"]', True),
])
def test_exec_or_shell_form(text: str, json_form: bool) -> None:
    assert only(text).json_form is json_form


@pytest.mark.parametrize("text, flags", [
    ("COPY --from=build --chown=1:2 --chmod=755 a b", {"from": ["build"], "chown": ["1:2"], "chmod": ["755"]}),
    ("COPY --link a b", {"link": ["true"]}),
    ("COPY --link=FALSE a b", {"link": ["false"]}),
    ("COPY --parents --exclude=*.md --exclude=*.txt . /d", {"parents": ["true"], "exclude": ["*.md", "*.txt"]}),
    ('COPY --from="my stage" a b', {"from": ["my stage"]}),
    ("COPY --from=a\\ b x y", {"from": ["a b"]}),
    ("ADD --checksum=sha256:ab --keep-git-dir https://x /y", {"checksum": ["sha256:ab"], "keep-git-dir": ["true"]}),
    ("RUN --mount=type=cache,target=/c --mount=type=tmpfs,target=/t x", {"mount": ["type=cache,target=/c", "type=tmpfs,target=/t"]}),
    ("HEALTHCHECK --interval=1s --retries=2 CMD x", {"interval": ["1s"], "retries": ["2"]}),
])
def test_flags(text: str, flags: dict) -> None:
    assert only(text).flags == flags


def test_flag_accessors() -> None:
    instr = only("COPY --link --from=x a b")
    assert instr.flag("from") == "x" and instr.flag("chown") is None and instr.flag("chown", "0") == "0"
    assert instr.bool_flag("link") and not instr.bool_flag("parents")


def test_env_pairs_and_arg_decls() -> None:
    assert only("ENV a=1 b=2").pairs == [("a", "1"), ("b", "2")]
    assert only("ENV a 1 2").pairs == [("a", "1 2")]
    assert only("ARG a b=2 c=").arg_decls == [("a", None), ("b", "2"), ("c", "")]


def test_heredoc_content_and_options() -> None:
    instr = only("RUN <<EOF\necho $HOME\nEOF")
    (doc,) = instr.heredocs
    assert (doc.name, doc.content, doc.expand, doc.strip_tabs, doc.fd) == ("EOF", "echo $HOME\n", True, False, None)


@pytest.mark.parametrize("marker, name, expand", [
    ("<<'EOF'", "EOF", False), ('<<"EOF"', "EOF", False), ('<<E"O"F', "EOF", False), ("<<EOF", "EOF", True),
    ("<<\\EOF", "EOF", True),
])
def test_heredoc_quoted_delimiter_disables_expansion(marker: str, name: str, expand: bool) -> None:
    (doc,) = only(f"RUN cat {marker}\n$x\n{name}").heredocs
    assert (doc.name, doc.expand, doc.content) == (name, expand, "$x\n")


def test_heredoc_tab_stripping() -> None:
    (doc,) = only("RUN <<-EOF\n\techo hi\n\t\tnested\n\tEOF").heredocs
    assert doc.strip_tabs and doc.content == "\techo hi\n\t\tnested\n" and doc.body == "echo hi\nnested\n"


def test_several_heredocs_on_one_line() -> None:
    instr = only("COPY <<A <<B /d/\na1\nA\nb1\nb2\nB\n")
    assert [(d.name, d.content) for d in instr.heredocs] == [("A", "a1\n"), ("B", "b1\nb2\n")]
    assert instr.heredoc("<<B").content == "b1\nb2\n" and instr.heredoc("/d/") is None
    assert (instr.line, instr.end_line) == (2, 7)


def test_heredoc_keeps_comments_backslashes_and_crlf() -> None:
    (doc,) = only("RUN <<EOF\r\n# kept\r\nline \\\r\nEOF\r\n").heredocs
    assert doc.content == "# kept\r\nline \\\r\n"


def test_heredoc_fd_and_redirect() -> None:
    instr = only("RUN 3<<EOF python3 /dev/fd/3 > /out\nprint(1)\nEOF")
    assert instr.heredocs[0].fd == 3 and instr.args == ["3<<EOF python3 /dev/fd/3 > /out"]


def test_empty_heredoc() -> None:
    assert only("RUN <<EOF\nEOF").heredocs[0].content == ""


def test_onbuild_wraps_a_parsed_instruction() -> None:
    instr = only("ONBUILD COPY --from=b <<EOF /x\nhi\nEOF")
    assert instr.sub.cmd == "COPY" and instr.sub.flags == {"from": ["b"]}
    assert instr.sub.heredocs[0].content == "hi\n"
    assert instr.args == ["COPY --from=b <<EOF /x\nhi\nEOF"]
    assert (instr.line, instr.end_line) == (2, 4)


def test_line_numbers_span_continuations() -> None:
    df = parse("# c\nFROM a\n\nRUN a \\\n  b \\\n\n  c\nCMD x\n")
    run, cmd = df.stages[0].instructions
    assert (run.line, run.end_line) == (4, 7) and (cmd.line, cmd.end_line) == (8, 8)
    assert df.stages[0].line == 2
    assert "Dockerfile:4: empty continuation line" in df.warnings[0]


def test_original_text_is_the_joined_line() -> None:
    assert only("RUN a \\\n b").original == "RUN a  b"


def test_stages_meta_args_and_lookup() -> None:
    df = parse("ARG V=1\nFROM --platform=$P img:$V AS Build\nRUN x\nFROM build\nFROM scratch AS out")
    assert [(s.base, s.name, s.platform) for s in df.stages] == [
        ("img:$V", "build", "$P"), ("build", None, None), ("scratch", "out", None)]
    assert [i.args for i in df.meta_args] == [["V=1"]]
    assert df.stage("BUILD") is df.stages[0] and df.stage(2).name == "out"
    with pytest.raises(Exception, match='"nope" could not be found'):
        df.stage("nope")


def test_directives_recorded() -> None:
    df = parse("# syntax=docker/dockerfile:1.7\n# check=skip=all;error=true\n# escape=`\nFROM a")
    assert df.directives == {"syntax": "docker/dockerfile:1.7", "check": "skip=all;error=true", "escape": "`"}
    assert df.escape == "`"
    assert parse("FROM a").directives == {} and parse("FROM a").escape == "\\"


def test_healthcheck_config() -> None:
    cfg = healthcheck_config(only("HEALTHCHECK --interval=1m30s --timeout=500ms --start-period=1.5s --retries=4 CMD curl x"))
    assert cfg == {"Test": ["CMD-SHELL", "curl x"], "Interval": 90_000_000_000, "Timeout": 500_000_000,
                   "StartPeriod": 1_500_000_000, "Retries": 4}
    assert healthcheck_config(only('HEALTHCHECK CMD ["a", "b"]')) == {"Test": ["CMD", "a", "b"]}
    assert healthcheck_config(only("HEALTHCHECK NONE")) == {"Test": ["NONE"]}


@pytest.mark.parametrize("source", [b"\xef\xbb\xbfFROM a\nRUN x\n", "\ufeffFROM a\nRUN x\n", b"FROM a\r\nRUN x\r\n"])
def test_bom_and_bytes(source) -> None:
    assert [i.args for i in parse(source).stages[0].instructions] == [["x"]]


@pytest.mark.parametrize("source, message", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "Dockerfile:1: the Dockerfile is not valid text"),
    (b"FROM a\nRUN x\nRUN \xff\xfe", "Dockerfile:3: the Dockerfile is not valid text"),
    ("FROM a\n\0\0\0", "Dockerfile:2: the Dockerfile is not valid text"),
    (bytes(range(1, 9)) * 10, "Dockerfile:1: unknown instruction: '\\x01\\x02"),
])
def test_junk_is_rejected_clearly(source, message: str) -> None:
    with pytest.raises(DockerfileError) as info:
        parse(source)
    assert info.value.message.startswith(message)
    assert info.value.line == int(message.split(":")[1])


def test_error_carries_filename_and_line() -> None:
    with pytest.raises(DockerfileError) as info:
        parse("FROM a\nRUNN x", filename="build/Dockerfile.dev")
    assert info.value.message == "build/Dockerfile.dev:2: unknown instruction: RUNN (did you mean RUN?)"
    assert info.value.line == 2 and info.value.status == 400


@pytest.mark.parametrize("line", [
    "RUN echo " + "a" * 10_000_000,
    "ENV A=" + "a b=c " * 1_500_000,
    "LABEL x " + '"\\' * 3_000_000,
    "RUN " + "<<" * 3_000_000,
    "COPY " + "a " * 3_000_000 + "/d",
])
def test_huge_single_line_is_linear(line: str) -> None:
    # a guard against quadratic parsing (which would take hours on these lines), counted in this
    # process's CPU seconds so that a loaded host does not fail it; a linear parse takes about one
    started = time.process_time()
    try:
        parse("FROM a\n" + line)
    except DockerfileError:
        pass
    assert time.process_time() - started < 60
