"""Helpers of the detailed statistics tests: seeding parts, ordering and fetching reports."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from smsgate.domain.states import MessageState
from smsgate.store.accounts import find_account
from smsgate.store.database import Database
from smsgate.store.messages import PART_COLUMNS, allocate_ids, insert_parts
from tests.api.helpers import SENDER, api_date, assert_ok, creds, wait_for
from tests.conftest import Account

ALL_STAT = "/rest/Statistic/all_stat.php"
CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ZONE = ZoneInfo("Europe/Moscow")  # the platform's default zone: the accounts here set none
DAY = datetime(2025, 3, 10, tzinfo=UTC)


@dataclass(frozen=True)
class Seed:
    """A part to store as if sent: ``minutes`` after ``DAY``."""

    minutes: int
    state: MessageState = MessageState.DELIVERED
    destination: str = "79001234567"
    text: str = "Hello"
    price: Decimal = Decimal("0.55")
    part_count: int = 1
    sender_name: str = SENDER

    @property
    def created_at(self) -> datetime:
        return DAY + timedelta(minutes=self.minutes)


def account_id(database: Database, account: Account) -> int:
    found = database.read_sync(lambda c: find_account(c, login=account.login))
    assert found is not None
    return found.id


def seed(database: Database, account: Account, seeds: list[Seed]) -> list[int]:
    """Store parts straight through the store (ids from the server's own counter); their ids."""
    owner = account_id(database, account)
    # Parts still in progress are due (and expire) well ahead, so the server's dispatcher
    # leaves them as they are.
    ahead = datetime.now(UTC) + timedelta(days=10)

    def insert(connection: Any) -> list[int]:
        first = allocate_ids(connection, len(seeds))
        rows = []
        for offset, part in enumerate(seeds):
            values = {
                "id": first + offset,
                "account_id": owner,
                "group_id": first + offset,
                "part_number": 1,
                "part_count": part.part_count,
                "sender_name": part.sender_name,
                "destination": part.destination,
                "text": part.text,
                "encoding": "gsm",
                "price": part.price,
                "state": part.state.value,
                "created_at": part.created_at,
                "due_at": part.created_at if part.state.is_final else ahead,
                "expires_at": part.created_at if part.state.is_final else ahead,
                "reported_at": part.created_at + timedelta(seconds=30),
                "attempts": 1,
                "callback_url": None,
                "timezone_step": None,
            }
            rows.append(tuple(values[name] for name in PART_COLUMNS))
        insert_parts(connection, rows)
        return list(range(first, first + len(seeds)))

    return database.write_sync(insert)


def period(first_minute: int = -60, last_minute: int = 24 * 60) -> dict[str, str]:
    return {
        "startTime": api_date(DAY + timedelta(minutes=first_minute)),
        "endTime": api_date(DAY + timedelta(minutes=last_minute)),
    }


def order(account: Account, **params: str) -> int:
    """Order a report (the whole seeded day unless a period is given); its id."""
    bounds = {"startTime", "endTime", "startDateTime", "endDateTime"}
    body = {**creds(account), **({} if bounds & set(params) else period()), **params}
    report_id = assert_ok(account.client.post(ALL_STAT, data=body))
    assert isinstance(report_id, int), report_id
    return report_id


def fetch(account: Account, report_id: int | str) -> httpx.Response:
    return account.client.get(ALL_STAT, params={**creds(account), "id_report": str(report_id)})


def ready(account: Account, report_id: int, timeout: float = 20.0) -> httpx.Response:
    """The download of a report, once built."""
    return wait_for(lambda: _if_ok(fetch(account, report_id)), timeout=timeout, interval=0.05)


def _if_ok(response: httpx.Response) -> httpx.Response | None:
    return response if response.status_code == 200 else None


def csv_rows(response: httpx.Response) -> list[list[str]]:
    """The rows of a CSV report, header first."""
    assert response.headers["content-type"] == CSV_TYPE
    assert response.content.startswith("\ufeff".encode())
    return list(
        csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline=""), delimiter=";")
    )


def local_text(moment: datetime) -> str:
    return moment.astimezone(ZONE).strftime("%Y-%m-%d %H:%M:%S")


def listed_ids(account: Account, **params: str) -> list[int]:
    """The message ids a CSV report of these parameters lists, in its order."""
    header, *rows = csv_rows(ready(account, order(account, **params)))
    assert header[0] == "Message ID"
    return [int(row[0]) for row in rows]
