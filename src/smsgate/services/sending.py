"""Send requests: from the API's parameters to a billed ``SendOrder`` of numbered parts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlsplit

from smsgate.domain.errors import InvalidArgument
from smsgate.domain.phone import normalize_phone
from smsgate.domain.segments import Segmentation, segment_text
from smsgate.domain.sender import check_sender_allowed
from smsgate.services.auth import AccountProfile


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One text to one number; it becomes ``len(segmentation.parts)`` part rows."""

    destination: str
    segmentation: Segmentation
    price_per_part: Decimal
    due_at: datetime
    expires_at: datetime


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

    @property
    def part_count(self) -> int:
        return sum(len(message.segmentation.parts) for message in self.messages)

    @property
    def cost(self) -> Decimal:
        return sum(
            (message.price_per_part * len(message.segmentation.parts) for message in self.messages),
            Decimal(0),
        )


def validate_callback_url(raw: str | None) -> str | None:
    if raw is None:
        return None
    url = raw.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidArgument(f"Invalid callback_url: {raw}")
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
        send_at: datetime | None,
        validity_minutes: int,
        callback_url: str | None,
        now: datetime | None = None,
    ) -> SendOrder:
        """``recipients`` are (raw phone, text) pairs; ``send_at`` is UTC (past means now)."""
        check_sender_allowed(sender_name, account.sender_names, account.dynamic_sender)
        now = now or datetime.now(UTC)
        due_at = max(send_at, now) if send_at is not None else now
        expires_at = due_at + timedelta(minutes=validity_minutes)
        segmentations: dict[str, Segmentation] = {}
        messages = []
        for raw_phone, text in recipients:
            destination = normalize_phone(raw_phone)
            segmentation = segmentations.get(text)
            if segmentation is None:
                segmentation = segmentations[text] = segment_text(text)
            messages.append(
                OutgoingMessage(
                    destination=destination,
                    segmentation=segmentation,
                    price_per_part=account.tariff.price_for(destination),
                    due_at=due_at,
                    expires_at=expires_at,
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
        return SendOrder(
            account_id=account.id,
            sender_name=sender_name,
            messages=tuple(messages),
            created_at=now,
            callback_url=validate_callback_url(callback_url),
            flood=flood,
        )
