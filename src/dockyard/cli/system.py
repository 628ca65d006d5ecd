"""System commands: system df, system check, version."""

from __future__ import annotations

import click

from dockyard.cli.options import emit, format_option

DF_HEADERS = {"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"}


def _pct(part: int, whole: int) -> str:
    return f" ({part * 100 // whole}%)" if whole else ""


@click.command("df")
@click.option("--verbose", "-v", is_flag=True, help="Show detailed information on space usage.")
@format_option
@click.pass_obj
def df_cmd(obj, verbose, fmt) -> None:
    """Show dockyard disk usage."""
    from dockyard.cli.formatting import human_size, render

    eng = obj.engine
    images = eng.images.list()
    in_use = [img for img in images if eng.images.users(img.id)]
    # layers shared by several images count once, as docker's SIZE does
    size = eng.images.disk_usage()
    reclaim = size - eng.images.disk_usage(in_use)
    rows = [
        {"Type": "Images", "TotalCount": str(len(images)), "Active": str(len(in_use)), "Size": human_size(size),
         "Reclaimable": human_size(reclaim) + _pct(reclaim, size)},
        {"Type": "Containers", "TotalCount": "0", "Active": "0", "Size": "0B", "Reclaimable": "0B"},
        {"Type": "Local Volumes", "TotalCount": "0", "Active": "0", "Size": "0B", "Reclaimable": "0B"},
        {"Type": "Build Cache", "TotalCount": "0", "Active": "0", "Size": "0B", "Reclaimable": "0B"},
    ]
    default = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
    emit(render(fmt, rows, default, headers=DF_HEADERS))
    if verbose:
        from dockyard.cli.images import IMAGE_HEADERS, since
        click.echo("\nImages space usage:\n")
        vrows = [{"Repository": (img.tags[0] if img.tags else "<none>"), "ID": img.short_id,
                  "CreatedSince": since(img.created), "Size": human_size(img.size)} for img in images]
        emit(render(None, vrows, "table {{.Repository}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}", headers=IMAGE_HEADERS))


@click.command("check")
@click.option("--repair", is_flag=True, help="Fix what can be fixed and reclaim leftovers.")
@click.pass_obj
def check_cmd(obj, repair) -> None:
    """Verify every blob's digest and every reference in the store."""
    from dockyard.images.check import check

    rep = check(obj.engine.images, repair=repair)
    counts = ", ".join(f"{n} {what}" for what, n in rep.checked.items())
    click.echo(f"checked {counts}")
    for line in rep.repaired:
        click.echo(f"repaired: {line}")
    for line in rep.leftovers:
        click.echo(f"reclaimable: {line} (run `dockyard system check --repair`)")
    for line in rep.problems:
        click.echo(f"problem: {line}")
    if rep.clean:
        click.echo("store is clean")
    else:
        click.echo(f"{len(rep.problems)} problem(s) found; run `dockyard system check --repair` to fix them", err=True)
        raise click.exceptions.Exit(1)


@click.command("version")
@format_option
@click.pass_obj
def version_cmd(obj, fmt) -> None:
    """Show the dockyard version information."""
    import platform

    from dockyard import __version__

    click.echo(f"dockyard version {__version__}\n Python: {platform.python_version()}\n OS/Arch: linux/{platform.machine()}"
               f"\n Kernel: {platform.release()}")


def register(cli: click.Group) -> None:
    system = click.Group("system", help="Manage dockyard.")
    system.add_command(df_cmd)
    system.add_command(check_cmd)
    cli.add_command(system)
    cli.add_command(version_cmd)
