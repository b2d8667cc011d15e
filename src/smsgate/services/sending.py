"""Send requests: from the API's parameters to a billed ``SendOrder`` of numbered parts."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from smsgate.domain.errors import InvalidArgument, echoed
from smsgate.domain.phone import normalize_phone
from smsgate.domain.segments import Segmentation, segment_text
from smsgate.domain.sender import check_sender_allowed
from smsgate.domain.text import refuse_nul
from smsgate.domain.urls import http_url
from smsgate.services.auth import AccountProfile


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One text to one number; it becomes ``len(segmentation.parts)`` part rows."""

    destination: str
    segmentation: Segmentation
    price_per_part: Decimal
    due_at: datetime
    expires_at: datetime
    timezone_step: str | None  # SendByTime: the zone chain step that chose the local time's zone


# A destination's due time (UTC) and the zone step that decided it (None: no zone involved).
DueFor = Callable[[str], tuple[datetime, str | None]]


def _everyone_at(due_at: datetime) -> DueFor:
    same = (due_at, None)

    def due_for(_destination: str) -> tuple[datetime, str | None]:
        return same

    return due_for


def _due_and_expiry(
    wanted: datetime, now: datetime, validity: timedelta
) -> tuple[datetime, datetime]:
    due_at = max(wanted, now)
    try:
        return due_at, due_at + validity
    except OverflowError:
        raise InvalidArgument("Invalid sendDate: its validity ends after year 9999") from None


@dataclass(frozen=True, slots=True)
class FloodLimit:
    limit: int
    window: timedelta


@dataclass(frozen=True, slots=True)
class SendOrder:
    """Everything one API request asks to send, priced; accepted whole or not at all."""

    account_id: int
    sender_name: str
    messages: tuple[OutgoingMessage, ...]
    created_at: datetime
    callback_url: str | None
    flood: FloodLimit
    part_count: int
    cost: Decimal

    @classmethod
    def priced(
        cls,
        account_id: int,
        sender_name: str,
        messages: tuple[OutgoingMessage, ...],
        created_at: datetime,
        callback_url: str | None,
        flood: FloodLimit,
    ) -> SendOrder:
        """An order with its part count and cost summed from its messages."""
        parts = [len(message.segmentation.parts) for message in messages]
        cost = sum(
            (
                message.price_per_part * count
                for message, count in zip(messages, parts, strict=True)
            ),
            Decimal(0),
        )
        return cls(
            account_id, sender_name, messages, created_at, callback_url, flood, sum(parts), cost
        )


def validate_callback_url(raw: str | None) -> str | None:
    """An absolute http or https URL, stripped; ``InvalidArgument`` otherwise."""
    if raw is None:
        return None
    url = http_url(refuse_nul("callback_url", raw))
    if url is None:
        raise InvalidArgument(f"Invalid callback_url: {echoed(raw)}")
    return url


class OrderBuilder:
    """Applies the domain rules to a request: sender, numbers, parts, prices, times."""

    def __init__(self, default_flood: FloodLimit) -> None:
        self.default_flood = default_flood

    def build(
        self,
        account: AccountProfile,
        sender_name: str,
        recipients: Iterable[tuple[str, str]],
        *,
        send_at: datetime | DueFor | None,
        validity_minutes: int,
        callback_url: str | None,
        assigned: Callable[[str], bool] | None = None,
        now: datetime | None = None,
    ) -> SendOrder:
        """``recipients`` are (raw phone, text) pairs. ``send_at`` is every recipient's UTC due
        time, or gives each destination its own (SendByTime); None or a past time means now.
        ``assigned``: whether the numbering plan in force assigns a number (``normalize_phone``)."""
        check_sender_allowed(sender_name, account.sender_names, account.dynamic_sender)
        now = now or datetime.now(UTC)
        due_for = send_at if callable(send_at) else _everyone_at(send_at or now)
        validity = timedelta(minutes=validity_minutes)
        # (due, expiry) by wanted time: a bulk has a few distinct ones (one per zone at most).
        times: dict[datetime, tuple[datetime, datetime]] = {}
        segmentations: dict[str, Segmentation] = {}
        messages = []
        for raw_phone, text in recipients:
            destination = normalize_phone(raw_phone, assigned)
            wanted, step = due_for(destination)
            due = times.get(wanted)
            if due is None:
                due = times[wanted] = _due_and_expiry(wanted, now, validity)
            segmentation = segmentations.get(text)
            if segmentation is None:
                segmentation = segmentations[text] = segment_text(refuse_nul("Text", text))
            messages.append(
                OutgoingMessage(
                    destination=destination,
                    segmentation=segmentation,
                    price_per_part=account.tariff.price_for(destination),
                    due_at=due[0],
                    expires_at=due[1],
                    timezone_step=step,
                )
            )
        if not messages:
            raise InvalidArgument("No recipients")
        flood = self.default_flood
        if account.flood_limit is not None or account.flood_window_seconds is not None:
            flood = FloodLimit(
                account.flood_limit or flood.limit,
                timedelta(seconds=account.flood_window_seconds)
                if account.flood_window_seconds
                else flood.window,
            )
        return SendOrder.priced(
            account_id=account.id,
            sender_name=sender_name,
            messages=tuple(messages),
            created_at=now,
            callback_url=validate_callback_url(callback_url),
            flood=flood,
        )
