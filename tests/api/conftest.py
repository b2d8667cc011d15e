"""Fixtures of the API tests: servers of their own settings besides the shared one."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from smsgate.services.accounts import AccountAdmin
from smsgate.store.database import Database
from tests.api.helpers import Deployment, send_ok
from tests.conftest import Account
from tests.databases import Databases
from tests.server import ServerProcess, http_client


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes a minute or more (still part of make test)")


def deploy(databases: Databases, workdir: Path, **settings: str) -> Deployment:
    """A server with these settings on a fresh database of its own (stop it with ``undeploy``)."""
    process = ServerProcess(databases.create(workdir, migrated=True), workdir, **settings)
    database = Database(process.database_url)
    process.start()
    client = http_client(process.url)
    return Deployment(process, database, AccountAdmin(database), client)


def undeploy(deployment: Deployment) -> None:
    deployment.client.close()
    deployment.process.stop()
    deployment.database.close()


@pytest.fixture
def spawn(databases: Databases, tmp_path: Path) -> Iterator[Callable[..., Deployment]]:
    """Start a server of this test's own with the given settings (stopped and its database
    dropped at teardown)."""
    started: list[Deployment] = []

    def start(**settings: str) -> Deployment:
        workdir = tmp_path / f"server-{len(started)}"
        workdir.mkdir()
        deployment = deploy(databases, workdir, **settings)
        started.append(deployment)
        return deployment

    yield start
    for deployment in started:
        undeploy(deployment)
        databases.drop(deployment.process.database_url)


@pytest.fixture(scope="package")
def fast(databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """A server whose simulator reports after 0.2 s."""
    deployment = deploy(databases, tmp_path_factory.mktemp("fast"), simulator_delay="0.2")
    yield deployment
    undeploy(deployment)


@pytest.fixture(scope="package")
def flood_server(
    databases: Databases, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """A server allowing 3 messages to one number a minute."""
    deployment = deploy(
        databases, tmp_path_factory.mktemp("flood"), flood_limit="3", flood_window_seconds="60"
    )
    yield deployment
    undeploy(deployment)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests run last: their scenarios start early (``slow_scenarios``) and ripen meanwhile."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is not None)


@dataclass
class ExpiryScenarios:
    """Parts sent with validity=1 at the start of the session, for the slow tests to check.

    ``expiring``: a server whose simulator never reports ``...9999``; ``silent_id`` was sent to
    such a number, ``delivered_id`` to a normal one. ``unsent``: a server without a dispatcher
    holding ``queued_id`` (balance 10, price 1) until its validity runs out.
    """

    sent_at: float
    expiring: Deployment
    expiring_account: Account
    silent_id: str
    delivered_id: str
    unsent: Deployment
    unsent_account: Account
    queued_id: str


@pytest.fixture(scope="session", autouse=True)
def slow_scenarios(
    request: pytest.FixtureRequest, databases: Databases, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ExpiryScenarios | BaseException | None]:
    """Starts the minute-long scenarios of the slow tests before anything else, if any runs.

    Session-scoped: they ripen while every other test of the backend runs.
    """
    if not any(item.get_closest_marker("slow") for item in request.session.items):
        yield None
        return
    started: list[Deployment] = []
    try:
        expiring = deploy(databases, tmp_path_factory.mktemp("expiring"), simulator_delay="0.2")
        started.append(expiring)
        unsent = deploy(databases, tmp_path_factory.mktemp("unsent"), dispatch="false")
        started.append(unsent)
        expiring_account = expiring.make_account()
        silent_id, delivered_id = (
            send_ok(expiring_account, phone, "Expiring", validity="1")[0]
            for phone in ("79001239999", "79001234567")
        )
        unsent_account = unsent.make_account(balance="10", price=Decimal("1"))
        (queued_id,) = send_ok(unsent_account, "79001234567", "Unsent", validity="1")
        scenarios: ExpiryScenarios | BaseException = ExpiryScenarios(
            time.monotonic(),
            expiring,
            expiring_account,
            silent_id,
            delivered_id,
            unsent,
            unsent_account,
            queued_id,
        )
    except Exception as error:  # reported by the slow tests, not by whichever test came first
        scenarios = error
    try:
        yield scenarios
    finally:
        for deployment in started:
            undeploy(deployment)
