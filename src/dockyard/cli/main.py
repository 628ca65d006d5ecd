"""The `dockyard` command: docker's grammar over an in-process Engine.

Failures print one line and exit 125, as docker does; a traceback only with
`--log-level debug`. Commands live in modules by topic and import what they need lazily.
"""

from __future__ import annotations

import sys

import click

from dockyard import __version__

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class Obj:
    """Global options, and the Engine built from them on first use."""

    def __init__(self, root: str | None, run_dir: str | None, log_level: str, storage_driver: str | None) -> None:
        self.root, self.run_dir, self.log_level, self.storage_driver = root, run_dir, log_level, storage_driver
        self._engine = None
        self.released: list[str] = []  # what killed builds had left, released on first use

    @property
    def engine(self):
        if self._engine is None:
            from dockyard.builder.unfinished import reclaim
            from dockyard.engine import Engine
            from dockyard.errors import DockyardError

            self._engine = Engine(self.root, self.run_dir, self.storage_driver)
            try:
                self.released = reclaim(self._engine)  # one listdir when no build was killed
            except (DockyardError, OSError) as err:  # the command itself still runs; the next one tries again
                click.echo(f"warning: releasing what a killed build left failed: {err}", err=True)
        return self._engine


# Which module registers each top-level command: a command's module is imported only when
# that command runs (all of them for --help), so `dockyard ps` never pays for the builder.
_MODULES: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("images", "tag", "rmi", "history", "import", "save", "load"), ("images",)),
    "image": ("images", "distribution"),  # `image pull/push` live beside the image commands
    **dict.fromkeys(("run", "create", "start", "stop", "kill", "restart", "rm", "ps", "logs", "wait", "attach",
                     "pause", "unpause", "rename", "port", "top", "exec", "cp", "diff", "commit", "export",
                     "stats", "update", "container", "inspect"), ("containers",)),
    "volume": ("volumes",), "network": ("networks",),
    **dict.fromkeys(("pull", "push", "login", "logout", "search"), ("distribution",)),
    "build": ("build",), "builder": ("build",), "registry": ("registry",),
    **dict.fromkeys(("system", "info", "events", "version"), ("system",)),
    "serve": ("serve",), "hub": ("hub",), "cri": ("cri",), "manifest": ("manifest",),
}
_loaded: set[str] = set()


def _load(module: str) -> None:
    if module in _loaded:
        return
    _loaded.add(module)
    if module == "hub":
        from dockyard.hub.cli import hub
        cli.add_command(hub)
        return
    import importlib
    importlib.import_module(f"dockyard.cli.{module}").register(cli)


class LazyGroup(click.Group):
    def get_command(self, ctx: click.Context, name: str):
        for module in _MODULES.get(name, ()):
            _load(module)
        return super().get_command(ctx, name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        for modules in _MODULES.values():
            for module in modules:
                _load(module)
        return super().list_commands(ctx)


@click.group(cls=LazyGroup, context_settings=CONTEXT)
@click.option("--root", envvar="DOCKYARD_ROOT", metavar="DIR", help="Where images and containers live [/var/lib/dockyard].")
@click.option("--run-dir", envvar="DOCKYARD_RUN_DIR", metavar="DIR", help="Runtime state: mounts, sockets [/run/dockyard; /run/dockyard-<ID> for a root other than the default].")
@click.option("--log-level", "-l", type=click.Choice(["debug", "info", "warn", "error", "fatal"]), default="info",
              help="How much to say; `debug` also shows tracebacks.")
@click.option("--storage-driver", "-s", metavar="NAME", help="overlay, fuse-overlayfs or vfs; fixed per root at first use [the first that mounts here].")
@click.version_option(__version__, "-v", "--version", message="dockyard version %(version)s")
@click.pass_context
def cli(ctx: click.Context, root, run_dir, log_level, storage_driver) -> None:
    """A container engine: images, containers, builds and a registry, the docker way."""
    ctx.obj = Obj(root, run_dir, log_level, storage_driver)


def main(argv: list[str] | None = None) -> None:
    """Run the command, then end the process at once (entry.end)."""
    from dockyard.cli.entry import end

    end(run(argv))


def run(argv: list[str] | None = None) -> int:
    """Run one command; every expected failure becomes one line and docker's exit codes."""
    from dockyard.cli.plain import failure_code

    debug = "debug" in (argv or sys.argv)
    try:
        rv = cli.main(args=argv, prog_name="dockyard", standalone_mode=False)
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except click.ClickException as e:
        click.echo(f"dockyard: {e.format_message()}", err=True)
        click.echo("See 'dockyard --help'.", err=True)
        return 125
    except (Exception, KeyboardInterrupt) as e:
        return failure_code(e, debug)
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":
    main()
