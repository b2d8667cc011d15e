"""The API's calls as data: the path and parameters of a request, and how to read its answer.

Both clients (``clients.py``) run the same calls, one blocking, one async; nothing here does
I/O. Answers are read with money as ``Decimal`` and dates as UTC ``datetime``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

T = TypeVar("T")

_API_DATE = re.compile(r"/Date\((-?\d+)\)/")


class SmsApiError(Exception):
    """An error answer: the API's ``Code`` and ``Desc`` (None when the body was not the API's
    error, e.g. a proxy's page) and the HTTP status."""

    def __init__(self, status: int, code: int | None, desc: str) -> None:
        # The arguments as given: an error pickled (from a process pool's worker) is rebuilt
        # from them.
        super().__init__(status, code, desc)
        self.status = status
        self.code = code
        self.desc = desc

    def __str__(self) -> str:
        shown = f"HTTP {self.status}, Code {self.code}" if self.code else f"HTTP {self.status}"
        return f"{shown}: {self.desc}"


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One request: ``path`` under ``/rest/``, its ``params``, and ``read`` for its answer."""

    path: str
    params: Mapping[str, str]
    read: Callable[[Any], T]
    # Session/ alone is called without a session id.
    authenticated: bool = True


@dataclass(frozen=True, slots=True)
class PartState:
    state: int  # -1 in progress, 0 Delivered, 42 NotDelivered, 46 Expired, 255 unknown
    description: str
    created: datetime | None
    submitted: datetime | None
    reported: datetime | None
    price: Decimal


@dataclass(frozen=True, slots=True)
class Statistic:
    sent: int
    delivered: int
    not_delivered: int
    in_progress: int
    expired: int
    delivery_ratio: int


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    id: int
    prefix: str
    text: str
    source: str
    destination: str
    created: datetime | None


def parse_answer(status: int, body: bytes) -> Any:
    """The JSON of a 2xx answer (numbers with a fraction as ``Decimal``); ``SmsApiError``
    for any other."""
    try:
        value = json.loads(body, parse_float=Decimal) if body else None
    except ValueError:
        value = None
        if 200 <= status < 300:
            raise SmsApiError(status, None, f"not JSON: {body[:200]!r}") from None
    if 200 <= status < 300:
        return value
    if isinstance(value, dict) and "Code" in value:
        raise SmsApiError(status, int(value["Code"]), str(value.get("Desc", "")))
    raise SmsApiError(status, None, body[:200].decode(errors="replace"))


def read_answer(call: Call[T], status: int, body: bytes) -> T:
    """``call``'s answer from a response; ``SmsApiError`` for an error, and for a body that is
    not the API's answer to it (a wrong URL, a proxy's page)."""
    value = parse_answer(status, body)
    try:
        return call.read(value)
    except (TypeError, KeyError, ValueError, ArithmeticError) as error:
        raise SmsApiError(status, None, f"not the API's answer ({error}): {body[:200]!r}") from None


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"a string expected, not {type(value).__name__}")
    return value


def api_date(moment: datetime) -> str:
    """A time as the API takes it: UTC, to the second (a naive ``moment`` is taken as UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def _date(value: Any) -> datetime | None:
    match = _API_DATE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    return datetime.fromtimestamp(int(match[1]) / 1000, UTC)


def _ids(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(part_id, str) for part_id in value):
        raise TypeError("a list of ids expected")
    return value


def _money(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(value)


def _sending(
    sender: str,
    send_date: datetime | None,
    validity_minutes: int | None,
    callback_url: str | None,
) -> dict[str, str]:
    params = {"sourceAddress": sender}
    if send_date is not None:
        params["sendDate"] = api_date(send_date)
    if validity_minutes is not None:
        params["validity"] = str(validity_minutes)
    if callback_url is not None:
        params["callback_url"] = callback_url
    return params


def _number_list(destinations: Iterable[str] | str) -> str:
    # A string is a number, or a list as the API writes one; joined letter by letter it would
    # be a list of digits.
    return destinations if isinstance(destinations, str) else ",".join(destinations)


def session(login: str, password: str) -> Call[str]:
    """A session id (API key) for the account."""
    return Call("Session/", {"login": login, "password": password}, _text, authenticated=False)


def balance() -> Call[Decimal]:
    """The account's balance."""
    return Call("Balance/", {}, _money)


def send_sms(
    sender: str,
    destination: str,
    text: str,
    *,
    send_date: datetime | None = None,
    validity_minutes: int | None = None,
    callback_url: str | None = None,
) -> Call[list[str]]:
    """Send ``text`` to ``destination``; the id of each SMS part."""
    params = _sending(sender, send_date, validity_minutes, callback_url)
    return Call("Send/SendSms/", {**params, "destinationAddress": destination, "data": text}, _ids)


def send_bulk(
    sender: str,
    destinations: Iterable[str] | str,
    text: str,
    *,
    send_date: datetime | None = None,
    validity_minutes: int | None = None,
    callback_url: str | None = None,
) -> Call[list[str]]:
    """Send one ``text`` to every destination; the ids of the first one's parts, then the
    next one's."""
    params = _sending(sender, send_date, validity_minutes, callback_url)
    numbers = _number_list(destinations)
    return Call("Send/SendBulk/", {**params, "destinationAddresses": numbers, "data": text}, _ids)


def send_bulk_packet(
    sender: str,
    messages: Sequence[tuple[str, str]],
    *,
    send_date: datetime | None = None,
    validity_minutes: int | None = None,
) -> Call[list[str]]:
    """Send each (destination, text) of ``messages``; the ids of their parts, in order."""
    params = _sending(sender, send_date, validity_minutes, None)
    packet = {"sms": [{"phone": phone, "text": text} for phone, text in messages]}
    return Call("Send/SendBulkPacket/", {**params, "phone_data": json.dumps(packet)}, _ids)


def send_by_time(
    sender: str,
    destinations: Iterable[str] | str,
    text: str,
    local_time: datetime,
    *,
    validity_minutes: int | None = None,
) -> Call[list[str]]:
    """Send ``text`` to each destination at ``local_time`` (naive) in the destination's time
    zone."""
    params = _sending(sender, None, validity_minutes, None)
    params |= {
        "destinationAddress": _number_list(destinations),
        "data": text,
        "sendDate": local_time.replace(tzinfo=None).strftime("%Y-%m-%dT%H:%M:%S"),
    }
    return Call("Send/SendByTime/", params, _ids)


def state(message_id: str) -> Call[PartState]:
    """The state of one SMS part."""

    def read(value: Any) -> PartState:
        return PartState(
            state=int(value["State"]),
            description=str(value["StateDescription"]),
            created=_date(value["CreationDateUtc"]),
            submitted=_date(value["SubmittedDateUtc"]),
            reported=_date(value["ReportedDateUtc"]),
            price=_money(value["Price"]),
        )

    return Call("State/", {"messageId": message_id}, read)


def statistic(start: datetime, end: datetime) -> Call[Statistic]:
    """Counts by state of the parts created from ``start`` to ``end`` (at most 90 days)."""

    def read(value: Any) -> Statistic:
        return Statistic(
            sent=int(value["Sent"]),
            delivered=int(value["Delivered"]),
            not_delivered=int(value["NotDelivered"]),
            in_progress=int(value["InProgress"]),
            expired=int(value["Expired"]),
            delivery_ratio=int(value["DeliveryRatio"]),
        )

    params = {"startDateTime": api_date(start), "endDateTime": api_date(end)}
    return Call("Statistic/", params, read)


def incoming(start: datetime, end: datetime) -> Call[list[IncomingMessage]]:
    """The incoming messages received from ``start`` to ``end``, oldest first."""

    def read(value: Any) -> list[IncomingMessage]:
        return [
            IncomingMessage(
                id=int(message["ID"]),
                prefix=str(message["Prefix"]),
                text=str(message["Data"]),
                source=str(message["SourceAddress"]),
                destination=str(message["DestinationAddress"]),
                created=_date(message["CreatedDateUtc"]),
            )
            for message in value
        ]

    params = {"minDateUTC": api_date(start), "maxDateUTC": api_date(end)}
    return Call("Incoming/", params, read)
