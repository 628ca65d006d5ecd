"""A stopping server removes its own unix socket, never the one a newer server bound there."""

from __future__ import annotations

import socket
import time

from dockyard.api.server import _own, _remove_own


def bind(path) -> socket.socket:
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    return s


def test_only_the_servers_own_socket_is_removed(tmp_path):
    path = tmp_path / "api.sock"
    first = bind(path)
    mine = _own(str(path))
    first.close()
    path.unlink()  # a newer server replaced the socket that no longer answered, a process start later
    time.sleep(0.05)  # beyond the file times' granularity (the kernel's coarse clock)
    second = bind(path)
    try:
        _remove_own(*mine)
        assert path.is_socket()
        _remove_own(*_own(str(path)))
        assert not path.exists()
        _remove_own(*mine)  # gone already: nothing to do
    finally:
        second.close()
