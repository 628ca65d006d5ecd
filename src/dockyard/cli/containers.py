"""Container commands: run, create, start, stop, kill, restart, rm, ps, logs, inspect, wait,
attach, pause, unpause, rename, port, top, container prune (and the shim's cleanup and health hooks)."""

from __future__ import annotations

import os
import sys

import click

from dockyard.cli.options import confirm, emit, filter_option, format_option, parse_filters
from dockyard.cli import running
from dockyard.cli.running import resize
from dockyard.cli.runflags import RUN_FLAGS, RUN_ONLY_FLAGS, create_body, options

PASSTHROUGH = {"allow_interspersed_args": False, "help_option_names": ["--help"]}


def _ensure_image(engine, image: str, pull: str, platform: str | None = None) -> None:
    """docker run's --pull: missing (default), always, never; with --platform, missing means
    no image of that platform (which dockerd reports as not found, so the CLI pulls it)."""
    from dockyard.errors import NotFound
    from dockyard.oci.reference import parse_normalized

    present = engine.images.find(image) is not None
    missing = NotFound(f"No such image: {image}")
    if present and platform:
        from dockyard.images.indexes import for_platform
        from dockyard.oci.platform import parse_platform
        try:
            for_platform(engine.images, image, parse_platform(platform))
        except NotFound as e:
            present, missing = False, e
    if pull == "never" and not present:
        raise missing
    if pull == "always" or not present:
        from dockyard.cli.distribution import pull_image
        if not present:
            click.echo(f"Unable to find image '{image}' locally", err=True)
        stdout = sys.stdout
        sys.stdout = sys.stderr  # pull progress goes to stderr, as docker prints it
        try:
            pull_image(engine, parse_normalized(image), platform=platform)
        finally:
            sys.stdout = stdout


def _request(obj, image: str, command, o: dict) -> dict:
    """The create request, once the image is here (pulled if need be)."""
    _ensure_image(obj.engine, image, o["pull"], o["platform"])
    return create_body(image, command, o)


@click.command("create", context_settings=PASSTHROUGH)
@options(RUN_FLAGS)
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def create_cmd(obj, image, command, **o) -> None:
    """Create a new container."""
    body = _request(obj, image, command, o)
    held = running.HeldSignals()
    try:
        click.echo(running.create(obj.engine, body, o).id)
    finally:
        held.release()


@click.command("run", context_settings=PASSTHROUGH)
@options(RUN_FLAGS)
@options(RUN_ONLY_FLAGS)
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def run_cmd(obj, image, command, detach, rm, attach, sig_proxy, **o) -> None:
    """Create and run a new container from an image."""
    o["rm"] = rm
    body = _request(obj, image, command, o)
    raise click.exceptions.Exit(running.run(obj.engine, body, o, detach=detach, rm=rm, sig_proxy=sig_proxy))


def _each(names, fn) -> None:
    """Run `fn` on every name, print each name that worked, fail at the end if one did not (docker's way)."""
    from dockyard.errors import DockyardError
    failed = None
    for name in names:
        try:
            fn(name)
            click.echo(name)
        except DockyardError as e:
            if failed is not None:
                click.echo(f"Error: {failed.message}", err=True)
            failed = e
    if failed is not None:
        raise failed


@click.command("start")
@click.argument("names", nargs=-1, required=True)
@click.option("--attach", "-a", is_flag=True, help="Attach STDOUT/STDERR and forward signals.")
@click.option("--interactive", "-i", is_flag=True, help="Attach container's STDIN.")
@click.pass_obj
def start_cmd(obj, names, attach, interactive) -> None:
    """Start one or more stopped containers."""
    eng = obj.engine
    if attach or interactive:
        from dockyard.cli.attach import Detached, pump
        c = eng.containers.get(names[0])
        sock = eng.containers.start(c.id, attach=True)
        try:
            pump(sock, tty=c.config["Tty"], stdin=interactive and c.config["OpenStdin"],
                 on_resize=lambda h, w: resize(eng, c.id, h, w))
        except Detached:
            return
        raise click.exceptions.Exit(eng.containers.wait(c.id))
    _each(names, eng.containers.start)


