"""Output and failures without click: what the early paths (runfast.py) and the click
commands print alike."""

from __future__ import annotations

import os
import sys


def say(text: str, err: bool = False) -> None:
    """One line to stdout or stderr, flushed (click.echo's behaviour for text)."""
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n")
    stream.flush()


def failure_code(e: BaseException, debug: bool) -> int:
    """docker's exit code for a command that raised `e`, with its one line printed: 125
    for an expected failure, 130 for ^C, 141 for a reader that went away. With `debug`
    an error is raised again, for its traceback."""
    from dockyard.errors import DockyardError

    if isinstance(e, KeyboardInterrupt):
        return 130
    if isinstance(e, BrokenPipeError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    if debug:
        raise e
    if isinstance(e, DockyardError):
        say(f"Error: {e.message}", err=True)
    elif isinstance(e, OSError):
        say(f"Error: {e.strerror or e}{': ' + e.filename if getattr(e, 'filename', None) else ''}", err=True)
    else:  # a bug: still one line, with the way to see more
        say(f"Error: internal error: {type(e).__name__}: {e} (run with --log-level debug for the traceback)", err=True)
    return 125
