"""``Incoming``: the caller's incoming messages of a period."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from smsgate.api.rest.call import ApiCall
from smsgate.api.rest.rendering import JsonArrayAnswer
from smsgate.api.rest.state import period_bound
from smsgate.api_json import incoming_fields
from smsgate.services import incoming as service


async def incoming(call: ApiCall) -> list[dict[str, Any]] | JsonArrayAnswer:
    account = await call.account()
    start = period_bound(call, "minDateUTC")
    end = period_bound(call, "maxDateUTC")
    pages = service.read_period(call.platform.database, account.id, start, end)
    first = await anext(pages)  # before the answer starts: the period's errors answer as such
    if len(first) < service.INCOMING_PAGE_ROWS:
        return _fields(first)
    return JsonArrayAnswer(_fields_of_pages(first, pages))


def _fields(page: service.IncomingPage) -> list[dict[str, Any]]:
    return [incoming_fields(message) for message in page]


async def _fields_of_pages(
    first: service.IncomingPage, rest: AsyncIterator[service.IncomingPage]
) -> AsyncIterator[list[dict[str, Any]]]:
    yield _fields(first)
    async for page in rest:
        yield _fields(page)
