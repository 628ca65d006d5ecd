"""Network commands: network create, ls, inspect, rm, prune, connect, disconnect."""

from __future__ import annotations

import click

from dockyard.cli.options import confirm, emit, format_option, parse_filters


@click.group("network")
def network_group() -> None:
    """Manage networks."""


@network_group.command("create")
@click.argument("name")
@click.option("--driver", "-d", default="bridge", help="Driver to manage the Network.")
@click.option("--subnet", multiple=True, help="Subnet in CIDR format that represents a network segment.")
@click.option("--gateway", multiple=True, help="IPv4 or IPv6 Gateway for the master subnet.")
@click.option("--ipv6", is_flag=True, help="Enable IPv6 networking.")
@click.option("--ip-range", multiple=True, help="Allocate container ip from a sub-range.")
@click.option("--aux-address", multiple=True, help="Auxiliary IPv4 or IPv6 addresses used by Network driver (NAME=IP).")
@click.option("--internal", is_flag=True, help="Restrict external access to the network.")
@click.option("--opt", "-o", multiple=True, help="Set driver specific options.")
@click.option("--label", multiple=True, help="Set metadata on a network.")
@click.option("--ipam-opt", multiple=True, help="Set IPAM driver specific options.")
@click.pass_obj
def create_cmd(obj, name, driver, subnet, gateway, ipv6, ip_range, aux_address, internal, opt, label, ipam_opt) -> None:
    """Create a network."""
    def family(values: tuple[str, ...], v6: bool) -> str | None:
        return next((v for v in values if (":" in v) == v6), None)

    def aux(v6: bool) -> dict[str, str]:
        return dict(a.partition("=")[::2] for a in aux_address if (":" in a) == v6)
    net = obj.engine.networks.create(name, driver=driver, subnet=family(subnet, False), gateway=family(gateway, False),
                                     enable_ipv6=ipv6, subnet6=family(subnet, True), gateway6=family(gateway, True),
                                     ip_range=family(ip_range, False), ip_range6=family(ip_range, True),
                                     aux_addresses=aux(False), aux_addresses6=aux(True),
                                     internal=internal, options=dict(o.partition("=")[::2] for o in opt),
                                     labels=dict(l.partition("=")[::2] for l in label),
                                     ipam_options=dict(o.partition("=")[::2] for o in ipam_opt))
    click.echo(net["Id"])


@network_group.command("ls")
@click.option("--quiet", "-q", is_flag=True, help="Only display network IDs.")
@click.option("--no-trunc", is_flag=True, help="Do not truncate the output.")
@click.option("--filter", "-f", "filters", multiple=True, help="Provide filter values (e.g. 'driver=bridge').")
@format_option
@click.pass_obj
def ls_cmd(obj, quiet, no_trunc, filters, fmt) -> None:
    """List networks."""
    from dockyard.cli.formatting import render
    nets = obj.engine.networks.list(parse_filters(filters))
    if quiet:
        for n in nets:
            click.echo(n["Id"] if no_trunc else n["Id"][:12])
        return
    rows = [{"ID": n["Id"] if no_trunc else n["Id"][:12], "Name": n["Name"], "Driver": n["Driver"],
             "Scope": n["Scope"], "Internal": str(n.get("Internal", False)).lower()} for n in nets]
    emit(render(fmt, rows, "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
                headers={"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE"}))


@network_group.command("inspect")
@click.argument("names", nargs=-1, required=True)
@click.option("--format", "-f", "fmt", help="Format output using a Go template.")
@click.pass_obj
def inspect_cmd(obj, names, fmt) -> None:
    """Display detailed information on one or more networks."""
    from dockyard.cli.images import _print_docs
    _print_docs([obj.engine.networks.inspect(n) for n in names], fmt)


@network_group.command("rm")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
def rm_cmd(obj, names) -> None:
    """Remove one or more networks."""
    from dockyard.cli.containers import _each
    _each(names, obj.engine.networks.remove)


@network_group.command("prune")
@click.option("--force", "-f", is_flag=True, help="Do not prompt for confirmation.")
@click.option("--filter", "filters", multiple=True, metavar="KEY=VALUE", help="Provide filter values (e.g. until=<timestamp>).")
@click.pass_obj
def prune_cmd(obj, force, filters) -> None:
    """Remove all unused networks."""
    from dockyard import filtering
    wanted = parse_filters(filters)
    filtering.check(wanted, ("until", "label", "label!"))
    if not confirm("WARNING! This will remove all custom networks not used by at least one container.", force):
        return
    removed = obj.engine.networks.prune(wanted)
    if removed:
        click.echo("Deleted Networks:")
        for n in removed:
            click.echo(n)


@network_group.command("connect")
@click.argument("network")
@click.argument("container")
@click.option("--alias", multiple=True, help="Add network-scoped alias for the container.")
@click.option("--ip", help="IPv4 address (e.g., 172.30.100.104).")
@click.option("--link", multiple=True, help="Add link to another container.")
@click.option("--link-local-ip", multiple=True, help="Add a link-local address for the container.")
@click.option("--driver-opt", multiple=True, help="driver options for the network.")
@click.pass_obj
def connect_cmd(obj, network, container, alias, ip, link, link_local_ip, driver_opt) -> None:
    """Connect a container to a network."""
    ipam = {"IPv4Address": ip or "", "LinkLocalIPs": list(link_local_ip)}
    obj.engine.containers.connect(container, network, {
        "Aliases": list(alias), "Links": list(link), "IPAMConfig": ipam,
        "DriverOpts": dict(o.partition("=")[::2] for o in driver_opt)})


@network_group.command("disconnect")
@click.argument("network")
@click.argument("container")
@click.option("--force", "-f", is_flag=True, help="Force the container to disconnect from a network.")
@click.pass_obj
def disconnect_cmd(obj, network, container, force) -> None:
    """Disconnect a container from a network."""
    obj.engine.containers.disconnect(container, network, force)


def register(cli: click.Group) -> None:
    cli.add_command(network_group)
