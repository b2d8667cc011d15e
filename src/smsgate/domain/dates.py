"""Dates and durations as the API writes them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from smsgate.domain.digits import is_ascii_number
from smsgate.domain.errors import InvalidArgument, echoed

DEFAULT_VALIDITY_MINUTES = 1440
MAX_VALIDITY_MINUTES = 4320

# Fractions beyond microseconds (.NET clients send seven digits) are cut, not rejected. The
# zone suffix is what ISO 8601 writers (Go, Java, JavaScript, Python) add: Z or +HH:MM.
_API_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6})\d*)?)?"
    r"(Z|[+-]\d{2}:?\d{2})?",
    re.ASCII,
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
_LAST_MICROSECOND_OF_SECOND = timedelta(microseconds=999_999)
_LAST_MICROSECOND_OF_MILLISECOND = timedelta(microseconds=999)


def parse_api_datetime(raw: str, *, zoned: bool = True) -> datetime:
    """A naive datetime from ``YYYY-MM-DDTHH:MM[:SS[.fff]]`` (``T`` or a space); the caller
    knows which zone it is in. With a zone suffix (``Z``, ``+03:00``) it is the UTC time, for
    callers whose dates are UTC; the others pass ``zoned=False`` and refuse one."""
    match = _API_DATETIME.fullmatch(raw.strip())
    if match is None:
        raise InvalidArgument(f"Invalid date: {echoed(raw)}")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    if zone is not None and not zoned:
        raise InvalidArgument(f"Invalid date: {echoed(raw)} (a local time has no zone)")
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second or 0),
            int((fraction or "").ljust(6, "0")),
        )
        if zone is not None and zone != "Z":
            digits = zone[1:].replace(":", "")
            hours, minutes = int(digits[:2]), int(digits[2:])
            if hours > 23 or minutes > 59:
                raise ValueError(zone)
            offset = timedelta(hours=hours, minutes=minutes)
            moment = moment - offset if zone[0] == "+" else moment + offset
    except (ValueError, OverflowError):
        raise InvalidArgument(f"Invalid date: {echoed(raw)}") from None
    return moment


def through_its_last_digit(end: datetime) -> datetime:
    """The last instant a period's ``end`` covers. Parts and messages are timed to the
    microsecond, while a client names an end to the second (the guide's dates have no
    fraction) or to the millisecond (a ``/Date(ms)/`` it was shown): an end of whole seconds
    takes in that whole second, one of whole milliseconds that whole millisecond."""
    if end.microsecond == 0:
        return end + _LAST_MICROSECOND_OF_SECOND
    if end.microsecond % 1000 == 0:
        return end + _LAST_MICROSECOND_OF_MILLISECOND
    return end


def to_api_date(dt: datetime) -> str:
    """``/Date(<ms since the epoch>)/``; a naive ``dt`` is taken as UTC, and times before the
    epoch read as the epoch (clients cannot parse negative values)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    milliseconds = max(0, (dt - _EPOCH) // _MILLISECOND)
    return f"/Date({milliseconds})/"


def parse_validity(raw: str | None) -> int:
    """Validity period in minutes: 1..4320, 1440 when absent or empty."""
    if raw is None or not raw.strip():
        return DEFAULT_VALIDITY_MINUTES
    # Leading zeros are the value's own (``0010`` and ``00001`` alike); the bound on the digits
    # spares int() a megabyte of them.
    text = raw.strip().lstrip("0")
    if is_ascii_number(text, 4) and 1 <= int(text) <= MAX_VALIDITY_MINUTES:
        return int(text)
    raise InvalidArgument(
        f"Invalid validity: {echoed(raw)}; expected minutes from 1 to {MAX_VALIDITY_MINUTES}"
    )
