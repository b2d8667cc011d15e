"""Commits are on disk before they are answered unless the operator says otherwise
(``durable_commits``), on every connection a process writes or reads with."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import Connection

from smsgate.cli.context import open_database
from smsgate.config import Settings
from smsgate.platform import Platform
from smsgate.store.database import Database

# What each backend reports for a durable commit and for one left to the operating system.
SYNCHRONOUS = {"sqlite": {True: "2", False: "1"}, "postgresql": {True: "on", False: "off"}}


def synchronous(connection: Connection) -> str:
    if connection.dialect.name == "sqlite":
        return str(connection.exec_driver_sql("PRAGMA synchronous").scalar())
    return str(connection.exec_driver_sql("SHOW synchronous_commit").scalar())


def every_connection(database: Database) -> set[str]:
    """The setting as the event loop's writer, a write on the caller's thread, a reader and a
    look-up see it."""

    async def seen() -> list[str]:
        return [
            await database.write(synchronous),
            await database.read(synchronous),
            await database.lookup(synchronous),
        ]

    return {database.write_sync(synchronous), *asyncio.run(seen())}


@pytest.mark.parametrize("durable", [True, False])
def test_a_database_commits_as_durably_as_asked(database_url: str, durable: bool) -> None:
    database = Database(database_url, durable=durable)
    try:
        assert every_connection(database) == {SYNCHRONOUS[database.dialect][durable]}
    finally:
        database.close()


def test_commits_are_durable_by_default(database_url: str, tmp_path: Path) -> None:
    platform = Platform.open(Settings(database_url=database_url, data_dir=tmp_path))
    try:
        dialect = platform.database.dialect
        assert every_connection(platform.database) == {SYNCHRONOUS[dialect][True]}
    finally:
        platform.close()


def test_the_setting_reaches_the_server_and_the_admin_commands(
    database_url: str, tmp_path: Path
) -> None:
    settings = Settings(database_url=database_url, data_dir=tmp_path, durable_commits=False)
    platform = Platform.open(settings)
    admin = open_database(settings)
    try:
        dialect = platform.database.dialect
        assert every_connection(platform.database) == {SYNCHRONOUS[dialect][False]}
        assert every_connection(admin) == {SYNCHRONOUS[dialect][False]}
    finally:
        platform.close()
        admin.close()
