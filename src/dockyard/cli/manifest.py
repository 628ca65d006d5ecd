"""`manifest create/annotate/inspect/push/rm`, as the docker CLI's `docker manifest` commands."""

from __future__ import annotations

import click

CONTEXT = {"help_option_names": ["-h", "--help"]}


def _lists(obj, insecure: bool = False):
    from dockyard.distribution.manifestlists import ManifestLists
    return ManifestLists(insecure=insecure, insecure_registries=obj.engine.insecure_registries)


@click.group("manifest", context_settings=CONTEXT)
def manifest_group() -> None:
    """Manage manifest lists (multi-platform images) in a registry."""


@manifest_group.command("create", context_settings=CONTEXT)
@click.argument("manifest_list")
@click.argument("manifests", nargs=-1, required=True)
@click.option("--amend", "-a", is_flag=True, help="Amend an existing manifest list.")
@click.option("--insecure", is_flag=True, help="Allow communication with an insecure registry.")
@click.pass_obj
def create_cmd(obj, manifest_list, manifests, amend, insecure) -> None:
    """Create a local manifest list for annotating and pushing to a registry."""
    click.echo(_lists(obj, insecure).create(manifest_list, manifests, amend))


@manifest_group.command("annotate", context_settings=CONTEXT)
@click.argument("manifest_list")
@click.argument("manifest")
@click.option("--os", "os_", help="Set operating system.")
@click.option("--arch", help="Set architecture.")
@click.option("--variant", help="Set architecture variant.")
@click.option("--os-features", "os_features", help="Set operating system feature (comma separated).")
@click.option("--os-version", help="Set operating system version.")
@click.pass_obj
def annotate_cmd(obj, manifest_list, manifest, os_, arch, variant, os_features, os_version) -> None:
    """Add additional information to a local image manifest."""
    features = [f for f in (os_features or "").split(",") if f]
    _lists(obj).annotate(manifest_list, manifest, os=os_, arch=arch, variant=variant, os_features=features,
                         os_version=os_version)


@manifest_group.command("inspect", context_settings=CONTEXT)
@click.argument("names", nargs=-1, required=True)
@click.option("--insecure", is_flag=True, help="Allow communication with an insecure registry.")
@click.option("--verbose", "-v", is_flag=True, help="Output additional info including layers and platform.")
@click.pass_obj
def inspect_cmd(obj, names, insecure, verbose) -> None:
    """Display an image manifest, or manifest list ([MANIFEST_LIST] MANIFEST)."""
    from dockyard.errors import InvalidArgument
    if len(names) > 2:
        raise InvalidArgument('"manifest inspect" requires at least 1 and at most 2 arguments')
    click.echo(_lists(obj, insecure).inspect(names[-1], verbose, within=names[0] if len(names) == 2 else None))


@manifest_group.command("push", context_settings=CONTEXT)
@click.argument("manifest_list")
@click.option("--insecure", is_flag=True, help="Allow push to an insecure registry.")
@click.option("--purge", "-p", is_flag=True, help="Remove the local manifest list after push.")
@click.pass_obj
def push_cmd(obj, manifest_list, insecure, purge) -> None:
    """Push a manifest list to a repository."""
    click.echo(_lists(obj, insecure).push(manifest_list, purge))


@manifest_group.command("rm", context_settings=CONTEXT)
@click.argument("manifest_lists", nargs=-1, required=True)
@click.pass_obj
def rm_cmd(obj, manifest_lists) -> None:
    """Delete one or more manifest lists from local storage."""
    _lists(obj).remove(manifest_lists)


def register(cli: click.Group) -> None:
    cli.add_command(manifest_group)
