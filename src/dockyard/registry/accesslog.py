"""One line per request in Common Log Format, safe to keep.

`remote - user [time] "METHOD path HTTP/x.y" status bytes`: the path is logged raw (still
percent-encoded, so no newline can be injected) and without its query string, which may
carry credentials or tokens; headers, and so Authorization, are never logged.
"""

from __future__ import annotations

import logging
import time

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

from dockyard.registry.auth import USER_KEY

LOGGER_NAME = "dockyard.registry.access"


class CommonLogFormat(AbstractAccessLogger):
    def log(self, request: BaseRequest, response: StreamResponse, duration: float) -> None:
        when = time.strftime("%d/%b/%Y:%H:%M:%S %z")
        user = request.get(USER_KEY) or "-"
        version = f"HTTP/{request.version.major}.{request.version.minor}"
        line = (
            f'{request.remote or "-"} - {user} [{when}] "{request.method} {request.rel_url.raw_path} {version}" '
            f"{response.status} {'-' if response.content_length is None else response.content_length}"
        )
        self.logger.info(line)


def access_logger() -> logging.Logger:
    return logging.getLogger(LOGGER_NAME)
