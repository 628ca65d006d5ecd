"""Hostile or broken input to `dockyard build`: a clear error naming the line, and the store untouched."""

from __future__ import annotations

import os

import pytest

from tests.integration.build.build_support import build, image_file, store_state, write

pytestmark = pytest.mark.root


def test_symlink_out_of_context_is_copied_as_a_link(dy, busybox, ctx, tmp_path):
    outside = tmp_path / "outside-secret"
    outside.write_text("never read")
    os.chmod(outside, 0)
    os.symlink(outside, ctx / "link")
    os.symlink("../outside-secret", ctx / "rel-link")
    write(ctx, {"Dockerfile": "FROM busybox\nCOPY link rel-link /dst/\n"})
    build(dy, ctx, "-t", "links")
    for name, target in (("link", str(outside)), ("rel-link", "../outside-secret")):
        copied = image_file(dy, "links", f"/dst/{name}")
        assert copied.is_symlink() and os.readlink(copied) == target


@pytest.mark.parametrize("dockerfile, line, words", [
    (b"FROM busybox\nRUN true\nCOPY ../x /x\n", 3, "outside the build context"),
    (b"FROM busybox\n\x00\xff\xfe\x89PNG junk\x00", 2, "not valid text"),
    (b"FROM busybox\nRUN echo " + b"a" * (10 << 20) + b"\n", 2, "too long"),
    (b"FROM busybox\nRUN true\nRUN <<EOF\necho never closed\n", 3, "unterminated heredoc"),
    (b"FROM busybox\nCOPY missing.txt /m\n", 2, "file not found in build context: missing.txt"),
])
def test_bad_input_is_one_clear_error(dy, busybox, ctx, dockerfile, line, words):
    (ctx / "Dockerfile").write_bytes(dockerfile)
    (ctx.parent / "x").write_text("outside")
    before = store_state(dy)
    res = build(dy, ctx, "-t", "bad", check=False)
    assert res.code == 1
    last = res.err.strip().splitlines()[-1]
    assert last.startswith(f"Error: Dockerfile:{line}: ") and words in last and len(last) < 300
    assert store_state(dy) == before
