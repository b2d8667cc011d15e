"""A write whose connection to PostgreSQL is cut at its COMMIT is answered as the server
decided it, asked afterwards on another connection: a client answered "failed" for a commit
that was made sends it again (an SMS sent and billed twice)."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, func, select
from sqlalchemy.engine import make_url

from smsgate.services.accounts import AccountAdmin
from smsgate.store.database import Database
from smsgate.store.messages import insert_parts
from smsgate.store.migrate import upgrade
from smsgate.store.schema import messages
from tests.store.parts import part_row

# The simple-query message psycopg sends to commit: 'Q', its length, the statement.
COMMIT = b"Q\x00\x00\x00\x0bCOMMIT\x00"


class Cut(enum.Enum):
    # The COMMIT reaches the server, its answer does not reach the client.
    ANSWER = "answer"
    # The connection ends before the COMMIT reaches the server.
    COMMIT = "commit"


class CuttingProxy:
    """A TCP proxy to PostgreSQL that, once armed, cuts the next connection to send a COMMIT."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.armed: Cut | None = None
        self.cuts = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # closed
                return
            server = socket.create_connection(self.target)
            for pump in (self._client_to_server, self._server_to_client):
                threading.Thread(target=pump, args=(client, server), daemon=True).start()

    def _take_cut(self, data: bytes) -> Cut | None:
        with self._lock:
            if self.armed is None or COMMIT not in data:
                return None
            cut, self.armed = self.armed, None
            self.cuts += 1
            return cut

    def _client_to_server(self, client: socket.socket, server: socket.socket) -> None:
        while data := _received(client):
            cut = self._take_cut(data)
            if cut is not None:
                client.shutdown(socket.SHUT_RDWR)  # the client's connection ends here
                if cut is Cut.ANSWER:
                    server.sendall(data)
                break
            server.sendall(data)
        # The server reads what it was sent, answers (to no one, once cut), and ends the session.
        with contextlib.suppress(OSError):
            server.shutdown(socket.SHUT_WR)

    def _server_to_client(self, client: socket.socket, server: socket.socket) -> None:
        with client, server:
            while data := _received(server):
                with contextlib.suppress(OSError):  # cut: the answer goes nowhere
                    client.sendall(data)
            with contextlib.suppress(OSError):  # wakes the other pump's read
                client.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.close()


def _received(connection: socket.socket) -> bytes:
    try:
        return connection.recv(65536)
    except OSError:
        return b""


@pytest.fixture
def proxied(database_url: str) -> Iterator[tuple[Database, CuttingProxy, AccountAdmin]]:
    if not database_url.startswith("postgresql"):
        pytest.skip("a SQLite commit that raises was not made: nothing to ask")
    url = make_url(database_url)
    proxy = CuttingProxy(url.host or "127.0.0.1", url.port or 5432)
    database = Database(url.set(host="127.0.0.1", port=proxy.port).render_as_string(False))
    upgrade(database.write_engine)
    try:
        yield database, proxy, AccountAdmin(database)
    finally:
        database.close()
        proxy.close()


def _count(database: Database) -> int:
    return database.read_sync(
        lambda c: c.execute(select(func.count()).select_from(messages)).scalar_one()
    )


@pytest.mark.parametrize("databases", ["postgresql"], indirect=True)
@pytest.mark.parametrize("cut", list(Cut))
def test_a_write_cut_at_its_commit_is_answered_as_the_server_decided(
    proxied: tuple[Database, CuttingProxy, AccountAdmin], cut: Cut
) -> None:
    database, proxy, admin = proxied
    account_id = admin.create("in-doubt", password="secret-password")
    created = datetime(2026, 11, 28, tzinfo=UTC)

    def insert(part_id: int) -> Callable[[Connection], int]:
        def write(connection: Connection) -> int:
            insert_parts(connection, [part_row(part_id, account_id, created)])
            return part_id

        return write

    async def scenario() -> None:
        assert await database.write(insert(1)) == 1  # the writer's connection is made
        proxy.armed = cut
        # Made by the server (ANSWER): answered with its value. Not made (COMMIT): run again
        # on a fresh connection, so answered too, and written once.
        assert await database.write(insert(2)) == 2

    asyncio.run(scenario())
    assert proxy.cuts == 1
    assert _count(database) == 2
