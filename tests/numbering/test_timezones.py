"""The zone chain by number and the local send time to UTC (``Send/SendByTime``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import phonenumbers
import pytest
from phonenumbers.timezone import UNKNOWN_TIMEZONE, time_zones_for_number

from smsgate.domain.numbering import NumberingRegistry
from smsgate.domain.timezones import (
    ZoneDecision,
    ZoneStep,
    local_to_utc,
    resolve_zone,
    same_clock,
    zone_info,
)
from tests.numbering.helpers import number_in

LOCAL = datetime(2030, 1, 10, 10, 0)
PLATFORM = "Europe/Moscow"


@pytest.mark.parametrize(
    ("territory", "zone", "utc"),
    [
        ("Приморский край", "Asia/Vladivostok", datetime(2030, 1, 10, 0, 0, tzinfo=UTC)),
        ("Калининградская область", "Europe/Kaliningrad", datetime(2030, 1, 10, 8, tzinfo=UTC)),
        ("Город Москва", "Europe/Moscow", datetime(2030, 1, 10, 7, 0, tzinfo=UTC)),
        ("Самарская область", "Europe/Samara", datetime(2030, 1, 10, 6, 0, tzinfo=UTC)),
        ("Новосибирская область", "Asia/Novosibirsk", datetime(2030, 1, 10, 3, 0, tzinfo=UTC)),
        ("Камчатский край", "Asia/Kamchatka", datetime(2030, 1, 9, 22, 0, tzinfo=UTC)),
    ],
)
def test_registry_numbers_get_their_subject_zone(
    registry: NumberingRegistry, territory: str, zone: str, utc: datetime
) -> None:
    number = number_in(registry, territory)
    decision = resolve_zone(number, registry, "Asia/Omsk", PLATFORM)
    assert decision == ZoneDecision(zone, ZoneStep.REGISTRY)
    assert local_to_utc(LOCAL, decision.zone) == utc


def test_kazakh_mobile_number_gets_the_country_zone(registry: NumberingRegistry) -> None:
    decision = resolve_zone("77011234567", registry, None, PLATFORM)
    assert decision == ZoneDecision("Asia/Almaty", ZoneStep.COUNTRY)
    assert local_to_utc(LOCAL, decision.zone) == datetime(2030, 1, 10, 5, 0, tzinfo=UTC)


def test_uzbek_number_gets_the_phonenumbers_zone(registry: NumberingRegistry) -> None:
    decision = resolve_zone("998901234567", registry, None, PLATFORM)
    assert decision == ZoneDecision("Asia/Tashkent", ZoneStep.PHONENUMBERS)
    assert local_to_utc(LOCAL, decision.zone) == datetime(2030, 1, 10, 5, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("number", "utc"),
    [
        ("447911123456", datetime(2030, 1, 10, 10, 0, tzinfo=UTC)),  # London, Jersey, ...
        ("358412345678", datetime(2030, 1, 10, 8, 0, tzinfo=UTC)),  # Helsinki, Mariehamn
        ("393123456789", datetime(2030, 1, 10, 9, 0, tzinfo=UTC)),  # Rome, the Vatican
        ("4791234567", datetime(2030, 1, 10, 9, 0, tzinfo=UTC)),  # Oslo, Longyearbyen
    ],
)
def test_several_zones_of_one_clock_decide_the_time(
    registry: NumberingRegistry, number: str, utc: datetime
) -> None:
    # phonenumbers names several zones for these: they keep one time, so any of them will do
    # (taking none sent UK messages by Moscow's clock, three hours early in winter).
    assert len(time_zones_for_number(phonenumbers.parse("+" + number))) > 1
    decision = resolve_zone(number, registry, None, PLATFORM)
    assert decision.step is ZoneStep.PHONENUMBERS
    assert local_to_utc(LOCAL, decision.zone) == utc


def test_zones_keep_one_clock_only_with_the_same_offsets_all_year() -> None:
    assert same_clock(("Europe/London", "Europe/Jersey", "Europe/Isle_of_Man"))
    assert same_clock(("Europe/London", "Europe/Lisbon"))  # other names, one time all year
    assert not same_clock(("Europe/London", "Europe/Paris"))
    # A name this system's zone data lacks decides nothing (the chain goes on), never a 500.
    assert not same_clock(("Asia/Nowhere",))


def test_nationwide_range_falls_back_to_the_next_step(registry: NumberingRegistry) -> None:
    number = number_in(registry, "Российская Федерация")
    found = registry.find(number)
    assert found is not None and found.zone is None
    assert resolve_zone(number, registry, "Asia/Omsk", PLATFORM) == ZoneDecision(
        "Europe/Moscow", ZoneStep.COUNTRY
    )


@pytest.mark.parametrize(
    ("number", "zone"),
    [
        ("74012123456", "Europe/Kaliningrad"),  # phonenumbers says Europe/Bucharest
        ("78452123456", "Europe/Saratov"),  # phonenumbers says Europe/Moscow
        ("78422123456", "Europe/Ulyanovsk"),
        ("78692123456", "Europe/Simferopol"),
        ("375291234567", "Europe/Minsk"),
        ("74232123456", "Asia/Vladivostok"),  # right as phonenumbers has it
    ],
)
def test_phonenumbers_zones_are_corrected(
    registry: NumberingRegistry, number: str, zone: str
) -> None:
    assert resolve_zone(number, registry, None, PLATFORM) == ZoneDecision(
        zone, ZoneStep.PHONENUMBERS
    )


def test_kaliningrad_keeps_its_offset_in_summer() -> None:
    decision = resolve_zone("74012123456", None, None, PLATFORM)
    summer = local_to_utc(datetime(2030, 7, 10, 10, 0), decision.zone)
    assert summer == datetime(2030, 7, 10, 8, 0, tzinfo=UTC)


def test_phonenumbers_never_decides_a_russian_mobile_number() -> None:
    # resolve_zone skips phonenumbers for +7 9xx on the strength of this.
    for code in range(900, 1000):
        for rest in ("0000000", "1234567", "9999999"):
            zones = time_zones_for_number(phonenumbers.parse(f"+7{code}{rest}"))
            assert len(zones) > 1 or zones == (UNKNOWN_TIMEZONE,), (code, rest, zones)


def test_unknown_numbers_fall_back_to_the_account_then_the_platform() -> None:
    for number in ("999", "18005551234", "", "7abc"):
        assert resolve_zone(number, None, "Asia/Omsk", PLATFORM) == ZoneDecision(
            "Asia/Omsk", ZoneStep.ACCOUNT
        )
        assert resolve_zone(number, None, None, PLATFORM) == ZoneDecision(
            PLATFORM, ZoneStep.PLATFORM
        )


def test_without_a_registry_russian_mobiles_get_the_country_zone() -> None:
    assert resolve_zone("79161234567", None, None, "UTC") == ZoneDecision(
        "Europe/Moscow", ZoneStep.COUNTRY
    )


def test_nonexistent_and_ambiguous_local_times_read_with_fold_0() -> None:
    # Berlin 2030: clocks go 02:00 -> 03:00 on 31 March and 03:00 -> 02:00 on 27 October.
    gap = local_to_utc(datetime(2030, 3, 31, 2, 30), "Europe/Berlin")
    assert gap == datetime(2030, 3, 31, 1, 30, tzinfo=UTC)  # the offset before the gap
    twice = local_to_utc(datetime(2030, 10, 27, 2, 30, fold=1), "Europe/Berlin")
    assert twice == datetime(2030, 10, 27, 0, 30, tzinfo=UTC)  # the first occurrence
    summer = local_to_utc(datetime(2030, 7, 1, 12, 0), "Europe/Berlin")
    assert summer.utcoffset() == timedelta(0) and summer.hour == 10


def test_local_to_utc_wants_a_naive_time() -> None:
    with pytest.raises(ValueError, match="naive"):
        local_to_utc(datetime(2030, 1, 10, tzinfo=timezone(timedelta(hours=3))), PLATFORM)


def test_zone_info_rejects_unknown_zones() -> None:
    assert zone_info("Asia/Omsk") is zone_info("Asia/Omsk")
    with pytest.raises(KeyError):  # ZoneInfoNotFoundError
        zone_info("Europe/Atlantis")
