"""Helpers for the ``/rest`` API tests: error checks, polling, and common requests."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, TypeVar

import httpx
from sqlalchemy import select

from smsgate.services.accounts import AccountAdmin
from smsgate.store.database import Database
from smsgate.store.schema import messages
from tests.conftest import Account, new_account
from tests.server import ServerProcess

T = TypeVar("T")

JSON_TYPE = "application/json; charset=utf-8"
HTTP_STATUS = {1: 400, 2: 400, 3: 400, 4: 401, 5: 403, 6: 400, 7: 403, 8: 500, 9: 500, 10: 400}
SENDER = "SMS Info"
PHONE = "79001234567"
ERROR_TEXT = re.compile(r'\{"Code":(\d+),"Desc":"(?:[^"\\]|\\.)*"\}')


def assert_json(response: httpx.Response) -> Any:
    """The parsed body of a JSON answer, checking the content type and the missing newline."""
    assert response.headers["content-type"] == JSON_TYPE, response.headers
    assert not response.content.endswith(b"\n"), response.content[-20:]
    return response.json()


def assert_ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return assert_json(response)


def assert_error(response: httpx.Response, code: int, desc: str | None = None) -> str:
    """Check an error answer: the table's status, body exactly ``{"Code":..,"Desc":..}``."""
    body = assert_json(response)
    assert body.get("Code") == code, (response.status_code, response.text)
    assert response.status_code == HTTP_STATUS[code], (response.status_code, response.text)
    assert ERROR_TEXT.fullmatch(response.text), response.text
    assert list(body) == ["Code", "Desc"], response.text
    assert isinstance(body["Desc"], str) and body["Desc"], response.text
    assert "Traceback" not in body["Desc"], response.text
    if desc is not None:
        assert body["Desc"] == desc, response.text
    return str(body["Desc"])


def wait_for(
    check: Callable[[], T | Literal[False] | None], timeout: float = 5.0, interval: float = 0.02
) -> T:
    """Poll ``check`` until it answers something truthy; its last answer on timeout fails.

    A falsy answer is never returned, so a check may answer ``cond and value``, or ``None``
    until it has a value: the value's own type is what comes back."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in {timeout}s; last: {result!r}")
        time.sleep(interval)


def creds(account: Account) -> dict[str, str]:
    """``login`` + ``pass`` (the API password)."""
    return {"login": account.login, "pass": account.api_password}


def api_date(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def whole_period() -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "startDateTime": api_date(now - timedelta(days=1)),
        "endDateTime": api_date(now + timedelta(days=1)),
    }


def statistic(account: Account) -> dict[str, int]:
    response = account.client.get("/rest/Statistic/", params={**creds(account), **whole_period()})
    body = assert_ok(response)
    assert isinstance(body, dict)
    return body


def balance(account: Account) -> Decimal:
    response = account.client.get("/rest/Balance/", params=creds(account))
    assert_ok(response)
    return Decimal(response.text)


def state(account: Account, message_id: str) -> dict[str, Any]:
    response = account.client.get(
        "/rest/State/", params={**creds(account), "messageId": message_id}
    )
    body = assert_ok(response)
    assert isinstance(body, dict)
    return body


def send_sms(
    account: Account,
    destination: str | Sequence[str] = PHONE,
    data: str = "Hello",
    **extra: str,
) -> httpx.Response:
    params: dict[str, Any] = {
        **creds(account),
        "sourceAddress": SENDER,
        "destinationAddress": destination,
        "data": data,
        **extra,
    }
    return account.client.post("/rest/Send/SendSms/", data=params)


def send_ok(
    account: Account, destination: str = PHONE, data: str = "Hello", **extra: str
) -> list[str]:
    ids = assert_ok(send_sms(account, destination, data, **extra))
    assert isinstance(ids, list) and ids, ids
    return [str(part_id) for part_id in ids]


def assert_ids(ids: Any, count: int) -> list[int]:
    """``ids`` is a list of ``count`` decimal strings of increasing integers."""
    assert isinstance(ids, list), ids
    assert len(ids) == count, ids
    assert all(isinstance(i, str) and re.fullmatch(r"[1-9][0-9]*", i) for i in ids), ids
    numbers = [int(i) for i in ids]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers), ids
    return numbers


def message_rows(database: Database, ids: Sequence[str | int]) -> dict[int, Any]:
    """The stored rows of these parts, by id (for what the API does not show)."""
    wanted = [int(i) for i in ids]

    def read(connection: Any) -> dict[int, Any]:
        rows = connection.execute(select(messages).where(messages.c.id.in_(wanted))).all()
        return {row.id: row for row in rows}

    return database.read_sync(read)


@dataclass
class Deployment:
    """A server of a test's own, with its admin and a client."""

    process: ServerProcess
    database: Database
    admin: AccountAdmin
    client: httpx.Client

    def make_account(
        self, balance: str = "1000", sender_names: tuple[str, ...] = (SENDER,), **options: Any
    ) -> Account:
        return new_account(self.admin, self.client, balance, sender_names, **options)
