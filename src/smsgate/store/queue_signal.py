"""Waking the dispatchers of other processes when parts are queued (PostgreSQL).

On PostgreSQL the API processes and the workers are apart. An API process that queued parts
says so on a channel (``NOTIFY``) and every listening worker wakes its dispatcher at once
instead of at its next poll, up to a quarter of a second later: the wait a one-time code
would spend before its submit. The poll stays: a signal lost while a listener reconnects
costs that wait, nothing else.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy import Connection
from sqlalchemy.engine import make_url

from smsgate.store.database import Database

log = logging.getLogger(__name__)

CHANNEL = "smsgate_parts_queued"


def _notify(connection: Connection) -> None:
    connection.exec_driver_sql(f"NOTIFY {CHANNEL}")


class QueueSignal:
    """The API side: one NOTIFY at a time, and one more if parts were queued meanwhile, but no
    sooner than ``interval`` seconds after the last: under load the workers claim without a
    pause, and a signal per group commit would only add work to the database."""

    def __init__(self, database: Database, interval: float = 0.02) -> None:
        self.database = database
        self.interval = interval
        self._sending: asyncio.Task[None] | None = None
        self._again = False

    def parts_queued(self) -> None:
        if self._sending is not None:
            self._again = True
            return
        self._sending = asyncio.create_task(self._send())

    async def _send(self) -> None:
        try:
            while True:
                self._again = False
                await self.database.read(_notify)
                await asyncio.sleep(self.interval)
                if not self._again:
                    return
        except Exception as error:  # the workers' poll still finds the parts
            log.warning("could not signal queued parts to the workers: %s", error)
        finally:
            self._sending = None


async def listen_for_queued_parts(
    url: str, on_queued: Callable[[], None], *, retry_seconds: float = 1.0
) -> None:
    """Call ``on_queued`` at every signal on the PostgreSQL at ``url`` until cancelled; once
    more on each (re)connection, for what was queued while nobody listened."""
    import psycopg  # PostgreSQL's driver: not loaded on a SQLite platform, which has no signal

    conninfo = make_url(url).set(drivername="postgresql")
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(
                conninfo.render_as_string(hide_password=False), autocommit=True
            ) as connection:
                await connection.execute(f"LISTEN {CHANNEL}")
                on_queued()
                async for _ in connection.notifies():
                    on_queued()
        except psycopg.Error as error:
            # With the error, not its text: an outage's failures then log as one line at most
            # every few seconds (``logs.OutageDigest``), not one a retry.
            log.warning(
                "listening for queued parts failed, again in %ss", retry_seconds, exc_info=error
            )
            await asyncio.sleep(retry_seconds)
