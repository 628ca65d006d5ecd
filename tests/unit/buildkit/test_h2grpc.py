"""gRPC over an h2c connection both ways, on a socket pair: unary and streamed replies,
messages larger than a frame and than the flow-control window, statuses and their messages,
a method not served, and the peer going away mid-call."""

from __future__ import annotations

import asyncio
import socket

import pytest

from dockyard.buildkit.h2grpc import INTERNAL, UNIMPLEMENTED, Connection, GrpcError, Stream


async def _pair(handlers):
    a, b = socket.socketpair()
    loop = asyncio.get_running_loop()
    t1, _ = await loop.create_connection(asyncio.Protocol, sock=a)
    t2, _ = await loop.create_connection(asyncio.Protocol, sock=b)
    server, client = Connection(t1, client_side=False, handlers=handlers), Connection(t2, client_side=True)
    server.start()
    client.start()
    return server, client


async def _echo(stream: Stream) -> None:
    while (message := await stream.recv()) is not None:
        await stream.send(message)


async def _twice(stream: Stream) -> None:
    message = await stream.recv()
    await stream.send(message)
    await stream.send(message[::-1])


async def _fails(stream: Stream) -> None:
    await stream.recv()
    raise GrpcError(5, "no such thing: 100% gone")


async def _bug(stream: Stream) -> None:
    raise KeyError("oops")


HANDLERS = {"/t.S/Echo": _echo, "/t.S/Twice": _twice, "/t.S/Fails": _fails, "/t.S/Bug": _bug}


def test_calls_both_ways():
    async def main():
        server, client = await _pair(HANDLERS)
        assert await client.unary("/t.S/Echo", b"hello") == b"hello"
        big = bytes(range(256)) * 20_000  # 5 MB: many frames, beyond the initial window
        assert await client.unary("/t.S/Echo", big) == big
        stream = await client.call("/t.S/Twice")
        await stream.send(b"abc")
        client.close_send(stream)
        assert [await stream.recv(), await stream.recv(), await stream.recv()] == [b"abc", b"cba", None]
        client.status(stream)
        with pytest.raises(GrpcError) as err:
            await client.unary("/t.S/Fails", b"")
        assert (err.value.code, err.value.message) == (5, "no such thing: 100% gone")
        with pytest.raises(GrpcError) as err:
            await client.unary("/t.S/Nope", b"")
        assert err.value.code == UNIMPLEMENTED and "unknown method /t.S/Nope" in err.value.message
        with pytest.raises(GrpcError) as err:
            await client.unary("/t.S/Bug", b"")
        assert err.value.code == INTERNAL and "KeyError" in err.value.message
        client.close()
        await asyncio.wait_for(server.wait_closed(), 5)

    asyncio.run(main())


def test_the_peer_going_away_ends_a_call():
    async def main():
        started = asyncio.Event()

        async def hang(stream: Stream) -> None:
            started.set()
            await asyncio.sleep(60)

        server, client = await _pair({"/t.S/Hang": hang})
        call = asyncio.create_task(client.unary("/t.S/Hang", b"x"))
        await started.wait()
        server.close()
        with pytest.raises(GrpcError):
            await asyncio.wait_for(call, 5)
        await asyncio.wait_for(server.wait_closed(), 5)
        assert not server.tasks or all(t.done() or t.cancelling() for t in server.tasks)

    asyncio.run(main())
