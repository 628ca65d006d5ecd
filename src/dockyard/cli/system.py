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
        _containers_row(eng, human_size),
        _volumes_row(eng, human_size),
        _build_cache_row(eng, human_size),
    ]
    default = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
    emit(render(fmt, rows, default, headers=DF_HEADERS))
    if verbose:
        from dockyard.cli.imagetable import IMAGE_HEADERS, since
        click.echo("\nImages space usage:\n")
        vrows = [{"Repository": (img.tags[0] if img.tags else "<none>"), "ID": img.short_id,
                  "CreatedSince": since(img.created), "Size": human_size(img.size)} for img in images]
        emit(render(None, vrows, "table {{.Repository}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}", headers=IMAGE_HEADERS))


def _containers_row(eng, human_size) -> dict:
    cs = eng.containers.list(all=True)
    sizes = {c.id: eng.snapshots.usage(c.id) if eng.snapshots.exists(c.id) else 0 for c in cs}
    size = sum(sizes.values())
    reclaim = sum(v for cid, v in sizes.items() if not next(c for c in cs if c.id == cid).running)
    return {"Type": "Containers", "TotalCount": str(len(cs)), "Active": str(sum(c.running for c in cs)),
            "Size": human_size(size), "Reclaimable": human_size(reclaim) + _pct(reclaim, size)}


def _volumes_row(eng, human_size) -> dict:
    total, used, size, reclaim = eng.volumes.usage()
    return {"Type": "Local Volumes", "TotalCount": str(total), "Active": str(used), "Size": human_size(size),
            "Reclaimable": human_size(reclaim) + _pct(reclaim, size)}


def _build_cache_row(eng, human_size) -> dict:
    count, size = eng.build_cache.usage()
    return {"Type": "Build Cache", "TotalCount": str(count), "Active": "0", "Size": human_size(size),
            "Reclaimable": human_size(size)}


@click.command("prune")
@click.option("--all", "-a", "all_", is_flag=True, help="Remove all unused images not just dangling ones.")
@click.option("--volumes", is_flag=True, help="Prune anonymous volumes.")
@click.option("--force", "-f", is_flag=True, help="Do not prompt for confirmation.")
@click.pass_obj
def prune_cmd(obj, all_, volumes, force) -> None:
    """Remove unused data: stopped containers, unused networks, dangling (or all unused) images, build cache."""
    from dockyard.cli.formatting import human_size
    from dockyard.cli.options import confirm
    lines = ["WARNING! This will remove:", "  - all stopped containers", "  - all networks not used by at least one container"]
    if volumes:
        lines.append("  - all anonymous volumes not used by at least one container")
    lines += ["  - all images without at least one container associated to them" if all_ else "  - all dangling images",
              "  - unused build cache"]
    if not confirm("\n".join(lines), force):
        return
    eng = obj.engine
    removed, freed = eng.containers.prune()
    if removed:
        click.echo("Deleted Containers:\n" + "\n".join(removed) + "\n")
    nets = eng.networks.prune()
    if nets:
        click.echo("Deleted Networks:\n" + "\n".join(nets) + "\n")
    if volumes:
        vols, vfreed = eng.volumes.prune()
        freed += vfreed
        if vols:
            click.echo("Deleted Volumes:\n" + "\n".join(vols) + "\n")
    lines_, ifreed = eng.images.prune(all=all_)
    freed += ifreed
    if lines_:
        click.echo("Deleted Images:")
        for verb, what in lines_:
            click.echo(f"{verb.lower()}: {what}")
        click.echo()
    _, bfreed = eng.build_cache.prune(all=all_)
    freed += bfreed
    click.echo(f"Total reclaimed space: {human_size(freed)}")


@click.command("info")
@format_option
@click.pass_obj
def info_cmd(obj, fmt) -> None:
    """Display system-wide information."""
    import platform

    from dockyard import rootless
    from dockyard.runtime.cgroups import swap_limit_supported
    eng = obj.engine
    cs = eng.containers.list(all=True)
    info = {"Containers": len(cs), "ContainersRunning": sum(c.status == "running" for c in cs),
            "ContainersPaused": sum(c.status == "paused" for c in cs),
            "ContainersStopped": sum(not c.running for c in cs), "Images": len(eng.images.list()),
            "Driver": eng.storage_driver, "DockerRootDir": str(eng.root), "KernelVersion": platform.release(),
            "OperatingSystem": platform.freedesktop_os_release().get("PRETTY_NAME", "Linux"),
            "Architecture": platform.machine(), "NCPU": __import__("os").cpu_count(),
            "DefaultRuntime": "dockyard", "Runtimes": ["dockyard", "runc", "crun"],
            **eng.networks.host_objects(), "RunDir": str(eng.run_dir), "RegistryMirrors": eng.registry_mirrors,
            "SwapLimit": swap_limit_supported(), "Rootless": rootless.active(), "CgroupDriver": _cgroup_driver()}
    if fmt:
        from dockyard.cli.formatting import render
        emit(render(fmt, [info], ""))
        return
    for k, v in info.items():
        if k != "RegistryMirrors":
            click.echo(f" {k}: {v}")
    if info["RegistryMirrors"]:  # as docker info lists them
        click.echo(" Registry Mirrors:" + "".join(f"\n  {m}" for m in info["RegistryMirrors"]))
    if info["Rootless"] and info["CgroupDriver"] == "none":
        click.echo("WARNING: Running in rootless-mode without cgroups: limits need cgroup v2 with a subtree "
                   "delegated to your user, or cgroup v1 groups from `dockyard system delegate-cgroups`", err=True)
    elif not info["SwapLimit"]:
        click.echo("WARNING: No swap limit support", err=True)  # the docker CLI's words
    if info["Rootless"] and (line := _ping_warning()):
        click.echo(line, err=True)


