"""`dockyard hub rules|vars|build|cancel|library`: build rules, build arguments and secrets,
build now, cancel, and the hub's library of base images. Attached to the `hub` group."""

from __future__ import annotations

import sys

import click


def _book(ctx: click.Context):
    from dockyard.hub.builds.store import BuildBook
    from dockyard.hub.state import HubState

    return BuildBook(HubState(ctx.obj["root"]))


@click.group("rules")
def rules_group() -> None:
    """Which branches and tags of a source are built, how, and to which tags."""


@rules_group.command("ls")
@click.argument("repo")
@click.pass_context
def rules_ls(ctx: click.Context, repo: str) -> None:
    """List REPO's build rules."""
    from dockyard.cli.formatting import tabwrite

    rows = ["ID\tTYPE\tSOURCE\tDOCKERFILE\tCONTEXT\tTAGS"]
    for r in _book(ctx).rules(repo):
        rows.append(f"{r.id}\t{r.source_type}\t{r.source}\t{r.dockerfile}\t{r.context}\t{r.tags}")
    click.echo(tabwrite("\n".join(rows)))


@rules_group.command("add")
@click.argument("repo")
@click.option("--type", "source_type", type=click.Choice(["branch", "tag"]), default="branch", show_default=True)
@click.option("--source", "source", required=True, help="Branch or tag name, or /regular expression/.")
@click.option("--dockerfile", default="Dockerfile", show_default=True)
@click.option("--context", default=".", show_default=True)
@click.option("--tags", default="{sourceref}", show_default=True,
              help="Comma-separated tag template: {sourceref}, {\\1}..., {short_sha}.")
@click.pass_context
def rules_add(ctx: click.Context, repo: str, source_type: str, source: str, dockerfile: str, context: str,
              tags: str) -> None:
    """Add a build rule to REPO (as Docker Hub's build rules)."""
    rule = _book(ctx).add_rule(repo, source_type, source, dockerfile, context, tags)
    click.echo(f"rule {rule.id} of {repo}: {rule.label}")


@rules_group.command("rm")
@click.argument("repo")
@click.argument("rule_id", type=int)
@click.pass_context
def rules_rm(ctx: click.Context, repo: str, rule_id: int) -> None:
    """Remove rule RULE_ID of REPO."""
    _book(ctx).remove_rule(repo, rule_id)
    click.echo(f"rule {rule_id} of {repo} removed")


@click.group("vars")
def vars_group() -> None:
    """Build arguments and build secrets of a source."""


@vars_group.command("set")
@click.argument("repo")
@click.argument("name")
@click.argument("value", required=False)
@click.option("--secret", is_flag=True, help="A build secret (RUN --mount=type=secret,id=NAME): never shown, "
              "masked in logs. Without VALUE it is read from stdin.")
@click.pass_context
def vars_set(ctx: click.Context, repo: str, name: str, value: str | None, secret: bool) -> None:
    """Set build argument NAME (or secret, with --secret) of REPO."""
    if value is None:
        if not secret:
            raise click.UsageError("give a VALUE (only a --secret is read from stdin)")
        value = sys.stdin.read().rstrip("\n")
    _book(ctx).set_var(repo, name, value, secret)
    click.echo(f"{'secret' if secret else 'build argument'} {name} of {repo} set")


@vars_group.command("ls")
@click.argument("repo")
@click.pass_context
def vars_ls(ctx: click.Context, repo: str) -> None:
    """List REPO's build arguments and secrets (secrets masked)."""
    from dockyard.cli.formatting import tabwrite

    rows = ["NAME\tKIND\tVALUE"] + [f"{v.name}\t{'secret' if v.secret else 'arg'}\t{v.shown}"
                                     for v in _book(ctx).vars(repo)]
    click.echo(tabwrite("\n".join(rows)))


@vars_group.command("rm")
@click.argument("repo")
@click.argument("name")
@click.pass_context
def vars_rm(ctx: click.Context, repo: str, name: str) -> None:
    """Remove build argument or secret NAME of REPO."""
    _book(ctx).remove_var(repo, name)
    click.echo(f"{name} of {repo} removed")


@click.command("build")
@click.argument("repo")
@click.option("--rule", "rule_id", type=int, help="Only this rule (see `hub rules ls REPO`).")
@click.pass_context
def build_now_cmd(ctx: click.Context, repo: str, rule_id: int | None) -> None:
    """Build REPO now: each rule's branch or tag at its current commit."""
    import getpass

    from dockyard.hub.builds.trigger import build_now

    for build_id, rule, ref in build_now(_book(ctx), repo, getpass.getuser(), rule_id):
        click.echo(f"queued build {build_id} of {repo}: {rule.source_type} {ref} (rule {rule.id})")


@click.command("cancel")
@click.argument("build_id", type=int)
@click.pass_context
def cancel_cmd(ctx: click.Context, build_id: int) -> None:
    """Cancel a queued or running build."""
    import getpass

    status = _book(ctx).cancel(build_id, getpass.getuser())
    click.echo(f"build {build_id} cancelled" if status != "running" else f"build {build_id} is being stopped")


@click.group("library")
def library_group() -> None:
    """The hub's library/ of base images, which builds use before any other registry."""


@library_group.command("bootstrap")
@click.argument("distro", metavar="busybox|debian:SUITE")
@click.option("--mirror", metavar="URL", help="Debian mirror (default: the one the host's apt uses).")
@click.option("--variant", default="minbase", show_default=True, help="debootstrap variant.")
@click.pass_context
def library_bootstrap(ctx: click.Context, distro: str, mirror: str | None, variant: str) -> None:
    """Make a base image without any registry and store it as library/NAME on this hub."""
    from dockyard.hub.builds.bootstrap import bootstrap_into_library

    ref, digest = bootstrap_into_library(ctx.obj["root"], distro, mirror, variant,
                                         lambda s: click.echo(s, err=True))
    click.echo(f"{ref} {digest}")


COMMANDS = (rules_group, vars_group, build_now_cmd, cancel_cmd, library_group)
