"""``/healthz`` answers while the process is up; ``/readyz`` only while the database answers,
the dispatcher runs and, when it does, a connector is up."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from sqlalchemy.engine import make_url

from smsgate.api.health import Readiness
from smsgate.config import Settings
from smsgate.platform import Platform
from tests.api.helpers import SENDER, Deployment, assert_error, assert_ok, creds, wait_for
from tests.databases import Databases, psycopg_url
from tests.hardening.conftest import Ops
from tests.server import free_port


def readiness(deployment: Deployment) -> tuple[int, Any]:
    response = deployment.client.get("/readyz")
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    return response.status_code, response.json()


def test_a_running_server_is_healthy_and_ready(shared: Deployment) -> None:
    health = shared.client.get("/healthz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    # A server just started answers /healthz before its connectors are up (SQLite's delivery
    # starts once it holds the delivery lease): ready a moment later, and then for good.
    wait_for(lambda: readiness(shared)[0] == 200, timeout=15)
    assert readiness(shared) == (
        200,
        {
            "ready": True,
            "database": "ok",
            "dispatcher": "running",
            "connectors": {"simulator": True},
        },
    )


def test_a_server_whose_database_is_unreachable_is_not_ready(
    ops: Ops, databases: Databases
) -> None:
    deployment = ops.deployment
    assert readiness(deployment) == (200, {"ready": True, "database": "ok", "dispatcher": "off"})
    with databases.unreachable(deployment.process.database_url):
        status, report = readiness(deployment)
        assert status == 503
        assert report["ready"] is False
        # The kind of error only: the driver's text names the database's host and user.
        assert report["database"] == "OperationalError", report
        assert deployment.client.get("/healthz").status_code == 200  # the process is up
    assert readiness(deployment)[0] == 200
    # The outage cut this process's pooled connections too: the next tests need live ones.
    deployment.database.write_engine.dispose()


def test_a_server_none_of_whose_connectors_is_bound_is_not_ready(
    spawn: Callable[..., Deployment],
) -> None:
    nobody_listens = free_port()
    connectors = {
        "op": {"host": "127.0.0.1", "port": nobody_listens, "system_id": "gw", "password": "pw"}
    }
    deployment = spawn(smsc="smpp", connectors=orjson.dumps(connectors).decode())

    def dispatching() -> tuple[int, Any] | None:
        answer = readiness(deployment)
        return answer if answer[1]["dispatcher"] == "running" else None

    status, report = wait_for(dispatching)
    assert status == 503
    assert report == {
        "ready": False,
        "database": "ok",
        "dispatcher": "running",
        "connectors": {"op": False},
    }


def test_a_process_whose_dispatcher_is_not_running_is_not_ready(
    database_url: str, tmp_path: Path
) -> None:
    platform = Platform.open(Settings(database_url=database_url, data_dir=tmp_path))
    checks = Readiness(platform)  # the platform's workers were never started
    try:
        assert asyncio.run(checks.check()) == (
            False,
            {"ready": False, "database": "ok", "dispatcher": "not running"},
        )
    finally:
        checks.close()
        platform.close()


def test_delivery_stopped_by_an_error_starts_again(database_url: str, tmp_path: Path) -> None:
    settings = Settings(database_url=database_url, data_dir=tmp_path)
    platform = Platform.open(settings)
    settings.reports_folder.write_bytes(b"")  # a file where the reports folder must be

    async def scenario() -> None:
        delivery = asyncio.create_task(platform.run_delivery())
        try:
            async with asyncio.timeout(10):
                # Its dispatcher made, and stopped with the rest by the error.
                while platform.dispatching is None or platform.dispatcher_running:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            assert not delivery.done()  # stopped by the error, not ended with it
            settings.reports_folder.unlink()  # the cause is gone: the next start works
            async with asyncio.timeout(10):
                while not platform.dispatcher_running:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
        finally:
            delivery.cancel()
            await asyncio.gather(delivery, return_exceptions=True)

    try:
        asyncio.run(scenario())
    finally:
        platform.close()


def test_delivery_stops_when_stopped_as_it_fails(database_url: str, tmp_path: Path) -> None:
    """A stop that comes while a failing start unwinds is not lost (Python 3.11's TaskGroup
    could give the failure alone, and delivery went on restarting): the stop is tried at
    every step of the failing start in turn."""
    settings = Settings(database_url=database_url, data_dir=tmp_path)
    platform = Platform.open(settings)
    settings.reports_folder.write_bytes(b"")  # every start fails

    async def stopped_after(steps: int) -> bool:
        delivery = asyncio.create_task(platform.run_delivery())
        for _ in range(steps):
            await asyncio.sleep(0)
        delivery.cancel()
        done, _ = await asyncio.wait([delivery], timeout=3)
        if not done:
            delivery.cancel()
            await asyncio.gather(delivery, return_exceptions=True)
        return bool(done)

    async def scenario() -> list[int]:
        return [steps for steps in range(40) if not await stopped_after(steps)]

    try:
        assert asyncio.run(scenario()) == []
    finally:
        platform.close()


@pytest.mark.parametrize("databases", ["postgresql"], indirect=True)
def test_a_server_whose_database_takes_no_writes_is_not_ready(ops: Ops) -> None:
    """A database made read-only (or a primary demoted to a standby) answers every read, and
    refuses every send: the probe's fresh session tells."""
    deployment = ops.deployment
    url = make_url(deployment.process.database_url)
    admin_url = url.set(drivername="postgresql", database="postgres").render_as_string(False)

    def set_read_only(on: bool) -> None:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            value = "on" if on else "off"
            admin.execute(
                f'ALTER DATABASE "{url.database}" SET default_transaction_read_only = {value}'
            )

    set_read_only(True)
    try:
        status, report = readiness(deployment)
        assert (status, report["database"]) == (503, "ReadOnlyDatabase"), report
    finally:
        set_read_only(False)
    assert readiness(deployment)[0] == 200


