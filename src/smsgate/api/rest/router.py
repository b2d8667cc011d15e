"""The ``/rest`` ASGI app: finds the endpoint for a path and turns its result into JSON.

Paths are matched case-insensitively with doubled and trailing slashes ignored, so every
endpoint answers at ``Session``, ``Session/``, ``Session//`` and its ``.php`` alias.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from smsgate.api.rest import account, incoming, send, state
from smsgate.api.rest.call import ApiCall
from smsgate.api.rest.params import Params, parse_form
from smsgate.api.rest.rendering import render, render_error, send_json
from smsgate.domain.errors import ApiError, InternalError, InvalidArgument, InvalidOperation
from smsgate.platform import Platform

log = logging.getLogger(__name__)

MAX_FORM_PART = 64 * 1024 * 1024

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
    "incoming": incoming.incoming,
}


def route_key(path: str) -> str:
    """``/rest//Session/session.php/`` -> ``session/session.php``; "" outside ``/rest``."""
    segments = [segment for segment in path.lower().split("/") if segment]
    if not segments or segments[0] != "rest":
        return ""
    return "/".join(segments[1:])


async def read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionAbortedError("client went away")
        if not message.get("more_body", False):
            if not chunks:  # the usual case: the whole body in one message
                return bytes(message.get("body", b""))
            chunks.append(message.get("body", b""))
            return b"".join(chunks)
        chunks.append(message.get("body", b""))


def content_type(scope: Scope) -> bytes:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return bytes(value)
    return b""


async def read_params(scope: Scope, receive: Receive) -> Params:
    query = parse_form(scope["query_string"].decode("utf-8", "replace"))
    if content_type(scope).lower().startswith(b"multipart/form-data"):
        try:
            # A field may hold a bulk list of 100,000 numbers: well over Starlette's 1 MB.
            async with Request(scope, receive).form(max_part_size=MAX_FORM_PART) as form:
                body = [
                    (name, value)
                    for name, value in form.multi_items()
                    if not isinstance(value, UploadFile)
                ]
        except (MultiPartException, HTTPException):
            raise InvalidArgument("Invalid multipart/form-data body") from None
        return Params(query, body)
    raw = await read_body(receive)
    return Params(query, parse_form(raw.decode("utf-8", "replace")) if raw else ())


class RestApp:
    """Serves the Stream Telecom-compatible API; every answer is JSON."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            status, body = await self.answer(scope, receive)
        except ConnectionAbortedError:
            return
        await send_json(send, status, body)

    async def answer(self, scope: Scope, receive: Receive) -> tuple[int, bytes]:
        path = scope["path"]
        endpoint = ROUTES.get(route_key(path))
        try:
            if endpoint is None:
                raise InvalidOperation(f"Unknown method {path}")
            params = await read_params(scope, receive)
            return 200, render(await endpoint(ApiCall(params, self.platform)))
        except ApiError as error:
            return render_error(error)
        except ConnectionAbortedError:
            raise
        except Exception:
            request_id = uuid.uuid4().hex[:16]
            log.exception("request %s to %s failed", request_id, path)
            return render_error(InternalError(f"Internal server error, request id {request_id}"))
