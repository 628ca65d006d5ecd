"""The rootless network namespace: where a rootless engine's bridges, veths, nft tables and DNS
servers live, while the `dockyard` process itself stays in the host's network namespace.

That split is podman's: pulls and pushes go straight out (a registry on the host's loopback
answers, no user-space relay in the way), `serve -H tcp://...` listens on the host, and
`--network host` is the host's network. Only the engine's network service works inside the
pause process's network namespace: every call to it runs on a thread that joined it first
(network/netns.run_in), and whatever that thread starts (ip, nft, a DNS server) starts there.
"""

from __future__ import annotations

import functools
import os


def path() -> str:
    """The nsfs file of the user's rootless network namespace."""
    from dockyard.rootless import ENV
    return f"/proc/{os.environ[ENV]}/ns/net"


#: methods that only read the engine's records: called on the caller's own thread (a thread
#: that joins the namespace costs ~1 ms, and a `run` asks for its attachment three times)
RECORDS_ONLY = frozenset({"attachment"})


class Inside:
    """`target` with each of its methods called inside the network namespace at `netns`."""

    def __init__(self, target: object, netns: str) -> None:
        self._target, self._netns = target, netns

    def __getattr__(self, name: str):
        value = getattr(self._target, name)
        if not callable(value) or name in RECORDS_ONLY:
            return value
        from dockyard.network.netns import run_in

        @functools.wraps(value)
        def inside(*args, **kwargs):
            return run_in(self._netns, lambda: value(*args, **kwargs))
        return inside
