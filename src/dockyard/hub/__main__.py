"""`python -m dockyard.hub ...`: the hub commands without the main CLI (the git hooks run this)."""

from __future__ import annotations

import sys

import click

from dockyard.errors import DockyardError
from dockyard.hub.cli import hub


def main() -> int:
    try:
        hub.main(prog_name="python -m dockyard.hub", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        return 130
    except DockyardError as exc:
        click.echo(f"Error: {exc.message}", err=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
