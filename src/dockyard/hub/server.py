"""`hub serve`: the registry API and the hub's pages on one address, with the build worker.

The registry application of dockyard.registry is used as it is; the hub wraps its access mode
(private repositories) and adds its own routes and the worker's start and stop to it.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

DEFAULT_BUILD_TIMEOUT = 1800.0
INDEX_SYNC_SECONDS = 30.0


def make_app(root: str | Path, *, auth: str | None = None, build_timeout: float = DEFAULT_BUILD_TIMEOUT,
             parallel_builds: int = 2):
    """The hub's aiohttp application over `root` (registry storage plus `root/hub`)."""
    from dockyard.hub.access import HubAccess
    from dockyard.hub.builds.pages import BuildPages
    from dockyard.hub.catalog import Catalog
    from dockyard.hub.discovery.info import RepoInfo
    from dockyard.hub.discovery.tracking import Tracker
    from dockyard.hub.discovery.web import DiffPage, SearchEndpoint
    from dockyard.hub.hubapi import HubApi
    from dockyard.hub.runner import Worker
    from dockyard.hub.state import HubState
    from dockyard.hub.tags.pages import TagPages
    from dockyard.hub.timing import server_timing
    from dockyard.hub.web import Pages
    from dockyard.hub.webhooks.pages import WebhookPages
    from dockyard.registry.app import make_app as registry_app
    from dockyard.registry.auth import from_spec
    from dockyard.registry.storage import RegistryStorage

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    state = HubState(root)
    info = RepoInfo(state.db)
    storage = RegistryStorage(root)
    info.sync(storage.repositories())
    accounts = None
    if auth == "accounts":
        from dockyard.hub.accounts.access import AccountsAccess

        access = AccountsAccess.open(state)
        accounts = access.accounts
    else:
        access = HubAccess(from_spec(auth, root), state)
    worker = Worker(state, storage, build_timeout, parallel_builds)
    app = registry_app(str(root), access=access)
    tracker = Tracker(info, accounts)
    app.on_response_prepare.append(tracker)
    worker.on_published.append(tracker.published)
    app.middlewares.append(server_timing)
    if accounts is not None:
        from dockyard.hub.accounts.access import make_csrf_guard

        app.middlewares.append(make_csrf_guard())
    pages = Pages(state, Catalog(storage), access, worker, info)
    SearchEndpoint(info, state, access).routes(app)
    tags = TagPages(pages)
    extras = [BuildPages(pages), tags, WebhookPages(pages), DiffPage(pages)]
    if accounts is not None:
        from dockyard.hub.accounts.web import AccountPages

        extras.append(AccountPages(pages, access, info))
    for extra in extras:  # before the pages' /r/{path} catch-all
        extra.routes(app)
    pages.routes(app)
    HubApi(pages, tags).install(app)

    background: list[asyncio.Task] = []

    async def start_worker(_app) -> None:
        worker.start()
        background.append(asyncio.get_running_loop().create_task(_keep_index(info, storage)))

    async def stop_worker(_app) -> None:
        for task in background:
            task.cancel()
        await worker.stop()

    app.on_startup.append(start_worker)
    app.on_cleanup.append(stop_worker)
    return app


async def _keep_index(info, storage) -> None:
    """Bring the search index in line with the storage now and then: builds and `hub` commands
    store images without a request that the tracker sees."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(INDEX_SYNC_SECONDS)
        try:
            await loop.run_in_executor(None, lambda: info.sync(storage.repositories()))
        except Exception:
            logging.getLogger(__name__).exception("could not refresh the search index")


async def start(addr: str, root: str | Path, **options):
    """Serve in the running loop; returns (runner, base URL). Stop with runner.cleanup()."""
    from aiohttp import web

    from dockyard.registry.accesslog import CommonLogFormat, access_logger
    from dockyard.registry.server import parse_addr

    host, port = parse_addr(addr)
    runner = web.AppRunner(make_app(root, **options), access_log_class=CommonLogFormat, access_log=access_logger())
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    bound_host, bound_port = runner.addresses[0][:2]
    return runner, f"http://{f'[{bound_host}]' if ':' in bound_host else bound_host}:{bound_port}"


async def _serve_forever(addr: str, root: str | Path, **options) -> None:
    from dockyard.registry.server import serve_until_signalled

    await serve_until_signalled(start(addr, root, **options), "hub")


def serve(addr: str, root: str | Path, **options) -> None:
    """Serve until SIGINT or SIGTERM; prints `dockyard hub listening on URL` once ready."""
    if not logging.getLogger().handlers:
        logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")
    asyncio.run(_serve_forever(addr, root, **options))