@click.command("stop")
@click.argument("names", nargs=-1, required=True)
@click.option("--time", "-t", "timeout", type=int, help="Seconds to wait before killing the container.")
@click.option("--signal", "-s", "sig", help="Signal to send to the container.")
@click.pass_obj
def stop_cmd(obj, names, timeout, sig) -> None:
    """Stop one or more running containers."""
    _each(names, lambda n: obj.engine.containers.stop(n, timeout))


@click.command("kill")
@click.argument("names", nargs=-1, required=True)
@click.option("--signal", "-s", "sig", default="KILL", help="Signal to send to the container.")
@click.pass_obj
def kill_cmd(obj, names, sig) -> None:
    """Kill one or more running containers."""
    _each(names, lambda n: obj.engine.containers.kill(n, sig))


@click.command("restart")
@click.argument("names", nargs=-1, required=True)
@click.option("--time", "-t", "timeout", type=int, help="Seconds to wait before killing the container.")
@click.pass_obj
def restart_cmd(obj, names, timeout) -> None:
    """Restart one or more containers."""
    _each(names, lambda n: obj.engine.containers.restart(n, timeout))


@click.command("rm")
@click.argument("names", nargs=-1, required=True)
@click.option("--force", "-f", is_flag=True, help="Force the removal of a running container (uses SIGKILL).")
@click.option("--volumes", "-v", is_flag=True, help="Remove anonymous volumes associated with the container.")
@click.pass_obj
def rm_cmd(obj, names, force, volumes) -> None:
    """Remove one or more containers."""
    _each(names, lambda n: obj.engine.containers.remove(n, force=force, volumes=volumes))


@click.command("ps")
@click.option("--all", "-a", "all_", is_flag=True, help="Show all containers (default shows just running).")
@click.option("--quiet", "-q", is_flag=True, help="Only display container IDs.")
@click.option("--latest", "-l", is_flag=True, help="Show the latest created container (includes all states).")
@click.option("--last", "-n", type=int, default=-1, help="Show n last created containers (includes all states).")
@click.option("--size", "-s", is_flag=True, help="Display total file sizes.")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@filter_option
@format_option
@click.pass_obj
def ps_cmd(obj, all_, quiet, latest, last, size, no_trunc, filters, fmt) -> None:
    """List containers."""
    from dockyard.cli.formatting import human_size
    from dockyard.cli.pstable import ps_text

    eng = obj.engine
    if latest:
        last = 1
    cs = eng.containers.list(all=all_ or last > 0, filters=parse_filters(filters))
    if last > 0:
        cs = cs[:last]

    def size_of(c) -> str:
        used = eng.snapshots.usage(c.id) if eng.snapshots.exists(c.id) else 0
        return f"{human_size(used)} (virtual {human_size(used + eng.images.get(c.image_id).size)})"
    emit(ps_text(cs, quiet=quiet, no_trunc=no_trunc, fmt=fmt, size_of=size_of if size else None))


@click.command("logs")
@click.argument("name")
@click.option("--follow", "-f", is_flag=True, help="Follow log output.")
@click.option("--tail", "-n", default="all", help="Number of lines to show from the end of the logs.")
@click.option("--since", help="Show logs since timestamp or relative (e.g. 42m).")
@click.option("--until", help="Show logs before a timestamp or relative (e.g. 42m).")
@click.option("--timestamps", "-t", is_flag=True, help="Show timestamps.")
@click.option("--details", is_flag=True, help="Show extra details provided to logs.")
@click.pass_obj
def logs_cmd(obj, name, follow, tail, since, until, timestamps, details) -> None:
    """Fetch the logs of a container."""
    from dockyard.containers.views import parse_time
    from dockyard.errors import InvalidArgument

    if tail != "all" and not tail.lstrip("-").isdigit():
        raise InvalidArgument(f"invalid value for \"tail\": {tail!r} is not a number or all")
    from dockyard.cli.readonly import print_log

    print_log(obj.engine.containers.logs(name, follow=follow, tail=tail if tail != "-1" else "all",
                                         since=parse_time(since) if since else 0.0,
                                         until=parse_time(until) if until else 0.0), timestamps)


