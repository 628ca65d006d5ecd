"""A netlink socket with just what dockyard's requests need: send one message and wait for the
kernel's answer, or read a dump; attributes packed and read with struct.

Used for rtnetlink (links, addresses, routes: rtnetlink.py) and ctnetlink (conntrack entries:
conntrack.py). The socket lives in the network namespace of the thread that opens it.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
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
    would report) when the kernel refuses them. One request at a time (a lock)."""

    def __init__(self, protocol: int) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, protocol)
        self._sock.bind((0, 0))
        self._seq = 0
        self._lock = threading.Lock()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._sock.close()

    def request(self, kind: int, flags: int, body: bytes) -> None:
        """Send one message and wait for its acknowledgement."""
        self.batch([(kind, flags | NLM_F_ACK, body)])

    def batch(self, messages: list[tuple[int, int, bytes]]) -> None:
        """Send (type, flags, body) messages at once and wait until those that ask for an
        acknowledgement (NLM_F_ACK) have theirs; the first refusal is raised (answers left
        unread are skipped by later requests: they carry older sequence numbers)."""
        with self._lock:
            first, last, data = self._seq + 1, None, b""
            for kind, flags, body in messages:
                self._seq += 1
                last = self._seq if flags & NLM_F_ACK else last
                data += HEADER.pack(HEADER.size + len(body), kind, flags | NLM_F_REQUEST, self._seq, 0) + body
            self._sock.send(data)
            for seq, msg_type, payload in self._answers(first, self._seq) if last else ():
                if msg_type == NLMSG_ERROR:
                    error = -struct.unpack_from("=i", payload)[0]
                    if error:
                        raise OSError(error, os.strerror(error))
                    if seq == last:
                        return

    def dump(self, kind: int, body: bytes) -> list[bytes]:
        """The messages of a dump request, each without its header."""
        with self._lock:
            self._seq += 1
            self._sock.send(HEADER.pack(HEADER.size + len(body), kind, NLM_F_DUMP | NLM_F_REQUEST, self._seq, 0) + body)
            out = []
            for _, msg_type, payload in self._answers(self._seq, self._seq):
                if msg_type == NLMSG_DONE:
                    break
                if msg_type == NLMSG_ERROR:
                    error = -struct.unpack_from("=i", payload)[0]
                    if error:
                        raise OSError(error, os.strerror(error))
                    break
                out.append(payload)
            return out

    def _answers(self, first: int, last: int) -> Iterator[tuple[int, int, bytes]]:
        """(sequence, type, payload) of the kernel's messages answering sequences first..last."""
        while True:
            data = self._sock.recv(65536)  # a dump's part is at most 32 KiB
            offset = 0
            while offset + HEADER.size <= len(data):
                length, msg_type, _, seq, _ = HEADER.unpack_from(data, offset)
                payload = data[offset + HEADER.size:offset + length]
                offset += max(length + (-length % 4), HEADER.size)
                if first <= seq <= last:
                    yield seq, msg_type, payload


_shared: dict[tuple[int, int], Socket] = {}
_shared_lock = threading.Lock()


def shared(protocol: int) -> Socket:
    """A socket of `protocol` in the calling thread's network namespace, opened once and kept
    until the process ends. For netfilter: closing such a socket right after a batch that
    deleted anything (an unpublished port) waits for an RCU grace period, ~8-15 ms, as
    nf_tables finishes its pending frees then; at the process's exit that has mostly passed."""
    key = (protocol, os.stat("/proc/thread-self/ns/net").st_ino)
    with _shared_lock:
        if key not in _shared:
            _shared[key] = Socket(protocol)
        return _shared[key]
