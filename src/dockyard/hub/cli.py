"""`dockyard hub ...`: serve the hub, manage build sources and private repositories, watch builds.

The group is attached to the main CLI with `cli.add_command(hub)` and also runs on its own as
`python -m dockyard.hub` (which the git hooks use, so they do not depend on the main CLI).
Commands that change sources are local administration: they write hub.db directly.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

DEFAULT_ROOT = "/var/lib/dockyard-hub"
TERMINAL = ("succeeded", "failed", "cancelled")


def _state(ctx: click.Context):
    from dockyard.hub.state import HubState

    return HubState(ctx.obj["root"])


@click.group("hub", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--root", envvar="DOCKYARD_HUB_ROOT", metavar="DIR",
              help=f"Registry storage and hub state [{DEFAULT_ROOT}; rootless: $XDG_DATA_HOME/dockyard-hub].")
@click.pass_context
def hub(ctx: click.Context, root: str | None) -> None:
    """A Docker Hub of your own: registry, web pages and automated builds."""
    ctx.obj = {"root": Path(root or _default_root())}


def _default_root() -> str:
    from dockyard import rootless

    if rootless.active():
        from dockyard.rootless import paths
        return str(paths.data_home() / "dockyard-hub")
    return DEFAULT_ROOT


@hub.command()
@click.option("--addr", default="127.0.0.1:5080", show_default=True, help="HOST:PORT to listen on (port 0: any free port).")
@click.option("--auth", help="Access mode: accounts (the hub's own users, organizations and tokens), htpasswd:FILE or token:htpasswd=FILE[,acl=FILE][,anonymous=pull]...")
@click.option("--build-timeout", type=float, default=1800, show_default=True, help="Seconds a build may take.")
@click.option("--parallel-builds", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Builds run at once (never two of one source).")
@click.pass_context
def serve(ctx: click.Context, addr: str, auth: str | None, build_timeout: float, parallel_builds: int) -> None:
    """Serve the registry API, the web pages and the build worker on ADDR."""
    from dockyard.hub.server import serve as run

    run(addr, ctx.obj["root"], auth=auth, build_timeout=build_timeout, parallel_builds=parallel_builds)


@hub.group()
def source() -> None:
    """Git repositories the hub builds images from."""


@source.command("add")
@click.argument("repo")
@click.option("--git", "git_url", required=True, help="Repository URL or path of a local bare repository.")
@click.option("--branch", default="main", show_default=True, help="Branch whose pushes are built.")
@click.option("--dockerfile", default="Dockerfile", show_default=True, help="Dockerfile path inside the repository.")
@click.option("--context", default=".", show_default=True, help="Build context directory inside the repository.")
@click.option("--tag-rule", default="latest", show_default=True,
              help="Comma-separated tags; {branch} and {short_sha} expand.")
@click.option("--secret", default="", help="Webhook secret (HMAC-SHA256, as GitHub's X-Hub-Signature-256).")
@click.option("--private", is_flag=True, help="Hide the repository from anonymous visitors.")
@click.option("--release-tags", is_flag=True,
              help="Also build pushed tags vX.Y.Z (or X.Y.Z) as X.Y.Z, X.Y and latest.")
@click.pass_context
def source_add(ctx: click.Context, repo: str, git_url: str, branch: str, dockerfile: str, context: str,
               tag_rule: str, secret: str, private: bool, release_tags: bool) -> None:
    """Build REPO from a git repository; a local bare repository gets a post-receive hook."""
    from dockyard.hub import hooks, tagrule
    from dockyard.hub.builds import rules
    from dockyard.hub.builds.store import BuildBook
    from dockyard.hub.state import Source

    state = _state(ctx)
    state.add_source(Source(repo, git_url, branch, dockerfile, context, tagrule.validate_rule(tag_rule), secret))
    if private:
        state.set_private(repo, True)
    if release_tags:
        BuildBook(state).add_rule(repo, rules.TAG, rules.RELEASE_PATTERN, dockerfile, context, rules.RELEASE_TAGS)
    local = hooks.local_repository(git_url)
    if local is not None:
        try:
            hook = hooks.install_hook(local, ctx.obj["root"], repo)
        except BaseException:
            state.remove_source(repo)
            raise
        click.echo(f"source {repo} added; pushes to {branch}{' and release tags' if release_tags else ''} run {hook}")
    else:
        where = f"POST /hooks/git/{repo}"
        click.echo(f"source {repo} added; point the repository's push webhook at {where}"
                   + ("" if secret else " (set --secret first: webhooks without one are refused)"))


@source.command("ls")
@click.pass_context
def source_ls(ctx: click.Context) -> None:
    """List build sources."""
    from dockyard.cli.formatting import tabwrite

    from dockyard.hub.builds.store import BuildBook

    state = _state(ctx)
    book = BuildBook(state)
    private = state.private_repos()
    rows = ["REPOSITORY\tGIT\tRULES\tWEBHOOK\tVISIBILITY"]
    for s in state.sources():
        rules = "; ".join(r.label for r in book.rules(s.repo))
        rows.append(f"{s.repo}\t{s.git_url}\t{rules}\t{'signed' if s.secret else 'off'}\t"
                    f"{'private' if s.repo in private else 'public'}")
    click.echo(tabwrite("\n".join(rows)))


@source.command("rm")
@click.argument("repo")
@click.pass_context
def source_rm(ctx: click.Context, repo: str) -> None:
    """Stop building REPO (its images stay); removes the hook the hub installed."""
    from dockyard.hub import hooks
    from dockyard.hub.builds.store import BuildBook

    state = _state(ctx)
    local = hooks.local_repository(state.source(repo).git_url)
    state.remove_source(repo)
    BuildBook(state).forget(repo)
    if local is not None:
        hooks.remove_hook(local)
    click.echo(f"source {repo} removed")


@hub.command("repo")
@click.argument("visibility", type=click.Choice(["private", "public"]))
@click.argument("repo")
@click.pass_context
def repo_visibility(ctx: click.Context, visibility: str, repo: str) -> None:
    """Make REPO private (hidden from anonymous visitors and pulls) or public again."""
    from dockyard.hub.accounts.store import Accounts

    state = _state(ctx)
    state.set_private(repo, visibility == "private")
    Accounts(state.db).audit("", "visibility", repo, visibility)
    click.echo(f"{repo} is {visibility}")


@hub.command(hidden=True)
@click.argument("repo")
@click.argument("sha")
@click.argument("ref")
@click.pass_context
def enqueue(ctx: click.Context, repo: str, sha: str, ref: str) -> None:
    """Queue the builds of a pushed REF at SHA (what hooks of earlier hub versions run); unbuilt refs are ignored."""
    from dockyard.hub.builds.store import BuildBook
    from dockyard.hub.builds.trigger import queue_push

    queued = queue_push(BuildBook(_state(ctx)), repo, ref, sha)
    if not queued:
        click.echo(f"dockyard hub: {ref} is not built for {repo} (see `hub rules ls {repo}`)")
    for build_id, rule in queued:
        click.echo(f"dockyard hub: queued build {build_id} of {repo} at {sha[:7]} (rule {rule.label})")


@hub.command()
@click.option("--source", "source_repo", metavar="REPO", help="Only builds of this source.")
@click.option("-f", "--follow", type=int, metavar="ID", help="Print the log of build ID as it grows, until it ends.")
@click.pass_context
def builds(ctx: click.Context, source_repo: str | None, follow: int | None) -> None:
    """List builds, newest first, or follow one build's log."""
    from dockyard.cli.formatting import human_ago, human_duration, tabwrite

    from dockyard.hub.builds.spool import drain
    from dockyard.hub.builds.store import BuildBook

    state = _state(ctx)
    drain(BuildBook(state))  # pushes the hooks spooled while no hub ran
    if follow is not None:
        _follow(state, follow)
        return
    rows = ["BUILD\tREPOSITORY\tCOMMIT\tSTATUS\tTAGS\tQUEUED\tTOOK\tREASON"]
    for b in state.builds(source_repo):
        took = "" if b.duration is None else human_duration(b.duration)
        reason = b.failing_line or b.reason
        rows.append(f"{b.id}\t{b.source}\t{b.short_sha}\t{b.status}\t{b.tags}\t{human_ago(time.time() - b.created)}\t"
                    f"{took}\t{reason}")
    click.echo(tabwrite("\n".join(rows)))


def _follow(state, build_id: int) -> None:
    """Stream a build log until the build finishes; exits 1 if it failed."""
    path = state.log_path(build_id)
    offset = 0
    while True:
        build = state.build(build_id)
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                chunk = f.read()
        except FileNotFoundError:
            chunk = b""
        if chunk:
            offset += len(chunk)
            click.echo(chunk.decode(errors="replace"), nl=False)
        if build.status in TERMINAL and not chunk:
            click.echo(f"build {build_id} {build.status}" + (f": {build.failing_line or build.reason}" if build.reason else ""))
            if build.status == "failed":
                raise SystemExit(1)
            return
        time.sleep(0.3)


def _attach_commands() -> None:
    from dockyard.hub.accounts.cli import COMMANDS as ACCOUNT_COMMANDS
    from dockyard.hub.builds.cli import COMMANDS as BUILD_COMMANDS
    from dockyard.hub.tags.cli import COMMANDS as TAG_COMMANDS
    from dockyard.hub.webhooks.cli import COMMANDS as WEBHOOK_COMMANDS

    for command in (*BUILD_COMMANDS, *TAG_COMMANDS, *WEBHOOK_COMMANDS, *ACCOUNT_COMMANDS):
        hub.add_command(command)


_attach_commands()
