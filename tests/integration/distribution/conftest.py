"""Fixtures for registry-client tests; the helpers behind them are in distribution_support.py."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest
from aiohttp import web
from tests.integration.distribution.distribution_support import CountingProxy, Image, build_image, start_registry

from dockyard.store.content import ContentStore


@pytest.fixture
def store(tmp_path) -> ContentStore:
    return ContentStore(tmp_path / "store")


@pytest.fixture
def image(store) -> Image:
    """Two layers, the first ~600 KB of incompressible bytes so transfers are easy to tell from chatter."""
    return build_image(store, [{"bin/big": os.urandom(600_000), "etc/hostname": b"dockyard\n"},
                               {"etc/motd": b"hello\n"}])


@pytest.fixture
def registry(tmp_path):
    yield from start_registry(tmp_path)


@pytest.fixture
def proxy(registry):
    p = CountingProxy(int(registry.host.rsplit(":", 1)[1]))
    yield p
    p.close()


@pytest.fixture
def serve():
    """Run aiohttp apps on free loopback ports in a background loop; returns `start(app) -> host:port`."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runners = []

    def start(app: web.Application) -> str:
        async def up():
            runner = web.AppRunner(app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            runners.append(runner)
            return runner.addresses[0][1]
        port = asyncio.run_coroutine_threadsafe(up(), loop).result(10)
        return f"127.0.0.1:{port}"

    yield start
    for runner in runners:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()
