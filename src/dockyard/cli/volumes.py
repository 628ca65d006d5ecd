"""Volume commands: volume create, ls, inspect, rm, prune."""

from __future__ import annotations



import click

from dockyard.cli.options import confirm, emit, format_option, parse_filters


@click.group("volume")
def volume_group() -> None:
    """Manage volumes."""


@volume_group.command("create")
@click.argument("name", required=False)
@click.option("--driver", "-d", default="local", help="Specify volume driver name.")
@click.option("--label", multiple=True, help="Set metadata for a volume.")
@click.option("--opt", "-o", multiple=True, help="Set driver specific options.")
@click.pass_obj
def create_cmd(obj, name, driver, label, opt) -> None:
    """Create a volume."""
    labels = dict(l.partition("=")[::2] for l in label)
    opts = dict(o.partition("=")[::2] for o in opt)
    click.echo(obj.engine.volumes.create(name or "", driver=driver, labels=labels, options=opts)["Name"])


@volume_group.command("ls")
@click.option("--quiet", "-q", is_flag=True, help="Only display volume names.")
@click.option("--filter", "-f", "filters", multiple=True, help="Provide filter values (e.g. 'dangling=true').")
@format_option
@click.pass_obj
def ls_cmd(obj, quiet, filters, fmt) -> None:
    """List volumes."""
    from dockyard.cli.formatting import render
    vols = obj.engine.volumes.list(parse_filters(filters))
    if quiet:
        for v in vols:
            click.echo(v["Name"])
        return
    rows = [{"Driver": v["Driver"], "Name": v["Name"], "Mountpoint": v["Mountpoint"], "Scope": v["Scope"],
             "Labels": ",".join(f"{k}={val}" for k, val in (v["Labels"] or {}).items())} for v in vols]
    emit(render(fmt, rows, "table {{.Driver}}\t{{.Name}}", headers={"Driver": "DRIVER", "Name": "VOLUME NAME",
                                                                    "Mountpoint": "MOUNTPOINT", "Scope": "SCOPE"}))


@volume_group.command("inspect")
@click.argument("names", nargs=-1, required=True)
@click.option("--format", "-f", "fmt", help="Format output using a Go template.")
@click.pass_obj
def inspect_cmd(obj, names, fmt) -> None:
    """Display detailed information on one or more volumes."""
    from dockyard.cli.images import _print_docs
    _print_docs([obj.engine.volumes.inspect(n) for n in names], fmt)


@volume_group.command("rm")
@click.argument("names", nargs=-1, required=True)
@click.option("--force", "-f", is_flag=True, help="Force the removal of one or more volumes.")
@click.pass_obj
def rm_cmd(obj, names, force) -> None:
    """Remove one or more volumes."""
    from dockyard.cli.containers import _each
    _each(names, lambda n: obj.engine.volumes.remove(n, force=force))


@volume_group.command("prune")
@click.option("--all", "-a", "all_", is_flag=True, help="Remove all unused volumes, not just anonymous ones.")
@click.option("--force", "-f", is_flag=True, help="Do not prompt for confirmation.")
@click.option("--filter", "filters", multiple=True, metavar="KEY=VALUE", help="Provide filter values (e.g. label=<label>).")
@click.pass_obj
def prune_cmd(obj, all_, force, filters) -> None:
    """Remove unused local volumes."""
    from dockyard import filtering
    from dockyard.cli.formatting import human_size
    wanted = parse_filters(filters)
    filtering.check(wanted, ("all", "label", "label!"))
    all_ = all_ or wanted.pop("all", ["false"])[-1].lower() in ("1", "true")
    if not confirm("WARNING! This will remove anonymous local volumes not used by at least one container.", force):
        return
    removed, freed = obj.engine.volumes.prune(all_volumes=all_, filters=wanted)
    if removed:
        click.echo("Deleted Volumes:")
        for n in removed:
            click.echo(n)
        click.echo()
    click.echo(f"Total reclaimed space: {human_size(freed)}")


def register(cli: click.Group) -> None:
    cli.add_command(volume_group)



