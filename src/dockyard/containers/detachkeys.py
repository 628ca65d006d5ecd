"""Detach keys: the key sequence (docker's default ctrl-p ctrl-q) that, typed into an attached
or exec'd stdin, ends the client's connection while the container or process runs on.

The server watches the client's bytes for it, as dockerd does, so every client honours it.
Bytes that start the sequence are held back until it is complete (detach) or broken (they go
to the process after all)."""

from __future__ import annotations

from dockyard.errors import InvalidArgument

DEFAULT = "ctrl-p,ctrl-q"
# docker's names for the control characters: ctrl-@ is 0, ctrl-a 1 ... ctrl-_ 31
_CONTROL = ["ctrl-@", *(f"ctrl-{c}" for c in "abcdefghijklmnopqrstuvwxyz"), "ctrl-[", "ctrl-\\", "ctrl-]",
            "ctrl-^", "ctrl-_"]


def parse(keys: str, what: str = "detach") -> bytes:
    """docker's `--detach-keys` syntax: comma-separated single characters, `ctrl-X` or `DEL`."""
    codes = bytearray()
    for key in keys.split(","):
        if len(key) == 1:
            codes += key.encode()
        elif key in _CONTROL:
            codes.append(_CONTROL.index(key))
        elif key == "DEL":
            codes.append(127)
        else:
            raise InvalidArgument(f"Invalid {what} keys ({keys}) provided")
    return bytes(codes)


class DetachWatch:
    """Feed the client's bytes through `feed`: it returns what may go to the process, and
    whether the sequence was typed (then the connection is to be closed)."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.held = 0  # how many bytes of the sequence have been seen (and held back)

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        out = bytearray()
        for byte in data:
            if byte == self.keys[self.held]:
                self.held += 1
                if self.held == len(self.keys):
                    return bytes(out), True
                continue
            out += self.keys[:self.held]
            self.held = 1 if byte == self.keys[0] else 0
            if not self.held:
                out.append(byte)
        return bytes(out), False


def watch(keys: str | None) -> DetachWatch | None:
    """The watch for a request's detach keys (docker's default when none are given)."""
    codes = parse(keys or DEFAULT)
    return DetachWatch(codes) if codes else None


def shown(keys: str | None) -> str:
    """Keys as dockerd's exec inspect shows them: their bytes in base64 (a Go []byte)."""
    import base64
    return base64.b64encode(parse(keys)).decode() if keys else ""


def watch_shown(text: str) -> DetachWatch | None:
    """The watch for keys as `shown` gives them (docker's default when there are none)."""
    import base64
    return DetachWatch(base64.b64decode(text)) if text else watch(None)
