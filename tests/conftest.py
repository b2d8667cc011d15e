"""Fixtures: a real server process on a real SQLite file, and accounts made by the admin code."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from smsgate.services.accounts import AccountAdmin
from smsgate.store.database import Database
from smsgate.store.migrate import upgrade
from tests.server import ServerProcess


@dataclass
class Account:
    login: str
    password: str
    api_password: str
    client: httpx.Client

    def session_id(self) -> str:
        response = self.client.get(
            "/rest/Session/", params={"login": self.login, "password": self.password}
        )
        assert response.status_code == 200, response.text
        return str(response.json())


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("server")
    process = ServerProcess(f"sqlite:///{workdir / 'smsgate.db'}", workdir)
    upgrade(Database(process.database_url).write_engine)
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def admin(server: ServerProcess) -> AccountAdmin:
    return AccountAdmin(Database(server.database_url))


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


def new_account(
    admin: AccountAdmin,
    client: httpx.Client,
    balance: str = "1000",
    sender_names: tuple[str, ...] = ("SMS Info",),
    **options: Any,
) -> Account:
    """A fresh account with a unique login, made by the real admin code."""
    login = f"user-{uuid.uuid4().hex[:10]}"
    admin.create(
        login,
        password="secret-password",
        api_password="api-password",
        balance=Decimal(balance),
        sender_names=sender_names,
        **options,
    )
    return Account(login, "secret-password", "api-password", client)


@pytest.fixture
def make_account(admin: AccountAdmin, client: httpx.Client) -> Callable[..., Account]:
    return functools.partial(new_account, admin, client)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path
