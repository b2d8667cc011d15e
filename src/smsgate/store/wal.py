"""Keeping SQLite's write-ahead log short.

SQLite checkpoints the log as it grows, but can start it over only at a moment when no reader
still reads an older snapshot from it. Reads that overlap without end (several Statistic
requests over long periods, back to back) leave no such moment: the log grew by 7 MiB a
second under a soak's writes, to 746 MiB beside a 470 MiB database, and every read slowed
with it. The delivering process therefore checks the log's size every ``CHECK_SECONDS`` and,
past ``LIMIT_BYTES``, checkpoints it whole and truncates it: new writes wait meanwhile (at
most ``WAIT_SECONDS``, in the writer's thread, not the event loop's), so the readers of old
snapshots finish, and new ones read the database file itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from smsgate.periodic import every
from smsgate.store.database import JOURNAL_SIZE_LIMIT, Database

log = logging.getLogger(__name__)

CHECK_SECONDS = 10.0
# The size a log started over keeps of its file, too: past it the log is no longer short.
LIMIT_BYTES = JOURNAL_SIZE_LIMIT
# How long the checkpoint waits for the readers of old snapshots, new writes waiting with it.
WAIT_SECONDS = 2.0


def wal_path(database: Database) -> Path | None:
    """The log file of a SQLite database on disk; None for any other."""
    if database.dialect != "sqlite":
        return None
    name = make_url(database.url).database
    return Path(f"{name}-wal") if name and name != ":memory:" else None


def shorten_wal(path: Path, limit: int, wait: float = WAIT_SECONDS) -> tuple[int, bool] | None:
    """Past ``limit`` bytes, checkpoint the whole log at ``path`` into its database and
    truncate it: (the size it had, whether it was truncated: not when a reader of an old
    snapshot held it past ``wait``, though what could be copied was). None: short enough."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    if size <= limit:
        return None
    database = str(path).removesuffix("-wal")
    with contextlib.closing(sqlite3.connect(database, timeout=wait, isolation_level=None)) as db:
        busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    return size, busy == 0


async def keep_wal_short(
    database: Database, interval: float = CHECK_SECONDS, limit: int = LIMIT_BYTES
) -> None:
    """Shorten the log whenever it passes ``limit`` bytes, until cancelled (SQLite only)."""
    path = wal_path(database)
    if path is None:
        return

    async def check() -> None:
        loop = asyncio.get_running_loop()
        shortened = await loop.run_in_executor(None, shorten_wal, path, limit)
        if shortened is not None:
            size, truncated = shortened
            outcome = "truncated" if truncated else "readers held it past the wait; again later"
            log.warning("the database's log had grown to %d MiB: %s", size >> 20, outcome)

    await every(interval, check, log=log, failure="checkpointing the database's log failed")