@click.command("wait")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
def wait_cmd(obj, names) -> None:
    """Block until one or more containers stop, then print their exit codes."""
    for n in names:
        click.echo(obj.engine.containers.wait(n))


@click.command("attach")
@click.argument("name")
@click.option("--no-stdin", is_flag=True, help="Do not attach STDIN.")
@click.option("--sig-proxy/--no-sig-proxy", default=True, help="Proxy all received signals to the process.")
@click.option("--detach-keys", help="Override the key sequence for detaching a container.")
@click.pass_obj
def attach_cmd(obj, name, no_stdin, sig_proxy, detach_keys) -> None:
    """Attach local standard input, output, and error streams to a running container."""
    import socket as _socket

    from dockyard.cli.attach import Detached, pump
    eng = obj.engine
    c = eng.containers.get(name)
    path = eng.containers.attach_socket(c.id)
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    sock.connect(path)
    try:
        pump(sock, tty=c.config["Tty"], stdin=not no_stdin and c.config["OpenStdin"],
             on_resize=lambda h, w: resize(eng, c.id, h, w), detach_keys=detach_keys)
    except Detached:
        click.echo("\r\nread escape sequence", err=True)
        return
    finally:
        sock.close()
    raise click.exceptions.Exit(eng.containers.wait(c.id))


@click.command("pause")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
def pause_cmd(obj, names) -> None:
    """Pause all processes within one or more containers."""
    _each(names, obj.engine.containers.pause)


@click.command("unpause")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
def unpause_cmd(obj, names) -> None:
    """Unpause all processes within one or more containers."""
    _each(names, obj.engine.containers.unpause)


@click.command("rename")
@click.argument("name")
@click.argument("new_name")
@click.pass_obj
def rename_cmd(obj, name, new_name) -> None:
    """Rename a container."""
    obj.engine.containers.rename(name, new_name)


@click.command("port")
@click.argument("name")
@click.argument("port", required=False)
@click.pass_obj
def port_cmd(obj, name, port) -> None:
    """List port mappings or a specific mapping for the container."""
    from dockyard.containers.views import port_lines
    from dockyard.errors import NotFound
    lines = port_lines(obj.engine.containers.get(name), port)
    if lines is None:
        raise NotFound(f"No public port '{port if '/' in port else port + '/tcp'}' published for {name}")
    for line in lines:
        click.echo(line)


@click.command("top", context_settings=PASSTHROUGH)
@click.argument("name")
@click.argument("ps_args", nargs=-1)
@click.pass_obj
def top_cmd(obj, name, ps_args) -> None:
    """Display the running processes of a container."""
    from dockyard.cli.readonly import top_text
    emit(top_text(obj.engine.containers.top(name, " ".join(ps_args))))


@click.command("prune")
@click.option("--force", "-f", is_flag=True, help="Do not prompt for confirmation.")
@click.option("--filter", "filters", multiple=True, help="Provide filter values (e.g. 'until=<timestamp>').")
@click.pass_obj
def container_prune_cmd(obj, force, filters) -> None:
    """Remove all stopped containers."""
    from dockyard.cli.formatting import human_size
    if not confirm("WARNING! This will remove all stopped containers.", force):
        return
    removed, freed = obj.engine.containers.prune(parse_filters(filters))
    if removed:
        click.echo("Deleted Containers:")
        for cid in removed:
            click.echo(cid)
        click.echo()
    click.echo(f"Total reclaimed space: {human_size(freed)}")


