"""Part rows written straight to the store, for tests below the API."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from smsgate.domain.segments import Encoding
from smsgate.domain.states import MessageState
from smsgate.store.messages import PART_COLUMNS


def part_row(part_id: int, account_id: int, created_at: datetime, **values: Any) -> tuple[Any, ...]:
    """A one-part message's row, queued, in ``PART_COLUMNS`` order; ``values`` replace any."""
    part = {
        "id": part_id,
        "account_id": account_id,
        "group_id": part_id,
        "part_number": 1,
        "part_count": 1,
        "sender_name": "SMS Info",
        "destination": f"7900{part_id:07d}",
        "text": "Hi",
        "encoding": Encoding.GSM7.value,
        "price": Decimal("1.5"),
        "state": MessageState.QUEUED.value,
        "created_at": created_at,
        "due_at": created_at,
        "expires_at": created_at + timedelta(days=1),
        "reported_at": created_at,
        "attempts": 0,
        "callback_url": None,
        "timezone_step": None,
    } | values
    return tuple(part[column] for column in PART_COLUMNS)
