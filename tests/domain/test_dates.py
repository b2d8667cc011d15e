import calendar
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgate.domain.dates import (
    parse_api_datetime,
    parse_validity,
    through_its_last_digit,
    to_api_date,
)
from smsgate.domain.errors import InvalidArgument


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-03-05T07:08:09", datetime(2024, 3, 5, 7, 8, 9)),
        ("2024-03-05 07:08:09", datetime(2024, 3, 5, 7, 8, 9)),
        ("2024-03-05T07:08", datetime(2024, 3, 5, 7, 8)),
        ("2024-03-05 07:08", datetime(2024, 3, 5, 7, 8)),
        ("2024-03-05T07:08:09.5", datetime(2024, 3, 5, 7, 8, 9, 500000)),
        ("2024-03-05T07:08:09.123", datetime(2024, 3, 5, 7, 8, 9, 123000)),
        ("2013-08-29T10:11:06.1234567", datetime(2013, 8, 29, 10, 11, 6, 123456)),
        (" 2024-03-05T07:08:09 ", datetime(2024, 3, 5, 7, 8, 9)),
        ("2024-02-29T23:59:59", datetime(2024, 2, 29, 23, 59, 59)),
    ],
)
def test_parse_api_datetime(raw: str, expected: datetime) -> None:
    parsed = parse_api_datetime(raw)
    assert parsed == expected
    assert parsed.tzinfo is None


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "yesterday",
        "2024-03-05",
        "2024-03-05T07",
        "2024-03-05T07:08:09+3:00",
        "2024-03-05T07:08:09+03:60",
        "2024-03-05T07:08:09+24:00",
        "2024-03-05T07:08:09z",
        "0001-01-01T00:00:00+00:01",  # before year 1 in UTC
        "2024-03-05T07:08.5",
        "2024-13-05T07:08:09",
        "2023-02-29T07:08:09",
        "2024-03-05T24:00:00",
        "05.03.2024 07:08",
        "２０２４-03-05T07:08:09",
    ],
)
def test_parse_api_datetime_refuses(raw: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_api_datetime(raw)
    assert caught.value.desc == f"Invalid date: {raw}"


@pytest.mark.parametrize(
    ("raw", "utc"),
    [
        ("2024-03-05T07:08:09Z", datetime(2024, 3, 5, 7, 8, 9)),
        ("2024-03-05T07:08:09+03:00", datetime(2024, 3, 5, 4, 8, 9)),
        ("2024-03-05 07:08-0130", datetime(2024, 3, 5, 8, 38)),
        ("2024-03-05T01:00:00.5+02:00", datetime(2024, 3, 4, 23, 0, 0, 500000)),
    ],
)
def test_a_zone_suffix_gives_the_utc_time(raw: str, utc: datetime) -> None:
    assert parse_api_datetime(raw) == utc
    with pytest.raises(InvalidArgument, match="a local time has no zone"):
        parse_api_datetime(raw, zoned=False)


@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)))
def test_parse_api_datetime_reads_isoformat(value: datetime) -> None:
    assert parse_api_datetime(value.isoformat()) == value
    assert parse_api_datetime(value.isoformat(sep=" ", timespec="minutes")) == value.replace(
        second=0, microsecond=0
    )


def test_to_api_date() -> None:
    assert to_api_date(datetime(2013, 8, 29, 7, 31, 6, tzinfo=UTC)) == "/Date(1377761466000)/"
    assert to_api_date(datetime(2013, 8, 29, 7, 31, 6)) == "/Date(1377761466000)/"
    moscow = timezone(timedelta(hours=3))
    assert to_api_date(datetime(2013, 8, 29, 10, 31, 6, tzinfo=moscow)) == "/Date(1377761466000)/"
    assert to_api_date(datetime(1970, 1, 1, 0, 0, 0, 1999)) == "/Date(1)/"


@pytest.mark.parametrize(
    "value",
    [
        datetime(1969, 12, 31, 23, 59, 59, 999999),
        datetime(1, 1, 1),
        datetime.min.replace(tzinfo=UTC),
    ],
)
def test_to_api_date_is_never_negative(value: datetime) -> None:
    assert to_api_date(value) == "/Date(0)/"


@given(st.datetimes(min_value=datetime(1970, 1, 1)))
def test_to_api_date_counts_milliseconds_since_the_epoch(value: datetime) -> None:
    expected = calendar.timegm(value.timetuple()) * 1000 + value.microsecond // 1000
    assert to_api_date(value) == f"/Date({expected})/"


@pytest.mark.parametrize(
    ("raw", "minutes"),
    [
        *[(None, 1440), ("", 1440), ("  ", 1440), ("1", 1), ("60", 60), ("4320", 4320)],
        *[(" 30 ", 30), ("0010", 10), ("00001", 1), ("0004320", 4320)],
    ],
)
def test_parse_validity(raw: str | None, minutes: int) -> None:
    assert parse_validity(raw) == minutes


@pytest.mark.parametrize(
    "raw",
    ["0", "0000", "04321", "4321", "-5", "+5", "1.5", "abc", "1_0", "١٠", "99999999999999999999"],
)
def test_parse_validity_refuses(raw: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_validity(raw)
    assert caught.value.desc.startswith(f"Invalid validity: {raw};")


def test_a_period_end_covers_the_whole_second_or_millisecond_it_names() -> None:
    end = datetime(2024, 3, 5, 7, 8, 9, tzinfo=UTC)
    assert through_its_last_digit(end) == end.replace(microsecond=999_999)
    # A CreatedDateUtc the client was shown (/Date(ms)/) names a millisecond: all of it, so
    # the message created at that millisecond's 123rd microsecond is in the period.
    shown = end.replace(microsecond=500_000)
    assert through_its_last_digit(shown) == end.replace(microsecond=500_999)
    precise = end.replace(microsecond=500_123)  # named to the microsecond: as it is
    assert through_its_last_digit(precise) == precise