@click.command("cleanup", hidden=True)
@click.argument("cid")
@click.argument("run_id")
@click.argument("restart", required=False)
@click.pass_obj
def cleanup_cmd(obj, cid, run_id, restart) -> None:
    """(The shim's exit hook) record a container's exit and release what it held; with
    `restart`, that its restart policy ended a run or started the next."""
    obj.engine.containers.cleanup(cid, run_id, restart)


@click.command("health-event", hidden=True)
@click.argument("cid")
@click.argument("run_id")
@click.argument("status")
@click.pass_obj
def health_event_cmd(obj, cid, run_id, status) -> None:
    """(The shim's health hook) a container's health status changed."""
    obj.engine.containers.health_event(cid, run_id, status)


@click.command("exec-died", hidden=True)
@click.argument("eid")
@click.argument("code", type=int)
@click.pass_obj
def exec_died_cmd(obj, eid, code) -> None:
    """(A detached exec's hook) its command ended."""
    obj.engine.containers.execs.died(eid, code)


def inspect_any(obj, names, fmt, type_) -> None:
    """`inspect`: containers first, then images, as docker looks names up."""
    from dockyard.cli.images import _print_docs
    from dockyard.errors import NotFound
    from dockyard.images.views import inspect as image_inspect
    from dockyard.containers.views import inspect as container_inspect
    eng = obj.engine
    docs, missing = [], []
    for name in names:
        c = eng.containers.store.find(name) if type_ in (None, "container") else None
        if c is not None:
            docs.append(container_inspect(eng.containers, eng.containers.refresh(c)))
            continue
        img = eng.images.find(name) if type_ in (None, "image") else None
        if img is not None:
            docs.append(image_inspect(eng.images, img))
            continue
        missing.append(name)
    _print_docs(docs, fmt)
    if missing:
        raise NotFound("No such object: " + ", ".join(missing))


@click.command("inspect")
@click.argument("names", nargs=-1, required=True)
@click.option("--format", "-f", "fmt", help="Format output using a Go template.")
@click.option("--type", "type_", type=click.Choice(["container", "image"]), help="Only inspect objects of this type.")
@click.option("--size", "-s", is_flag=True, help="Display total file sizes if the type is container.")
@click.pass_obj
def inspect_cmd(obj, names, fmt, type_, size) -> None:
    """Return low-level information on dockyard objects."""
    inspect_any(obj, names, fmt, type_)


@click.command("inspect")
@click.argument("names", nargs=-1, required=True)
@click.option("--format", "-f", "fmt", help="Format output using a Go template.")
@click.option("--size", "-s", is_flag=True, help="Display total file sizes.")
@click.pass_obj
def container_inspect_cmd(obj, names, fmt, size) -> None:
    """Display detailed information on one or more containers."""
    inspect_any(obj, names, fmt, "container")


