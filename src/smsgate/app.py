"""The ASGI application: the REST API, a bare health route, and the lifespan that runs the
platform's workers (the dispatcher and the simulated SMSC in the embedded mode)."""

from __future__ import annotations

import asyncio
import logging

from starlette.types import Receive, Scope, Send

from smsgate.api.rest.rendering import send_json
from smsgate.api.rest.router import RestApp
from smsgate.config import Settings
from smsgate.platform import Platform

log = logging.getLogger(__name__)

HEALTHY = b'{"status":"ok"}'


class SmsgateApp:
    """Routes ``/healthz`` and everything else to the REST app; runs workers in the lifespan."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.rest = RestApp(platform)
        self._workers: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if scope["path"] == "/healthz":
                await send_json(send, 200, HEALTHY)
            else:
                await self.rest(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._workers = asyncio.create_task(self.platform.run_workers())
                self._workers.add_done_callback(_workers_ended)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._workers is not None:
                    self._workers.cancel()
                    await asyncio.gather(self._workers, return_exceptions=True)
                self.platform.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _workers_ended(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.critical("platform workers stopped", exc_info=task.exception())


def create_app(settings: Settings) -> SmsgateApp:
    return SmsgateApp(Platform.open(settings))