@pytest.mark.parametrize("databases", ["sqlite"], indirect=True)
@pytest.mark.parametrize("how", ["replaced", "deleted"])
def test_a_database_file_replaced_or_deleted_under_the_server_takes_no_sends(
    spawn: Callable[..., Deployment], how: str
) -> None:
    """Its writes went on to the old file, and answered ids that a restart would not find."""
    deployment = spawn()
    account = deployment.make_account()
    send = {**creds(account), "sourceAddress": SENDER, "destinationAddress": "79161234561"}
    assert_ok(account.client.post("/rest/Send/SendSms/", data={**send, "data": "before"}))
    path = Path(make_url(deployment.process.database_url).database or "")
    if how == "replaced":  # a backup restored by mv
        copy = path.with_name("restored.db")
        with closing(sqlite3.connect(path)) as current, closing(sqlite3.connect(copy)) as backup:
            current.backup(backup)
        os.replace(copy, path)
    else:
        for file in path.parent.glob(path.name + "*"):
            file.unlink()
    answer = account.client.post("/rest/Send/SendSms/", data={**send, "data": "after"})
    assert_error(answer, 9)
    status, report = readiness(deployment)
    # A replaced file answers the probe's query, a deleted one does not.
    trouble = "writes fail: OperationalError" if how == "replaced" else "OperationalError"
    assert (status, report["database"]) == (503, trouble), report
    # Its graceful stop would wait, in vain, to record the part in flight.
    deployment.process.kill()


@pytest.mark.parametrize("databases", ["postgresql"], indirect=True)
def test_a_lock_held_on_an_account_leaves_the_server_ready(
    spawn: Callable[..., Deployment],
) -> None:
    """A PostgreSQL lock holds some rows: the database takes every other write, and a node
    taken out of its balancer's rotation for it would take none to clear it."""
    # API only: a delivering process's own writes (claims) would clear a failure at once.
    deployment = spawn(lock_wait_seconds="1", dispatch="false")
    account = deployment.make_account()
    send = {**creds(account), "sourceAddress": SENDER, "destinationAddress": "79161234561"}
    with psycopg.connect(psycopg_url(deployment.process.database_url)) as operator:
        operator.execute("SELECT 1 FROM accounts WHERE login = %s FOR UPDATE", (account.login,))
        refused = account.client.post("/rest/Send/SendSms/", data={**send, "data": "locked"})
        assert_error(refused, 9)
        assert readiness(deployment)[1]["database"] == "ok"
