"""The ASGI application and its lifespan: the API, and in embedded mode the workers too."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from smsgate.api.rest.rendering import JsonResponse
from smsgate.api.rest.router import RestApp
from smsgate.config import Settings
from smsgate.platform import Platform


async def healthz(_request: Request) -> Response:
    return JsonResponse({"status": "ok"})


async def _not_found(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    return JsonResponse(
        {"Code": 6, "Desc": f"Unknown method {request.url.path}"}, status_code=status
    )


def create_app(settings: Settings) -> Starlette:
    platform = Platform.open(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        workers = asyncio.create_task(platform.run_workers())
        try:
            yield
        finally:
            workers.cancel()
            await asyncio.gather(workers, return_exceptions=True)
            platform.close()

    return Starlette(
        routes=[Route("/healthz", healthz), Mount("/rest", app=RestApp(platform))],
        exception_handlers={HTTPException: _not_found},
        lifespan=lifespan,
    )
