"""JSON as the original service writes it, and the ASGI messages that carry it.

Dates are ``"\\/Date(ms)\\/"`` and money is an exact decimal number. Responses are written
straight to ASGI: nearly every answer is a small JSON body, so a response object buys nothing.
A list that may be too long to hold at once goes out page by page (``JsonArrayAnswer``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from starlette.types import Send

from smsgate.domain.dates import to_api_date
from smsgate.domain.errors import ApiError
from smsgate.domain.money import decimal_text

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


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return orjson.Fragment(decimal_text(value))
    if isinstance(value, datetime):
        # The slashes escaped, as the original service writes them ("\/Date(...)\/").
        escaped = to_api_date(value).replace("/", "\\/")
        return orjson.Fragment(f'"{escaped}"')
    raise TypeError(f"cannot render {type(value).__name__}")


def render(value: Any) -> bytes:
    if type(value) is Decimal:  # a balance: the most frequent answer, and a plain number
        return decimal_text(value).encode()
    return orjson.dumps(value, default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME)


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
