"""Table-driven checks of the Dockerfile parser: text in, Docker's reading (or error) out."""

from __future__ import annotations

import pytest

from dockyard.builder.dockerfile import parse
from dockyard.builder.instructions import DockerfileError


class Err(str):
    """Expected: parsing fails with a message containing this text."""


def flat(text: str) -> list[tuple[str, ...]]:
    """Every instruction, in order, as (CMD, *args)."""
    df = parse(text)
    out = [(i.cmd, *i.args) for i in df.meta_args]
    for stage in df.stages:
        out.append((stage.from_instruction.cmd, *stage.from_instruction.args))
        out += [(i.cmd, *i.args) for i in stage.instructions]
    return out


def check(text: str, expected) -> None:
    if isinstance(expected, Err):
        with pytest.raises(DockerfileError) as info:
            parse(text)
        assert expected in info.value.message
    else:
        assert flat(text) == expected


# Instructions after a `FROM a` line: (text after FROM, expected instructions after FROM).
IN_STAGE = [
    # shell form and exec form
    ("RUN echo hi", [("RUN", "echo hi")]),
    ("run echo hi", [("RUN", "echo hi")]),
    ("Run\techo hi", [("RUN", "echo hi")]),
    ("   RUN   echo   hi   ", [("RUN", "echo   hi")]),
    ('RUN ["echo", "hi"]', [("RUN", "echo", "hi")]),
    ('RUN [ "echo" , "hi" ]', [("RUN", "echo", "hi")]),
    ("RUN [echo, hi]", [("RUN", "[echo, hi]")]),
    ('RUN ["echo", "hi"] extra', [("RUN", '["echo", "hi"] extra')]),
    ('RUN ["a",]', [("RUN", '["a",]')]),
    ('RUN ["a", NaN]', [("RUN", '["a", NaN]')]),
    ('RUN {"a": "b"}', [("RUN", '{"a": "b"}')]),
    ('RUN ["a\\"b", "c\\\\d"]', [("RUN", 'a"b', "c\\d")]),
    ('RUN ["caf\\u00e9"]', [("RUN", "café")]),
    ('RUN ["echo", 1]', Err("arrays must be comprised of strings only")),
    ('RUN ["echo", null]', Err("arrays must be comprised of strings only")),
    ("RUN []", Err("RUN requires at least one argument")),
    ("RUN", Err("Dockerfile:2: RUN requires at least one argument")),
    ("CMD []", [("CMD",)]),
    ("CMD", [("CMD",)]),
    ('CMD ["nginx", "-g", "daemon off;"]', [("CMD", "nginx", "-g", "daemon off;")]),
    ("CMD nginx -g 'daemon off;'", [("CMD", "nginx -g 'daemon off;'")]),
    ('ENTRYPOINT ["/bin/sh", "-c"]', [("ENTRYPOINT", "/bin/sh", "-c")]),
    ("ENTRYPOINT exec top -b", [("ENTRYPOINT", "exec top -b")]),
    ("RUN echo # not a comment", [("RUN", "echo # not a comment")]),
    ("RUN echo $HOME ${X:-y}", [("RUN", "echo $HOME ${X:-y}")]),
    # continuation lines
    ('CMD ["a", \\\n     "b"]', [("CMD", "a", "b")]),
    ("RUN echo a \\\n  && echo b", [("RUN", "echo a   && echo b")]),
    ("RUN a \\\n# comment\n b", [("RUN", "a  b")]),
    ("RUN a \\\n    # indented comment\n b", [("RUN", "a  b")]),
    ("RUN a \\\n\n b", [("RUN", "a  b")]),
    ("RUN a \\\n   \n b", [("RUN", "a  b")]),
    ("RUN a \\   \n b", [("RUN", "a  b")]),
    ("RUN a \\\t\n b", [("RUN", "a  b")]),
    ("RUN a \\", [("RUN", "a")]),
    ("RUN a \\\n", [("RUN", "a")]),
    ("RUN a \\\n# only a comment follows", [("RUN", "a")]),
    ("RUN echo \\\\", [("RUN", "echo \\\\")]),
    ("RUN a \\\n\\\nb", [("RUN", "a b")]),
    ("RUN a\\\nb\\\nc", [("RUN", "abc")]),
    ("RUN a \\\n b \\\n c\nRUN d", [("RUN", "a  b  c"), ("RUN", "d")]),
    ("RUN a\r\nRUN b\r\n", [("RUN", "a"), ("RUN", "b")]),
    ("RUN a \\\r\n b\r\n", [("RUN", "a  b")]),
    ("# c1\nRUN a\n\n# c2\nRUN b", [("RUN", "a"), ("RUN", "b")]),
    ("   # indented comment\nRUN a", [("RUN", "a")]),
    # ENV and LABEL
    ("ENV a=b", [("ENV", "a", "b")]),
    ("ENV a=b c=d", [("ENV", "a", "b", "c", "d")]),
    ("ENV a b c", [("ENV", "a", "b c")]),
    ("ENV a  b   c", [("ENV", "a", "b   c")]),
    ("env a b", [("ENV", "a", "b")]),
    ('ENV a="b c" d=e', [("ENV", "a", '"b c"', "d", "e")]),
    ("ENV a='b c'", [("ENV", "a", "'b c'")]),
    ("ENV a=b\\ c", [("ENV", "a", "b\\ c")]),
    ("ENV a=", [("ENV", "a", "")]),
    ("ENV a==b", [("ENV", "a", "=b")]),
    ('ENV a="x \\" y"', [("ENV", "a", '"x \\" y"')]),
    ('ENV a="unterminated', [("ENV", "a", '"unterminated')]),
    ("ENV a=b \\\n    c=d", [("ENV", "a", "b", "c", "d")]),
    ("ENV PATH=/x:$PATH", [("ENV", "PATH", "/x:$PATH")]),
    ("ENV a", Err("ENV must have two arguments")),
    ("ENV", Err("ENV requires at least one argument")),
    ("ENV a=b c", Err("can't find = in 'c'")),
    ("ENV a=b # comment", Err("can't find = in '#'")),
    ("ENV =b", Err("ENV names can not be blank")),
    ("ENV --x=y a=b", Err("unknown flag: --x")),
    ("LABEL a=b", [("LABEL", "a", "b")]),
    ('LABEL "com.example.key"="v 1" b=c', [("LABEL", '"com.example.key"', '"v 1"', "b", "c")]),
    ("LABEL version 1.0 beta", [("LABEL", "version", "1.0 beta")]),
    ("LABEL", Err("LABEL requires at least one argument")),
    ("MAINTAINER Jane Doe <jane@example.com>", [("MAINTAINER", "Jane Doe <jane@example.com>")]),
    ("MAINTAINER", Err("MAINTAINER requires exactly one argument")),
    # ARG
    ("ARG a", [("ARG", "a")]),
    ("ARG a=1", [("ARG", "a=1")]),
    ('ARG a=1 b c="x y"', [("ARG", "a=1", "b", 'c="x y"')]),
    ("ARG a=${b:-c}", [("ARG", "a=${b:-c}")]),
    ("ARG", Err("ARG requires at least one argument")),
    ("ARG =x", Err("ARG names can not be blank")),
    # COPY and ADD
    ("COPY a b", [("COPY", "a", "b")]),
    ("COPY  a   b  c/", [("COPY", "a", "b", "c/")]),
    ('COPY ["a b", "c"]', [("COPY", "a b", "c")]),
    ("COPY [a b] c", [("COPY", "[a", "b]", "c")]),
    ("COPY --from=build /x /y", [("COPY", "/x", "/y")]),
    ("COPY -- --weird dest", [("COPY", "--weird", "dest")]),
    ("COPY -x dest", [("COPY", "-x", "dest")]),
    ("COPY a", Err("COPY requires at least two arguments")),
    ("COPY", Err("COPY requires at least two arguments")),
    ("COPY a <<EOF", Err("COPY cannot accept a heredoc as a destination")),
    ("COPY --from a b", Err("missing a value on flag: --from")),
    ("COPY --from=a --from=b x y", Err("duplicate flag specified: --from")),
    ("COPY --link=maybe a b", Err("expecting boolean value for flag --link")),
    ("COPY --keep-git-dir a b", Err("unknown flag: --keep-git-dir")),
    ("COPY --chown a b", Err("missing a value on flag: --chown")),
    ("ADD http://example.com/x /y", [("ADD", "http://example.com/x", "/y")]),
    ("ADD --keep-git-dir=true https://x.git /s", [("ADD", "https://x.git", "/s")]),
    ("ADD --from=x a b", Err("unknown flag: --from")),
    ("ADD a", Err("ADD requires at least two arguments")),
    # RUN flags
    ("RUN --network=none curl x", [("RUN", "curl x")]),
    ("RUN --security=insecure x", [("RUN", "x")]),
    ("RUN --mount=type=cache,target=/c --mount=type=secret,id=s make", [("RUN", "make")]),
    ("RUN --mount type=cache x", Err("missing a value on flag: --mount")),
    ("RUN --foo=bar x", Err("unknown flag: --foo (RUN accepts --mount, --network, --security)")),
    ("RUN --network=none", Err("RUN requires at least one argument")),
    ("RUN -x", [("RUN", "-x")]),
    ("CMD --x=1 a", Err("unknown flag: --x (CMD takes no flags)")),
    # VOLUME, EXPOSE, USER, WORKDIR, STOPSIGNAL
    ("VOLUME /a /b", [("VOLUME", "/a", "/b")]),
    ('VOLUME ["/a", "/b c"]', [("VOLUME", "/a", "/b c")]),
    ("VOLUME", Err("VOLUME requires at least one argument")),
    ('VOLUME [""]', Err("VOLUME specified can not be an empty string")),
    ("EXPOSE 80 443/tcp 53/udp", [("EXPOSE", "80", "443/tcp", "53/udp")]),
    ("EXPOSE $PORT", [("EXPOSE", "$PORT")]),
    ("EXPOSE", Err("EXPOSE requires at least one argument")),
    ("USER app", [("USER", "app")]),
    ("USER 1000:1000", [("USER", "1000:1000")]),
    ("USER a b", [("USER", "a b")]),
    ("USER", Err("USER requires exactly one argument")),
    ("WORKDIR /app", [("WORKDIR", "/app")]),
    ("WORKDIR /my dir", [("WORKDIR", "/my dir")]),
    ("WORKDIR", Err("WORKDIR requires exactly one argument")),
    ("STOPSIGNAL SIGTERM", [("STOPSIGNAL", "SIGTERM")]),
    ("STOPSIGNAL", Err("STOPSIGNAL requires exactly one argument")),
    # SHELL
    ('SHELL ["/bin/bash", "-c"]', [("SHELL", "/bin/bash", "-c")]),
    ("SHELL /bin/bash -c", Err("SHELL requires the arguments to be in JSON form")),
    ("SHELL []", Err("SHELL requires at least one argument")),
    ("SHELL", Err("SHELL requires at least one argument")),
    # HEALTHCHECK
    ("HEALTHCHECK NONE", [("HEALTHCHECK", "NONE")]),
    ("HEALTHCHECK none", [("HEALTHCHECK", "NONE")]),
    ("HEALTHCHECK CMD curl -f http://localhost/", [("HEALTHCHECK", "CMD", "curl -f http://localhost/")]),
    ('HEALTHCHECK CMD ["curl", "-f", "x"]', [("HEALTHCHECK", "CMD", "curl", "-f", "x")]),
    ("HEALTHCHECK --interval=5s --timeout=3s --retries=3 CMD true", [("HEALTHCHECK", "CMD", "true")]),
    ("HEALTHCHECK --start-period=1m --start-interval=2s CMD true", [("HEALTHCHECK", "CMD", "true")]),
    ("HEALTHCHECK", Err("HEALTHCHECK requires at least one argument")),
    ("HEALTHCHECK NONE x", Err("HEALTHCHECK NONE takes no arguments")),
    ("HEALTHCHECK --interval=5s NONE", Err("HEALTHCHECK NONE takes no flags")),
    ("HEALTHCHECK CMD", Err("Missing command after HEALTHCHECK CMD")),
    ("HEALTHCHECK FOO x", Err("Unknown type 'FOO' in HEALTHCHECK (try CMD)")),
    ("HEALTHCHECK --interval=5 CMD x", Err("--interval: invalid duration '5'")),
    ("HEALTHCHECK --timeout=1ns CMD x", Err("--timeout '1ns' cannot be less than 1ms")),
    ("HEALTHCHECK --retries=0 CMD x", Err("--retries must be at least 1")),
    ("HEALTHCHECK --retries=x CMD x", Err("--retries must be a whole number")),
    ("HEALTHCHECK --foo=1 CMD x", Err("unknown flag: --foo")),
    # ONBUILD
    ("ONBUILD RUN echo hi", [("ONBUILD", "RUN echo hi")]),
    ("onbuild copy --from=a x y", [("ONBUILD", "copy --from=a x y")]),
    ("ONBUILD ONBUILD RUN x", Err("chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")),
    ("ONBUILD FROM x", Err("FROM isn't allowed as an ONBUILD trigger")),
    ("ONBUILD maintainer x", Err("MAINTAINER isn't allowed as an ONBUILD trigger")),
    ("ONBUILD", Err("ONBUILD requires at least one argument")),
    ("ONBUILD RUNN x", Err("unknown instruction: RUNN (did you mean RUN?)")),
    ("ONBUILD COPY a", Err("COPY requires at least two arguments")),
    # unknown instructions
    ("RUNN x", Err("Dockerfile:2: unknown instruction: RUNN (did you mean RUN?)")),
    ("COPPY a b", Err("unknown instruction: COPPY (did you mean COPY?)")),
    ("ENTRYPONT x", Err("did you mean ENTRYPOINT?")),
    ("XYZZY", Err("unknown instruction: XYZZY")),
    ("RUN a\n\nRUNN b", Err("Dockerfile:4: unknown instruction: RUNN")),
    # heredocs in argument lists
    ("RUN <<EOF\necho hi\nEOF", [("RUN", "<<EOF")]),
    ("RUN <<EOF\nx\nEOF\nRUN y", [("RUN", "<<EOF"), ("RUN", "y")]),
    ("COPY <<EOF /x\nhi\nEOF", [("COPY", "<<EOF", "/x")]),
    ('RUN ["echo", "<<EOF"]', [("RUN", "echo", "<<EOF")]),
    ("RUN echo '<<EOF'", [("RUN", "echo '<<EOF'")]),
    ("RUN a<<EOF", [("RUN", "a<<EOF")]),
    ("RUN echo <<", [("RUN", "echo <<")]),
    ("ENV a=<<EOF", [("ENV", "a", "<<EOF")]),
    ("RUN <<EOF\nx", Err("Dockerfile:2: unterminated heredoc")),
    ("RUN a\nRUN <<EOF\nx\nEOF \n", Err("Dockerfile:3: unterminated heredoc")),
    ("RUN <<EOF\n\tEOF\n", Err("unterminated heredoc")),
    ("RUN <<A <<B\na\nA\n", Err("no line 'B'")),
]

