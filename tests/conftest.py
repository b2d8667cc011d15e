"""Fixtures: the database backends, a real server process on each, and accounts made by the
admin code. A test that uses the store runs once per backend (see ``tests.databases``)."""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from xdist.scheduler import LoadScopeScheduling

from smsgate.services import accounts
from smsgate.services.accounts import AccountAdmin
from smsgate.store.database import Database
from smsgate.store.migrate import open_migrated
from tests.databases import BACKENDS, BackendUnavailable, Databases, backend_of
from tests.server import ServerProcess, http_client

# Accounts made by the tests get argon2 hashes of the lowest cost. A server verifies a hash with
# the parameters stored in it, so each test's first login costs ~0.1 ms instead of ~0.2 s (every
# admin change drops the servers' credential caches); the code paths are the same.
_CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashes() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(accounts, "hash_password", _CHEAP_HASHER.hash)
        yield


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


# Folders whose backend tests make a unit of their own, so that a free worker can take it:
# whole deployments (processes killed, SMSCs restarted: seconds a test), and the API's.
_UNIT_FOLDERS = {
    "tests/scale/": "deployments",
    "tests/smpp_interop/": "deployments",
    "tests/api/": "api",
}


class BackendScheduling(LoadScopeScheduling):  # type: ignore[misc]  # xdist has no types
    """pytest-xdist's scheduling of ``make test``: a backend's tests go to one worker by units of
    a few folders, so its shared servers start once a unit; the rest go by module.

    One unit for all of a backend's tests kept its worker busiest: the PostgreSQL unit alone
    ran 441 s, all the rest 356 s on the other worker.
    """

    def _split_scope(self, nodeid: str) -> str:
        backend = backend_of(nodeid)
        if backend is None:
            return str(super()._split_scope(nodeid))
        unit = next((u for f, u in _UNIT_FOLDERS.items() if nodeid.startswith(f)), "others")
        return f"{backend} {unit}"


@pytest.hookimpl(optionalhook=True)  # xdist's hook: pytest -p no:xdist runs without it
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> BackendScheduling:
    return BackendScheduling(config, log)


@pytest.fixture(scope="session", params=BACKENDS)
def databases(request: pytest.FixtureRequest) -> Iterator[Databases]:
    """Makes fresh databases of each backend in turn; the tests using it run once per backend.

    An unreachable PostgreSQL skips its tests, except under CI, where it fails them.
    """
    try:
        opened = Databases.open(request.param)
    except BackendUnavailable as error:
        if os.environ.get("CI", "").lower() not in ("", "false", "0", "no", "off"):
            pytest.fail(str(error), pytrace=False)
        pytest.skip(str(error))
    yield opened
    opened.close()


@pytest.fixture
def database_url(
    databases: Databases, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A fresh database of this test's own, dropped at teardown: the one ``database`` opens
    when the test takes that too, else empty (not migrated)."""
    url = databases.create(tmp_path, migrated="database" in request.fixturenames)
    yield url
    databases.drop(url)


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """This test's own database, migrated, opened in the test process."""
    opened = open_migrated(database_url)  # finds the copy migrated: a check of its version
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def server(
    databases: Databases, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("server")
    process = ServerProcess(databases.create(workdir, migrated=True), workdir)
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def admin(server: ServerProcess) -> AccountAdmin:
    return AccountAdmin(Database(server.database_url))


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with http_client(server.url) as http:
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
