"""`dockyard hub retention set|ls|rm` and `dockyard hub gc`. Attached to the `hub` group."""

from __future__ import annotations

import click


def _rules(ctx: click.Context):
    from dockyard.hub.state import HubState
    from dockyard.hub.tags.retention import RetentionRules

    return RetentionRules(HubState(ctx.obj["root"]))


@click.group("retention")
def retention_group() -> None:
    """Keep only the newest N tags matching a pattern."""


@retention_group.command("set")
@click.argument("repo")
@click.argument("pattern")
@click.argument("keep", type=int)
@click.pass_context
def retention_set(ctx: click.Context, repo: str, pattern: str, keep: int) -> None:
    """Keep the KEEP newest tags of REPO matching PATTERN (shell-style: 'v*', '*'); `hub gc` applies it now."""
    rule = _rules(ctx).set(repo, pattern, keep)
    click.echo(f"{repo}: keep the newest {rule.keep} tags matching {rule.pattern!r}")


@retention_group.command("ls")
@click.argument("repo", required=False)
@click.pass_context
def retention_ls(ctx: click.Context, repo: str | None) -> None:
    """List retention rules."""
    from dockyard.cli.formatting import tabwrite

    rows = ["REPOSITORY\tPATTERN\tKEEP"] + [f"{r.repo}\t{r.pattern}\t{r.keep}" for r in _rules(ctx).rules(repo)]
    click.echo(tabwrite("\n".join(rows)))


@retention_group.command("rm")
@click.argument("repo")
@click.argument("pattern")
@click.pass_context
def retention_rm(ctx: click.Context, repo: str, pattern: str) -> None:
    """Remove REPO's retention rule for PATTERN."""
    _rules(ctx).remove(repo, pattern)
    click.echo(f"{repo}: rule {pattern!r} removed")


@click.command("gc")
@click.option("--dry-run", is_flag=True, help="Only say what would go.")
@click.pass_context
def gc_cmd(ctx: click.Context, dry_run: bool) -> None:
    """Apply the retention rules, then collect the blobs no tag reaches (safe while the hub serves)."""
    from dockyard.cli.formatting import human_size
    from dockyard.hub.tags.retention import apply, expired
    from dockyard.registry.gc import gc
    from dockyard.registry.storage import RegistryStorage

    rules = _rules(ctx)
    storage = RegistryStorage(ctx.obj["root"])
    if dry_run:
        gone = [(r.repo, t) for r in rules.rules() for t in expired(storage, r)]
    else:
        gone = apply(storage, rules)
    for repo, tag in gone:
        click.echo(f"{'would delete' if dry_run else 'deleted'} {repo}:{tag}")
    report = gc(ctx.obj["root"], dry_run=dry_run)
    click.echo(f"{len(report.deleted)} blob(s), {human_size(report.freed_bytes)} {'to free' if dry_run else 'freed'}")


COMMANDS = (retention_group, gc_cmd)