# Whole files: (text, expected instructions including FROM and meta ARGs).
WHOLE = [
    ("FROM a", [("FROM", "a")]),
    ("from a", [("FROM", "a")]),
    ("FROM a AS b", [("FROM", "a", "AS", "b")]),
    ("FROM --platform=linux/arm64 a", [("FROM", "a")]),
    ("FROM ${IMG:-alpine}:${TAG}", [("FROM", "${IMG:-alpine}:${TAG}")]),
    ("FROM a AS b-c.d_e", [("FROM", "a", "AS", "b-c.d_e")]),
    ("FROM a b", Err("FROM requires either one or three arguments")),
    ("FROM a AS b c", Err("FROM requires either one or three arguments")),
    ("FROM", Err("FROM requires either one or three arguments")),
    ("FROM a AS 1x", Err("invalid name for build stage: '1x'")),
    ("FROM a AS b$c", Err("invalid name for build stage")),
    ("FROM --foo=x a", Err("unknown flag: --foo")),
    ("FROM --platform a", Err("missing a value on flag: --platform")),
    ("ARG a\nFROM b", [("ARG", "a"), ("FROM", "b")]),
    ("ARG a=1 b\nARG c\nFROM x:$a", [("ARG", "a=1", "b"), ("ARG", "c"), ("FROM", "x:$a")]),
    ("FROM a\nRUN x\nFROM b\nRUN y", [("FROM", "a"), ("RUN", "x"), ("FROM", "b"), ("RUN", "y")]),
    ("", Err("Dockerfile:1: the Dockerfile has no instructions")),
    ("\n\n\n", Err("has no instructions")),
    ("# only a comment\n\n", Err("has no instructions")),
    ("# syntax=docker/dockerfile:1\n", Err("has no instructions")),
    ("RUN x", Err("Dockerfile:1: RUN before the first FROM")),
    ("ARG a\nENV b=c\nFROM d", Err("Dockerfile:2: ENV before the first FROM")),
    ("ARG a", Err("Dockerfile:1: the Dockerfile has no FROM instruction")),
    ("FRM a", Err("Dockerfile:1: unknown instruction: FRM (did you mean FROM?)")),
    ("FORM a", Err("(did you mean FROM?)")),
    # parser directives
    ("# escape=`\nFROM a\nRUN a `\n b", [("FROM", "a"), ("RUN", "a  b")]),
    ("# escape=`\nFROM a\nRUN echo \\\nRUN b", [("FROM", "a"), ("RUN", "echo \\"), ("RUN", "b")]),
    ("# escape=`\nFROM w\nCOPY test.txt c:\\\nRUN dir c:\\", [("FROM", "w"), ("COPY", "test.txt", "c:\\"), ("RUN", "dir c:\\")]),
    ("# escape=`\nFROM a\nRUN a ``\nRUN b", [("FROM", "a"), ("RUN", "a ``"), ("RUN", "b")]),
    ("# escape=`\nFROM a\nENV a=b` c", [("FROM", "a"), ("ENV", "a", "b` c")]),
    ("# escape=`\nFROM a\nENV a=b\\ c", Err("can't find = in 'c'")),
    ("# comment\n# escape=`\nFROM a\nRUN a \\\n b", [("FROM", "a"), ("RUN", "a  b")]),
    ("# comment\n# escape=`\nFROM a\nRUN a `\nRUN b", [("FROM", "a"), ("RUN", "a `"), ("RUN", "b")]),
    ("\n# escape=`\nFROM a\nRUN a \\\n b", [("FROM", "a"), ("RUN", "a  b")]),
    ("FROM a\n# escape=`\nRUN a `\nRUN b", [("FROM", "a"), ("RUN", "a `"), ("RUN", "b")]),
    ("# unknown=x\n# escape=`\nFROM a\nRUN a \\\n b", [("FROM", "a"), ("RUN", "a  b")]),
    ("#escape=`\nFROM a\nRUN a `\n b", [("FROM", "a"), ("RUN", "a  b")]),
    ("# ESCAPE = ` \nFROM a\nRUN a `\n b", [("FROM", "a"), ("RUN", "a  b")]),
    ("# escape=\\\nFROM a\nRUN a \\\n b", [("FROM", "a"), ("RUN", "a  b")]),
    ("\ufeff# escape=`\nFROM a\nRUN a `\n b", [("FROM", "a"), ("RUN", "a  b")]),
    ("# escape=x\nFROM a", Err("Dockerfile:1: invalid escape token 'x' does not match ` or \\")),
    ("# escape=`\n# escape=\\\nFROM a", Err("Dockerfile:2: only one escape parser directive can be used")),
    ("# syntax=a\n# syntax=b\nFROM a", Err("only one syntax parser directive can be used")),
    # line numbers of errors
    ("FROM a\nRUN x\n\n\nCOPY a", Err("Dockerfile:5: COPY requires at least two arguments")),
    ("FROM a\nRUN a \\\n  b\nCOPY x", Err("Dockerfile:4:")),
    ("FROM a\nRUN <<EOF\nx\nEOF\nXYZ", Err("Dockerfile:5: unknown instruction: XYZ")),
    ("FROM a\r\nRUNN x\r\n", Err("Dockerfile:2: unknown instruction: RUNN")),
]


@pytest.mark.parametrize("text, expected", IN_STAGE, ids=[c[0][:40] for c in IN_STAGE])
def test_instruction_in_stage(text: str, expected) -> None:
    if isinstance(expected, Err):
        check("FROM a\n" + text, expected)
    else:
        check("FROM a\n" + text, [("FROM", "a"), *expected])


@pytest.mark.parametrize("text, expected", WHOLE, ids=[c[0][:40] for c in WHOLE])
def test_whole_file(text: str, expected) -> None:
    check(text, expected)


def test_table_is_large_enough() -> None:
    assert len(IN_STAGE) + len(WHOLE) >= 150
