"""Serving the app with uvicorn: HTTP and HTTPS listeners, a metrics port, a draining shutdown.

The first listener's server runs the app's lifespan (the platform's workers); the others are
companions in the same event loop that serve the same app (or the metrics app) without one.

The first SIGTERM (or Ctrl-C) stops accepting connections and lets in-flight requests finish;
then the lifespan lets the dispatcher finish its batches in flight and take delivery reports for
a grace period. A second signal, or the shutdown timeout, stops everything at once. Nothing
acknowledged is lost either way: every acknowledgement follows a commit, and the database is the
queue (parts left in flight are picked up again at the next start).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Sequence
from types import FrameType
from typing import Any

import uvicorn

from smsgate.api.protocol import guarded_http
from smsgate.app import SmsgateApp, create_app
from smsgate.config import Settings
from smsgate.garbage_collection import collect_rarely
from smsgate.logs import configure_logging

# uvicorn's exit status when a listener cannot start.
STARTUP_FAILURE = 3


class SmsgateServer(uvicorn.Server):
    """uvicorn's server with companion listeners, where any second signal forces the exit."""

    def __init__(
        self,
        config: uvicorn.Config,
        app: SmsgateApp,
        companions: Sequence[uvicorn.Config],
        companion_sockets: Sequence[socket.socket] | None = None,
    ) -> None:
        super().__init__(config)
        self.app = app
        self.companions = [uvicorn.Server(companion) for companion in companions]
        self.companion_sockets = companion_sockets
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ignores_interrupt = interrupt_ignored()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets)
        for index, companion in enumerate(self.companions):
            companion.config.load()
            companion.lifespan = companion.config.lifespan_class(companion.config)
            bound = self.companion_sockets
            try:
                await companion.startup([bound[index]] if bound is not None else None)
            except SystemExit:
                # uvicorn logged why it cannot listen there: stop as when the first port
                # cannot, the app (delivery, database) shut down in order, not cancelled.
                for server in self.servers:
                    server.close()
                await self.lifespan.shutdown()
                self.started = False
                self.should_exit = True
                return

    async def on_tick(self, counter: int) -> bool:
        for companion in self.companions:
            await companion.on_tick(counter)  # keeps their Date headers current
        return await super().on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # Every listener stops taking connections and drains at once, but the app's lifespan,
        # which closes the database, waits for the companions' requests too: uvicorn runs it
        # once only this listener's own are done.
        companions = asyncio.gather(*(companion.shutdown() for companion in self.companions))
        self.lifespan = _AfterCompanions(self.lifespan, companions)
        try:
            await super().shutdown(sockets)
        finally:
            await companions
        if not self.app.stopped:
            # A second signal came before the lifespan's turn, so uvicorn skipped it: the app
            # still stops its workers and closes the database (at once, as it is aborted).
            await self.lifespan.shutdown()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # uvicorn forces only on a second Ctrl-C, and raises the signal again once stopped (so
        # even a drained shutdown would end by the signal); here any second signal forces, and a
        # shutdown ends with status 0.
        if sig == signal.SIGINT and self._ignores_interrupt:
            return
        if not self.should_exit:
            self.should_exit = True
            return
        self.force_exit = True
        for companion in self.companions:
            companion.force_exit = True
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.app.abort)


class _AfterCompanions:
    """The app's lifespan, shut down only once the companion listeners have drained."""

    def __init__(self, lifespan: Any, companions: Awaitable[object]) -> None:
        self.lifespan = lifespan
        self.companions = companions

    async def shutdown(self) -> None:
        await self.companions
        await self.lifespan.shutdown()


_interrupts_to_the_supervisor = False


def leave_interrupts_to_the_supervisor() -> None:
    """Called in each child of ``serve --workers``: Ctrl-C reaches the whole process group,
    and the supervisor passes it on as SIGTERM, so a child acting on it too would take one
    stop for two (the second forcing)."""
    global _interrupts_to_the_supervisor
    _interrupts_to_the_supervisor = True


def interrupt_ignored() -> bool:
    """Whether SIGINT is the supervisor's to act on, not this process's."""
    return _interrupts_to_the_supervisor


def listener_ports(settings: Settings) -> list[int]:
    """The ports served, in this order: plain HTTP, HTTPS, metrics (each when configured)."""
    ports = []
    if settings.plain_http:
        ports.append(settings.port)
    if settings.ssl_certfile is not None:
        ports.append(settings.ssl_port)
    if settings.metrics_port is not None:
        ports.append(settings.metrics_port)
    return ports


def listeners(app: SmsgateApp, settings: Settings) -> list[uvicorn.Config]:
    """A listener per port of ``listener_ports``, in its order; the first runs the lifespan."""
    trusted = settings.forwarded_allow_ips

    def listener(port: int) -> uvicorn.Config:
        https = settings.ssl_certfile is not None and port == settings.ssl_port
        return uvicorn.Config(
            app.metrics if port == settings.metrics_port else app,
            host=settings.host,
            port=port,
            ssl_certfile=settings.ssl_certfile if https else None,
            ssl_keyfile=settings.ssl_keyfile if https else None,
            # X-Forwarded-For is believed only from the configured proxies.
            proxy_headers=bool(trusted),
            forwarded_allow_ips=trusted or None,
            log_config=None,
            log_level=settings.log_level,
            access_log=False,  # the app logs each request itself
            timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
            lifespan="off",
            # The API has no WebSocket: an upgrade request is answered as plain HTTP (with
            # the websockets package installed, uvicorn took it and answered 500).
            ws="none",
            http=guarded_http(
                settings.request_head_timeout_seconds,
                settings.request_stall_timeout_seconds,
                settings.max_body_bytes,
            ),
        )

    configs = [listener(port) for port in listener_ports(settings)]
    configs[0].lifespan = "on"
    return configs


def serve(settings: Settings, sockets: Sequence[socket.socket] | None = None) -> None:
    """Serve until signalled; exit with status 3 when a listener cannot start.

    ``sockets``: listening sockets bound already (by a supervisor), one per listener in the
    order of ``listeners``; without them each listener binds its own.
    """
    log_writer = configure_logging(
        settings.log_format, settings.log_level, access=settings.access_log
    )
    try:
        app = create_app(settings)
        collect_rarely()
        first, *companions = listeners(app, settings)
        bound = list(sockets) if sockets is not None else None
        server = SmsgateServer(first, app, companions, bound[1:] if bound else None)
        server.run(sockets=bound[:1] if bound else None)
    finally:
        log_writer.stop()
    if not server.started:
        sys.exit(STARTUP_FAILURE)
    if app.threads_left:
        os._exit(0)  # the interpreter's exit would wait for them for ever
