"""`dockyard build` end to end: real contexts, real RUN containers, the images users get."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile

import pytest

from tests.integration.build.build_support import build, image_config, image_file, write

pytestmark = pytest.mark.root


def test_multistage_copy_from_and_target(dy, busybox, ctx):
    write(ctx, {"Dockerfile": (
        "FROM busybox AS builder\nRUN mkdir /out && echo built > /out/x\n"
        "FROM busybox AS broken\nRUN exit 7\n"
        "FROM busybox\nCOPY --from=builder /out/x /x\nCOPY --from=busybox /bin/busybox /bb\n")})
    res = build(dy, ctx, "-t", "final")
    assert "broken" not in res.err  # a stage the target does not need is never built
    assert image_file(dy, "final", "/x").read_text() == "built\n"
    assert image_file(dy, "final", "/bb").stat().st_size > 100_000
    build(dy, ctx, "-t", "mid", "--target", "builder")
    assert image_file(dy, "mid", "/out/x") is not None and image_file(dy, "mid", "/x") is None


def test_dockerignore_excludes_and_reincludes(dy, busybox, ctx):
    write(ctx, {"Dockerfile": "FROM busybox\nCOPY . /ctx/\n", "a.txt": "a", "secret.txt": "s",
                "logs/1.log": "1", "logs/keep.log": "k", ".dockerignore": "secret.txt\nlogs\n!logs/keep.log\n"})
    build(dy, ctx, "-t", "ig")
    assert image_file(dy, "ig", "/ctx/a.txt").read_text() == "a"
    assert image_file(dy, "ig", "/ctx/logs/keep.log").read_text() == "k"
    assert image_file(dy, "ig", "/ctx/secret.txt") is None and image_file(dy, "ig", "/ctx/logs/1.log") is None
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY secret.txt /s\n")
    res = build(dy, ctx, check=False)
    assert res.code == 1 and "Dockerfile:2: COPY failed" in res.err and "secret.txt" in res.err


def test_build_args_user_workdir_healthcheck_heredocs(dy, busybox, ctx):
    write(ctx, {"Dockerfile": (
        "FROM busybox\nARG MSG=default\nWORKDIR /srv/app\nRUN echo $MSG > msg\nUSER 1000:1000\nRUN id -u > /tmp/uid\n"
        "HEALTHCHECK --interval=5s CMD wget -q localhost || exit 1\n"
        "RUN <<EOF\necho from heredoc > /tmp/hd\nEOF\n"
        "COPY <<EOF /tmp/greeting\nhello $MSG\nEOF\n")})
    build(dy, ctx, "-t", "args", "--build-arg", "MSG=custom")
    assert image_file(dy, "args", "/srv/app/msg").read_text() == "custom\n"
    uid = image_file(dy, "args", "/tmp/uid")
    assert uid.read_text() == "1000\n" and uid.stat().st_uid == 1000
    assert image_file(dy, "args", "/tmp/hd").read_text() == "from heredoc\n"
    assert image_file(dy, "args", "/tmp/greeting").read_text() == "hello custom\n"
    cfg = image_config(dy, "args")["config"]
    assert cfg["User"] == "1000:1000" and cfg["WorkingDir"] == "/srv/app"
    assert cfg["Healthcheck"]["Test"] == ["CMD-SHELL", "wget -q localhost || exit 1"]
    assert cfg["Healthcheck"]["Interval"] == 5_000_000_000
    history = [h["created_by"] for h in image_config(dy, "args")["history"]]
    assert any(h.startswith("RUN |1 MSG=custom /bin/sh -c echo $MSG") for h in history)
    assert any(h.startswith("COPY file:") and h.endswith(" in /tmp/greeting") for h in history)


def test_onbuild_triggers_run_in_the_child(dy, busybox, ctx):
    write(ctx, {"Dockerfile": "FROM busybox\nONBUILD COPY a.txt /from-trigger\nONBUILD RUN echo ran > /ran\n",
                "a.txt": "payload"})
    build(dy, ctx, "-t", "parent")
    assert image_config(dy, "parent")["config"]["OnBuild"] == ["COPY a.txt /from-trigger", "RUN echo ran > /ran"]
    (ctx / "Dockerfile").write_text("FROM parent\n")
    build(dy, ctx, "-t", "child")
    assert image_file(dy, "child", "/from-trigger").read_text() == "payload"
    assert image_file(dy, "child", "/ran").read_text() == "ran\n"
    assert not image_config(dy, "child")["config"].get("OnBuild")


def _cached_steps(err: str) -> list[str]:
    """Labels of the steps a plain progress log reports CACHED."""
    labels, out = {}, []
    for line in err.splitlines():
        num, _, rest = line.partition(" ")
        if rest.startswith("["):
            labels[num] = rest
        elif rest == "CACHED":
            out.append(labels[num])
    return out


def test_cache_hits_and_invalidation(dy, busybox, ctx):
    write(ctx, {"Dockerfile": (
        "FROM busybox\nENV A=1\nCOPY one.txt /one\nRUN cat /one > /copy1\nCOPY two.txt /two\n"
        "ARG V=x\nRUN echo $V > /v\n"), "one.txt": "1", "two.txt": "2"})
    first = build(dy, ctx, "-q", "-t", "c").out.strip()
    again = build(dy, ctx, "-t", "c")
    steps = [line for line in again.err.splitlines() if line.split(" ", 1)[-1].startswith("[") and "FROM" not in line]
    assert len(_cached_steps(again.err)) == len(steps) == 5
    assert build(dy, ctx, "-q").out.strip() == first
    os.utime(ctx / "one.txt", (1, 1))  # mtime alone changes nothing
    assert len(_cached_steps(build(dy, ctx).err)) == 5
    (ctx / "two.txt").write_text("changed")
    cached = _cached_steps(build(dy, ctx, "-t", "c2").err)
    assert [c.split("] ", 1)[1] for c in cached] == ["ENV A=1", "COPY one.txt /one", "RUN cat /one > /copy1"]
    assert image_file(dy, "c2", "/two").read_text() == "changed"
    cached = _cached_steps(build(dy, ctx, "--build-arg", "V=y", "-t", "c3").err)
    assert len(cached) == 4 and not any("echo $V" in c for c in cached)
    assert image_file(dy, "c3", "/v").read_text() == "y\n"
    out = dy("builder", "prune", "-a", "-f").out
    assert "Total reclaimed space" in out
    assert _cached_steps(build(dy, ctx).err) == []


def test_reproducible_with_source_date_epoch(dy, busybox, ctx):
    write(ctx, {"Dockerfile": "FROM busybox\nCOPY a /a\nRUN echo same > /b\n", "a": "x"})
    ids = [build(dy, ctx, "-q", "--no-cache", "--build-arg", "SOURCE_DATE_EPOCH=1700000000").out.strip()
           for _ in range(2)]
    assert ids[0] == ids[1]
    assert image_config(dy, ids[0])["created"] == "2023-11-14T22:13:20Z"


def test_failing_run_reports_line_and_tags_nothing(dy, busybox, ctx):
    write(ctx, {"Dockerfile": "FROM busybox\nRUN echo before\nRUN echo oops && exit 3\n"})
    res = build(dy, ctx, "-t", "half", check=False)
    assert res.code == 1
    assert "Dockerfile:3: RUN exit code 3: /bin/sh -c echo oops && exit 3" in res.err
    assert "oops" in res.err
    assert dy("images", "-q", "half").out.strip() == ""


def test_contexts_from_stdin_tar_and_git(dy, busybox, ctx, tmp_path):
    res = dy("build", "-q", "-t", "stdin", "-", input="FROM busybox\nLABEL via=stdin\n")
    assert image_config(dy, "stdin")["config"]["Labels"] == {"via": "stdin"}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in (("Dockerfile", b"FROM busybox\nCOPY f /f\n"), ("f", b"from tar")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    dy("build", "-t", "tarctx", "-", input=buf.getvalue())
    assert image_file(dy, "tarctx", "/f").read_text() == "from tar"
    repo = tmp_path / "repo"
    write(repo, {"sub/Dockerfile": "FROM busybox\nCOPY g /g\n", "sub/g": "from git"})
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    dy("build", "-q", "-t", "gitctx", f"{repo}#main:sub")
    assert image_file(dy, "gitctx", "/g").read_text() == "from git"
    assert res.code == 0


def test_add_from_a_url_checks_its_checksum(dy, busybox, ctx, tmp_path):
    import hashlib
    import http.server
    import threading
    from functools import partial

    served = tmp_path / "www"
    served.mkdir()
    (served / "data.txt").write_text("fetched over http\n")
    digest = "sha256:" + hashlib.sha256(b"fetched over http\n").hexdigest()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/data.txt"
    try:
        write(ctx, {"Dockerfile": f"FROM busybox\nADD --checksum={digest} {url} /fetched/\n"})
        build(dy, ctx, "-t", "added:1")
        assert image_file(dy, "added:1", "/fetched/data.txt").read_text() == "fetched over http\n"
        write(ctx, {"Dockerfile": f"FROM busybox\nADD --checksum=sha256:{'0' * 64} {url} /x\n"})
        r = build(dy, ctx, "-t", "added:2", check=False)
        assert r.code != 0
        assert "Dockerfile:2" in r.err
    finally:
        server.shutdown()


@pytest.mark.parametrize("n", [2000, 4000])
def test_thousands_of_label_lines(dy, busybox, ctx, n):
    """Long Dockerfiles build (linearly: benchmarks/build_many_instructions.py times them), and
    every label is in the image, rebuilt from the cache to the same ID."""
    write(ctx, {"Dockerfile": "FROM busybox\n" + "".join(f"LABEL l{i}=v{i}\n" for i in range(n))})
    first = dy("build", "-q", "-t", f"many:{n}", str(ctx)).out.strip()
    labels = image_config(dy, f"many:{n}")["config"]["Labels"]
    assert labels == {f"l{i}": f"v{i}" for i in range(n)}
    assert dy("build", "-q", str(ctx)).out.strip() == first
    write(ctx, {"Dockerfile": "FROM busybox\n" + "".join(f"LABEL l{i}=v{i}\n" for i in range(n - 1)) + "LABEL l0=changed\n"})
    assert dy("build", "-q", str(ctx)).out.strip() != first