def _ping_warning() -> str | None:
    """Rootless: ping beyond the user's network namespace is relayed by pasta through the
    user's ICMP sockets, which only the groups in net.ipv4.ping_group_range may open. Tried
    here as the kernel would for pasta (this process is in the host's netns, with the user's
    ids): the sysctl itself reads wrong from inside the user namespace."""
    import socket

    try:
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP).close()
        return None
    except PermissionError:
        pass
    except OSError:
        return None
    try:
        with open("/proc/self/gid_map") as f:  # "0 <the user's gid> 1" first
            gid = f.read().split()[1]
    except (OSError, IndexError):
        gid = "your gid"
    return (f"WARNING: ping from containers beyond this user's network needs gid {gid} in net.ipv4.ping_group_range: "
            f"as root, sysctl -w net.ipv4.ping_group_range='0 2147483647'")


def _cgroup_driver() -> str:
    """cgroupfs, or none for a rootless engine without delegated cgroups (runtime/delegation.py)."""
    from dockyard import rootless
    from dockyard.runtime import delegation

    return "none" if rootless.active() and delegation.found() is None else "cgroupfs"


@click.command("delegate-cgroups")
@click.option("--user", "name", required=True, help="The user (name or uid) to give cgroups to.")
@click.option("--undo", is_flag=True, help="Remove the user's cgroups (none of their containers may run).")
def delegate_cgroups_cmd(name, undo) -> None:
    """As root, give a user a cgroup on each cgroup v1 hierarchy: their rootless containers then take limits."""
    import os
    import pwd

    from dockyard import rootless
    from dockyard.errors import DockyardError
    from dockyard.runtime import delegation
    from dockyard.runtime.cgroups import is_unified

    if os.geteuid() != 0 or rootless.active():  # an ordinary user is "root" only in their own namespace
        raise DockyardError("delegate-cgroups hands cgroups over to a user: run it as root")
    if is_unified():
        raise DockyardError("this host runs cgroup v2 only: delegate with systemd (a user unit with Delegate=yes) "
                            "or by chowning a subtree, as the README's rootless section says")
    try:
        entry = pwd.getpwnam(name) if not name.isdigit() else pwd.getpwuid(int(name))
    except KeyError:
        raise DockyardError(f"no such user: {name}") from None
    if undo:
        for directory in delegation.undelegate_v1(entry.pw_uid):
            click.echo(f"removed {directory}")
        return
    for directory in delegation.delegate_v1(entry.pw_uid, entry.pw_gid):
        click.echo(f"delegated {directory} to {entry.pw_name}")


@click.command("events")
@click.option("--since", help="Show all events created since timestamp.")
@click.option("--until", help="Stream events until this timestamp.")
@click.option("--filter", "-f", "filters", multiple=True, help="Filter output based on conditions provided.")
@format_option
@click.pass_obj
def events_cmd(obj, since, until, filters, fmt) -> None:
    """Get real time events from the engine (all dockyard processes on this root)."""
    import time

    from dockyard.cli.options import parse_filters
    from dockyard.containers.views import parse_time
    from dockyard.store.events import matches

    flt = parse_filters(filters)
    log = obj.engine.events
    since_ns = int(parse_time(since) * 1e9) if since else time.time_ns()
    until_ns = int(parse_time(until) * 1e9) if until else None
    seq = 0
    while True:
        for e in log.read(after_seq=seq, since_nano=since_ns, until_nano=until_ns):
            seq = e["seq"]
            if not matches(e, flt):
                continue
            if fmt:
                from dockyard.cli.formatting import render
                emit(render(fmt, [{k: v for k, v in e.items() if k != "seq"}], ""))
                continue
            attrs = ", ".join(f"{k}={v}" for k, v in sorted(e["Actor"]["Attributes"].items()))
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(e["time"])) + f".{e['timeNano'] % 10**9:09d}Z"
            click.echo(f"{stamp} {e['Type']} {e['Action']} {e['Actor']['ID']}" + (f" ({attrs})" if attrs else ""))
        if until_ns is not None and time.time_ns() >= until_ns:
            return
        time.sleep(0.1)


@click.command("check")
@click.option("--repair", is_flag=True, help="Fix what can be fixed and reclaim leftovers.")
@click.pass_obj
def check_cmd(obj, repair) -> None:
    """Verify every blob's digest and every reference in the store, and that the host holds
    this root's network objects as its records say (only this root's: other roots' are never looked at)."""
    from dockyard.images.check import check

    eng = obj.engine
    rep = check(eng.images, repair=repair)
    counts = ", ".join(f"{n} {what}" for what, n in rep.checked.items())
    click.echo(f"checked {counts}")
    # what the kernel holds for this root's containers: ended ones' leftovers, rules someone flushed
    live = {c.id for c in eng.containers.list(all=True) if c.running}
    for line in obj.released:  # released by every command on its root (cli/main.py)
        click.echo(f"repaired: {line}")
    for line in eng.networks.reconcile(live, repair=repair, in_use=eng.containers.in_use):
        click.echo(f"repaired: {line}" if repair else f"network: {line} (run `dockyard system check --repair`)")
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
    system.add_command(prune_cmd)
    system.add_command(info_cmd)
    system.add_command(delegate_cgroups_cmd)
    cli.add_command(system)
    cli.add_command(info_cmd)
    system.add_command(events_cmd)
    cli.add_command(events_cmd)
    cli.add_command(version_cmd)
