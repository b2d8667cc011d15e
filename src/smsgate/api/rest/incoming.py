"""``Incoming``: the caller's incoming messages of a period."""

from __future__ import annotations

from typing import Any

from smsgate.api.rest.call import ApiCall
from smsgate.api.rest.state import period_bound
from smsgate.services import incoming as service


async def incoming(call: ApiCall) -> list[dict[str, Any]]:
    account = await call.account()
    start = period_bound(call, "minDateUTC")
    end = period_bound(call, "maxDateUTC")
    messages = await service.read_period(call.platform.database, account.id, start, end)
    return [service.incoming_fields(message) for message in messages]
