"""`dockyard hub webhooks add|ls|rm|deliveries`: a repository's webhooks from the shell. A running
hub sends to webhooks added here from the next event on."""

from __future__ import annotations

import sys

import click


def _hooks(ctx: click.Context):
    from dockyard.hub.state import HubState
    from dockyard.hub.webhooks.store import Webhooks

    return Webhooks(HubState(ctx.obj["root"]))


@click.group("webhooks")
def webhooks_group() -> None:
    """Where a repository's push and build events are POSTed."""


@webhooks_group.command("add")
@click.argument("repo")
@click.argument("url")
@click.option("--events", default="push,build", show_default=True, help="Comma-separated: push, build.")
@click.option("--secret-stdin", is_flag=True, help="Read the HMAC secret from stdin (none: deliveries are unsigned).")
@click.pass_context
def webhooks_add(ctx: click.Context, repo: str, url: str, events: str, secret_stdin: bool) -> None:
    """POST REPO's events to URL."""
    secret = sys.stdin.read().rstrip("\n") if secret_stdin else ""
    hook = _hooks(ctx).add(repo, url, secret, [e.strip() for e in events.split(",") if e.strip()])
    click.echo(f"webhook {hook.id} of {repo}: {hook.events} to {hook.url}{' (signed)' if secret else ''}")


@webhooks_group.command("ls")
@click.argument("repo")
@click.pass_context
def webhooks_ls(ctx: click.Context, repo: str) -> None:
    """List REPO's webhooks (secrets are never shown)."""
    from dockyard.cli.formatting import tabwrite

    rows = ["ID\tURL\tEVENTS\tSIGNED"] + [f"{h.id}\t{h.url}\t{h.events}\t{'yes' if h.secret else 'no'}"
                                          for h in _hooks(ctx).of(repo)]
    click.echo(tabwrite("\n".join(rows)))


@webhooks_group.command("rm")
@click.argument("repo")
@click.argument("hook_id", type=int)
@click.pass_context
def webhooks_rm(ctx: click.Context, repo: str, hook_id: int) -> None:
    """Remove webhook HOOK_ID of REPO."""
    _hooks(ctx).remove(repo, hook_id)
    click.echo(f"webhook {hook_id} of {repo} removed")


@webhooks_group.command("deliveries")
@click.argument("repo")
@click.pass_context
def webhooks_deliveries(ctx: click.Context, repo: str) -> None:
    """REPO's latest deliveries: event, status, attempts and the last answer."""
    from dockyard.cli.formatting import tabwrite

    rows = ["DELIVERY\tWEBHOOK\tEVENT\tSTATUS\tATTEMPTS\tLAST ANSWER"]
    rows += [f"{d.id}\t{d.hook}\t{d.event}\t{d.status}\t{d.attempts}\t{d.response}" for d in _hooks(ctx).deliveries(repo)]
    click.echo(tabwrite("\n".join(rows)))


COMMANDS = (webhooks_group,)
