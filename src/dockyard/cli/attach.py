"""Connecting the terminal to a container: output from the shim's attach socket (stdcopy
frames, or raw bytes for a TTY), our stdin into it, window size, and the detach keys."""

from __future__ import annotations

import os
import select
import signal
import socket
import sys
import termios
import tty as _tty

class Detached(Exception):
    """The user typed the detach keys: leave the container running."""


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def pump(sock: socket.socket, *, tty: bool, stdin: bool, on_resize=None, detach_keys: str | None = None) -> None:
    """Copy until the container's output ends. Raises Detached on the detach keys (docker's
    default ctrl-p ctrl-q, or `detach_keys`), which a TTY's input is watched for."""
    from dockyard.containers.detachkeys import watch
    detach = watch(detach_keys) if tty else None
    in_fd = sys.stdin.fileno() if stdin else None
    restore = None
    if tty and in_fd is not None and os.isatty(in_fd):
        restore = termios.tcgetattr(in_fd)
        _tty.setraw(in_fd)
    old_winch = None
    if tty and on_resize is not None and os.isatty(sys.stdout.fileno()):
        def resized(*_):
            rows, cols = os.get_terminal_size(sys.stdout.fileno())[::-1]
            on_resize(rows, cols)
        old_winch = signal.signal(signal.SIGWINCH, resized)
        resized()
    try:
        _copy(sock, tty, in_fd, detach)
    finally:
        if restore is not None:
            termios.tcsetattr(in_fd, termios.TCSADRAIN, restore)
        if old_winch is not None:
            signal.signal(signal.SIGWINCH, old_winch)


def _copy(sock: socket.socket, tty: bool, in_fd: int | None, detach) -> None:
    out_fds = {1: sys.stdout.fileno(), 2: sys.stderr.fileno()}
    buf = b""
    watching = [sock] + ([in_fd] if in_fd is not None else [])
    while True:
        ready, _, _ = select.select(watching, [], [])
        if sock in ready:
            data = sock.recv(65536)
            if not data:
                return
            if tty:
                _write_all(out_fds[1], data)
                continue
            buf += data
            while len(buf) >= 8:
                size = int.from_bytes(buf[4:8], "big")
                if len(buf) < 8 + size:
                    break
                _write_all(out_fds.get(buf[0], out_fds[1]), buf[8:8 + size])
                buf = buf[8 + size:]
        if in_fd is not None and in_fd in ready:
            data = os.read(in_fd, 65536)
            if not data:
                watching.remove(in_fd)
                in_fd = None
                try:
                    sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                continue
            data, detached = detach.feed(data) if detach is not None else (data, False)
            if data:
                sock.sendall(data)
            if detached:
                raise Detached()


def pump_pty(master: int, *, stdin: bool) -> None:
    """Carry our terminal to a pty master until the process behind it is gone (EIO)."""
    import fcntl
    import struct

    in_fd = sys.stdin.fileno() if stdin else None
    restore = None
    if in_fd is not None and os.isatty(in_fd):
        restore = termios.tcgetattr(in_fd)
        _tty.setraw(in_fd)
    if os.isatty(sys.stdout.fileno()):
        rows, cols = os.get_terminal_size(sys.stdout.fileno())[::-1]
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    try:
        watching = [master] + ([in_fd] if in_fd is not None else [])
        while True:
            ready, _, _ = select.select(watching, [], [])
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    return
                if not data:
                    return
                _write_all(sys.stdout.fileno(), data)
            if in_fd is not None and in_fd in ready:
                data = os.read(in_fd, 65536)
                if not data:
                    watching.remove(in_fd)
                    in_fd = None
                    continue
                _write_all(master, data)
    finally:
        if restore is not None:
            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, restore)
