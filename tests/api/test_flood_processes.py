"""The flood limit and the balance hold across API processes on one database: each process
here is a Platform of its own (its own connections and writer), sending at the same time."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from smsgate.api.rest.router import RestApp
from smsgate.config import Settings
from smsgate.platform import Platform
from smsgate.services.accounts import AccountAdmin
from tests.api.helpers import PHONE, SENDER

PASSWORD = "secret-password"
FLOOD_LIMIT = 10
PROCESSES = 3
SENDS_PER_PROCESS = 12


@pytest.fixture
def platforms(database_url: str, tmp_path: Path) -> Iterator[list[Platform]]:
    opened = [
        Platform.open(
            Settings(database_url=database_url, data_dir=tmp_path, flood_limit=FLOOD_LIMIT)
        )
        for _ in range(PROCESSES)
    ]
    yield opened
    for platform in opened:
        platform.close()


async def _send_concurrently(platforms: list[Platform], login: str, phone: str) -> list[int]:
    """Every process sends SENDS_PER_PROCESS messages to ``phone`` at once; the statuses."""
    clients = [
        httpx.AsyncClient(transport=httpx.ASGITransport(app=RestApp(p)), base_url="http://api")
        for p in platforms
    ]
    request = {
        "login": login,
        "pass": PASSWORD,
        "sourceAddress": SENDER,
        "destinationAddress": phone,
        "data": "Hi",
    }
    try:
        responses = await asyncio.gather(
            *(
                client.post("/rest/Send/SendSms/", data=request)
                for _ in range(SENDS_PER_PROCESS)
                for client in clients
            )
        )
    finally:
        for client in clients:
            await client.aclose()
    return [response.status_code for response in responses]


def test_the_flood_limit_holds_across_processes(platforms: list[Platform]) -> None:
    login = f"user-{uuid.uuid4().hex[:10]}"
    admin = AccountAdmin(platforms[0].database)
    admin.create(login, password=PASSWORD, balance=Decimal(1000), sender_names=[SENDER])
    statuses = asyncio.run(_send_concurrently(platforms, login, PHONE))
    assert statuses.count(200) == FLOOD_LIMIT, statuses
    assert statuses.count(400) == PROCESSES * SENDS_PER_PROCESS - FLOOD_LIMIT
    assert Decimal(admin.show(login)["balance"]) == 1000 - FLOOD_LIMIT  # 1 a part
