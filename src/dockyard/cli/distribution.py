"""Registry commands: pull, push, login, logout, search."""

from __future__ import annotations

import sys

import click

from dockyard.cli import settled
from dockyard.cli.options import emit


def _progress(quiet: bool):
    """A progress display usable as a context manager either way."""
    from contextlib import nullcontext

    from dockyard.distribution.progress import QuietProgress, RichProgress
    return nullcontext(QuietProgress()) if quiet else RichProgress()


@click.command("pull")
@click.argument("name")
@click.option("--all-tags", "-a", is_flag=True, help="Download all tagged images in the repository.")
@click.option("--platform", metavar="OS/ARCH[/VARIANT]", help="Pull the image for this platform.")
@click.option("--quiet", "-q", is_flag=True, help="Suppress verbose output.")
@click.pass_obj
def pull_cmd(obj, name, all_tags, platform, quiet) -> None:
    """Download an image from a registry."""
    from dockyard.errors import InvalidArgument
    from dockyard.oci.reference import parse

    ref = parse(name)
    if all_tags:
        if ref.tag or ref.digest:
            raise InvalidArgument("tag can't be used with --all-tags/-a")
        pull_all(obj.engine, ref, platform=platform, quiet=quiet)
        return
    if not ref.tag and not ref.digest:
        if not quiet:
            click.echo("Using default tag: latest")
        ref = ref.with_default_tag()
    if platform is None and settled.pull(obj.engine, ref, quiet):
        return
    pull_image(obj.engine, ref, platform=platform, quiet=quiet)


def pull_all(engine, ref, *, platform: str | None = None, quiet: bool = False) -> None:
    """`pull --all-tags`: each tag in turn with docker's lines, then one status for the repository."""
    from dockyard.distribution.images import pull_all_tags

    def progress_for(tag_ref):
        if not quiet:
            click.echo(f"{tag_ref.tag}: Pulling from {tag_ref.path}")
        return _progress(quiet)

    newer = False
    for _tag_ref, pulled in pull_all_tags(engine.images, ref, progress_for=progress_for, platform=platform,
                                          insecure_registries=engine.insecure_registries, may_fork=True,
                                          mirrors=engine.registry_mirrors):
        newer = newer or not pulled.up_to_date
        if not quiet:
            click.echo(f"Digest: {pulled.digest}")
    if not quiet:
        click.echo(f"Status: {'Downloaded newer image' if newer else 'Image is up to date'} for {ref.familiar}")
    click.echo(ref.repository)


def pull_image(engine, ref, *, platform: str | None = None, quiet: bool = False):
    """Pull and register an image, printing docker's lines; shared by `pull` and `run --pull`."""
    from dockyard.distribution.images import pull_image as pull_and_register

    if not quiet:
        click.echo(f"{ref.tag or ref.digest}: Pulling from {ref.path}")
    with _progress(quiet) as progress:
        pulled = pull_and_register(engine.images, ref, platform=platform, progress=progress,
                                   insecure_registries=engine.insecure_registries, may_fork=True,
                                   mirrors=engine.registry_mirrors)
    if not quiet:
        click.echo(f"Digest: {pulled.digest}")
        click.echo(pulled.status(ref))
    click.echo(str(ref))
    return pulled.image


@click.command("push")
@click.argument("name")
@click.option("--all-tags", "-a", is_flag=True, help="Push all tags of an image to the repository.")
@click.option("--quiet", "-q", is_flag=True, help="Suppress verbose output.")
@click.option("--compression-format", type=click.Choice(["gzip", "zstd"]),
              help="Compress uncompressed layers with this format [gzip].")
@click.option("--compression-level", type=int, metavar="N", help="Compression level (gzip 0-9, zstd 1-22).")
@click.option("--force-compression", is_flag=True,
              help="Also recompress layers compressed in another format than --compression-format.")
@click.pass_obj
def push_cmd(obj, name, all_tags, quiet, compression_format, compression_level, force_compression) -> None:
    """Upload an image to a registry."""
    from dockyard.distribution.compress import Compression
    from dockyard.distribution.images import push_image, push_refs
    from dockyard.oci.reference import parse

    eng = obj.engine
    ref = parse(name)
    compression = Compression(compression_format or "gzip", compression_level, force_compression)
    if not all_tags and not force_compression and settled.push(eng, ref.with_default_tag(), quiet):
        return
    refs = push_refs(eng.images, ref, all_tags)
    if not quiet:
        click.echo(f"The push refers to repository [{ref.repository}]")
    for r in refs:
        with _progress(quiet) as progress:
            pushed = push_image(eng.images, r, progress=progress, insecure_registries=eng.insecure_registries,
                                compression=compression)
        if quiet:
            click.echo(str(r))
        else:
            click.echo(f"{r.tag}: digest: {pushed.digest} size: {pushed.size}")


@click.command("login")
@click.argument("server", required=False)
@click.option("--username", "-u", help="Username.")
@click.option("--password", "-p", help="Password.")
@click.option("--password-stdin", is_flag=True, help="Take the password from stdin.")
@click.pass_obj
def login_cmd(obj, server, username, password, password_stdin) -> None:
    """Log in to a registry."""
    from dockyard.distribution.login import login
    from dockyard.errors import InvalidArgument

    if password_stdin:
        if password:
            raise InvalidArgument("--password and --password-stdin are mutually exclusive")
        if not username:
            raise InvalidArgument("must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\r\n")
    elif password:
        click.echo("WARNING! Using --password via the CLI is insecure. Use --password-stdin.", err=True)
    if not username:
        username = click.prompt("Username")
    if not password:
        password = click.prompt("Password", hide_input=True)
    click.echo(login(server, username, password, insecure_registries=obj.engine.insecure_registries))


@click.command("logout")
@click.argument("server", required=False)
def logout_cmd(server) -> None:
    """Log out from a registry."""
    from dockyard.distribution.login import logout
    click.echo(logout(server))


@click.command("search")
@click.argument("term")
@click.option("--limit", default=25, show_default=True, help="Max number of search results.")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.option("--format", "fmt", help="Pretty-print search using a Go template.")
@click.pass_obj
def search_cmd(obj, term, limit, no_trunc, fmt) -> None:
    """Search a registry for images (TERM may start with a registry host: HOST/term)."""
    from dockyard.cli.formatting import render
    from dockyard.distribution.search import search

    registry, _, bare = term.rpartition("/") if "/" in term and ("." in term.split("/")[0] or ":" in term.split("/")[0]) else ("", "", term)
    rows = []
    for r in search(bare, registry or None, limit=limit, insecure_registries=obj.engine.insecure_registries):
        desc = r.get("description") or ""
        if not no_trunc and len(desc) > 45:
            desc = desc[:44] + "…"
        rows.append({"Name": r.get("name", ""), "Description": desc, "StarCount": str(r.get("star_count", 0)),
                     "IsOfficial": "[OK]" if r.get("is_official") else "", "IsAutomated": "[OK]" if r.get("is_automated") else ""})
    emit(render(fmt, rows, "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}",
                headers={"Name": "NAME", "Description": "DESCRIPTION", "StarCount": "STARS", "IsOfficial": "OFFICIAL",
                         "IsAutomated": "AUTOMATED"}))


def register(cli: click.Group) -> None:
    for cmd in (pull_cmd, push_cmd, login_cmd, logout_cmd, search_cmd):
        cli.add_command(cmd)
    image = cli.commands.get("image")
    if image is not None:
        image.add_command(pull_cmd)
        image.add_command(push_cmd)
