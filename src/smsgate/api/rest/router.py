"""The ``/rest`` ASGI app: finds the endpoint for a path and turns its result into JSON.

Paths are matched case-insensitively with doubled and trailing slashes ignored, so every
endpoint answers at ``Session``, ``Session/``, ``Session//`` and its ``.php`` alias.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from time import perf_counter
from typing import Any

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from smsgate.api.observe import RequestObserver
from smsgate.api.rest import account, incoming, reports, send, state
from smsgate.api.rest.body import read_params
from smsgate.api.rest.call import ApiCall
from smsgate.api.rest.rendering import (
    JsonArrayAnswer,
    render_error,
    send_json,
    send_json_array,
)
from smsgate.api.rest.reports import FileAnswer
from smsgate.api_json import render
from smsgate.domain.errors import (
    ApiError,
    InternalError,
    InvalidOperation,
    echoed,
)
from smsgate.platform import Platform
from smsgate.services.limits import client_address

log = logging.getLogger(__name__)

# Report files are read and sent in pieces of this size.
FILE_CHUNK = 64 * 1024
# Raw paths whose endpoint a RestApp remembers: clients choose paths, so the memo is bounded.
REMEMBERED_PATHS = 1024
# Labels of requests that name no endpoint, and of those whose client went away.
UNKNOWN_ENDPOINT = "unknown"
ABORTED = "aborted"
CLIENT_CLOSED = 499
# The HTTP methods an endpoint answers (API.md, Requests).
API_METHODS = frozenset({"GET", "POST"})

Endpoint = Callable[[ApiCall], Awaitable[Any]]

ROUTES: dict[str, Endpoint] = {
    "session": account.session,
    "session/session.php": account.session,
    "balance": account.balance,
    "balance/balance.php": account.balance,
    "balance/price_list.php": account.price_list,
    "statistic/originator.php": account.originator,
    "send/sendsms": send.send_sms,
    "send/sendbytime": send.send_by_time,
    "send/sendbulk": send.send_bulk,
    "send/sendbulkpacket": send.send_bulk_packet,
    "state": state.state,
    "state/state.php": state.state,
    "statistic": state.statistic,
    "statistic/all_stat.php": reports.all_stat,
    "incoming": incoming.incoming,
}


def route_key(path: str) -> str:
    """``/rest//Session/session.php/`` -> ``session/session.php``; "" outside ``/rest``."""
    segments = [segment for segment in path.lower().split("/") if segment]
    if not segments or segments[0] != "rest":
        return ""
    return "/".join(segments[1:])


async def send_file(answer: FileAnswer, scope: Scope, receive: Receive, send: Send) -> None:
    """``answer``'s file as an attachment, read from the file already open: a path opened
    only now may have been swept since the endpoint found it."""

    async def chunks() -> AsyncIterator[bytes]:
        while chunk := await asyncio.to_thread(answer.content.read, FILE_CHUNK):
            yield chunk

    response = StreamingResponse(
        chunks(),
        media_type=answer.media_type,
        headers={
            "content-length": str(answer.size),
            "content-disposition": f'attachment; filename="{answer.filename}"',
        },
    )
    await response(scope, receive, send)


class RestApp:
    """Serves the Stream Telecom-compatible API; every answer is JSON but report files."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.max_body = platform.settings.max_body_bytes
        self.observer = RequestObserver()
        self._endpoints: dict[str, tuple[Endpoint | None, str]] = {}

    def endpoint(self, path: str) -> tuple[Endpoint | None, str]:
        """The endpoint at ``path`` and its name; remembered by raw path, as clients repeat
        theirs."""
        found = self._endpoints.get(path)
        if found is None:
            endpoint = ROUTES.get(route_key(path))
            found = endpoint, endpoint.__name__ if endpoint is not None else UNKNOWN_ENDPOINT
            if len(self._endpoints) < REMEMBERED_PATHS:
                self._endpoints[path] = found
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = perf_counter()
        request_id = self.observer.request_id()
        client = scope.get("client")
        # For the login throttle's count by address (the proxy's client when it is trusted).
        client_address.set(client[0] if client else None)
        endpoint, name = self.endpoint(scope["path"])
        try:
            code, answer = await self.answer(scope, receive, endpoint, request_id)
        except ConnectionAbortedError:
            self.observer.done(scope, request_id, name, ABORTED, CLIENT_CLOSED, started)
            return
        if isinstance(answer, FileAnswer):
            try:
                await send_file(answer, scope, receive, send)
            finally:
                answer.content.close()
            status = 200
        elif isinstance(answer, JsonArrayAnswer):
            status = 200
            try:
                await send_json_array(send, answer.pages)
            except Exception:
                # The status went out with the first page: returning with the answer unfinished
                # makes the server cut the connection, which tells the client it is not whole.
                log.exception("request %s to %s failed while answering", request_id, name)
                code = str(InternalError.code)
        else:
            status = answer[0]
            await send_json(send, *answer)
        self.observer.done(scope, request_id, name, code, status, started)

    async def answer(
        self, scope: Scope, receive: Receive, endpoint: Endpoint | None, request_id: str
    ) -> tuple[str, tuple[int, bytes] | FileAnswer | JsonArrayAnswer]:
        """The API code of the outcome ("0": success) and the answer."""
        path = scope["path"]
        try:
            if endpoint is None:
                raise InvalidOperation(f"Unknown method {echoed(path)}")
            if scope["method"] not in API_METHODS:
                # A HEAD or OPTIONS (a link checker, a CORS preflight) must not send and bill.
                raise InvalidOperation(
                    f"HTTP method {echoed(scope['method'])} not allowed: use GET or POST"
                )
            params = await read_params(scope, receive, self.max_body)
            result = await endpoint(ApiCall(params, self.platform))
            streamed = isinstance(result, FileAnswer | JsonArrayAnswer)
            return "0", result if streamed else (200, render(result))
        except ApiError as error:
            return str(error.code), render_error(error)
        except ConnectionAbortedError:
            raise
        except asyncio.CancelledError:
            # The shutdown timeout ran out with the request unfinished, and the server cancels
            # what is left: a JSON answer rather than its plain-text 500, and a line rather
            # than a traceback. What the request began (a send's write) may still commit.
            log.warning("request %s to %s cut short by the shutdown", request_id, path)
            failure = InternalError(
                f"The server stopped before the request was answered (it may have been carried "
                f"out), request id {request_id}"
            )
            return str(failure.code), render_error(failure)
        except Exception:
            log.exception("request %s to %s failed", request_id, path)
            failure = InternalError(f"Internal server error, request id {request_id}")
            return str(failure.code), render_error(failure)
