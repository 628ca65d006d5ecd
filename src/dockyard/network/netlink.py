"""A netlink socket with just what dockyard's requests need: send one message and wait for the
kernel's answer, or read a dump; attributes packed and read with struct.

Used for rtnetlink (links, addresses, routes: rtnetlink.py) and ctnetlink (conntrack entries:
conntrack.py). The socket lives in the network namespace of the thread that opens it.
"""

from __future__ import annotations

import os
import socket
import struct
from typing import Iterator

NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 0x1, 0x4, 0x300
NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE = 0x100, 0x200, 0x400
_TYPE_MASK = 0x3FFF  # an attribute's type without NLA_F_NESTED and NLA_F_NET_BYTEORDER

HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port


def attr(kind: int, value: bytes | str | int) -> bytes:
    """One attribute, padded to 4 bytes: bytes as they are, a str NUL-terminated, an int as u32."""
    if isinstance(value, str):
        value = value.encode() + b"\0"
    elif isinstance(value, int):
        value = struct.pack("=I", value)
    data = struct.pack("=HH", 4 + len(value), kind) + value
    return data + b"\0" * (-len(data) % 4)


def attrs(data: bytes, offset: int = 0) -> dict[int, bytes]:
    """The attributes in `data` from `offset` on: type -> payload (the last of a repeated type)."""
    out = {}
    while offset + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, offset)
        if length < 4:
            break
        out[kind & _TYPE_MASK] = data[offset + 4:offset + length]
        offset += length + (-length % 4)
    return out


class Socket:
    """A netlink socket of `protocol`; requests raise OSError (the errno a command-line tool
    would report) when the kernel refuses them."""

    def __init__(self, protocol: int) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, protocol)
        self._sock.bind((0, 0))
        self._seq = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._sock.close()

    def request(self, kind: int, flags: int, body: bytes) -> None:
        """Send one message and wait for its acknowledgement."""
        for _ in self._exchange(kind, flags | NLM_F_ACK, body):
            pass

    def dump(self, kind: int, body: bytes) -> Iterator[bytes]:
        """The messages of a dump request, each without its header."""
        return self._exchange(kind, NLM_F_DUMP, body)

    def _exchange(self, kind: int, flags: int, body: bytes) -> Iterator[bytes]:
        self._seq += 1
        seq = self._seq
        self._sock.send(HEADER.pack(HEADER.size + len(body), kind, flags | NLM_F_REQUEST, seq, 0) + body)
        while True:
            data = self._sock.recv(65536)  # a dump's part is at most 32 KiB
            offset = 0
            while offset + HEADER.size <= len(data):
                length, msg_type, _, msg_seq, _ = HEADER.unpack_from(data, offset)
                payload = data[offset + HEADER.size:offset + length]
                offset += max(length + (-length % 4), HEADER.size)
                if msg_seq != seq:
                    continue
                if msg_type == NLMSG_ERROR:
                    error = -struct.unpack_from("=i", payload)[0]
                    if error:
                        raise OSError(error, os.strerror(error))
                    return
                if msg_type == NLMSG_DONE:
                    return
                yield payload
