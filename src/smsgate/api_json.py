"""JSON as the original service writes it: dates ``"\\/Date(ms)\\/"``, money an exact number.

The API's answers and the pushes to clients' receivers (incoming messages, status callbacks)
show the same fields, written the same way.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson

from smsgate.domain.dates import to_api_date
from smsgate.domain.money import decimal_text
from smsgate.domain.states import MessageState

if TYPE_CHECKING:
    from smsgate.store.incoming import IncomingRow


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


def state_fields(state: MessageState) -> dict[str, Any]:
    """A part's state as the State endpoint and the status push show it."""
    return {"State": state.api_code, "StateDescription": state.api_description}


def incoming_fields(message: IncomingRow) -> dict[str, Any]:
    """A message as the Incoming endpoint and the instant push show it."""
    return {
        "Prefix": message.prefix,
        "Data": message.text,
        "SourceAddress": message.source,
        "DestinationAddress": message.destination,
        "ID": message.id,
        "CreatedDateUtc": message.created_at,
    }
