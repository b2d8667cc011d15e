"""The ASGI messages that carry the API's JSON (``smsgate.api_json``), and the HTTP status of
each error code.

Responses are written straight to ASGI: nearly every answer is a small JSON body, so a response
object buys nothing. A list that may be too long to hold at once goes out page by page
(``JsonArrayAnswer``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.types import Send

from smsgate.api_json import render
from smsgate.domain.errors import ApiError

JSON_HEADERS = [(b"content-type", b"application/json; charset=utf-8")]

HTTP_STATUS_BY_CODE = {
    1: 400,
    2: 400,
    3: 400,
    4: 401,
    5: 403,
    6: 400,
    7: 403,
    8: 500,
    9: 500,
    10: 400,
}


def render_error(error: ApiError) -> tuple[int, bytes]:
    return HTTP_STATUS_BY_CODE.get(error.code, 500), render(
        {"Code": error.code, "Desc": error.desc}
    )


async def send_json(send: Send, status: int, body: bytes) -> None:
    headers = [*JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@dataclass(frozen=True, slots=True)
class JsonArrayAnswer:
    """A JSON array sent as its ``pages`` of items come, never held whole in memory."""

    pages: AsyncIterator[list[Any]]


async def send_json_array(send: Send, pages: AsyncIterator[list[Any]]) -> None:
    """The items of ``pages`` as one JSON array, a body chunk per page."""
    await send({"type": "http.response.start", "status": 200, "headers": JSON_HEADERS})
    opening = b"["
    async for page in pages:
        if page:
            items = render(page)[1:-1]  # the page's own array without its brackets
            await send({"type": "http.response.body", "body": opening + items, "more_body": True})
            opening = b","
    await send({"type": "http.response.body", "body": b"[]" if opening == b"[" else b"]"})
