"""``Send/SendByTime``: ``sendDate`` is each recipient's local time, in the zone of its number."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from smsgate.domain.numbering import NumberingRegistry
from smsgate.services.accounts import AccountAdmin
from smsgate.store.database import Database
from tests.api.helpers import SENDER, assert_error, assert_ok, creds, message_rows
from tests.conftest import Account
from tests.numbering.helpers import number_in

LOCAL = "2030-01-10T10:00:00"
KAZAKH = "77011234567"
UZBEK = "998901234567"
AUSTRALIAN = "61412345678"  # a mobile: phonenumbers gives several zones, no country default


def utc(day: int, hour: int) -> datetime:
    return datetime(2030, 1, day, hour, tzinfo=UTC)


def send_by_time(
    account: Account, destinations: str | Sequence[str], **extra: str
) -> httpx.Response:
    destination = destinations if isinstance(destinations, str) else ",".join(destinations)
    params = {
        **creds(account),
        "sourceAddress": SENDER,
        "destinationAddress": destination,
        "data": "Hello",
        **extra,
    }
    return account.client.post("/rest/Send/SendByTime/", data=params)


def sent_parts(database: Database, response: httpx.Response) -> list[Any]:
    """The stored rows of the parts a send answered, in its order."""
    ids = assert_ok(response)
    rows = message_rows(database, ids)
    return [rows[int(part_id)] for part_id in ids]


@pytest.mark.parametrize(
    ("recipient", "due", "step"),
    [
        ("Приморский край", utc(10, 0), "registry"),  # Vladivostok, UTC+10
        ("Калининградская область", utc(10, 8), "registry"),
        ("Город Москва", utc(10, 7), "registry"),
        ("Самарская область", utc(10, 6), "registry"),
        ("Новосибирская область", utc(10, 3), "registry"),
        ("Камчатский край", utc(9, 22), "registry"),  # UTC+12: the day before in UTC
        (KAZAKH, utc(10, 5), "country"),  # Asia/Almaty, UTC+5
        (UZBEK, utc(10, 5), "phonenumbers"),  # Asia/Tashkent, UTC+5
        ("Российская Федерация", utc(10, 7), "country"),  # a nationwide range: Moscow time
    ],
)
def test_recipient_is_due_at_its_local_time(
    make_account: Callable[..., Account],
    server_database: Database,
    registry: NumberingRegistry,
    recipient: str,
    due: datetime,
    step: str,
) -> None:
    number = recipient if recipient.isdigit() else number_in(registry, recipient)
    [part] = sent_parts(server_database, send_by_time(make_account(), number, sendDate=LOCAL))
    assert (part.destination, part.due_at, part.timezone_step) == (number, due, step)
    assert part.state == "scheduled"
    assert part.expires_at == due + timedelta(days=1)


def test_each_recipient_of_a_list_gets_its_own_due_time(
    make_account: Callable[..., Account], server_database: Database, registry: NumberingRegistry
) -> None:
    numbers = [
        number_in(registry, "Приморский край"),
        KAZAKH,
        number_in(registry, "Город Москва"),
        number_in(registry, "Приморский край")[:-1] + "0",
    ]
    long_text = "x" * 161  # two parts each
    response = send_by_time(make_account(), numbers, sendDate=LOCAL, data=long_text, validity="60")
    parts = sent_parts(server_database, response)
    assert [part.destination for part in parts] == [n for n in numbers for _ in range(2)]
    expected = [utc(10, 0), utc(10, 5), utc(10, 7), utc(10, 0)]
    assert [part.due_at for part in parts] == [due for due in expected for _ in range(2)]
    assert all(part.expires_at == part.due_at + timedelta(hours=1) for part in parts)


def test_a_local_time_already_past_sends_now(
    make_account: Callable[..., Account], server_database: Database, registry: NumberingRegistry
) -> None:
    before = datetime.now(UTC)
    number = number_in(registry, "Приморский край")
    [part] = sent_parts(
        server_database, send_by_time(make_account(), number, sendDate="2020-01-10 10:00")
    )
    assert part.state != "scheduled"
    assert before <= part.due_at == part.created_at <= datetime.now(UTC)
    assert part.timezone_step == "registry"


def test_the_account_zone_places_numbers_nothing_else_does(
    make_account: Callable[..., Account], admin: AccountAdmin, server_database: Database
) -> None:
    zoned = make_account()
    admin.set_timezone(zoned.login, "Asia/Omsk")  # UTC+6
    [part] = sent_parts(server_database, send_by_time(zoned, AUSTRALIAN, sendDate=LOCAL))
    assert (part.due_at, part.timezone_step) == (utc(10, 4), "account")
    [part] = sent_parts(server_database, send_by_time(make_account(), AUSTRALIAN, sendDate=LOCAL))
    assert (part.due_at, part.timezone_step) == (utc(10, 7), "platform")  # Europe/Moscow


def test_the_account_zone_does_not_override_the_number(
    make_account: Callable[..., Account],
    admin: AccountAdmin,
    server_database: Database,
    registry: NumberingRegistry,
) -> None:
    account = make_account()
    admin.set_timezone(account.login, "Asia/Omsk")
    number = number_in(registry, "Приморский край")
    [part] = sent_parts(server_database, send_by_time(account, number, sendDate=LOCAL))
    assert (part.due_at, part.timezone_step) == (utc(10, 0), "registry")


@pytest.mark.parametrize("send_date", [None, "", " "])
def test_send_date_is_required(make_account: Callable[..., Account], send_date: str | None) -> None:
    extra = {} if send_date is None else {"sendDate": send_date}
    response = send_by_time(make_account(), "79001234567", **extra)
    assert_error(response, 1, "sendDate can not be null or empty")


@pytest.mark.parametrize(
    ("number", "send_date"),
    [
        ("79001234567", "2030-13-01T10:00:00"),  # no such month
        ("79001234567", "tomorrow"),
        ("12125551234", "9999-12-31T23:59:00"),  # New York: after year 9999 in UTC
        ("79001234567", "9999-12-31T23:59:00"),  # Moscow: its validity ends after 9999
        ("79001234567", "2030-01-01T10:00:00+03:00"),  # a local time has no zone
        ("79001234567", "2030-01-01T10:00:00Z"),
    ],
)
def test_send_dates_out_of_range_are_invalid_arguments(
    make_account: Callable[..., Account], number: str, send_date: str
) -> None:
    response = send_by_time(make_account(), number, sendDate=send_date)
    assert_error(response, 2)


def test_the_first_day_of_year_1_is_now_in_every_zone(
    make_account: Callable[..., Account], server_database: Database
) -> None:
    """What .NET clients send for no date (DateTime.MinValue): in Vladivostok before year 1
    in UTC, in New York after it; long past either way."""
    account = make_account()
    for number in ("79241234567", "12125551234"):
        before = datetime.now(UTC)
        response = send_by_time(account, number, sendDate="0001-01-01T00:00:00")
        [part] = sent_parts(server_database, response)
        assert before - timedelta(seconds=1) <= part.due_at <= datetime.now(UTC)


def test_send_sms_reads_send_date_as_utc_and_records_no_step(
    make_account: Callable[..., Account], server_database: Database
) -> None:
    account = make_account()
    params = {**creds(account), "sourceAddress": SENDER, "data": "Hello", "sendDate": LOCAL}
    response = account.client.post(
        "/rest/Send/SendSms/", data={**params, "destinationAddress": "79241234567"}
    )
    [part] = sent_parts(server_database, response)
    assert (part.due_at, part.timezone_step) == (utc(10, 10), None)
    late = {**params, "destinationAddress": "79001234567", "sendDate": "9999-12-31T23:59:00"}
    assert_error(account.client.post("/rest/Send/SendSms/", data=late), 2)
