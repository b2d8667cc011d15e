"""``State`` and ``Statistic``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from smsgate.api.rest.call import ApiCall
from smsgate.api_json import state_fields
from smsgate.domain.dates import parse_api_datetime
from smsgate.domain.digits import quoted_id
from smsgate.domain.errors import InvalidArgument, echoed
from smsgate.domain.states import UNKNOWN_STATE_CODE, UNKNOWN_STATE_DESCRIPTION
from smsgate.services import reading


def message_id(raw: str) -> int:
    part_id = quoted_id(raw)
    if part_id is None:
        raise InvalidArgument(f"Invalid messageId: {echoed(raw)}")
    return part_id


async def state(call: ApiCall) -> dict[str, Any]:
    account = await call.account()
    part_id = message_id(call.params.require("messageId"))
    now = datetime.now(UTC)
    found = await reading.part_state(call.platform.database, account.id, part_id)
    if found is None:
        return {
            "State": UNKNOWN_STATE_CODE,
            "StateDescription": UNKNOWN_STATE_DESCRIPTION,
            "CreationDateUtc": None,
            "SubmittedDateUtc": None,
            "ReportedDateUtc": now,
            "TimeStampUtc": now,
            "Price": 0,
        }
    return {
        **state_fields(found.state),
        "CreationDateUtc": found.created_at,
        "SubmittedDateUtc": found.submitted_at,
        "ReportedDateUtc": found.reported_at,
        "TimeStampUtc": now,
        "Price": found.price,
    }


def period_bound(call: ApiCall, name: str) -> datetime:
    return parse_api_datetime(call.params.require(name)).replace(tzinfo=UTC)


async def statistic(call: ApiCall) -> dict[str, int]:
    account = await call.account()
    start = period_bound(call, "startDateTime")
    end = period_bound(call, "endDateTime")
    figures = await reading.statistic(call.platform.database, account.id, start, end)
    return {
        "Sent": figures.sent,
        "Delivered": figures.delivered,
        "NotDelivered": figures.not_delivered,
        "InProgress": figures.in_progress,
        "InProcess": figures.in_progress,
        "Expired": figures.expired,
        "DeliveryRatio": figures.delivery_ratio,
    }
