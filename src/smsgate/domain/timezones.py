"""A recipient's time zone by number, and local send times to UTC (``Send/SendByTime``).

Pure and fast: it runs once per recipient of bulks of 100,000, so zones, decisions and
conversions are cached (there are few distinct zones and one send time per bulk).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers.timezone import UNKNOWN_TIMEZONE, time_zones_for_number

from smsgate.domain.digits import is_ascii_digits

if TYPE_CHECKING:
    from smsgate.domain.numbering import NumberingRegistry


class ZoneStep(StrEnum):
    """The step of the zone chain that decided, in the order they are tried."""

    REGISTRY = "registry"  # the numbering plan range holding the number has a zone
    PHONENUMBERS = "phonenumbers"  # phonenumbers knows exactly one zone for the number
    COUNTRY = "country"  # the country of the number lives in one zone
    ACCOUNT = "account"  # the account's configured zone
    PLATFORM = "platform"  # the platform's default zone


@dataclass(frozen=True, slots=True)
class ZoneDecision:
    """An IANA zone and the step that chose it."""

    zone: str
    step: ZoneStep


# Number prefixes whose single phonenumbers zone (in the comments) is wrong, with the right one.
# Kaliningrad (Bucharest keeps DST: an hour off in summer) and Saratov (UTC+4 since 2016, Moscow
# is UTC+3) change the send time; the others are on the same offset today but could drift apart
# if one of the areas moves again, and this way the step agrees with the subject table.
_PHONENUMBERS_FIXES = {
    "7401": "Europe/Kaliningrad",  # phonenumbers: Europe/Bucharest
    "7845": "Europe/Saratov",  # Europe/Moscow
    "7302": "Asia/Chita",  # Asia/Yakutsk
    "7365": "Europe/Simferopol",  # Europe/Moscow (Республика Крым)
    "7382": "Asia/Tomsk",  # Asia/Novosibirsk
    "7384": "Asia/Novokuznetsk",  # Asia/Krasnoyarsk (Кемеровская область)
    "7385": "Asia/Barnaul",  # Asia/Krasnoyarsk (Алтайский край)
    "7388": "Asia/Barnaul",  # Asia/Krasnoyarsk (Республика Алтай)
    "7833": "Europe/Kirov",  # Europe/Moscow
    "7842": "Europe/Ulyanovsk",  # Europe/Samara
    "7844": "Europe/Volgograd",  # Europe/Moscow
    "7851": "Europe/Astrakhan",  # Europe/Samara
    "7869": "Europe/Simferopol",  # Europe/Moscow (Город Севастополь)
    "375": "Europe/Minsk",  # Europe/Moscow (Belarus)
}
# phonenumbers types every +7 9xx number as mobile (or invalid) and answers mobile numbers with
# the 16-zone list of all +7, never one zone: skipping the ~50 µs it takes to say so matters
# for numbers the registry has no zone for (about 30% of random 79... numbers are unassigned).
_PHONENUMBERS_UNDECIDED = "79"
# Calling-code prefix -> the zone of a CIS country on a single offset. +7 is Russia (Moscow
# time for most people) but for Kazakhstan's +7 6 and +7 7, on UTC+5 throughout since 2024.
_COUNTRY_ZONES = {
    "7": "Europe/Moscow",
    "76": "Asia/Almaty",
    "77": "Asia/Almaty",
    "373": "Europe/Chisinau",
    "374": "Asia/Yerevan",
    "375": "Europe/Minsk",
    "992": "Asia/Dushanbe",
    "993": "Asia/Ashgabat",
    "994": "Asia/Baku",
    "996": "Asia/Bishkek",
    "998": "Asia/Tashkent",
}


@lru_cache(maxsize=1024)
def zone_info(zone: str) -> ZoneInfo:
    """The cached ZoneInfo of an IANA zone; raises ZoneInfoNotFoundError for unknown names."""
    return ZoneInfo(zone)


def check_zone(zone: str) -> str:
    """``zone`` when it names an IANA zone; raises ValueError saying which name is unknown."""
    try:
        zone_info(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone: {zone}") from None
    return zone


@lru_cache(maxsize=4096)
def _decision(zone: str, step: ZoneStep) -> ZoneDecision:
    return ZoneDecision(zone, step)


# Zones of different names count as one clock when their UTC offsets agree at every sample
# (each 12 hours) of this window.
_SAME_CLOCK_FROM = datetime(2025, 1, 1, tzinfo=UTC)
_SAME_CLOCK_UNTIL = datetime(2045, 1, 1, tzinfo=UTC)
_SAME_CLOCK_STEP = timedelta(hours=12)


@lru_cache(maxsize=256)
def same_clock(zones: tuple[str, ...]) -> bool:
    """Whether the zones keep one time (London and Jersey, say), as far as can be told; False
    when a name is unknown to this system's zone data."""
    try:
        first, *others = (zone_info(zone) for zone in zones)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    instant = _SAME_CLOCK_FROM
    while instant < _SAME_CLOCK_UNTIL:
        offset = instant.astimezone(first).utcoffset()
        if any(instant.astimezone(other).utcoffset() != offset for other in others):
            return False
        instant += _SAME_CLOCK_STEP
    return True


