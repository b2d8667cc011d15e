"""Fixtures of the SendByTime tests: the packaged registry, and servers with a database of their own
(imports change the registry of every server on a database, so they never touch the shared one)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from smsgate.domain.numbering import NumberingRegistry
from smsgate.services.accounts import AccountAdmin
from smsgate.services.numbering_data import load_packaged_registry
from smsgate.store.database import Database
from tests.api.helpers import Deployment
from tests.server import ServerProcess, http_client

HEADER = "АВС/ DEF;От;До;Емкость;Оператор;Регион;Территория ГАР;ИНН"


@pytest.fixture(scope="session")
def registry() -> NumberingRegistry:
    return load_packaged_registry()


@pytest.fixture(scope="session")
def server_database(server: ServerProcess) -> Iterator[Database]:
    """The shared server's database, to read what the API does not show (due times)."""
    opened = Database(server.database_url)
    yield opened
    opened.close()


@pytest.fixture
def own_server(tmp_path: Path, database: Database) -> Iterator[Deployment]:
    """A server on this test's own database."""
    process = ServerProcess(database.url, tmp_path)
    process.start()
    with http_client(process.url) as client:
        yield Deployment(process, database, AccountAdmin(database), client)
    process.stop()


@pytest.fixture
def numbering_file(tmp_path: Path) -> Callable[..., Path]:
    """Write a numbering file in the current published format from (code, first, last,
    territory) rows; ``encoding`` cp1251 for a legacy one."""

    def write(
        name: str, rows: list[tuple[int, int, int, str]], encoding: str = "utf-8-sig"
    ) -> Path:
        lines = [HEADER] + [
            f'{code};{first:07d};{last:07d};{last - first + 1};ООО "Тест";-;{territory};7700000000'
            for code, first, last, territory in rows
        ]
        path = tmp_path / name
        path.write_bytes("\r\n".join(lines).encode(encoding))
        return path

    return write
