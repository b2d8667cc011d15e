"""JSON as the original service writes it: dates ``"\\/Date(ms)\\/"``, money an exact number.

The API's answers and the pushes to clients' receivers (incoming messages, status callbacks)
show the same fields, written the same way.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from smsgate.domain.dates import to_api_date
from smsgate.domain.money import decimal_text


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return orjson.Fragment(decimal_text(value))  # the exact amount, never a float
    if isinstance(value, datetime):
        # The slashes escaped, as the original service writes them ("\/Date(...)\/").
        escaped = to_api_date(value).replace("/", "\\/")
        return orjson.Fragment(f'"{escaped}"')
    raise TypeError(f"cannot render {type(value).__name__}")


def render(value: Any) -> bytes:
    if type(value) is Decimal:  # a balance: the most frequent answer, and a plain number
        return decimal_text(value).encode()
    return orjson.dumps(value, default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME)
