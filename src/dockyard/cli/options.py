"""Options shared by many commands, declared once so they read and behave the same everywhere."""

from __future__ import annotations

import click

from dockyard.errors import InvalidArgument


def format_option(f):
    return click.option("--format", "fmt", metavar="TEMPLATE",
                        help="Go template, `json`, or `table TEMPLATE` (e.g. '{{.ID}}').")(f)


def filter_option(f):
    return click.option("--filter", "-f", "filters", multiple=True, metavar="KEY=VALUE",
                        help="Filter output (repeatable).")(f)


def parse_filters(values: tuple[str, ...]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for v in values:
        if "=" not in v:
            raise InvalidArgument(f"bad format of filter (expected name=value): {v}")
        k, val = v.split("=", 1)
        out.setdefault(k.strip().lower(), []).append(val)
    return out


def confirm(prompt: str, force: bool) -> bool:
    """docker's `[y/N]` prompt; a closed stdin answers no."""
    if force:
        return True
    click.echo(f"{prompt}\nAre you sure you want to continue? [y/N] ", nl=False)
    try:
        answer = input()
    except EOFError:
        answer = ""
    return answer.strip().lower() in ("y", "yes")


def emit(text: str) -> None:
    """Print rendered output without doubling the newline a table already ends with."""
    if text:
        click.echo(text, nl=not text.endswith("\n"))
