"""Keeping the store within the operator's retention (``retention_days``), and free of the
sessions that expired, from the delivering processes."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from functools import partial

from smsgate.periodic import every
from smsgate.store.database import Database
from smsgate.store.retention import RETAINED, delete_expired_sessions, delete_old

log = logging.getLogger(__name__)

SWEEP_SECONDS = 600.0
# Rows read and deleted per transaction: short, as on SQLite each holds the one writer; and a
# pause between them, so that sends are written between the batches of a long backlog (the
# first sweep after the retention is set).
BATCH = 2000
BATCH_PAUSE_SECONDS = 0.05
# An expired session answers "SessionID expired" (Code 4, HTTP 401) this long, on which clients
# log in again; deleted, it would be "Invalid session id" (Code 3, HTTP 400), on which they
# stop: sooner or later by process, since each keeps the sessions it has seen in memory.
EXPIRED_SESSIONS_KEPT = timedelta(days=30)


async def keep_within_retention(
    database: Database, retention: timedelta | None, interval: float = SWEEP_SECONDS
) -> None:
    """Sweep now and every ``interval`` seconds, until cancelled."""
    await every(
        interval,
        lambda: sweep(database, retention, datetime.now(UTC)),
        log=log,
        failure="the retention sweep failed",
    )


async def sweep(database: Database, retention: timedelta | None, now: datetime) -> int:
    """Delete expired sessions and, with a ``retention``, what is older than it (``RETAINED``:
    final parts, incoming messages, the records of reports whose file is gone); how many rows
    in all."""
    expired_before = now - EXPIRED_SESSIONS_KEPT
    deleted = 0
    while True:
        count = await database.write(
            partial(delete_expired_sessions, expired_before=expired_before, limit=BATCH)
        )
        deleted += count
        if count < BATCH:
            break
        await asyncio.sleep(BATCH_PAUSE_SECONDS)
    if retention is not None:
        before = now - retention
        for retained in RETAINED:
            after: int | None = 0
            while after is not None:
                batch = partial(
                    delete_old, retained=retained, before=before, after=after, limit=BATCH
                )
                count, after = await database.write(batch)
                deleted += count
                if after is not None:
                    await asyncio.sleep(BATCH_PAUSE_SECONDS)
    if deleted:
        log.info("retention: %d rows deleted", deleted)
    return deleted
