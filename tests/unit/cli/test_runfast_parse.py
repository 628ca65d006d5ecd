"""`run`'s early parser (cli/runfast.py) gives exactly the parameters click gives the full
command, and gives up (None) wherever click would answer with an error or help."""

from __future__ import annotations

import click
import pytest

from dockyard.cli import runfast
from dockyard.cli.containers import run_cmd

SAME = [
    ["busybox"], ["busybox", "true"], ["--rm", "busybox", "true"], ["-d", "busybox", "sleep", "9"],
    ["-dit", "--name", "web", "busybox"], ["--name=web", "-p", "8080:80", "-p8081:81", "busybox", "httpd", "-f"],
    ["-e", "A=1", "-eB=2", "--env=C", "-e", "-x", "busybox", "env"],  # a value may start with a dash, as in click
    ["-dp", "80:80", "busybox"], ["-itd", "busybox", "sh"], ["--no-sig-proxy", "busybox"], ["--sig-proxy", "busybox"],
    ["-a", "stdout", "--attach", "stderr", "busybox"], ["--cpu-shares", "512", "-c", "+7", "busybox"],
    ["--health-retries", "3", "--health-cmd", "true", "busybox"], ["--pull", "never", "busybox"],
    ["--network", "none", "--net", "host", "busybox"], ["--mount", "type=tmpfs,dst=/t", "busybox"],
    ["-h", "box", "-u", "1:2", "-w", "/tmp", "busybox", "--rm", "-d"],  # after the image: the command's
    ["--env-file", "/nonexistent/env", "--cidfile", "/tmp/nosuch/cid", "busybox"], ["-", "x"],
    ["--stop-timeout", "0", "--oom-score-adj", "-5", "busybox"], ["-l", "a=b", "--label", "c", "busybox"],
]
REFUSED = [
    [], ["--rm"], ["--name"], ["--bogus", "busybox"], ["-Z", "busybox"], ["--help"], ["--rm=1", "busybox"],
    ["--cpu-shares", "x", "busybox"], ["--pull", "sometimes", "busybox"], ["--env-file", "/tmp", "busybox"],
    ["-dZ", "busybox"], ["--stop-timeout", "1.5", "busybox"],
]
LEFT = [["--help"], ["--", "busybox"]]  # click takes these (help, the end of options): left to it


def _click(args: list[str]):
    """(image, command, params) as click parses them, or None when click refuses."""
    try:
        ctx = run_cmd.make_context("run", list(args))
    except (click.ClickException, click.exceptions.Exit):
        return None
    params = dict(ctx.params)
    return params.pop("image"), list(params.pop("command")), params


@pytest.mark.parametrize("args", SAME, ids=" ".join)
def test_the_early_parser_gives_what_click_gives(args) -> None:
    assert runfast.parse(args) == _click(args) != None  # noqa: E711


@pytest.mark.parametrize("args", REFUSED, ids=" ".join)
def test_what_click_refuses_goes_to_the_full_command(args) -> None:
    assert runfast.parse(args) is None and _click(args) is None


@pytest.mark.parametrize("args", LEFT, ids=" ".join)
def test_what_the_early_parser_leaves_to_click(args) -> None:
    assert runfast.parse(args) is None
