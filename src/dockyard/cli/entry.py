"""The `dockyard` executable: what runs before the command-line parser.

Kept free of imports, so that the read-only commands (readonly.py), a pull or push with
nothing to do (settled.py), a plain `run` (runfast.py) and a plain `exec` (execquick.py) are
answered before click loads; every other command goes to cli.main. The launcher setup.sh
writes starts the interpreter without `site` (`python -S`): the read-only commands need
nothing from site-packages, and `site` (every .pth file, the distro's sitecustomize) is
loaded here for the rest.
"""

from __future__ import annotations

import gc
import os
import sys


#: Optional imports that third-party packages make eagerly and the CLI never uses: httpcore
#: probes for trio (its async API, which the CLI's synchronous httpx client never runs) and
#: httpx loads its own command line (`httpx._main`: click, rich and pygments). Marked absent,
#: each probe fails at once and the package carries on without it. Where trio is installed,
#: that takes 30 ms off the start of a pull or push with a cold page cache.
UNUSED_OPTIONAL_IMPORTS = ("trio", "httpx._main")


def main() -> None:
    for name in UNUSED_OPTIONAL_IMPORTS:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]
    if os.geteuid() != 0 and sys.argv[1:2] not in ([], ["-h"], ["--help"], ["-v"], ["--version"]):
        rootless()
    from dockyard.cli import readonly

    # The early paths' objects (modules, rows, a start's records) live until the command exits:
    # collecting finds nothing (~10 % of `ps -a`; ~40 collections, 5-15 ms, in a `run`'s start).
    # A foreground run collects again once its container runs (running.py).
    gc.disable()
    code = readonly.before_parsing(sys.argv[1:])
    if code is None:
        from dockyard.cli import execquick

        code = execquick.before_parsing(sys.argv[1:])
    if code is not None:
        end(code)
    if sys.flags.no_site:
        import site
        site.main()
    from dockyard.cli import runfast, settled

    if settled.before_parsing(sys.argv[1:]):
        end(0)
    code = runfast.before_parsing(sys.argv[1:])
    if code is not None:
        end(code)
    gc.enable()
    from dockyard.cli.main import main as run

    run()


def rootless() -> None:
    """An ordinary user's command joins their namespaces first, while one thread runs (rootless/)."""
    from dockyard.errors import DockyardError
    from dockyard.rootless.join import enter

    try:
        enter()
    except (DockyardError, OSError) as e:
        print(f"Error: {getattr(e, 'message', None) or e.strerror or e}", file=sys.stderr)
        end(125)


def end(code: int) -> None:
    """Flush and leave with os._exit. The interpreter's own teardown (finalising every module
    and object, the SQLite connection's checkpoint on close) costs ~20 ms per command and
    does nothing a command needs: its output is flushed here, its transactions are committed
    (the WAL is checkpointed by later commits), its files closed by their `with` blocks."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            if code == 0:
                code = 141 if stream is sys.stdout else 1
    os._exit(code)