@click.command("exec", context_settings=PASSTHROUGH)
@click.option("--interactive", "-i", is_flag=True, help="Keep STDIN open even if not attached.")
@click.option("--tty", "-t", is_flag=True, help="Allocate a pseudo-TTY.")
@click.option("--detach", "-d", is_flag=True, help="Detached mode: run command in the background.")
@click.option("--env", "-e", multiple=True, help="Set environment variables.")
@click.option("--env-file", multiple=True, type=click.Path(dir_okay=False), help="Read in a file of environment variables.")
@click.option("--workdir", "-w", help="Working directory inside the container.")
@click.option("--user", "-u", help="Username or UID (format: <name|uid>[:<group|gid>]).")
@click.option("--privileged", is_flag=True, help="Give extended privileges to the command.")
@click.argument("name")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_obj
def exec_cmd(obj, interactive, tty, detach, env, env_file, workdir, user, privileged, name, command) -> None:
    """Execute a command in a running container."""
    from dockyard.cli.attach import pump_pty
    from dockyard.cli.runflags import env_list
    from dockyard.errors import DockyardError

    eng = obj.engine
    eid = eng.containers.exec_create(name, {
        "Cmd": list(command), "Env": env_list(env, env_file), "WorkingDir": workdir or "", "User": user or "",
        "Tty": tty, "AttachStdin": interactive, "Privileged": privileged})
    if detach:  # nothing of ours: the caller's pipes close when we return, as Docker's
        null = os.open(os.devnull, os.O_RDWR)
        eng.containers.exec_start(eid, detach=True, stdin=null, stdout=null, stderr=null)
        return
    try:  # without -i the command reads /dev/null, as Docker's does
        code = eng.containers.exec_start(
            eid, stdin=sys.stdin.fileno() if interactive else os.open(os.devnull, os.O_RDONLY), stdout=sys.stdout.fileno(),
            stderr=sys.stderr.fileno(), on_pty=lambda fd: pump_pty(fd, stdin=interactive))
    except DockyardError as e:  # could not start: 126 or 127, as the exec records it
        click.echo(e.message, err=True)
        code = eng.containers.exec_inspect(eid)["ExitCode"]
    raise click.exceptions.Exit(code)


@click.command("cp")
@click.argument("src")
@click.argument("dest")
@click.option("--archive", "-a", is_flag=True, help="Archive mode (copy all uid/gid information).")
@click.option("--follow-link", "-L", is_flag=True, help="Always follow symbol link in SRC_PATH.")
@click.option("--quiet", "-q", is_flag=True, help="Suppress progress output during copy.")
@click.pass_obj
def cp_cmd(obj, src, dest, archive, follow_link, quiet) -> None:
    """Copy files/folders between a container and the local filesystem (CONTAINER:PATH)."""
    from dockyard.cli.copy import copy
    copy(obj.engine, src, dest)


@click.command("diff")
@click.argument("name")
@click.pass_obj
def diff_cmd(obj, name) -> None:
    """Inspect changes to files or directories on a container's filesystem."""
    for ch in obj.engine.containers.changes(name):
        click.echo(f"{'CAD'[ch['Kind']]} {ch['Path']}")


@click.command("commit")
@click.argument("name")
@click.argument("reference", required=False)
@click.option("--author", "-a", default="", help='Author (e.g., "John Hannibal Smith <hannibal@a-team.com>").')
@click.option("--change", "-c", "changes", multiple=True, help="Apply Dockerfile instruction to the created image.")
@click.option("--message", "-m", default="", help="Commit message.")
@click.option("--pause/--no-pause", "-p", default=True, help="Pause container during commit.")
@click.pass_obj
def commit_cmd(obj, name, reference, author, changes, message, pause) -> None:
    """Create a new image from a container's changes."""
    repo, tag = None, None
    if reference:
        from dockyard.oci.reference import parse
        ref = parse(reference)
        repo, tag = ref.familiar_repository, ref.tag or "latest"
    click.echo(obj.engine.containers.commit(name, repo=repo, tag=tag, comment=message, author=author,
                                            changes=tuple(changes), pause=pause))


