"""`dockyard build` and `dockyard builder prune`."""

from __future__ import annotations

import os
import signal
import sys

import click

from dockyard.errors import InvalidArgument

CONTEXT = {"help_option_names": ["-h", "--help"]}


def _pairs(values: tuple[str, ...], what: str, *, from_env: bool = False) -> dict[str, str]:
    """K=V options; a bare K takes its value from the environment (docker's --build-arg K)."""
    out = {}
    for v in values:
        key, eq, value = v.partition("=")
        if not key:
            raise InvalidArgument(f"invalid {what} {v!r}: expected KEY=VALUE")
        if not eq:
            if not from_env:
                value = ""
            elif key in os.environ:
                value = os.environ[key]
            else:
                continue
        out[key] = value
    return out


def _secrets(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for v in values:
        fields = dict(f.partition("=")[::2] for f in v.split(","))
        sid = fields.get("id")
        src = fields.get("src") or fields.get("source")
        if not sid:
            raise InvalidArgument(f"invalid --secret {v!r}: use id=NAME,src=FILE")
        src = src or sid
        if not os.path.isfile(src):
            raise InvalidArgument(f"--secret id={sid}: file {src} not found")
        out[sid] = src
    return out


@click.command("build", context_settings=CONTEXT)
@click.argument("path")
@click.option("--tag", "-t", "tags", multiple=True, metavar="NAME:TAG", help="Name and tag the image (repeatable).")
@click.option("--file", "-f", "dockerfile", metavar="FILE", help="Dockerfile path, or - for stdin [PATH/Dockerfile].")
@click.option("--build-arg", "build_args", multiple=True, metavar="K=V", help="Set a build-time variable.")
@click.option("--target", metavar="STAGE", help="Build up to this stage.")
@click.option("--no-cache", is_flag=True, help="Do not use the build cache.")
@click.option("--pull", is_flag=True, help="Always pull the base images again.")
@click.option("--label", "labels", multiple=True, metavar="K=V", help="Set an image label.")
@click.option("--iidfile", metavar="FILE", help="Write the image ID to FILE.")
@click.option("--network", default="default", type=click.Choice(["default", "none", "host"]),
              help="Networking for RUN steps.")
@click.option("--secret", "secrets", multiple=True, metavar="id=ID,src=FILE", help="Secret for RUN --mount=type=secret.")
@click.option("--progress", default="auto", type=click.Choice(["auto", "plain", "tty"]), help="Progress output.")
@click.option("--quiet", "-q", is_flag=True, help="Print only the image ID.")
@click.pass_obj
def build_cmd(obj, path, tags, dockerfile, build_args, target, no_cache, pull, labels, iidfile, network, secrets,
              progress, quiet) -> None:
    """Build an image from a Dockerfile and a context (directory, URL, git repository or - for stdin)."""
    from dockyard.builder.builder import BuildOptions, build_image
    from dockyard.builder.context import open_context
    from dockyard.builder.progress import make_progress
    from dockyard.builder.run import StepFailed
    from dockyard.errors import DockyardError

    args = _pairs(build_args, "--build-arg", from_env=True)
    epoch = args.get("SOURCE_DATE_EPOCH") or os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is not None and not epoch.isdigit():
        raise InvalidArgument(f"SOURCE_DATE_EPOCH must be a number of seconds, not {epoch!r}")
    options = BuildOptions(list(tags), args, target, no_cache, pull, _pairs(labels, "--label"), network,
                           _secrets(secrets), int(epoch) if epoch is not None else None)
    engine = obj.engine
    reporter = make_progress(progress, quiet)
    # SIGTERM cancels as Ctrl-C does in docker build: the running step's container is killed, the
    # build stops and cleans up, and the command fails with "Build cancelled"
    signal.signal(signal.SIGTERM, lambda *_: reporter.stop.set())
    try:
        with open_context(path, dockerfile) as context:
            image = build_image(engine, context, options, reporter, lambda ref, force: _base_image(engine, ref, force))
    except DockyardError as err:
        reporter.close()
        if isinstance(err, StepFailed) and not getattr(reporter, "out", None):
            for line in err.output:
                click.echo(line, err=True)
        click.echo(f"Error: {err.message}", err=True)
        sys.exit(1)
    reporter.close()
    if iidfile:
        with open(iidfile, "w") as f:
            f.write(image.id)
    if quiet:
        click.echo(image.id)


def _base_image(engine, name: str, force_pull: bool):
    """A FROM image: the local one unless missing or --pull, then from its registry."""
    from dockyard.oci.reference import parse_normalized

    image = None if force_pull else engine.images.find(name)
    if image is not None:
        return image
    from dockyard.cli.distribution import pull_image
    pull_image(engine, parse_normalized(name), quiet=True)
    return engine.images.get(name)


@click.group("builder", context_settings=CONTEXT)
def builder_group() -> None:
    """Manage the build cache."""


@builder_group.command("prune", context_settings=CONTEXT)
@click.option("--all", "-a", "all_", is_flag=True, help="Remove all build cache, not just what no image uses.")
@click.option("--force", "-f", is_flag=True, help="Do not prompt for confirmation.")
@click.pass_obj
def builder_prune(obj, all_, force) -> None:
    """Remove build cache."""
    from dockyard.cli.formatting import human_size
    from dockyard.cli.options import confirm

    prompt = "WARNING! This will remove all build cache." if all_ else "WARNING! This will remove all dangling build cache."
    if not confirm(prompt, force):
        return
    removed, freed = obj.engine.build_cache.prune(all=all_)
    click.echo(f"Deleted build cache objects: {removed}")
    click.echo(f"Total reclaimed space: {human_size(freed)}")


def register(cli: click.Group) -> None:
    cli.add_command(build_cmd)
    cli.add_command(builder_group)
