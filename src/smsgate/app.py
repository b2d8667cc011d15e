"""The ASGI application: the REST API, the operations routes (``/healthz``, ``/readyz``,
``/metrics``), and the lifespan that runs the platform's workers (the dispatcher and the
simulated SMSC in the embedded mode) and, at shutdown, lets the dispatcher finish its work."""

from __future__ import annotations

import asyncio
import logging

from starlette.types import ASGIApp, Receive, Scope, Send

from smsgate.api.health import Readiness
from smsgate.api.metrics import MetricsApp
from smsgate.api.rest.rendering import send_json
from smsgate.api.rest.router import RestApp
from smsgate.config import Settings
from smsgate.platform import Platform

log = logging.getLogger(__name__)

HEALTHY = b'{"status":"ok"}'


class SmsgateApp:
    """Routes ``/healthz``, ``/readyz``, ``/metrics`` (unless it has a port of its own) and
    everything else to the REST app; runs the workers in the lifespan."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.rest = RestApp(platform)
        self.metrics = MetricsApp(platform)
        self.readiness = Readiness(platform)
        self.operations: dict[str, ASGIApp] = {"/readyz": self.readiness}
        if platform.settings.metrics_port is None:
            self.operations["/metrics"] = self.metrics
        self.stopped = False
        self.threads_left = False
        self._abort = asyncio.Event()
        self._workers: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if path == "/healthz":
                await send_json(send, 200, HEALTHY)
            elif path in self.operations:
                await self.operations[path](scope, receive, send)
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
                await self._stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def abort(self) -> None:
        """Cut a graceful shutdown short: the workers stop at once."""
        self._abort.set()

    async def _stop(self) -> None:
        if self._workers is not None:
            await self.platform.finish_delivery(self._abort)
            self._workers.cancel()
            await asyncio.gather(self._workers, return_exceptions=True)
        self.readiness.close()
        # Threads stuck in a database call: the process must not wait for them to end.
        self.threads_left = not self.platform.close()
        self.stopped = True


def _workers_ended(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.critical("platform workers stopped", exc_info=task.exception())


def create_app(settings: Settings) -> SmsgateApp:
    return SmsgateApp(Platform.open(settings))