@click.command("export")
@click.argument("name")
@click.option("--output", "-o", help="Write to a file, instead of STDOUT.")
@click.pass_obj
def export_cmd(obj, name, output) -> None:
    """Export a container's filesystem as a tar archive."""
    import shutil

    from dockyard.errors import InvalidArgument
    if not output and sys.stdout.isatty():
        raise InvalidArgument("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    stream = obj.engine.containers.export(name)
    with stream:
        if output:
            tmp = f"{output}.tmp-{os.getpid()}"
            try:
                with open(tmp, "wb") as f:
                    shutil.copyfileobj(stream, f, 1 << 20)
                os.replace(tmp, output)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        else:
            shutil.copyfileobj(stream, sys.stdout.buffer, 1 << 20)


@click.command("stats")
@click.argument("names", nargs=-1)
@click.option("--all", "-a", "all_", is_flag=True, help="Show all containers (default shows just running).")
@click.option("--no-stream", is_flag=True, help="Disable streaming stats and only pull the first result.")
@click.option("--no-trunc", is_flag=True, help="Do not truncate output.")
@format_option
@click.pass_obj
def stats_cmd(obj, names, all_, no_stream, no_trunc, fmt) -> None:
    """Display a live stream of container(s) resource usage statistics."""
    from dockyard.cli.stats import show
    show(obj.engine, names, all_=all_, stream=not no_stream, no_trunc=no_trunc, fmt=fmt)


@click.command("update")
@click.argument("names", nargs=-1, required=True)
@click.option("--memory", "-m", help="Memory limit.")
@click.option("--memory-swap", help="Swap limit equal to memory plus swap: -1 to enable unlimited swap.")
@click.option("--memory-reservation", help="Memory soft limit.")
@click.option("--cpus", help="Number of CPUs.")
@click.option("--cpu-shares", "-c", type=int, help="CPU shares (relative weight).")
@click.option("--cpu-quota", type=int, help="Limit CPU CFS quota.")
@click.option("--cpu-period", type=int, help="Limit CPU CFS period.")
@click.option("--cpuset-cpus", help="CPUs in which to allow execution (0-3, 0,1).")
@click.option("--pids-limit", type=int, help="Tune container pids limit (set -1 for unlimited).")
@click.option("--restart", help="Restart policy to apply when a container exits.")
@click.pass_obj
def update_cmd(obj, names, memory, memory_swap, memory_reservation, cpus, cpu_shares, cpu_quota, cpu_period,
               cpuset_cpus, pids_limit, restart) -> None:
    """Update configuration of one or more containers."""
    from dockyard.cli.runflags import _cpus, _restart
    from dockyard.containers.request import parse_bytes
    body = {k: v for k, v in {
        "Memory": parse_bytes(memory) if memory else None,
        "MemorySwap": (-1 if memory_swap == "-1" else parse_bytes(memory_swap)) if memory_swap else None,
        "MemoryReservation": parse_bytes(memory_reservation) if memory_reservation else None,
        "NanoCpus": _cpus(cpus) if cpus else None, "CpuShares": cpu_shares, "CpuQuota": cpu_quota,
        "CpuPeriod": cpu_period, "CpusetCpus": cpuset_cpus, "PidsLimit": pids_limit,
        "RestartPolicy": _restart(restart) if restart else None}.items() if v is not None}

    warnings: list[str] = []
    try:
        _each(names, lambda n: warnings.extend(obj.engine.containers.update(n, body)))
    finally:  # after the names, on stdout, as the docker CLI prints them
        for warning in warnings:
            click.echo(warning)


TOP_LEVEL = (exec_cmd, cp_cmd, diff_cmd, commit_cmd, export_cmd, stats_cmd, update_cmd, run_cmd, create_cmd, start_cmd, stop_cmd, kill_cmd, restart_cmd, rm_cmd, ps_cmd, logs_cmd, wait_cmd,
             attach_cmd, pause_cmd, unpause_cmd, rename_cmd, port_cmd, top_cmd)


def register(cli: click.Group) -> None:
    group = click.Group("container", help="Manage containers.")
    for cmd in TOP_LEVEL:
        cli.add_command(cmd)
        group.add_command(cmd)
    group.add_command(ps_cmd, "ls")
    group.add_command(ps_cmd, "list")
    group.add_command(container_prune_cmd)
    group.add_command(cleanup_cmd)
    group.add_command(health_event_cmd)
    group.add_command(exec_died_cmd)
    group.add_command(container_inspect_cmd)
    cli.add_command(group)
    cli.add_command(inspect_cmd)