def _phonenumbers_zone(number: str) -> str | None:
    if number.startswith(_PHONENUMBERS_UNDECIDED):
        return None
    try:
        zones = time_zones_for_number(phonenumbers.parse("+" + number))
    except phonenumbers.NumberParseException:
        return None
    # Several zones decide the time only when they keep one (the UK's and its islands', say).
    if not zones or UNKNOWN_TIMEZONE in zones or not same_clock(tuple(zones)):
        return None
    return _PHONENUMBERS_FIXES.get(number[:4]) or _PHONENUMBERS_FIXES.get(number[:3]) or zones[0]


def _country_zone(number: str) -> str | None:
    for length in (3, 2, 1):
        zone = _COUNTRY_ZONES.get(number[:length])
        if zone is not None:
            return zone
    return None


def resolve_zone(
    number: str,
    registry: NumberingRegistry | None,
    account_zone: str | None,
    platform_zone: str,
) -> ZoneDecision:
    """The recipient's zone for an international number (digits only) and the deciding step.

    Steps: the registry range's zone, phonenumbers' single zone (corrected where it is known to
    be wrong), the country's zone, the account's zone, the platform's zone. Zones given are
    trusted to be valid IANA names (check configuration with :func:`zone_info`).
    """
    if is_ascii_digits(number):
        if registry is not None:
            found = registry.find(number)
            if found is not None and found.zone is not None:
                return _decision(found.zone, ZoneStep.REGISTRY)
        zone = _phonenumbers_zone(number)
        if zone is not None:
            return _decision(zone, ZoneStep.PHONENUMBERS)
        zone = _country_zone(number)
        if zone is not None:
            return _decision(zone, ZoneStep.COUNTRY)
    if account_zone:
        return _decision(account_zone, ZoneStep.ACCOUNT)
    return _decision(platform_zone, ZoneStep.PLATFORM)


def local_to_utc(local: datetime, zone: str) -> datetime:
    """A naive wall-clock time in ``zone`` as an aware UTC datetime.

    Read with fold=0, as zoneinfo does by default: an ambiguous time (clocks going back) is its
    first occurrence, and a nonexistent one (clocks going forward) takes the offset from before
    the gap, so it lands after the gap by the gap's length (02:30 in a 02:00-03:00 gap is the
    instant of 03:30). Raises ValueError for an aware ``local``.
    """
    if local.tzinfo is not None:
        raise ValueError("local time must be naive")
    return _local_to_utc(local, zone)


@lru_cache(maxsize=4096)
def _local_to_utc(local: datetime, zone: str) -> datetime:
    return local.replace(tzinfo=zone_info(zone), fold=0).astimezone(UTC)
